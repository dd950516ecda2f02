package caddymodule_test

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/s3cors/caddy-s3-cors/internal/requestforms"
)

func loadRequestForms(t *testing.T) []requestforms.Form {
	t.Helper()
	forms, err := requestforms.Load("../s3/testdata/request-forms.txt")
	if err != nil {
		t.Fatal(err)
	}
	return forms
}

// rawDo sends one request line as written, over a new connection: Go's
// client would drop a '#' and clean the target. Right after a config load
// the replaced server may still close a connection it accepted; the
// request is sent again on a new one, as do does.
func rawDo(t *testing.T, method, target, host string, header ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n", method, target, host)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var (
			res  *http.Response
			body string
		)
		if res, body, err = rawRoundTrip(method, b.String()); err == nil {
			return res, body
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s %s: %v", method, target, err)
	return nil, ""
}

func rawRoundTrip(method, request string) (*http.Response, string, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		return nil, "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, string(body), err
}

// anyHostCaddyfile serves the test site for every Host, so that virtual
// hosts and unknown hosts reach the handler.
func anyHostCaddyfile(t *testing.T, up *httptest.Server, opts string) string {
	t.Helper()
	cfg := caddyfile(t, up, "", opts)
	site := fmt.Sprintf("http://localhost:%d {", httpPort)
	if !strings.Contains(cfg, site) {
		t.Fatalf("the test config has no site %q", site)
	}
	return strings.Replace(cfg, site, fmt.Sprintf("http://:%d {", httpPort), 1)
}

// TestRequestForms sends every form of the list through Caddy to the
// stand-in upstream: what is answered or refused never reaches it, what is
// forwarded does, and the bucket's configuration changes only through the
// API or a confirmed DeleteBucket.
func TestRequestForms(t *testing.T) {
	tc := caddytest.NewTester(t)
	load(tc, anyHostCaddyfile(t, upstream(t), "insecure_unauthenticated_api\n\t\tvirtual_host_suffix s3.example.com"), "caddyfile")
	putCORS(t, tc, "bucket", corsDoc)
	origin := []string{"Origin", "https://app.example"}

	for _, f := range loadRequestForms(t) {
		t.Run(f.Method+" "+f.Target+" "+f.Host, func(t *testing.T) {
			if !configured(t, tc) {
				putCORS(t, tc, "bucket", corsDoc)
			}
			res, body := rawDo(t, f.Method, f.Target, cmp.Or(f.Host, "127.0.0.1:9000"), origin...)
			reached := res.Header.Get("X-Upstream-Path") != ""
			if res.StatusCode >= 500 {
				t.Errorf("status %d: %s", res.StatusCode, body)
			}
			code, refused := f.Refused()
			switch {
			case refused:
				assertS3Error(t, res, body, statusOf(code), code)
				// Refusals carry the bucket's CORS headers as API answers do.
				wantACAO := ""
				if bucketOf(f) == "bucket" && (f.Method == http.MethodGet || f.Method == http.MethodPut) {
					wantACAO = "https://app.example"
				}
				if got := res.Header.Get("Access-Control-Allow-Origin"); got != wantACAO {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, wantACAO)
				}
			case f.Kind == "CORS" || f.Kind == "Preflight":
				if strings.Contains(body, "object body from") {
					t.Errorf("answered by the upstream: %s", body)
				}
			default:
				if !reached {
					t.Errorf("%s was not forwarded: %d %s", f.Kind, res.StatusCode, body)
				}
			}
			if (refused || f.Kind == "CORS" || f.Kind == "Preflight") && reached {
				t.Errorf("%s reached the upstream as %s", f.Kind, res.Header.Get("X-Upstream-Path"))
			}
			// Only the API (a DELETE, or a PUT with a body, which these lack)
			// and a confirmed DeleteBucket may drop the configuration.
			dropped := !configured(t, tc)
			mayDrop := f.Kind == "DeleteBucket" && bucketOf(f) == "bucket" || f.Kind == "CORS" && f.Method == http.MethodDelete && bucketOf(f) == "bucket"
			if dropped != mayDrop {
				t.Errorf("configuration dropped = %v, want %v", dropped, mayDrop)
			}
		})
	}
}

// bucketOf is the bucket a form names, path-style or virtual-hosted.
func bucketOf(f requestforms.Form) string {
	if b, ok := strings.CutSuffix(strings.Split(f.Host, ":")[0], ".s3.example.com"); ok {
		return strings.ToLower(b)
	}
	b, _, _ := strings.Cut(strings.TrimPrefix(f.Target, "/"), "/")
	b, _, _ = strings.Cut(b, "?")
	return b
}

func statusOf(code string) int {
	if code == "MethodNotAllowed" {
		return http.StatusMethodNotAllowed
	}
	return http.StatusBadRequest
}

// configured reports whether bucket "bucket" has a configuration.
func configured(t *testing.T, tc *caddytest.Tester) bool {
	t.Helper()
	res, _ := do(t, tc, http.MethodGet, "/bucket?cors", nil)
	return res.StatusCode == http.StatusOK
}

// bucketStore is a stand-in store that executes a DELETE at a bucket root
// as DeleteBucket unless its query names one of the sub-resources it
// implements, as gofakes3 does (it implements none), a PUT at a bucket root
// as CreateBucket, and answers HeadBucket from what it holds.
type bucketStore struct {
	mu           sync.Mutex
	buckets      map[string]bool
	subresources []string
}

func newBucketStore(t *testing.T, subresources ...string) *httptest.Server {
	t.Helper()
	s := &bucketStore{buckets: make(map[string]bool), subresources: subresources}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case key == "" && r.Method == http.MethodPut:
			s.buckets[bucket] = true
			w.WriteHeader(http.StatusOK)
		case !s.buckets[bucket]:
			w.WriteHeader(http.StatusNotFound)
		case key == "" && r.Method == http.MethodDelete:
			for _, sub := range s.subresources {
				if r.URL.Query().Has(sub) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			delete(s.buckets, bucket)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDeleteBucketForms: every form S3 or the store executes as DeleteBucket
// drops the configuration once the upstream confirms it, so that a new
// bucket of the name has none. A DELETE that S3 runs as another operation
// drops it only when the upstream, asked, no longer has the bucket.
func TestDeleteBucketForms(t *testing.T) {
	up := newBucketStore(t, "policy")
	tc := caddytest.NewTester(t)
	load(tc, caddyfile(t, up, "", "insecure_unauthenticated_api\n\t\tupstream "+up.URL+" {\n\t\t\tcache_ttl 1h\n\t\t}"), "caddyfile")

	createBucket := func(t *testing.T, bucket string) {
		t.Helper()
		if res, body := rawDo(t, http.MethodPut, "/"+bucket, "localhost"); res.StatusCode != http.StatusOK {
			t.Fatalf("CreateBucket: %d %s", res.StatusCode, body)
		}
	}
	for _, target := range []string{
		"/doomed", "/doomed/", "/doomed?x-id=DeleteBucket", "/doomed?CORS", "/doomed?unknown=1",
		"/doomed?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
		// S3 runs these as other operations; this store deletes the bucket.
		"/doomed?tagging", "/doomed?x;tagging", "/doomed?versionId=1",
	} {
		t.Run(target, func(t *testing.T) {
			createBucket(t, "doomed")
			// The API call caches "the bucket exists"; the deletion must
			// not be hidden by it.
			putCORS(t, tc, "doomed", corsDoc)
			if res, body := rawDo(t, http.MethodDelete, target, "localhost"); res.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %s", target, res.StatusCode, body)
			}
			res, body := do(t, tc, http.MethodGet, "/doomed?cors", nil)
			assertS3Error(t, res, body, http.StatusNotFound, "NoSuchBucket")
			createBucket(t, "doomed")
			res, body = do(t, tc, http.MethodGet, "/doomed?cors", nil)
			assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")
		})
	}

	// The store runs DeleteBucketPolicy and keeps the bucket: so does the
	// configuration.
	t.Run("kept when the bucket stays", func(t *testing.T) {
		createBucket(t, "kept")
		putCORS(t, tc, "kept", corsDoc)
		if res, _ := rawDo(t, http.MethodDelete, "/kept?policy", "localhost"); res.StatusCode != http.StatusNoContent {
			t.Fatalf("DeleteBucketPolicy: %d", res.StatusCode)
		}
		if res, body := do(t, tc, http.MethodGet, "/kept?cors", nil); res.StatusCode != http.StatusOK {
			t.Errorf("configuration lost after DeleteBucketPolicy: %d %s", res.StatusCode, body)
		}
	})
}

// TestMayDeleteBucketWithoutUpstream: with no upstream to ask, a DELETE that
// S3 runs as DeleteBucketTagging keeps the configuration, as S3 does, even
// where the store deleted the bucket.
func TestMayDeleteBucketWithoutUpstream(t *testing.T) {
	up := newBucketStore(t)
	tc := caddytest.NewTester(t)
	load(tc, caddyfile(t, up, "", "insecure_unauthenticated_api"), "caddyfile")
	if res, _ := rawDo(t, http.MethodPut, "/doomed", "localhost"); res.StatusCode != http.StatusOK {
		t.Fatalf("CreateBucket: %d", res.StatusCode)
	}
	putCORS(t, tc, "doomed", corsDoc)
	if res, _ := rawDo(t, http.MethodDelete, "/doomed?tagging", "localhost"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE ?tagging: %d", res.StatusCode)
	}
	if res, body := do(t, tc, http.MethodGet, "/doomed?cors", nil); res.StatusCode != http.StatusOK {
		t.Errorf("configuration dropped without confirmation: %d %s", res.StatusCode, body)
	}
}
