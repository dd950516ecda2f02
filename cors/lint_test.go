package cors

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// lintCase is a document, as its rules, and the warnings it must get, as
// code and rule, in order.
type lintCase struct {
	name  string
	rules []Rule
	want  []string // "code@rule"
}

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code+"@"+string(rune('0'+w.Rule)))
	}
	return out
}

// read is a rule that triggers nothing.
func read(origins ...string) Rule {
	return Rule{AllowedOrigins: origins, AllowedMethods: []string{"GET", "HEAD"}, MaxAgeSeconds: intp(600)}
}

// upload is a browser upload rule that triggers nothing: the headers and
// exposed headers the AWS SDK needs are there.
func upload(origins ...string) Rule {
	return Rule{AllowedOrigins: origins, AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"}, AllowedHeaders: []string{"*"},
		ExposeHeaders: []string{"ETag", "x-amz-checksum-crc32"}}
}

func with(r Rule, f func(*Rule)) Rule {
	f(&r)
	return r
}

func TestLint(t *testing.T) {
	const app = "https://app.example.com"
	tests := []lintCase{
		// Documents that must get no warning.
		{"clean read", []Rule{read(app, "https://*.example.com", "http://localhost:8081")}, nil},
		{"clean upload", []Rule{upload(app)}, nil},
		{"public read", []Rule{read("*")}, nil},
		{"presigned PUT without the SDK's headers", []Rule{with(upload(app), func(r *Rule) {
			r.AllowedHeaders, r.ExposeHeaders = []string{"content-type", "x-amz-meta-*"}, []string{"ETag"}
		})}, nil},
		{"origins browsers do send", []Rule{read("null", "http://localhost:3000", "https://example.com:8443", "http://*:8080", "*.example.com", "chrome-extension://abcdef", "https://xn--bcher-kva.example")}, nil},
		{"later rule reachable: other origin", []Rule{read(app), read("https://other.example.com")}, nil},
		{"later rule reachable: more methods", []Rule{read(app), with(upload(app), func(r *Rule) { r.AllowedHeaders = nil })}, nil},
		{"later rule reachable: more headers", []Rule{with(read(app), func(r *Rule) { r.AllowedHeaders = []string{"x-amz-*"} }),
			with(read(app), func(r *Rule) { r.AllowedHeaders = []string{"x-*"} })}, nil},
		{"later rule reachable: wider origin", []Rule{read("https://a.example.com"), read("https://*.example.com")}, nil},
		{"later rule reachable: a suffix the earlier lacks", []Rule{read("https://*.example.com"), read("https://*.example.org")}, nil},
		{"MaxAgeSeconds at WebKit's cap", []Rule{with(read(app), func(r *Rule) { r.MaxAgeSeconds = intp(600) })}, nil},

		// shadowed-rule
		{"same rule twice", []Rule{read(app), read(app)}, []string{"shadowed-rule@1"}},
		{"wildcard origin covers exact", []Rule{read("https://*.example.com"), read("https://app.example.com")}, []string{"shadowed-rule@1"}},
		{"wildcard origin covers narrower wildcard", []Rule{read("https://*.example.com"), read("https://*.app.example.com")}, []string{"shadowed-rule@1"}},
		{"* covers all", []Rule{upload("*"), with(read(app), func(r *Rule) { r.AllowedHeaders = []string{"content-type"} })},
			[]string{"wildcard-origin-write@0", "shadowed-rule@1"}},
		{"methods subset, headers covered case-insensitively", []Rule{
			with(upload(app), func(r *Rule) { r.AllowedHeaders = []string{"X-Amz-*", "Content-Type"} }),
			with(read(app), func(r *Rule) { r.AllowedHeaders = []string{"x-amz-date", "content-TYPE"} }),
		}, []string{"shadowed-rule@1"}},
		{"shadowed by the second of two", []Rule{read("https://a.example.com"), read("https://*.example.com"), read("https://b.example.com")},
			[]string{"shadowed-rule@2"}},
		{"empty origins are not a reason", []Rule{read(app), read("")}, []string{"origin-never-matches@1"}},

		// origin-never-matches, one per value
		{"path, trailing slash, default ports", []Rule{read("https://app.example.com/", "https://app.example.com/upload", "https://app.example.com:443", "http://app.example.com:80", "https://*.example.com/")},
			[]string{"origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0"}},
		{"case, white space, no scheme, empty, non-ASCII", []Rule{read("HTTPS://App.Example.com", " https://app.example.com", "https://app.example.com\n", "app.example.com", "", "https://bücher.example", "*.Example.com")},
			[]string{"origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0", "origin-never-matches@0"}},

		// etag-not-exposed
		{"PUT without ETag", []Rule{with(upload(app), func(r *Rule) { r.AllowedMethods = []string{"PUT"}; r.ExposeHeaders = nil })},
			[]string{"etag-not-exposed@0"}},
		{"POST without ETag, exposed in another case is fine", []Rule{with(read(app), func(r *Rule) { r.AllowedMethods = []string{"POST"} }),
			with(read("https://b.example.com"), func(r *Rule) { r.AllowedMethods = []string{"PUT"}; r.ExposeHeaders = []string{"etag"} })},
			[]string{"etag-not-exposed@0"}},

		// sdk-checksum-headers
		{"SDK signing without checksum headers", []Rule{with(upload(app), func(r *Rule) {
			r.AllowedMethods = []string{"PUT"}
			r.AllowedHeaders = []string{"authorization", "content-type", "x-amz-date", "x-amz-content-sha256", "x-amz-user-agent", "amz-sdk-*"}
		})}, []string{"sdk-checksum-headers@0"}},
		{"SDK multipart without the checksum exposed", []Rule{with(upload(app), func(r *Rule) { r.ExposeHeaders = []string{"ETag"} })},
			[]string{"sdk-checksum-headers@0"}},
		{"SDK multipart with neither", []Rule{with(upload(app), func(r *Rule) {
			r.AllowedHeaders = []string{"Authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-user-agent", "amz-sdk-*"}
			r.ExposeHeaders = []string{"ETag"}
		})}, []string{"sdk-checksum-headers@0", "sdk-checksum-headers@0"}},
		{"SDK headers through patterns are fine", []Rule{with(upload(app), func(r *Rule) {
			r.AllowedHeaders = []string{"Authorization", "X-Amz-*", "amz-sdk-*"}
		})}, nil},

		// max-age-over-browser-cap
		{"over WebKit's cap", []Rule{with(read(app), func(r *Rule) { r.MaxAgeSeconds = intp(3000) })}, []string{"max-age-over-browser-cap@0"}},
		{"over Firefox's cap", []Rule{with(read(app), func(r *Rule) { r.MaxAgeSeconds = intp(100000) })}, []string{"max-age-over-browser-cap@0"}},

		// wildcard-origin-write
		{"* with DELETE", []Rule{with(read("*"), func(r *Rule) { r.AllowedMethods = []string{"GET", "DELETE"} })}, []string{"wildcard-origin-write@0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Configuration{Rules: tt.rules}
			if err := c.Validate(); err != nil {
				t.Fatalf("the document is not valid: %v", err)
			}
			ws := Lint(c)
			if got := codes(ws); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
				for _, w := range ws {
					t.Log(w)
				}
			}
			for _, w := range ws {
				if w.Message == "" || strings.HasSuffix(w.Message, " ") {
					t.Errorf("%s: message %q", w.Code, w.Message)
				}
				if !slices.Contains(WarningCodes(), w.Code) {
					t.Errorf("WarningCodes() lacks %s", w.Code)
				}
			}
		})
	}
}

// TestLintMessages checks that each message says what to change, with the
// right values.
func TestLintMessages(t *testing.T) {
	tests := []struct {
		rule Rule
		want []string // substrings of the one warning's message
	}{
		{read("https://app.example.com/"), []string{"without a path or trailing slash", `Use "https://app.example.com".`}},
		{read("HTTPS://App.Example.com:443/x"), []string{"lower case", "path", "default port 443", `Use "https://app.example.com".`}},
		{read("http://*.example.com:80"), []string{"default port 80", `Use "http://*.example.com".`}},
		{read("example.com"), []string{"scheme", `Use "https://example.com".`}},
		{read(" https://a.example.com "), []string{"white space", `Use "https://a.example.com".`}},
		{with(read("https://a.example.com"), func(r *Rule) { r.MaxAgeSeconds = intp(3600) }), []string{"WebKit (Safari) 600 s", "Set 600 or less"}},
		{with(read("https://a.example.com"), func(r *Rule) { r.MaxAgeSeconds = intp(7201) }), []string{"WebKit (Safari) 600 s, Chromium (Chrome, Edge) 7200 s"}},
		{with(read("*"), func(r *Rule) { r.AllowedMethods = []string{"PUT", "POST"}; r.ExposeHeaders = []string{"ETag"} }), []string{"PUT, POST", "List the origins"}},
		{with(read("https://a.example.com"), func(r *Rule) { r.AllowedMethods = []string{"PUT"} }), []string{"allows PUT", "<ExposeHeader>ETag</ExposeHeader>"}},
		{with(upload("https://a.example.com"), func(r *Rule) {
			r.AllowedMethods, r.AllowedHeaders = []string{"PUT"}, []string{"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-user-agent", "amz-sdk-*"}
		}), []string{"x-amz-checksum-crc32, x-amz-sdk-checksum-algorithm."}},
		{with(upload("https://a.example.com"), func(r *Rule) { r.ExposeHeaders = []string{"ETag"} }), []string{"<ExposeHeader>x-amz-checksum-crc32</ExposeHeader>"}},
	}
	for _, tt := range tests {
		ws := Lint(&Configuration{Rules: []Rule{tt.rule}})
		if len(ws) != 1 {
			t.Errorf("%+v: %d warnings: %v", tt.rule, len(ws), ws)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(ws[0].Message, s) {
				t.Errorf("%s: %q lacks %q", ws[0].Code, ws[0].Message, s)
			}
		}
	}
	shadow := Lint(&Configuration{Rules: []Rule{with(read("*"), func(r *Rule) { r.ID = "all" }), read("https://a.example.com")}})
	if len(shadow) != 1 || shadow[0].Rule != 1 || !strings.Contains(shadow[0].Message, `rule 0 ("all")`) || shadow[0].String() != "rule 1: shadowed-rule: "+shadow[0].Message {
		t.Errorf("shadowed-rule: %v", shadow)
	}
	if Lint(nil) != nil {
		t.Error("Lint(nil) has warnings")
	}
}

// TestLintExamples: the CORS documents the project ships are clean.
func TestLintExamples(t *testing.T) {
	docs, err := filepath.Glob("../examples/cors/*.xml")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no example documents: %v", err)
	}
	for _, path := range docs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, w := range Lint(c) {
			t.Errorf("%s: %s", filepath.Base(path), w)
		}
	}
}
