package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
)

// corsStore is a stand-in for a store with bucket CORS of its own, such as
// versitygw: it answers signed HeadBucket, ListBuckets and GetBucketCors
// from docs, a bucket's document by name ("" for a bucket without
// configuration). failing names a bucket whose GetBucketCors fails with
// 500; down fails everything with 503.
type corsStore struct {
	*httptest.Server
	down atomic.Bool
}

func newCORSStore(t *testing.T, order []string, docs map[string]string, failing string) *corsStore {
	t.Helper()
	s := &corsStore{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s3Error := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=ak/") {
			s3Error(http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		if s.down.Load() {
			s3Error(http.StatusServiceUnavailable, "ServiceUnavailable", "Please reduce your request rate.")
			return
		}
		bucket := strings.Trim(r.URL.Path, "/")
		doc, exists := docs[bucket]
		switch {
		case r.Method == http.MethodGet && bucket == "":
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><Buckets>`)
			for _, name := range order {
				b.WriteString(`<Bucket><Name>` + name + `</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>`)
			}
			b.WriteString(`</Buckets></ListAllMyBucketsResult>`)
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte(b.String()))
		case !exists:
			s3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		case r.Method == http.MethodHead:
		case r.Method == http.MethodGet && r.URL.Query().Has("cors") && bucket == failing:
			s3Error(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		case r.Method == http.MethodGet && r.URL.Query().Has("cors") && doc == "":
			s3Error(http.StatusNotFound, "NoSuchCORSConfiguration", "The CORS configuration does not exist")
		case r.Method == http.MethodGet && r.URL.Query().Has("cors"):
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte(doc))
		default:
			s3Error(http.StatusNotImplemented, "NotImplemented", "not here")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// The store's documents: one S3 accepts, one it refuses (PATCH is no
// method of a CORS rule), and two rules with IDs and MaxAgeSeconds.
const (
	storeDoc       = `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`
	storePatchDoc  = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>`
	storeTwoRules  = `<CORSConfiguration><CORSRule><ID>up</ID><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>`
	storeTwoRulesS = `<CORSRule><AllowedHeader>*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.example</AllowedOrigin><ID>up</ID><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><ExposeHeader>ETag</ExposeHeader></CORSRule>`
)

func decodeReport(t *testing.T, body string) caddymodule.ImportReport {
	t.Helper()
	var r caddymodule.ImportReport
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not an import report: %q: %v", body, err)
	}
	return r
}

func TestImportFromUpstream(t *testing.T) {
	order := []string{"good", "two", "patch", "empty", "mine", "broken"}
	up := newCORSStore(t, order, map[string]string{
		"good": storeDoc, "two": storeTwoRules, "patch": storePatchDoc, "empty": "", "mine": storeDoc, "broken": storeDoc,
	}, "broken")
	loadConfig(t, up.URL)
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/mine", corsDoc); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}

	code, body, _ := call(t, http.MethodPost, "/s3_cors/import", `{"from_upstream": true}`)
	if code != http.StatusOK {
		t.Fatalf("import: %d %s", code, body)
	}
	report := decodeReport(t, body)
	want := []caddymodule.ImportResult{
		{Bucket: "good", Status: caddymodule.ImportImported, Rules: 1},
		{Bucket: "two", Status: caddymodule.ImportImported, Rules: 2},
		{Bucket: "patch", Status: caddymodule.ImportRefused, Code: "InvalidRequest", Message: "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
		{Bucket: "empty", Status: caddymodule.ImportNoConfiguration},
		{Bucket: "mine", Status: caddymodule.ImportSkipped, Message: "the bucket has a CORS configuration here already"},
		{Bucket: "broken", Status: caddymodule.ImportFailed, Code: "InternalError", Message: "We encountered an internal error. Please try again."},
	}
	if report.Source != up.URL || len(report.Results) != len(want) {
		t.Fatalf("report: %+v", report)
	}
	for i, w := range want {
		if report.Results[i] != w {
			t.Errorf("%s: %+v, want %+v", w.Bucket, report.Results[i], w)
		}
	}

	// What was imported is stored and served; the rest is not.
	if code, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/two", ""); code != http.StatusOK || !strings.Contains(doc, storeTwoRulesS) {
		t.Errorf("the imported configuration of two: %d %s", code, doc)
	}
	_, list, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	for _, b := range []string{"patch", "empty", "broken"} {
		if strings.Contains(list, `"bucket": "`+b+`"`) {
			t.Errorf("%s was stored: %s", b, list)
		}
	}
	if !strings.Contains(list, `"updated_by": "import"`) {
		t.Errorf("the list does not name the import as the author: %s", list)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/mine", ""); !strings.Contains(doc, "<ID>app</ID>") {
		t.Errorf("a skipped bucket's configuration changed: %s", doc)
	}

	// Named buckets, with replace.
	code, body, _ = call(t, http.MethodPost, "/s3_cors/import", `{"from_upstream": true, "buckets": ["mine", "gone"], "replace": true}`)
	report = decodeReport(t, body)
	if code != http.StatusOK || len(report.Results) != 2 ||
		report.Results[0] != (caddymodule.ImportResult{Bucket: "mine", Status: caddymodule.ImportReplaced, Rules: 1}) ||
		report.Results[1] != (caddymodule.ImportResult{Bucket: "gone", Status: caddymodule.ImportFailed, Code: "NoSuchBucket", Message: "The specified bucket does not exist"}) {
		t.Errorf("import of named buckets with replace: %d %s", code, body)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/mine", ""); strings.Contains(doc, "<ID>app</ID>") {
		t.Errorf("a replaced configuration did not change: %s", doc)
	}

	for _, c := range []struct{ name, req, want string }{
		{"no source", `{}`, "set from_upstream"},
		{"unknown field", `{"from_upstream": true, "bucket": "x"}`, `unknown field "bucket"`},
		{"another upstream", `{"from_upstream": true, "upstream": "http://127.0.0.1:1"}`, "no s3_cors handler has the upstream http://127.0.0.1:1 (they have " + up.URL + ")"},
	} {
		code, body, _ := call(t, http.MethodPost, "/s3_cors/import", c.req)
		wantError(t, c.name, http.StatusBadRequest, c.want, code, body)
	}
	up.down.Store(true)
	code, body, _ = call(t, http.MethodPost, "/s3_cors/import", `{"from_upstream": true}`)
	wantError(t, "the store down", http.StatusBadGateway, "listing the buckets of "+up.URL+": ServiceUnavailable", code, body)

	loadConfig(t, "")
	code, body, _ = call(t, http.MethodPost, "/s3_cors/import", `{"from_upstream": true}`)
	wantError(t, "no upstream", http.StatusBadRequest, "no s3_cors handler has an upstream", code, body)
}

func TestCommandImport(t *testing.T) {
	up := newCORSStore(t, []string{"good", "patch", "empty"}, map[string]string{"good": storeDoc, "patch": storePatchDoc, "empty": ""}, "")
	loadConfig(t, up.URL)

	runCaddy(t, "", "import", "--from-upstream", "good", "empty").wantSuccess(t, "import of two buckets",
		"good   imported (1 rule)\n"+
			"empty  no configuration at the store\n"+
			"import from "+up.URL+": 2 buckets, 1 imported, 0 replaced, 0 skipped, 1 no_configuration, 0 refused, 0 failed\n")
	run := runCaddy(t, "", "import", "--from-upstream")
	wantOut := "good   skipped: it has a configuration here already (--replace overwrites it)\n" +
		"patch  refused: InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH\n" +
		"empty  no configuration at the store\n" +
		"import from " + up.URL + ": 3 buckets, 0 imported, 0 replaced, 1 skipped, 1 no_configuration, 1 refused, 0 failed\n"
	if run.code != 1 || run.stdout != wantOut || !strings.Contains(run.stderr, "Error: 1 of 3 buckets were not imported") {
		t.Errorf("import of every bucket: exit %d\nstdout %q\nwant   %q\nstderr %s", run.code, run.stdout, wantOut, run.stderr)
	}
	runCaddy(t, "", "import", "--from-upstream", "--replace", "good").wantSuccess(t, "import with --replace",
		"good  imported over the configuration it had here (1 rule)\n"+
			"import from "+up.URL+": 1 bucket, 0 imported, 1 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n")
	runCaddy(t, "", "import", "good").wantFailure(t, "import without --from-upstream reads a file", "Error: no file good\n")
	runCaddy(t, "", "import", "good", "two").wantFailure(t, "import of two files", "usage: caddy s3-cors import <file|-> (or import --from-upstream [<bucket>...])", "usage: caddy s3-cors <verb>")
	runCaddy(t, "", "import", "--from-upstream", "--upstream", "http://127.0.0.1:1").wantFailure(t, "import from another upstream",
		"HTTP 400: import: no s3_cors handler has the upstream http://127.0.0.1:1")
}

func TestStatsRoute(t *testing.T) {
	loadConfig(t, "")
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body, ctype := call(t, http.MethodGet, "/s3_cors/stats/photos", "")
	var st caddymodule.DecisionStats
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || ctype != "application/json" || err != nil ||
		st.Source != "bucket" || len(st.Rules) != 1 || st.Rules[0].ID != "app" || st.Since.IsZero() || st.SinceEvent != "configuration_change" {
		t.Errorf("stats of a configured bucket: %d %s", code, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/stats/videos", "")
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.Source != "none" || len(st.Rules) != 0 {
		t.Errorf("stats of a bucket without configuration: %d %s", code, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/stats/Not_A_Bucket", "")
	wantError(t, "stats of an invalid name", 400, "InvalidBucketName", code, body)

	run := runCaddy(t, "", "stats", "photos")
	for _, want := range []string{
		"bucket photos: its own configuration decides (1 rule)\ncounted since ",
		"(when the bucket's configuration last changed)\n",
		"0     app  0                   0                 never matched\n",
		"origin             0           0\n",
	} {
		if run.code != 0 || !strings.Contains(run.stdout, want) {
			t.Errorf("stats: exit %d, stdout lacks %q:\n%s%s", run.code, want, run.stdout, run.stderr)
		}
	}
	runCaddy(t, "", "stats", "videos").wantSuccess(t, "stats of a bucket without configuration",
		"bucket videos: no CORS configuration and no default; nothing is counted\n")
}
