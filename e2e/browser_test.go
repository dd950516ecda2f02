package e2e

import (
	"context"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestBrowser loads a page in headless Chromium that fetches an object and
// uploads one (a preflighted PUT) on presigned URLs through the proxy. From
// the allowed origin both work and the exposed ETag is readable; from another
// origin the browser blocks both, although MinIO on its own would allow any
// origin.
func TestBrowser(t *testing.T) {
	for _, kind := range proxiedStores {
		t.Run(kind, func(t *testing.T) {
			requireTool(t, "chromium", "--version")
			testBrowser(t, newStack(t, kind))
		})
	}
}

func testBrowser(t *testing.T, s *stack) {
	page := template.Must(template.ParseFiles(filepath.Join("testdata", "cors_page.html")))
	allowed := startPageServer(t, page)
	denied := startPageServer(t, page)

	bucket := bucketName(t, "browser")
	s.s3.createBucket(t, bucket)
	s.s3.putObject(t, bucket, "hello.txt", []byte("hello from the bucket"))
	s.s3.putCORS(t, bucket, []corsRule{{
		AllowedHeaders: []string{"content-type"},
		AllowedMethods: []string{"GET", "PUT"},
		AllowedOrigins: []string{allowed.origin},
		ExposeHeaders:  []string{"ETag"},
	}})

	for _, pg := range []*pageServer{allowed, denied} {
		key := "from-" + strings.TrimPrefix(pg.origin, "http://127.0.0.1:") + ".json"
		pg.set(map[string]string{"get": s.s3.presignGet(t, bucket, "hello.txt"), "put": s.s3.presignPut(t, bucket, key)})
		lines := runChromium(t, pg.origin+"/")
		t.Logf("page from %s: %q", pg.origin, lines)
		_, headErr := s.direct.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})

		if pg == allowed {
			if len(lines) != 2 || !regexp.MustCompile(`^GET 200 hello from the bucket etag="[^"]+"$`).MatchString(lines[0]) || lines[1] != "PUT 200" {
				t.Errorf("from the allowed origin: want the GET (with a readable ETag) and the PUT to succeed, got %q", lines)
			}
			if got := string(s.s3.getObject(t, bucket, key)); got != `{"from":"`+pg.origin+`"}` {
				t.Errorf("the browser's upload stored %q", got)
			}
			continue
		}
		if len(lines) != 2 || lines[0] != "GET failed TypeError" || lines[1] != "PUT failed TypeError" {
			t.Errorf("from an origin the rules do not allow: want the browser to block both requests, got %q", lines)
		}
		if headErr == nil {
			t.Errorf("the PUT from %s reached the store although its preflight must have been refused", pg.origin)
		}
	}
	s.tap.assertNothingCORSForwarded(t)
}

// pageServer serves the test page from its own origin.
type pageServer struct {
	origin string
	mu     sync.Mutex
	urls   map[string]string
}

func startPageServer(t *testing.T, page *template.Template) *pageServer {
	t.Helper()
	ps := &pageServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		ps.mu.Lock()
		urls := ps.urls
		ps.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, urls); err != nil {
			t.Errorf("rendering the page: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	ps.origin = srv.URL
	return ps
}

func (ps *pageServer) set(urls map[string]string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.urls = urls
}

var resultPre = regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`)

// runChromium loads the page headless and returns the lines the page wrote
// into its result element.
func runChromium(t *testing.T, pageURL string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium",
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		// Without these Chromium keeps trying to reach Google's hosts, which
		// this network refuses.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", pageURL)
	// Chromium starts helper processes: put them in a group of their own so
	// that a timeout ends all of them, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 8<<10))
	}
	m := resultPre.FindSubmatch(out)
	if m == nil {
		t.Fatalf("chromium's DOM has no result element:\n%s", tail(string(out), 8<<10))
	}
	return strings.Split(strings.TrimSpace(html.UnescapeString(string(m[1]))), "\n")
}
