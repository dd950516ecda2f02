package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// These tests run Caddy in this test binary with the s3_cors app and call
// its real admin endpoint, so that the routes are mounted, found and their
// errors written by Caddy's admin server exactly as in production. The CLI
// tests run this binary again as the caddy command.

// runAsCaddy makes the test binary the caddy command when set.
const runAsCaddy = "S3CORS_ADMIN_TEST_RUN_CADDY"

var (
	adminAddr   string // host:port of the admin endpoint
	storageRoot string // holds a storage directory per config
)

func TestMain(m *testing.M) {
	if os.Getenv(runAsCaddy) == "1" {
		caddycmd.Main()
		return
	}
	adminAddr = testenv.FreeAddr()
	var err error
	storageRoot, err = os.MkdirTemp("", "s3cors-admin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = caddy.Stop()
	os.RemoveAll(storageRoot)
	os.Exit(code)
}

// corsDoc is a CORSConfiguration with one rule.
const corsDoc = `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
	`<CORSRule><ID>app</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>` +
	`<AllowedOrigin>https://app.example</AllowedOrigin></CORSRule></CORSConfiguration>`

// loadConfig runs Caddy with the admin endpoint, the s3_cors app on fresh
// storage, and, unless handlerUpstream is empty, an s3_cors handler whose
// upstream is that URL.
func loadConfig(t *testing.T, handlerUpstream string) {
	t.Helper()
	loadJSON(t, testConfig(t, handlerUpstream))
}

// testConfig is the config loadConfig loads.
func testConfig(t *testing.T, handlerUpstream string) map[string]any {
	t.Helper()
	dir, err := os.MkdirTemp(storageRoot, "storage-")
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]any{"s3_cors": map[string]any{"sync_interval": "1h"}}
	if handlerUpstream != "" {
		apps["http"] = map[string]any{"servers": map[string]any{"s3": map[string]any{
			"listen": []string{testenv.FreeAddr()},
			"routes": []any{map[string]any{"handle": []any{
				map[string]any{"handler": "s3_cors", "upstream": map[string]any{
					"endpoint": handlerUpstream, "access_key_id": "ak", "secret_access_key": "sk", "cache_ttl": "1ns",
				}},
				map[string]any{"handler": "static_response", "status_code": 204},
			}}},
		}}}
	}
	return map[string]any{
		"storage": map[string]any{"module": "file_system", "root": dir},
		"apps":    apps,
	}
}

// loadJSON runs cfg with this test's admin endpoint and, unless cfg says
// otherwise, quiet logs.
func loadJSON(t *testing.T, cfg map[string]any) {
	t.Helper()
	cfg["admin"] = map[string]any{"listen": adminAddr, "config": map[string]any{"persist": false}}
	if cfg["logging"] == nil {
		cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(b, true); err != nil {
		t.Fatalf("loading the config: %v", err)
	}
	// The admin server of the previous config closed its connections.
	client.CloseIdleConnections()
}

// client calls the admin endpoint.
var client = &http.Client{Timeout: 10 * time.Second}

// call sends a request to the admin endpoint and returns the status, the
// body and the Content-Type.
func call(t *testing.T, method, path, body string) (int, string, string) {
	t.Helper()
	return callWithType(t, method, path, "", body)
}

// callWithType is call with a Content-Type for the request.
func callWithType(t *testing.T, method, path, contentType, body string) (int, string, string) {
	t.Helper()
	var (
		res *http.Response
		err error
	)
	// Right after a config load, the admin server of the previous config
	// may still reset a connection; the request is sent again.
	for attempt := 0; attempt < 5; attempt++ {
		var req *http.Request
		req, err = http.NewRequest(method, "http://"+adminAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if res, err = client.Do(req); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header.Get("Content-Type")
}

// adminError is the message of one of Caddy's admin error answers.
func adminError(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not an admin error answer: %q", body)
	}
	return e.Error
}

// wantError checks that a call was refused with status and a message that
// contains want.
func wantError(t *testing.T, what string, status int, want string, gotStatus int, body string) {
	t.Helper()
	if gotStatus != status {
		t.Errorf("%s: status %d, want %d (%s)", what, gotStatus, status, body)
		return
	}
	if msg := adminError(t, body); !strings.Contains(msg, want) {
		t.Errorf("%s: error %q, want one containing %q", what, msg, want)
	}
}

func TestRoutes(t *testing.T) {
	loadConfig(t, "")

	code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("list with nothing stored: %d %q", code, body)
	}

	// PUT validates as PutBucketCors does, answers the summary, and the
	// document is then served by GET and listed.
	code, body, _ = call(t, http.MethodPut, "/s3_cors/buckets/photos", "<CORSConfiguration/>")
	wantError(t, "PUT of a document without rules", 400,
		`bucket "photos": MalformedXML: The XML you provided was not well-formed or did not validate against our published schema`, code, body)
	code, body, _ = call(t, http.MethodPut, "/s3_cors/buckets/photos", strings.Repeat(" ", maxRequestBody+1))
	wantError(t, "PUT over 64 KB", 400, "MaxMessageLengthExceeded: Your request was too big.", code, body)
	code, body, _ = call(t, http.MethodPut, "/s3_cors/buckets/photos",
		strings.Replace(corsDoc, "<AllowedMethod>PUT</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1))
	wantError(t, "PUT with an unsupported method", 400, "InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH", code, body)

	code, body, ctype := call(t, http.MethodPut, "/s3_cors/buckets/photos", corsDoc)
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("PUT: %d %s %q", code, ctype, body)
	}
	var s BucketSummary
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.Bucket != "photos" || s.Rules != 1 || s.UpdatedBy != "admin" || s.UpdatedAt.IsZero() {
		t.Errorf("PUT answered %q (%v)", body, err)
	}
	code, body, ctype = call(t, http.MethodGet, "/s3_cors/buckets/photos", "")
	if code != http.StatusOK || ctype != "application/xml" || !strings.Contains(body, "<AllowedOrigin>https://app.example</AllowedOrigin>") {
		t.Errorf("GET: %d %s %q", code, ctype, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/buckets", "")
	var list []BucketSummary
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil || len(list) != 1 || list[0] != s {
		t.Errorf("list: %d %q, want [%+v]", code, body, s)
	}

	code, body, _ = call(t, http.MethodPost, "/s3_cors/sync", "")
	if code != http.StatusOK || !strings.Contains(body, `"buckets": 1`) {
		t.Errorf("sync: %d %s", code, body)
	}

	// DELETE removes it; a second DELETE and a GET find nothing.
	if code, body, _ := call(t, http.MethodDelete, "/s3_cors/buckets/photos", ""); code != http.StatusOK {
		t.Errorf("DELETE: %d %s", code, body)
	}
	code, body, _ = call(t, http.MethodDelete, "/s3_cors/buckets/photos", "")
	wantError(t, "second DELETE", 404, `bucket "photos": NoSuchCORSConfiguration: The CORS configuration does not exist`, code, body)
	code, body, _ = call(t, http.MethodGet, "/s3_cors/buckets/photos", "")
	wantError(t, "GET after DELETE", 404, "NoSuchCORSConfiguration", code, body)

	// Bucket names follow S3's rules on every route.
	for _, name := range []string{"ab", "Not_A_Bucket", "photos..2", "192.168.1.1", "photos%2Fcat"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			code, body, _ := call(t, method, "/s3_cors/buckets/"+name, corsDoc)
			wantError(t, method+" "+name, 400, "InvalidBucketName: The specified bucket is not valid.", code, body)
		}
	}
	if code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("invalid names left something behind: %d %s", code, body)
	}

	// Unknown routes and wrong methods.
	code, body, _ = call(t, http.MethodGet, "/s3_cors/bucket", "")
	wantError(t, "unknown route", 404, "no route /s3_cors/bucket", code, body)
	for _, c := range []struct{ method, path, allowed string }{
		{http.MethodPost, "/s3_cors/buckets", "GET"},
		{http.MethodPatch, "/s3_cors/buckets/photos", "GET, PUT, DELETE"},
		{http.MethodGet, "/s3_cors/explain", "POST"},
		{http.MethodGet, "/s3_cors/sync", "POST"},
		{http.MethodPost, "/s3_cors/stats/photos", "GET"},
		{http.MethodGet, "/s3_cors/import", "POST"},
	} {
		code, body, _ := call(t, c.method, c.path, "")
		wantError(t, c.method+" "+c.path, 405, "use "+c.allowed, code, body)
	}
}

func TestExplain(t *testing.T) {
	loadConfig(t, "")
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}

	explain := func(t *testing.T, req string) (int, string, Explanation) {
		t.Helper()
		code, body, _ := call(t, http.MethodPost, "/s3_cors/explain", req)
		var ex Explanation
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &ex); err != nil {
				t.Fatalf("explain answered %q: %v", body, err)
			}
		}
		return code, body, ex
	}

	// request_headers as the header's string, and as an array of lines.
	for _, headers := range []string{`"content-type,x-amz-meta-a"`, `["content-type", "x-amz-meta-a"]`} {
		code, body, ex := explain(t, `{"bucket":"photos","key":"a.jpg","origin":"https://app.example","request_method":"PUT","request_headers":`+headers+`}`)
		if code != http.StatusOK || ex.Outcome != "Allowed" || ex.MatchedRule != 0 || ex.Status != 200 ||
			ex.Headers.Get("Access-Control-Allow-Headers") != "content-type, x-amz-meta-a" {
			t.Errorf("request_headers %s: %d %s", headers, code, body)
		}
	}

	code, body, ex := explain(t, `{"bucket":"photos","origin":"https://evil.example","request_method":"PUT"}`)
	if code != http.StatusOK || ex.Outcome != "NotAllowed" || ex.Status != 403 || ex.Code != "AccessForbidden" ||
		ex.Reason != "origin" || ex.MatchedRule != -1 || len(ex.Rules) != 1 || ex.Rules[0].ID != "app" || ex.Rules[0].Matched {
		t.Errorf("a refused preflight: %d %s", code, body)
	}
	if ex.Source != "bucket" || ex.DefaultFile != "" {
		t.Errorf("a bucket with a configuration: source %q, default file %q", ex.Source, ex.DefaultFile)
	}
	code, body, ex = explain(t, `{"bucket":"videos","origin":"https://app.example","request_method":"GET"}`)
	if code != http.StatusOK || ex.Outcome != "NotEnabled" || ex.Source != "none" {
		t.Errorf("a bucket without configuration: %d %s", code, body)
	}
	code, body, ex = explain(t, `{"bucket":"photos","method":"GET","origin":"https://app.example"}`)
	if code != http.StatusOK || ex.Outcome != "Allowed" || ex.Status != 0 || ex.Headers.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("an actual GET: %d %s", code, body)
	}

	for _, c := range []struct{ name, req, want string }{
		{"no bucket", `{"origin":"https://app.example"}`, "bucket is required"},
		{"invalid bucket", `{"bucket":"Photos"}`, "InvalidBucketName"},
		{"unknown field", `{"bucket":"photos","colour":"blue"}`, `unknown field "colour"`},
		{"request_headers a number", `{"bucket":"photos","request_headers":3}`, "request_headers must be a string"},
		{"not JSON", `bucket=photos`, "decoding the explain request"},
	} {
		code, body, _ := call(t, http.MethodPost, "/s3_cors/explain", c.req)
		wantError(t, c.name, 400, c.want, code, body)
	}
}

func TestHeaderLinesJSON(t *testing.T) {
	for in, want := range map[string]HeaderLines{
		`"a,b"`:        {"a,b"},
		`["a", "b,c"]`: {"a", "b,c"},
		`[]`:           {},
		`null`:         nil,
	} {
		var h HeaderLines
		if err := json.Unmarshal([]byte(in), &h); err != nil || fmt.Sprintf("%#v", h) != fmt.Sprintf("%#v", want) {
			t.Errorf("%s: %#v %v, want %#v", in, h, err, want)
		}
	}
	var h HeaderLines
	if err := json.Unmarshal([]byte(`{"a":1}`), &h); err == nil {
		t.Error("an object was accepted")
	}
}

// headBucketStore answers HeadBucket like a store that has the buckets in
// have; down makes it answer 503.
type headBucketStore struct {
	*httptest.Server
	down atomic.Bool
}

func newHeadBucketStore(t *testing.T, have ...string) *headBucketStore {
	t.Helper()
	s := &headBucketStore{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.down.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Method == http.MethodHead && strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=ak/"):
			for _, b := range have {
				if r.URL.Path == "/"+b {
					return
				}
			}
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// A PUT through the admin API gets the answer PutBucketCors would give
// when a handler has an upstream: NoSuchBucket for a bucket it does not
// have, and a retryable 503 that changes nothing when it cannot tell.
func TestPutAsksTheHandlersUpstream(t *testing.T) {
	up := newHeadBucketStore(t, "photos")
	loadConfig(t, up.URL)

	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("PUT to a bucket the upstream has: %d %s", code, body)
	}
	code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/videos", corsDoc)
	wantError(t, "PUT to a bucket the upstream does not have", 404, `bucket "videos": NoSuchBucket: The specified bucket does not exist`, code, body)
	code, body, _ = call(t, http.MethodPut, "/s3_cors/buckets/videos", "not even XML")
	wantError(t, "a bad document for a missing bucket", 404, "NoSuchBucket", code, body)

	up.down.Store(true)
	_, before, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", "")
	code, body, _ = call(t, http.MethodPut, "/s3_cors/buckets/photos", strings.Replace(corsDoc, "https://app.example", "https://other.example", 1))
	wantError(t, "PUT with the upstream down", 503, `bucket "photos": ServiceUnavailable: Service is unable to handle request.`, code, body)
	if code, after, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); code != http.StatusOK || after != before {
		t.Errorf("the refused PUT changed the configuration: %d %s", code, after)
	}
	// A DELETE does not ask the upstream.
	if code, body, _ := call(t, http.MethodDelete, "/s3_cors/buckets/photos", ""); code != http.StatusOK {
		t.Errorf("DELETE with the upstream down: %d %s", code, body)
	}

	// A config without the handler has no upstream to ask.
	loadConfig(t, "")
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/videos", corsDoc); code != http.StatusOK {
		t.Errorf("PUT without any upstream: %d %s", code, body)
	}
}

func TestRoutesWithoutTheApp(t *testing.T) {
	loadJSON(t, map[string]any{})
	code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets", "")
	wantError(t, "list without the app", 404, "no s3_cors handler is configured", code, body)
}
