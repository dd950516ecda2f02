package cors

import (
	"encoding/xml"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Messages copied byte for byte from the spec (A.3).
const (
	specMalformed   = "The XML you provided was not well-formed or did not validate against our published schema"
	specTooManyRule = "The number of CORS rules should not exceed allowed limit of 100 rules."
	specTooBig      = "Your request was too big."
)

func doc(rules ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</CORSConfiguration>`
}

func corsRule(elems ...string) string {
	return "<CORSRule>" + strings.Join(elems, "") + "</CORSRule>"
}

const okRule = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"

func TestParseErrors(t *testing.T) {
	manyRules := func(n int) string { return doc(strings.Repeat(okRule, n)) }
	tests := []struct {
		name string
		doc  string
		code string
		msg  string
	}{
		{"A.3 V1 zero rules", `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`, CodeMalformedXML, specMalformed},
		{"A.3 V1 zero rules with whitespace", doc("\n  "), CodeMalformedXML, specMalformed},
		{"A.3 V2 empty body", "", CodeMalformedXML, specMalformed},
		{"A.3 V2 not XML", "hello", CodeMalformedXML, specMalformed},
		{"A.3 V2 unclosed root", `<CORSConfiguration>` + okRule, CodeMalformedXML, specMalformed},
		{"A.3 V2 mismatched tags", `<CORSConfiguration><CORSRule></CORSConfiguration></CORSRule>`, CodeMalformedXML, specMalformed},
		{"A.3 V2 two roots", doc(okRule) + doc(okRule), CodeMalformedXML, specMalformed},
		{"A.3 V2 text after root", doc(okRule) + "x", CodeMalformedXML, specMalformed},
		{"A.3 V2 text before root", "x" + doc(okRule), CodeMalformedXML, specMalformed},
		{"A.3 V2 declaration not first", "\n" + doc(okRule), CodeMalformedXML, specMalformed},
		{"A.3 V2 doctype", `<!DOCTYPE x>` + doc(okRule), CodeMalformedXML, specMalformed},
		{"A.3 V2 undefined entity", doc(corsRule("<AllowedOrigin>&foo;</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V2 duplicate attribute", doc(`<CORSRule a="1" a="2"><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`), CodeMalformedXML, specMalformed},
		{"A.3 V2 other encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><CORSConfiguration>` + okRule + `</CORSConfiguration>`, CodeMalformedXML, specMalformed},
		{"A.3 V3 empty rule", doc("<CORSRule></CORSRule>"), CodeMalformedXML, specMalformed},
		{"A.3 V4 no AllowedOrigin", doc(corsRule("<AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V5 no AllowedMethod", doc(corsRule("<AllowedOrigin>*</AllowedOrigin>")), CodeMalformedXML, specMalformed},
		{"A.3 V6 unsupported method", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>MYMETHOD</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD"},
		{"A.3 V7 empty method", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod></AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is "},
		{"A.3 V8 lowercase method [OPEN: refused]", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is get"},
		{"A.3 V8 OPTIONS", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>OPTIONS</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS"},
		{"A.3 V8 PATCH", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PATCH</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
		{"A.3 V6 method with spaces kept verbatim", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod> GET</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is  GET"},
		{"A.3 V9 two wildcards in origin", doc(corsRule("<AllowedOrigin>*example*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			CodeInvalidRequest, `AllowedOrigin "*example*.com" can not have more than one wildcard.`},
		{"A.3 V10 two wildcards in header", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader>")),
			CodeInvalidRequest, `AllowedHeader "x-*-*" can not have more than one wildcard.`},
		{"A.3 V11 wildcard in ExposeHeader", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>x-amz-meta-*</ExposeHeader>")),
			CodeInvalidRequest, `ExposeHeader "x-amz-meta-*" contains wildcard. We currently do not support wildcard for ExposeHeader.`},
		{"A.3 V11 lone * ExposeHeader", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader>")),
			CodeInvalidRequest, `ExposeHeader "*" contains wildcard. We currently do not support wildcard for ExposeHeader.`},
		{"A.3 V12 101 rules", manyRules(101), CodeInvalidRequest, specTooManyRule},
		{"A.3 V13 MaxAgeSeconds not an integer", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>a</MaxAgeSeconds>")), CodeMalformedXML, specMalformed},
		{"A.3 V13 MaxAgeSeconds decimal", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>1.5</MaxAgeSeconds>")), CodeMalformedXML, specMalformed},
		{"A.3 V13 MaxAgeSeconds empty", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds/>")), CodeMalformedXML, specMalformed},
		{"A.3 V13 MaxAgeSeconds over int32", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>2147483648</MaxAgeSeconds>")), CodeMalformedXML, specMalformed},
		{"A.3 V16 ID of 256 characters", doc(corsRule("<ID>" + strings.Repeat("é", 256) + "</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V17 body over 64 KB [OPEN: MaxMessageLengthExceeded]", doc(okRule) + strings.Repeat(" ", MaxDocumentSize), CodeMaxMessageLengthExceeded, specTooBig},
		{"A.3 V18 unknown element in rule", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeaders>x</AllowedHeaders>")), CodeMalformedXML, specMalformed},
		{"A.3 V18 unknown element at root", doc(okRule, "<Foo/>"), CodeMalformedXML, specMalformed},
		{"A.3 V18 wrong root", `<CORSConfig>` + okRule + `</CORSConfig>`, CodeMalformedXML, specMalformed},
		{"A.3 V18 element names are case-sensitive", doc(corsRule("<allowedorigin>*</allowedorigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V18 element inside a value", doc(corsRule("<AllowedOrigin><b>x</b></AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V18 text inside CORSRule", doc(corsRule("x<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V18 foreign namespace", `<CORSConfiguration xmlns="urn:other">` + okRule + `</CORSConfiguration>`, CodeMalformedXML, specMalformed},
		{"A.3 V18 undeclared prefix", doc(corsRule("<x:AllowedOrigin>*</x:AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 duplicate ID", doc(corsRule("<ID>a</ID><ID>b</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 duplicate MaxAgeSeconds", doc(corsRule("<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 V19 ExposeHeader with a space [OPEN: refused]", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>x y</ExposeHeader>")),
			CodeInvalidRequest, `AllowedHeader "x y" contains invalid character.`},
		{"A.3 V19 ExposeHeader with a colon", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag:</ExposeHeader>")),
			CodeInvalidRequest, `AllowedHeader "ETag:" contains invalid character.`},
		// Order (A.3): well-formedness before the rule count, the count
		// before the rules, rules in document order, and in a rule: origins,
		// origin wildcards, methods, method values, header and expose checks.
		{"A.3 order: schema error beats rule count", doc(strings.Repeat(okRule, 101), corsRule("<Bad/>")), CodeMalformedXML, specMalformed},
		{"A.3 order: ID length beats rule count", doc(strings.Repeat(okRule, 100), corsRule("<ID>"+strings.Repeat("i", 256)+"</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 order: rule count beats rule errors", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>BAD</AllowedMethod>"), strings.Repeat(okRule, 100)), CodeInvalidRequest, specTooManyRule},
		{"A.3 order: first invalid rule reported", doc(okRule,
			corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>FIRST</AllowedMethod>"),
			corsRule("<AllowedOrigin>**</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is FIRST"},
		{"A.3 order: missing origin before method", doc(corsRule("<AllowedMethod>BAD</AllowedMethod>")), CodeMalformedXML, specMalformed},
		{"A.3 order: origin wildcard before missing method", doc(corsRule("<AllowedOrigin>a**</AllowedOrigin>")),
			CodeInvalidRequest, `AllowedOrigin "a**" can not have more than one wildcard.`},
		{"A.3 order: missing method before header wildcards", doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedHeader>**</AllowedHeader>")), CodeMalformedXML, specMalformed},
		{"A.3 order: method before header wildcard", doc(corsRule("<AllowedHeader>**</AllowedHeader><AllowedOrigin>*</AllowedOrigin><AllowedMethod>X</AllowedMethod>")),
			CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is X"},
		{"A.3 order: header wildcard before expose", doc(corsRule("<ExposeHeader>*</ExposeHeader><AllowedHeader>**</AllowedHeader><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			CodeInvalidRequest, `AllowedHeader "**" can not have more than one wildcard.`},
		{"A.3 order: origins checked in order", doc(corsRule("<AllowedOrigin>a</AllowedOrigin><AllowedOrigin>**1</AllowedOrigin><AllowedOrigin>**2</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			CodeInvalidRequest, `AllowedOrigin "**1" can not have more than one wildcard.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted the document: %+v", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if e.Code != tt.code || e.Message != tt.msg {
				t.Errorf("got %q %q\nwant %q %q", e.Code, e.Message, tt.code, tt.msg)
			}
			if e.StatusCode() != 400 {
				t.Errorf("status %d, want 400", e.StatusCode())
			}
		})
	}
}

func intp(n int) *int { return &n }

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Rule
	}{
		{
			"A.2 SDK alphabetical order with namespace",
			doc(corsRule("<AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://localhost:4200</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><ID>r1</ID><MaxAgeSeconds>3000</MaxAgeSeconds>")),
			[]Rule{{ID: "r1", AllowedHeaders: []string{"*"}, AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{"https://localhost:4200"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: intp(3000)}},
		},
		{
			"A.2 any element order, no namespace, no declaration",
			"<CORSConfiguration>\n <CORSRule>\n  <MaxAgeSeconds>5</MaxAgeSeconds>\n  <AllowedMethod>PUT</AllowedMethod>\n  <AllowedOrigin>http://a</AllowedOrigin>\n  <AllowedMethod>GET</AllowedMethod>\n  <ID>x</ID>\n  <AllowedOrigin>http://b</AllowedOrigin>\n </CORSRule>\n</CORSConfiguration>\n",
			[]Rule{{ID: "x", AllowedMethods: []string{"PUT", "GET"}, AllowedOrigins: []string{"http://a", "http://b"}, MaxAgeSeconds: intp(5)}},
		},
		{
			"A.2 namespace through a prefix",
			`<s3:CORSConfiguration xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:CORSRule><s3:AllowedOrigin>*</s3:AllowedOrigin><s3:AllowedMethod>GET</s3:AllowedMethod></s3:CORSRule></s3:CORSConfiguration>`,
			[]Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.2 comments, CDATA and a byte order mark",
			"\xef\xbb\xbf<?xml version=\"1.0\"?><!-- c --><CORSConfiguration><CORSRule><!-- c --><AllowedOrigin>a<!-- c -->b<![CDATA[<c>]]></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration><!-- c -->",
			[]Rule{{AllowedOrigins: []string{"ab<c>"}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.2 attributes are ignored",
			`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/" xmlns:x="urn:x" x:a="1"><CORSRule b="2"><AllowedOrigin c="3">*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`,
			[]Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.2 multiple rules in document order",
			doc(corsRule("<AllowedOrigin>1</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), corsRule("<AllowedOrigin>2</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>")),
			[]Rule{{AllowedOrigins: []string{"1"}, AllowedMethods: []string{"GET"}}, {AllowedOrigins: []string{"2"}, AllowedMethods: []string{"PUT"}}},
		},
		{
			"A.3 V14 negative MaxAgeSeconds accepted [OPEN]",
			doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-100</MaxAgeSeconds>")),
			[]Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: intp(-100)}},
		},
		{
			"A.3 MaxAgeSeconds 0 and surrounding space",
			doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds> 0\n</MaxAgeSeconds>")),
			[]Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: intp(0)}},
		},
		{
			"A.3 V15 empty AllowedOrigin accepted",
			doc(corsRule("<AllowedOrigin></AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			[]Rule{{AllowedOrigins: []string{""}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.3 V16 ID of exactly 255 characters",
			doc(corsRule("<ID>" + strings.Repeat("é", 255) + "</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			[]Rule{{ID: strings.Repeat("é", 255), AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.3 V19 AllowedHeader characters are not checked",
			doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x y</AllowedHeader>")),
			[]Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"x y"}}},
		},
		{
			"A.3 V20 * next to specific origins accepted [OPEN]",
			doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedOrigin>https://test.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			[]Rule{{AllowedOrigins: []string{"*", "https://test.com"}, AllowedMethods: []string{"GET"}}},
		},
		{
			"A.3 verbatim: non-URL origins, default ports, mixed case, duplicates, one wildcard",
			doc(corsRule("<AllowedOrigin>localhost</AllowedOrigin><AllowedOrigin>http://test.com:80</AllowedOrigin><AllowedOrigin>*.get</AllowedOrigin><AllowedOrigin>*.get</AllowedOrigin>" +
				"<AllowedMethod>GET</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>DELETE</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod>" +
				"<AllowedHeader>x-AMZ-server-SIDE-encryption</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>x-amz-request-id</ExposeHeader><ExposeHeader>ETag</ExposeHeader>")),
			[]Rule{{
				AllowedOrigins: []string{"localhost", "http://test.com:80", "*.get", "*.get"},
				AllowedMethods: []string{"GET", "GET", "DELETE", "HEAD", "POST"},
				AllowedHeaders: []string{"x-AMZ-server-SIDE-encryption", "x-amz-*"},
				ExposeHeaders:  []string{"x-amz-request-id", "ETag"},
			}},
		},
		{
			"A.2 values keep their white space",
			doc(corsRule("<AllowedOrigin> http://a </AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
			[]Rule{{AllowedOrigins: []string{" http://a "}, AllowedMethods: []string{"GET"}}},
		},
		{"A.3 V12 exactly 100 rules", doc(strings.Repeat(okRule, 100)), nil},
		{"A.3 V17 body of exactly 64 KB", doc(okRule) + strings.Repeat(" ", MaxDocumentSize-len(doc(okRule))), []Rule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.want == nil {
				if len(c.Rules) != 100 {
					t.Fatalf("got %d rules", len(c.Rules))
				}
				return
			}
			if !reflect.DeepEqual(c.Rules, tt.want) {
				t.Errorf("got  %#v\nwant %#v", c.Rules, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() Rule { return Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}} }
	with := func(f func(*Rule)) *Configuration {
		r := valid()
		f(&r)
		return &Configuration{Rules: []Rule{r}}
	}
	tests := []struct {
		name string
		c    *Configuration
		code string // "" when valid
		msg  string
	}{
		{"valid", with(func(*Rule) {}), "", ""},
		{"A.3 V1 nil configuration", nil, CodeMalformedXML, specMalformed},
		{"A.3 V1 no rules", &Configuration{}, CodeMalformedXML, specMalformed},
		{"A.3 V16 ID of 256 characters", with(func(r *Rule) { r.ID = strings.Repeat("a", 256) }), CodeMalformedXML, specMalformed},
		{"A.3 V13 MaxAgeSeconds beyond the schema integer", with(func(r *Rule) { r.MaxAgeSeconds = intp(1 << 40) }), CodeMalformedXML, specMalformed},
		{"A.3 control character an XML document cannot carry", with(func(r *Rule) { r.AllowedOrigins = []string{"a\x00"} }), CodeMalformedXML, specMalformed},
		{"A.3 invalid UTF-8", with(func(r *Rule) { r.AllowedHeaders = []string{"\xff"} }), CodeMalformedXML, specMalformed},
		{"A.3 carriage return can be carried", with(func(r *Rule) { r.AllowedOrigins = []string{"a\r\tb"} }), "", ""},
		{"A.3 V4 no origins", with(func(r *Rule) { r.AllowedOrigins = nil }), CodeMalformedXML, specMalformed},
		{"A.3 V5 no methods", with(func(r *Rule) { r.AllowedMethods = nil }), CodeMalformedXML, specMalformed},
		{"A.3 V6 method", with(func(r *Rule) { r.AllowedMethods = []string{"Get"} }), CodeInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is Get"},
		{"A.3 V12 101 rules", &Configuration{Rules: make([]Rule, 101)}, CodeInvalidRequest, specTooManyRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Message != tt.msg {
				t.Fatalf("got %v, want %s: %s", err, tt.code, tt.msg)
			}
		})
	}
}

// specDoc is the specification of S3's behaviour the messages are recorded
// in.
const specDoc = "../docs/s3-cors-spec.md"

// specRow returns the row of a table of the spec that starts with the key
// ("V1", "P3"): the recorded texts are quoted there.
func specRow(t *testing.T, spec, key string) string {
	t.Helper()
	for _, line := range strings.Split(spec, "\n") {
		if strings.HasPrefix(line, "| "+key+" |") {
			return line
		}
	}
	t.Fatalf("%s has no row %s", specDoc, key)
	return ""
}

// TestMessagesAsRecorded checks the texts S3 sends, as the engine produces
// them, against the texts the spec records from S3's responses (quoted in
// its tables, and the raw 403 body of B.1), byte for byte, S3's missing
// final periods, trailing space and "evalution" included. A message the
// spec gives as a template is checked with the template's example value.
func TestMessagesAsRecorded(t *testing.T) {
	b, err := os.ReadFile(specDoc)
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	quoted := func(row, text string) bool {
		return strings.Contains(row, "`"+text+"`") || strings.Contains(row, `"`+text+`"`)
	}
	parseErr := func(doc string) string {
		_, err := Parse([]byte(doc))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse: %v", err)
		}
		return e.Message
	}
	rule := func(elems string) string {
		return doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>" + elems))
	}
	preflight := func(p *Policy, h http.Header) Decision { return p.Preflight(NewRequest(http.MethodOptions, h)) }
	origin := http.Header{"Origin": {"https://o.test"}}
	refusing := mustPolicy(t, Rule{AllowedOrigins: []string{"https://other.test"}, AllowedMethods: []string{"GET"}})
	tests := []struct {
		row, text string
	}{
		{"V1", parseErr(doc())},
		{"V6", parseErr(doc(corsRule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>MYMETHOD</AllowedMethod>")))},
		{"V9", parseErr(doc(corsRule("<AllowedOrigin>*example*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")))},
		{"V10", parseErr(rule("<AllowedHeader>x-*-*</AllowedHeader>"))},
		{"V11", parseErr(rule("<ExposeHeader>x-amz-meta-*</ExposeHeader>"))},
		{"V12", parseErr(doc(strings.Repeat(okRule, 101)))},
		{"V17", parseErr(doc(okRule) + strings.Repeat(" ", MaxDocumentSize))},
		{"P1", preflight(refusing, http.Header{"Access-Control-Request-Method": {"GET"}}).Message()},
		{"P2", MissingBucket(NewRequest(http.MethodOptions, origin)).Message()},
		{"P3", preflight(nil, origin).Message()},
		{"P4", preflight(refusing, origin).Message()},
		{"P7", preflight(refusing, http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"GET"}}).Message()},
	}
	for _, tt := range tests {
		if row := specRow(t, spec, tt.row); !quoted(row, tt.text) {
			t.Errorf("%s: the engine says %q, which is not the text the spec records:\n%s", tt.row, tt.text, row)
		}
	}
	// Templates: the recorded text with the value that fills it.
	if got, row := parseErr(rule("<ExposeHeader>x y</ExposeHeader>")), specRow(t, spec, "V19"); !quoted(row, strings.Replace(got, "x y", "<value>", 1)) {
		t.Errorf("V19: %q does not follow the recorded template:\n%s", got, row)
	}
	if got, row := preflight(refusing, http.Header{"Origin": {"https://o.test"}, "Access-Control-Request-Method": {"PATCH"}}).Message(), specRow(t, spec, "P5"); !quoted(row, strings.Replace(got, "PATCH", "<value>", 1)) {
		t.Errorf("P5: %q does not follow the recorded template:\n%s", got, row)
	}
	if !strings.Contains(spec, "`VARY` means exactly `Vary: "+VaryValue+"`") {
		t.Errorf("VaryValue %q is not the Vary header the spec records", VaryValue)
	}

	// The raw 403 body S3 sent for a bucket without CORS (B.1, vgw#2083).
	i := strings.Index(spec, "Example 403 body, in wire order")
	start := strings.Index(spec[i:], "<Error>")
	end := strings.Index(spec[i:], "</Error>")
	if i < 0 || start < 0 || end < 0 {
		t.Fatal("the spec's raw 403 body is missing")
	}
	var body struct{ Code, Message, Method, ResourceType string }
	if err := xml.Unmarshal([]byte(spec[i+start:i+end+len("</Error>")]), &body); err != nil {
		t.Fatal(err)
	}
	d := preflight(nil, origin) // no Access-Control-Request-Method, as recorded
	if got := (struct{ Code, Message, Method, ResourceType string }{d.Code(), d.Message(), d.Method(), d.ResourceType(false)}); got != body {
		t.Errorf("the 403 for a bucket without CORS is %+v, S3 sent %+v", got, body)
	}
}

func TestMarshal(t *testing.T) {
	c := &Configuration{Rules: []Rule{
		{
			ID:             "a&b",
			AllowedHeaders: []string{"*", "X-Amz-*"},
			AllowedMethods: []string{"PUT", "GET"},
			AllowedOrigins: []string{"https://<x>", "", `he said "hi" & 'bye'`},
			ExposeHeaders:  []string{"ETag", "x-amz-id-2"},
			MaxAgeSeconds:  intp(0),
		},
		{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}},
	}}
	// A.7: declaration, newline, namespace, the API reference's element
	// order, values verbatim and escaped as S3 escapes text (A.8: quotes
	// kept), unset elements omitted.
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<CORSRule><AllowedHeader>*</AllowedHeader><AllowedHeader>X-Amz-*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>` +
		`<AllowedOrigin>https://&lt;x&gt;</AllowedOrigin><AllowedOrigin></AllowedOrigin><AllowedOrigin>he said "hi" &amp; 'bye'</AllowedOrigin>` +
		`<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-id-2</ExposeHeader>` +
		`<ID>a&amp;b</ID><MaxAgeSeconds>0</MaxAgeSeconds></CORSRule>` +
		`<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>` +
		`</CORSConfiguration>`
	if got := string(c.Marshal()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	back, err := Parse(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: got %#v", back)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	docs := []string{
		doc(okRule),
		doc(corsRule("<AllowedOrigin>a\r\nb\tc</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ID>&#xD;</ID><MaxAgeSeconds>-7</MaxAgeSeconds>")),
		doc(strings.Repeat(corsRule("<AllowedHeader>A</AllowedHeader><AllowedHeader>a</AllowedHeader><AllowedOrigin>\"'</AllowedOrigin><AllowedMethod>DELETE</AllowedMethod><ExposeHeader></ExposeHeader>"), 3)),
	}
	for i, d := range docs {
		c, err := Parse([]byte(d))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		back, err := Parse(c.Marshal())
		if err != nil {
			t.Fatalf("%d: reparse: %v\n%s", i, err, c.Marshal())
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%d: got %#v, want %#v", i, back, c)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Code: CodeInvalidRequest, Message: "m"}
	if e.Error() != "InvalidRequest: m" {
		t.Errorf("got %q", e.Error())
	}
	if Outcome(99).String() != "Outcome(99)" || Reason(42).String() != "Reason("+strconv.Itoa(42)+")" {
		t.Errorf("unknown enum values: %s %s", Outcome(99), Reason(42))
	}
}
