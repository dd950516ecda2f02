package cors

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func mustPolicy(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	c := &Configuration{Rules: rules}
	if err := c.Validate(); err != nil {
		t.Fatalf("invalid test configuration: %v", err)
	}
	return Compile(c)
}

// withFillers appends rules whose origins match none of the test origins, so
// that the policy is large enough to be compiled with an origin index.
func withFillers(rules ...Rule) []Rule {
	for i := range 3 {
		rules = append(rules, Rule{
			AllowedOrigins: []string{fmt.Sprintf("filler-%d", i), fmt.Sprintf("https://*.filler%d.test", i), fmt.Sprintf("filler%d*x", i), "https://unused.example.com"},
			AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
			AllowedHeaders: []string{"*"},
		})
	}
	return rules
}

// policies returns the rules compiled twice: as given, and with fillers that
// make the policy indexed. Both must decide alike for the given rules.
func policies(t *testing.T, rules ...Rule) map[string]*Policy {
	t.Helper()
	small := mustPolicy(t, rules...)
	big := mustPolicy(t, withFillers(rules...)...)
	if small.index != nil || big.index == nil {
		t.Fatalf("fixture: small indexed=%v, big indexed=%v", small.index != nil, big.index != nil)
	}
	return map[string]*Policy{"scan": small, "index": big}
}

func preflightReq(origin, acrm string, acrh ...string) Request {
	h := http.Header{}
	if origin != "" {
		h["Origin"] = []string{origin}
	}
	if acrm != "-" {
		h["Access-Control-Request-Method"] = []string{acrm}
	}
	if len(acrh) > 0 {
		h["Access-Control-Request-Headers"] = acrh
	}
	return NewRequest(http.MethodOptions, h)
}

func written(d Decision) map[string]string {
	h := http.Header{}
	d.WriteHeaders(h)
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, "\x00")
	}
	return out
}

func TestOriginMatching(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		origin  string
		want    bool
	}{
		{"B.3 * matches a URL", "*", "https://a.example", true},
		{"B.3 * matches a non-URL origin", "*", "localhost:4566", true},
		{"B.3 * matches foo.suffix", "*", "foo.suffix", true},
		{"B.3 exact equal", "http://www.example.com", "http://www.example.com", true},
		{"B.3 exact: scheme differs", "http://x", "https://x", false},
		{"B.3 exact: explicit default port differs", "http://x", "http://x:80", false},
		{"B.3 exact: trailing slash breaks the match", "http://test.origin.com", "http://test.origin.com/", false},
		{"B.3 exact: case-sensitive [OPEN]", "http://Example.com", "http://example.com", false},
		{"B.3 http://*.origin.com matches http://test.origin.com", "http://*.origin.com", "http://test.origin.com", true},
		{"B.3 http://*.origin.com refuses a trailing slash", "http://*.origin.com", "http://test.origin.com/", false},
		{"B.3 http://*.origin.com refuses https", "http://*.origin.com", "https://test.origin.com", false},
		{"B.3 * stands for zero characters", "http://*.origin.com", "http://.origin.com", true},
		{"B.3 * stands for dots, colons and slashes", "http://*.origin.com", "http://a.b:1/c.origin.com", true},
		{"B.3 start*end matches startend", "start*end", "startend", true},
		{"B.3 start*end matches start1end", "start*end", "start1end", true},
		{"B.3 start*end matches start12end", "start*end", "start12end", true},
		{"B.3 start*end refuses 0start12end", "start*end", "0start12end", false},
		{"B.3 start*end refuses start12end0", "start*end", "start12end0", false},
		{"B.3 *suffix refuses foo.suffix.get", "*suffix", "foo.suffix.get", false},
		{"B.3 *suffix matches foo.suffix", "*suffix", "foo.suffix", true},
		{"B.3 *.get matches foo.get", "*.get", "foo.get", true},
		{"B.3 *.allowedorigin.com matches .allowedorigin.com", "*.allowedorigin.com", ".allowedorigin.com", true},
		{"B.3 http://www.corstest*.com matches a longer host", "http://www.corstest*.com", "http://www.corstest1.company.com", true},
		{"B.3 prefix* matches the bare prefix", "prefix*", "prefix", true},
		{"B.3 prefix and suffix may not overlap", "ab*ba", "aba", false},
		{"B.3 wildcard with a port", "http://*.example.com:8080", "http://a.example.com:8080", true},
		{"B.3 wildcard with a port refuses another port", "http://*.example.com:8080", "http://a.example.com:8081", false},
		{"B.3 wildcard is case-sensitive [OPEN]", "http://*.Example.com", "http://a.example.com", false},
		{"B.3 empty AllowedOrigin never matches", "", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (originPattern{tt.pattern, strings.IndexByte(tt.pattern, '*')}).matches(tt.origin); got != tt.want {
				t.Errorf("%q matches %q = %v", tt.pattern, tt.origin, got)
			}
			for mode, p := range policies(t, Rule{AllowedOrigins: []string{tt.pattern}, AllowedMethods: []string{"GET"}}) {
				d := p.Preflight(preflightReq(tt.origin, "GET"))
				if d.Allowed() != tt.want || tt.want && d.Rule() != 0 {
					t.Errorf("%s: allowed=%v rule=%d, want %v", mode, d.Allowed(), d.Rule(), tt.want)
				}
				if !tt.want && d.Reason() != ReasonOrigin {
					t.Errorf("%s: reason %v, want origin", mode, d.Reason())
				}
			}
		})
	}
}

func TestHeaderMatching(t *testing.T) {
	many := []string{"x-amz-date", "a1", "Content-Type", "A2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "Authorization"}
	tests := []struct {
		name    string
		allowed []string
		acrh    []string
		want    bool
		denied  string
		acah    string
	}{
		{"B.3 * allows any name", []string{"*"}, []string{"X-Anything, other"}, true, "", "x-anything, other"},
		{"B.3 x-amz-* matches X-Amz-Date", []string{"x-amz-*"}, []string{"X-Amz-Date"}, true, "", "x-amz-date"},
		{"B.3 x-amz-* matches x-amz- (zero characters)", []string{"x-amz-*"}, []string{"x-amz-"}, true, "", "x-amz-"},
		{"B.3 x-amz-* refuses x-am", []string{"x-amz-*"}, []string{"x-am"}, false, "x-am", ""},
		{"B.3 Content-* matches Content-Length", []string{"Content-*"}, []string{"Content-Length"}, true, "", "content-length"},
		{"B.3 Content-* refuses Date", []string{"Content-*"}, []string{"Content-Length, Date"}, false, "Date", ""},
		{"B.3 amz-* matches amz-meta-header-test", []string{"amz-*"}, []string{"amz-meta-header-test"}, true, "", "amz-meta-header-test"},
		{"B.3 *-id suffix pattern", []string{"*-ID"}, []string{"x-request-id"}, true, "", "x-request-id"},
		{"B.3 x-*-id infix pattern", []string{"x-*-id"}, []string{"X--ID"}, true, "", "x--id"},
		{"B.3 infix pattern refuses overlap", []string{"x-*-id"}, []string{"x-id"}, false, "x-id", ""},
		{"B.3 case-insensitive with spaces", []string{"X-AMZ-expected-BUCKET-owner", "x-amz-server-side-encryption"},
			[]string{"x-AMZ-expected-BUCKET-owner, x-amz-server-side-encryption"}, true, "", "x-amz-expected-bucket-owner, x-amz-server-side-encryption"},
		{"B.3 case-insensitive without spaces", []string{"X-AMZ-expected-BUCKET-owner", "x-amz-server-side-encryption"},
			[]string{"x-AMZ-expected-BUCKET-owner,x-amz-server-side-encryption"}, true, "", "x-amz-expected-bucket-owner, x-amz-server-side-encryption"},
		{"B.3 empty items dropped", []string{"content-type", "expires"}, []string{"content-type,,expires"}, true, "", "content-type, expires"},
		{"B.3 tabs and spaces trimmed", []string{"a", "b"}, []string{" \ta\t , ,\tb "}, true, "", "a, b"},
		{"B.3 request order kept", []string{"a", "b"}, []string{"b,a"}, true, "", "b, a"},
		{"B.3 duplicates kept", []string{"a"}, []string{"a,A"}, true, "", "a, a"},
		{"B.3 several lines", []string{"a", "b"}, []string{"a", "B"}, true, "", "a, b"},
		{"B.3 several lines, one refused", []string{"a", "b"}, []string{"a", "c"}, false, "c", ""},
		{"B.2 rule without AllowedHeader refuses any name", nil, []string{"content-type"}, false, "content-type", ""},
		{"B.2 rule without AllowedHeader allows an empty list", nil, []string{""}, true, "", ""},
		{"B.2 rule without AllowedHeader allows only separators", nil, []string{" , ,\t", ","}, true, "", ""},
		{"B.2 no safelist exemption (Origin, Accept, content-type)", []string{"x-amz-*"}, []string{"Origin, Accept, content-type"}, false, "Origin", ""},
		{"B.3 many exact names: sorted search", many, []string{"AUTHORIZATION,content-type,X-AMZ-DATE,a9,a1,a2"}, true, "", "authorization, content-type, x-amz-date, a9, a1, a2"},
		{"B.3 many exact names: refusal", many, []string{"authorization,a10"}, false, "a10", ""},
		{"B.3 many exact names plus a wildcard", append([]string{"x-meta-*"}, many...), []string{"x-meta-a,a1"}, true, "", "x-meta-a, a1"},
		{"B.3 a name is not a pattern", []string{"x-amz-date"}, []string{"x-amz-*"}, false, "x-amz-*", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for mode, p := range policies(t, Rule{AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: tt.allowed}) {
				d := p.Preflight(preflightReq("https://o.test", "PUT", tt.acrh...))
				if d.Allowed() != tt.want {
					t.Fatalf("%s: allowed=%v, want %v (reason %v)", mode, d.Allowed(), tt.want, d.Reason())
				}
				if !tt.want {
					if d.Reason() != ReasonHeader || d.DeniedHeader() != tt.denied {
						t.Errorf("%s: reason %v %q, want header %q", mode, d.Reason(), d.DeniedHeader(), tt.denied)
					}
					continue
				}
				acah, ok := written(d)["Access-Control-Allow-Headers"]
				if ok != (tt.acah != "") || acah != tt.acah {
					t.Errorf("%s: ACAH %q (present %v), want %q", mode, acah, ok, tt.acah)
				}
			}
		})
	}
}

var specVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

func TestPreflight(t *testing.T) {
	localhost := Rule{AllowedOrigins: []string{"https://localhost:4200"}, AllowedMethods: []string{"GET", "PUT"}, MaxAgeSeconds: intp(3000), AllowedHeaders: []string{"*"}}
	star := Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}
	getOnly := Rule{AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET"}}
	type want struct {
		outcome Outcome
		reason  Reason
		rule    int
		status  int
		code    string
		msg     string
		method  string
		rtype   string // ResourceType(hasKey)
		headers map[string]string
	}
	notAllowed := "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
	tests := []struct {
		name    string
		rules   []Rule // nil: no configuration
		missing bool   // the bucket does not exist
		req     Request
		hasKey  bool
		want    want
	}{
		{"B.1 P1 no Origin, no configuration", nil, false, preflightReq("", "PUT"), true,
			want{MissingOrigin, ReasonNone, -1, 400, "BadRequest", "Insufficient information. Origin request header needed.", "PUT", "", nil}},
		{"B.1 P1 no Origin, bucket missing (before P2)", nil, true, preflightReq("", "-"), false,
			want{MissingOrigin, ReasonNone, -1, 400, "BadRequest", "Insufficient information. Origin request header needed.", "OPTIONS", "", nil}},
		{"B.1 P1 no Origin, configured", []Rule{star}, false, preflightReq("", "GET"), false,
			want{MissingOrigin, ReasonNone, -1, 400, "BadRequest", "Insufficient information. Origin request header needed.", "GET", "", nil}},
		{"B.1 P1 empty Origin counts as absent", []Rule{star}, false, NewRequest("OPTIONS", http.Header{"Origin": {""}, "Access-Control-Request-Method": {"GET"}}), false,
			want{MissingOrigin, ReasonNone, -1, 400, "BadRequest", "Insufficient information. Origin request header needed.", "GET", "", nil}},
		{"B.1 P1 Referer does not replace Origin", []Rule{star}, false, NewRequest("OPTIONS", http.Header{"Referer": {"https://o.test/"}, "Access-Control-Request-Method": {"GET"}}), false,
			want{MissingOrigin, ReasonNone, -1, 400, "BadRequest", "Insufficient information. Origin request header needed.", "GET", "", nil}},
		{"B.1 P2 bucket not found, no ACRM", nil, true, preflightReq("https://o.test", "-"), true,
			want{BucketNotFound, ReasonNone, -1, 403, "AccessForbidden", "CORSResponse: Bucket not found", "OPTIONS", "BUCKET", nil}},
		{"B.1 P2 bucket not found, ACRM", nil, true, preflightReq("https://o.test", "PUT"), true,
			want{BucketNotFound, ReasonNone, -1, 403, "AccessForbidden", "CORSResponse: Bucket not found", "PUT", "BUCKET", nil}},
		{"B.1 P3 not enabled, no ACRM", nil, false, preflightReq("https://o.test", "-"), true,
			want{NotEnabled, ReasonNone, -1, 403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "OPTIONS", "BUCKET", nil}},
		{"B.1 P3 not enabled, ACRM PUT", nil, false, preflightReq("https://o.test", "PUT"), false,
			want{NotEnabled, ReasonNone, -1, 403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "PUT", "BUCKET", nil}},
		{"B.1 P3 before P5 [OPEN]", nil, false, preflightReq("https://o.test", "BLAH"), false,
			want{NotEnabled, ReasonNone, -1, 403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "BLAH", "BUCKET", nil}},
		{"B.1 P4 no ACRM on a configured bucket [OPEN]", []Rule{star}, false, preflightReq("https://o.test", "-"), true,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: null", "OPTIONS", "", nil}},
		{"B.1 P5 lowercase ACRM", []Rule{star}, false, preflightReq("https://o.test", "get"), false,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: get", "get", "", nil}},
		{"B.1 P5 ACRM OPTIONS", []Rule{star}, false, preflightReq("https://o.test", "OPTIONS"), false,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: OPTIONS", "OPTIONS", "", nil}},
		{"B.1 P5 ACRM PATCH", []Rule{star}, false, preflightReq("https://o.test", "PATCH"), false,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: PATCH", "PATCH", "", nil}},
		{"B.1 P5 ACRM BLAH", []Rule{star}, false, preflightReq("https://o.test", "BLAH"), false,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: BLAH", "BLAH", "", nil}},
		{"E.1 #14 empty ACRM", []Rule{star}, false, preflightReq("https://o.test", ""), false,
			want{InvalidRequestMethod, ReasonNone, -1, 400, "BadRequest", "Invalid Access-Control-Request-Method: ", "", "", nil}},
		{"B.4 opt-right-origin example", []Rule{localhost}, false, preflightReq("https://localhost:4200", "PUT"), true,
			want{Allowed, ReasonNone, 0, 200, "", "", "PUT", "", map[string]string{
				"Access-Control-Allow-Origin":      "https://localhost:4200",
				"Access-Control-Allow-Methods":     "GET, PUT",
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Max-Age":           "3000",
				"Vary":                             specVary,
			}}},
		{"B.1 P7 wrong origin on a key", []Rule{localhost}, false, preflightReq("http://localhost:4200", "PUT"), true,
			want{NotAllowed, ReasonOrigin, -1, 403, "AccessForbidden", notAllowed, "PUT", "OBJECT", nil}},
		{"B.1 P7 partial origin on the bucket", []Rule{{AllowedOrigins: []string{"http://*.origin.com"}, AllowedMethods: []string{"GET"}}}, false, preflightReq("http://test.origin.com/", "GET"), false,
			want{NotAllowed, ReasonOrigin, -1, 403, "AccessForbidden", notAllowed, "GET", "BUCKET", nil}},
		{"B.2 method is exact: GET rule refuses PUT", []Rule{getOnly}, false, preflightReq("https://o.test", "PUT"), false,
			want{NotAllowed, ReasonMethod, -1, 403, "AccessForbidden", notAllowed, "PUT", "BUCKET", nil}},
		{"B.2 opt-get-headers: rule without AllowedHeader", []Rule{getOnly}, false, preflightReq("https://o.test", "GET", "x-amz-date"), false,
			want{NotAllowed, ReasonHeader, -1, 403, "AccessForbidden", notAllowed, "GET", "BUCKET", nil}},
		{"B.2 first match falls through a method mismatch", []Rule{getOnly, {AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT", "POST"}}}, false, preflightReq("https://o.test", "POST"), false,
			want{Allowed, ReasonNone, 1, 200, "", "", "POST", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "PUT, POST", "Vary": specVary}}},
		{"B.2 first match falls through a header mismatch", []Rule{getOnly, {AllowedOrigins: []string{"https://o.*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"x-amz-*"}}}, false, preflightReq("https://o.test", "GET", "X-Amz-Date"), false,
			want{Allowed, ReasonNone, 1, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "https://o.test", "Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Methods": "GET",
				"Access-Control-Allow-Headers": "x-amz-date", "Vary": specVary}}},
		{"B.2 the first of two matching rules wins", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, ExposeHeaders: []string{"A"}}, {AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET"}}}, false, preflightReq("https://o.test", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Access-Control-Expose-Headers": "A", "Vary": specVary}}},
		{"B.2 reason is the furthest criterion any rule reached", []Rule{{AllowedOrigins: []string{"x"}, AllowedMethods: []string{"PUT"}}, getOnly, {AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"PUT"}}}, false, preflightReq("https://o.test", "PUT", "a"), false,
			want{NotAllowed, ReasonHeader, -1, 403, "AccessForbidden", notAllowed, "PUT", "BUCKET", nil}},
		{"B.4 ACAO * without credentials for a * rule", []Rule{star}, false, preflightReq("localhost:4566", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Vary": specVary}}},
		{"B.4 ACAO * for a rule listing * next to the origin [OPEN]", []Rule{{AllowedOrigins: []string{"https://test.com", "*"}, AllowedMethods: []string{"GET"}}}, false, preflightReq("https://test.com", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Vary": specVary}}},
		{"B.4 ACAO echoes the origin, not the pattern", []Rule{{AllowedOrigins: []string{"http://*.origin.com"}, AllowedMethods: []string{"GET"}}}, false, preflightReq("http://test.origin.com", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "http://test.origin.com", "Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Methods": "GET", "Vary": specVary}}},
		{"B.4 ACAH lowercased in request order, ACEH verbatim", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD", "PUT", "POST", "DELETE"}, AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"x-amz-id-2", "x-amz-request-id", "X-Amz-Request-Payer"}}}, false,
			preflightReq("https://o.test", "DELETE", "X-Amz-Request-Payer,X-AMZ-expected-bucket-owner"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "DELETE", "", map[string]string{
				"Access-Control-Allow-Origin":   "*",
				"Access-Control-Allow-Methods":  "GET, HEAD, PUT, POST, DELETE",
				"Access-Control-Allow-Headers":  "x-amz-request-payer, x-amz-expected-bucket-owner",
				"Access-Control-Expose-Headers": "x-amz-id-2, x-amz-request-id, X-Amz-Request-Payer",
				"Vary":                          specVary}}},
		{"B.4 Max-Age 0 is sent [OPEN]", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: intp(0)}}, false, preflightReq("o", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Access-Control-Max-Age": "0", "Vary": specVary}}},
		{"B.4 negative Max-Age is sent as stored [OPEN]", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: intp(-100)}}, false, preflightReq("o", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Access-Control-Max-Age": "-100", "Vary": specVary}}},
		{"B.4 methods in configured order with duplicates", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT", "GET", "PUT"}}}, false, preflightReq("o", "GET"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "PUT, GET, PUT", "Vary": specVary}}},
		{"B.4 no ACAH for an ACRH of separators", []Rule{star}, false, preflightReq("o", "GET", ", ,"), false,
			want{Allowed, ReasonNone, 0, 200, "", "", "GET", "", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Vary": specVary}}},
		{"B.3 empty AllowedOrigin never matches", []Rule{{AllowedOrigins: []string{""}, AllowedMethods: []string{"GET"}}}, false, preflightReq("o", "GET"), false,
			want{NotAllowed, ReasonOrigin, -1, 403, "AccessForbidden", notAllowed, "GET", "BUCKET", nil}},
		{"B.3 ACRH over the cap is refused even by *", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*"}}}, false,
			preflightReq("o", "GET", strings.Repeat("a", MaxRequestHeadersSize+1)), false,
			want{NotAllowed, ReasonHeadersTooLarge, -1, 403, "AccessForbidden", notAllowed, "GET", "BUCKET", nil}},
		{"B.3 ACRH lines over the cap together", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*"}}}, false,
			preflightReq("o", "GET", strings.Repeat("a", MaxRequestHeadersSize/2), strings.Repeat("b", MaxRequestHeadersSize/2)), false,
			want{NotAllowed, ReasonHeadersTooLarge, -1, 403, "AccessForbidden", notAllowed, "GET", "BUCKET", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds []Decision
			switch {
			case tt.missing:
				ds = []Decision{MissingBucket(tt.req)}
			case tt.rules == nil:
				ds = []Decision{(*Policy)(nil).Preflight(tt.req), (*Policy)(nil).Explain(tt.req).Decision}
			default:
				for _, p := range policies(t, tt.rules...) {
					ds = append(ds, p.Preflight(tt.req), p.Explain(tt.req).Decision)
				}
			}
			for _, d := range ds {
				w := tt.want
				got := want{d.Outcome(), d.Reason(), d.Rule(), d.StatusCode(), d.Code(), d.Message(), d.Method(), d.ResourceType(tt.hasKey), nil}
				if h := written(d); len(h) > 0 {
					got.headers = h
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("got  %+v\nwant %+v", got, w)
				}
				if d.Allowed() != (w.outcome == Allowed) {
					t.Errorf("Allowed() = %v", d.Allowed())
				}
			}
		})
	}
}

func TestActual(t *testing.T) {
	getRule := Rule{AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: intp(3000), ExposeHeaders: []string{"ETag"}}
	getHeaders := map[string]string{
		"Access-Control-Allow-Origin":      "https://o.test",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Max-Age":           "3000",
		"Vary":                             specVary,
	}
	req := func(method string, h http.Header) Request { return NewRequest(method, h) }
	tests := []struct {
		name    string
		rules   []Rule
		req     Request
		outcome Outcome
		method  string
		headers map[string]string // nil: no headers at all
	}{
		{"C.1 #1 no Origin", []Rule{getRule}, req("GET", http.Header{}), MissingOrigin, "GET", nil},
		{"C.1 #1 Referer does not count", []Rule{getRule}, req("GET", http.Header{"Referer": {"https://o.test/"}}), MissingOrigin, "GET", nil},
		{"C.1 #4 no configuration", nil, req("GET", http.Header{"Origin": {"https://o.test"}}), NotEnabled, "GET", nil},
		{"C.2 get-right-origin: Max-Age and Expose on actual responses, no ACAH", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://o.test"}}), Allowed, "GET", getHeaders},
		{"C.1 #7 get-wrong-origin: nothing, not even Vary", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://other.test"}}), NotAllowed, "GET", nil},
		{"C.1 #5 get-wrong-op: GET with ACRM PUT is matched as PUT", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"PUT"}}), NotAllowed, "PUT", nil},
		{"C.1 #5 PUT with ACRM GET is matched as GET", []Rule{getRule}, req("PUT", http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"GET"}}), Allowed, "GET", getHeaders},
		{"C.1 #5 invalid ACRM matches nothing [OPEN]", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"get"}}), NotAllowed, "get", nil},
		{"C.1 #6 get-non-allowed-with-acl: ACRH is checked", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Headers": {"x-amz-acl"}}), NotAllowed, "GET", nil},
		{"C.1 #6 get-non-allowed: real headers are not checked", []Rule{getRule}, req("GET", http.Header{"Origin": {"https://o.test"}, "X-Amz-Request-Payer": {"requester"}}), Allowed, "GET", getHeaders},
		{"C.2 ACAH echoed when ACRH is sent", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*"}}},
			req("GET", http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Headers": {"X-Foo"}}), Allowed, "GET", map[string]string{
				"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "x-foo", "Vary": specVary}},
		{"C.2 HEAD is matched as HEAD", []Rule{getRule}, req("HEAD", http.Header{"Origin": {"https://o.test"}}), NotAllowed, "HEAD", nil},
		{"C.2 PATCH matches no rule", []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"}}}, req("PATCH", http.Header{"Origin": {"o"}}), NotAllowed, "PATCH", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []*Policy
			if tt.rules == nil {
				ps = []*Policy{nil}
			} else {
				for _, p := range policies(t, tt.rules...) {
					ps = append(ps, p)
				}
			}
			for _, p := range ps {
				for _, d := range []Decision{p.Actual(tt.req), p.Explain(tt.req).Decision} {
					if d.Outcome() != tt.outcome || d.Method() != tt.method {
						t.Errorf("outcome %v method %q, want %v %q", d.Outcome(), d.Method(), tt.outcome, tt.method)
					}
					h := written(d)
					if len(h) == 0 {
						h = nil
					}
					if !reflect.DeepEqual(h, tt.headers) {
						t.Errorf("headers %v\nwant %v", h, tt.headers)
					}
				}
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	h := http.Header{
		"Origin":                         {"https://a", "https://b"},
		"Access-Control-Request-Method":  {"PUT", "GET"},
		"Access-Control-Request-Headers": {"a", "b"},
	}
	r := NewRequest("OPTIONS", h)
	want := Request{Origin: "https://a", Method: "OPTIONS", RequestMethod: "PUT", HasRequestMethod: true, RequestHeaders: []string{"a", "b"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v", r)
	}
	r = NewRequest("GET", http.Header{"Access-Control-Request-Method": {}, "Access-Control-Request-Headers": {}})
	if r.HasRequestMethod || r.RequestHeaders != nil || r.Origin != "" {
		t.Errorf("empty header lists must read as absent: %+v", r)
	}
	r = NewRequest("GET", http.Header{"Access-Control-Request-Method": {""}})
	if !r.HasRequestMethod || r.RequestMethod != "" {
		t.Errorf("an empty ACRM is present: %+v", r)
	}
}

func TestExplain(t *testing.T) {
	p := mustPolicy(t,
		Rule{ID: "wrong-origin", AllowedOrigins: []string{"https://x"}, AllowedMethods: []string{"PUT"}},
		Rule{ID: "wrong-method", AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET"}},
		Rule{ID: "wrong-header", AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"a"}},
		Rule{ID: "match", AllowedOrigins: []string{"https://*"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"*"}},
		Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"A", "B"}},
	)
	e := p.Explain(preflightReq("https://o.test", "PUT", "a, B"))
	want := []RuleVerdict{
		{Index: 0, ID: "wrong-origin", Reason: ReasonOrigin},
		{Index: 1, ID: "wrong-method", Reason: ReasonMethod},
		{Index: 2, ID: "wrong-header", Reason: ReasonHeader, Header: "B"},
		{Index: 3, ID: "match", Matched: true},
		{Index: 4, Matched: true},
	}
	if !reflect.DeepEqual(e.Rules, want) {
		t.Errorf("got  %+v\nwant %+v", e.Rules, want)
	}
	if e.Decision.Rule() != 3 || !e.Decision.Allowed() {
		t.Errorf("decision: rule %d allowed %v", e.Decision.Rule(), e.Decision.Allowed())
	}
	for _, r := range []Request{preflightReq("", "PUT"), preflightReq("o", "-"), preflightReq("o", "PUT", strings.Repeat(",", MaxRequestHeadersSize+1))} {
		if e := p.Explain(r); e.Rules != nil {
			t.Errorf("%+v: rules consulted before a decision: %+v", r, e.Rules)
		}
	}
	if e := (*Policy)(nil).Explain(preflightReq("o", "PUT")); e.Decision.Outcome() != NotEnabled || e.Rules != nil {
		t.Errorf("nil policy: %+v", e)
	}
}

func TestPolicyConfiguration(t *testing.T) {
	c := &Configuration{Rules: []Rule{
		{ID: "one", AllowedHeaders: []string{"X-A", "x-a", "*"}, AllowedMethods: []string{"PUT", "GET", "PUT"}, AllowedOrigins: []string{"https://a", "", "https://a"}, ExposeHeaders: []string{"", "ETag"}, MaxAgeSeconds: intp(-5)},
		{AllowedMethods: []string{"DELETE"}, AllowedOrigins: []string{"*"}, ExposeHeaders: []string{""}},
		{AllowedMethods: []string{"HEAD"}, AllowedOrigins: []string{"https://a"}, AllowedHeaders: []string{"X-A"}, MaxAgeSeconds: intp(0)},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	orig := c.Marshal()
	p := Compile(c)
	if got := p.Configuration(); !reflect.DeepEqual(got, c) {
		t.Fatalf("got  %#v\nwant %#v", got, c)
	}
	// The policy keeps nothing of c, and gives away nothing of its own.
	c.Rules[0].AllowedOrigins[0] = "changed"
	c.Rules[0].AllowedMethods[0] = "POST"
	*c.Rules[0].MaxAgeSeconds = 9
	got := p.Configuration()
	got.Rules[2].AllowedHeaders[0] = "changed"
	if again := p.Configuration().Marshal(); string(again) != string(orig) {
		t.Errorf("policy changed:\n%s\nwant\n%s", again, orig)
	}
	if p.Len() != 3 || (*Policy)(nil).Len() != 0 || (*Policy)(nil).Configuration() != nil || Compile(nil) != nil {
		t.Error("Len, nil policy or Compile(nil)")
	}
	if d := p.Preflight(preflightReq("https://a", "PUT")); !d.Allowed() || written(d)["Access-Control-Allow-Origin"] != "https://a" {
		t.Errorf("decision after changes to c: %+v", written(d))
	}
}

// TestWriteHeadersOwnsValues: values given to one response are never shared
// with another response or with the policy (jub0bs/cors#14).
func TestWriteHeadersOwnsValues(t *testing.T) {
	p := mustPolicy(t, Rule{AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: intp(10)})
	for _, acrh := range []string{"x-a", strings.Repeat("x", acahInline+1)} {
		d := p.Preflight(preflightReq("https://o.test", "PUT", acrh))
		first := http.Header{}
		d.WriteHeaders(first)
		want := maps.Clone(written(d))
		for k, v := range first {
			v[0] = "mutated"
			first[k] = append(v, "appended")
		}
		if got := written(d); !reflect.DeepEqual(got, want) {
			t.Errorf("a second response saw the first one's changes: %v", got)
		}
		second := http.Header{}
		p.Preflight(preflightReq("https://o.test", "PUT", acrh)).WriteHeaders(second)
		for k, v := range second {
			if len(v) != 1 || v[0] != want[k] {
				t.Errorf("%s = %q, want %q", k, v, want[k])
			}
		}
	}
}

func TestLargePolicyIndex(t *testing.T) {
	// 100 rules: each with a distinct exact origin, a distinct dotted
	// wildcard, and a distinct other-shaped wildcard; the request matches the
	// last rule only, or a * rule appended after it.
	var rules []Rule
	for i := range 99 {
		rules = append(rules, Rule{
			AllowedOrigins: []string{fmt.Sprintf("https://site%d.example.com", i), fmt.Sprintf("https://*.tenant%d.example.com", i), fmt.Sprintf("app%d-*", i)},
			AllowedMethods: []string{"GET"},
		})
	}
	long := "." + strings.Repeat("long.", 30) + "example"
	rules = append(rules, Rule{AllowedOrigins: []string{"https://*.last.example.com", "https://*" + long}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"x-amz-*"}})
	p := mustPolicy(t, rules...)
	if p.index == nil {
		t.Fatal("100-rule policy is not indexed")
	}
	if _, ok := p.index.dotted[long]; ok || len(p.index.dotted) != 100 {
		t.Fatalf("a suffix over maxDottedKey was indexed (%d dotted keys)", len(p.index.dotted))
	}
	tests := []struct {
		origin, method, acrh string
		rule                 int
		reason               Reason
	}{
		{"https://a.last.example.com", "PUT", "x-amz-date", 99, ReasonNone},
		{"https://a" + long, "PUT", "", 99, ReasonNone},
		{"https://a" + long[1:], "PUT", "", -1, ReasonOrigin},
		{"https://site42.example.com", "GET", "", 42, ReasonNone},
		{"https://x.y.tenant7.example.com", "GET", "", 7, ReasonNone},
		{"app13-anything", "GET", "", 13, ReasonNone},
		{"https://site42.example.com", "GET", "x-amz-date", -1, ReasonHeader},
		{"https://site42.example.com", "PUT", "", -1, ReasonMethod},
		{"https://last.example.com", "PUT", "", -1, ReasonOrigin},
		{"https://a.last.example.com.evil", "PUT", "", -1, ReasonOrigin},
		{"https://a.tenant7.example.com/", "GET", "", -1, ReasonOrigin},
	}
	for _, tt := range tests {
		r := preflightReq(tt.origin, tt.method)
		if tt.acrh != "" {
			r = preflightReq(tt.origin, tt.method, tt.acrh)
		}
		d := p.Preflight(r)
		if d.Rule() != tt.rule || d.Reason() != tt.reason {
			t.Errorf("%s %s %q: rule %d reason %v, want %d %v", tt.origin, tt.method, tt.acrh, d.Rule(), d.Reason(), tt.rule, tt.reason)
		}
	}
}

func TestCompileOversizedPolicy(t *testing.T) {
	// More rules than a ruleSet holds (invalid, but Compile must cope):
	// scanned, not indexed, first-match among the rules a ruleSet holds, and
	// the rules past them are never consulted, without a panic.
	rules := make([]Rule, ruleSetCap+10)
	for i := range rules {
		rules[i] = Rule{AllowedOrigins: []string{fmt.Sprintf("o%d", i)}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"x-*"}}
	}
	p := Compile(&Configuration{Rules: rules})
	if p.index != nil {
		t.Fatal("oversized policy indexed")
	}
	if d := p.Preflight(preflightReq(fmt.Sprintf("o%d", ruleSetCap-1), "GET", "x-a")); d.Rule() != ruleSetCap-1 {
		t.Errorf("rule %d", d.Rule())
	}
	r := preflightReq(fmt.Sprintf("o%d", ruleSetCap+5), "GET", "x-a")
	if d := p.Preflight(r); d.Allowed() {
		t.Errorf("rule %d past the cap was consulted", d.Rule())
	}
	if e := p.Explain(r); len(e.Rules) != ruleSetCap {
		t.Errorf("%d verdicts", len(e.Rules))
	}
	if got := p.Configuration(); len(got.Rules) != len(rules) {
		t.Errorf("Configuration() has %d rules", len(got.Rules))
	}
}

// TestConcurrentUse: a policy is shared by every request of its bucket; run
// under -race, this checks that evaluation only reads it.
func TestConcurrentUse(t *testing.T) {
	p := mustPolicy(t, withFillers(Rule{AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"x-amz-*"}, ExposeHeaders: []string{"ETag"}})...)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				origin := fmt.Sprintf("https://g%d-%d.example.com", g, i)
				d := p.Preflight(preflightReq(origin, "PUT", "X-Amz-Date,x-amz-content-sha256"))
				h := written(d)
				if h["Access-Control-Allow-Origin"] != origin || h["Access-Control-Allow-Headers"] != "x-amz-date, x-amz-content-sha256" {
					t.Errorf("%s: %v", origin, h)
					return
				}
				_ = p.Explain(preflightReq(origin, "GET"))
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// SameHeaders must say exactly whether two decisions of one request write
// the same headers: checked against the headers written, for every pair of
// single-rule policies below and requests that each allows or refuses.
func TestSameHeaders(t *testing.T) {
	base := Rule{AllowedOrigins: []string{"https://o.test"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"}}
	vary := func(change func(*Rule)) Rule {
		r := base
		r.AllowedOrigins = append([]string(nil), base.AllowedOrigins...)
		change(&r)
		return r
	}
	rules := map[string]Rule{
		"base":           base,
		"same values":    vary(func(r *Rule) { r.ID = "other id"; r.AllowedOrigins = []string{"https://*.test"} }),
		"any origin":     vary(func(r *Rule) { r.AllowedOrigins = []string{"*"} }),
		"other methods":  vary(func(r *Rule) { r.AllowedMethods = []string{"PUT", "GET"} }),
		"exposes ETag":   vary(func(r *Rule) { r.ExposeHeaders = []string{"ETag"} }),
		"max age":        vary(func(r *Rule) { r.MaxAgeSeconds = intp(600) }),
		"another origin": vary(func(r *Rule) { r.AllowedOrigins = []string{"https://p.test"} }),
		"named headers":  vary(func(r *Rule) { r.AllowedHeaders = []string{"content-type"} }),
	}
	reqs := []Request{
		preflightReq("https://o.test", "PUT", "content-type"),
		preflightReq("https://o.test", "PUT", "x-amz-date"),
		preflightReq("https://o.test", "GET"),
		NewRequest(http.MethodGet, http.Header{"Origin": {"https://o.test"}}),
		preflightReq("", "GET"),
	}
	compared := map[bool]int{}
	for an, a := range rules {
		for bn, b := range rules {
			pa, pb := mustPolicy(t, a), mustPolicy(t, b)
			for _, req := range reqs {
				da, db := pa.Preflight(req), pb.Preflight(req)
				if req.Method != http.MethodOptions {
					da, db = pa.Actual(req), pb.Actual(req)
				}
				want := reflect.DeepEqual(written(da), written(db))
				if got := da.SameHeaders(db); got != want {
					t.Errorf("%s vs %s, %+v: SameHeaders %v, the written headers say %v", an, bn, req, got, want)
				}
				compared[want]++
			}
		}
	}
	if compared[true] == 0 || compared[false] == 0 {
		t.Fatalf("the fixture compared only one kind of pair: %v", compared)
	}
	// A nil policy refuses, as a policy whose rules match nothing does.
	req := preflightReq("https://x.test", "GET")
	if !(*Policy)(nil).Preflight(req).SameHeaders(mustPolicy(t, base).Preflight(req)) {
		t.Error("two refusals differ")
	}
}
