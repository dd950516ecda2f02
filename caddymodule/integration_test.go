package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/s3cors/caddy-s3-cors"
	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// The integration tests run one Caddy in this test binary, on ports the
// kernel found free at start, so that they never meet another test run's
// server (another package, or another checkout's tests on this machine).
var (
	adminPort, httpPort int
	base                string
)

// storageRoot holds the storage directories of the test configs.
var storageRoot string

// storageDir returns a fresh directory for a config's storage.
func storageDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(storageRoot, "storage-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) {
	flag.Parse()
	adminPort, httpPort = testenv.FreePort(), testenv.FreePort()
	base = fmt.Sprintf("http://localhost:%d", httpPort)
	// caddytest skips silently under -short and when its TLS fixtures are
	// missing (as under -trimpath); these tests use plain HTTP only, and in
	// CI a skipped integration test is a failure.
	caddytest.Default.AdminPort = adminPort
	caddytest.Default.Certificates = nil
	if testing.Short() && testenv.InCI() {
		fmt.Fprintln(os.Stderr, "the integration tests do not run under -short; run them without it in CI")
		os.Exit(1)
	}
	// The secret of TestSignedAPIWithSDK reaches the config through an
	// {env.*} placeholder.
	os.Setenv("S3CORS_TEST_SECRET", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

	// Caddy keeps writing to a config's storage until the next config
	// replaces it, so storage directories outlive the test that made them.
	var err error
	storageRoot, err = os.MkdirTemp("", "s3cors-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(storageRoot)
	os.Exit(code)
}

// corsDoc is a CORSConfiguration document with one rule.
const corsDoc = `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
	`<CORSRule><ID>app</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>` +
	`<AllowedOrigin>https://app.example</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>` +
	`</CORSConfiguration>`

// upstream is a stand-in S3 store for the tests of header rewriting: it
// answers every request with the CORS headers and Vary lines that MinIO
// sends with its default global setting, and a third Vary line that mixes a
// CORS name in lower case with one of its own. The e2e tests run the real
// stores.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if o := r.Header.Get("Origin"); o != "" {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Date, Etag, Server, X-Amz*, *")
		}
		h.Add("Vary", "Origin")
		h.Add("Vary", "Accept-Encoding")
		h.Add("Vary", "access-control-request-headers, X-Tenant")
		h.Set("X-Upstream-Path", r.URL.RequestURI())
		if r.Method == http.MethodDelete && r.URL.Path == "/doomed" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "object body from "+r.Method)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// caddyfile is a test config: the s3_cors handler with opts in front of
// the stand-in upstream, with the configurations in a fresh directory
// unless storageDir is set.
func caddyfile(t *testing.T, up *httptest.Server, dir, opts string) string {
	t.Helper()
	return site(t, dir, "", fmt.Sprintf("s3_cors {\n\t\t%s\n\t}\n\treverse_proxy %s", opts, strings.TrimPrefix(up.URL, "http://")))
}

// site is a test config with the global options every test needs, more
// global options, the configurations in dir (a fresh directory if empty),
// and one site on the test port whose directives are body.
func site(t *testing.T, dir, global, body string) string {
	t.Helper()
	if dir == "" {
		dir = storageDir(t)
	}
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	grace_period 1ns
	persist_config off
	storage file_system %s
	s3_cors {
		sync_interval 1h
	}
	%s
}
http://localhost:%d {
	%s
}`, adminPort, httpPort, dir, global, httpPort, body)
}

// startCaddy runs the s3_cors handler with opts in front of a fresh
// stand-in upstream, on storage of its own.
func startCaddy(t *testing.T, opts string) *caddytest.Tester {
	t.Helper()
	tc := caddytest.NewTester(t)
	load(tc, caddyfile(t, upstream(t), "", opts), "caddyfile")
	return tc
}

// load runs config and drops the client's idle connections, which the
// replaced server closes.
func load(tc *caddytest.Tester, config, adapter string) {
	tc.InitServer(config, adapter)
	tc.Client.CloseIdleConnections()
}

func do(t *testing.T, tc *caddytest.Tester, method, path string, body []byte, header ...string) (*http.Response, string) {
	t.Helper()
	var (
		res *http.Response
		err error
	)
	// Right after a config load the replaced server may still close a
	// connection it accepted; the request is sent again on a new one.
	for attempt := 0; attempt < 5; attempt++ {
		var req *http.Request
		req, err = http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		if res, err = tc.Client.Do(req); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func contentMD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// putCORS stores doc through the unauthenticated development API.
func putCORS(t *testing.T, tc *caddytest.Tester, bucket, doc string) {
	t.Helper()
	res, body := do(t, tc, http.MethodPut, "/"+bucket+"?cors", []byte(doc), "Content-MD5", contentMD5([]byte(doc)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PutBucketCors: %d %s", res.StatusCode, body)
	}
}

func assertS3Error(t *testing.T, res *http.Response, body string, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", res.StatusCode, status, body)
	}
	if !strings.HasPrefix(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"+code+"</Code>") {
		t.Errorf("body = %q, want an S3 error with code %s", body, code)
	}
	id := res.Header.Get("X-Amz-Request-Id")
	if id == "" || !strings.Contains(body, "<RequestId>"+id+"</RequestId>") {
		t.Errorf("x-amz-request-id %q does not match the body's RequestId: %s", id, body)
	}
	hostID := res.Header.Get("X-Amz-Id-2")
	if hostID == "" || !strings.Contains(body, "<HostId>"+hostID+"</HostId>") {
		t.Errorf("x-amz-id-2 %q does not match the body's HostId: %s", hostID, body)
	}
}

func TestAPIRefusedWithoutCredentials(t *testing.T) {
	tc := startCaddy(t, "region us-east-1")

	for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
		res, body := do(t, tc, method, "/photos?cors", []byte(corsDoc), "Content-MD5", contentMD5([]byte(corsDoc)))
		assertS3Error(t, res, body, http.StatusForbidden, "AccessDenied")
		if res.Header.Get("X-Upstream-Path") != "" {
			t.Errorf("%s ?cors reached the upstream", method)
		}
	}
}

func TestAPILifecycle(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api")

	// Nothing stored yet.
	res, body := do(t, tc, http.MethodGet, "/photos?cors", nil)
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")
	if !strings.Contains(body, "<Message>The CORS configuration does not exist</Message><BucketName>photos</BucketName>") {
		t.Errorf("GetBucketCors body = %s", body)
	}
	// DELETE of nothing is still 204.
	res, _ = do(t, tc, http.MethodDelete, "/photos?cors", nil)
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("DeleteBucketCors without configuration: %d, want 204", res.StatusCode)
	}

	// Every form clients send reaches the API, never the upstream.
	for _, path := range []string{"/photos?cors", "/photos?cors=", "/photos/?cors", "/photos/?cors="} {
		res, body := do(t, tc, http.MethodPut, path, []byte(corsDoc), "Content-MD5", contentMD5([]byte(corsDoc)))
		if res.StatusCode != http.StatusOK || body != "" {
			t.Errorf("PUT %s: %d %q", path, res.StatusCode, body)
		}
		if res.Header.Get("X-Upstream-Path") != "" {
			t.Errorf("PUT %s reached the upstream", path)
		}
		res, body = do(t, tc, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "<AllowedOrigin>https://app.example</AllowedOrigin>") {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/xml" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}

	res, _ = do(t, tc, http.MethodDelete, "/photos/?cors", nil)
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("DeleteBucketCors: %d", res.StatusCode)
	}
	res, body = do(t, tc, http.MethodGet, "/photos?cors", nil)
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")

	// An OPTIONS on the sub-resource is a preflight, as any OPTIONS is.
	res, body = do(t, tc, http.MethodOptions, "/photos?cors", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "PUT")
	assertS3Error(t, res, body, http.StatusForbidden, "AccessForbidden")
	if !strings.Contains(body, "CORS is not enabled for this bucket.") {
		t.Errorf("OPTIONS ?cors: %s", body)
	}

	// Methods other than PUT, GET and DELETE are refused.
	res, body = do(t, tc, http.MethodPost, "/photos?cors", nil)
	assertS3Error(t, res, body, http.StatusMethodNotAllowed, "MethodNotAllowed")
}

func TestAPIBadInputChangesNothing(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api")
	putCORS(t, tc, "photos", corsDoc)
	_, before := do(t, tc, http.MethodGet, "/photos?cors", nil)

	big := strings.Repeat(" ", 64<<10+1)
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		code   string
	}{
		{"malformed XML", "<CORSConfiguration><CORSRule>", nil, 400, "MalformedXML"},
		{"no rules", `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`, nil, 400, "MalformedXML"},
		{"unsupported method", strings.Replace(corsDoc, "<AllowedMethod>PUT</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1), nil, 400, "InvalidRequest"},
		{"body over 64 KB", big, nil, 400, "MaxMessageLengthExceeded"},
		{"no integrity header", corsDoc, []string{"Content-MD5", ""}, 400, "InvalidRequest"},
		{"wrong Content-MD5", corsDoc, []string{"Content-MD5", contentMD5([]byte("other"))}, 400, "BadDigest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			header := c.header
			if header == nil {
				header = []string{"Content-MD5", contentMD5([]byte(c.body))}
			}
			if header[1] == "" {
				header = nil
			}
			res, body := do(t, tc, http.MethodPut, "/photos?cors", []byte(c.body), header...)
			assertS3Error(t, res, body, c.status, c.code)
			_, after := do(t, tc, http.MethodGet, "/photos?cors", nil)
			if after != before {
				t.Errorf("the stored configuration changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	res, body := do(t, tc, http.MethodPut, "/Invalid_Bucket?cors", []byte(corsDoc), "Content-MD5", contentMD5([]byte(corsDoc)))
	assertS3Error(t, res, body, http.StatusBadRequest, "InvalidBucketName")
}

func TestPreflight(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api")
	putCORS(t, tc, "photos", corsDoc)

	// B.4: an allowed preflight.
	res, body := do(t, tc, http.MethodOptions, "/photos/cat.jpg", nil,
		"Origin", "https://app.example",
		"Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "Content-Type,X-Amz-Date")
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT",
		"Access-Control-Allow-Headers":     "content-type, x-amz-date",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Max-Age":           "3000",
		"Vary":                             "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
		"Content-Length":                   "0",
	}
	if res.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("allowed preflight: %d %q", res.StatusCode, body)
	}
	for k, v := range want {
		if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if ct := res.Header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type = %q, want none", ct)
	}
	if res.Header.Get("X-Upstream-Path") != "" {
		t.Error("the preflight reached the upstream")
	}

	cases := []struct {
		name, path string
		header     []string
		status     int
		code, msg  string
		method     string
		resource   string
	}{
		{"B.1 P1 no Origin", "/photos/cat.jpg", []string{"Access-Control-Request-Method", "PUT"}, 400, "BadRequest",
			"Insufficient information. Origin request header needed.", "", ""},
		{"B.1 P3 not enabled", "/videos/clip.mp4", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "PUT"}, 403, "AccessForbidden",
			"CORSResponse: CORS is not enabled for this bucket.", "PUT", "BUCKET"},
		{"B.1 P4 no request method", "/photos/cat.jpg", []string{"Origin", "https://app.example"}, 400, "BadRequest",
			"Invalid Access-Control-Request-Method: null", "", ""},
		{"B.1 P7 wrong origin, object", "/photos/cat.jpg", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, 403, "AccessForbidden",
			"CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", "GET", "OBJECT"},
		{"B.1 P7 wrong method, bucket", "/photos", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "DELETE"}, 403, "AccessForbidden",
			"CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", "DELETE", "BUCKET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := do(t, tc, http.MethodOptions, c.path, nil, c.header...)
			assertS3Error(t, res, body, c.status, c.code)
			if !strings.Contains(body, "<Message>"+c.msg+"</Message>") {
				t.Errorf("body %s does not carry the message %q", body, c.msg)
			}
			if c.method != "" && !strings.Contains(body, "</Message><Method>"+c.method+"</Method><ResourceType>"+c.resource+"</ResourceType><RequestId>") {
				t.Errorf("body %s lacks Method %s and ResourceType %s", body, c.method, c.resource)
			}
			for k := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
					t.Errorf("refused preflight carries %s", k)
				}
			}
			if res.Header.Get("X-Upstream-Path") != "" {
				t.Error("the preflight reached the upstream")
			}
		})
	}
}

func TestProxiedHeaders(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api")
	putCORS(t, tc, "photos", corsDoc)

	// C.2: a match replaces the upstream's CORS headers with S3's and
	// merges Vary.
	res, body := do(t, tc, http.MethodGet, "/photos/cat.jpg?versionId=1", nil, "Origin", "https://app.example")
	if res.StatusCode != http.StatusOK || body != "object body from GET" {
		t.Fatalf("GET: %d %q", res.StatusCode, body)
	}
	if got := res.Header.Get("X-Upstream-Path"); got != "/photos/cat.jpg?versionId=1" {
		t.Errorf("the upstream saw %q", got)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Max-Age":           "3000",
		"Vary":                             "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Accept-Encoding, X-Tenant",
	}
	for k, v := range want {
		if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if v := res.Header.Values("Access-Control-Allow-Headers"); v != nil {
		t.Errorf("Access-Control-Allow-Headers = %q without a request header list", v)
	}

	// C.1 step 7: no match removes the upstream's CORS headers and the
	// CORS names of its Vary, and adds none; its other Vary names stay.
	for _, c := range []struct {
		name   string
		path   string
		header []string
	}{
		{"wrong origin", "/photos/cat.jpg", []string{"Origin", "https://evil.example"}},
		{"method not allowed", "/photos/cat.jpg", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "DELETE"}},
		{"bucket without configuration", "/videos/clip.mp4", []string{"Origin", "https://app.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, _ := do(t, tc, http.MethodGet, c.path, nil, c.header...)
			for k := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s = %q leaked from the upstream", k, res.Header.Values(k))
				}
			}
			if got := res.Header.Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding, X-Tenant" {
				t.Errorf("Vary = %q, want the upstream's names other than CORS ones", got)
			}
		})
	}

	// C.1 step 2: a request that names no bucket, such as ListBuckets,
	// reaches the upstream unchanged and gets no CORS headers.
	res, body = do(t, tc, http.MethodGet, "/", nil, "Origin", "https://app.example")
	if res.StatusCode != http.StatusOK || body != "object body from GET" || res.Header.Get("X-Upstream-Path") != "/" {
		t.Errorf("ListBuckets: %d %q, upstream saw %q", res.StatusCode, body, res.Header.Get("X-Upstream-Path"))
	}
	for k := range res.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("ListBuckets: %s = %q leaked from the upstream", k, res.Header.Values(k))
		}
	}
}

func TestDeleteBucketDropsConfiguration(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api")
	putCORS(t, tc, "doomed", corsDoc)

	res, _ := do(t, tc, http.MethodDelete, "/doomed", nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DeleteBucket: %d", res.StatusCode)
	}
	res, body := do(t, tc, http.MethodGet, "/doomed?cors", nil)
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")
}

func TestConfigurationSurvivesReload(t *testing.T) {
	tc := caddytest.NewTester(t)
	up := upstream(t)
	dir := storageDir(t)
	load(tc, caddyfile(t, up, dir, "insecure_unauthenticated_api"), "caddyfile")
	putCORS(t, tc, "photos", corsDoc)

	// A new config on the same storage keeps the configuration, and so
	// does one that changes the handler's options.
	load(tc, caddyfile(t, up, dir, "insecure_unauthenticated_api\n\t\tregion eu-west-1"), "caddyfile")
	res, body := do(t, tc, http.MethodGet, "/photos?cors", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "https://app.example") {
		t.Fatalf("after reload: %d %s", res.StatusCode, body)
	}
	// The document is in Caddy's storage as a file.
	var found bool
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, "photos") {
			found = true
		}
		return nil
	})
	if !found {
		t.Errorf("no stored file for bucket photos under %s", dir)
	}

	// Another storage does not have it.
	load(tc, caddyfile(t, up, storageDir(t), "insecure_unauthenticated_api"), "caddyfile")
	res, body = do(t, tc, http.MethodGet, "/photos?cors", nil)
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")
}

func TestJSONConfig(t *testing.T) {
	tc := caddytest.NewTester(t)
	up := upstream(t)
	dir := storageDir(t)
	load(tc, fmt.Sprintf(`{
	"admin": {"listen": "localhost:%d"},
	"storage": {"module": "file_system", "root": %q},
	"apps": {
		"s3_cors": {"key_prefix": "cors_json", "sync_interval": "1h"},
		"http": {"http_port": %d, "servers": {"srv0": {
			"listen": [":%d"],
			"routes": [{"handle": [
				{"handler": "s3_cors", "region": "us-east-1", "insecure_unauthenticated_api": true},
				{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
			]}]
		}}}
	}
}`, adminPort, dir, httpPort, httpPort, strings.TrimPrefix(up.URL, "http://")), "json")

	putCORS(t, tc, "photos", corsDoc)
	res, _ := do(t, tc, http.MethodOptions, "/photos/a", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusOK {
		t.Errorf("preflight: %d", res.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "cors_json")); err != nil {
		t.Errorf("key_prefix not used: %v", err)
	}
}

func TestSignedAPIWithSDK(t *testing.T) {
	tc := startCaddy(t, `credentials AKIDEXAMPLE {env.S3CORS_TEST_SECRET}
		credentials SCOPEDKEY scoped-secret {
			buckets uploads
		}`)

	client := func(ak, sk string) *awss3.Client {
		return awss3.New(awss3.Options{
			BaseEndpoint: aws.String(base),
			Region:       "us-east-1",
			Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
			UsePathStyle: true,
			HTTPClient:   tc.Client,
		})
	}
	ctx := context.Background()
	input := &awss3.PutBucketCorsInput{
		Bucket: aws.String("photos"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedMethods: []string{"GET"},
			AllowedOrigins: []string{"https://app.example"},
		}}},
	}

	good := client("AKIDEXAMPLE", os.Getenv("S3CORS_TEST_SECRET"))
	if _, err := good.PutBucketCors(ctx, input); err != nil {
		t.Fatalf("PutBucketCors with the right key: %v", err)
	}
	out, err := good.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("photos")})
	if err != nil || len(out.CORSRules) != 1 || out.CORSRules[0].AllowedOrigins[0] != "https://app.example" {
		t.Fatalf("GetBucketCors: %v %+v", err, out)
	}

	for _, c := range []struct {
		name, ak, sk, bucket, code string
	}{
		{"wrong secret", "AKIDEXAMPLE", "not-the-secret", "photos", "SignatureDoesNotMatch"},
		{"unknown key", "AKIDUNKNOWN", "whatever", "photos", "InvalidAccessKeyId"},
		{"key scoped to another bucket", "SCOPEDKEY", "scoped-secret", "photos", "AccessDenied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := *input
			in.Bucket = aws.String(c.bucket)
			_, err := client(c.ak, c.sk).DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String(c.bucket)})
			if err == nil || !strings.Contains(err.Error(), c.code) {
				t.Errorf("DeleteBucketCors: %v, want %s", err, c.code)
			}
		})
	}
	if _, err := good.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("photos")}); err != nil {
		t.Errorf("the configuration was lost after refused calls: %v", err)
	}
	if _, err := client("SCOPEDKEY", "scoped-secret").PutBucketCors(ctx, &awss3.PutBucketCorsInput{
		Bucket: aws.String("uploads"), CORSConfiguration: input.CORSConfiguration,
	}); err != nil {
		t.Errorf("scoped key on its own bucket: %v", err)
	}
}

func TestAdminAPI(t *testing.T) {
	tc := startCaddy(t, "region us-east-1")

	call := func(method, path, body string) (int, string) {
		t.Helper()
		return adminCall(t, tc, method, "/s3_cors/"+path, body)
	}

	if code, body := call(http.MethodPut, "buckets/photos", "<CORSConfiguration/>"); code != 400 || !strings.Contains(body, "MalformedXML") {
		t.Errorf("PUT of an invalid document: %d %s", code, body)
	}
	if code, body := call(http.MethodPut, "buckets/photos", corsDoc); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	// The S3 API sees what the admin API stored.
	res, body := do(t, tc, http.MethodOptions, "/photos/a.jpg", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "PUT")
	if res.StatusCode != 200 {
		t.Errorf("preflight after an admin PUT: %d %s", res.StatusCode, body)
	}
	if code, body := call(http.MethodGet, "buckets/photos", ""); code != 200 || !strings.Contains(body, "<ID>app</ID>") {
		t.Errorf("GET: %d %s", code, body)
	}
	if code, body := call(http.MethodGet, "buckets", ""); code != 200 || !strings.Contains(body, `"bucket": "photos"`) || !strings.Contains(body, `"updated_by": "admin"`) {
		t.Errorf("list: %d %s", code, body)
	}

	code, body := call(http.MethodPost, "explain", `{"bucket":"photos","key":"a.jpg","origin":"https://app.example","request_method":"PUT","request_headers":["content-type, x-amz-meta-x"]}`)
	if code != 200 {
		t.Fatalf("explain: %d %s", code, body)
	}
	for _, want := range []string{`"outcome": "Allowed"`, `"matched_rule": 0`, `"Access-Control-Allow-Headers": [`, `"content-type, x-amz-meta-x"`} {
		if !strings.Contains(body, want) {
			t.Errorf("explain of an allowed preflight lacks %s: %s", want, body)
		}
	}
	code, body = call(http.MethodPost, "explain", `{"bucket":"photos","origin":"https://evil.example","request_method":"PUT"}`)
	for _, want := range []string{`"outcome": "NotAllowed"`, `"status": 403`, `"reason": "origin"`, `"matched_rule": -1`, `"id": "app"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("explain of a refused preflight lacks %s: %d %s", want, code, body)
		}
	}
	if code, body := call(http.MethodPost, "explain", `{"bucket":"photos","colour":"blue"}`); code != 400 {
		t.Errorf("explain with an unknown field: %d %s", code, body)
	}
	if code, body := call(http.MethodPost, "sync", ""); code != 200 || !strings.Contains(body, `"buckets": 1`) {
		t.Errorf("sync: %d %s", code, body)
	}

	if code, body := call(http.MethodDelete, "buckets/photos", ""); code != 200 {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if code, _ := call(http.MethodDelete, "buckets/photos", ""); code != 404 {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	if code, _ := call(http.MethodGet, "buckets/photos", ""); code != 404 {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	if code, _ := call(http.MethodPut, "buckets/Not_A_Bucket", corsDoc); code != 400 {
		t.Errorf("PUT to an invalid bucket name: %d, want 400", code)
	}
	if code, _ := call(http.MethodPatch, "buckets/photos", ""); code != 405 {
		t.Errorf("PATCH: %d, want 405", code)
	}
}

// With the store down, the configurations still answer, as they are local:
// GetBucketCors and preflights from them. PutBucketCors and
// DeleteBucketCors, which must know that the bucket exists, get a
// retryable 503 and change nothing.
func TestAPIWithTheStoreDown(t *testing.T) {
	tc := caddytest.NewTester(t)
	up := upstream(t) // answers HeadBucket with 200: every bucket exists
	load(tc, caddyfile(t, up, "", fmt.Sprintf(`insecure_unauthenticated_api
		upstream %s {
			credentials UAK usecret
			cache_ttl 1ns
		}`, up.URL)), "caddyfile")
	putCORS(t, tc, "photos", corsDoc)
	_, before := do(t, tc, http.MethodGet, "/photos?cors", nil)
	up.Close()

	res, body := do(t, tc, http.MethodGet, "/photos?cors", nil)
	if res.StatusCode != http.StatusOK || body != before {
		t.Errorf("GetBucketCors with the store down: %d %s", res.StatusCode, body)
	}
	res, body = do(t, tc, http.MethodGet, "/videos?cors", nil)
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")

	other := strings.Replace(corsDoc, "https://app.example", "https://other.example", 1)
	for _, c := range []struct {
		method, doc string
	}{{http.MethodPut, other}, {http.MethodDelete, ""}} {
		res, body := do(t, tc, c.method, "/photos?cors", []byte(c.doc), "Content-MD5", contentMD5([]byte(c.doc)))
		assertS3Error(t, res, body, http.StatusServiceUnavailable, "ServiceUnavailable")
		if !strings.Contains(body, "<Message>Service is unable to handle request.</Message>") {
			t.Errorf("%s with the store down: %s", c.method, body)
		}
		if _, after := do(t, tc, http.MethodGet, "/photos?cors", nil); after != before {
			t.Errorf("a refused %s changed the configuration:\nbefore %s\nafter  %s", c.method, before, after)
		}
	}

	res, _ = do(t, tc, http.MethodOptions, "/photos/cat.jpg", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "PUT")
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight with the store down: %d %v", res.StatusCode, res.Header)
	}
}

// A site that would answer object requests with empty 200s, or refuse
// every ?cors call, says so in the log, with what to add.
func TestConfigurationWarnings(t *testing.T) {
	tc := caddytest.NewTester(t)
	logFile := filepath.Join(storageDir(t), "caddy.log")
	logTo := fmt.Sprintf("log {\n\t\toutput file %s\n\t\tformat json\n\t}", logFile)
	noNext := "s3_cors has no handler after it, so every request it does not answer itself (object reads and writes, bucket listings) gets an empty 200; " +
		"add `reverse_proxy <store address>` after s3_cors in the same site"
	noCredentials := "s3_cors has no credentials, so every PutBucketCors, GetBucketCors and DeleteBucketCors call is refused with 403 AccessDenied; " +
		"add `credentials <access_key> <secret_key>` to the s3_cors block"
	emptyResponse := "the handler after s3_cors wrote no response, so the client got an empty 200; add `reverse_proxy <store address>`"
	logged := func() string {
		t.Helper()
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	load(tc, site(t, "", logTo, "s3_cors"), "caddyfile")
	for _, want := range []string{noNext, noCredentials} {
		if !strings.Contains(logged(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logged())
		}
	}
	for range 2 {
		res, body := do(t, tc, http.MethodGet, "/photos/cat.jpg", nil)
		if res.StatusCode != http.StatusOK || body != "" {
			t.Fatalf("GET without a next handler: %d %q", res.StatusCode, body)
		}
	}
	if n := strings.Count(logged(), emptyResponse); n != 1 {
		t.Errorf("the empty response was logged %d times, want once:\n%s", n, logged())
	}

	// A reverse_proxy whose matcher leaves requests out is caught when one
	// comes.
	up := upstream(t)
	if err := os.Truncate(logFile, 0); err != nil {
		t.Fatal(err)
	}
	load(tc, site(t, "", logTo, "s3_cors {\n\t\tcredentials AK SK\n\t}\n\treverse_proxy /photos/* "+strings.TrimPrefix(up.URL, "http://")), "caddyfile")
	res, body := do(t, tc, http.MethodGet, "/photos/cat.jpg", nil)
	if res.StatusCode != http.StatusOK || body != "object body from GET" {
		t.Fatalf("GET through the proxy: %d %q", res.StatusCode, body)
	}
	for _, unwanted := range []string{noNext, noCredentials, emptyResponse} {
		if strings.Contains(logged(), unwanted) {
			t.Errorf("a working site logged %q:\n%s", unwanted, logged())
		}
	}
	if res, _ := do(t, tc, http.MethodGet, "/videos/clip.mp4", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("GET outside the proxy's matcher: %d", res.StatusCode)
	}
	if !strings.Contains(logged(), emptyResponse) {
		t.Errorf("a request the proxy's matcher left out was not logged:\n%s", logged())
	}
}

// sendWithHeaderOf sends, on a connection of its own, a GET whose request
// line and headers take size bytes, reading the answer while the request is
// still being written, as a browser does. It returns the status line and
// the body, or the error the client got. As in do, a connection that the
// server of the previous config resets is tried again.
func sendWithHeaderOf(t *testing.T, size int) (status, contentType, body string, err error) {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		if status, contentType, body, err = sendOnce(t, size); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return status, contentType, body, err
}

func sendOnce(t *testing.T, size int) (status, contentType, body string, err error) {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := fmt.Sprintf("GET /photos/cat.jpg HTTP/1.1\r\nHost: localhost:%d\r\nX-Pad: ", httpPort)
	const tail = "\r\nConnection: close\r\n\r\n"
	req := head + strings.Repeat("a", size-len(head)-len(tail)) + tail
	go func() { _, _ = io.WriteString(conn, req) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.Status, res.Header.Get("Content-Type"), string(b), err
}

// TestOversizedRequestHeaders records what Caddy 2.11 answers to request
// headers above its limit, which the README's Limits table states: without
// max_header_size the limit is Caddy's 16 KiB (not Go's 1 MB), and Go's
// server reads about 4 KiB more before it refuses. A refused request never
// reaches s3_cors: the client gets Go's plain-text 431.
func TestOversizedRequestHeaders(t *testing.T) {
	tc := caddytest.NewTester(t)
	up := upstream(t)
	const tooLarge = "431 Request Header Fields Too Large"
	check := func(t *testing.T, size int, refused bool) {
		t.Helper()
		status, ctype, body, err := sendWithHeaderOf(t, size)
		switch {
		case err != nil:
			t.Errorf("%d bytes of headers: %v", size, err)
		case refused && (status != tooLarge || ctype != "text/plain; charset=utf-8" || body != tooLarge):
			t.Errorf("%d bytes of headers: %q %q %q, want Go's plain-text 431", size, status, ctype, body)
		case !refused && (status != "200 OK" || body != "object body from GET"):
			t.Errorf("%d bytes of headers: %q %q, want the object through the proxy", size, status, body)
		}
	}

	load(tc, caddyfile(t, up, "", "insecure_unauthenticated_api"), "caddyfile")
	check(t, 16<<10, false)
	check(t, 16<<10+4<<10-512, false)
	check(t, 16<<10+4<<10+512, true)
	check(t, 1<<20+8<<10, true)

	// max_header_size counts in SI units: 32KB is 32,000 bytes.
	load(tc, site(t, "", "servers {\n\t\tmax_header_size 32KB\n\t}",
		"s3_cors {\n\t\tinsecure_unauthenticated_api\n\t}\n\treverse_proxy "+strings.TrimPrefix(up.URL, "http://")), "caddyfile")
	check(t, 32000+4096-512, false)
	check(t, 32000+4096+512, true)
}
