package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// newBenchHandler is a provisioned handler without Caddy around it: its
// store on a temporary file system storage holds one configuration.
func newBenchHandler(b testing.TB) *Handler {
	b.Helper()
	return newHandlerOn(b, &certmagic.FileStorage{Path: b.TempDir()})
}

// newHandlerOn is a handler as newBenchHandler makes it, whose store is on
// storage, as another instance's may be.
func newHandlerOn(b testing.TB, storage certmagic.Storage) *Handler {
	b.Helper()
	shared := newSharedStore(storage, store.DefaultPrefix, zap.NewNop())
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
		app:      &App{shared: shared, metrics: m, defaults: new(configDefault)},
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

// allowedPreflight is a preflight the bench handler's configuration allows.
func allowedPreflight() *http.Request {
	r := httptest.NewRequest(http.MethodOptions, "http://s3.example.com/bucket/key", nil)
	r.Header = http.Header{
		"Origin":                         {"https://app.example.com"},
		"Access-Control-Request-Method":  {"PUT"},
		"Access-Control-Request-Headers": {"content-type,x-amz-date"},
	}
	return r
}

// BenchmarkPreflightCounting measures what counting decisions for the
// stats route adds to an allowed preflight: a handler that counts and one
// that does not (no stats table) answer the same preflight in alternating
// rounds of one run, so that both see the same machine, and the ratio of
// their times is reported as counted/uncounted.
func BenchmarkPreflightCounting(b *testing.B) {
	counted := newBenchHandler(b)
	uncounted := newBenchHandler(b)
	uncounted.app.shared.stats = nil
	r := allowedPreflight()
	w := &benchWriter{h: make(http.Header)}
	const round = 64
	run := func(h *Handler) time.Duration {
		start := time.Now()
		for range round {
			clear(w.h)
			_ = h.ServeHTTP(w, r, upstreamStub{})
		}
		return time.Since(start)
	}
	var withStats, without time.Duration
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		// Which goes first alternates, so that neither always runs on a
		// warmer cache.
		if rounds%2 == 0 {
			withStats += run(counted)
			without += run(uncounted)
		} else {
			without += run(uncounted)
			withStats += run(counted)
		}
		rounds++
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
	n := float64(rounds * round)
	b.ReportMetric(float64(withStats.Nanoseconds())/n, "ns/counted")
	b.ReportMetric(float64(without.Nanoseconds())/n, "ns/uncounted")
	b.ReportMetric(float64(withStats)/float64(without), "counted/uncounted")
	if got := counted.app.Stats("bucket").Rules[0].Preflight; got != uint64(n) {
		b.Fatalf("counted %d preflights of %v", got, n)
	}
}

// BenchmarkPreflightTrial measures what a report-only trial adds to an
// allowed preflight: handlers whose bucket has no candidate, a candidate
// that agrees (the same rules: a second decision and an atomic add), and
// one that would refuse (also a disagreement kept in the ring) answer the
// same preflight in rotating rounds of one run, and the ratios of their
// times to the first are reported.
func BenchmarkPreflightTrial(b *testing.B) {
	none, agrees, refuses := newBenchHandler(b), newBenchHandler(b), newBenchHandler(b)
	live, _ := none.store().Get("bucket")
	tryDoc(b, agrees, "bucket", live.Document)
	tryDoc(b, refuses, "bucket", strings.Replace(live.Document, "https://app.example.com", "https://other.example.com", 1))
	r := allowedPreflight()
	w := &benchWriter{h: make(http.Header)}
	const round = 64
	handlers := []*Handler{none, agrees, refuses}
	times := make([]time.Duration, len(handlers))
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		// Which goes first rotates, so that none always runs on a warmer
		// cache.
		for i := range handlers {
			j := (i + rounds) % len(handlers)
			start := time.Now()
			for range round {
				clear(w.h)
				_ = handlers[j].ServeHTTP(w, r, upstreamStub{})
			}
			times[j] += time.Since(start)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
		rounds++
	}
	n := float64(rounds * round)
	b.ReportMetric(float64(times[0].Nanoseconds())/n, "ns/no-candidate")
	b.ReportMetric(float64(times[1].Nanoseconds())/n, "ns/agreeing")
	b.ReportMetric(float64(times[2].Nanoseconds())/n, "ns/disagreeing")
	b.ReportMetric(float64(times[1])/float64(times[0]), "agreeing/no-candidate")
	b.ReportMetric(float64(times[2])/float64(times[0]), "disagreeing/no-candidate")
	for _, c := range []struct {
		h    *Handler
		want TrialTally
	}{
		{agrees, TrialTally{RequestsSeen: uint64(n), Agreements: uint64(n)}},
		{refuses, TrialTally{RequestsSeen: uint64(n), WouldNewlyRefuse: uint64(n)}},
	} {
		if got := trialReport(b, c.h, "bucket").TrialTally; got != c.want {
			b.Fatalf("counted %+v, want %+v", got, c.want)
		}
	}
}
