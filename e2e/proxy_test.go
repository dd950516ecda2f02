package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// proxiedStores are the stores every proxy behaviour is checked against:
// versitygw implements bucket CORS itself (the proxy must still own it),
// MinIO has none and adds permissive CORS headers of its own.
var proxiedStores = []string{versitygw, minio}

// TestProxy runs the proxy's behaviour (spec A, B and C) against each store.
// The subtests share one store and proxy and use their own buckets.
func TestProxy(t *testing.T) {
	for _, kind := range proxiedStores {
		t.Run(kind, func(t *testing.T) {
			s := newStack(t, kind)
			t.Run("objects", func(t *testing.T) { testObjects(t, s) })
			t.Run("cors_api", func(t *testing.T) { testCORSAPI(t, s) })
			t.Run("preflight", func(t *testing.T) { testPreflight(t, s) })
			t.Run("actual_requests", func(t *testing.T) { testActualRequests(t, s) })
			t.Run("large_object", func(t *testing.T) { testLargeObject(t, s) })
			t.Run("bad_input", func(t *testing.T) { testBadInput(t, s) })
			t.Run("auth", func(t *testing.T) { testAuth(t, s) })
			t.Run("concurrent_writers", func(t *testing.T) { testConcurrentWriters(t, s) })
			s.tap.assertNothingCORSForwarded(t)
		})
	}
}

// corsURL is the path-style ?cors URL of a bucket on the proxy.
func (s *stack) corsURL(bucket string) string { return s.proxy.URL + "/" + bucket + "?cors" }

// signedCORS is a ?cors request signed with the root key.
func (s *stack) signedCORS(method, bucket string, body []byte) rawRequest {
	return rawRequest{method: method, url: s.corsURL(bucket), body: body, creds: &rootCreds}
}

// testObjects checks that ordinary S3 traffic passes through unchanged:
// the signatures made for the proxy's address stay valid at the store.
func testObjects(t *testing.T, s *stack) {
	bucket := bucketName(t, "objects")
	s.s3.createBucket(t, bucket)
	key := "dir/hello world+1.txt"
	body := []byte("hello through the proxy")
	s.s3.putObject(t, bucket, key, body)
	if got := s.s3.getObject(t, bucket, key); !bytes.Equal(got, body) {
		t.Errorf("GetObject through the proxy: %q, want %q", got, body)
	}
	if got := s.direct.getObject(t, bucket, key); !bytes.Equal(got, body) {
		t.Errorf("GetObject at the store: %q, want %q", got, body)
	}
	out, err := s.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != key {
		t.Errorf("ListObjectsV2 listed %d objects, want just %q", len(out.Contents), key)
	}
	if _, err := s.s3.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if _, err := s.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
		t.Error("the object is still there after DeleteObject")
	}
}

// testCORSAPI checks Put/Get/DeleteBucketCors through the proxy (spec A).
func testCORSAPI(t *testing.T, s *stack) {
	bucket := bucketName(t, "api")
	s.s3.createBucket(t, bucket)

	r := s.signedCORS(http.MethodGet, bucket, nil).send(t)
	assertS3Error(t, r, wantError{
		status:  http.StatusNotFound,
		code:    "NoSuchCORSConfiguration",
		message: "The CORS configuration does not exist",
		extras:  [][2]string{{"BucketName", bucket}},
	})
	r = s.signedCORS(http.MethodDelete, bucket, nil).send(t)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE ?cors without a configuration: want 204 and no body, got:\n%s", r)
	}

	s.s3.putCORS(t, bucket, appRules)
	s.s3.assertCORS(t, bucket, appRules)
	r = s.signedCORS(http.MethodGet, bucket, nil).send(t)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/xml" {
		t.Errorf("GET ?cors: want 200 application/xml, got:\n%s", r)
	}
	if got, err := parseCORSXML(r.body); err != nil || !equalRules(got, appRules) {
		t.Errorf("GET ?cors body (%v):\n%s\nwant the rules verbatim and in order: %+v", err, r.body, appRules)
	}

	// Every form of the sub-resource clients send (s3cmd uses a trailing
	// slash, the Go SDK and mc "?cors=") is the API, never an object request.
	for _, form := range []string{"?cors=", "/?cors", "/?cors="} {
		rules := []corsRule{{ID: "form " + form, AllowedMethods: []string{"GET"}, AllowedOrigins: []string{appOrigin}}}
		req := rawRequest{method: http.MethodPut, url: s.proxy.URL + "/" + bucket + form, body: corsXML(rules), creds: &rootCreds}
		if r := req.send(t); r.status != http.StatusOK {
			t.Errorf("PUT /%s%s: want 200, got:\n%s", bucket, form, r)
			continue
		}
		s.s3.assertCORS(t, bucket, rules)
	}

	// Virtual-host style: the bucket is in the Host.
	vhost := bucket + "." + vhostSuffix + ":" + strconv.Itoa(s.proxy.cfg.Port)
	rules := []corsRule{{ID: "vhost", AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{"*"}}}
	r = rawRequest{method: http.MethodPut, url: s.proxy.URL + "/?cors", host: vhost, body: corsXML(rules), creds: &rootCreds}.send(t)
	if r.status != http.StatusOK {
		t.Errorf("PUT /?cors with Host %s: want 200, got:\n%s", vhost, r)
	}
	s.s3.assertCORS(t, bucket, rules)
	r = rawRequest{method: http.MethodGet, url: s.proxy.URL + "/?cors", host: vhost, creds: &rootCreds}.send(t)
	if got, err := parseCORSXML(r.body); r.status != http.StatusOK || err != nil || !equalRules(got, rules) {
		t.Errorf("GET /?cors with Host %s: want 200 and %+v, got:\n%s", vhost, rules, r)
	}

	s.s3.deleteCORS(t, bucket)
	s.s3.assertCORS(t, bucket, nil)
	s.s3.deleteCORS(t, bucket) // 204 again: nothing to delete is not an error

	// Other methods on the sub-resource are refused, not forwarded.
	s.s3.putCORS(t, bucket, appRules)
	for _, method := range []string{http.MethodPost, http.MethodPatch} {
		r := s.signedCORS(method, bucket, corsXML(publicRules)).send(t)
		assertS3Error(t, r, wantError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed"})
	}
	s.s3.assertCORS(t, bucket, appRules)

	// A bucket the store does not have.
	missing := bucketName(t, "missing")
	for _, method := range []string{http.MethodPut, http.MethodGet} {
		var body []byte
		if method == http.MethodPut {
			body = corsXML(appRules)
		}
		r := s.signedCORS(method, missing, body).send(t)
		assertS3Error(t, r, wantError{
			status:  http.StatusNotFound,
			code:    "NoSuchBucket",
			message: "The specified bucket does not exist",
			extras:  [][2]string{{"BucketName", missing}},
		})
	}

	// A bucket created through the proxy right after a lookup found it
	// missing can be configured at once: it exists now (spec A.6).
	t.Run("bucket created after a miss", func(t *testing.T) {
		late := bucketName(t, "late")
		r := s.signedCORS(http.MethodPut, late, corsXML(publicRules)).send(t)
		assertS3Error(t, r, wantError{status: http.StatusNotFound, code: "NoSuchBucket"})
		s.s3.createBucket(t, late)
		r = s.signedCORS(http.MethodPut, late, corsXML(publicRules)).send(t)
		if r.status != http.StatusOK {
			t.Errorf("PUT ?cors right after CreateBucket through the proxy: want 200, got:\n%s", r)
		}
	})

	// x-amz-expected-bucket-owner (spec A.6).
	owner := func(v string) http.Header { return http.Header{"X-Amz-Expected-Bucket-Owner": {v}} }
	r = rawRequest{method: http.MethodGet, url: s.corsURL(bucket), header: owner(ownerID), creds: &rootCreds}.send(t)
	if r.status != http.StatusOK {
		t.Errorf("GET ?cors with the right expected owner: want 200, got:\n%s", r)
	}
	r = rawRequest{method: http.MethodPut, url: s.corsURL(bucket), header: owner("210987654321"), body: corsXML(publicRules), creds: &rootCreds}.send(t)
	assertS3Error(t, r, wantError{status: http.StatusForbidden, code: "AccessDenied", message: "Access Denied"})
	r = rawRequest{method: http.MethodDelete, url: s.corsURL(bucket), header: owner("abcd"), creds: &rootCreds}.send(t)
	assertS3Error(t, r, wantError{
		status:  http.StatusBadRequest,
		code:    "InvalidBucketOwnerAWSAccountID",
		message: "The value of the expected bucket owner parameter must be an AWS Account ID... [abcd]",
	})
	s.s3.assertCORS(t, bucket, appRules)
}

type preflightCase struct {
	name               string
	url                string
	origin, acrm, acrh string
	header             http.Header // more request headers
	host               string      // Host header, if not the URL's
	want               map[string]string
	err                *wantError
}

// testPreflight checks OPTIONS evaluation (spec B). Everything here is
// answered by the proxy: MinIO would answer 204 and allow any origin.
func testPreflight(t *testing.T, s *stack) {
	cfg := bucketName(t, "pre-cfg")
	public := bucketName(t, "pre-public")
	plain := bucketName(t, "pre-plain")
	missing := bucketName(t, "pre-missing")
	for _, b := range []string{cfg, public, plain} {
		s.s3.createBucket(t, b)
	}
	s.s3.putCORS(t, cfg, appRules)
	s.s3.putCORS(t, public, publicRules)

	key := func(bucket string) string { return s.proxy.URL + "/" + bucket + "/some/key.txt" }
	root := func(bucket string) string { return s.proxy.URL + "/" + bucket }
	cases := []preflightCase{
		{name: "allowed with request headers", url: key(cfg), origin: appOrigin, acrm: "PUT", acrh: "Content-Type, X-Amz-Date",
			want: uploadsMatch(appOrigin, "content-type, x-amz-date")},
		{name: "header list without spaces and with an empty item", url: key(cfg), origin: appOrigin, acrm: "POST", acrh: "content-type,,X-AMZ-Meta-Foo",
			want: uploadsMatch(appOrigin, "content-type, x-amz-meta-foo")},
		{name: "first match falls through on the method", url: key(cfg), origin: appOrigin, acrm: "GET", want: readMatch()},
		{name: "bucket root", url: root(cfg), origin: appOrigin, acrm: "HEAD", want: readMatch()},
		{name: "wildcard origin echoes the origin", url: key(cfg), origin: devOrigin, acrm: "DELETE", want: uploadsMatch(devOrigin, "")},
		{name: "wildcard origin needs its dot", url: key(cfg), origin: "http://dev.example.com", acrm: "PUT",
			err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "origin not listed", url: key(cfg), origin: evilOrigin, acrm: "GET", err: forbidden(msgNotAllowed, "GET", "OBJECT")},
		{name: "origin not listed on the bucket root", url: root(cfg), origin: evilOrigin, acrm: "GET", err: forbidden(msgNotAllowed, "GET", "BUCKET")},
		{name: "trailing slash breaks the match", url: key(cfg), origin: appOrigin + "/", acrm: "PUT", err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "scheme must match", url: key(cfg), origin: "http://app.example.com", acrm: "PUT", err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "rule without AllowedHeader allows no header", url: key(cfg), origin: appOrigin, acrm: "GET", acrh: "content-type",
			err: forbidden(msgNotAllowed, "GET", "OBJECT")},
		{name: "one header not allowed", url: key(cfg), origin: appOrigin, acrm: "PUT", acrh: "content-type, x-custom",
			err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "no origin", url: key(cfg), acrm: "GET", err: badRequest(msgNoOrigin)},
		{name: "empty origin", url: key(cfg), acrm: "GET", header: http.Header{"Origin": {""}}, err: badRequest(msgNoOrigin)},
		{name: "referer is not an origin", url: key(cfg), acrm: "GET", header: http.Header{"Referer": {appOrigin + "/"}}, err: badRequest(msgNoOrigin)},
		{name: "method not an S3 method", url: key(cfg), origin: appOrigin, acrm: "PATCH",
			err: badRequest("Invalid Access-Control-Request-Method: PATCH")},
		{name: "method in lower case", url: key(cfg), origin: appOrigin, acrm: "get",
			err: badRequest("Invalid Access-Control-Request-Method: get")},
		// The spec tags this case [OPEN]; the answer is the module's
		// documented choice (README, "S3 compatibility").
		{name: "no method on a configured bucket", url: key(cfg), origin: appOrigin,
			err: badRequest("Invalid Access-Control-Request-Method: null")},
		{name: "authorization is ignored", url: key(cfg), origin: appOrigin, acrm: "GET",
			header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=bogus/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}},
			want:   readMatch()},
		{name: "presigned query is ignored", url: key(cfg) + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=bogus",
			origin: appOrigin, acrm: "GET", want: readMatch()},
		{name: "virtual-host bucket", url: s.proxy.URL + "/some/key.txt", host: cfg + "." + vhostSuffix, origin: appOrigin, acrm: "GET", want: readMatch()},
		{name: "star rule sends star without credentials", url: key(public), origin: "localhost:4566", acrm: "GET", want: publicMatch()},
		{name: "star rule, method not allowed", url: key(public), origin: appOrigin, acrm: "PUT", err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "not enabled", url: key(plain), origin: appOrigin, acrm: "PUT", err: forbidden(msgNotEnabled, "PUT", "BUCKET")},
		{name: "not enabled, no method", url: key(plain), origin: appOrigin, err: forbidden(msgNotEnabled, "OPTIONS", "BUCKET")},
		{name: "not enabled, no origin", url: key(plain), acrm: "GET", err: badRequest(msgNoOrigin)},
		{name: "bucket not found", url: key(missing), origin: appOrigin, acrm: "PUT", err: forbidden(msgBucketNotFound, "PUT", "BUCKET")},
		{name: "bucket not found, no method", url: root(missing), origin: appOrigin, err: forbidden(msgBucketNotFound, "OPTIONS", "BUCKET")},
		{name: "bucket not found, no origin", url: key(missing), acrm: "GET", err: badRequest(msgNoOrigin)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := corsRequest(t, http.MethodOptions, tc.url, tc.origin, tc.acrm, tc.acrh)
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			if tc.host != "" {
				req.Host = tc.host + ":" + strconv.Itoa(s.proxy.cfg.Port)
			}
			assertPreflight(t, send(t, req), tc.want, tc.err)
		})
	}

	// OPTIONS on the service endpoint: refused (the body is [OPEN]).
	r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/", appOrigin, "GET", ""))
	if r.status != http.StatusForbidden || len(corsHeaders(r.header)) != 0 {
		t.Errorf("OPTIONS /: want 403 with no CORS headers, got:\n%s", r)
	}
}

// assertPreflight checks a preflight answer: on success 200, an empty body
// with Content-Length 0 and no Content-Type, exactly the wanted CORS headers
// and S3's one Vary value; on a refusal the S3 error with no CORS headers and
// no Vary at all.
func assertPreflight(t *testing.T, r response, want map[string]string, wantErr *wantError) {
	t.Helper()
	if wantErr != nil {
		assertS3Error(t, r, *wantErr)
		assertExactCORS(t, r.header, nil)
		if v := r.header.Values("Vary"); len(v) != 0 {
			t.Errorf("a refused preflight carries Vary %q; S3 sends none", v)
		}
		return
	}
	if r.status != http.StatusOK {
		t.Fatalf("want 200, got:\n%s", r)
	}
	assertExactCORS(t, r.header, want)
	if v := r.header.Values("Vary"); !slices.Equal(v, []string{s3Vary}) {
		t.Errorf("Vary %q, want exactly %q", v, s3Vary)
	}
	if len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Errorf("want an empty body with Content-Length: 0, got %q (Content-Length %q)", r.body, r.header.Get("Content-Length"))
	}
	if ct := r.header.Get("Content-Type"); ct != "" {
		t.Errorf("a successful preflight has no Content-Type in S3, got %q", ct)
	}
}

type actualCase struct {
	name               string
	method             string
	url                string
	origin, acrm, acrh string
	body               []byte // request body
	status             int
	respBody           []byte            // the expected response body; nil: not checked
	want               map[string]string // nil: no CORS headers at all
	// direct is the same request sent straight to the store; its Vary must
	// survive in the proxy's answer. Empty skips the comparison.
	direct string
}

// testActualRequests checks the CORS headers on forwarded requests (spec C):
// the store's own Access-Control-* headers never reach the client, S3's are
// set on a match, each once, and Vary is merged with the store's.
func testActualRequests(t *testing.T, s *stack) {
	cfg := bucketName(t, "act-cfg")
	public := bucketName(t, "act-public")
	plain := bucketName(t, "act-plain")
	content := []byte("cross-origin content")
	for _, b := range []string{cfg, public, plain} {
		s.s3.createBucket(t, b)
		s.s3.putObject(t, b, "obj.txt", content)
	}
	s.s3.putCORS(t, cfg, appRules)
	s.s3.putCORS(t, public, publicRules)
	if s.store.kind == versitygw {
		// The store's own bucket CORS, set behind the proxy's back, must
		// not show through: the proxy's (none, for this bucket) is the truth.
		s.direct.putCORS(t, plain, []corsRule{{AllowedMethods: []string{"GET", "HEAD", "PUT"}, AllowedOrigins: []string{appOrigin, evilOrigin}}})
	}

	get := func(c *s3Client, bucket, key string) string { return c.presignGet(t, bucket, key) }
	head := func(c *s3Client, bucket, key string) string {
		req, err := c.presign().PresignHeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return req.URL
	}
	cases := []actualCase{
		{name: "GET, allowed origin", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"), origin: appOrigin,
			status: http.StatusOK, respBody: content, want: readMatch(), direct: get(s.direct, cfg, "obj.txt")},
		{name: "GET, origin not allowed", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"), origin: evilOrigin,
			status: http.StatusOK, respBody: content, direct: get(s.direct, cfg, "obj.txt")},
		{name: "GET, no origin", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"),
			status: http.StatusOK, respBody: content, direct: get(s.direct, cfg, "obj.txt")},
		{name: "GET evaluated as its ACRM", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"), origin: appOrigin, acrm: "PUT",
			status: http.StatusOK, respBody: content, want: uploadsMatch(appOrigin, "")},
		{name: "GET with ACRM and ACRH", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"), origin: appOrigin, acrm: "PUT", acrh: "Content-Type",
			status: http.StatusOK, respBody: content, want: uploadsMatch(appOrigin, "content-type")},
		{name: "GET with an ACRH no rule allows", method: http.MethodGet, url: get(s.s3, cfg, "obj.txt"), origin: appOrigin, acrh: "x-custom",
			status: http.StatusOK, respBody: content},
		{name: "HEAD, allowed origin", method: http.MethodHead, url: head(s.s3, cfg, "obj.txt"), origin: appOrigin,
			status: http.StatusOK, want: readMatch(), direct: head(s.direct, cfg, "obj.txt")},
		{name: "star rule: star and no credentials", method: http.MethodGet, url: get(s.s3, public, "obj.txt"), origin: evilOrigin,
			status: http.StatusOK, respBody: content, want: publicMatch(), direct: get(s.direct, public, "obj.txt")},
		{name: "HEAD against a GET-only rule", method: http.MethodHead, url: head(s.s3, public, "obj.txt"), origin: evilOrigin,
			status: http.StatusOK, direct: head(s.direct, public, "obj.txt")},
		{name: "missing key still gets the headers", method: http.MethodGet, url: get(s.s3, cfg, "nope.txt"), origin: appOrigin,
			status: http.StatusNotFound, want: readMatch(), direct: get(s.direct, cfg, "nope.txt")},
		{name: "unauthenticated request still gets the headers", method: http.MethodGet, url: s.proxy.URL + "/" + cfg + "/obj.txt", origin: appOrigin,
			status: http.StatusForbidden, want: readMatch(), direct: s.store.URL + "/" + cfg + "/obj.txt"},
		{name: "bucket without a configuration", method: http.MethodGet, url: get(s.s3, plain, "obj.txt"), origin: appOrigin,
			status: http.StatusOK, respBody: content, direct: get(s.direct, plain, "obj.txt")},
		{name: "presigned PUT, allowed origin", method: http.MethodPut, url: s.s3.presignPut(t, cfg, "upload.txt"), origin: appOrigin,
			body: []byte("uploaded cross-origin"), status: http.StatusOK, want: uploadsMatch(appOrigin, "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sendActual(t, tc.method, tc.url, tc.origin, tc.acrm, tc.acrh, tc.body)
			if r.status != tc.status {
				t.Errorf("status %d, want %d; response:\n%s", r.status, tc.status, r)
			}
			if tc.respBody != nil && !bytes.Equal(r.body, tc.respBody) {
				t.Errorf("body %q, want %q", r.body, tc.respBody)
			}
			assertExactCORS(t, r.header, tc.want)
			var direct *response
			if tc.direct != "" {
				d := sendActual(t, tc.method, tc.direct, tc.origin, tc.acrm, tc.acrh, tc.body)
				direct = &d
			}
			assertVary(t, r.header, tc.want != nil, direct)
		})
	}
	if got := s.s3.getObject(t, cfg, "upload.txt"); string(got) != "uploaded cross-origin" {
		t.Errorf("the cross-origin PUT stored %q", got)
	}

	// Requests without a bucket, or for a bucket the store does not have,
	// get no CORS headers at all, whatever the store adds (spec C.1).
	withOrigin := http.Header{"Origin": {appOrigin}}
	t.Run("service endpoint", func(t *testing.T) {
		r := rawRequest{method: http.MethodGet, url: s.proxy.URL + "/", header: withOrigin, creds: &rootCreds}.send(t)
		if r.status != http.StatusOK {
			t.Errorf("ListBuckets: want 200, got:\n%s", r)
		}
		if len(corsHeaders(r.header)) != 0 {
			t.Errorf("ListBuckets with an Origin: want no CORS headers, got:\n%s", r)
		}
	})
	t.Run("bucket the store lacks", func(t *testing.T) {
		r := sendActual(t, http.MethodGet, get(s.s3, bucketName(t, "act-missing"), "obj.txt"), appOrigin, "", "", nil)
		if r.status != http.StatusNotFound || len(corsHeaders(r.header)) != 0 {
			t.Errorf("GET in a missing bucket: want 404 and no CORS headers, got:\n%s", r)
		}
	})

	// The ?cors API's own answers carry CORS headers too, from the
	// configuration in force before the request (spec C.2).
	t.Run("cors api responses", func(t *testing.T) {
		api := bucketName(t, "act-api")
		s.s3.createBucket(t, api)
		s.s3.putCORS(t, api, appRules)
		r := rawRequest{method: http.MethodPut, url: s.corsURL(api), header: withOrigin, body: corsXML(publicRules), creds: &rootCreds}.send(t)
		if r.status != http.StatusOK {
			t.Fatalf("PUT ?cors: want 200, got:\n%s", r)
		}
		assertExactCORS(t, r.header, uploadsMatch(appOrigin, ""))
		r = rawRequest{method: http.MethodGet, url: s.corsURL(api), header: http.Header{"Origin": {evilOrigin}}, creds: &rootCreds}.send(t)
		if r.status != http.StatusOK {
			t.Fatalf("GET ?cors: want 200, got:\n%s", r)
		}
		assertExactCORS(t, r.header, publicMatch())
		// publicRules allow GET only: the DELETE that removes them gets none.
		r = rawRequest{method: http.MethodDelete, url: s.corsURL(api), header: withOrigin, creds: &rootCreds}.send(t)
		if r.status != http.StatusNoContent {
			t.Fatalf("DELETE ?cors: want 204, got:\n%s", r)
		}
		assertExactCORS(t, r.header, nil)
		// A refused call still gets the headers of a matching rule.
		s.s3.putCORS(t, api, appRules)
		r = rawRequest{method: http.MethodPut, url: s.corsURL(api), header: withOrigin, body: corsXML(publicRules)}.send(t)
		assertS3Error(t, r, wantError{status: http.StatusForbidden, code: "AccessDenied"})
		assertExactCORS(t, r.header, uploadsMatch(appOrigin, ""))
		s.s3.assertCORS(t, api, appRules)
	})
}

func sendActual(t *testing.T, method, rawURL, origin, acrm, acrh string, body []byte) response {
	t.Helper()
	req := corsRequest(t, method, rawURL, origin, acrm, acrh)
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	return send(t, req)
}

// assertVary checks Vary on a forwarded response. On a match S3's three names
// are there; the store's names (from direct, the same request sent to the
// store) are kept; no name appears twice. Without a match the proxy adds
// nothing to what the store sent.
func assertVary(t *testing.T, got http.Header, matched bool, direct *response) {
	t.Helper()
	tokens := varyTokens(got)
	seen := map[string]bool{}
	for _, tok := range tokens {
		k := strings.ToLower(tok)
		if seen[k] {
			t.Errorf("Vary names %q more than once: %q", tok, got.Values("Vary"))
		}
		seen[k] = true
	}
	if matched {
		for _, tok := range strings.Split(s3Vary, ", ") {
			if !seen[strings.ToLower(tok)] {
				t.Errorf("Vary %q lacks %s", got.Values("Vary"), tok)
			}
		}
	}
	if direct == nil {
		return
	}
	// The store's own CORS names go with its Access-Control-* headers
	// (issue 8: S3 sends no CORS Vary without a match); its other names
	// stay.
	storeTokens := map[string]bool{}
	for _, tok := range varyTokens(direct.header) {
		k := strings.ToLower(tok)
		if corsVaryName(k) {
			continue
		}
		storeTokens[k] = true
		if !seen[k] {
			t.Errorf("the store's Vary %q was dropped: got %q", tok, got.Values("Vary"))
		}
	}
	if matched {
		return
	}
	for tok := range seen {
		if !storeTokens[tok] {
			t.Errorf("Vary %q sent without a CORS match (the store sent %q)", tok, direct.header.Values("Vary"))
		}
	}
}

// corsVaryName reports whether a lower-case Vary name is one of the three
// that S3 sends with a CORS match.
func corsVaryName(name string) bool {
	for tok := range strings.SplitSeq(strings.ToLower(s3Vary), ", ") {
		if name == tok {
			return true
		}
	}
	return false
}

// testLargeObject checks that object bodies stream through intact, with the
// CORS headers, both ways: the store sees an upload before its body has been
// sent, and the client reads a download while the store still holds back the
// rest.
func testLargeObject(t *testing.T, s *stack) {
	const (
		size = 64 << 20
		part = 1 << 20
	)
	bucket := bucketName(t, "large")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, appRules)
	content := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{'e', '2', 'e'}), size) }
	wantSum := sha256.New()
	if _, err := io.Copy(wantSum, content()); err != nil {
		t.Fatal(err)
	}
	path := "/" + bucket + "/large.bin"

	upload := s.tap.gate(http.MethodPut, path, 0)
	req := corsRequest(t, http.MethodPut, s.s3.presignPut(t, bucket, "large.bin"), appOrigin, "", "")
	req.Body = io.NopCloser(&gatedReader{r: content(), after: part, wait: upload.arrived})
	req.ContentLength = size
	r := send(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("PUT of %d bytes: want 200, got:\n%s", size, r)
	}
	assertExactCORS(t, r.header, uploadsMatch(appOrigin, ""))

	download := s.tap.gate(http.MethodGet, path, part)
	req = corsRequest(t, http.MethodGet, s.s3.presignGet(t, bucket, "large.bin"), appOrigin, "", "")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gotSum := sha256.New()
	// Half of what the store sent before it holds back: the proxy may keep
	// the last few KB of that in its buffers until more arrives, so waiting
	// for all of it would test the buffer's size, not whether it streams.
	n, err := io.CopyN(gotSum, resp.Body, part/2)
	close(download.release)
	if err != nil {
		t.Fatalf("reading the first %d bytes of the object: %v", part/2, err)
	}
	if download.timedOut.Load() {
		t.Errorf("the client got no part of the object while the store held back the rest: the proxy buffers response bodies")
	}
	rest, err := io.Copy(gotSum, resp.Body)
	n += rest
	if err != nil {
		t.Fatalf("reading the object after %d bytes: %v", n, err)
	}
	if resp.StatusCode != http.StatusOK || n != size || !bytes.Equal(gotSum.Sum(nil), wantSum.Sum(nil)) {
		t.Errorf("GET: status %d, %d bytes, sha256 %s; want 200, %d bytes, sha256 %s",
			resp.StatusCode, n, hex.EncodeToString(gotSum.Sum(nil)), size, hex.EncodeToString(wantSum.Sum(nil)))
	}
	if resp.ContentLength != size {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, size)
	}
	assertExactCORS(t, resp.Header, readMatch())
}

// testBadInput checks that invalid PutBucketCors requests get S3's errors and
// leave the stored configuration as it was.
func testBadInput(t *testing.T, s *stack) {
	bucket := bucketName(t, "bad")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, appRules)

	rule := func(mod func(*corsRule)) []byte {
		r := corsRule{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{appOrigin}}
		mod(&r)
		return corsXML([]corsRule{r})
	}
	var tooMany []corsRule
	for range 101 {
		tooMany = append(tooMany, corsRule{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{appOrigin}})
	}
	// Under 100 rules, valid, but over 64 KB.
	var tooBig []corsRule
	for i := range 90 {
		tooBig = append(tooBig, corsRule{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://" + strings.Repeat("a", 800) + strconv.Itoa(i) + ".example"}})
	}

	cases := []struct {
		name string
		req  rawRequest
		want *wantError // nil: any S3 error with a 4xx status
	}{
		{"not XML", rawRequest{body: []byte("this is not XML")}, malformedXML()},
		{"truncated XML", rawRequest{body: corsXML(appRules)[:100]}, malformedXML()},
		{"no rules", rawRequest{body: []byte(`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`)}, malformedXML()},
		{"rule without origin", rawRequest{body: rule(func(r *corsRule) { r.AllowedOrigins = nil })}, malformedXML()},
		{"unknown element", rawRequest{body: []byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><AllowedHeaders>x</AllowedHeaders></CORSRule></CORSConfiguration>`)}, malformedXML()},
		{"MaxAgeSeconds not a number", rawRequest{body: []byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>a</MaxAgeSeconds></CORSRule></CORSConfiguration>`)}, malformedXML()},
		{"unsupported method", rawRequest{body: rule(func(r *corsRule) { r.AllowedMethods = []string{"GET", "MYMETHOD"} })},
			invalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD")},
		{"two wildcards in an origin", rawRequest{body: rule(func(r *corsRule) { r.AllowedOrigins = []string{"*example*.com"} })},
			invalidRequest(`AllowedOrigin "*example*.com" can not have more than one wildcard.`)},
		{"two wildcards in a header", rawRequest{body: rule(func(r *corsRule) { r.AllowedHeaders = []string{"x-*-*"} })},
			invalidRequest(`AllowedHeader "x-*-*" can not have more than one wildcard.`)},
		{"wildcard in an expose header", rawRequest{body: rule(func(r *corsRule) { r.ExposeHeaders = []string{"x-amz-meta-*"} })},
			invalidRequest(`ExposeHeader "x-amz-meta-*" contains wildcard. We currently do not support wildcard for ExposeHeader.`)},
		{"101 rules", rawRequest{body: corsXML(tooMany)},
			invalidRequest("The number of CORS rules should not exceed allowed limit of 100 rules.")},
		{"body over 64 KB", rawRequest{body: corsXML(tooBig)}, nil},
		{"no integrity header", rawRequest{body: corsXML(publicRules), checksum: checksumNone}, &wantError{status: http.StatusBadRequest, code: "InvalidRequest"}},
		{"wrong Content-MD5", rawRequest{body: corsXML(publicRules), checksum: checksumNone,
			header: http.Header{"Content-Md5": {md5Base64([]byte("something else"))}}},
			&wantError{
				status: http.StatusBadRequest, code: "BadDigest", message: "The Content-MD5 you specified did not match what we received.",
				extras: [][2]string{{"ExpectedDigest", md5Hex([]byte("something else"))}, {"CalculatedDigest", md5Base64(corsXML(publicRules))}},
			}},
		{"malformed Content-MD5", rawRequest{body: corsXML(publicRules), checksum: checksumNone,
			header: http.Header{"Content-Md5": {"not-base64!"}}},
			&wantError{
				status: http.StatusBadRequest, code: "InvalidDigest", message: "The Content-MD5 you specified was invalid.",
				extras: [][2]string{{"Content-MD5", "not-base64!"}},
			}},
		{"wrong CRC32", rawRequest{body: corsXML(publicRules), checksum: checksumNone,
			header: http.Header{"X-Amz-Checksum-Crc32": {crc32Base64([]byte("something else"))}}},
			&wantError{status: http.StatusBadRequest, code: "BadDigest", message: "The CRC32 you specified did not match the calculated checksum."}},
		{"CRC32 value not a CRC32", rawRequest{body: corsXML(publicRules), checksum: checksumNone,
			header: http.Header{"X-Amz-Checksum-Crc32": {"AAAA"}}},
			invalidRequest("Value for x-amz-checksum-crc32 header is invalid.")},
		{"two checksum headers", rawRequest{body: corsXML(publicRules),
			header: http.Header{"X-Amz-Checksum-Sha256": {sha256Base64(corsXML(publicRules))}}},
			invalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")},
		{"checksum algorithm without its checksum", rawRequest{body: corsXML(publicRules), checksum: checksumMD5,
			header: http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"SHA256"}}},
			&wantError{status: http.StatusBadRequest}},
		{"empty rule", rawRequest{body: []byte(`<CORSConfiguration><CORSRule></CORSRule></CORSConfiguration>`)}, malformedXML()},
		{"rule without method", rawRequest{body: rule(func(r *corsRule) { r.AllowedMethods = nil })}, malformedXML()},
		{"empty method", rawRequest{body: rule(func(r *corsRule) { r.AllowedMethods = []string{""} })},
			invalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is ")},
		{"OPTIONS as a method", rawRequest{body: rule(func(r *corsRule) { r.AllowedMethods = []string{"OPTIONS"} })},
			invalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS")},
		{"the first invalid rule is reported", rawRequest{body: corsXML([]corsRule{
			{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}},
			{AllowedMethods: []string{"FIRST"}, AllowedOrigins: []string{"*"}},
			{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"a*b*c"}},
		})}, invalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is FIRST")},
		{"ID over 255 characters", rawRequest{body: rule(func(r *corsRule) { r.ID = strings.Repeat("i", 256) })}, &wantError{status: http.StatusBadRequest}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.method, req.url, req.creds = http.MethodPut, s.corsURL(bucket), &rootCreds
			r := req.send(t)
			if tc.want != nil {
				assertS3Error(t, r, *tc.want)
			} else {
				e := assertS3Error(t, r, wantError{status: http.StatusBadRequest})
				t.Logf("[OPEN in the spec] code %q, message %q", e.get("Code"), e.get("Message"))
			}
			s.s3.assertCORS(t, bucket, appRules)
		})
	}

	// Documents S3 accepts although they look odd: stored and returned
	// verbatim (spec A.2, A.3 V15, A.7).
	t.Run("accepted as sent", func(t *testing.T) {
		body := xmlDeclaration + `<CORSConfiguration><CORSRule>` +
			`<MaxAgeSeconds>0</MaxAgeSeconds><AllowedOrigin>http://test.com:80</AllowedOrigin><AllowedOrigin></AllowedOrigin>` +
			`<AllowedHeader>x-AMZ-server-SIDE-encryption</AllowedHeader><AllowedMethod>PUT</AllowedMethod><ID>odd</ID>` +
			`<AllowedOrigin>localhost</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>X-Custom</ExposeHeader>` +
			`</CORSRule></CORSConfiguration>`
		want := []corsRule{{
			ID:             "odd",
			AllowedHeaders: []string{"x-AMZ-server-SIDE-encryption"},
			AllowedMethods: []string{"PUT", "GET"},
			AllowedOrigins: []string{"http://test.com:80", "", "localhost"},
			ExposeHeaders:  []string{"X-Custom"},
			MaxAgeSeconds:  maxAge(0),
		}}
		other := bucketName(t, "accepted")
		s.s3.createBucket(t, other)
		r := s.signedCORS(http.MethodPut, other, []byte(body)).send(t)
		if r.status != http.StatusOK {
			t.Fatalf("want 200, got:\n%s", r)
		}
		r = s.signedCORS(http.MethodGet, other, nil).send(t)
		if got, err := parseCORSXML(r.body); r.status != http.StatusOK || err != nil || !equalRules(got, want) {
			t.Errorf("GET ?cors: want 200 and %+v, got:\n%s", want, r)
		}
		// Unsigned payload with Content-MD5, as minio-go and mc send it.
		req := s.signedCORS(http.MethodPut, other, corsXML(publicRules))
		req.payloadHash, req.checksum = "UNSIGNED-PAYLOAD", checksumMD5
		if r := req.send(t); r.status != http.StatusOK {
			t.Errorf("PUT with UNSIGNED-PAYLOAD and Content-MD5: want 200, got:\n%s", r)
		}
		s.s3.assertCORS(t, other, publicRules)
	})

	// Invalid bucket names: refused the S3 way, nothing stored under them.
	for _, name := range []string{"Upper-Case", "ab", "bad..dots", "-leading-dash", "under_score", "192.168.1.1"} {
		t.Run("bucket name "+name, func(t *testing.T) {
			r := s.signedCORS(http.MethodPut, name, corsXML(publicRules)).send(t)
			assertS3Error(t, r, wantError{status: http.StatusBadRequest, code: "InvalidBucketName",
				message: "The specified bucket is not valid.", extras: [][2]string{{"BucketName", name}}})
			if g := s.signedCORS(http.MethodGet, name, nil).send(t); g.status == http.StatusOK {
				t.Errorf("GET /%s?cors after a refused PUT: 200, want an error:\n%s", name, g)
			}
		})
	}
}

// testAuth checks that every ?cors call that is not properly signed by a
// configured key is refused with S3's error and changes nothing.
func testAuth(t *testing.T, s *stack) {
	bucket := bucketName(t, "auth")
	other := bucketName(t, "auth-other")
	for _, b := range []string{bucket, other, scopedBucket} {
		s.s3.createBucket(t, b)
	}
	s.s3.putCORS(t, bucket, appRules)
	body := corsXML(publicRules)
	wrongSecret := aws.Credentials{AccessKeyID: rootAccessKey, SecretAccessKey: "not-the-secret"}
	unknown := aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: rootSecretKey}
	scoped := aws.Credentials{AccessKeyID: scopedAccessKey, SecretAccessKey: scopedSecretKey}

	// A request signed for bucket, replayed byte for byte against other.
	captured := s.signedCORS(http.MethodPut, bucket, body).build(t)
	replay, err := http.NewRequestWithContext(t.Context(), http.MethodPut, s.corsURL(other), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	replay.Header = captured.Header.Clone()

	// A request signed over one body and sent with another valid document
	// of the same length.
	tampered := s.signedCORS(http.MethodPut, bucket, body).build(t)
	evil := bytes.Replace(body, []byte(">GET<"), []byte(">PUT<"), 1)
	tampered.Body = io.NopCloser(bytes.NewReader(evil))

	expired := presignCORS(t, rootCreds, http.MethodPut, s.corsURL(bucket),
		http.Header{"Content-Md5": {md5Base64(body)}}, time.Minute, nowMinus(10*60))

	cases := []struct {
		name  string
		req   *http.Request
		codes []string // any of these
		st    int
	}{
		{"unsigned PUT", rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body}.build(t), []string{"AccessDenied"}, http.StatusForbidden},
		{"unsigned DELETE", rawRequest{method: http.MethodDelete, url: s.corsURL(bucket)}.build(t), []string{"AccessDenied"}, http.StatusForbidden},
		{"unsigned GET", rawRequest{method: http.MethodGet, url: s.corsURL(bucket)}.build(t), []string{"AccessDenied"}, http.StatusForbidden},
		{"wrong secret", rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body, creds: &wrongSecret}.build(t),
			[]string{"SignatureDoesNotMatch"}, http.StatusForbidden},
		{"wrong secret, DELETE", rawRequest{method: http.MethodDelete, url: s.corsURL(bucket), creds: &wrongSecret}.build(t),
			[]string{"SignatureDoesNotMatch"}, http.StatusForbidden},
		{"unknown key", rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body, creds: &unknown}.build(t),
			[]string{"InvalidAccessKeyId"}, http.StatusForbidden},
		{"clock 20 minutes slow", rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body, creds: &rootCreds, at: nowMinus(20 * 60)}.build(t),
			[]string{"RequestTimeTooSkewed"}, http.StatusForbidden},
		{"clock 20 minutes fast", rawRequest{method: http.MethodDelete, url: s.corsURL(bucket), creds: &rootCreds, at: nowMinus(-20 * 60)}.build(t),
			[]string{"RequestTimeTooSkewed"}, http.StatusForbidden},
		// The signature holds, the payload hash does not: S3 reports the
		// hash (or, checking the checksum first, the digest).
		{"body tampered after signing", tampered, []string{"XAmzContentSHA256Mismatch", "BadDigest"}, http.StatusBadRequest},
		{"replayed against another bucket", replay, []string{"SignatureDoesNotMatch"}, http.StatusForbidden},
		{"key scoped to another bucket", rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body, creds: &scoped}.build(t),
			[]string{"AccessDenied"}, http.StatusForbidden},
		{"key scoped to another bucket, DELETE", rawRequest{method: http.MethodDelete, url: s.corsURL(bucket), creds: &scoped}.build(t),
			[]string{"AccessDenied"}, http.StatusForbidden},
		{"expired presigned URL", presignedRequest(t, http.MethodPut, expired, body, http.Header{"Content-Md5": {md5Base64(body)}}),
			[]string{"AccessDenied"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.req)
			e := assertS3Error(t, r, wantError{status: tc.st})
			if !slices.Contains(tc.codes, e.get("Code")) {
				t.Errorf("Code %q, want one of %v; response:\n%s", e.get("Code"), tc.codes, r)
			}
			s.s3.assertCORS(t, bucket, appRules)
			s.s3.assertCORS(t, other, nil)
		})
	}

	// The scoped key works on its own bucket, and only there.
	r := rawRequest{method: http.MethodPut, url: s.corsURL(scopedBucket), body: body, creds: &scoped}.send(t)
	if r.status != http.StatusOK {
		t.Errorf("the scoped key on its own bucket: want 200, got:\n%s", r)
	}
	s.s3.assertCORS(t, scopedBucket, publicRules)
	r = rawRequest{method: http.MethodDelete, url: s.corsURL(scopedBucket), creds: &scoped}.send(t)
	if r.status != http.StatusNoContent {
		t.Errorf("the scoped key deleting on its own bucket: want 204, got:\n%s", r)
	}
	s.s3.assertCORS(t, scopedBucket, nil)
}

// parseCORSXML reads a GetBucketCors body (or any CORSConfiguration
// document), namespace or not.
func parseCORSXML(body []byte) ([]corsRule, error) {
	var doc struct {
		XMLName xml.Name `xml:"CORSConfiguration"`
		Rules   []struct {
			ID             string   `xml:"ID"`
			AllowedHeaders []string `xml:"AllowedHeader"`
			AllowedMethods []string `xml:"AllowedMethod"`
			AllowedOrigins []string `xml:"AllowedOrigin"`
			ExposeHeaders  []string `xml:"ExposeHeader"`
			MaxAgeSeconds  *int32   `xml:"MaxAgeSeconds"`
		} `xml:"CORSRule"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var out []corsRule
	for _, r := range doc.Rules {
		out = append(out, corsRule{
			ID:             r.ID,
			AllowedHeaders: r.AllowedHeaders,
			AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins,
			ExposeHeaders:  r.ExposeHeaders,
			MaxAgeSeconds:  r.MaxAgeSeconds,
		})
	}
	return out, nil
}

func equalRules(a, b []corsRule) bool {
	return slices.EqualFunc(a, b, func(x, y corsRule) bool {
		return x.ID == y.ID && slices.Equal(x.AllowedHeaders, y.AllowedHeaders) &&
			slices.Equal(x.AllowedMethods, y.AllowedMethods) && slices.Equal(x.AllowedOrigins, y.AllowedOrigins) &&
			slices.Equal(x.ExposeHeaders, y.ExposeHeaders) &&
			(x.MaxAgeSeconds == nil) == (y.MaxAgeSeconds == nil) &&
			(x.MaxAgeSeconds == nil || *x.MaxAgeSeconds == *y.MaxAgeSeconds)
	})
}

// testConcurrentWriters sends several PutBucketCors for one bucket at once:
// each gets 200 and the bucket ends with one of the documents, whole.
func testConcurrentWriters(t *testing.T, s *stack) {
	const writers = 8
	bucket := bucketName(t, "concurrent")
	s.s3.createBucket(t, bucket)
	docs := make([][]corsRule, writers)
	reqs := make([]*http.Request, writers)
	for i := range writers {
		docs[i] = []corsRule{
			{ID: "writer " + strconv.Itoa(i), AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://w" + strconv.Itoa(i) + ".example"}},
			{ID: "writer " + strconv.Itoa(i) + " second rule", AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{"*"}},
		}
		reqs[i] = s.signedCORS(http.MethodPut, bucket, corsXML(docs[i])).build(t)
	}
	statuses := make([]int, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			resp, err := httpClient.Do(reqs[i])
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i := range writers {
		if errs[i] != nil || statuses[i] != http.StatusOK {
			t.Errorf("writer %d: status %d, error %v; want 200", i, statuses[i], errs[i])
		}
	}
	got := s.s3.getCORS(t, bucket)
	if !slices.ContainsFunc(docs, func(d []corsRule) bool { return equalRules(d, got) }) {
		t.Errorf("after %d concurrent writers the bucket holds %+v, which none of them sent", writers, got)
	}
}
