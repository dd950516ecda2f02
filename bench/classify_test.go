package bench

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// The cost of deciding what a request is (s3.Classify) must grow with the
// request target the client sends, not faster: one pass over the query,
// whatever its parameters. Each case is measured per byte of the target, and
// the hostile ones are compared with an SDK's presigned PutBucketCors in
// the same run.

// classifyCase is one request target.
type classifyCase struct {
	name   string
	method string
	target string
	want   s3.Kind
}

// maxTarget is the longest request line Caddy reads by default: its
// max_header_size of 16 KiB counts the request line too.
const maxTarget = 16 << 10

// manyParams is a query of n short parameters, none of them cors.
func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "p%d=v", i)
	}
	return b.String()
}

// fill repeats unit up to about size bytes.
func fill(unit string, size int) string {
	return strings.Repeat(unit, size/len(unit))
}

func classifyCases() []classifyCase {
	presigned := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKIAIOSFODNN7EXAMPLE/20261201/us-east-1/s3/aws4_request"},
		"X-Amz-Date":          {"20261201T000000Z"},
		"X-Amz-Expires":       {"900"},
		"X-Amz-SignedHeaders": {"content-md5;host"},
		"X-Amz-Signature":     {strings.Repeat("ab", 32)},
	}
	return []classifyCase{
		{"presigned-put-cors", http.MethodPut, "/photos?cors&" + presigned.Encode(), s3.KindCORS},
		{"object-get", http.MethodGet, "/photos/2026/cat.jpg?" + presigned.Encode(), s3.KindObject},
		// As many parameters as the target holds, none selecting anything,
		// and half as many: the cost per byte must not grow with the count.
		{"params-900", http.MethodGet, "/photos/k?" + manyParams(900), s3.KindObject},
		{"params-1800", http.MethodGet, "/photos/k?" + manyParams(1800), s3.KindObject},
		// Escapes to decode in every name, then cors at the very end.
		{"escaped-names", http.MethodPut, "/photos?" + fill("%61%62%63=1&", maxTarget-64) + "%63ors", s3.KindCORS},
		// Separators only: the most pairs per byte, past s3.MaxQueryParameters,
		// so refused.
		{"empty-pairs", http.MethodGet, "/photos/k?" + fill("&", maxTarget-64), s3.KindRefused},
		// A long path whose last segment is a dot, with cors: the path is
		// read to its end.
		{"dot-at-path-end-cors", http.MethodPut, "/photos" + fill("/a", maxTarget-64) + "/.?cors", s3.KindRefused},
		// One bad escape at the end of a long query.
		{"bad-escape-at-end", http.MethodGet, "/photos/k?" + fill("a=b&", maxTarget-64) + "x=%zz", s3.KindRefused},
	}
}

func newClassifyRequest(b testing.TB, c classifyCase) *http.Request {
	b.Helper()
	u, err := url.ParseRequestURI(c.target)
	if err != nil {
		b.Fatalf("%s: %v", c.name, err)
	}
	r := &http.Request{Method: c.method, URL: u, Host: "s3.example.com", RequestURI: c.target, Header: http.Header{}}
	if got := s3.Classify(r, nil).Kind; got != c.want {
		b.Fatalf("%s: Classify = %v, want %v", c.name, got, c.want)
	}
	if len(c.target) > maxTarget {
		b.Fatalf("%s: target of %d bytes, longer than Caddy reads", c.name, len(c.target))
	}
	return r
}

// BenchmarkClassify reports the time per byte of the request target
// (ns/byte); bench/ratios compares the hostile targets with the presigned
// PutBucketCors.
func BenchmarkClassify(b *testing.B) {
	for _, c := range classifyCases() {
		r := newClassifyRequest(b, c)
		b.Run("target="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s3.Classify(r, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.target)), "ns/byte")
		})
	}
}
