package caddymodule

import (
	"net/http"
	"slices"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// With always_vary every response to a request that names a bucket varies
// on the CORS request headers, matched or not, on one line with the
// store's own names; requests that name no bucket are left as S3 leaves
// them.
func TestAlwaysVary(t *testing.T) {
	h := newBenchHandler(t) // "bucket" allows https://app.example.com
	merged := cors.VaryValue + ", Accept-Encoding"
	cases := []struct {
		name      string
		method    string
		target    string
		header    []string
		on, off   []string // the Vary lines with always_vary and without
		wantAllow bool
	}{
		{"allowed preflight", http.MethodOptions, "/bucket/k", preflight("https://app.example.com", "PUT"), []string{cors.VaryValue}, []string{cors.VaryValue}, true},
		{"refused preflight", http.MethodOptions, "/bucket/k", preflight("https://evil.example", "PUT"), []string{cors.VaryValue}, nil, false},
		{"preflight to a bucket without configuration", http.MethodOptions, "/other/k", preflight("https://app.example.com", "PUT"), []string{cors.VaryValue}, nil, false},
		{"preflight without Origin", http.MethodOptions, "/bucket/k", []string{"Access-Control-Request-Method", "PUT"}, []string{cors.VaryValue}, nil, false},
		{"preflight to the service", http.MethodOptions, "/", preflight("https://app.example.com", "PUT"), nil, nil, false},
		{"matched GET", http.MethodGet, "/bucket/k", []string{"Origin", "https://app.example.com"}, []string{merged}, []string{merged}, true},
		{"unmatched GET", http.MethodGet, "/bucket/k", []string{"Origin", "https://evil.example"}, []string{merged}, []string{"Accept-Encoding"}, false},
		{"GET without Origin", http.MethodGet, "/bucket/k", nil, []string{merged}, []string{"Accept-Encoding"}, false},
		{"GET of a bucket without configuration", http.MethodGet, "/other/k", []string{"Origin", "https://app.example.com"}, []string{merged}, []string{"Accept-Encoding"}, false},
		{"ListBuckets", http.MethodGet, "/", []string{"Origin", "https://app.example.com"}, []string{"Accept-Encoding"}, []string{"Accept-Encoding"}, false},
		{"?cors call refused", http.MethodGet, "/bucket?cors", []string{"Origin", "https://evil.example"}, []string{cors.VaryValue}, nil, false},
		{"?cors call from an allowed origin", http.MethodGet, "/bucket?cors", []string{"Origin", "https://app.example.com"}, []string{cors.VaryValue}, []string{cors.VaryValue}, true},
		{"request refused as ambiguous", http.MethodGet, "/bucket/k?cors&uploads", []string{"Origin", "https://evil.example"}, []string{cors.VaryValue}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, on := range []bool{true, false} {
				h.AlwaysVary = on
				w := serve(t, h, c.method, c.target, c.header...)
				want := c.off
				if on {
					want = c.on
				}
				if got := w.Header().Values("Vary"); !slices.Equal(got, want) {
					t.Errorf("always_vary %v: Vary %q, want %q (status %d)", on, got, want, w.Code)
				}
				if allowed := w.Header().Get("Access-Control-Allow-Origin") != ""; allowed != c.wantAllow {
					t.Errorf("always_vary %v: allowed %v, want %v", on, allowed, c.wantAllow)
				}
			}
		})
	}
}

// Each response owns its Vary line: a handler around this one that edits
// it in place changes no other response.
func TestAlwaysVaryNotShared(t *testing.T) {
	h := newBenchHandler(t)
	h.AlwaysVary = true
	for _, c := range []struct{ method, target string }{{http.MethodOptions, "/bucket/k"}, {http.MethodGet, "/other/k"}} {
		first := serve(t, h, c.method, c.target, preflight("https://evil.example", "PUT")...)
		first.Header()["Vary"][0] = "X-Changed"
		second := serve(t, h, c.method, c.target, preflight("https://evil.example", "PUT")...)
		if got := second.Header().Get("Vary"); got == "X-Changed" || got == "" {
			t.Errorf("%s %s: the second response's Vary is %q", c.method, c.target, got)
		}
	}
	if got := serve(t, h, http.MethodOptions, "/bucket/k", preflight("https://evil.example", "PUT")...).Header().Get("Vary"); got != cors.VaryValue {
		t.Errorf("after the edits, a refused preflight varies on %q", got)
	}
}

// always_vary costs a refused preflight no allocation when it is a 403,
// which already has values of its own to share one with, and one small one
// when it is a 400.
func TestAlwaysVaryAllocations(t *testing.T) {
	h := newBenchHandler(t)
	w := &benchWriter{h: make(http.Header)}
	for _, c := range []struct {
		name   string
		header []string
		status int
		extra  float64
	}{
		{"403", preflight("https://evil.example", "PUT"), http.StatusForbidden, 0},
		{"400", preflight("https://app.example.com", "PATCH"), http.StatusBadRequest, 1},
	} {
		r := newRequest(http.MethodOptions, "/bucket/k", c.header...)
		allocs := func(on bool) float64 {
			h.AlwaysVary = on
			return testing.AllocsPerRun(100, func() {
				clear(w.h)
				_ = h.ServeHTTP(w, r, upstreamStub{})
			})
		}
		off, on := allocs(false), allocs(true)
		if on != off+c.extra {
			t.Errorf("a refused preflight (%s) allocates %v times with always_vary, %v without", c.name, on, off)
		}
		if w.status != c.status || w.h.Get("Vary") != cors.VaryValue {
			t.Errorf("the measured request (%s): %d %v", c.name, w.status, w.h)
		}
	}
}
