package cors

import (
	"math/rand/v2"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file holds a deliberately naive reading of spec B.1-B.4 and C.1-C.2:
// rules scanned in order, lists split with strings.Split, patterns turned into
// regular expressions. It shares no code with the engine, which must agree
// with it on every request.

type naiveResult struct {
	Outcome  Outcome
	Reason   Reason
	Rule     int
	Denied   string
	Method   string
	Headers  map[string]string // nil when no header is written
	Verdicts []RuleVerdict     // nil when no rule is consulted
}

func naiveLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// naivePattern compiles a one-"*" pattern: "*" is (?s:.*), the rest literal.
func naivePattern(p string) *regexp.Regexp {
	if re, ok := naivePatterns[p]; ok {
		return re
	}
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re := regexp.MustCompile(`^` + strings.Join(parts, `(?s:.*)`) + `$`)
	naivePatterns[p] = re
	return re
}

var naivePatterns = map[string]*regexp.Regexp{}

func naiveOriginAllowed(r Rule, origin string) bool {
	for _, p := range r.AllowedOrigins {
		if p == "*" || naivePattern(p).MatchString(origin) {
			return true
		}
	}
	return false
}

func naiveHeaderAllowed(r Rule, name string) bool {
	for _, p := range r.AllowedHeaders {
		if naivePattern(naiveLower(p)).MatchString(naiveLower(name)) {
			return true
		}
	}
	return false
}

func naiveEvaluate(c *Configuration, req Request) naiveResult {
	res := naiveResult{Rule: -1}
	preflight := req.Method == http.MethodOptions
	method := req.Method
	if req.HasRequestMethod {
		method = req.RequestMethod
	}
	res.Method = method
	if preflight && !req.HasRequestMethod {
		res.Method = "OPTIONS"
	}
	if req.Origin == "" {
		res.Outcome = MissingOrigin
		return res
	}
	if c == nil {
		res.Outcome = NotEnabled
		return res
	}
	valid := []string{"GET", "PUT", "HEAD", "POST", "DELETE"}
	if preflight && (!req.HasRequestMethod || !slices.Contains(valid, method)) {
		res.Outcome = InvalidRequestMethod
		return res
	}
	joined := strings.Join(req.RequestHeaders, ",")
	if len(joined) > MaxRequestHeadersSize {
		res.Outcome, res.Reason = NotAllowed, ReasonHeadersTooLarge
		return res
	}
	var names []string
	for _, item := range strings.Split(joined, ",") {
		if item = strings.Trim(item, " \t"); item != "" {
			names = append(names, item)
		}
	}
	res.Outcome, res.Reason = NotAllowed, ReasonOrigin
	for i, r := range c.Rules {
		v := RuleVerdict{Index: i, ID: r.ID}
		switch {
		case !naiveOriginAllowed(r, req.Origin):
			v.Reason = ReasonOrigin
		case !slices.Contains(r.AllowedMethods, method):
			v.Reason = ReasonMethod
		default:
			for _, n := range names {
				if !naiveHeaderAllowed(r, n) {
					v.Reason, v.Header = ReasonHeader, n
					break
				}
			}
			v.Matched = v.Reason == ReasonNone
		}
		res.Verdicts = append(res.Verdicts, v)
		if res.Outcome == Allowed {
			continue
		}
		if v.Matched {
			res.Outcome, res.Reason, res.Rule, res.Denied = Allowed, ReasonNone, i, ""
			res.Headers = naiveHeaders(r, req.Origin, names)
			continue
		}
		if v.Reason > res.Reason {
			res.Reason, res.Denied = v.Reason, v.Header
		}
	}
	return res
}

func naiveHeaders(r Rule, origin string, names []string) map[string]string {
	h := map[string]string{
		"Access-Control-Allow-Origin":  origin,
		"Access-Control-Allow-Methods": strings.Join(r.AllowedMethods, ", "),
		"Vary":                         "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
	}
	if slices.Contains(r.AllowedOrigins, "*") {
		h["Access-Control-Allow-Origin"] = "*"
	} else {
		h["Access-Control-Allow-Credentials"] = "true"
	}
	if len(names) > 0 {
		lower := make([]string, len(names))
		for i, n := range names {
			lower[i] = naiveLower(n)
		}
		h["Access-Control-Allow-Headers"] = strings.Join(lower, ", ")
	}
	if len(r.ExposeHeaders) > 0 {
		h["Access-Control-Expose-Headers"] = strings.Join(r.ExposeHeaders, ", ")
	}
	if r.MaxAgeSeconds != nil {
		h["Access-Control-Max-Age"] = strconv.Itoa(*r.MaxAgeSeconds)
	}
	return h
}

// engineResult runs the compiled policy the way the handler does.
func engineResult(p *Policy, req Request) naiveResult {
	var d Decision
	if req.Method == http.MethodOptions {
		d = p.Preflight(req)
	} else {
		d = p.Actual(req)
	}
	res := naiveResult{Outcome: d.Outcome(), Reason: d.Reason(), Rule: d.Rule(), Denied: d.DeniedHeader(), Method: d.Method()}
	if h := written(d); len(h) > 0 {
		res.Headers = h
	}
	e := p.Explain(req)
	if !reflect.DeepEqual(e.Decision, d) {
		res.Rule = -100 // Explain must decide alike; make the comparison fail
	}
	res.Verdicts = e.Rules
	return res
}

// randomCase draws a configuration and a request from small alphabets, so
// that patterns and requests collide often.
type randomCase struct{ r *rand.Rand }

func (g randomCase) pick(s []string) string { return s[g.r.IntN(len(s))] }

var originPieces = []string{"http://", "https://", "a", "b", ".", "ex", ".com", ":80", "/", "A"}

func (g randomCase) text(pieces []string, maxN int) string {
	var b strings.Builder
	for range g.r.IntN(maxN + 1) {
		b.WriteString(g.pick(pieces))
	}
	return b.String()
}

func (g randomCase) originPattern() string {
	switch g.r.IntN(10) {
	case 0:
		return "*"
	case 1:
		return ""
	case 2, 3, 4:
		return g.text(originPieces, 4)
	}
	s := g.text(originPieces, 4)
	i := g.r.IntN(len(s) + 1)
	return s[:i] + "*" + s[i:]
}

var samplePatterns = []string{"*", "x-amz-*", "X-Amz-Date", "content-type", "Content-*", "*-id", "a", "A*B", "x-*-id", "Content-Length", "b",
	"c", "d", "e", "f", "g", "h", "i", "j", "k", "AB", "abc", "x-request-id", "z"}
var requestNames = []string{"x-amz-date", "X-AMZ-DATE", "content-type", "Content-Length", "a", "ab", "AxB", "x-request-id", "", " ", "\t", "b",
	"C", "j", "Z", "abc", "y"}
var allMethods = []string{"GET", "PUT", "HEAD", "POST", "DELETE"}

// overlapPieces make header patterns and names whose prefixes and suffixes
// overlap, so that the length condition of spec B.3 (a name must be as long
// as the pattern's prefix and suffix together) decides many matches.
var overlapPieces = []string{"a", "b", "ab", "ba", "-", "A", "aa", "B-"}

func (g randomCase) overlapPattern() string {
	s := g.text(overlapPieces, 4)
	if g.r.IntN(4) == 0 {
		return s
	}
	i := g.r.IntN(len(s) + 1)
	return s[:i] + "*" + s[i:]
}

func (g randomCase) overlapName() string {
	return g.pick(overlapPieces) + g.text(overlapPieces, 5)
}

func (g randomCase) config(maxRules int) *Configuration {
	c := &Configuration{Rules: make([]Rule, 1+g.r.IntN(maxRules))}
	for i := range c.Rules {
		r := &c.Rules[i]
		if g.r.IntN(3) == 0 {
			r.ID = "r" + strconv.Itoa(i)
		}
		for range 1 + g.r.IntN(3) {
			r.AllowedOrigins = append(r.AllowedOrigins, g.originPattern())
		}
		for range 1 + g.r.IntN(3) {
			r.AllowedMethods = append(r.AllowedMethods, g.pick(allMethods))
		}
		n := g.r.IntN(4)
		if g.r.IntN(8) == 0 {
			n = 16
		}
		for range n {
			r.AllowedHeaders = append(r.AllowedHeaders, g.pick(samplePatterns))
		}
		if g.r.IntN(4) == 0 {
			// Many patterns with overlapping prefixes and suffixes, for
			// the header index.
			for range g.r.IntN(20) {
				r.AllowedHeaders = append(r.AllowedHeaders, g.overlapPattern())
			}
		}
		for range g.r.IntN(3) {
			r.ExposeHeaders = append(r.ExposeHeaders, g.pick([]string{"ETag", "x-amz-request-id", ""}))
		}
		if g.r.IntN(2) == 0 {
			r.MaxAgeSeconds = intp(g.r.IntN(7200) - 100)
		}
	}
	return c
}

func (g randomCase) request(c *Configuration) Request {
	req := Request{Method: g.pick([]string{"OPTIONS", "OPTIONS", "GET", "PUT", "HEAD", "POST", "DELETE", "PATCH"})}
	switch g.r.IntN(4) {
	case 0:
		req.Origin = g.text(originPieces, 5)
	default:
		// Fill a configured pattern's "*" so that matches are common.
		rule := c.Rules[g.r.IntN(len(c.Rules))]
		p := rule.AllowedOrigins[g.r.IntN(len(rule.AllowedOrigins))]
		req.Origin = strings.Replace(p, "*", g.text(originPieces, 2), 1)
	}
	if g.r.IntN(5) > 0 {
		req.HasRequestMethod = true
		req.RequestMethod = g.pick([]string{"GET", "PUT", "HEAD", "POST", "DELETE", "GET", "PUT", "get", "PATCH", ""})
	}
	overlap := g.r.IntN(3) == 0
	for range g.r.IntN(3) {
		var items []string
		for range g.r.IntN(4) {
			if overlap {
				items = append(items, g.overlapName())
			} else {
				items = append(items, g.pick(requestNames))
			}
		}
		req.RequestHeaders = append(req.RequestHeaders, strings.Join(items, g.pick([]string{",", ", ", " ,\t"})))
	}
	if g.r.IntN(50) == 0 {
		req.RequestHeaders = append(req.RequestHeaders, strings.Repeat("a,", MaxRequestHeadersSize/2))
	}
	return req
}

func TestAgainstNaiveEvaluator(t *testing.T) {
	g := randomCase{rand.New(rand.NewPCG(1, 2))}
	indexed := 0
	seen := map[string]int{}
	for n := range 4000 {
		maxRules := 3
		if n%2 == 0 {
			maxRules = 40
		}
		if n%100 == 0 {
			maxRules = 100
		}
		c := g.config(maxRules)
		if err := c.Validate(); err != nil {
			t.Fatalf("generator made an invalid configuration: %v", err)
		}
		p := Compile(c)
		if p.index != nil {
			indexed++
		}
		if got := p.Configuration(); !reflect.DeepEqual(got, c) {
			t.Fatalf("Configuration() = %#v, want %#v", got, c)
		}
		for range 8 {
			req := g.request(c)
			want, got := naiveEvaluate(c, req), engineResult(p, req)
			seen[want.Outcome.String()+"/"+want.Reason.String()]++
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("case %d\nconfig  %s\nrequest %#v\ngot  %+v\nwant %+v", n, c.Marshal(), req, got, want)
			}
		}
	}
	if indexed < 1000 {
		t.Errorf("only %d indexed policies were compared", indexed)
	}
	// Every path must be exercised often enough to matter.
	for _, k := range []string{"Allowed/none", "NotAllowed/origin", "NotAllowed/method", "NotAllowed/header", "NotAllowed/headers_too_large", "MissingOrigin/none", "InvalidRequestMethod/none"} {
		if seen[k] < 100 {
			t.Errorf("%s: %d cases", k, seen[k])
		}
	}
	t.Logf("outcomes: %v", seen)
}

func TestNaiveEvaluatorNilPolicy(t *testing.T) {
	g := randomCase{rand.New(rand.NewPCG(3, 4))}
	for range 200 {
		req := g.request(g.config(1))
		want, got := naiveEvaluate(nil, req), engineResult(nil, req)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("request %#v\ngot  %+v\nwant %+v", req, got, want)
		}
	}
}

// TestHeaderIndexAgainstNaive compares the header index with the naive
// matcher rule by rule: policies of up to 100 rules with many overlapping
// one-"*" patterns, names drawn from the same pieces, and random sets of
// wanted rules (the index may stop once it has found them all).
func TestHeaderIndexAgainstNaive(t *testing.T) {
	g := randomCase{rand.New(rand.NewPCG(5, 6))}
	matches := 0
	for n := range 600 {
		c := &Configuration{Rules: make([]Rule, 1+g.r.IntN(100))}
		for i := range c.Rules {
			r := &c.Rules[i]
			r.AllowedOrigins, r.AllowedMethods = []string{"*"}, []string{"GET"}
			for range g.r.IntN(24) {
				r.AllowedHeaders = append(r.AllowedHeaders, g.overlapPattern())
			}
			if g.r.IntN(50) == 0 {
				r.AllowedHeaders = append(r.AllowedHeaders, "*")
			}
		}
		p := Compile(c)
		for range 20 {
			name := g.overlapName()
			var want, truth ruleSet
			for i, r := range c.Rules {
				if g.r.IntN(3) > 0 {
					want.add(i)
				}
				if naiveHeaderAllowed(r, name) {
					truth.add(i)
				}
			}
			got := p.anyHeader.or(headerAllowing(p, name, want))
			for i := range c.Rules {
				if want.has(i) && got.has(i) != truth.has(i) {
					t.Fatalf("case %d: rule %d %q allows %q: index %v, naive %v", n, i, c.Rules[i].AllowedHeaders, name, got.has(i), truth.has(i))
				}
				if got.has(i) && !truth.has(i) {
					t.Fatalf("case %d: index says rule %d %q allows %q", n, i, c.Rules[i].AllowedHeaders, name)
				}
			}
			if !truth.empty() {
				matches++
			}
		}
	}
	if matches < 3000 {
		t.Errorf("only %d names matched a rule", matches)
	}
}

// headerAllowing returns rules of p that allow name, at least those of want
// that do, through the index or the list of few patterns.
func headerAllowing(p *Policy, name string, want ruleSet) ruleSet {
	switch {
	case p.headers.indexed() != nil:
		return p.headers.index.allowing(name, want, new(suffixHits))
	case p.headers != nil:
		return p.headers.allowing(name, want)
	}
	return ruleSet{}
}
