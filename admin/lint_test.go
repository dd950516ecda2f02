package admin

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/modules/logging" // the file log writer

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// warnDoc gets a warning of every code: its first rule lets any origin
// write, signed by the SDK in the page (Authorization) without its other
// headers, exposes nothing and keeps preflights longer than WebKit; the
// second is shadowed by the first, and its origin has a trailing slash.
const warnDoc = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>POST</AllowedMethod>
    <AllowedMethod>DELETE</AllowedMethod>
    <AllowedHeader>Authorization</AllowedHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedOrigin>https://app.example.com/</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
  </CORSRule>
</CORSConfiguration>
`

// warnDocCodes are warnDoc's warnings as code@rule, in Lint's order.
var warnDocCodes = []string{
	"wildcard-origin-write@0", "etag-not-exposed@0", "sdk-checksum-headers@0", "sdk-checksum-headers@0",
	"max-age-over-browser-cap@0", "shadowed-rule@1", "origin-never-matches@1",
}

func warningCodes(ws []cors.Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code+"@"+strconv.Itoa(w.Rule))
	}
	return out
}

// warnDocWarnings are Lint's warnings of warnDoc, checked to be the ones
// the tests expect, of every code.
func warnDocWarnings(t *testing.T) []cors.Warning {
	t.Helper()
	cfg, err := cors.Parse([]byte(warnDoc))
	if err != nil {
		t.Fatal(err)
	}
	ws := cors.Lint(cfg)
	if got := warningCodes(ws); !slices.Equal(got, warnDocCodes) {
		t.Fatalf("warnDoc's warnings are %q, want %q", got, warnDocCodes)
	}
	for _, code := range cors.WarningCodes() {
		if !slices.ContainsFunc(ws, func(w cors.Warning) bool { return w.Code == code }) {
			t.Fatalf("warnDoc gets no %s warning", code)
		}
	}
	return ws
}

// lintLines is what lint prints for warnings of name.
func lintLines(name string, ws []cors.Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(name + ": " + w.String() + "\n")
	}
	return b.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLintRoute(t *testing.T) {
	loadConfig(t, "")
	want := warnDocWarnings(t)
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/photos", warnDoc); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body, ctype := call(t, http.MethodGet, "/s3_cors/lint/photos", "")
	var r LintReport
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || ctype != "application/json" || err != nil {
		t.Fatalf("lint: %d %s %q (%v)", code, ctype, body, err)
	}
	if r.Bucket != "photos" || r.Rules != 2 || !reflect.DeepEqual(r.Warnings, want) {
		t.Errorf("lint: %+v, want the warnings %v", r, want)
	}
	for _, key := range []string{`"code": "shadowed-rule"`, `"rule": 1`, `"message": "`} {
		if !strings.Contains(body, key) {
			t.Errorf("the answer lacks %s: %s", key, body)
		}
	}

	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/videos", corsDocClean); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/lint/videos", "")
	if code != http.StatusOK || !strings.Contains(body, `"warnings": []`) || !strings.Contains(body, `"rules": 1`) {
		t.Errorf("lint of a clean configuration: %d %s", code, body)
	}

	code, body, _ = call(t, http.MethodGet, "/s3_cors/lint/nothing", "")
	wantError(t, "lint of a bucket without a configuration", 404, `bucket "nothing": NoSuchCORSConfiguration: The CORS configuration does not exist`, code, body)
	code, body, _ = call(t, http.MethodGet, "/s3_cors/lint/Not_A_Bucket", "")
	wantError(t, "lint of an invalid name", 400, "InvalidBucketName", code, body)
	code, body, _ = call(t, http.MethodPost, "/s3_cors/lint/photos", "")
	wantError(t, "POST", 405, "use GET", code, body)
}

// corsDocClean is a configuration lint finds nothing in.
const corsDocClean = `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`

func TestCommandLint(t *testing.T) {
	loadConfig(t, "")
	want := warnDocWarnings(t)
	file := writeFile(t, "cors.xml", warnDoc)

	// A file is linted without the admin API.
	noAdmin := testenv.FreeAddr()
	runCaddy(t, "", "lint", file, "--address", noAdmin).wantSuccess(t, "lint of a file", lintLines(file, want))
	runCaddy(t, warnDoc, "lint", "-", "--address", noAdmin).wantSuccess(t, "lint of standard input", lintLines("standard input", want))
	strict := runCaddy(t, "", "lint", file, "--strict", "--address", noAdmin)
	if strict.code != 1 || strict.stdout != lintLines(file, want) || !strings.Contains(strict.stderr, file+": 7 lint warnings, and --strict makes warnings fail") {
		t.Errorf("lint --strict: exit %d, stdout %q, stderr %q", strict.code, strict.stdout, strict.stderr)
	}

	// The documents the project ships are clean, also for --strict.
	examples, err := filepath.Glob("../examples/cors/*.xml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example documents: %v", err)
	}
	for _, path := range examples {
		run := runCaddy(t, "", "lint", path, "--strict", "--address", noAdmin)
		if run.code != 0 || !strings.HasPrefix(run.stdout, path+": no warnings (") || strings.Count(run.stdout, "\n") != 1 {
			t.Errorf("lint of %s: exit %d, stdout %q, stderr %q", path, run.code, run.stdout, run.stderr)
		}
	}

	// A document S3 refuses is reported as S3 words it, with the place.
	patch := writeFile(t, "patch.xml", strings.Replace(warnDoc, "<AllowedMethod>DELETE</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1))
	runCaddy(t, "", "lint", patch, "--address", noAdmin).wantFailure(t, "lint of an invalid file",
		"Error: "+patch+": line 7, column 5: InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH\n")
	runCaddy(t, "", "lint", filepath.Join(t.TempDir(), "missing.xml")).wantFailure(t, "lint of a missing file", "no file ", "it is no bucket name either")

	// Anything else is a bucket, linted by the running Caddy.
	runCaddy(t, warnDoc, "put", "photos", "-").wantSuccess(t, "put", "stored the CORS configuration of bucket photos (2 rules)\n")
	runCaddy(t, "", "lint", "photos").wantSuccess(t, "lint of a bucket", lintLines("bucket photos", want))
	strict = runCaddy(t, "", "lint", "photos", "--strict")
	if strict.code != 1 || strict.stdout != lintLines("bucket photos", want) || !strings.Contains(strict.stderr, "bucket photos: 7 lint warnings") {
		t.Errorf("lint --strict of a bucket: exit %d, stdout %q, stderr %q", strict.code, strict.stdout, strict.stderr)
	}
	runCaddy(t, corsDocClean, "put", "videos", "-").wantSuccess(t, "put", "stored the CORS configuration of bucket videos (1 rule)\n")
	runCaddy(t, "", "lint", "videos", "--strict").wantSuccess(t, "lint of a clean bucket", "bucket videos: no warnings (1 rule)\n")
	runCaddy(t, "", "lint", "nothing").wantFailure(t, "lint of a bucket without a configuration",
		`HTTP 404: bucket "nothing": NoSuchCORSConfiguration: The CORS configuration does not exist (and there is no file nothing)`)
	runCaddy(t, "", "lint", "photos", "--address", noAdmin).wantFailure(t, "lint of a bucket without the admin API", "performing request")
}

func TestCommandPutPreset(t *testing.T) {
	loadConfig(t, "")
	app, local := "https://app.example.com", "http://localhost:8081"
	for _, tt := range []struct {
		preset  string
		origins []string // flags
	}{
		{"read", []string{"--origin", app + "," + local}},
		{"browser-upload", []string{"--origin", app, "--origin", local}},
		{"public-read", nil},
	} {
		t.Run(tt.preset, func(t *testing.T) {
			var origins []string
			if tt.preset != "public-read" {
				origins = []string{app, local}
			}
			want, err := cors.Preset(tt.preset, origins)
			if err != nil {
				t.Fatal(err)
			}
			bucket := "preset-" + tt.preset
			args := append([]string{"put", bucket, "--preset", tt.preset}, tt.origins...)

			dry := runCaddy(t, "", append(args, "--dry-run")...)
			dry.wantSuccess(t, "dry run", string(want.Marshal())+"\n")
			if back, err := cors.Parse([]byte(dry.stdout)); err != nil || !reflect.DeepEqual(back, want) {
				t.Errorf("the dry run's document does not parse back to the preset: %v", err)
			}
			if code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets/"+bucket, ""); code != http.StatusNotFound {
				t.Errorf("after the dry run the bucket has a configuration: %d %s", code, body)
			}

			runCaddy(t, "", args...).wantSuccess(t, "put --preset", "stored the CORS configuration of bucket "+bucket+" (1 rule)\n")
			if code, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/"+bucket, ""); code != http.StatusOK || doc != string(want.Marshal()) {
				t.Errorf("stored: %d %s\nwant %s", code, doc, want.Marshal())
			}
		})
	}

	runCaddy(t, "", "put", "photos", "cors.xml", "--preset", "read", "--origin", app).wantFailure(t, "put of a file and a preset",
		"put --preset takes no <file|->\nusage: caddy s3-cors put <bucket> --preset <name> [--origin <url>...] [--dry-run] (or put <bucket> <file|->)\n")
	runCaddy(t, corsDoc, "put", "photos", "-", "--dry-run").wantFailure(t, "put of a file with --dry-run", "takes neither --dry-run nor --origin, which go with --preset")
	runCaddy(t, "", "put", "photos", "--preset", "nope", "--origin", app).wantFailure(t, "an unknown preset",
		`Error: unknown preset "nope": the presets are read, browser-upload, public-read`)
	runCaddy(t, "", "put", "photos", "--preset", "public-read", "--origin", app).wantFailure(t, "public-read with an origin", `preset "public-read" allows every origin`)
	runCaddy(t, "", "put", "photos", "--preset", "read").wantFailure(t, "read without an origin", "needs the origins")
	runCaddy(t, "", "put", "photos", "--preset", "read", "--origin", app+"/").wantFailure(t, "an origin with a path", `Use "https://app.example.com".`)
	runCaddy(t, "", "put", "Bad_Name", "--preset", "read", "--origin", app, "--dry-run").wantFailure(t, "an invalid bucket", "InvalidBucketName")
	runCaddy(t, "", "explain", "photos", "--origin", app, "--origin", local).wantFailure(t, "explain with two origins", "explain takes one --origin")
	if code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); code != http.StatusNotFound {
		t.Errorf("a refused put stored a configuration: %d %s", code, body)
	}

	help := runCaddy(t, "", "--help")
	for _, name := range cors.PresetNames() {
		if !strings.Contains(help.stdout, "  "+name+" ") || !strings.Contains(help.stdout, cors.PresetSummary(name)) {
			t.Errorf("--help does not list preset %s with its summary", name)
		}
	}
}

// Changes through the admin API log the lint warnings of what they stored,
// a line each; imports log one line per request, counted by code.
func TestChangesLogLintWarnings(t *testing.T) {
	want := warnDocWarnings(t)
	up := newCORSStore(t, []string{"two", "good"}, map[string]string{"photos": "", "two": storeTwoRules, "good": storeDoc}, "")
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	cfg := testConfig(t, up.URL)
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
		"level": "WARN", "writer": map[string]any{"output": "file", "filename": logFile}, "encoder": map[string]any{"format": "json"},
	}}}
	loadJSON(t, cfg)

	read := 0 // log lines already looked at
	// newLines returns the lines logged since its last call.
	newLines := func() []map[string]any {
		t.Helper()
		f, err := os.Open(logFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var all []map[string]any
		for sc := bufio.NewScanner(f); sc.Scan(); {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("a log line that is no JSON: %q", sc.Text())
			}
			all = append(all, e)
		}
		lines := all[read:]
		read = len(all)
		return lines
	}
	withMsg := func(lines []map[string]any, msg string) []map[string]any {
		var out []map[string]any
		for _, e := range lines {
			if e["msg"] == msg {
				out = append(out, e)
			}
		}
		return out
	}
	const (
		live      = "stored CORS configuration has a lint warning"
		candidate = "candidate CORS configuration has a lint warning"
		summary   = "imported CORS configurations have lint warnings"
	)
	// step makes a change that must log a line per warning of warnDoc with
	// msg, or, when msg is empty, no lint line.
	step := func(what, method, path, body, msg string) {
		t.Helper()
		if code, answer, _ := call(t, method, path, body); code != http.StatusOK {
			t.Fatalf("%s: %d %s", what, code, answer)
		}
		lines := newLines()
		for _, m := range []string{live, candidate, summary} {
			n := len(withMsg(lines, m))
			switch {
			case m == msg && n != len(want):
				t.Errorf("%s: %d lines %q for %d warnings: %v", what, n, m, len(want), lines)
			case m != msg && n != 0:
				t.Errorf("%s: %d lines %q: %v", what, n, m, lines)
			}
		}
		for i, e := range withMsg(lines, msg) {
			if i < len(want) && (e["level"] != "warn" || e["logger"] != "s3_cors" || e["bucket"] != "photos" || e["caller"] != "admin" ||
				e["code"] != want[i].Code || e["rule"] != float64(want[i].Rule) || e["message"] != want[i].Message) {
				t.Errorf("%s: line %d %v, want the fields of %v", what, i, e, want[i])
			}
		}
	}

	step("PUT", http.MethodPut, "/s3_cors/buckets/photos", warnDoc, live)
	step("PUT of a clean document", http.MethodPut, "/s3_cors/buckets/photos", corsDocClean, "")
	step("try", http.MethodPut, "/s3_cors/candidates/photos", warnDoc, candidate)
	step("promote", http.MethodPost, "/s3_cors/candidates/photos/promote", "", live)
	step("rollback to the clean document", http.MethodPost, "/s3_cors/rollback/photos", "", "")
	step("rollback to the one with warnings", http.MethodPost, "/s3_cors/rollback/photos", "", live)

	// An import: one line for the request, whatever its size.
	var ndjson strings.Builder
	for i := range 3 {
		doc := warnDoc
		if i == 0 {
			doc = corsDocClean
		}
		line, _ := json.Marshal(map[string]string{"bucket": "bulk-" + strconv.Itoa(i), "cors_xml": doc})
		ndjson.Write(append(line, '\n'))
	}
	if code, body, _ := callWithType(t, http.MethodPost, "/s3_cors/import?skip_bucket_check=true", ndjsonType, ndjson.String()); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, body)
	}
	wantSummary := func(what, source string, buckets float64, codes map[string]any) {
		t.Helper()
		lines := newLines()
		if n := len(withMsg(lines, live)); n > 0 {
			t.Errorf("%s logged %d lines of single warnings", what, n)
		}
		summaries := withMsg(lines, summary)
		if len(summaries) != 1 {
			t.Fatalf("%s: %d summary lines: %v", what, len(summaries), lines)
		}
		e := summaries[0]
		if e["level"] != "warn" || e["source"] != source || e["caller"] != "import" || e["buckets"] != buckets || !reflect.DeepEqual(e["warnings"], codes) {
			t.Errorf("%s: %v, want %v buckets with %v", what, e, buckets, codes)
		}
	}
	wantSummary("import of a file", importSourceRequest, 2, map[string]any{
		"wildcard-origin-write": 2.0, "etag-not-exposed": 2.0, "sdk-checksum-headers": 4.0, "max-age-over-browser-cap": 2.0, "shadowed-rule": 2.0, "origin-never-matches": 2.0,
	})
	if code, body, _ := call(t, http.MethodPost, "/s3_cors/import", `{"from_upstream": true}`); code != http.StatusOK {
		t.Fatalf("import --from-upstream: %d %s", code, body)
	}
	wantSummary("import from the upstream", up.URL, 1, map[string]any{"etag-not-exposed": 1.0})
}
