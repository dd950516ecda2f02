package bench

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

var resident = flag.Bool("resident", false, "hold the 100k-bucket snapshot in memory during every benchmark, as the gateway does, so that the garbage collector paces itself on a realistic live heap")

func TestMain(m *testing.M) {
	flag.Parse()
	if *resident {
		buildSnapshot()
	}
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

type impl struct {
	name string
	h    http.Handler
}

func impls() []impl {
	return []impl{
		{"engine", newEngine(allowedRule)},
		{"rs", newRS()},
		{"jub0bs", newJub0bs()},
		{"floor", floor{}},
		{"floor-fresh", floorFresh{}},
	}
}

// A case is a request and what each implementation must answer, checked
// once before timing so that a fast wrong answer cannot pass.
type benchCase struct {
	name  string
	req   *http.Request
	check func(impl string, w *leanWriter) error
}

const (
	exactACRH    = "content-type"
	wildcardACRH = "authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-user-agent"
)

// engineAllowed is S3's exact answer for an allowed request from origin.
func engineAllowed(origin, acah string) map[string]string {
	h := map[string]string{
		"Access-Control-Allow-Origin":      origin,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT, POST, DELETE, HEAD",
		"Access-Control-Expose-Headers":    "ETag, X-Amz-Request-Id",
		"Access-Control-Max-Age":           "3600",
		"Vary":                             specVary,
	}
	if acah != "" {
		h["Access-Control-Allow-Headers"] = acah
	}
	return h
}

func exactly(w *leanWriter, status int, want map[string]string) error {
	if w.status() != status {
		return fmt.Errorf("status %d, want %d", w.status(), status)
	}
	if len(w.h) != len(want) {
		return fmt.Errorf("headers %v, want %v", w.h, want)
	}
	for k, v := range want {
		if got := w.h[k]; len(got) != 1 || got[0] != v {
			return fmt.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	return nil
}

// allowedBy checks the essentials every peer must get right for an allowed
// request: the echoed origin, credentials, and each requested header allowed.
func allowedBy(w *leanWriter, origin, acrh string) error {
	if w.status() >= 300 {
		return fmt.Errorf("status %d", w.status())
	}
	if got := w.h["Access-Control-Allow-Origin"]; len(got) != 1 || got[0] != origin {
		return fmt.Errorf("ACAO %q, want %q", got, origin)
	}
	if got := w.h["Access-Control-Allow-Credentials"]; len(got) != 1 || got[0] != "true" {
		return fmt.Errorf("ACAC %q", got)
	}
	acah := strings.ToLower(strings.Join(w.h["Access-Control-Allow-Headers"], ","))
	for _, name := range strings.Split(acrh, ",") {
		if name != "" && !strings.Contains(acah, name) {
			return fmt.Errorf("ACAH %q lacks %q", acah, name)
		}
	}
	return nil
}

func preflightCase(name, origin, acrh string, allowed bool) benchCase {
	r := request(http.MethodOptions, map[string]string{"Origin": origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": acrh})
	return benchCase{name, r, func(impl string, w *leanWriter) error {
		switch {
		case impl == "floor" || impl == "floor-fresh":
			return allowedBy(w, origin, acrh)
		case !allowed && impl == "engine":
			return exactly(w, http.StatusForbidden, nil)
		case !allowed:
			if _, ok := w.h["Access-Control-Allow-Origin"]; ok {
				return fmt.Errorf("disallowed origin got ACAO")
			}
			return nil
		case impl == "engine":
			return exactly(w, http.StatusOK, engineAllowed(origin, strings.ReplaceAll(acrh, ",", ", ")))
		}
		return allowedBy(w, origin, acrh)
	}}
}

func actualCase(name, origin string) benchCase {
	r := request(http.MethodGet, map[string]string{"Origin": origin})
	return benchCase{name, r, func(impl string, w *leanWriter) error {
		if impl == "engine" {
			return exactly(w, http.StatusOK, engineAllowed(origin, ""))
		}
		return allowedBy(w, origin, "")
	}}
}

var cases = []benchCase{
	preflightCase("exact", "https://example.com", exactACRH, true),
	preflightCase("wildcard", "https://app.example.com", wildcardACRH, true),
	preflightCase("disallowed", "https://evil.example.net", exactACRH, false),
	actualCase("actual-get", "https://app.example.com"),
}

func run(b *testing.B, h http.Handler, c benchCase, implName string) {
	w := newLeanWriter()
	h.ServeHTTP(w, c.req)
	if err := c.check(implName, w); err != nil {
		b.Fatalf("%s on %s: %v", implName, c.name, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, c.req)
	}
}

// BenchmarkCORS compares the implementations on the same requests.
func BenchmarkCORS(b *testing.B) {
	for _, c := range cases {
		for _, im := range impls() {
			b.Run("case="+c.name+"/impl="+im.name, func(b *testing.B) { run(b, im.h, c, im.name) })
		}
	}
}

// fillers are 99 rules that match none of the cases' requests: distinct exact
// origins on the same domain, distinct subdomain wildcards, and every tenth a
// port wildcard of the kind the index scans.
func fillers() []cors.Rule {
	var rules []cors.Rule
	for i := range 99 {
		r := cors.Rule{
			AllowedOrigins: []string{fmt.Sprintf("https://site%d.example.com", i), fmt.Sprintf("https://*.tenant%d.example.com", i)},
			AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: cfgHeaders,
			ExposeHeaders:  cfgExpose,
			MaxAgeSeconds:  &cfgMaxAge,
		}
		if i%10 == 0 {
			r.AllowedOrigins = append(r.AllowedOrigins, fmt.Sprintf("http://dev%d.localhost:*", i))
		}
		rules = append(rules, r)
	}
	return rules
}

// methodFillers are 99 rules whose origin matches every request and whose
// method matches none: every one is a candidate the engine must reject.
func methodFillers() []cors.Rule {
	rules := make([]cors.Rule, 99)
	for i := range rules {
		rules[i] = cors.Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"DELETE"}}
	}
	return rules
}

// BenchmarkRules compares a request matched by the last of 100 rules (or by
// none) with the same request against the 1-rule policy.
func BenchmarkRules(b *testing.B) {
	policies := []struct {
		name string
		h    http.Handler
	}{
		{"rules=1", newEngine(allowedRule)},
		{"rules=100", newEngine(append(fillers(), allowedRule)...)},
	}
	for _, c := range cases {
		for _, p := range policies {
			b.Run("case="+c.name+"/"+p.name, func(b *testing.B) { run(b, p.h, c, "engine") })
		}
	}
	// Every rule a candidate: the origin index cannot help; the method mask
	// must make each rejection cheap.
	wide := preflightCase("all-candidates", "https://example.com", exactACRH, true)
	b.Run("case=all-candidates/rules=1", func(b *testing.B) { run(b, newEngine(allowedRule), wide, "engine") })
	b.Run("case=all-candidates/rules=100", func(b *testing.B) {
		run(b, newEngine(append(methodFillers(), allowedRule)...), wide, "engine")
	})
}

// BenchmarkACRH sends oversized Access-Control-Request-Headers. The engine
// must refuse what is over MaxRequestHeadersSize without reading it, so 1 MiB
// costs no more than a list at the cap.
func BenchmarkACRH(b *testing.B) {
	mib := strings.Repeat(",", 1<<20)
	lines := make([]string, 1024)
	for i := range lines {
		lines[i] = strings.Repeat(",", 1023)
	}
	atCap := strings.Repeat(",", cors.MaxRequestHeadersSize)
	inputs := []struct {
		name  string
		lines []string
		// the engine's status: 403 over the cap; at the cap the list names
		// nothing, so the request is allowed without ACAH
		status int
	}{
		{"1MiB-one-line", []string{mib}, http.StatusForbidden},
		{"1MiB-1024-lines", lines, http.StatusForbidden},
		{"at-cap", []string{atCap}, http.StatusOK},
	}
	for _, in := range inputs {
		r := request(http.MethodOptions, map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "PUT"})
		r.Header["Access-Control-Request-Headers"] = in.lines
		c := benchCase{in.name, r, func(impl string, w *leanWriter) error {
			if impl != "engine" {
				return nil // the peers' answers differ; only their cost is compared
			}
			if w.status() != in.status {
				return fmt.Errorf("status %d, want %d", w.status(), in.status)
			}
			if _, ok := w.h["Access-Control-Allow-Headers"]; ok {
				return fmt.Errorf("ACAH for a list that names nothing")
			}
			return nil
		}}
		for _, im := range impls()[:3] { // the floors do not read the list
			b.Run("acrh="+in.name+"/impl="+im.name, func(b *testing.B) { run(b, im.h, c, im.name) })
		}
	}
}

const buckets = 100_000

func bucketConfig(i int) *cors.Configuration {
	return &cors.Configuration{Rules: []cors.Rule{{
		AllowedOrigins: []string{fmt.Sprintf("https://app-%d.example.com", i)},
		AllowedMethods: []string{"GET", "PUT", "POST"},
		AllowedHeaders: []string{"*"},
		ExposeHeaders:  []string{"ETag"},
		MaxAgeSeconds:  &cfgMaxAge,
	}}}
}

// heapDelta returns the live heap that build adds, per item.
func heapDelta(n int, build func() any) (float64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n), kept
}

// snapshot is how the store holds every bucket's policy: one immutable map
// behind an atomic pointer, replaced whole on change.
type snapshot struct {
	p    atomic.Pointer[map[string]*cors.Policy]
	keys []string // bucket names in a scattered order

	perBucket, perPolicy float64
}

var buildSnapshot = sync.OnceValue(func() *snapshot {
	s := &snapshot{}
	s.keys = make([]string, buckets)
	for i := range s.keys {
		s.keys[i] = fmt.Sprintf("bucket-%08x", rand.Uint32())
	}
	var kept any
	s.perPolicy, kept = heapDelta(buckets, func() any {
		ps := make([]*cors.Policy, buckets)
		for i := range ps {
			ps[i] = cors.Compile(bucketConfig(i))
		}
		return ps
	})
	runtime.KeepAlive(kept)
	kept = nil
	var m any
	s.perBucket, m = heapDelta(buckets, func() any {
		m := make(map[string]*cors.Policy)
		for i, k := range s.keys {
			m[k] = cors.Compile(bucketConfig(i))
		}
		return m
	})
	mp := m.(map[string]*cors.Policy)
	s.p.Store(&mp)
	rand.Shuffle(len(s.keys), func(i, j int) { s.keys[i], s.keys[j] = s.keys[j], s.keys[i] })
	return s
})

var sink *cors.Policy

// BenchmarkBuckets looks buckets up among 100k, through the atomic snapshot
// and in a bare map, and reports the live heap per compiled single-rule
// bucket: with its map entry and name (B/bucket), and the policy alone
// (B/policy).
func BenchmarkBuckets(b *testing.B) {
	s := buildSnapshot()
	bare := *s.p.Load()
	for _, k := range s.keys[:100] {
		d := bare[k].Preflight(cors.Request{Origin: "https://evil", RequestMethod: "GET", HasRequestMethod: true})
		if bare[k] == nil || d.Outcome() != cors.NotAllowed {
			b.Fatalf("bucket %s: %v", k, d.Outcome())
		}
	}
	b.Run("impl=snapshot", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink = (*s.p.Load())[s.keys[i]]
			if i++; i == len(s.keys) {
				i = 0
			}
		}
		b.ReportMetric(s.perBucket, "B/bucket")
		b.ReportMetric(s.perPolicy, "B/policy")
	})
	b.Run("impl=map", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink = bare[s.keys[i]]
			if i++; i == len(s.keys) {
				i = 0
			}
		}
	})
}

// BenchmarkCompile is the cost of compiling one single-rule configuration, as
// a store does for each bucket it loads.
func BenchmarkCompile(b *testing.B) {
	c := bucketConfig(7)
	b.ReportAllocs()
	for b.Loop() {
		sink = cors.Compile(c)
	}
}
