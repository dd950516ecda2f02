package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
)

// importLine is one line of an import file, newline included.
func importLine(t *testing.T, bucket, doc string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"bucket": bucket, "cors_xml": doc})
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// importFileOf is an import file with a line for each bucket, each with an
// origin of its own.
func importFileOf(t *testing.T, buckets ...string) string {
	t.Helper()
	var b strings.Builder
	for _, bucket := range buckets {
		b.WriteString(importLine(t, bucket, corsDocFor("https://"+bucket+".example")))
	}
	return b.String()
}

// postImport sends an NDJSON import request.
func postImport(t *testing.T, query, body string) (int, string) {
	t.Helper()
	code, answer, _ := callWithType(t, http.MethodPost, "/s3_cors/import"+query, "application/x-ndjson", body)
	return code, answer
}

// badImportLines has one line of every kind an import refuses, after a
// valid one, and what each line's error says.
func badImportLines(t *testing.T) (string, []string) {
	t.Helper()
	patch := strings.Replace(corsDoc, "<AllowedMethod>PUT</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1)
	lines := []struct{ line, err string }{
		{importLine(t, "photos", corsDoc), ""},
		{"not json\n", `line 2: not a JSON object {"bucket": ..., "cors_xml": ...}: invalid character 'o' in literal null (expecting 'u')`},
		{"[1, 2]\n", `line 3: not a JSON object {"bucket": ..., "cors_xml": ...}`},
		{`{"bucket": "videos", "cors_xml": "", "owner": "me"}` + "\n", `line 4: not a JSON object {"bucket": ..., "cors_xml": ...}: unknown field "owner"`},
		{`{"bucket": 7, "cors_xml": ""}` + "\n", `line 5: not a JSON object {"bucket": ..., "cors_xml": ...}: "bucket" must be a string`},
		{strings.TrimSuffix(importLine(t, "one", corsDoc), "\n") + importLine(t, "two", corsDoc), "line 6: not a JSON object {\"bucket\": ..., \"cors_xml\": ...}: more than one JSON value on the line"},
		{`{"cors_xml": "<CORSConfiguration/>"}` + "\n", `line 7: no "bucket"`},
		{`{"bucket": "videos"}` + "\n", `line 8: bucket "videos": no "cors_xml"`},
		{importLine(t, "Bad_Name", corsDoc), `line 9: bucket "Bad_Name": InvalidBucketName: The specified bucket is not valid.`},
		{importLine(t, "broken", "<CORSConfiguration><CORSRule>"), `line 10: bucket "broken": cors_xml: line 1, column 30: MalformedXML: The XML you provided was not well-formed or did not validate against our published schema`},
		{importLine(t, "patch", patch), `line 11: bucket "patch": cors_xml: line 1, column 156: InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH`},
		{importLine(t, "huge", corsDoc+strings.Repeat(" ", 64*1024)), `line 12: bucket "huge": cors_xml: MaxMessageLengthExceeded: Your request was too big.`},
		{importLine(t, "photos", corsDocFor("https://again.example")), `line 13: bucket "photos" is on line 1 too: name each bucket once`},
	}
	var file strings.Builder
	var want []string
	for _, l := range lines {
		file.WriteString(l.line)
		if l.err != "" {
			want = append(want, l.err)
		}
	}
	return file.String(), want
}

func TestImportFileRoute(t *testing.T) {
	loadConfig(t, "")

	// Blank lines and CRLF line ends are fine.
	file := importFileOf(t, "photos", "videos") + "\r\n" + strings.ReplaceAll(importFileOf(t, "assets"), "\n", "\r\n")
	code, body := postImport(t, "", file)
	report := decodeReport(t, body)
	want := []caddymodule.ImportResult{
		{Bucket: "photos", Status: caddymodule.ImportImported, Rules: 1},
		{Bucket: "videos", Status: caddymodule.ImportImported, Rules: 1},
		{Bucket: "assets", Status: caddymodule.ImportImported, Rules: 1},
	}
	if code != http.StatusOK || report.Source != "request" || fmt.Sprint(report.Results) != fmt.Sprint(want) {
		t.Fatalf("import: %d %s", code, body)
	}
	for _, b := range []string{"photos", "videos", "assets"} {
		if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/"+b, ""); !strings.Contains(doc, "https://"+b+".example") {
			t.Errorf("%s was not stored: %s", b, doc)
		}
	}
	if _, list, _ := call(t, http.MethodGet, "/s3_cors/buckets", ""); strings.Count(list, `"updated_by": "import"`) != 3 {
		t.Errorf("the list does not name the import as the author: %s", list)
	}

	// Buckets with a configuration are skipped, unless replace is set.
	other := importLine(t, "photos", corsDocTwoRules) + importFileOf(t, "fresh")
	code, body = postImport(t, "", other)
	report = decodeReport(t, body)
	if code != http.StatusOK || len(report.Results) != 2 ||
		report.Results[0] != (caddymodule.ImportResult{Bucket: "photos", Status: caddymodule.ImportSkipped, Message: "the bucket has a CORS configuration here already"}) ||
		report.Results[1] != (caddymodule.ImportResult{Bucket: "fresh", Status: caddymodule.ImportImported, Rules: 1}) {
		t.Errorf("import over a configuration: %d %s", code, body)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://photos.example") {
		t.Errorf("a skipped bucket changed: %s", doc)
	}
	code, body = postImport(t, "?replace=true", other)
	report = decodeReport(t, body)
	if code != http.StatusOK || report.Results[0] != (caddymodule.ImportResult{Bucket: "photos", Status: caddymodule.ImportReplaced, Rules: 2}) ||
		report.Results[1].Status != caddymodule.ImportReplaced {
		t.Errorf("import with replace: %d %s", code, body)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://two.example") {
		t.Errorf("a replaced bucket did not change: %s", doc)
	}
	h := getHistory(t, "photos")
	if len(h.Versions) != 2 || h.Versions[0].UpdatedBy != "import" || h.Versions[1].UpdatedBy != "import" {
		t.Errorf("the replaced version is not in the history: %+v", h.Versions)
	}

	// One bad line, and nothing is stored; every bad line is listed.
	bad, wantLines := badImportLines(t)
	_, before, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	code, body = postImport(t, "?replace=true", bad)
	wantError(t, "an import with bad lines", 400, fmt.Sprintf("%d of 13 lines are invalid, so nothing was stored: ", len(wantLines)), code, body)
	msg := adminError(t, body)
	for _, w := range wantLines {
		if !strings.Contains(msg, w+"; ") && !strings.HasSuffix(msg, w) {
			t.Errorf("the answer to bad lines lacks %q:\n%s", w, msg)
		}
	}
	if _, after, _ := call(t, http.MethodGet, "/s3_cors/buckets", ""); after != before {
		t.Errorf("an import with bad lines changed the configurations:\n%s\nwas\n%s", after, before)
	}

	for _, c := range []struct {
		name, query, body string
		status            int
		want              string
	}{
		{"an unknown parameter", "?replce=true", other, 400, `unknown query parameter "replce"`},
		{"a parameter that is no boolean", "?replace=yes", other, 400, `query parameter replace must be true or false, not "yes"`},
		{"too many lines", "", strings.Repeat("x\n", maxImportLines+1), 413, "at most 10000 lines, this one 10001; send the file in batches"},
		{"too many bytes", "", strings.Repeat(" ", maxImportBody+1), 413, "at most 16 MiB"},
	} {
		code, body := postImport(t, c.query, c.body)
		wantError(t, c.name, c.status, c.want, code, body)
	}
	// Without the NDJSON type, the body is the JSON import request.
	code, body, _ = call(t, http.MethodPost, "/s3_cors/import", other)
	wantError(t, "NDJSON without its type", 400, "decoding the import request", code, body)
}

// With an upstream, each bucket must exist there, as for PutBucketCors,
// unless skip_bucket_check is set.
func TestImportFileChecksTheUpstream(t *testing.T) {
	up := newHeadBucketStore(t, "photos", "assets")
	loadConfig(t, up.URL)

	code, body := postImport(t, "", importFileOf(t, "photos", "videos", "assets"))
	report := decodeReport(t, body)
	if code != http.StatusOK || len(report.Results) != 3 ||
		report.Results[0].Status != caddymodule.ImportImported || report.Results[2].Status != caddymodule.ImportImported ||
		report.Results[1] != (caddymodule.ImportResult{Bucket: "videos", Status: caddymodule.ImportFailed, Code: "NoSuchBucket", Message: "The specified bucket does not exist"}) {
		t.Errorf("import with a bucket the upstream does not have: %d %s", code, body)
	}
	if code, _, _ := call(t, http.MethodGet, "/s3_cors/buckets/videos", ""); code != http.StatusNotFound {
		t.Errorf("videos was stored")
	}

	up.down.Store(true)
	code, body = postImport(t, "?replace=true", importFileOf(t, "photos"))
	report = decodeReport(t, body)
	if code != http.StatusOK || len(report.Results) != 1 ||
		report.Results[0] != (caddymodule.ImportResult{Bucket: "photos", Status: caddymodule.ImportFailed, Code: "ServiceUnavailable", Message: "Service is unable to handle request."}) {
		t.Errorf("import with the upstream down: %d %s", code, body)
	}
	code, body = postImport(t, "?skip_bucket_check=true", importFileOf(t, "videos"))
	report = decodeReport(t, body)
	if code != http.StatusOK || len(report.Results) != 1 || report.Results[0].Status != caddymodule.ImportImported {
		t.Errorf("import with skip_bucket_check: %d %s", code, body)
	}
}

func TestCommandImportFile(t *testing.T) {
	loadConfig(t, "")
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	five := write("five.ndjson", importFileOf(t, "b-1", "b-2", "b-3", "b-4", "b-5"))

	// Three batches; stdout is no terminal, so no progress is shown.
	runCaddy(t, "", "import", five, "--batch-size", "2").wantSuccess(t, "import of a file",
		"import from "+five+": 5 buckets, 5 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n")
	_, list, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	for i := 1; i <= 5; i++ {
		if !strings.Contains(list, fmt.Sprintf(`"bucket": "b-%d"`, i)) {
			t.Errorf("b-%d was not stored: %s", i, list)
		}
	}

	// Again: every bucket has a configuration now.
	runCaddy(t, "", "import", five).wantSuccess(t, "import of a file imported before",
		"b-1  skipped: it has a configuration here already (--replace overwrites it)\n"+
			"b-2  skipped: it has a configuration here already (--replace overwrites it)\n"+
			"b-3  skipped: it has a configuration here already (--replace overwrites it)\n"+
			"b-4  skipped: it has a configuration here already (--replace overwrites it)\n"+
			"b-5  skipped: it has a configuration here already (--replace overwrites it)\n"+
			"import from "+five+": 5 buckets, 0 imported, 0 replaced, 5 skipped, 0 no_configuration, 0 refused, 0 failed\n")
	runCaddy(t, importFileOf(t, "b-1", "b-6"), "import", "-", "--replace").wantSuccess(t, "import from standard input with --replace",
		"import from standard input: 2 buckets, 1 imported, 1 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n")

	// Every bad line is reported with its number, and nothing is stored.
	bad, wantLines := badImportLines(t)
	badFile := write("bad.ndjson", bad)
	_, before, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	run := runCaddy(t, "", "import", badFile, "--replace")
	var wantStderr []string
	for _, w := range wantLines {
		wantStderr = append(wantStderr, badFile+":"+strings.TrimPrefix(w, "line ")+"\n")
	}
	run.wantFailure(t, "import of a file with bad lines",
		append(wantStderr, fmt.Sprintf("Error: %d of 13 lines of %s are invalid; nothing was imported\n", len(wantLines), badFile))...)
	if got := strings.Count(run.stderr, badFile+":"); got != len(wantLines) {
		t.Errorf("%d lines reported, want %d:\n%s", got, len(wantLines), run.stderr)
	}
	if _, after, _ := call(t, http.MethodGet, "/s3_cors/buckets", ""); after != before {
		t.Errorf("an import with bad lines changed the configurations")
	}

	empty := write("empty.ndjson", "\n\n")
	runCaddy(t, "", "import", empty).wantSuccess(t, "import of an empty file",
		"import from "+empty+": 0 buckets, 0 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n")
	runCaddy(t, "", "import", filepath.Join(dir, "missing.ndjson")).wantFailure(t, "import of a missing file", "no file ")
	runCaddy(t, "", "import", five, "--batch-size", "0").wantFailure(t, "a batch of no lines", "--batch-size must be 1 to 10000, not 0")
	runCaddy(t, "", "import", five, "--batch-size", "10001").wantFailure(t, "a batch over the limit", "--batch-size must be 1 to 10000, not 10001")
	runCaddy(t, "", "import").wantFailure(t, "import without a file", "usage: caddy s3-cors import <file|->")
}

// A bucket that fails makes the command exit 1 after the summary.
func TestCommandImportFileFailures(t *testing.T) {
	up := newHeadBucketStore(t, "photos")
	loadConfig(t, up.URL)
	run := runCaddy(t, importFileOf(t, "photos", "videos"), "import", "-")
	wantOut := "videos  failed: NoSuchBucket: The specified bucket does not exist\n" +
		"import from standard input: 2 buckets, 1 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 1 failed\n"
	if run.code != 1 || run.stdout != wantOut || !strings.Contains(run.stderr, "Error: 1 of 2 buckets were not imported") {
		t.Errorf("import with a bucket the upstream does not have: exit %d\nstdout %q\nwant   %q\nstderr %s", run.code, run.stdout, wantOut, run.stderr)
	}
	runCaddy(t, importFileOf(t, "videos"), "import", "-", "--skip-bucket-check").wantSuccess(t, "import with --skip-bucket-check",
		"import from standard input: 1 bucket, 1 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n")

	// A batch the admin API refuses stops the import; the batches before
	// it stay imported and are summed up.
	loadJSON(t, map[string]any{})
	run = runCaddy(t, importFileOf(t, "photos", "videos"), "import", "-")
	if run.code != 1 || run.stdout != "import from standard input: 0 buckets, 0 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n" ||
		!strings.Contains(run.stderr, "Error: importing lines 1 to 2 of standard input: caddy responded with error: HTTP 404: no s3_cors handler is configured (the lines before were imported; these and the rest were not)") {
		t.Errorf("import without the app: exit %d\nstdout %q\nstderr %s", run.code, run.stdout, run.stderr)
	}
}

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	p := &progressLine{out: &out}
	p.update(0, 12)
	p.update(10, 12)
	p.update(12, 12)
	p.clear()
	p.clear()
	if want := "\rstored 0 of 12\rstored 10 of 12\rstored 12 of 12\r" + strings.Repeat(" ", 15) + "\r"; out.String() != want {
		t.Errorf("progress: %q, want %q", out.String(), want)
	}

	// Nothing but a terminal shows progress.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, o := range map[string]*progressLine{"a pipe": newProgressLine(w), "a buffer": newProgressLine(&out)} {
		if o.out != nil {
			t.Errorf("%s shows progress", name)
		}
		o.update(1, 2) // must not write
	}
	if out.Len() != len("\rstored 0 of 12\rstored 10 of 12\rstored 12 of 12\r")+15+1 {
		t.Errorf("progress was written to a buffer: %q", out.String())
	}
}
