package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func corsInput(bucket string) *awss3.PutBucketCorsInput {
	return &awss3.PutBucketCorsInput{
		Bucket: aws.String(bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedMethods: []string{"GET", "PUT"},
			AllowedOrigins: []string{"https://app.example"},
			AllowedHeaders: []string{"*"},
			MaxAgeSeconds:  aws.Int32(3000),
		}}},
	}
}

// TestSDKCallsVerify sends the three ?cors operations with aws-sdk-go-v2
// service/s3, with every checksum it can compute, and checks that the gateway
// authenticates them and accepts their integrity headers: a checksum value
// computed by the SDK must match the one this package computes.
func TestSDKCallsVerify(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	md5Of := func(in *awss3.PutBucketCorsInput) *string {
		// The SDK does not compute Content-MD5; callers do, over the body the
		// SDK serialises, which is the same for the same input.
		var body []byte
		c := g.sdkClient(testAccessKey, testSecret, testRegion, func(o *awss3.Options) {
			o.HTTPClient = doerFunc(func(r *http.Request) (*http.Response, error) {
				body, _ = io.ReadAll(r.Body)
				return nil, errors.New("captured")
			})
		})
		_, _ = c.PutBucketCors(ctx, in)
		sum := md5.Sum(body)
		return aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	tests := []struct {
		name       string
		call       func(*awss3.Client) error
		opts       func(*awss3.Options)
		wantHeader string // an integrity header the gateway must have seen
	}{
		{name: "PutBucketCors, default CRC32", wantHeader: "X-Amz-Checksum-Crc32",
			call: func(c *awss3.Client) error { _, err := c.PutBucketCors(ctx, corsInput("bucket")); return err }},
		{name: "PutBucketCors, checksum when required", wantHeader: "X-Amz-Checksum-Crc32",
			opts: func(o *awss3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired },
			call: func(c *awss3.Client) error { _, err := c.PutBucketCors(ctx, corsInput("bucket")); return err }},
		{name: "PutBucketCors with Content-MD5", wantHeader: "Content-Md5",
			call: func(c *awss3.Client) error {
				in := corsInput("bucket")
				in.ContentMD5 = md5Of(in)
				_, err := c.PutBucketCors(ctx, in)
				return err
			}},
		{name: "GetBucketCors", call: func(c *awss3.Client) error {
			out, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("bucket")})
			if err == nil && len(out.CORSRules) != 1 {
				return errors.New("GetBucketCors returned no rule")
			}
			return err
		}},
		{name: "DeleteBucketCors", call: func(c *awss3.Client) error {
			_, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String("bucket")})
			return err
		}},
		{name: "bucket and expected owner", call: func(c *awss3.Client) error {
			_, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("bucket"), ExpectedBucketOwner: aws.String("111122223333")})
			return err
		}},
	}
	for _, alg := range []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
	} {
		tests = append(tests, struct {
			name       string
			call       func(*awss3.Client) error
			opts       func(*awss3.Options)
			wantHeader string
		}{
			name:       "PutBucketCors with " + string(alg),
			wantHeader: "X-Amz-Checksum-" + strings.ToLower(string(alg)),
			call: func(c *awss3.Client) error {
				in := corsInput("bucket")
				in.ChecksumAlgorithm = alg
				_, err := c.PutBucketCors(ctx, in)
				return err
			},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*awss3.Options)
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			if err := tt.call(g.sdkClient(testAccessKey, testSecret, testRegion, opts...)); err != nil {
				t.Fatalf("SDK call: %v", err)
			}
			s := g.last(t)
			if s.err != nil || s.cred == nil || s.cred.AccessKeyID != testAccessKey {
				t.Fatalf("gateway: cred %v, err %v %v", s.cred, s.err, s.err.Extra)
			}
			if !strings.Contains(s.uri, "cors") || Classify(&http.Request{Method: s.method, URL: mustParseURI(t, s.uri)}, nil).Kind != KindCORS {
				t.Errorf("%s is not a ?cors request", s.uri)
			}
			if tt.wantHeader != "" && s.header.Get(tt.wantHeader) == "" {
				t.Errorf("the SDK sent no %s: %v", tt.wantHeader, s.header)
			}
			if s.method == http.MethodPut {
				// The same body with one byte changed must fail the SDK's checksum.
				bad := bytes.Replace(s.body, []byte("3000"), []byte("3001"), 1)
				if err := CheckIntegrity(s.header, bad); err == nil || err.Code != "BadDigest" {
					t.Errorf("CheckIntegrity of a changed body = %v, want BadDigest", err)
				}
			}
		})
	}
}

// TestSDKErrors checks what the SDK reports for each refusal: the code it
// parses from the body shows that the error document is S3's.
func TestSDKErrors(t *testing.T) {
	ctx := context.Background()
	put := func(c *awss3.Client) error { _, err := c.PutBucketCors(ctx, corsInput("bucket")); return err }
	tamper := func(g *gateway, edit func(*http.Request)) func(*awss3.Options) {
		return func(o *awss3.Options) {
			o.HTTPClient = doerFunc(func(r *http.Request) (*http.Response, error) {
				edit(r)
				return g.Client().Do(r)
			})
		}
	}
	tests := []struct {
		name              string
		accessKey, secret string
		region            string
		now               time.Duration // verifier clock offset
		opts              func(g *gateway) func(*awss3.Options)
		call              func(*awss3.Client) error
		code              string
		status            int
	}{
		{name: "wrong secret", secret: "not-the-secret", code: "SignatureDoesNotMatch", status: 403},
		{name: "unknown access key", accessKey: "AKIDNOBODY", code: "InvalidAccessKeyId", status: 403},
		{name: "another region", region: "eu-west-1", code: "AuthorizationHeaderMalformed", status: 400},
		{name: "clock 20 minutes ahead", now: 20 * time.Minute, code: "RequestTimeTooSkewed", status: 403},
		{name: "clock 20 minutes behind", now: -20 * time.Minute, code: "RequestTimeTooSkewed", status: 403},
		{name: "tampered body", code: "XAmzContentSHA256Mismatch", status: 400, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				body = bytes.Replace(body, []byte("3000"), []byte("9999"), 1)
				r.Body = io.NopCloser(bytes.NewReader(body))
			})
		}},
		{name: "tampered signed header", code: "SignatureDoesNotMatch", status: 403, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
		}},
		{name: "tampered checksum", code: "SignatureDoesNotMatch", status: 403, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) { r.Header.Set("X-Amz-Checksum-Crc32", "AAAAAA==") })
		}},
		{name: "unsigned x-amz header added", code: "AccessDenied", status: 403, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) { r.Header.Set("X-Amz-Meta-Evil", "1") })
		}},
		{name: "replayed against another bucket", code: "SignatureDoesNotMatch", status: 403, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) { r.URL.Path = "/other" })
		}},
		{name: "anonymous", code: "AccessDenied", status: 403, opts: func(g *gateway) func(*awss3.Options) {
			return tamper(g, func(r *http.Request) { r.Header.Del("Authorization") })
		}},
		{name: "wrong Content-MD5", code: "BadDigest", status: 400, call: func(c *awss3.Client) error {
			in := corsInput("bucket")
			in.ContentMD5 = aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")
			_, err := c.PutBucketCors(ctx, in)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t)
			if tt.now != 0 {
				g.verifier.Now = func() time.Time { return time.Now().Add(tt.now) }
			}
			accessKey, secret, region := tt.accessKey, tt.secret, tt.region
			if accessKey == "" {
				accessKey = testAccessKey
			}
			if secret == "" {
				secret = testSecret
			}
			if region == "" {
				region = testRegion
			}
			var opts []func(*awss3.Options)
			if tt.opts != nil {
				opts = append(opts, tt.opts(g))
			}
			call := tt.call
			if call == nil {
				call = put
			}
			err := call(g.sdkClient(accessKey, secret, region, opts...))
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Fatalf("SDK error = %v, want %s", err, tt.code)
			}
			var respErr *smithyhttp.ResponseError
			if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != tt.status {
				t.Fatalf("status = %v, want %d", err, tt.status)
			}
			s := g.last(t)
			if s.err == nil || s.err.Code != tt.code {
				t.Fatalf("gateway error = %v, want %s", s.err, tt.code)
			}
			for _, f := range s.err.Extra {
				if strings.Contains(f.Value, testSecret) || strings.Contains(f.Value, "not-the-secret") {
					t.Errorf("%s reveals a secret", f.Name)
				}
			}
		})
	}
}

// addCORSQuery turns the request the SDK builds into one for the bucket's
// ?cors sub-resource before it is signed: the SDK has no presigner for the
// ?cors operations, so the presigners of DeleteBucket and PutObject are
// bent to produce DeleteBucketCors and PutBucketCors URLs.
func addCORSQuery(o *awss3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Build.Add(middleware.BuildMiddlewareFunc("testCORSQuery", func(ctx context.Context, in middleware.BuildInput,
			next middleware.BuildHandler,
		) (middleware.BuildOutput, middleware.Metadata, error) {
			req := in.Request.(*smithyhttp.Request)
			req.URL.Path = strings.TrimSuffix(req.URL.Path, "/cors-key")
			req.URL.RawPath = ""
			if !strings.Contains(req.URL.RawQuery, "cors=") {
				req.URL.RawQuery = strings.TrimPrefix(req.URL.RawQuery+"&cors=", "&")
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	})
}

func TestSDKPresignedCORSRequests(t *testing.T) {
	ctx := context.Background()
	g := newGateway(t)
	body := []byte(corsBody)
	sum := md5.Sum(body)
	contentMD5 := base64.StdEncoding.EncodeToString(sum[:])
	presigner := awss3.NewPresignClient(g.sdkClient(testAccessKey, testSecret, testRegion), func(po *awss3.PresignOptions) {
		po.ClientOptions = append(po.ClientOptions, addCORSQuery)
		po.Expires = 10 * time.Minute
	})
	send := func(t *testing.T, method, url string, header http.Header, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range header {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := g.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}

	t.Run("DeleteBucketCors", func(t *testing.T) {
		p, err := presigner.PresignDeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("bucket")})
		if err != nil {
			t.Fatal(err)
		}
		if resp := send(t, p.Method, p.URL, p.SignedHeader, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d: %v", resp.StatusCode, g.last(t).err)
		}
		if s := g.last(t); !strings.Contains(s.uri, "cors=") || s.cred == nil {
			t.Fatalf("gateway saw %s, cred %v", s.uri, s.cred)
		}
	})

	t.Run("PutBucketCors with Content-MD5", func(t *testing.T) {
		p, err := presigner.PresignPutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String("bucket"), Key: aws.String("cors-key"), ContentMD5: aws.String(contentMD5),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.URL, "/bucket?") || p.SignedHeader.Get("Content-Md5") != contentMD5 {
			t.Fatalf("presigned %s %v", p.URL, p.SignedHeader)
		}
		if resp := send(t, p.Method, p.URL, p.SignedHeader, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %v", resp.StatusCode, g.last(t).err)
		}
		// The same URL with another body: the URL signs no payload, but the
		// signed Content-MD5 catches it.
		other := bytes.Replace(body, []byte("GET"), []byte("PUT"), 1)
		if resp := send(t, p.Method, p.URL, p.SignedHeader, other); resp.StatusCode != http.StatusBadRequest ||
			g.last(t).err.Code != "BadDigest" {
			t.Fatalf("status %d: %v, want BadDigest", resp.StatusCode, g.last(t).err)
		}
		// Without its Content-MD5 the signature fails.
		if resp := send(t, p.Method, p.URL, nil, body); resp.StatusCode != http.StatusForbidden ||
			g.last(t).err.Code != "SignatureDoesNotMatch" {
			t.Fatalf("status %d: %v, want SignatureDoesNotMatch", resp.StatusCode, g.last(t).err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		p, err := presigner.PresignDeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("bucket")},
			awss3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		g.verifier.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
		defer func() { g.verifier.Now = time.Now }()
		if resp := send(t, p.Method, p.URL, p.SignedHeader, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if e := g.last(t).err; e == nil || e.Message != "Request has expired" || e.Get("X-Amz-Expires") != "60" {
			t.Fatalf("gateway error %v %v", e, e.Extra)
		}
	})
}

func mustParseURI(t *testing.T, uri string) *url.URL {
	t.Helper()
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
