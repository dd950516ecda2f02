package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// newBenchHandler is a provisioned handler without Caddy around it: its
// store on a temporary file system storage holds one configuration.
func newBenchHandler(b *testing.B) *Handler {
	b.Helper()
	shared := newSharedStore(&certmagic.FileStorage{Path: b.TempDir()}, store.DefaultPrefix, zap.NewNop())
	b.Cleanup(func() { _ = shared.Destruct() })
	shared.start(zap.NewNop())
	m, err := registerMetrics(nil, shared.store)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := cors.Parse([]byte(`<CORSConfiguration><CORSRule><AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader>` +
		`<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.example.com</AllowedOrigin>` +
		`<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := shared.store.Put(context.Background(), "bucket", cfg, "bench"); err != nil {
		b.Fatal(err)
	}
	return &Handler{
		app:      &App{shared: shared, metrics: m},
		verifier: s3.NewVerifier("", nil),
		logger:   zap.NewNop(),
	}
}

// benchWriter is a reusable ResponseWriter that keeps nothing, so that what
// is measured is the handler.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }

// upstreamStub writes what a store behind reverse_proxy would: its own CORS
// headers and a Vary, added one by one.
type upstreamStub struct{}

func (upstreamStub) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Add("Access-Control-Allow-Origin", "*")
	h.Add("Vary", "Accept-Encoding")
	h.Add("Etag", `"x"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

func BenchmarkServeHTTP(b *testing.B) {
	h := newBenchHandler(b)
	cases := []struct {
		name   string
		method string
		header http.Header
		status int
	}{
		{"preflight-allowed", http.MethodOptions, http.Header{
			"Origin":                         {"https://app.example.com"},
			"Access-Control-Request-Method":  {"PUT"},
			"Access-Control-Request-Headers": {"content-type,x-amz-date"},
		}, http.StatusOK},
		{"preflight-refused", http.MethodOptions, http.Header{
			"Origin":                        {"https://evil.example.com"},
			"Access-Control-Request-Method": {"PUT"},
		}, http.StatusForbidden},
		{"proxied-get", http.MethodGet, http.Header{"Origin": {"https://app.example.com"}}, http.StatusOK},
		{"proxied-get-no-origin", http.MethodGet, http.Header{}, http.StatusOK},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(c.method, "http://s3.example.com/bucket/key", nil)
			r.Header = c.header
			w := &benchWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if err := h.ServeHTTP(w, r, upstreamStub{}); err != nil {
					b.Fatal(err)
				}
				if w.status != c.status {
					b.Fatalf("status %d, want %d", w.status, c.status)
				}
			}
		})
	}
}
