package admin

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
)

// This file renders the answers of the stats, import, history, rollback
// and trial report routes as the command prints them: tables and lines for
// people, where the admin API answers JSON.

// sinceEvents say in words why counting began when it did.
var sinceEvents = map[string]string{
	"start":                "when this instance started",
	"configuration_change": "when the bucket's configuration last changed",
	"default_loaded":       "when the default was loaded",
}

// printStats prints a bucket's decision counts as tables, marking the
// rules that decided nothing.
func printStats(out io.Writer, st caddymodule.DecisionStats) error {
	var b strings.Builder
	switch st.Source {
	case caddymodule.SourceBucket.String():
		fmt.Fprintf(&b, "bucket %s: its own configuration decides (%s)\n", st.Bucket, plural(len(st.Rules), "rule"))
	case caddymodule.SourceDefault.String():
		fmt.Fprintf(&b, "bucket %s: no configuration of its own; the default %s decides (%s).\n"+
			"The counts are the default's, for every bucket it decided.\n", st.Bucket, st.DefaultFile, plural(len(st.Rules), "rule"))
	default:
		fmt.Fprintf(&b, "bucket %s: no CORS configuration and no default; nothing is counted\n", st.Bucket)
		_, err := io.WriteString(out, b.String())
		return err
	}
	event := sinceEvents[st.SinceEvent]
	if event == "" {
		event = st.SinceEvent
	}
	fmt.Fprintf(&b, "counted since %s (%s)\n\n", clock(st.Since), event)

	rules := table("RULE", "ID", "PREFLIGHTS ALLOWED", "REQUESTS ALLOWED", "")
	for _, r := range st.Rules {
		id, mark := r.ID, ""
		if id == "" {
			id = "-"
		}
		if r.Preflight == 0 && r.Actual == 0 {
			mark = "never matched"
		}
		rules = append(rules, []string{strconv.Itoa(r.Index), id, count(r.Preflight), count(r.Actual), mark})
	}
	refused := table("REFUSED BY", "PREFLIGHTS", "REQUESTS")
	for _, row := range []struct {
		reason    string
		pre, post uint64
	}{
		{"origin", st.PreflightRefused.Origin, st.ActualRefused.Origin},
		{"method", st.PreflightRefused.Method, st.ActualRefused.Method},
		{"header", st.PreflightRefused.Header, st.ActualRefused.Header},
		{"headers_too_large", st.PreflightRefused.HeadersTooLarge, st.ActualRefused.HeadersTooLarge},
	} {
		refused = append(refused, []string{row.reason, count(row.pre), count(row.post)})
	}
	writeTable(&b, rules)
	b.WriteByte('\n')
	writeTable(&b, refused)
	fmt.Fprintf(&b, "\npreflights refused before the rules: %d without Origin, %d with an invalid Access-Control-Request-Method, %d for a bucket the upstream does not have\n",
		st.PreflightMissingOrigin, st.PreflightInvalidMethod, st.PreflightBucketNotFound)
	_, err := io.WriteString(out, b.String())
	return err
}

// clock is a time as the command prints it, in UTC.
func clock(t time.Time) string { return t.UTC().Format(time.DateTime + " MST") }

// table starts a table with its header row.
func table(header ...string) [][]string { return [][]string{header} }

func count(n uint64) string { return strconv.FormatUint(n, 10) }

// writeTable writes rows as aligned columns, two spaces apart, without
// trailing spaces.
func writeTable(b *strings.Builder, rows [][]string) {
	var aligned strings.Builder
	tw := tabwriter.NewWriter(&aligned, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush() // a strings.Builder does not fail
	for line := range strings.Lines(aligned.String()) {
		b.WriteString(strings.TrimRight(line, " \n"))
		b.WriteByte('\n')
	}
}

// importStatusText says what a bucket's import status means.
var importStatusText = map[caddymodule.ImportStatus]string{
	caddymodule.ImportImported:        "imported",
	caddymodule.ImportReplaced:        "imported over the configuration it had here",
	caddymodule.ImportSkipped:         "skipped",
	caddymodule.ImportNoConfiguration: "no configuration at the store",
	caddymodule.ImportRefused:         "refused",
	caddymodule.ImportFailed:          "failed",
}

// errNotImported is the error of an import that left buckets out; the
// lines printed before it say which and why.
type errNotImported struct{ n, of int }

func (e errNotImported) Error() string {
	return fmt.Sprintf("%d of %s were not imported (refused or failed; see above)", e.n, plural(e.of, "bucket"))
}

// printImport prints a line per bucket (with everyBucket; else only for the
// buckets that were not imported), then a summary. It returns an error when
// a bucket was refused or failed, so that the command exits with status 1.
func printImport(out io.Writer, report caddymodule.ImportReport, everyBucket bool) error {
	var rows [][]string
	notImported := 0
	for _, r := range report.Results {
		imported := r.Status == caddymodule.ImportImported || r.Status == caddymodule.ImportReplaced
		if !r.OK() {
			notImported++
		}
		if imported && !everyBucket {
			continue
		}
		line := importStatusText[r.Status]
		if line == "" {
			line = string(r.Status)
		}
		switch {
		case r.Rules > 0:
			line += " (" + plural(r.Rules, "rule") + ")"
		case r.Status == caddymodule.ImportSkipped:
			line += ": it has a configuration here already (--replace overwrites it)"
		case r.Code != "":
			line += ": " + r.Code + ": " + r.Message
		case r.Message != "":
			line += ": " + r.Message
		}
		rows = append(rows, []string{r.Bucket, line})
	}
	var b strings.Builder
	writeTable(&b, rows)
	counts := []string{plural(len(report.Results), "bucket")}
	for _, s := range []caddymodule.ImportStatus{
		caddymodule.ImportImported, caddymodule.ImportReplaced, caddymodule.ImportSkipped,
		caddymodule.ImportNoConfiguration, caddymodule.ImportRefused, caddymodule.ImportFailed,
	} {
		counts = append(counts, strconv.Itoa(report.Count(s))+" "+string(s))
	}
	fmt.Fprintf(&b, "import from %s: %s\n", report.Source, strings.Join(counts, ", "))
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	if notImported > 0 {
		return errNotImported{notImported, len(report.Results)}
	}
	return nil
}

// printHistory prints a bucket's versions as a table, newest first, the
// one in force marked with a star.
func printHistory(out io.Writer, h History) error {
	var b strings.Builder
	if len(h.Versions) == 0 {
		fmt.Fprintf(&b, "bucket %s: no CORS configuration, and none earlier\n", h.Bucket)
		_, err := io.WriteString(out, b.String())
		return err
	}
	fmt.Fprintf(&b, "bucket %s: %s, newest first; * is in force (the last %d earlier ones are kept)\n\n",
		h.Bucket, plural(len(h.Versions), "version"), h.Keeps)
	rows := table("", "VERSION", "TIME", "BY", "RULES")
	for _, v := range h.Versions {
		mark, by, rules := "", v.UpdatedBy, strconv.Itoa(v.Rules)
		if v.Current {
			mark = "*"
		}
		if by == "" {
			by = "-"
		}
		if v.Deleted {
			rules = "deleted"
		}
		rows = append(rows, []string{mark, v.Version, clock(v.UpdatedAt), by, rules})
	}
	writeTable(&b, rows)
	_, err := io.WriteString(out, b.String())
	return err
}

// comparedWith says in words what a candidate is compared against.
func comparedWith(r caddymodule.TrialReport) string {
	switch r.ComparedWith {
	case caddymodule.SourceBucket.String():
		return "the bucket's own configuration"
	case caddymodule.SourceDefault.String():
		return "the default " + r.DefaultFile + " (the bucket has no configuration of its own)"
	}
	return "no configuration: the bucket has none and no default applies, so every CORS request is refused now"
}

// sideText says how one side decided a disagreeing request.
func sideText(s caddymodule.TrialSide) string {
	if s.Allowed {
		return "rule " + strconv.Itoa(s.Rule)
	}
	switch s.Outcome {
	case "NotAllowed":
		return "refused (" + s.Reason + ")"
	case "NotEnabled":
		return "refused (no configuration)"
	}
	return "refused (" + s.Outcome + ")"
}

// printTrialReport prints a trial's counts as a table, then its last
// disagreements.
func printTrialReport(out io.Writer, r caddymodule.TrialReport) error {
	var b strings.Builder
	c := r.Candidate
	fmt.Fprintf(&b, "bucket %s: candidate %s (%s), stored %s by %s\n", r.Bucket, c.Version, plural(c.Rules, "rule"),
		c.UpdatedAt.UTC().Format(time.DateTime+" MST"), cmp.Or(c.UpdatedBy, "-"))
	fmt.Fprintf(&b, "compared with %s\n", comparedWith(r))
	instances := make([]string, 0, len(r.Instances))
	for _, in := range r.Instances {
		name := in.Instance
		if in.This {
			name += " (this one)"
		}
		instances = append(instances, fmt.Sprintf("%s %s", name, plural(int(in.RequestsSeen), "request")))
	}
	if len(instances) == 0 {
		instances = append(instances, "none has seen a request yet")
	}
	fmt.Fprintf(&b, "instances: %s\n\n", strings.Join(instances, ", "))

	tally := table("", "SEEN", "AGREED", "WOULD NEWLY REFUSE", "WOULD NEWLY ALLOW", "WOULD CHANGE HEADERS")
	for _, row := range []struct {
		name string
		t    caddymodule.TrialTally
	}{{"preflights", r.Preflight}, {"other requests", r.Actual}, {"all", r.TrialTally}} {
		tally = append(tally, []string{row.name, count(row.t.RequestsSeen), count(row.t.Agreements),
			count(row.t.WouldNewlyRefuse), count(row.t.WouldNewlyAllow), count(row.t.WouldChangeHeaders)})
	}
	writeTable(&b, tally)

	if len(r.LastDisagreements) == 0 {
		b.WriteString("\nno disagreements so far\n")
	} else {
		fmt.Fprintf(&b, "\nlast %s, newest first:\n", plural(len(r.LastDisagreements), "disagreement"))
		rows := table("TIME", "INSTANCE", "KIND", "CHANGE", "METHOD", "ORIGIN", "REQUEST METHOD", "REQUEST HEADERS", "KEY", "LIVE", "CANDIDATE")
		for _, d := range r.LastDisagreements {
			rows = append(rows, []string{
				d.Time.UTC().Format(time.DateTime + " MST"), d.Instance, d.Kind, strings.ReplaceAll(d.Change, "_", " "),
				cellText(d.Method), cellText(d.Origin), cellText(d.RequestMethod), cellText(d.RequestHeaders), cellText(d.Key),
				sideText(d.Live), sideText(d.Candidate),
			})
		}
		writeTable(&b, rows)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "\nnote: %s\n", r.Note)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// printRollback says which version a rollback restored, and as what.
func printRollback(out io.Writer, r RollbackResult) error {
	by := ""
	if r.Restored.UpdatedBy != "" {
		by = " by " + r.Restored.UpdatedBy
	}
	_, err := fmt.Fprintf(out, "rolled bucket %s back to version %s, written %s%s (%s); it is in force as version %s\n",
		r.Bucket, r.Restored.Version, clock(r.Restored.UpdatedAt), by, plural(r.Restored.Rules, "rule"), r.Version)
	return err
}

// cellText is a value as a table cell shows it: "-" for none, and no
// character that would break the table's lines or columns.
func cellText(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
