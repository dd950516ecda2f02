package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// caddyRun is what one run of the caddy command printed and how it exited.
type caddyRun struct {
	stdout, stderr string
	code           int
}

// runCaddy runs this test binary as `caddy s3-cors args...`, against the
// admin endpoint of the running test config unless args name another.
func runCaddy(t *testing.T, stdin string, args ...string) caddyRun {
	t.Helper()
	cmd := caddyCommand(stdin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := caddyRun{stdout: stdout.String(), stderr: stderr.String()}
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		run.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", strings.Join(cmd.Args, " "), err)
	}
	return run
}

// caddyCommand is the command runCaddy runs.
func caddyCommand(stdin string, args ...string) *exec.Cmd {
	args = append([]string{"s3-cors"}, args...)
	if len(args) > 1 && !slices.Contains(args, "--address") {
		args = append(args, "--address", adminAddr)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsCaddy+"=1")
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// wantSuccess checks that a run exited 0 and printed exactly stdout.
func (r caddyRun) wantSuccess(t *testing.T, what, stdout string) {
	t.Helper()
	if r.code != 0 || r.stdout != stdout {
		t.Errorf("%s: exit %d, stdout %q, want 0 and %q (stderr %s)", what, r.code, r.stdout, stdout, r.stderr)
	}
}

// wantFailure checks that a run exited 1, printed nothing on stdout and
// every one of want on stderr.
func (r caddyRun) wantFailure(t *testing.T, what string, want ...string) {
	t.Helper()
	if r.code != 1 || r.stdout != "" {
		t.Errorf("%s: exit %d, stdout %q, want 1 and nothing", what, r.code, r.stdout)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%s: stderr %q lacks %q", what, r.stderr, w)
		}
	}
}

func TestCommandUsage(t *testing.T) {
	verbLines := []string{
		"usage: caddy s3-cors <verb> [arguments] [flags]",
		"  list                       list the buckets",
		"  get <bucket>               print a bucket's CORSConfiguration",
		"  put <bucket> <file|->      store a CORSConfiguration",
		"  put <bucket> --preset <name> [--origin <url>...] [--dry-run]\n                             store the configuration of a preset (read, browser-upload, public-read)",
		"  delete <bucket>            delete a bucket's CORS configuration",
		"  lint <file|bucket> [--strict]\n                             warn of what S3 accepts but browsers or SDKs will trip on",
		"  explain <bucket>           say how a request would be decided",
		"  stats <bucket>             how often each rule decided",
		"  import --from-upstream [<bucket>...]\n                             copy the store's own bucket CORS configurations here",
		"  import <file|->            store the configurations of an NDJSON file",
		"  history <bucket> [<version>]\n                             list a bucket's versions (table), or print one of them (XML)",
		"  rollback <bucket> [<version>]\n                             restore an earlier version",
		"  sync                       read changes from the storage now",
	}
	runCaddy(t, "").wantFailure(t, "no verb", append([]string{"caddy s3-cors needs a verb\n"}, verbLines...)...)
	runCaddy(t, "", "frobnicate").wantFailure(t, "unknown verb", append([]string{`unknown verb "frobnicate"`}, verbLines...)...)
	runCaddy(t, "", "get").wantFailure(t, "get without a bucket", "usage: caddy s3-cors get <bucket>\n")
	runCaddy(t, "", "get", "photos", "videos").wantFailure(t, "get with two buckets", "usage: caddy s3-cors get <bucket>\n")
	runCaddy(t, "", "put", "photos").wantFailure(t, "put without a file", "usage: caddy s3-cors put <bucket> <file|-> (or put <bucket> --preset <name> [--origin <url>...] [--dry-run])\n")
	runCaddy(t, "", "stats").wantFailure(t, "stats without a bucket", "usage: caddy s3-cors stats <bucket>\n")

	help := runCaddy(t, "", "--help")
	for _, want := range append(verbLines[1:], "--request-headers", "caddy s3-cors explain photos", "--from-upstream", "--replace",
		"caddy s3-cors import --from-upstream photos videos --replace", "caddy s3-cors import buckets.ndjson", "--skip-bucket-check", "--batch-size",
		"caddy s3-cors history photos", "caddy s3-cors rollback photos",
		"caddy s3-cors put photos --preset browser-upload --origin https://app.example", "caddy s3-cors lint photos --strict",
		"--preset", "--dry-run", "--strict", "shadowed-rule, origin-never-matches") {
		if help.code != 0 || !strings.Contains(help.stdout, want) {
			t.Errorf("--help: exit %d, lacks %q:\n%s", help.code, want, help.stdout)
		}
	}
}

func TestCommandVerbs(t *testing.T) {
	loadConfig(t, "")
	file := filepath.Join(t.TempDir(), "cors.xml")
	if err := os.WriteFile(file, []byte(corsDoc), 0o600); err != nil {
		t.Fatal(err)
	}

	runCaddy(t, "", "put", "photos", file).wantSuccess(t, "put", "stored the CORS configuration of bucket photos (1 rule)\n")
	two := strings.Replace(corsDoc, "</CORSRule>", "</CORSRule><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>", 1)
	runCaddy(t, two, "put", "videos", "-").wantSuccess(t, "put from standard input", "stored the CORS configuration of bucket videos (2 rules)\n")

	_, doc, _ := call(t, "GET", "/s3_cors/buckets/photos", "")
	if strings.HasSuffix(doc, "\n") {
		t.Fatalf("the stored document ends with a newline; the test of get's newline would prove nothing: %q", doc)
	}
	runCaddy(t, "", "get", "photos").wantSuccess(t, "get", doc+"\n")

	list := runCaddy(t, "", "list")
	var summaries []BucketSummary
	if err := json.Unmarshal([]byte(list.stdout), &summaries); list.code != 0 || err != nil || len(summaries) != 2 ||
		summaries[0].Bucket != "photos" || summaries[1].Bucket != "videos" || summaries[1].Rules != 2 {
		t.Errorf("list: exit %d, %q (%v)", list.code, list.stdout, err)
	}

	ex := runCaddy(t, "", "explain", "photos", "--key", "a.jpg", "--origin", "https://app.example",
		"--request-method", "PUT", "--request-headers", "Content-Type,X-Amz-Date")
	var explanation Explanation
	if err := json.Unmarshal([]byte(ex.stdout), &explanation); ex.code != 0 || err != nil || explanation.Outcome != "Allowed" ||
		explanation.Headers.Get("Access-Control-Allow-Headers") != "content-type, x-amz-date" {
		t.Errorf("explain: exit %d, %q (%v)", ex.code, ex.stdout, err)
	}
	ex = runCaddy(t, "", "explain", "photos", "--origin", "https://evil.example", "--request-method", "GET")
	if err := json.Unmarshal([]byte(ex.stdout), &explanation); ex.code != 0 || err != nil || explanation.Outcome != "NotAllowed" {
		t.Errorf("explain of a refusal: exit %d, %q (%v)", ex.code, ex.stdout, err)
	}

	sync := runCaddy(t, "", "sync")
	if sync.code != 0 || !strings.Contains(sync.stdout, `"buckets": 2`) || !strings.HasSuffix(sync.stdout, "}\n") {
		t.Errorf("sync: exit %d, %q", sync.code, sync.stdout)
	}

	runCaddy(t, "", "delete", "photos").wantSuccess(t, "delete", "deleted the CORS configuration of bucket photos\n")

	// Failures print the admin API's message and exit 1.
	runCaddy(t, "", "get", "photos").wantFailure(t, "get after delete",
		`Error: caddy responded with error: HTTP 404: bucket "photos": NoSuchCORSConfiguration: The CORS configuration does not exist`+"\n")
	runCaddy(t, "", "delete", "photos").wantFailure(t, "second delete", "HTTP 404", "NoSuchCORSConfiguration")
	runCaddy(t, "<CORSConfiguration/>", "put", "photos", "-").wantFailure(t, "put of a document without rules",
		"HTTP 400: bucket \"photos\": MalformedXML: The XML you provided was not well-formed")
	runCaddy(t, "", "get", "Not_A_Bucket").wantFailure(t, "get of an invalid name", "HTTP 400", "InvalidBucketName")
	runCaddy(t, "", "put", "photos", filepath.Join(t.TempDir(), "missing.xml")).wantFailure(t, "put of a missing file", "no file ")
	runCaddy(t, "", "list", "--address", testenv.FreeAddr()).wantFailure(t, "an admin endpoint that is not there", "performing request")
}

// put answers as PutBucketCors would when a handler has an upstream.
func TestCommandPutToAMissingBucket(t *testing.T) {
	up := newHeadBucketStore(t, "photos")
	loadConfig(t, up.URL)
	runCaddy(t, corsDoc, "put", "videos", "-").wantFailure(t, "put to a bucket the upstream does not have",
		`HTTP 404: bucket "videos": NoSuchBucket: The specified bucket does not exist`)
	runCaddy(t, corsDoc, "put", "photos", "-").wantSuccess(t, "put to a bucket the upstream has", "stored the CORS configuration of bucket photos (1 rule)\n")
}
