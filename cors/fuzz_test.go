package cors

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/internal/xmltext"
)

// FuzzParse: Parse never panics, fails only with S3's codes, and whatever it
// accepts validates, compiles, and survives Parse -> Marshal -> Parse and
// Compile -> Configuration unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(doc(okRule)))
	f.Add([]byte(doc(corsRule("<ID>x</ID><AllowedHeader>X-Amz-*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://*.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>-1</MaxAgeSeconds>"))))
	f.Add([]byte("<CORSConfiguration><CORSRule><AllowedOrigin><![CDATA[a&b]]></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T", err)
			}
			switch e.Code {
			case CodeMalformedXML, CodeInvalidRequest, CodeMaxMessageLengthExceeded:
			default:
				t.Fatalf("unknown code %q", e.Code)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed configuration does not validate: %v", err)
		}
		out := c.Marshal()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the configuration:\n%#v\n%#v", c, back)
		}
		if got := Compile(c).Configuration(); !reflect.DeepEqual(got, c) {
			t.Fatalf("Compile -> Configuration changed it:\n%#v\n%#v", c, got)
		}
	})
}

// FuzzRequestHeaders: the bounded Access-Control-Request-Headers parser agrees
// with strings.Split on the names, the size cap, the ACAH value, and whether a
// rule allows the names. Lines are separated by "\n" in the input; allowed
// header patterns by "|".
func FuzzRequestHeaders(f *testing.F) {
	f.Add("content-type", "Content-Type")
	f.Add("X-Amz-Date, x-amz-content-sha256,,\t", "x-amz-*")
	f.Add(" a ,b\n\nc,", "A|B|c|d|e|f|g|h|i|j")
	f.Add(strings.Repeat(",", 100), "*")
	f.Fuzz(func(t *testing.T, acrh, allowed string) {
		lines := strings.Split(acrh, "\n")
		var names []string
		joined := strings.Join(lines, ",")
		for _, item := range strings.Split(joined, ",") {
			if item = strings.Trim(item, " \t"); item != "" {
				names = append(names, item)
			}
		}
		tooLarge, named := scanRequestHeaders(lines)
		if tooLarge != (len(joined) > MaxRequestHeadersSize) {
			t.Fatalf("tooLarge=%v for %d bytes", tooLarge, len(joined))
		}
		if tooLarge {
			return
		}
		if named != (len(names) > 0) {
			t.Fatalf("named=%v, names %q", named, names)
		}
		var got []string
		for _, s := range lines {
			for s != "" {
				var n string
				if n, s = cutName(s); n != "" {
					got = append(got, n)
				}
			}
		}
		if !reflect.DeepEqual(got, names) {
			t.Fatalf("names %q, want %q", got, names)
		}
		lower := make([]string, len(names))
		for i, n := range names {
			lower[i] = naiveLower(n)
		}
		acah := string(appendACAH(nil, lines))
		want := strings.Join(lower, ", ")
		if acah != want || acahCap(lines) < len(want) {
			t.Fatalf("ACAH %q (bound %d), want %q", acah, acahCap(lines), want)
		}
		if line, ok := echoable(lines); ok && line != want {
			t.Fatalf("echoed %q as the ACAH value, want %q", line, want)
		}

		r := Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}
		for _, h := range strings.Split(allowed, "|") {
			if strings.Count(h, "*") <= 1 && xmltext.Valid(h) {
				r.AllowedHeaders = append(r.AllowedHeaders, h)
			}
		}
		p := Compile(&Configuration{Rules: []Rule{r}})
		ok, denied := p.ruleAllowsHeaders(0, lines)
		wantDenied := ""
		for _, n := range names {
			if !naiveHeaderAllowed(r, n) {
				wantDenied = n
				break
			}
		}
		if ok != (wantDenied == "") || denied != wantDenied {
			t.Fatalf("ruleAllowsHeaders = %v %q, want denied %q (rule %q)", ok, denied, wantDenied, r.AllowedHeaders)
		}
	})
}

// FuzzHeaderIndex: with many rules whose patterns the fuzzer writes (rules
// separated by ";", patterns by "|", each rule allowing one method), a
// preflight is decided like the naive evaluator decides it: the rule, the
// reason, the denied header and the headers written.
func FuzzHeaderIndex(f *testing.F) {
	f.Add("ab*ba|a*|x-amz-*;*b|ab;A*B|-*-", "aba,AB,x-amz-date", true)
	f.Add("a*a|aa*|*aa;a;*", "a,aa,aaa", false)
	f.Add("content-*|*-type;*-id|x-*-id", "Content-Type,x-request-id,x-id", true)
	f.Add("ab*|b*a;*-ab|abc", "abcab,ab-ab,BAAC,cb-a", true)
	f.Fuzz(func(t *testing.T, rules, acrh string, put bool) {
		c := &Configuration{}
		for i, spec := range strings.Split(rules, ";") {
			if i == MaxRules {
				break
			}
			r := Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{[]string{"GET", "PUT"}[i%2]}}
			for _, h := range strings.Split(spec, "|") {
				if strings.Count(h, "*") <= 1 && xmltext.Valid(h) {
					r.AllowedHeaders = append(r.AllowedHeaders, h)
				}
			}
			c.Rules = append(c.Rules, r)
		}
		if len(c.Rules) >= 2 && strings.HasPrefix(rules, "ab") {
			// Trees that branch at every byte, so that both have probe
			// tables, under the fuzzer's own patterns.
			for i, s := range denseTexts {
				c.Rules[i%2].AllowedHeaders = append(c.Rules[i%2].AllowedHeaders, []string{s + "*", s}[i/2%2])
				c.Rules[1-i%2].AllowedHeaders = append(c.Rules[1-i%2].AllowedHeaders, "*"+s)
			}
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("invalid configuration: %v", err)
		}
		method := "GET"
		if put {
			method = "PUT"
		}
		req := Request{Method: "OPTIONS", Origin: "https://o.test", RequestMethod: method, HasRequestMethod: true, RequestHeaders: strings.Split(acrh, "\n")}
		if want, got := naiveEvaluate(c, req), engineResult(Compile(c), req); !reflect.DeepEqual(got, want) {
			t.Fatalf("config  %s\nrequest %#v\ngot  %+v\nwant %+v", c.Marshal(), req, got, want)
		}
	})
}

// denseTexts are the strings of one to three bytes over "abc-".
var denseTexts = func() []string {
	var all []string
	var gen func(string)
	gen = func(s string) {
		if s != "" {
			all = append(all, s)
		}
		if len(s) < 3 {
			for _, c := range "abc-" {
				gen(s + string(c))
			}
		}
	}
	gen("")
	return all
}()

// FuzzPolicy: a compiled policy decides like the naive evaluator. The seed
// draws a random configuration; the fuzzer controls the request and one
// origin and header pattern of the first rule.
func FuzzPolicy(f *testing.F) {
	f.Add(uint64(1), "https://a.example.com", "https://*.example.com", "PUT", "x-amz-date", "X-Amz-*", true)
	f.Add(uint64(2), "http://x", "http://x", "GET", "", "", false)
	f.Add(uint64(3), "start12end", "start*end", "get", "a,,b", "a", true)
	f.Fuzz(func(t *testing.T, seed uint64, origin, pattern, acrm, acrh, header string, preflight bool) {
		g := randomCase{rand.New(rand.NewPCG(seed, seed>>32))}
		c := g.config(1 + int(seed%40))
		r0 := &c.Rules[0]
		if strings.Count(pattern, "*") <= 1 && xmltext.Valid(pattern) {
			r0.AllowedOrigins = append([]string{pattern}, r0.AllowedOrigins...)
		}
		if strings.Count(header, "*") <= 1 && xmltext.Valid(header) {
			r0.AllowedHeaders = append(r0.AllowedHeaders, header)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("invalid configuration: %v", err)
		}
		req := Request{Method: "GET", Origin: origin, RequestMethod: acrm, HasRequestMethod: acrm != "-"}
		if preflight {
			req.Method = "OPTIONS"
		}
		if acrh != "" {
			req.RequestHeaders = strings.Split(acrh, "\n")
		}
		p := Compile(c)
		if want, got := naiveEvaluate(c, req), engineResult(p, req); !reflect.DeepEqual(got, want) {
			t.Fatalf("config  %s\nrequest %#v\ngot  %+v\nwant %+v", c.Marshal(), req, got, want)
		}
	})
}

// FuzzLowerInPlace: the eight-bytes-at-a-time lowercasing agrees with a byte
// loop on any input, ASCII or not.
func FuzzLowerInPlace(f *testing.F) {
	f.Add([]byte("Content-Type, X-AMZ-Date"))
	f.Add([]byte("@AZ[`az{\x80\xc1\xda\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := []byte(naiveLower(string(b)))
		lowerInPlace(b)
		if string(b) != string(want) {
			t.Fatalf("got %q, want %q", b, want)
		}
	})
}
