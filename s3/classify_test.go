package s3

import (
	"bufio"
	"cmp"
	"net/http"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/internal/requestforms"
)

// requestForm is one form of testdata/request-forms.txt: a request line
// and what Classify must make of it.
type requestForm struct {
	method, target, host string
	kind                 Kind
	code                 string // S3 error code of a refused form
}

// loadRequestForms reads the list that docs/request-forms.md explains; the
// caddymodule and e2e tests send the same forms.
func loadRequestForms(t *testing.T) []requestForm {
	t.Helper()
	list, err := requestforms.Load("testdata/request-forms.txt")
	if err != nil {
		t.Fatal(err)
	}
	var forms []requestForm
	for _, l := range list {
		f := requestForm{method: l.Method, target: l.Target, host: cmp.Or(l.Host, "127.0.0.1:9000")}
		if code, ok := l.Refused(); ok {
			f.kind, f.code = KindRefused, code
		} else if f.kind = kindNamed(l.Kind); f.kind == KindRefused {
			t.Fatalf("unknown kind %q", l.Kind)
		}
		forms = append(forms, f)
	}
	return forms
}

func kindNamed(name string) Kind {
	for k, n := range kindNames {
		if n == name {
			return Kind(k)
		}
	}
	return KindRefused
}

// generatedForms are forms too long to write out.
var generatedForms = []requestForm{
	{method: "PUT", target: "/bucket?cors" + strings.Repeat("%20", 40), kind: KindRefused, code: "InvalidURI"},
	{method: "PUT", target: "/?" + strings.Repeat("&", MaxQueryParameters-1) + "x", kind: KindService},
	{method: "PUT", target: "/?" + strings.Repeat("&", MaxQueryParameters), kind: KindRefused, code: "InvalidURI"},
	{method: "DELETE", target: "/bucket?cors" + strings.Repeat("&", MaxQueryParameters), kind: KindRefused, code: "InvalidURI"},
	{method: "PUT", target: "/bucket?" + strings.Repeat("%20", 500) + "cors" + strings.Repeat("+", 500), kind: KindRefused, code: "InvalidURI"},
	{method: "DELETE", target: "/bucket?" + strings.Repeat("x", 5000) + "=1", kind: KindDeleteBucket},
}

// parseRequestLine reads a request as the server would, from its request
// line, so that targets with '#', bad escapes and '//' arrive as they would
// over the wire.
func parseRequestLine(t *testing.T, method, target, host string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return r
}

func TestClassify(t *testing.T) {
	suffixes := []string{"s3.example.com"}
	for _, f := range append(loadRequestForms(t), generatedForms...) {
		host := cmp.Or(f.host, "127.0.0.1:9000")
		name := f.method + " " + f.target
		if len(name) > 80 {
			name = name[:80] + "..."
		}
		t.Run(name, func(t *testing.T) {
			r := parseRequestLine(t, f.method, f.target, host)
			c := Classify(r, suffixes)
			if f.code != "" {
				if c.Kind != KindRefused || c.Err == nil || c.Err.Code != f.code {
					t.Fatalf("Classify = %v %v, want refused with %s", c.Kind, c.Err, f.code)
				}
				if c.Err.StatusCode < 400 || c.Err.StatusCode >= 500 || c.Err.Message == "" {
					t.Errorf("refusal %+v is no client error", c.Err)
				}
				return
			}
			if c.Kind != f.kind || c.Err != nil {
				t.Fatalf("Classify = %v %v, want %v", c.Kind, c.Err, f.kind)
			}
			if c.Target != ResolveTarget(r, suffixes) {
				t.Errorf("Target = %+v, want ResolveTarget's %+v", c.Target, ResolveTarget(r, suffixes))
			}
		})
	}
}

func TestClassifyConflictNamesSorted(t *testing.T) {
	r := parseRequestLine(t, "PUT", "/bucket?versioning&cors&acl&x-id=PutBucketCors", "127.0.0.1")
	c := Classify(r, nil)
	if c.Err == nil {
		t.Fatal("not refused")
	}
	if c.Err.Message != "Conflicting query string parameters: acl, cors, versioning" ||
		c.Err.Get("ArgumentName") != "ResourceType" || c.Err.Get("ArgumentValue") != "acl" || c.Err.StatusCode != 400 {
		t.Errorf("refusal = %+v", c.Err)
	}
}

func TestClassifyTargetOfRefusal(t *testing.T) {
	// A refusal names the bucket, so that its answer can carry the
	// bucket's CORS headers.
	c := Classify(parseRequestLine(t, "PUT", "/photos?cors#x", "127.0.0.1"), nil)
	if c.Kind != KindRefused || c.Target != (Target{Bucket: "photos"}) {
		t.Errorf("Classify = %+v", c)
	}
}

func TestClassifyAllocations(t *testing.T) {
	r := parseRequestLine(t, "DELETE", "/bucket?X-Amz-Algorithm=AWS4-HMAC-SHA256&x-id=DeleteBucket&tagging&"+
		"cors%20x&"+strings.Repeat("a", 200)+"=1&p=1;2", "127.0.0.1")
	if n := testing.AllocsPerRun(100, func() { Classify(r, nil) }); n != 0 {
		t.Errorf("Classify allocates %v times per call", n)
	}
}

func TestKindString(t *testing.T) {
	if KindMayDeleteBucket.String() != "MayDeleteBucket" || Kind(200).String() != "Kind(?)" {
		t.Errorf("Kind names: %v %v", KindMayDeleteBucket, Kind(200))
	}
}
