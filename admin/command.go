package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// verb is one of the verbs of `caddy s3-cors`, or one form of a verb that
// has several.
type verb struct {
	name string
	// form is the flag that selects this form of the verb; "" for the form
	// taken when no other form's flag is given.
	form string
	// flags are the flags the synopsis shows before the arguments, such as
	// the one that selects the form.
	flags []string
	// args are the positional arguments it takes; a last one written
	// "[<name>...]" may be given any number of times, also none.
	args []string
	// options are the flags the synopsis shows after the arguments.
	options []string
	what    string
}

var verbs = []verb{
	{name: "list", what: "list the buckets that have a CORS configuration (JSON)"},
	{name: "get", args: []string{"<bucket>"}, what: "print a bucket's CORSConfiguration (XML)"},
	{name: "put", args: []string{"<bucket>", "<file|->"}, what: "store a CORSConfiguration (XML) for a bucket; - reads standard input"},
	{name: "put", form: "preset", args: []string{"<bucket>"}, options: []string{"--preset <name>", "[--origin <url>...]", "[--dry-run]"},
		what: "store the configuration of a preset (" + strings.Join(cors.PresetNames(), ", ") + ") for the origins given; --dry-run prints it and stores nothing"},
	{name: "delete", args: []string{"<bucket>"}, what: "delete a bucket's CORS configuration"},
	{name: "lint", args: []string{"<file|bucket>"}, options: []string{"[--strict]"},
		what: "warn of what S3 accepts but browsers or SDKs will trip on, rule by rule; - reads standard input"},
	{name: "explain", args: []string{"<bucket>"}, what: "say how a request would be decided, rule by rule (JSON; flags below)"},
	{name: "stats", args: []string{"<bucket>"}, what: "how often each rule decided, and why requests were refused, on this instance (table)"},
	{name: "try", args: []string{"<bucket>", "<file|->"}, what: "put a candidate CORSConfiguration on report-only trial; the live one keeps answering"},
	{name: "report", args: []string{"<bucket>"}, what: "what the trial of a bucket's candidate counted on every instance (table)"},
	{name: "promote", args: []string{"<bucket>"}, what: "make a bucket's candidate its live configuration, as put would"},
	{name: "discard", args: []string{"<bucket>"}, what: "drop a bucket's candidate; the live configuration stays"},
	{name: "import", form: "from-upstream", flags: []string{"--from-upstream"}, args: []string{"[<bucket>...]"},
		what: "copy the store's own bucket CORS configurations here (every bucket without names)"},
	{name: "import", args: []string{"<file|->"},
		what: `store the configurations of an NDJSON file, {"bucket": ..., "cors_xml": ...} a line; all are checked first`},
	{name: "history", args: []string{"<bucket>", "[<version>]"}, what: "list a bucket's versions (table), or print one of them (XML)"},
	{name: "rollback", args: []string{"<bucket>", "[<version>]"}, what: "restore an earlier version of a bucket's configuration (default: the previous one)"},
	{name: "sync", what: "read changes from the storage now (JSON)"},
}

// synopsis is the verb with its flags and arguments, as the usage shows it.
func (v verb) synopsis() string {
	return strings.Join(slices.Concat([]string{v.name}, v.flags, v.args, v.options), " ")
}

// variadic reports whether the last argument may be repeated.
func (v verb) variadic() bool {
	return len(v.args) > 0 && strings.HasSuffix(v.args[len(v.args)-1], "...]")
}

// optional reports whether the last argument may be left out: it is
// written in brackets.
func (v verb) optional() bool {
	return len(v.args) > 0 && strings.HasPrefix(v.args[len(v.args)-1], "[")
}

// synopsisWidth is the column the verbs' descriptions start in; a longer
// synopsis gets a line of its own.
const synopsisWidth = 26

// verbList lists the verbs, one line each.
func verbList() string {
	var b strings.Builder
	b.WriteString("verbs:\n")
	for _, v := range verbs {
		if syn := v.synopsis(); len(syn) > synopsisWidth {
			fmt.Fprintf(&b, "  %s\n  %-*s %s\n", syn, synopsisWidth, "", v.what)
		} else {
			fmt.Fprintf(&b, "  %-*s %s\n", synopsisWidth, syn, v.what)
		}
	}
	return b.String()
}

// usage is what a command line without a known verb gets.
func usage() string {
	return "usage: caddy s3-cors <verb> [arguments] [flags]\n\n" + verbList() +
		"\nRun 'caddy s3-cors --help' for the flags and examples.\n"
}

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "s3-cors",
		Usage: "<verb> [arguments]",
		Short: "Manages bucket CORS configurations through the admin API",
		Long: `
Lists, reads, stores and deletes the bucket CORS configurations of a running
Caddy with the s3_cors handler, and explains how a request would be decided.
It talks to Caddy's admin API (` + caddy.DefaultAdminListen + ` unless --address
or --config says otherwise), so it needs no SigV4 credentials.

` + verbList() + `
  caddy s3-cors list
  caddy s3-cors get photos
  caddy s3-cors put photos cors.xml
  caddy s3-cors put photos --preset browser-upload --origin https://app.example
  caddy s3-cors put photos --preset read --origin https://a.example,https://b.example --dry-run
  caddy s3-cors delete photos
  caddy s3-cors lint cors.xml
  caddy s3-cors lint photos --strict
  caddy s3-cors explain photos --key cat.jpg --origin https://app.example \
      --request-method PUT --request-headers content-type,x-amz-date
  caddy s3-cors stats photos
  caddy s3-cors try photos next-cors.xml
  caddy s3-cors report photos
  caddy s3-cors promote photos
  caddy s3-cors discard photos
  caddy s3-cors import --from-upstream
  caddy s3-cors import --from-upstream photos videos --replace
  caddy s3-cors import buckets.ndjson
  caddy s3-cors history photos
  caddy s3-cors rollback photos
  caddy s3-cors sync

put takes a CORSConfiguration XML document, as PutBucketCors does, and is
refused for a bucket that the handlers' upstream does not have. With
--preset instead of a file it stores a configuration of one rule made for a
common case, which lint finds nothing in:

` + presetList() + `
--origin gives the origins of the pages (repeat it, or separate origins with
commas), such as https://app.example.com or https://*.example.com;
public-read takes none. --dry-run prints the document as get would, and
stores nothing.

lint warns of what S3 accepts but browsers or SDKs will trip on, a line per
warning with the rule's index and one of these codes, which are stable:

` + lintCodeList() + `

A file (- reads standard input) is linted here, without the admin API; an
argument that is no file is a bucket, whose configuration the running Caddy
lints. It exits 0 with or without warnings, 1 with --strict when there are
warnings, and 1 when it cannot lint: a document S3 would refuse (S3's code
and message, with the line and column), a bucket without a configuration, or
no admin API.

explain evaluates a preflight unless --method names another HTTP method, and
prints, for every rule, why it did or did not match, and whether the
bucket's own configuration or the default_cors decided. stats counts since
this instance started, or since the bucket's configuration last changed.
import --from-upstream reads each bucket's configuration from the store
behind the handlers (GetBucketCors with the upstream's credentials) and
stores those S3's rules accept; it skips buckets that have a configuration
here unless --replace is given, and prints one line per bucket and a
summary.

import <file> reads NDJSON, one {"bucket": ..., "cors_xml": ...} a line (-
reads standard input), and checks every line first (JSON, S3's bucket naming
rules, S3's PutBucketCors validation, each bucket once): it prints every
invalid line with its number and S3's code and message, and then imports
nothing. Otherwise it sends the lines in batches of --batch-size, showing
"stored N of M" on a terminal, and prints a line per bucket that was skipped
(it has a configuration here; --replace overwrites it) or failed (no upstream
of the handlers has it, unless --skip-bucket-check), then the summary.

history lists a bucket's versions, newest first, with when, by whom and how
many rules, the one in force marked and deletions shown; with a version it
prints that version's document. rollback restores a version (default: the
previous configuration) as a new one and says which it restored; as put, it
is refused for a bucket that the handlers' upstream does not have.

try stores a candidate configuration, validated as put does, without
changing what any request gets: every preflight and every other request with
an Origin to the bucket is also decided by the candidate. report shows how
many requests all instances saw, how many the candidate would newly refuse,
newly allow or answer with other headers, and the last 20 it would have
decided differently. promote makes the candidate live (a put, kept in the
history); discard drops it.

Changes that leave a configuration with lint warnings (put, promote,
rollback, try, PutBucketCors) log each warning; an import logs how many of
each code it stored.

On failure (for import: a bucket that was refused or failed) the command
prints the admin API's message and exits with status 1.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("address", "", "Address of the administration API listener (if --config is not used)")
			cmd.Flags().StringP("config", "c", "", "Configuration file (if --address is not used)")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply (if --config is used)")
			cmd.Flags().String("preset", "", "put: store the configuration of a preset instead of a file: "+strings.Join(cors.PresetNames(), ", "))
			cmd.Flags().StringArray("origin", nil, "put --preset: an origin to allow (repeatable; or several, comma-separated); explain: the Origin header")
			cmd.Flags().Bool("dry-run", false, "put --preset: print the configuration (XML) and store nothing")
			cmd.Flags().Bool("strict", false, "lint: exit with status 1 when there are warnings")
			cmd.Flags().String("key", "", "explain: the object key of the request")
			cmd.Flags().String("method", http.MethodOptions, "explain: the HTTP method of the request")
			cmd.Flags().String("request-method", "", "explain: the Access-Control-Request-Method header")
			cmd.Flags().String("request-headers", "", "explain: the Access-Control-Request-Headers header, comma-separated")
			cmd.Flags().Bool("from-upstream", false, "import: read the configurations from the handlers' upstream store")
			cmd.Flags().Bool("replace", false, "import: overwrite the configurations buckets already have here")
			cmd.Flags().String("upstream", "", "import: the endpoint of the upstream to read from, if the handlers have several")
			cmd.Flags().Bool("skip-bucket-check", false, "import <file>: store without asking the handlers' upstream whether each bucket exists")
			cmd.Flags().Int("batch-size", defaultImportBatch, "import <file>: lines sent per admin API request (at most 10000)")
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = runCommand
		},
	})
}

// presetList lists the presets of put --preset with what each allows, for
// the help.
func presetList() string {
	var b strings.Builder
	for _, name := range cors.PresetNames() {
		fmt.Fprintf(&b, "  %-16s %s\n", name, cors.PresetSummary(name))
	}
	return b.String()
}

// lintCodeList lists the codes of lint's warnings for the help, indented,
// a few a line.
func lintCodeList() string {
	var lines []string
	line := ""
	for _, code := range cors.WarningCodes() {
		if line != "" && len(line)+len(code) > 70 {
			lines, line = append(lines, line+","), ""
		}
		if line != "" {
			line += ", "
		}
		line += code
	}
	return "  " + strings.Join(append(lines, line), "\n  ")
}

// errUsage is a command line that names no known verb, or gives a verb the
// wrong arguments; the usage has been printed.
var errUsage = errors.New("see the usage above")

// usageError prints msg and the usage, and makes the command exit 1
// without repeating it.
func usageError(cmd *cobra.Command, msg string) error {
	fmt.Fprint(cmd.ErrOrStderr(), msg+"\n\n"+usage())
	// The usage says it all; cobra would only repeat the error.
	cmd.SilenceErrors = true
	return errUsage
}

func runCommand(cmd *cobra.Command, args []string) error {
	flags := cmd.Flags()
	v, err := parseVerb(args, func(name string) bool {
		f := flags.Lookup(name)
		return f != nil && f.Changed && f.Value.String() != "false"
	})
	if err != nil {
		return usageError(cmd, err.Error())
	}

	// What needs no admin API is done first: linting a file, and a dry run.
	var doc []byte // the document of put and try
	switch {
	case v.name == "lint":
		return runLint(cmd, args[1])
	case v.form == "preset":
		cfg, err := presetConfiguration(cmd, args[1])
		if err != nil {
			return err
		}
		if dry, _ := flags.GetBool("dry-run"); dry {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", cfg.Marshal())
			return err
		}
		doc = cfg.Marshal()
	case v.name == "put" && (flags.Changed("dry-run") || flags.Changed("origin")):
		return usageError(cmd, "put <bucket> <file|-> takes neither --dry-run nor --origin, which go with --preset")
	case v.name == "put" || v.name == "try":
		if doc, err = readDocument(args[2], cmd.InOrStdin()); err != nil {
			return err
		}
	}

	addr, err := adminAddress(cmd)
	if err != nil {
		return err
	}
	var (
		method, uri string
		body        io.Reader
		header      http.Header
	)
	switch v.name {
	case "list":
		method, uri = http.MethodGet, basePath+"buckets"
	case "get":
		method, uri = http.MethodGet, bucketURI(args[1])
	case "delete":
		method, uri = http.MethodDelete, bucketURI(args[1])
	case "put":
		method, uri, body = http.MethodPut, bucketURI(args[1]), bytes.NewReader(doc)
		header = http.Header{"Content-Type": {"application/xml"}}
	case "explain":
		q := ExplainRequest{Bucket: args[1]}
		q.Key, _ = flags.GetString("key")
		q.Method, _ = flags.GetString("method")
		switch origins, _ := flags.GetStringArray("origin"); len(origins) {
		case 0:
		case 1:
			q.Origin = origins[0]
		default:
			return usageError(cmd, "explain takes one --origin: a request has one Origin header")
		}
		q.RequestMethod, _ = flags.GetString("request-method")
		if h, _ := flags.GetString("request-headers"); h != "" {
			q.RequestHeaders = HeaderLines{h}
		}
		b, err := json.Marshal(q)
		if err != nil {
			return err
		}
		method, uri, body = http.MethodPost, basePath+"explain", bytes.NewReader(b)
		header = http.Header{"Content-Type": {"application/json"}}
	case "stats":
		method, uri = http.MethodGet, basePath+"stats/"+url.PathEscape(args[1])
	case "import":
		if v.form == "" {
			return runImportFile(cmd, addr, args[1])
		}
		q := ImportRequest{Buckets: args[1:], FromUpstream: true}
		q.Replace, _ = flags.GetBool("replace")
		q.Upstream, _ = flags.GetString("upstream")
		b, err := json.Marshal(q)
		if err != nil {
			return err
		}
		method, uri, body = http.MethodPost, basePath+"import", bytes.NewReader(b)
		header = http.Header{"Content-Type": {"application/json"}}
	case "sync":
		method, uri = http.MethodPost, basePath+"sync"
	case "history":
		method, uri = http.MethodGet, basePath+"history/"+url.PathEscape(args[1])
		if len(args) == 3 {
			uri += "/" + url.PathEscape(args[2])
		}
	case "rollback":
		q := RollbackRequest{}
		if len(args) == 3 {
			q.Version = args[2]
		}
		b, err := json.Marshal(q)
		if err != nil {
			return err
		}
		method, uri, body = http.MethodPost, basePath+"rollback/"+url.PathEscape(args[1]), bytes.NewReader(b)
		header = http.Header{"Content-Type": {"application/json"}}
	case "try":
		method, uri, body = http.MethodPut, candidateURI(args[1]), bytes.NewReader(doc)
		header = http.Header{"Content-Type": {"application/xml"}}
	case "report":
		method, uri = http.MethodGet, candidateURI(args[1])+"/report"
	case "promote":
		method, uri = http.MethodPost, candidateURI(args[1])+"/promote"
	case "discard":
		method, uri = http.MethodDelete, candidateURI(args[1])
	}

	res, err := caddycmd.AdminAPIRequest(addr, method, uri, header, body)
	if err != nil {
		return adminFailure(err)
	}
	defer res.Body.Close()
	return printResponse(cmd.OutOrStdout(), v.name, args, res.Body)
}

// adminAddress is the address of the admin API that the flags name.
func adminAddress(cmd *cobra.Command) (string, error) {
	flags := cmd.Flags()
	addrFlag, _ := flags.GetString("address")
	configFlag, _ := flags.GetString("config")
	adapterFlag, _ := flags.GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(addrFlag, nil, configFlag, adapterFlag)
	if err != nil {
		return "", fmt.Errorf("finding the admin API: %w", err)
	}
	return addr, nil
}

// presetConfiguration is the configuration that put --preset stores for
// bucket: the preset's, for the origins of every --origin, each of which
// may list several, comma-separated (an origin holds no comma).
func presetConfiguration(cmd *cobra.Command, bucket string) (*cors.Configuration, error) {
	flags := cmd.Flags()
	if !s3.ValidBucketName(bucket) {
		return nil, fmt.Errorf("bucket %q: %s", bucket, s3.ErrInvalidBucketName(bucket))
	}
	name, _ := flags.GetString("preset")
	values, _ := flags.GetStringArray("origin")
	var origins []string
	for _, v := range values {
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				origins = append(origins, o)
			}
		}
	}
	return cors.Preset(name, origins)
}

// parseVerb finds the verb of args, and the form of it that the flags set
// (isSet reports whether a flag is) select, and checks its arguments.
func parseVerb(args []string, isSet func(flag string) bool) (verb, error) {
	if len(args) == 0 {
		return verb{}, errors.New("caddy s3-cors needs a verb")
	}
	var forms []verb
	for _, v := range verbs {
		if v.name == args[0] {
			forms = append(forms, v)
		}
	}
	if len(forms) == 0 {
		return verb{}, fmt.Errorf("unknown verb %q", args[0])
	}
	v := chooseForm(forms, isSet)
	if v.fits(args) {
		return v, nil
	}
	msg := "usage: caddy s3-cors " + v.synopsis()
	for _, other := range forms {
		if other.form == v.form {
			continue
		}
		msg += " (or " + other.synopsis() + ")"
		if v.form != "" && other.fits(args) {
			// Such as put <bucket> <file> --preset NAME.
			msg = fmt.Sprintf("%s --%s takes no %s\n%s", v.name, v.form, other.args[len(other.args)-1], msg)
		}
	}
	return verb{}, errors.New(msg)
}

// fits reports whether args, the verb first, are as many as v takes.
func (v verb) fits(args []string) bool {
	n, want := len(args)-1, len(v.args)
	return n == want || (v.optional() && n == want-1) || (v.variadic() && n > want)
}

// chooseForm picks the form of a verb whose flag is set, else the form
// without one.
func chooseForm(forms []verb, isSet func(flag string) bool) verb {
	for _, v := range forms {
		if v.form != "" && isSet(v.form) {
			return v
		}
	}
	for _, v := range forms {
		if v.form == "" {
			return v
		}
	}
	return forms[0]
}

func bucketURI(bucket string) string {
	return basePath + "buckets/" + url.PathEscape(bucket)
}

func candidateURI(bucket string) string {
	return basePath + "candidates/" + url.PathEscape(bucket)
}

// printResponse prints what the admin API answered: a line saying what was
// done for put, delete, try, promote and discard, tables for stats, report
// and import, the body as it is for the others, always ending with a
// newline.
func printResponse(out io.Writer, verbName string, args []string, body io.Reader) error {
	switch verbName {
	case "put":
		var s BucketSummary
		if err := json.NewDecoder(body).Decode(&s); err != nil {
			return fmt.Errorf("reading the admin API's answer: %w", err)
		}
		_, err := fmt.Fprintf(out, "stored the CORS configuration of bucket %s (%s)\n", s.Bucket, plural(s.Rules, "rule"))
		return err
	case "delete":
		_, err := fmt.Fprintf(out, "deleted the CORS configuration of bucket %s\n", args[1])
		return err
	case "stats":
		var st caddymodule.DecisionStats
		if err := json.NewDecoder(body).Decode(&st); err != nil {
			return fmt.Errorf("reading the admin API's answer: %w", err)
		}
		return printStats(out, st)
	case "try":
		s, err := decodeAnswer[CandidateSummary](body)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "stored a candidate CORS configuration for bucket %s (%s, version %s); "+
			"requests are still answered by the live configuration: see caddy s3-cors report %s\n", s.Bucket, plural(s.Rules, "rule"), s.Version, s.Bucket)
		return err
	case "report":
		report, err := decodeAnswer[caddymodule.TrialReport](body)
		if err != nil {
			return err
		}
		return printTrialReport(out, report)
	case "promote":
		s, err := decodeAnswer[BucketSummary](body)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "promoted the candidate of bucket %s: it is the live CORS configuration now (%s)\n", s.Bucket, plural(s.Rules, "rule"))
		return err
	case "discard":
		_, err := fmt.Fprintf(out, "discarded the candidate CORS configuration of bucket %s\n", args[1])
		return err
	case "import":
		var report caddymodule.ImportReport
		if err := json.NewDecoder(body).Decode(&report); err != nil {
			return fmt.Errorf("reading the admin API's answer: %w", err)
		}
		return printImport(out, report, true)
	case "history":
		if len(args) == 3 {
			break // one version's document, printed as it is
		}
		var h History
		if err := json.NewDecoder(body).Decode(&h); err != nil {
			return fmt.Errorf("reading the admin API's answer: %w", err)
		}
		return printHistory(out, h)
	case "rollback":
		var r RollbackResult
		if err := json.NewDecoder(body).Decode(&r); err != nil {
			return fmt.Errorf("reading the admin API's answer: %w", err)
		}
		return printRollback(out, r)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	_, err = out.Write(b)
	return err
}

// decodeAnswer reads the admin API's JSON answer as a T.
func decodeAnswer[T any](body io.Reader) (T, error) {
	var v T
	if err := json.NewDecoder(body).Decode(&v); err != nil {
		return v, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	return v, nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// adminFailure turns the error of a refused admin API call, which quotes
// the admin API's JSON answer, into one line with its message.
func adminFailure(err error) error {
	msg := strings.TrimSpace(err.Error())
	prefix, answer, ok := strings.Cut(msg, ": {")
	if !ok {
		return errors.New(msg)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte("{"+answer), &e) != nil || e.Error == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", prefix, e.Error)
}

func readDocument(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(stdin, maxRequestBody+1))
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no file %s", file)
	}
	if err == nil && !strings.Contains(string(b), "CORSConfiguration") {
		return nil, fmt.Errorf("%s is not a CORSConfiguration XML document", file)
	}
	return b, err
}
