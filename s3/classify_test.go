package s3

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// requestForm is one row of docs/request-forms.md: a request line and what
// Classify must make of it.
type requestForm struct {
	method, target string
	host           string // default 127.0.0.1:9000, a host of no virtual host suffix
	kind           Kind
	code           string // S3 error code of a refused form
}

// requestForms are the forms of docs/request-forms.md, in its order. The
// caddymodule and e2e tests send the same ones.
var requestForms = []requestForm{
	// The ?cors API.
	{method: "PUT", target: "/bucket?cors", kind: KindCORS},
	{method: "GET", target: "/bucket?cors=", kind: KindCORS},
	{method: "DELETE", target: "/bucket/?cors", kind: KindCORS},
	{method: "PUT", target: "/bucket?cors=anything", kind: KindCORS},
	{method: "PUT", target: "/bucket?%63ors", kind: KindCORS},
	{method: "PUT", target: "/bucket?c%6Frs=", kind: KindCORS},
	{method: "PUT", target: "/bucket?cors&cors", kind: KindCORS},
	{method: "PUT", target: "/bucket?&cors&", kind: KindCORS},
	{method: "PUT", target: "/bucket?versionId=1&cors", kind: KindCORS},
	{method: "PUT", target: "/bucket?cors&x-id=PutBucketCors", kind: KindCORS},
	{method: "DELETE", target: "/bucket?cors&x-id=DeleteBucket", kind: KindCORS},
	{method: "GET", target: "/bucket?cors&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00", kind: KindCORS},
	{method: "POST", target: "/bucket?cors", kind: KindCORS},
	{method: "HEAD", target: "/bucket?cors", kind: KindCORS},
	{method: "PUT", target: "/?cors", host: "bucket.s3.example.com", kind: KindCORS},
	{method: "PUT", target: "/?%63ors", host: "bucket.s3.example.com:8443", kind: KindCORS},

	// Preflights: every OPTIONS, whatever its target.
	{method: "OPTIONS", target: "/bucket/key", kind: KindPreflight},
	{method: "OPTIONS", target: "/bucket?cors#x", kind: KindPreflight},
	{method: "OPTIONS", target: "/bucket?x;cors", kind: KindPreflight},
	{method: "OPTIONS", target: "*", kind: KindPreflight},

	// Refused: the target cannot be read one way only.
	{method: "PUT", target: "/bucket?cors#x", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?x#&cors", code: "InvalidURI"},
	{method: "GET", target: "/bucket/key?versionId=1#frag", code: "InvalidURI"},
	{method: "PUT", target: "/bucket#x?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors=%zz", code: "InvalidURI"},
	{method: "DELETE", target: "/bucket?cors=%", code: "InvalidURI"},
	{method: "GET", target: "/bucket?prefix=100%", code: "InvalidURI"},
	{method: "GET", target: "/bucket?%zzcors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?x;cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors;x", code: "InvalidURI"},
	{method: "DELETE", target: "/bucket?cors=a;b", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?x=1;c%6Frs", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors%20", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors+", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?+cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?%09cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors%00", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors%00x", code: "InvalidURI"},
	{method: "PUT", target: "/bucket??cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket?cors" + strings.Repeat("%20", 40), code: "InvalidURI"},
	{method: "PUT", target: "/bucket//?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket/.?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket/./?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket/%2E?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket/..?cors", code: "InvalidURI"},
	{method: "PUT", target: "/other/../bucket?cors", code: "InvalidURI"},
	{method: "PUT", target: "//bucket?cors", code: "InvalidURI"},
	{method: "PUT", target: "/./bucket?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket/%20.%20?cors", code: "InvalidURI"},
	{method: "PUT", target: "/bucket%5C?cors", code: "InvalidURI"},
	{method: "PUT", target: "//?cors", host: "bucket.s3.example.com", code: "InvalidURI"},
	{method: "PUT", target: "/?" + strings.Repeat("&", MaxQueryParameters-1) + "x", kind: KindService},
	{method: "PUT", target: "/?" + strings.Repeat("&", MaxQueryParameters), code: "InvalidURI"},
	{method: "DELETE", target: "/bucket?cors" + strings.Repeat("&", MaxQueryParameters), code: "InvalidURI"},

	// Refused: S3's own refusal of two sub-resources.
	{method: "PUT", target: "/bucket?cors&tagging", code: "InvalidArgument"},
	{method: "DELETE", target: "/bucket?policy&cors", code: "InvalidArgument"},
	{method: "GET", target: "/bucket?cors&uploads", code: "InvalidArgument"},
	{method: "PUT", target: "/bucket?%74agging&cors", code: "InvalidArgument"},

	// Refused: cors where it is not a bucket's.
	{method: "PUT", target: "/?cors", code: "InvalidRequest"},
	{method: "DELETE", target: "/?cors", host: "bucket.other.example", code: "InvalidRequest"},
	{method: "GET", target: "/?%63ors", code: "InvalidRequest"},
	{method: "PUT", target: "/bucket/key?cors", code: "InvalidRequest"},
	{method: "DELETE", target: "/bucket/a/b?cors=", code: "InvalidRequest"},
	{method: "GET", target: "/key?cors", host: "bucket.s3.example.com", code: "InvalidRequest"},

	// Refused: a DELETE some store executes as DeleteBucket of a bucket the
	// gateway cannot name, or of another one.
	{method: "DELETE", target: "/", code: "MethodNotAllowed"},
	{method: "DELETE", target: "/?x-id=DeleteBucket", host: "bucket.other.example", code: "MethodNotAllowed"},
	{method: "DELETE", target: "/bucket//", code: "InvalidURI"},
	{method: "DELETE", target: "/bucket/.", code: "InvalidURI"},
	{method: "DELETE", target: "/bucket/a/..", code: "InvalidURI"},
	{method: "DELETE", target: "/bucket/../other/key", code: "InvalidURI"},
	{method: "DELETE", target: "//", host: "bucket.s3.example.com", code: "InvalidURI"},

	// DeleteBucket: S3 and every store execute it; a 2xx deletes the
	// configuration.
	{method: "DELETE", target: "/bucket", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket/", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?x-id=DeleteBucket", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?unknown=1&list-type=2", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?CORS", kind: KindDeleteBucket},
	{method: "DELETE", target: "/bucket?Tagging", kind: KindDeleteBucket},
	{method: "DELETE", target: "/", host: "bucket.s3.example.com", kind: KindDeleteBucket},
	{method: "DELETE", target: "/?x-id=DeleteBucket", host: "BUCKET.s3.example.com:8443", kind: KindDeleteBucket},

	// Maybe DeleteBucket: S3 executes another operation; a store that does
	// not know the parameter deletes the bucket.
	{method: "DELETE", target: "/bucket?tagging", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?policy=", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?%74agging", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?x;tagging", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?versionId=1", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?uploadId=2", kind: KindMayDeleteBucket},
	{method: "DELETE", target: "/bucket?lifecycle&policy", kind: KindMayDeleteBucket},

	// Forwarded.
	{method: "PUT", target: "/bucket", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket/?x-id=CreateBucket", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?CORS", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?Cors=", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?corsx", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?xcors", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?prefix=cors", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?%2563ors", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?co%20rs", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket%3Fcors", kind: KindCreateBucket},
	{method: "PUT", target: "/bucket?tagging", kind: KindBucket},
	{method: "GET", target: "/bucket", kind: KindBucket},
	{method: "GET", target: "/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F", kind: KindBucket},
	{method: "GET", target: "/bucket?CORS", kind: KindBucket},
	{method: "GET", target: "/bucket?prefix=a;b", kind: KindBucket},
	{method: "HEAD", target: "/bucket", kind: KindBucket},
	{method: "POST", target: "/bucket?delete", kind: KindBucket},
	{method: "GET", target: "/bucket/key", kind: KindObject},
	{method: "GET", target: "/bucket/key?response-content-disposition=attachment;filename=a", kind: KindObject},
	{method: "PUT", target: "/bucket/a%20b?x-id=PutObject", kind: KindObject},
	{method: "PUT", target: "/bucket/key?CORS", kind: KindObject},
	{method: "GET", target: "/bucket//key", kind: KindObject},
	{method: "DELETE", target: "/bucket/key", kind: KindObject},
	{method: "DELETE", target: "/bucket/a//b", kind: KindObject},
	{method: "DELETE", target: "/bucket/a/../b", kind: KindObject},
	{method: "PUT", target: "/bucket//", kind: KindObject},
	{method: "GET", target: "/key", host: "bucket.s3.example.com", kind: KindObject},
	{method: "GET", target: "/", kind: KindService},
	{method: "GET", target: "/?x-id=ListBuckets", kind: KindService},
	{method: "GET", target: "/?CORS", kind: KindService},
	{method: "PUT", target: "/", host: "bucket.other.example", kind: KindService},
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
	for _, f := range requestForms {
		host := f.host
		if host == "" {
			host = "127.0.0.1:9000"
		}
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
