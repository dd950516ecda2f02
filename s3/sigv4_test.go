package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The examples of the AWS documentation ("Signature Calculations for the
// Authorization Header" and "Authenticating Requests: Using Query
// Parameters"): their key, date and signatures were computed by AWS, not by
// the signer this package uses.
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docHost      = "examplebucket.s3.amazonaws.com"
	docEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docVerifier() *Verifier {
	v := NewVerifier("us-east-1", []Credential{{AccessKeyID: docAccessKey, SecretAccessKey: docSecret}})
	v.Now = fixedClock(docTime)
	return v
}

func docAuthorization(signed, signature string) string {
	return "AWS4-HMAC-SHA256 Credential=" + docAccessKey + "/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=" + signed + ",Signature=" + signature
}

func TestVerifyAWSDocumentationExamples(t *testing.T) {
	const content = "Welcome to Amazon S3."
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
	}{
		{
			name: "GET Object", method: "GET", target: "/test.txt",
			header: map[string]string{
				"Range": "bytes=0-9", "X-Amz-Content-Sha256": docEmptyHash, "X-Amz-Date": "20130524T000000Z",
				"Authorization": docAuthorization("host;range;x-amz-content-sha256;x-amz-date",
					"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
			},
		},
		{
			// The key is sent escaped and signed without escaping it again.
			name: "PUT Object", method: "PUT", target: "/test%24file.text", body: content,
			header: map[string]string{
				"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Date": "20130524T000000Z",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
				"Authorization": docAuthorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
					"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
			},
		},
		{
			// A bare sub-resource, as ?cors is sent, is signed as "lifecycle=".
			name: "GET Bucket Lifecycle", method: "GET", target: "/?lifecycle",
			header: map[string]string{
				"X-Amz-Content-Sha256": docEmptyHash, "X-Amz-Date": "20130524T000000Z",
				"Authorization": docAuthorization("host;x-amz-content-sha256;x-amz-date",
					"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
			},
		},
		{
			name: "GET Bucket (List Objects)", method: "GET", target: "/?max-keys=2&prefix=J",
			header: map[string]string{
				"X-Amz-Content-Sha256": docEmptyHash, "X-Amz-Date": "20130524T000000Z",
				"Authorization": docAuthorization("host;x-amz-content-sha256;x-amz-date",
					"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
			},
		},
		{
			name: "presigned GET Object", method: "GET",
			target: "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + docAccessKey +
				"%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400" +
				"&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			r.Host = docHost
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			cred, err := docVerifier().Verify(r, []byte(tt.body))
			if err != nil {
				t.Fatalf("Verify: %v %v", err, err.Extra)
			}
			if cred.AccessKeyID != docAccessKey {
				t.Errorf("credential = %q, want %q", cred.AccessKeyID, docAccessKey)
			}
		})
	}
}

// signed builds a request to the gateway signed in the Authorization header
// by aws-sdk-go-v2's signer, as a client would send it.
func signed(t *testing.T, method, target string, body []byte, header http.Header, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Host = "gateway.test:8443"
	for k, vs := range header {
		r.Header[k] = vs
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
		r.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash, "s3", testRegion, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// presign builds a presigned request to the gateway with the signer.
func presign(t *testing.T, method, target string, expires string, header http.Header, at time.Time) *http.Request {
	t.Helper()
	u, err := url.Parse("http://gateway.test:8443" + target)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("X-Amz-Expires", expires)
	u.RawQuery = q.Encode()
	r := &http.Request{Method: method, URL: u, Host: u.Host, Header: header.Clone()}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = unsignedHash
	}
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	signedURL, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payloadHash, "s3", testRegion, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(signedURL)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, pu.RequestURI(), nil)
	req.Host = "gateway.test:8443"
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

func testVerifier(now time.Time) *Verifier {
	v := NewVerifier(testRegion, []Credential{{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, Buckets: []string{"bucket"}}})
	v.Now = fixedClock(now)
	return v
}

var signTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// errorWant describes an expected refusal; Extra lists only the fields the
// case pins down.
type errorWant struct {
	status        int
	code, message string
	extra         map[string]string
}

func checkError(t *testing.T, got *Error, want *errorWant) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("got %v %v, want success", got, got.Extra)
		}
		return
	}
	if got == nil {
		t.Fatalf("got success, want %s %q", want.code, want.message)
	}
	if got.StatusCode != want.status || got.Code != want.code || got.Message != want.message {
		t.Fatalf("got %d %s %q, want %d %s %q", got.StatusCode, got.Code, got.Message, want.status, want.code, want.message)
	}
	for name, value := range want.extra {
		if v := got.Get(name); v != value {
			t.Errorf("%s = %q, want %q", name, v, value)
		}
	}
}

func setAuth(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) {
		if value == "" {
			r.Header.Del(name)
			return
		}
		r.Header.Set(name, value)
	}
}

func TestVerifyHeader(t *testing.T) {
	body := []byte(corsBody)
	bodySum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(bodySum[:])
	const malformed = "The authorization header is malformed; "
	mismatch := &errorWant{403, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		map[string]string{"AWSAccessKeyId": testAccessKey}}
	scope := testAccessKey + "/20260314/us-east-1/s3/aws4_request"
	tampered := []byte(strings.Replace(corsBody, "GET", "PUT", 1))
	tamperedSum := sha256.Sum256(tampered)
	tamperedHash := hex.EncodeToString(tamperedSum[:])
	tests := []struct {
		name    string
		header  http.Header
		payload []byte    // the body the gateway read; the signed one if nil
		at      time.Time // signing time; signTime if zero
		now     time.Time // verifier time; signTime if zero
		edit    func(*http.Request)
		want    *errorWant
	}{
		{name: "signed by the SDK signer"},
		{name: "signature in upper case", edit: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-64]+strings.ToUpper(a[len(a)-64:]))
		}},
		{name: "no spaces after the commas, as s3cmd", edit: setAuth(", ", ",")},
		{name: "no spaces, second comma", edit: func(r *http.Request) {
			r.Header.Set("Authorization", strings.ReplaceAll(r.Header.Get("Authorization"), ", ", ","))
		}},
		{name: "UNSIGNED-PAYLOAD", header: http.Header{"X-Amz-Content-Sha256": {unsignedHash}}, payload: tampered},
		{name: "payload hash in upper case hex", header: http.Header{"X-Amz-Content-Sha256": {strings.ToUpper(bodyHash)}}},
		{name: "Content-MD5 and a checksum signed", header: http.Header{"Content-Md5": {"x"}, "X-Amz-Checksum-Crc32": {"y"}}},
		{name: "15 minutes behind", now: signTime.Add(15 * time.Minute)},
		{name: "built in code, without a request line", edit: func(r *http.Request) { r.RequestURI = "" }},
		{name: "15 minutes ahead", now: signTime.Add(-15 * time.Minute)},

		{name: "no credentials", edit: setHeader("Authorization", ""),
			want: &errorWant{403, "AccessDenied", "Access Denied", nil}},
		{name: "Bearer", edit: setHeader("Authorization", "Bearer token"),
			want: &errorWant{400, "InvalidArgument", "Unsupported Authorization Type",
				map[string]string{"ArgumentName": "Authorization", "ArgumentValue": "Bearer token"}}},
		{name: "Signature Version 2", edit: setHeader("Authorization", "AWS "+testAccessKey+":frJIUN8DYpKDtOLCwo//yllqDzg="),
			want: &errorWant{400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", nil}},
		{name: "SigV4a", edit: setAuth("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "),
			want: &errorWant{400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", nil}},
		{name: "no Signature component", edit: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, want: &errorWant{400, "AuthorizationHeaderMalformed",
			malformed + "the authorization header requires three components: Credential, SignedHeaders, and Signature.", nil}},
		{name: "unknown component", edit: setAuth("SignedHeaders=", "Signed="),
			want: &errorWant{400, "AuthorizationHeaderMalformed", malformed + `the authorization component "Signed=` +
				`content-length;host;x-amz-content-sha256;x-amz-date" is malformed.`, nil}},
		{name: "credential of four parts", edit: setAuth("/us-east-1/", "/"),
			want: &errorWant{400, "AuthorizationHeaderMalformed",
				malformed + `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`, nil}},
		{name: "scope date of seven digits", edit: setAuth("/20260314/", "/2026031/"),
			want: &errorWant{400, "AuthorizationHeaderMalformed",
				malformed + `incorrect date format "2026031". This date in the credential must be in the format "yyyyMMdd".`, nil}},
		{name: "another service", edit: setAuth("/s3/", "/ec2/"),
			want: &errorWant{400, "AuthorizationHeaderMalformed", malformed + `incorrect service "ec2". This endpoint belongs to "s3".`, nil}},
		{name: "another terminal", edit: setAuth("aws4_request", "aws4_reques"),
			want: &errorWant{400, "AuthorizationHeaderMalformed", malformed + `incorrect terminal "aws4_reques". This endpoint uses "aws4_request".`, nil}},
		{name: "another region", edit: setAuth("/us-east-1/", "/eu-west-1/"),
			want: &errorWant{400, "AuthorizationHeaderMalformed", malformed + "the region 'eu-west-1' is wrong; expecting 'us-east-1'",
				map[string]string{"Region": "us-east-1"}}},
		{name: "scope date not the request date", edit: setAuth("/20260314/", "/20260313/"),
			want: &errorWant{400, "AuthorizationHeaderMalformed",
				malformed + `Invalid credential date "20260313". This date is not the same as X-Amz-Date: "20260314".`, nil}},
		{name: "a second X-Amz-Date added after signing", edit: func(r *http.Request) {
			r.Header.Add("X-Amz-Date", r.Header.Get("X-Amz-Date"))
		}, want: &errorWant{403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", nil}},
		{name: "a second Authorization added after signing", edit: func(r *http.Request) {
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
		}, want: &errorWant{400, "AuthorizationHeaderMalformed", malformed + `the authorization component "AWS4-HMAC-SHA256 ` +
			`Credential=` + testAccessKey + `/20260314/us-east-1/s3/aws4_request" is malformed.`, nil}},
		{name: "no x-amz-content-sha256", edit: setHeader("X-Amz-Content-Sha256", ""),
			want: &errorWant{400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", nil}},
		{name: "x-amz-content-sha256 not a hash", edit: setHeader("X-Amz-Content-Sha256", bodyHash[1:]),
			want: &errorWant{400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
				"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, " +
				"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
				map[string]string{"ArgumentName": "x-amz-content-sha256", "ArgumentValue": bodyHash[1:]}}},
		{name: "streaming payload", header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}},
			want: &errorWant{501, "NotImplemented", "A header you provided implies functionality that is not implemented",
				map[string]string{"Header": "x-amz-content-sha256"}}},
		{name: "no date", edit: setHeader("X-Amz-Date", ""),
			want: &errorWant{403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", nil}},
		{name: "x-amz-date in another format", edit: setHeader("X-Amz-Date", "2026-03-14T15:09:26Z"),
			want: &errorWant{403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", nil}},
		{name: "dated by Date alone", edit: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", signTime.Format(http.TimeFormat))
		}, want: &errorWant{501, "NotImplemented", "A header you provided implies functionality that is not implemented",
			map[string]string{"Header": "Date"}}},
		{name: "host not signed", edit: setAuth("content-length;host;", "content-length;"),
			want: &errorWant{403, "AccessDenied", "There were headers present in the request which were not signed",
				map[string]string{"HeadersNotSigned": "host"}}},
		{name: "x-amz-* headers not signed", edit: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Color", "red")
			r.Header.Set("X-Amz-Expected-Bucket-Owner", "111122223333")
		}, want: &errorWant{403, "AccessDenied", "There were headers present in the request which were not signed",
			map[string]string{"HeadersNotSigned": "x-amz-expected-bucket-owner, x-amz-meta-color"}}},
		{name: "user-agent signed", edit: setAuth("x-amz-date,", "x-amz-date;user-agent,"),
			want: &errorWant{501, "NotImplemented", "A header you provided implies functionality that is not implemented",
				map[string]string{"Header": "user-agent"}}},
		{name: "content-length 0 signed", edit: func(r *http.Request) {
			r.Header.Set("Content-Length", "0")
		}, want: &errorWant{501, "NotImplemented", "A header you provided implies functionality that is not implemented",
			map[string]string{"Header": "content-length"}}},
		{name: "unknown access key", edit: setAuth(testAccessKey, "AKIDUNKNOWN"),
			want: &errorWant{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
				map[string]string{"AWSAccessKeyId": "AKIDUNKNOWN"}}},
		{name: "unknown access key beats a skewed clock", now: signTime.Add(time.Hour), edit: setAuth(testAccessKey, "AKIDUNKNOWN"),
			want: &errorWant{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", nil}},
		{name: "wrong signature", edit: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-64]+strings.Repeat("0", 64))
		}, want: mismatch},
		{name: "wrong signature beats a skewed clock", now: signTime.Add(time.Hour), edit: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-64]+strings.Repeat("0", 64))
		}, want: mismatch},
		{name: "tampered signed header", header: http.Header{"Content-Type": {"application/xml"}},
			edit: setHeader("Content-Type", "text/plain"), want: mismatch},
		{name: "replayed against another bucket", edit: func(r *http.Request) { r.RequestURI = "/other?cors" }, want: mismatch},
		{name: "replayed against another host", edit: func(r *http.Request) { r.Host = "gateway.test" }, want: mismatch},
		{name: "replayed with another method", edit: func(r *http.Request) { r.Method = "DELETE" }, want: mismatch},
		{name: "query parameter added", edit: func(r *http.Request) { r.RequestURI = "/bucket?cors&x=1" }, want: mismatch},
		{name: "16 minutes behind", now: signTime.Add(16 * time.Minute),
			want: &errorWant{403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.",
				map[string]string{"RequestTime": "20260314T150926Z", "ServerTime": "2026-03-14T15:25:26Z", "MaxAllowedSkewMilliseconds": "900000"}}},
		{name: "15 minutes and a second ahead", now: signTime.Add(-15*time.Minute - time.Second),
			want: &errorWant{403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.",
				map[string]string{"RequestTime": "20260314T150926Z", "ServerTime": "2026-03-14T14:54:25Z"}}},
		{name: "tampered body", payload: tampered,
			want: &errorWant{400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
				map[string]string{"ClientComputedContentSHA256": bodyHash, "S3ComputedContentSHA256": tamperedHash}}},
		{name: "both an Authorization header and presigned parameters", edit: func(r *http.Request) {
			r.RequestURI = "/bucket?cors&X-Amz-Algorithm=AWS4-HMAC-SHA256"
		}, want: &errorWant{400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, " +
			"Signature query string parameter or the Authorization header should be specified",
			map[string]string{"ArgumentName": "Authorization"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, now := tt.at, tt.now
			if at.IsZero() {
				at = signTime
			}
			if now.IsZero() {
				now = signTime
			}
			payload := body
			if tt.payload != nil {
				payload = tt.payload
			}
			r := signed(t, "PUT", "/bucket?cors", body, tt.header, at)
			if tt.edit != nil {
				tt.edit(r)
			}
			cred, err := testVerifier(now).Verify(r, payload)
			checkError(t, err, tt.want)
			if tt.want == nil && (cred == nil || cred.AccessKeyID != testAccessKey) {
				t.Fatalf("credential = %v, want %s", cred, testAccessKey)
			}
			if tt.want == mismatch {
				checkMismatchDetails(t, err, scope)
			}
		})
	}
}

// checkMismatchDetails checks the diagnostic fields of SignatureDoesNotMatch:
// what the gateway signed, in S3's layout, and no secret.
func checkMismatchDetails(t *testing.T, err *Error, scope string) {
	t.Helper()
	sts := err.Get("StringToSign")
	if !strings.HasPrefix(sts, "AWS4-HMAC-SHA256\n20260314T150926Z\n"+strings.TrimPrefix(scope, testAccessKey+"/")+"\n") {
		t.Errorf("StringToSign = %q", sts)
	}
	canonical := err.Get("CanonicalRequest")
	sum := sha256.Sum256([]byte(canonical))
	if !strings.HasSuffix(sts, "\n"+hex.EncodeToString(sum[:])) {
		t.Errorf("StringToSign does not end with the hash of CanonicalRequest %q", canonical)
	}
	if got := err.Get("StringToSignBytes"); got != spacedHex(sts) || !strings.HasPrefix(got, "41 57 53 34 2d") {
		t.Errorf("StringToSignBytes = %q", got)
	}
	if err.Get("CanonicalRequestBytes") != spacedHex(canonical) {
		t.Errorf("CanonicalRequestBytes does not spell CanonicalRequest")
	}
	if err.Get("SignatureProvided") == "" {
		t.Error("SignatureProvided is empty")
	}
	for _, f := range err.Extra {
		if strings.Contains(f.Value, testSecret) || strings.Contains(f.Value, hex.EncodeToString([]byte(testSecret))) {
			t.Errorf("%s reveals the secret", f.Name)
		}
	}
}

func TestVerifyPresigned(t *testing.T) {
	const required = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, " +
		"X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	mismatch := &errorWant{403, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		map[string]string{"AWSAccessKeyId": testAccessKey}}
	param := func(name, value string) func(*http.Request) {
		return func(r *http.Request) {
			u, _ := url.ParseRequestURI(r.RequestURI)
			q := u.Query()
			if value == "" {
				q.Del(name)
			} else {
				q.Set(name, value)
			}
			u.RawQuery = q.Encode()
			r.RequestURI = u.RequestURI()
		}
	}
	queryError := func(message string) *errorWant {
		return &errorWant{400, "AuthorizationQueryParametersError", message, nil}
	}
	bodySum := sha256.Sum256([]byte(corsBody))
	bodyHash := hex.EncodeToString(bodySum[:])
	tests := []struct {
		name    string
		expires string
		header  http.Header
		payload []byte // the body the gateway read; corsBody if nil
		now     time.Time
		edit    func(*http.Request)
		want    *errorWant
	}{
		{name: "presigned by the SDK signer"},
		{name: "with a signed integrity header", header: http.Header{"Content-Md5": {"bWQ1"}}},
		{name: "at the last second", expires: "60", now: signTime.Add(time.Minute)},
		{name: "seven days", expires: "604800", now: signTime.Add(7 * 24 * time.Hour)},
		{name: "15 minutes before its date", now: signTime.Add(-15 * time.Minute)},
		{name: "with a signed payload hash", header: http.Header{"X-Amz-Content-Sha256": {bodyHash}}},

		{name: "with a signed payload hash and another body", header: http.Header{"X-Amz-Content-Sha256": {bodyHash}},
			payload: []byte("other"), want: &errorWant{400, "XAmzContentSHA256Mismatch",
				"The provided 'x-amz-content-sha256' header does not match what was computed.",
				map[string]string{"ClientComputedContentSHA256": bodyHash}}},
		{name: "with a payload hash that is none", header: http.Header{"X-Amz-Content-Sha256": {"nothing"}},
			want: &errorWant{400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
				"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, " +
				"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.", nil}},

		{name: "expired", expires: "60", now: signTime.Add(61 * time.Second),
			want: &errorWant{403, "AccessDenied", "Request has expired",
				map[string]string{"X-Amz-Expires": "60", "Expires": "2026-03-14T15:10:26Z", "ServerTime": "2026-03-14T15:10:27Z"}}},
		{name: "not valid yet", now: signTime.Add(-16 * time.Minute),
			want: &errorWant{403, "AccessDenied", "Request is not valid yet", nil}},
		{name: "no X-Amz-Algorithm", edit: param("X-Amz-Algorithm", ""), want: queryError(required)},
		{name: "no X-Amz-Expires", edit: param("X-Amz-Expires", ""), want: queryError(required)},
		{name: "no X-Amz-SignedHeaders", edit: param("X-Amz-SignedHeaders", ""), want: queryError(required)},
		{name: "another algorithm", edit: param("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
			want: queryError(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"`)},
		{name: "SigV4a", edit: param("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"),
			want: &errorWant{400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", nil}},
		{name: "X-Amz-Date in another format", edit: param("X-Amz-Date", "2026-03-14T15:09:26Z"),
			want: queryError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)},
		{name: "X-Amz-Expires not a number", edit: param("X-Amz-Expires", "1h"), want: queryError("X-Amz-Expires should be a number")},
		{name: "X-Amz-Expires negative", edit: param("X-Amz-Expires", "-1"), want: queryError("X-Amz-Expires must be non-negative")},
		{name: "X-Amz-Expires over a week", expires: "604801",
			want: queryError("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")},
		{name: "another service", edit: param("X-Amz-Credential", testAccessKey+"/20260314/us-east-1/ec2/aws4_request"),
			want: queryError(`Error parsing the X-Amz-Credential parameter; incorrect service "ec2". This endpoint belongs to "s3".`)},
		{name: "credential mal-formed", edit: param("X-Amz-Credential", testAccessKey),
			want: queryError(`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)},
		{name: "another region", edit: param("X-Amz-Credential", testAccessKey+"/20260314/eu-west-1/s3/aws4_request"),
			want: &errorWant{400, "AuthorizationQueryParametersError",
				"Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'",
				map[string]string{"Region": "us-east-1"}}},
		{name: "credential date not the request date", edit: param("X-Amz-Credential", testAccessKey+"/20260313/us-east-1/s3/aws4_request"),
			want: queryError(`Invalid credential date "20260313". This date is not the same as X-Amz-Date: "20260314".`)},
		{name: "unknown access key", edit: param("X-Amz-Credential", "AKIDUNKNOWN/20260314/us-east-1/s3/aws4_request"),
			want: &errorWant{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
				map[string]string{"AWSAccessKeyId": "AKIDUNKNOWN"}}},
		{name: "unknown access key beats expiry", expires: "60", now: signTime.Add(time.Hour),
			edit: param("X-Amz-Credential", "AKIDUNKNOWN/20260314/us-east-1/s3/aws4_request"),
			want: &errorWant{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", nil}},
		{name: "longer validity", edit: param("X-Amz-Expires", "3601"), want: mismatch},
		{name: "parameter added", edit: param("versionId", "null"), want: mismatch},
		{name: "another bucket", edit: func(r *http.Request) { r.RequestURI = strings.Replace(r.RequestURI, "/bucket?", "/other?", 1) }, want: mismatch},
		{name: "another method", edit: func(r *http.Request) { r.Method = "DELETE" }, want: mismatch},
		{name: "signed header changed", header: http.Header{"Content-Md5": {"bWQ1"}}, edit: setHeader("Content-Md5", "b3RoZXI="), want: mismatch},
		{name: "x-amz-* header not signed", edit: setHeader("X-Amz-Meta-Size", "1"),
			want: &errorWant{403, "AccessDenied", "There were headers present in the request which were not signed",
				map[string]string{"HeadersNotSigned": "x-amz-meta-size"}}},
		{name: "expired with a bad signature", expires: "60", now: signTime.Add(time.Hour), edit: param("X-Amz-Signature", strings.Repeat("0", 64)),
			want: mismatch},
		{name: "an Authorization header too", edit: setHeader("Authorization", "AWS4-HMAC-SHA256 a"),
			want: &errorWant{400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, " +
				"Signature query string parameter or the Authorization header should be specified",
				map[string]string{"ArgumentName": "Authorization", "ArgumentValue": "AWS4-HMAC-SHA256 a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expires, now := tt.expires, tt.now
			if expires == "" {
				expires = "3600"
			}
			if now.IsZero() {
				now = signTime
			}
			r := presign(t, "PUT", "/bucket?cors=", expires, tt.header, signTime)
			if tt.edit != nil {
				tt.edit(r)
			}
			payload := []byte(corsBody)
			if tt.payload != nil {
				payload = tt.payload
			}
			cred, err := testVerifier(now).Verify(r, payload)
			checkError(t, err, tt.want)
			if tt.want == nil && cred.AccessKeyID != testAccessKey {
				t.Fatalf("credential = %s", cred.AccessKeyID)
			}
			if tt.want == mismatch {
				checkMismatchDetails(t, err, testAccessKey+"/20260314/us-east-1/s3/aws4_request")
				if !strings.HasPrefix(err.Get("StringToSign"), "AWS4-HMAC-SHA256\n") ||
					!strings.HasSuffix(err.Get("CanonicalRequest"), "\n"+unsignedHash) {
					t.Errorf("CanonicalRequest = %q", err.Get("CanonicalRequest"))
				}
			}
		})
	}
}

func TestVerifySignatureVersion2Query(t *testing.T) {
	r := httptest.NewRequest("GET", "/bucket?cors&AWSAccessKeyId=AKID&Expires=1&Signature=abc%3D", nil)
	_, err := testVerifier(signTime).Verify(r, nil)
	checkError(t, err, &errorWant{400, "InvalidRequest",
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", nil})
}

func TestVerifyDefaults(t *testing.T) {
	v := NewVerifier("", nil)
	if v.Region != DefaultRegion || v.MaxSkew != 15*time.Minute || v.Now == nil {
		t.Fatalf("defaults: region %q, skew %v", v.Region, v.MaxSkew)
	}
	creds := []Credential{{AccessKeyID: "a", SecretAccessKey: "1", Buckets: []string{"x"}}, {AccessKeyID: "a", SecretAccessKey: "2"}}
	v = NewVerifier("eu-west-1", creds)
	creds[1].SecretAccessKey = "changed"
	if got := v.creds["a"]; got.SecretAccessKey != "2" || got.Buckets != nil {
		t.Fatalf("the last credential of an access key should win, copied: %+v", got)
	}
}

func TestCredentialAllows(t *testing.T) {
	tests := []struct {
		buckets []string
		bucket  string
		want    bool
	}{
		{nil, "any", true},
		{[]string{"a", "b"}, "b", true},
		{[]string{"a", "b"}, "c", false},
		{[]string{"a"}, "A", false},
	}
	for _, tt := range tests {
		c := Credential{AccessKeyID: "k", Buckets: tt.buckets}
		if got := c.Allows(tt.bucket); got != tt.want {
			t.Errorf("%v.Allows(%q) = %v, want %v", tt.buckets, tt.bucket, got, tt.want)
		}
	}
	if s := (Credential{AccessKeyID: "k", SecretAccessKey: "s3cr3t"}).String(); strings.Contains(s, "s3cr3t") {
		t.Errorf("String() = %q reveals the secret", s)
	}
}
