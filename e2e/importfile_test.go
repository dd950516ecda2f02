package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportFile imports an NDJSON file with `caddy s3-cors import <file>`
// into the proxy in front of versitygw: a file with one bad line is
// refused whole, with the line's number and S3's words; then the buckets
// the store has are imported and served, one it does not have is reported
// as failed, and an import again skips what is configured unless --replace
// is given.
func TestImportFile(t *testing.T) {
	s := newStack(t, versitygw)
	px, through, direct := s.proxy, s.s3, s.direct

	uploads, public, missing := bucketName(t, "file-uploads"), bucketName(t, "file-public"), bucketName(t, "file-missing")
	direct.createBucket(t, uploads)
	direct.createBucket(t, public)
	dir := t.TempDir()
	writeFile := func(name string, lines ...[2]string) string {
		t.Helper()
		var b strings.Builder
		for _, l := range lines {
			line, err := json.Marshal(map[string]string{"bucket": l[0], "cors_xml": l[1]})
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	patch := []corsRule{{AllowedMethods: []string{"PATCH"}, AllowedOrigins: []string{appOrigin}}}

	bad := writeFile("bad.ndjson", [2]string{uploads, string(corsXML(appRules))}, [2]string{public, string(corsXML(patch))})
	run := s3corsCLI(t, px, "import", bad)
	if run.code != 1 || run.stdout != "" ||
		!strings.Contains(run.stderr, bad+`:2: bucket "`+public+`": cors_xml: line 1, column `) ||
		!strings.Contains(run.stderr, ": InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH\n") ||
		!strings.Contains(run.stderr, "Error: 1 of 2 lines of "+bad+" are invalid; nothing was imported") {
		t.Errorf("import of a file with a bad line: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	through.assertCORS(t, uploads, nil)

	good := writeFile("buckets.ndjson",
		[2]string{uploads, string(corsXML(appRules))},
		[2]string{public, string(corsXML(publicRules))},
		[2]string{missing, string(corsXML(publicRules))})
	run = s3corsCLI(t, px, "import", good)
	if run.code != 1 || run.stdout != missing+"  failed: NoSuchBucket: The specified bucket does not exist\n"+
		"import from "+good+": 3 buckets, 2 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 1 failed\n" ||
		!strings.Contains(run.stderr, "1 of 3 buckets were not imported") {
		t.Errorf("import of a file: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	through.assertCORS(t, uploads, appRules)
	through.assertCORS(t, public, publicRules)
	if pre := sendPreflight(t, px.URL+"/"+uploads+"/a.bin", appOrigin, "PUT", "content-type,x-amz-meta-x"); pre.status != http.StatusOK ||
		pre.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("a preflight the imported rules allow: %s", pre)
	}
	if pre := sendPreflight(t, px.URL+"/"+uploads+"/a.bin", evilOrigin, "PUT", ""); pre.status != http.StatusForbidden {
		t.Errorf("a preflight the imported rules refuse: %s", pre)
	}
	if list := s3corsCLI(t, px, "list"); !strings.Contains(list.stdout, `"bucket": "`+uploads+`"`) || !strings.Contains(list.stdout, `"updated_by": "import"`) {
		t.Errorf("list after the import: %s", list.stdout)
	}

	swapped := writeFile("swapped.ndjson",
		[2]string{uploads, string(corsXML(publicRules))},
		[2]string{public, string(corsXML(appRules))})
	run = s3corsCLI(t, px, "import", swapped)
	if run.code != 0 || !strings.Contains(run.stdout, "import from "+swapped+": 2 buckets, 0 imported, 0 replaced, 2 skipped, ") {
		t.Errorf("import over configured buckets: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	through.assertCORS(t, uploads, appRules)
	run = s3corsCLI(t, px, "import", swapped, "--replace")
	if run.code != 0 || run.stdout != "import from "+swapped+": 2 buckets, 0 imported, 2 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n" {
		t.Errorf("import with --replace: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	through.assertCORS(t, uploads, publicRules)
	through.assertCORS(t, public, appRules)
	s.tap.assertNothingCORSForwarded(t)
}
