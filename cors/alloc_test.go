package cors

import (
	"net/http"
	"strings"
	"testing"
)

// Allocation counts are deterministic, so they are asserted exactly; speed
// is left to the benchmarks in bench/.

func allocPolicy(t *testing.T, indexed bool) *Policy {
	rules := []Rule{{
		AllowedOrigins: []string{"https://example.com", "https://*.example.com"},
		AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Content-MD5", "x-amz-*"},
		ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
		MaxAgeSeconds:  intp(3600),
	}}
	if indexed {
		rules = withFillers(rules...)
	}
	p := mustPolicy(t, rules...)
	if (p.index != nil) != indexed {
		t.Fatalf("fixture indexed=%v", p.index != nil)
	}
	return p
}

func TestAllocs(t *testing.T) {
	huge := []string{strings.Repeat(",", 1<<20)}
	manyLines := make([]string, 1024)
	for i := range manyLines {
		manyLines[i] = strings.Repeat(",", 1024)
	}
	longACAH := strings.Repeat("x-amz-meta-abcdefghij,", 12) // over acahInline
	tests := []struct {
		name   string
		method string
		header http.Header
		allow  bool
		allocs float64
	}{
		{"allowed preflight, exact origin, 1 header", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type"}}, true, 1},
		{"allowed preflight, wildcard origin, 5 headers", "OPTIONS", http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-user-agent"}}, true, 1},
		{"allowed preflight, no headers", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"GET"}}, true, 1},
		{"allowed preflight, ACAH longer than the inline buffer", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {longACAH}}, true, 2},
		{"allowed actual GET", "GET", http.Header{"Origin": {"https://app.example.com"}}, true, 1},
		{"denied preflight, origin", "OPTIONS", http.Header{"Origin": {"https://evil.example.net"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type"}}, false, 0},
		{"denied preflight, header", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"x-other"}}, false, 0},
		{"denied preflight, invalid method", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"PATCH"}}, false, 0},
		{"denied preflight, no origin", "OPTIONS", http.Header{"Access-Control-Request-Method": {"PUT"}}, false, 0},
		{"denied preflight, 1 MiB ACRH on one line", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": huge}, false, 0},
		{"denied preflight, 1 MiB ACRH on 1024 lines", "OPTIONS", http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": manyLines}, false, 0},
		{"denied actual GET", "GET", http.Header{"Origin": {"https://evil.example.net"}}, false, 0},
	}
	for _, indexed := range []bool{false, true} {
		p := allocPolicy(t, indexed)
		mode := map[bool]string{false: "scan/", true: "index/"}[indexed]
		for _, tt := range tests {
			t.Run(mode+tt.name, func(t *testing.T) {
				h := make(http.Header, 8)
				run := func() {
					clear(h)
					r := NewRequest(tt.method, tt.header)
					var d Decision
					if tt.method == http.MethodOptions {
						d = p.Preflight(r)
					} else {
						d = p.Actual(r)
					}
					if d.Allowed() != tt.allow {
						t.Fatalf("allowed=%v reason=%v", d.Allowed(), d.Reason())
					}
					d.WriteHeaders(h)
					_ = d.StatusCode()
					_ = d.Code()
					_ = d.Method()
					_ = d.ResourceType(true)
					_ = d.DeniedHeader()
				}
				run()
				if got := testing.AllocsPerRun(100, run); got != tt.allocs {
					t.Errorf("%v allocs, want %v", got, tt.allocs)
				}
			})
		}
	}
}

func TestAllocsOutsidePolicies(t *testing.T) {
	h := http.Header{"Origin": {"https://example.com"}}
	if got := testing.AllocsPerRun(100, func() { _ = MissingBucket(NewRequest("OPTIONS", h)).Message() }); got != 0 {
		t.Errorf("MissingBucket: %v allocs", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = (*Policy)(nil).Preflight(NewRequest("OPTIONS", h)).Message() }); got != 0 {
		t.Errorf("nil policy: %v allocs", got)
	}
}

// TestAllocsHeaderIndex: matching through the header index, with and
// without remembering names (a list longer than cacheFrom names), refuses
// without allocating and allows with the response's allocations only.
func TestAllocsHeaderIndex(t *testing.T) {
	c := indexShapes()["side"]
	p := Compile(c)
	if p.headers.indexed() == nil {
		t.Fatal("fixture not indexed")
	}
	short := "xxy,qax,AZ" // all allowed by rule 0 of the shape
	long := strings.Repeat(short+",", 3*cacheFrom)
	for _, tt := range []struct {
		name, acrh string
		allow      bool
		allocs     float64
	}{
		{"short list allowed", short, true, 1},
		{"short list refused", short + ",nope", false, 0},
		{"long list allowed", long + "xxy", true, 2},
		{"long list refused", long + "nope", false, 0},
	} {
		h := http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {tt.acrh}}
		out := make(http.Header, 8)
		run := func() {
			clear(out)
			d := p.Preflight(NewRequest(http.MethodOptions, h))
			if d.Allowed() != tt.allow {
				t.Fatalf("%s: allowed=%v reason=%v %q", tt.name, d.Allowed(), d.Reason(), d.DeniedHeader())
			}
			d.WriteHeaders(out)
		}
		run()
		if got := testing.AllocsPerRun(50, run); got != tt.allocs {
			t.Errorf("%s: %v allocs, want %v", tt.name, got, tt.allocs)
		}
	}
}
