package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// lintDoc has a rule with three warnings: an origin with a trailing slash,
// PUT without ETag exposed, and a MaxAgeSeconds over WebKit's cap.
const lintDoc = `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example/</AllowedOrigin>` +
	`<AllowedMethod>PUT</AllowedMethod><MaxAgeSeconds>7200</MaxAgeSeconds></CORSRule></CORSConfiguration>`

// putCORSAs sends PutBucketCors of doc for bucket to h, signed with the
// fuzz target's key.
func putCORSAs(t *testing.T, h *Handler, bucket, doc string) *httptest.ResponseRecorder {
	t.Helper()
	r := readRequest(http.MethodPut, "/"+bucket+"?cors", "127.0.0.1:9000", "", []byte(doc))
	if r == nil || !signRequest(r, []byte(doc)) {
		t.Fatal("building the PutBucketCors request")
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, upstreamStub{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// PutBucketCors logs a warn line per lint warning of what it stored, and
// answers as S3 does all the same; what it refuses logs none.
func TestPutBucketCorsLogsLintWarnings(t *testing.T) {
	h := newHandlerOn(t, &certmagic.FileStorage{Path: t.TempDir()})
	core, logs := observer.New(zapcore.WarnLevel)
	h.logger = zap.New(core)
	h.Credentials = []Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}}
	h.verifier = s3.NewVerifier(s3.DefaultRegion, []s3.Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}})

	w := putCORSAs(t, h, "photos", lintDoc)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("PutBucketCors: %d %q", w.Code, w.Body)
	}
	cfg, err := cors.Parse([]byte(lintDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := cors.Lint(cfg)
	if len(want) != 3 {
		t.Fatalf("the document has %d warnings, want 3: %v", len(want), want)
	}
	lines := logs.TakeAll()
	if len(lines) != len(want) {
		t.Fatalf("%d log lines for %d warnings: %v", len(lines), len(want), lines)
	}
	for i, e := range lines {
		f := e.ContextMap()
		if e.Level != zapcore.WarnLevel || e.Message != lintLiveMessage || f["bucket"] != "photos" || f["caller"] != fuzzAccessKey ||
			f["code"] != want[i].Code || f["rule"] != int64(want[i].Rule) || f["message"] != want[i].Message {
			t.Errorf("line %d: %s %q %v, want the fields of %v", i, e.Level, e.Message, f, want[i])
		}
	}

	refused := strings.Replace(lintDoc, "<AllowedMethod>PUT", "<AllowedMethod>PATCH", 1)
	if w := putCORSAs(t, h, "photos", refused); w.Code != http.StatusBadRequest {
		t.Errorf("PutBucketCors of a PATCH rule: %d", w.Code)
	}
	clean := `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`
	if w := putCORSAs(t, h, "photos", clean); w.Code != http.StatusOK {
		t.Errorf("PutBucketCors of a clean document: %d", w.Code)
	}
	if lines := logs.TakeAll(); len(lines) != 0 {
		t.Errorf("a refused and a clean document logged %v", lines)
	}
}

// An import logs one line for all it stored, with the warnings counted by
// code, and none for what it did not store.
func TestImportLogsLintSummary(t *testing.T) {
	const failing = "b-3"
	shared := newSharedStore(refusingStorage{&certmagic.FileStorage{Path: t.TempDir()}, failing}, store.DefaultPrefix, zap.NewNop())
	t.Cleanup(func() { _ = shared.Destruct() })
	shared.start(zap.NewNop())
	core, logs := observer.New(zapcore.WarnLevel)
	app := &App{shared: shared, upstreams: new(upstreams), logger: zap.New(core)}

	warned, err := cors.Parse([]byte(lintDoc))
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Item
	for i := range 5 {
		cfg := docFor(t, "https://clean.example")
		if i%2 == 1 { // b-1 and b-3, which is not stored
			cfg = warned
		}
		items = append(items, store.Item{Bucket: fmt.Sprintf("b-%d", i), Config: cfg})
	}
	items = append(items, store.Item{Bucket: "b-5", Config: warned})
	report, err := app.ImportConfigurations(context.Background(), "test", items, BulkImportOptions{SkipBucketCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	var stored int64 // of the documents with warnings
	for i, res := range report.Results {
		if res.Status == ImportImported && items[i].Config == warned {
			stored++
		}
	}
	if report.Results[3].Status != ImportFailed || stored == 0 {
		t.Fatalf("the test needs b-3 failed and another with warnings stored: %+v", report.Results)
	}
	lines := logs.FilterMessage(lintImportMessage).All()
	if len(lines) != 1 || len(logs.All()) != 1 {
		t.Fatalf("want one summary line, got %v", logs.All())
	}
	f := lines[0].ContextMap()
	wantCodes := map[string]any{cors.WarnOriginNeverMatches: stored, cors.WarnETagNotExposed: stored, cors.WarnMaxAgeOverBrowserCap: stored}
	if f["source"] != "test" || f["caller"] != importedBy || f["buckets"] != stored || fmt.Sprint(f["warnings"]) != fmt.Sprint(wantCodes) {
		t.Errorf("summary %v, want %d buckets with %v", f, stored, wantCodes)
	}

	// Nothing with a warning stored: no line.
	logs.TakeAll()
	if _, err := app.ImportConfigurations(context.Background(), "test", items[:1], BulkImportOptions{SkipBucketCheck: true, Replace: true}); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("an import without warnings logged %v", logs.All())
	}
}
