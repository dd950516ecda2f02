package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/internal/requestforms"
)

// TestRequestForms sends the request forms of s3/testdata/request-forms.txt
// (explained in docs/request-forms.md) through the project's Caddy to real
// stores, with no tap in between so that the query reaches the store as
// sent, and looks at each store directly afterwards:
//
//   - versitygw, which implements bucket CORS and does virtual hosting under
//     a domain the proxy does not know: no form that is answered, refused
//     or forwarded changes the CORS configuration the store holds, or
//     deletes the bucket;
//   - gofakes3, which deletes the bucket on a DELETE with any query it does
//     not route: every DELETE form leaves the bucket in place;
//   - the DeleteBucket forms (x-id, a presigned DeleteBucket URL, unknown
//     parameters, and a DeleteBucketTagging that gofakes3 runs as
//     DeleteBucket) drop the proxy's configuration, so that a recreated
//     bucket has none.
func TestRequestForms(t *testing.T) {
	needCaddy(t)
	forms := loadRequestForms(t)
	t.Run(versitygw, func(t *testing.T) { testFormsCanary(t, versitygw, forms) })
	t.Run(gofakes3, func(t *testing.T) { testFormsCanary(t, gofakes3, forms) })
	t.Run("DeleteBucket", testDeleteBucketForms)
}

// storeVhostDomain is the virtual-host domain of the canary versitygw, which
// the proxy is not told about.
const storeVhostDomain = "other.example"

// requestForm is one form of the list, sent to a store.
type requestForm struct{ requestforms.Form }

func loadRequestForms(t *testing.T) []requestForm {
	t.Helper()
	list, err := requestforms.Load(filepath.Join(repoRoot, "s3", "testdata", "request-forms.txt"))
	if err != nil {
		t.Fatal(err)
	}
	forms := make([]requestForm, len(list))
	for i, f := range list {
		forms[i] = requestForm{f}
	}
	return forms
}

// deletesBucketByDesign: these forms are forwarded and delete the bucket
// at a store that runs them as DeleteBucket, as they should.
func (f requestForm) deletesBucketByDesign() bool {
	return f.Kind == "DeleteBucket" || f.Kind == "MayDeleteBucket"
}

// at fills the form in for the test: its bucket names become bucket and
// other, its hosts the proxy's.
func (f requestForm) at(px *proxy, bucket, other string) (target, host string) {
	target = strings.ReplaceAll(f.Target, "/bucket", "/"+bucket)
	target = strings.ReplaceAll(target, "/other", "/"+other)
	port := strconv.Itoa(px.cfg.Port)
	switch {
	case f.Host == "" || strings.HasPrefix(f.Host, "127.0.0.1"):
		host = px.Host
	case strings.HasPrefix(f.Host, "BUCKET."):
		host = strings.ToUpper(bucket) + "." + vhostSuffix + ":" + port
	case strings.HasSuffix(strings.Split(f.Host, ":")[0], ".s3.example.com"):
		host = bucket + "." + vhostSuffix + ":" + port
	default: // a host of no virtual host suffix of the proxy: the store's own domain
		host = bucket + "." + storeVhostDomain + ":" + port
	}
	return target, host
}

func testFormsCanary(t *testing.T, kind string, forms []requestForm) {
	var st *store
	if kind == versitygw {
		st = startStore(t, kind, "VGW_VIRTUAL_DOMAIN="+storeVhostDomain)
	} else {
		st = startStore(t, kind)
	}
	px := startProxy(t, proxyConfig{Upstream: st.Host, Store: st.URL, Comment: "request forms " + kind})
	direct := newS3Client(st.URL, rootCreds)
	bucket, other := bucketName(t, "forms"), bucketName(t, "other")
	direct.createBucket(t, bucket)
	direct.createBucket(t, other)
	if kind == versitygw {
		// The store's own configuration: a forwarded PutBucketCors or
		// DeleteBucketCors would change it.
		direct.putCORS(t, bucket, publicRules)
		direct.putCORS(t, other, publicRules)
	}
	doc := corsXML(appRules)

	for _, f := range forms {
		if f.deletesBucketByDesign() || kind == gofakes3 && f.Method != http.MethodDelete {
			// gofakes3 misroutes DELETEs only; its PUTs would fill the
			// bucket with objects and hide a DeleteBucket behind
			// BucketNotEmpty.
			continue
		}
		target, host := f.at(px, bucket, other)
		t.Run(f.Kind+" "+f.Method+" "+f.Target+" "+f.Host, func(t *testing.T) {
			var body []byte
			if f.Method == http.MethodPut {
				body = doc
			}
			res := sendRawSigned(t, px.Host, f.Method, target, host, body)
			if res.status >= 500 {
				t.Errorf("status %d:\n%s", res.status, res)
			}
			if code, ok := f.Refused(); ok {
				if e, err := parseS3Error(res.body); err != nil || e.get("Code") != code {
					t.Errorf("want a refusal with %s, got:\n%s", code, res)
				}
			}
			for _, b := range []string{bucket, other} {
				if _, err := direct.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
					t.Errorf("bucket %s is gone at the store: %v", b, err)
					direct.createBucket(t, b) // so that the next form is judged alone
				}
				if kind == versitygw && !equalRules(direct.getCORS(t, b), publicRules) {
					t.Errorf("the store's CORS configuration of %s changed", b)
					direct.putCORS(t, b, publicRules)
				}
			}
		})
	}
}

func testDeleteBucketForms(t *testing.T) {
	st := startStore(t, gofakes3)
	vgw := startStore(t, versitygw)
	for _, s := range []*store{vgw, st} {
		px := startProxy(t, proxyConfig{Upstream: s.Host, Store: s.URL, Comment: "DeleteBucket forms " + s.kind})
		c := newS3Client(px.URL, rootCreds)
		presigner := s3.NewPresignClient(c.Client)
		forms := []struct {
			name string
			url  func(bucket string) string
		}{
			{"x-id", func(b string) string { return "/" + b + "?x-id=DeleteBucket" }},
			{"presigned", func(b string) string {
				req, err := presigner.PresignDeleteBucket(t.Context(), &s3.DeleteBucketInput{Bucket: aws.String(b)})
				if err != nil {
					t.Fatal(err)
				}
				u, err := url.Parse(req.URL)
				if err != nil {
					t.Fatal(err)
				}
				return u.RequestURI()
			}},
			{"unknown parameter", func(b string) string { return "/" + b + "?list-type=2&CORS" }},
		}
		if s.kind == gofakes3 {
			// S3 runs DeleteBucketTagging; gofakes3 deletes the bucket.
			forms = append(forms, struct {
				name string
				url  func(bucket string) string
			}{"tagging at a store that deletes the bucket", func(b string) string { return "/" + b + "?tagging" }})
		}
		for _, form := range forms {
			t.Run(s.kind+" "+form.name, func(t *testing.T) {
				bucket := bucketName(t, "doomed")
				c.createBucket(t, bucket)
				c.putCORS(t, bucket, appRules)
				target := form.url(bucket)
				// A presigned URL is signed already; the others are signed
				// with the store's key as the store will read them.
				var res response
				if form.name == "presigned" {
					res = sendRaw(t, px.Host, http.MethodDelete, target, px.Host, nil, nil)
				} else {
					res = sendRawSigned(t, px.Host, http.MethodDelete, target, px.Host, nil)
				}
				if res.status != http.StatusNoContent {
					t.Fatalf("DELETE %s: want 204, got:\n%s", target, res)
				}
				c.createBucket(t, bucket)
				c.assertCORS(t, bucket, nil)
			})
		}
	}
}

// sendRawSigned signs a request with the root key as versitygw reads it
// (the path as sent, the query as fasthttp parses it: up to '#', pairs at
// '&', escapes decoded where valid), then sends the target as written.
func sendRawSigned(t *testing.T, addr, method, target, host string, body []byte) response {
	t.Helper()
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	rawPath, _, _ = strings.Cut(rawPath, "#")
	rawQuery, _, _ = strings.Cut(rawQuery, "#")
	query := url.Values{}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k != "" || v != "" {
			query.Add(fasthttpUnescape(k), fasthttpUnescape(v))
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+host+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "//" + host + rawPath
	req.URL.RawQuery = query.Encode()
	req.ContentLength = int64(len(body))
	if len(body) > 0 {
		req.Header.Set("Content-Md5", md5Base64(body))
	}
	hash := sha256Hex(body)
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := s3Signer().SignHTTP(t.Context(), rootCreds, req, hash, "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return sendRaw(t, addr, method, target, host, req.Header, body)
}

// fasthttpUnescape decodes as fasthttp's argument parser does: '+' is a
// space and a bad escape stays as it is.
func fasthttpUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' {
			b.WriteByte(' ')
			continue
		}
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sendRaw writes one request with the target exactly as given (Go's client
// would drop a '#' and clean the path) on a new connection to addr.
func sendRaw(t *testing.T, addr, method, target, host string, header http.Header, body []byte) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, host, len(body))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}
