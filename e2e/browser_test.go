package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestBrowser drives headless Chromium against the proxy in front of each
// store, from pages served on other loopback origins, so that every request
// is really cross-origin and the browser itself enforces what the proxy
// answers. Each case sends the same requests from an origin the bucket's
// rules allow and from one they do not: the first must succeed with exactly
// the headers the rules expose, the second must fail in the page with a
// TypeError, and a preflighted request that fails must never reach the store.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	pages := startPageServer(t)
	otherPort := startPageServer(t)
	for _, kind := range proxiedStores {
		t.Run(kind, func(t *testing.T) {
			bt := &browserTest{b: b, pages: pages, otherPort: otherPort, s: newStack(t, kind)}
			t.Run("read", bt.testRead)
			t.Run("public_read", bt.testPublicRead)
			t.Run("custom_headers", bt.testCustomHeaders)
			t.Run("presigned_put", bt.testPresignedPut)
			t.Run("multipart", bt.testMultipart)
			t.Run("wildcard_origin", bt.testWildcardOrigin)
			t.Run("wildcard_header", bt.testWildcardHeader)
			t.Run("config_change", bt.testConfigChange)
			bt.s.tap.assertNothingCORSForwarded(t)
		})
	}
}

// browserTest is one store's stack with the browser and the page servers.
type browserTest struct {
	b         *browser
	pages     *pageServer
	otherPort *pageServer
	s         *stack
}

// The page origins of the cases: the rules allow allowedHost's, and
// deniedHost's is the same server under another name, so another origin.
const (
	allowedHost = "127.0.0.1"
	deniedHost  = "localhost"
)

// testRead fetches an object on a presigned GET URL (a simple request: no
// preflight) and reads its body and the headers the rule exposes, and only
// those.
func (bt *browserTest) testRead(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-read")
	body := "hello from the bucket"
	etag := bt.putHello(t, bucket, body)
	s.s3.putCORS(t, bucket, []corsRule{{
		AllowedMethods: []string{"GET", "HEAD"},
		AllowedOrigins: []string{bt.pages.origin(allowedHost)},
		ExposeHeaders:  []string{"ETag", "x-amz-meta-color"},
	}})
	u := s.s3.presignGet(t, bucket, "hello.txt")

	tb := bt.b.open(t, bt.pages.origin(allowedHost))
	for _, init := range []map[string]any{{}, {"credentials": "include"}} {
		r := tb.request(t, u, init)
		// The echoed origin comes with Access-Control-Allow-Credentials:
		// true, so a request with credentials may read the answer too.
		what := fmt.Sprintf("GET with %v from the allowed origin", init)
		r.assertStatus(t, tb, what, http.StatusOK)
		if r.Body != body {
			t.Errorf("%s: the page read the body %q, want %q", what, r.Body, body)
		}
		r.assertExposed(t, tb, what, map[string]string{"etag": etag, "x-amz-meta-color": "blue"})
	}

	tb = bt.b.open(t, bt.pages.origin(deniedHost))
	tb.request(t, u, nil).assertBlocked(t, tb, "GET from an origin the rules do not allow")
}

// putHello creates bucket with the object hello.txt holding body, a
// text/plain with the metadata color=blue, and returns its ETag.
func (bt *browserTest) putHello(t *testing.T, bucket, body string) string {
	t.Helper()
	bt.s.s3.createBucket(t, bucket)
	if _, err := bt.s.s3.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("hello.txt"), Body: strings.NewReader(body),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"color": "blue"},
	}); err != nil {
		t.Fatal(err)
	}
	return bt.etag(t, bucket, "hello.txt")
}

// testPublicRead reads from a bucket whose rule allows every origin: the
// proxy answers "*" without credentials, which a browser accepts for a
// plain request and refuses for one that sends credentials.
func (bt *browserTest) testPublicRead(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-public")
	s.s3.createBucket(t, bucket)
	s.s3.putObject(t, bucket, "asset.css", []byte("body{}"))
	s.s3.putCORS(t, bucket, publicRules)
	u := s.s3.presignGet(t, bucket, "asset.css")

	tb := bt.b.open(t, bt.pages.origin(deniedHost))
	r := tb.request(t, u, nil)
	r.assertStatus(t, tb, "GET from any origin on a * rule", http.StatusOK)
	r.assertExposed(t, tb, "GET on a * rule that exposes nothing", nil)
	tb.request(t, u, map[string]any{"credentials": "include"}).
		assertBlocked(t, tb, "GET with credentials on a * rule (Access-Control-Allow-Origin: * allows no credentials)")
}

// testCustomHeaders uploads with headers a browser must ask about first:
// Content-Type application/json and x-amz-meta-foo, both signed into the
// presigned URL.
func (bt *browserTest) testCustomHeaders(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-headers")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, []corsRule{{
		// Mixed case on purpose: header names match case-insensitively.
		AllowedHeaders: []string{"Content-Type", "X-Amz-Meta-Foo"},
		AllowedMethods: []string{"PUT"},
		AllowedOrigins: []string{bt.pages.origin(allowedHost)},
		ExposeHeaders:  []string{"ETag"},
	}})
	bt.uploadWithCustomHeaders(t, bucket, "the rules")
}

// uploadWithCustomHeaders has a page of each origin upload a JSON object
// with Content-Type application/json and x-amz-meta-foo, both signed into
// the presigned URL, so that the browser must ask first: from allowedHost
// the upload succeeds after one preflight and the page reads the ETag; from
// deniedHost it is blocked and never reaches the store. decider names what
// decides, for the messages.
func (bt *browserTest) uploadWithCustomHeaders(t *testing.T, bucket, decider string) {
	t.Helper()
	s := bt.s
	content := `{"hello":"world"}`
	headers := map[string]string{"Content-Type": "application/json", "x-amz-meta-foo": "bar"}
	for _, host := range []string{allowedHost, deniedHost} {
		key := "from-" + host + ".json"
		u := bt.presignPut(t, bucket, key, "application/json", map[string]string{"foo": "bar"})
		tb := bt.b.open(t, bt.pages.origin(host))
		r := tb.request(t, u, map[string]any{"method": "PUT", "headers": headers, "body": content})
		if host == deniedHost {
			r.assertBlocked(t, tb, "PUT with custom headers from an origin "+decider+" do not allow")
			bt.assertNeverReached(t, http.MethodPut, bucket, key)
			continue
		}
		what := "PUT with Content-Type and x-amz-meta-foo from the origin " + decider + " allow"
		r.assertStatus(t, tb, what, http.StatusOK)
		r.assertExposed(t, tb, what, map[string]string{"etag": `"` + md5Hex([]byte(content)) + `"`})
		if n := tb.preflights(s.proxy.URL, 1); n != 1 {
			t.Errorf("%s: the browser sent %d preflights, want 1\n%s", what, n, tb.seen())
		}
		head := bt.head(t, bucket, key)
		if ct := aws.ToString(head.ContentType); ct != "application/json" || head.Metadata["foo"] != "bar" {
			t.Errorf("%s: stored Content-Type %q and metadata %v, want application/json and foo=bar", what, ct, head.Metadata)
		}
		if got := string(s.s3.getObject(t, bucket, key)); got != content {
			t.Errorf("%s: stored %q, want %q", what, got, content)
		}
	}
}

// testPresignedPut uploads on a presigned PUT URL with no header of its own:
// the method alone needs a preflight, and a rule without AllowedHeader
// allows it. Without an ExposeHeader the page reads no ETag: S3 adds none
// on its own.
func (bt *browserTest) testPresignedPut(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-put")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, []corsRule{{
		AllowedMethods: []string{"PUT"},
		AllowedOrigins: []string{bt.pages.origin(allowedHost)},
	}})
	for _, host := range []string{allowedHost, deniedHost} {
		key := "upload-from-" + host + ".txt"
		content := "uploaded by the page at " + bt.pages.origin(host)
		u := s.s3.presignPut(t, bucket, key)
		tb := bt.b.open(t, bt.pages.origin(host))
		r := tb.request(t, u, map[string]any{"method": "PUT", "body": content})
		if host == deniedHost {
			r.assertBlocked(t, tb, "presigned PUT from an origin the rules do not allow")
			bt.assertNeverReached(t, http.MethodPut, bucket, key)
			continue
		}
		what := "presigned PUT from the allowed origin"
		r.assertStatus(t, tb, what, http.StatusOK)
		r.assertExposed(t, tb, what, nil)
		if got := string(s.s3.getObject(t, bucket, key)); got != content {
			t.Errorf("%s: stored %q, want %q", what, got, content)
		}
	}
}

// multipartSteps is what s3probe.multipart reports.
type multipartSteps struct {
	Create   *pageResult  `json:"create"`
	UploadID string       `json:"uploadId"`
	Parts    []pageResult `json:"parts"`
	Complete *pageResult  `json:"complete"`
	Problem  string       `json:"problem"`
}

func (m multipartSteps) String() string {
	b, _ := json.MarshalIndent(m, "", "  ")
	return string(b)
}

// testMultipart has the page upload an object in two parts on presigned URLs
// its own server signs: it must read each part's ETag, which only the
// rule's ExposeHeader makes readable, to complete the upload.
func (bt *browserTest) testMultipart(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-multipart")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, []corsRule{{
		AllowedMethods: []string{"GET", "PUT", "POST"},
		AllowedOrigins: []string{bt.pages.origin(allowedHost)},
		ExposeHeaders:  []string{"ETag"},
	}})
	// Every part but the last must be at least 5 MiB.
	rng := rand.New(rand.NewPCG(1, 2))
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 1000)}
	var partURLs []string
	for i, p := range parts {
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		partURLs = append(partURLs, bt.pages.serveBytes(fmt.Sprintf("/%s/part-%d", bucket, i+1), p))
	}

	t.Run("allowed", func(t *testing.T) {
		key := "big/from-allowed.bin"
		tb := bt.b.open(t, bt.pages.origin(allowedHost))
		var steps multipartSteps
		tb.call(t, &steps, "s3probe.multipart", bt.signer(bucket, key), partURLs)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("multipart upload from the allowed origin: "+format+"\nthe page saw: %s\n%s", append(args, steps, tb.seen())...)
		}
		if steps.Create == nil || steps.Create.Status != http.StatusOK || steps.UploadID == "" {
			fail("CreateMultipartUpload did not give the page an UploadId")
		}
		if steps.Problem != "" || len(steps.Parts) != len(parts) {
			fail("the page did not upload every part")
		}
		for i, p := range steps.Parts {
			if want := `"` + md5Hex(parts[i]) + `"`; p.Status != http.StatusOK || p.Headers["etag"] != want {
				fail("part %d: want 200 and a readable ETag %s", i+1, want)
			}
		}
		if steps.Complete == nil || steps.Complete.Status != http.StatusOK || !strings.Contains(steps.Complete.Body, "<ETag>") {
			fail("CompleteMultipartUpload did not answer 200 with the object's ETag")
		}
		if got := s.s3.getObject(t, bucket, key); !bytes.Equal(got, bytes.Join(parts, nil)) {
			t.Errorf("the object the page uploaded has %d bytes that differ from the %d it sent", len(got), len(parts[0])+len(parts[1]))
		}
		var completed struct{ ETag string }
		if err := xml.Unmarshal([]byte(steps.Complete.Body), &completed); err != nil {
			fail("CompleteMultipartUpload's answer is not XML: %v", err)
		}
		if etag := bt.etag(t, bucket, key); completed.ETag != etag {
			t.Errorf("the store's ETag %s is not the one CompleteMultipartUpload gave the page (%s)", etag, completed.ETag)
		}
	})

	t.Run("denied", func(t *testing.T) {
		key := "big/from-denied.bin"
		tb := bt.b.open(t, bt.pages.origin(deniedHost))
		var steps multipartSteps
		tb.call(t, &steps, "s3probe.multipart", bt.signer(bucket, key), partURLs)
		// CreateMultipartUpload is a simple request: it reaches the store,
		// but the page cannot read the answer.
		if steps.Create == nil {
			t.Fatalf("the page did not try CreateMultipartUpload: %s\n%s", steps, tb.seen())
		}
		steps.Create.assertBlocked(t, tb, "CreateMultipartUpload from an origin the rules do not allow")
		if len(steps.Parts) != 0 {
			t.Errorf("the page uploaded parts without an UploadId: %s", steps)
		}

		// An UploadPart is preflighted: with an upload the test starts
		// itself, the part must fail in the page and never reach the store.
		up, err := s.s3.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = s.s3.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			})
		})
		u, err := presignURL(t.Context(), http.MethodPut, bt.objectURL(bucket, key, url.Values{
			"partNumber": {"1"}, "uploadId": {aws.ToString(up.UploadId)},
		}))
		if err != nil {
			t.Fatal(err)
		}
		tb.request(t, u, map[string]any{"method": "PUT", "bodyFrom": partURLs[1]}).
			assertBlocked(t, tb, "UploadPart from an origin the rules do not allow")
		bt.assertNeverReached(t, http.MethodPut, bucket, key)
		listed, err := s.s3.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed.Parts) != 0 {
			t.Errorf("the store holds %d parts of an upload whose UploadPart was refused", len(listed.Parts))
		}
	})
}

// testWildcardOrigin checks S3's one-* origin patterns in a browser, from
// pages on subdomains of localhost (Chromium resolves every *.localhost name
// to loopback). The * stands for any characters, dots included, so
// http://*.localhost:P also matches http://other.example.localhost:P; it
// does not match http://localhost:P (no dot before localhost), another
// port, or 127.0.0.1.
func (bt *browserTest) testWildcardOrigin(t *testing.T) {
	s := bt.s
	port := bt.pages.port
	cases := []struct {
		name    string
		pattern string
		allowed []string
		denied  []string
	}{
		{
			name:    "any_subdomain",
			pattern: "http://*.localhost:" + port,
			allowed: []string{bt.pages.origin("app.localhost"), bt.pages.origin("other.example.localhost")},
			denied:  []string{bt.pages.origin("localhost"), bt.pages.origin(allowedHost), bt.otherPort.origin("app.localhost")},
		},
		{
			name:    "below_example",
			pattern: "http://*.example.localhost:" + port,
			allowed: []string{bt.pages.origin("other.example.localhost")},
			denied:  []string{bt.pages.origin("app.localhost"), bt.pages.origin("example.localhost")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bucket := bucketName(t, "br-wild-origin")
			s.s3.createBucket(t, bucket)
			s.s3.putCORS(t, bucket, []corsRule{{AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{c.pattern}}})
			for i, origin := range append(c.allowed, c.denied...) {
				key := "page-" + strconv.Itoa(i) + ".txt"
				tb := bt.b.open(t, origin)
				r := tb.request(t, s.s3.presignPut(t, bucket, key), map[string]any{"method": "PUT", "body": origin})
				what := fmt.Sprintf("PUT from %s on the rule %s", origin, c.pattern)
				if i >= len(c.allowed) {
					r.assertBlocked(t, tb, what)
					bt.assertNeverReached(t, http.MethodPut, bucket, key)
					continue
				}
				r.assertStatus(t, tb, what, http.StatusOK)
				if got := string(s.s3.getObject(t, bucket, key)); got != origin {
					t.Errorf("%s: stored %q", what, got)
				}
			}
		})
	}
}

// testWildcardHeader checks an AllowedHeader pattern: x-amz-meta-* allows
// any metadata header, and nothing else, not even a Content-Type that a
// browser must ask about (S3 has no safelist exemption).
func (bt *browserTest) testWildcardHeader(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-wild-header")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, []corsRule{{
		AllowedHeaders: []string{"x-amz-meta-*"},
		AllowedMethods: []string{"PUT"},
		AllowedOrigins: []string{bt.pages.origin(allowedHost)},
	}})
	tb := bt.b.open(t, bt.pages.origin(allowedHost))
	cases := []struct {
		name        string
		contentType string
		metadata    map[string]string
		headers     map[string]string
		allowed     bool
	}{
		{
			name:     "any x-amz-meta-",
			metadata: map[string]string{"anything": "1", "other-thing": "2"},
			headers:  map[string]string{"x-amz-meta-anything": "1", "X-Amz-Meta-Other-Thing": "2"},
			allowed:  true,
		},
		{name: "x-custom", headers: map[string]string{"x-custom": "1"}},
		{
			name:        "x-amz-meta- with Content-Type application/json",
			contentType: "application/json",
			metadata:    map[string]string{"anything": "1"},
			headers:     map[string]string{"x-amz-meta-anything": "1", "Content-Type": "application/json"},
		},
	}
	for i, c := range cases {
		key := "header-case-" + strconv.Itoa(i)
		u := bt.presignPut(t, bucket, key, c.contentType, c.metadata)
		r := tb.request(t, u, map[string]any{"method": "PUT", "headers": c.headers, "body": c.name})
		what := fmt.Sprintf("PUT with %v on a rule allowing x-amz-meta-*", c.headers)
		if !c.allowed {
			r.assertBlocked(t, tb, what)
			bt.assertNeverReached(t, http.MethodPut, bucket, key)
			continue
		}
		r.assertStatus(t, tb, what, http.StatusOK)
		if head := bt.head(t, bucket, key); head.Metadata["anything"] != "1" || head.Metadata["other-thing"] != "2" {
			t.Errorf("%s: stored metadata %v", what, head.Metadata)
		}
	}
}

// testConfigChange changes the bucket's rules between uploads from one
// page: each PutBucketCors or DeleteBucketCors decides the very next
// preflight, with no restart.
//
// Chromium caches a successful preflight per origin and URL for
// Access-Control-Max-Age seconds (5 s when the header is absent, at most
// 2 h): an answer cached before a change would let the next upload through
// without asking the proxy, and the test would check the cache instead of
// the proxy. So each step uploads to a URL of its own, which no cached
// answer covers, and the test counts the preflights the browser sent. (Rules
// with MaxAgeSeconds 0 would also do, but whether S3 sends
// Access-Control-Max-Age: 0 is an open point of the spec.)
func (bt *browserTest) testConfigChange(t *testing.T) {
	s := bt.s
	bucket := bucketName(t, "br-change")
	s.s3.createBucket(t, bucket)
	origin := bt.pages.origin(allowedHost)
	tb := bt.b.open(t, origin)

	steps := []struct {
		name    string
		rules   []corsRule // nil: DeleteBucketCors
		allowed bool
		exposed []string // the names the page can read besides the safelisted
	}{
		{
			// The long MaxAgeSeconds lets Chromium cache this answer: it
			// must not decide the next step's upload.
			name:    "a rule for this origin",
			rules:   []corsRule{{AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{origin}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: maxAge(600)}},
			allowed: true,
			exposed: []string{"etag"},
		},
		{
			name:  "a rule for another origin only",
			rules: []corsRule{{AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{bt.pages.origin(deniedHost)}}},
		},
		{
			name: "this origin again, exposing more",
			rules: []corsRule{{
				AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{origin},
				ExposeHeaders: []string{"ETag", "x-amz-request-id"},
			}},
			allowed: true,
			exposed: []string{"etag", "x-amz-request-id"},
		},
		{name: "no configuration"},
	}
	for i, step := range steps {
		if step.rules != nil {
			s.s3.putCORS(t, bucket, step.rules)
		} else {
			s.s3.deleteCORS(t, bucket)
		}
		key := "step-" + strconv.Itoa(i) + ".txt"
		content := "step " + strconv.Itoa(i)
		r := tb.request(t, s.s3.presignPut(t, bucket, key), map[string]any{"method": "PUT", "body": content})
		what := fmt.Sprintf("PUT after PutBucketCors with %s", step.name)
		if step.rules == nil {
			what = "PUT after DeleteBucketCors"
		}
		if n := tb.preflights(s.proxy.URL, i+1); n != i+1 {
			t.Errorf("%s: the browser has sent %d preflights in all, want %d: one upload went without asking the proxy\n%s", what, n, i+1, tb.seen())
		}
		if !step.allowed {
			r.assertBlocked(t, tb, what)
			bt.assertNeverReached(t, http.MethodPut, bucket, key)
			continue
		}
		r.assertStatus(t, tb, what, http.StatusOK)
		// The values change with every upload: which names the page can
		// read is what the rule decides.
		want := map[string]string{}
		for _, name := range step.exposed {
			if want[name] = r.Headers[name]; want[name] == "" {
				t.Errorf("%s: the page could not read %s\n%s", what, name, tb.seen())
			}
		}
		r.assertExposed(t, tb, what, want)
		if got := string(s.s3.getObject(t, bucket, key)); got != content {
			t.Errorf("%s: stored %q, want %q", what, got, content)
		}
	}
}

// pageResult is one request as the page's script saw it (s3probe.request).
type pageResult struct {
	Status  int               `json:"status"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Error   string            `json:"error"`
}

func (r pageResult) String() string {
	if len(r.Body) > 2048 {
		r.Body = r.Body[:2048] + "…"
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// request runs s3probe.request(url, init) in the page.
func (tb *tab) request(t *testing.T, u string, init map[string]any) pageResult {
	t.Helper()
	if init == nil {
		init = map[string]any{}
	}
	var r pageResult
	tb.call(t, &r, "s3probe.request", u, init)
	return r
}

func (r pageResult) assertStatus(t *testing.T, tb *tab, what string, status int) {
	t.Helper()
	if r.Error != "" || r.Status != status {
		t.Errorf("%s: want the page to get %d, it saw %s\n%s", what, status, r, tb.seen())
	}
}

// assertBlocked checks that fetch rejected with a TypeError, which is how a
// browser reports a response its CORS checks refused.
func (r pageResult) assertBlocked(t *testing.T, tb *tab, what string) {
	t.Helper()
	if !strings.HasPrefix(r.Error, "TypeError") {
		t.Errorf("%s: want the browser to block it (fetch rejects with TypeError), the page saw %s\n%s", what, r, tb.seen())
	}
}

// safelistedHeaders are the response headers a script may always read.
var safelistedHeaders = map[string]bool{
	"cache-control": true, "content-language": true, "content-length": true,
	"content-type": true, "expires": true, "last-modified": true, "pragma": true,
}

// assertExposed checks the headers beyond the safelisted ones that the
// script could read: exactly the names of want, with want's values.
func (r pageResult) assertExposed(t *testing.T, tb *tab, what string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range r.Headers {
		if !safelistedHeaders[k] {
			got[k] = v
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: the page could read the headers %v besides the safelisted ones, want exactly %v\n%s", what, got, want, tb.seen())
		return
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v != w {
			t.Errorf("%s: the page read %s as %q (readable: %t), want %q\n%s", what, k, v, ok, w, tb.seen())
		}
	}
}

// objectURL is the path-style URL of a key on the proxy.
func (bt *browserTest) objectURL(bucket, key string, query url.Values) string {
	u := bt.s.proxy.URL + "/" + bucket + "/" + key
	if query != nil {
		u += "?" + query.Encode()
	}
	return u
}

// presignPut presigns a PutObject whose Content-Type (unless empty) and
// metadata are signed: the browser must send exactly these headers.
func (bt *browserTest) presignPut(t *testing.T, bucket, key, contentType string, metadata map[string]string) string {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Metadata: metadata}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	req, err := bt.s.s3.presign().PresignPutObject(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL
}

// signer registers the page server's signing endpoint for one object's
// multipart upload and returns its path. It presigns, for the page, what a
// web app's backend would: CreateMultipartUpload (op=create), UploadPart
// (op=part) and CompleteMultipartUpload (op=complete).
func (bt *browserTest) signer(bucket, key string) string {
	path := "/sign/" + bucket + "/" + key
	bt.pages.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var method string
		query := url.Values{}
		switch q.Get("op") {
		case "create":
			method, query = http.MethodPost, url.Values{"uploads": {""}}
		case "part":
			method, query = http.MethodPut, url.Values{"partNumber": {q.Get("partNumber")}, "uploadId": {q.Get("uploadId")}}
		case "complete":
			method, query = http.MethodPost, url.Values{"uploadId": {q.Get("uploadId")}}
		default:
			http.Error(w, "op must be create, part or complete", http.StatusBadRequest)
			return
		}
		u, err := presignURL(r.Context(), method, bt.objectURL(bucket, key, query))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(u))
	})
	return path
}

// presignURL presigns any S3 request with the root key for five minutes,
// with an unsigned payload, as the SDK's presign client does for the
// operations it knows. It reports errors instead of failing a test, so that
// the page server may call it.
func presignURL(ctx context.Context, method, rawURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return "", err
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "300")
	// S3 signs "uploads" as "uploads=": Encode writes it that way too.
	req.URL.RawQuery = q.Encode()
	u, _, err := s3Signer().PresignHTTP(ctx, rootCreds, req, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	return u, err
}

func (bt *browserTest) head(t *testing.T, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := bt.s.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject %s/%s: %v", bucket, key, err)
	}
	return out
}

func (bt *browserTest) etag(t *testing.T, bucket, key string) string {
	t.Helper()
	return aws.ToString(bt.head(t, bucket, key).ETag)
}

// forwarded counts the requests with method on bucket/key (any query) that
// reached the store.
func (bt *browserTest) forwarded(method, bucket, key string) int {
	n := 0
	for _, r := range bt.s.tap.requests() {
		m, uri, _ := strings.Cut(r, " ")
		path, _, _ := strings.Cut(uri, "?")
		if m == method && path == "/"+bucket+"/"+key {
			n++
		}
	}
	return n
}

// assertNeverReached checks that the store never saw the request: a
// preflight the proxy refused must stop it in the browser.
func (bt *browserTest) assertNeverReached(t *testing.T, method, bucket, key string) {
	t.Helper()
	if n := bt.forwarded(method, bucket, key); n != 0 {
		t.Errorf("the store received %s /%s/%s %d times although its preflight must have been refused; the tap saw:\n%s",
			method, bucket, key, n, strings.Join(bt.s.tap.requests(), "\n"))
	}
}

// pageServer serves the test page and the bytes and signing endpoints the
// cases register. It answers on 127.0.0.1 under any host name, so each name
// (127.0.0.1, localhost, app.localhost, …) is an origin of its own.
type pageServer struct {
	port string
	mux  *http.ServeMux
}

func startPageServer(t *testing.T) *pageServer {
	t.Helper()
	dir := filepath.Join("testdata", "browser")
	ps := &pageServer{mux: http.NewServeMux()}
	ps.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "page.html"))
	})
	ps.mux.HandleFunc("GET /probe.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "probe.js"))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ps.mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	ps.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	return ps
}

// origin is the page's origin under host.
func (ps *pageServer) origin(host string) string { return "http://" + host + ":" + ps.port }

// serveBytes serves b at path, for the page to upload; it returns path.
func (ps *pageServer) serveBytes(path string, b []byte) string {
	ps.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	})
	return path
}
