package e2e

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestUpstreams talks to each store directly (through the tap, with no proxy)
// and checks the behaviour the proxy tests build on. If one of these changes,
// a proxy test could pass without proving anything: MinIO must leak its own
// CORS headers, gofakes3 must delete a bucket on a forwarded DELETE ?cors.
func TestUpstreams(t *testing.T) {
	for _, kind := range []string{versitygw, minio, gofakes3} {
		t.Run(kind, func(t *testing.T) {
			st := startStore(t, kind)
			tp := startTap(t, st.URL)
			c := newS3Client(tp.URL, rootCreds)
			bucket := bucketName(t, "smoke")
			c.createBucket(t, bucket)
			body := []byte("hello from " + kind)
			c.putObject(t, bucket, "hello.txt", body)
			if got := c.getObject(t, bucket, "hello.txt"); !bytes.Equal(got, body) {
				t.Errorf("GetObject returned %q, want %q", got, body)
			}
			if len(tp.requests()) < 3 {
				t.Errorf("the tap recorded %v, want at least the three requests made through it", tp.requests())
			}

			switch kind {
			case versitygw:
				rules := []corsRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://app.example.com"}}}
				c.putCORS(t, bucket, rules)
				c.assertCORS(t, bucket, rules)
			case minio:
				_, err := c.PutBucketCors(t.Context(), &s3.PutBucketCorsInput{
					Bucket:            aws.String(bucket),
					CORSConfiguration: &types.CORSConfiguration{CORSRules: toSDK([]corsRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}})},
				})
				if code := apiErrorCode(err); code != "NotImplemented" {
					t.Errorf("MinIO PutBucketCors: %v (code %q), want NotImplemented", err, code)
				}
				// MinIO's default global CORS echoes any origin with
				// credentials; the proxy tests rely on this noise being there.
				req := corsRequest(t, http.MethodGet, c.presignGet(t, bucket, "hello.txt"), "https://evil.example", "", "")
				r := send(t, req)
				if r.status != http.StatusOK || r.header.Get(hACAO) != "https://evil.example" || r.header.Get(hACAC) != "true" {
					t.Errorf("MinIO no longer echoes a foreign origin with credentials; the stripping tests need it to:\n%s", r)
				}
				// Two Vary lines, one with a name S3's Vary lacks: what the
				// proxy must merge with its own.
				if v := r.header.Values("Vary"); len(v) < 2 || !slices.ContainsFunc(varyTokens(r.header), func(s string) bool { return strings.EqualFold(s, "Accept-Encoding") }) {
					t.Errorf("MinIO's Vary is %q; the Vary merge tests expect Origin and Accept-Encoding on separate lines", v)
				}
			case gofakes3:
				_, err := c.DeleteBucketCors(t.Context(), &s3.DeleteBucketCorsInput{Bucket: aws.String(bucket)})
				if code := apiErrorCode(err); code != "BucketNotEmpty" {
					t.Errorf("gofakes3 DELETE ?cors on a bucket with an object: %v (code %q), want BucketNotEmpty", err, code)
				}
				empty := bucketName(t, "canary")
				c.createBucket(t, empty)
				if _, err := c.DeleteBucketCors(t.Context(), &s3.DeleteBucketCorsInput{Bucket: aws.String(empty)}); err != nil {
					t.Fatalf("gofakes3 DELETE ?cors: %v", err)
				}
				if _, err := c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(empty)}); err == nil {
					t.Error("gofakes3 kept the empty bucket after DELETE ?cors: the canary test would prove nothing")
				}
			}
		})
	}
}
