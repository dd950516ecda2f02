package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

var rootCreds = aws.Credentials{AccessKeyID: rootAccessKey, SecretAccessKey: rootSecretKey}

// httpClient sends the raw requests. It never compresses, never follows
// redirects and never goes through an environment proxy, so what a test
// asserts is exactly what the server sent.
var httpClient = &http.Client{
	Timeout:   5 * time.Minute,
	Transport: &http.Transport{Proxy: nil, DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// s3Client is an aws-sdk-go-v2 client for one endpoint, built from
// s3.Options directly: config.LoadDefaultConfig breaks on this machine's
// AWS_CA_BUNDLE as soon as a custom HTTP client is involved.
type s3Client struct {
	*s3.Client
	endpoint string
	creds    aws.Credentials
}

func newS3Client(endpoint string, creds aws.Credentials) *s3Client {
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       region,
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		HTTPClient: httpClient,
		// A retry would hide the first answer, which is the one under test.
		Retryer: aws.NopRetryer{},
	})
	return &s3Client{Client: c, endpoint: endpoint, creds: creds}
}

func (c *s3Client) createBucket(t *testing.T, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket %s via %s: %v", bucket, c.endpoint, err)
	}
}

func (c *s3Client) putObject(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("PutObject %s/%s via %s: %v", bucket, key, c.endpoint, err)
	}
}

func (c *s3Client) getObject(t *testing.T, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s via %s: %v", bucket, key, c.endpoint, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *s3Client) putCORS(t *testing.T, bucket string, rules []corsRule) {
	t.Helper()
	_, err := c.PutBucketCors(t.Context(), &s3.PutBucketCorsInput{
		Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{CORSRules: toSDK(rules)},
	})
	if err != nil {
		t.Fatalf("PutBucketCors %s via %s: %v", bucket, c.endpoint, err)
	}
}

// getCORS returns the bucket's rules, or nil when GetBucketCors answers
// NoSuchCORSConfiguration; any other error fails the test.
func (c *s3Client) getCORS(t *testing.T, bucket string) []corsRule {
	t.Helper()
	out, err := c.GetBucketCors(t.Context(), &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if apiErrorCode(err) == "NoSuchCORSConfiguration" {
		return nil
	}
	if err != nil {
		t.Fatalf("GetBucketCors %s via %s: %v", bucket, c.endpoint, err)
	}
	rules := fromSDK(out.CORSRules)
	if len(rules) == 0 {
		t.Fatalf("GetBucketCors %s via %s: 200 with no rules", bucket, c.endpoint)
	}
	return rules
}

func (c *s3Client) deleteCORS(t *testing.T, bucket string) {
	t.Helper()
	if _, err := c.DeleteBucketCors(t.Context(), &s3.DeleteBucketCorsInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("DeleteBucketCors %s via %s: %v", bucket, c.endpoint, err)
	}
}

// assertCORS checks the bucket's stored configuration; want nil means none.
func (c *s3Client) assertCORS(t *testing.T, bucket string, want []corsRule) {
	t.Helper()
	got := c.getCORS(t, bucket)
	if !equalRules(got, want) {
		t.Errorf("bucket %s: stored CORS rules\n got: %+v\nwant: %+v", bucket, got, want)
	}
}

func (c *s3Client) presign() *s3.PresignClient { return s3.NewPresignClient(c.Client) }

func (c *s3Client) presignGet(t *testing.T, bucket, key string) string {
	t.Helper()
	req, err := c.presign().PresignGetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return req.URL
}

func (c *s3Client) presignPut(t *testing.T, bucket, key string) string {
	t.Helper()
	req, err := c.presign().PresignPutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return req.URL
}

// apiErrorCode is the S3 error code of an SDK error, or "".
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// corsRule is one CORSRule, with nil slices for absent lists.
// The JSON names are the API's, as boto3 and the aws CLI read and print them.
type corsRule struct {
	ID             string   `json:",omitempty"`
	AllowedHeaders []string `json:",omitempty"`
	AllowedMethods []string `json:",omitempty"`
	AllowedOrigins []string `json:",omitempty"`
	ExposeHeaders  []string `json:",omitempty"`
	MaxAgeSeconds  *int32   `json:",omitempty"`
}

func maxAge(n int32) *int32 { return &n }

func toSDK(rules []corsRule) []types.CORSRule {
	var out []types.CORSRule
	for _, r := range rules {
		sr := types.CORSRule{
			AllowedHeaders: r.AllowedHeaders,
			AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins,
			ExposeHeaders:  r.ExposeHeaders,
			MaxAgeSeconds:  r.MaxAgeSeconds,
		}
		if r.ID != "" {
			sr.ID = aws.String(r.ID)
		}
		out = append(out, sr)
	}
	return out
}

func fromSDK(rules []types.CORSRule) []corsRule {
	var out []corsRule
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	for _, r := range rules {
		out = append(out, corsRule{
			ID:             aws.ToString(r.ID),
			AllowedHeaders: nilIfEmpty(r.AllowedHeaders),
			AllowedMethods: nilIfEmpty(r.AllowedMethods),
			AllowedOrigins: nilIfEmpty(r.AllowedOrigins),
			ExposeHeaders:  nilIfEmpty(r.ExposeHeaders),
			MaxAgeSeconds:  r.MaxAgeSeconds,
		})
	}
	return out
}

// corsXML renders rules as a PutBucketCors body, with the S3 namespace and
// elements in the API reference's order, which is also byte for byte what
// aws-sdk-go-v2 sends.
// s3Text escapes text as S3 writes it (docs/s3-cors-spec.md A.8): only
// what XML reserves, and CR so that a parser does not fold it; quotes,
// apostrophes and tabs stay as they are.
var s3Text = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")

func corsXML(rules []corsRule) []byte {
	var b strings.Builder
	b.WriteString(`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	el := func(name, v string) {
		b.WriteString("<" + name + ">")
		b.WriteString(s3Text.Replace(v))
		b.WriteString("</" + name + ">")
	}
	for _, r := range rules {
		b.WriteString("<CORSRule>")
		for _, v := range r.AllowedHeaders {
			el("AllowedHeader", v)
		}
		for _, v := range r.AllowedMethods {
			el("AllowedMethod", v)
		}
		for _, v := range r.AllowedOrigins {
			el("AllowedOrigin", v)
		}
		for _, v := range r.ExposeHeaders {
			el("ExposeHeader", v)
		}
		if r.ID != "" {
			el("ID", r.ID)
		}
		if r.MaxAgeSeconds != nil {
			el("MaxAgeSeconds", strconv.Itoa(int(*r.MaxAgeSeconds)))
		}
		b.WriteString("</CORSRule>")
	}
	b.WriteString("</CORSConfiguration>")
	return []byte(b.String())
}

// Integrity headers a raw PutBucketCors can carry.
const (
	checksumCRC32 = "crc32"
	checksumMD5   = "md5"
	checksumNone  = "none"
)

// rawRequest is an S3 request built and signed by hand, for the cases an SDK
// will not produce: a skewed clock, a wrong key, a tampered body, a replay.
type rawRequest struct {
	method string
	url    string
	body   []byte
	header http.Header // set before signing (so they are signed)
	host   string      // the Host header, if not the URL's
	// creds signs the request; nil sends it unsigned.
	creds *aws.Credentials
	at    time.Time // signing time; zero means now
	// checksum: checksumCRC32 (the default for a body), checksumMD5 or
	// checksumNone.
	checksum string
	// payloadHash overrides the hex SHA-256 in x-amz-content-sha256 (for
	// example "UNSIGNED-PAYLOAD").
	payloadHash string
}

func (r rawRequest) build(t *testing.T) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body == nil {
		req.Body = http.NoBody
	}
	req.ContentLength = int64(len(r.body))
	if r.host != "" {
		req.Host = r.host
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if len(r.body) > 0 {
		switch r.checksum {
		case "", checksumCRC32:
			req.Header.Set("X-Amz-Checksum-Crc32", crc32Base64(r.body))
		case checksumMD5:
			req.Header.Set("Content-Md5", md5Base64(r.body))
		case checksumNone:
		default:
			t.Fatalf("unknown checksum %q", r.checksum)
		}
	}
	if r.creds == nil {
		return req
	}
	hash := r.payloadHash
	if hash == "" {
		hash = sha256Hex(r.body)
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	at := r.at
	if at.IsZero() {
		at = time.Now()
	}
	if err := s3Signer().SignHTTP(t.Context(), *r.creds, req, hash, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

// s3Signer returns a new SigV4 signer for S3. A new one each time: a signer
// caches derived keys by access key ID alone, so a shared one would sign a
// "wrong secret" request with the secret it saw first for that key.
func s3Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) {
		// S3 signs the path as sent, without the second escaping other services use.
		o.DisableURIPathEscaping = true
	})
}

// presignCORS presigns a ?cors request the way the SDK's presign client
// presigns object operations (the presign client has no PutBucketCors). The
// headers in header are signed and must be sent with the URL.
func presignCORS(t *testing.T, creds aws.Credentials, method, rawURL string, header http.Header, expires time.Duration, at time.Time) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	req.URL.RawQuery = q.Encode()
	if header != nil {
		req.Header = header.Clone()
	}
	u, _, err := s3Signer().PresignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", region, at,
		func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// presignedRequest is a request for a presigned URL, with the headers that
// were signed along with it.
func presignedRequest(t *testing.T, method, rawURL string, body []byte, header http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

// nowMinus is the current time moved back by seconds (forward if negative),
// for signing with a skewed clock.
func nowMinus(seconds int) time.Time { return time.Now().Add(-time.Duration(seconds) * time.Second) }

// response is what a raw request got back, body read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (r rawRequest) send(t *testing.T) response {
	t.Helper()
	return send(t, r.build(t))
}

func (r response) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.status) + " " + http.StatusText(r.status) + "\n")
	_ = r.header.Write(&b)
	b.WriteString("\n")
	b.Write(r.body)
	return b.String()
}

func crc32Base64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func md5Base64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func sha256Base64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// s3Error is a parsed S3 <Error> body, with its children in wire order.
type s3Error struct {
	fields map[string]string
	order  []string
}

func (e s3Error) get(name string) string { return e.fields[name] }

const xmlDeclaration = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func parseS3Error(body []byte) (s3Error, error) {
	e := s3Error{fields: map[string]string{}}
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	var current string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return e, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if tok.Name.Local != "Error" {
					return e, errors.New("root element is <" + tok.Name.Local + ">, not <Error>")
				}
			case 2:
				current = tok.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if depth == 2 {
				text.Write(tok)
			}
		case xml.EndElement:
			if depth == 2 {
				e.fields[current] = text.String()
				e.order = append(e.order, current)
			}
			depth--
		}
	}
	if len(e.order) == 0 {
		return e, errors.New("no <Error> element")
	}
	return e, nil
}

// wantError describes an expected S3 error response. Empty strings are not
// checked; extras are the operation-specific elements, in wire order, that
// sit between Message and RequestId.
type wantError struct {
	status  int
	code    string
	message string
	extras  [][2]string
}

// assertS3Error checks an error the S3 way (spec A.8): status, XML
// declaration plus newline, Code, Message, extras, RequestId and HostId in
// that order, RequestId and HostId equal to the x-amz-request-id and
// x-amz-id-2 headers, Content-Type application/xml.
func assertS3Error(t *testing.T, r response, want wantError) s3Error {
	t.Helper()
	if r.status != want.status {
		t.Errorf("status %d, want %d; response:\n%s", r.status, want.status, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q, want application/xml", ct)
	}
	if !bytes.HasPrefix(r.body, []byte(xmlDeclaration+"<Error>")) {
		t.Errorf("body does not start with the XML declaration, a newline and <Error>:\n%s", r.body)
	}
	e, err := parseS3Error(r.body)
	if err != nil {
		t.Errorf("body is not an S3 error (%v):\n%s", err, r.body)
		return e
	}
	if want.code != "" && e.get("Code") != want.code {
		t.Errorf("Code %q, want %q; body:\n%s", e.get("Code"), want.code, r.body)
	}
	if want.message != "" && e.get("Message") != want.message {
		t.Errorf("Message\n got: %q\nwant: %q", e.get("Message"), want.message)
	}
	wantOrder := []string{"Code", "Message"}
	for _, x := range want.extras {
		wantOrder = append(wantOrder, x[0])
		if got := e.get(x[0]); got != x[1] {
			t.Errorf("<%s> %q, want %q", x[0], got, x[1])
		}
	}
	wantOrder = append(wantOrder, "RequestId", "HostId")
	if want.extras != nil && !slices.Equal(e.order, wantOrder) {
		t.Errorf("<Error> children %v, want %v", e.order, wantOrder)
	}
	if n := len(e.order); n < 4 || e.order[0] != "Code" || e.order[1] != "Message" ||
		e.order[n-2] != "RequestId" || e.order[n-1] != "HostId" {
		t.Errorf("<Error> children %v: want Code, Message first and RequestId, HostId last", e.order)
	}
	if id := r.header.Get("X-Amz-Request-Id"); id == "" || id != e.get("RequestId") {
		t.Errorf("x-amz-request-id header %q, <RequestId> %q: want both set and equal", id, e.get("RequestId"))
	}
	if id := r.header.Get("X-Amz-Id-2"); id == "" || id != e.get("HostId") {
		t.Errorf("x-amz-id-2 header %q, <HostId> %q: want both set and equal", id, e.get("HostId"))
	}
	return e
}

// corsHeaders returns the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(textproto.CanonicalMIMEHeaderKey(k), "Access-Control-") {
			out[textproto.CanonicalMIMEHeaderKey(k)] = v
		}
	}
	return out
}

// Canonical names of the CORS response headers.
const (
	hACAO = "Access-Control-Allow-Origin"
	hACAC = "Access-Control-Allow-Credentials"
	hACAM = "Access-Control-Allow-Methods"
	hACAH = "Access-Control-Allow-Headers"
	hACEH = "Access-Control-Expose-Headers"
	hACMA = "Access-Control-Max-Age"
)

// s3Vary is the one Vary value S3 sends with a CORS match.
const s3Vary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// assertExactCORS checks that the response carries exactly the wanted
// Access-Control-* headers, each once, with the wanted values; want nil means
// none at all.
func assertExactCORS(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	got := corsHeaders(h)
	for k, v := range got {
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("unexpected %s: %q", k, v)
		case len(v) != 1:
			t.Errorf("%s sent %d times: %q (want once: %q)", k, len(v), v, w)
		case v[0] != w:
			t.Errorf("%s: %q, want %q", k, v[0], w)
		}
	}
	for k, w := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s (want %q)", k, w)
		}
	}
}

// varyTokens splits every Vary line into its comma-separated names.
func varyTokens(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Vary") {
		for tok := range strings.SplitSeq(line, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

// corsRequest is an OPTIONS or actual request with CORS request headers.
func corsRequest(t *testing.T, method, rawURL, origin, acrm, acrh string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if acrm != "" {
		req.Header.Set("Access-Control-Request-Method", acrm)
	}
	if acrh != "" {
		req.Header.Set("Access-Control-Request-Headers", acrh)
	}
	return req
}
