package s3

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

// Credential is one SigV4 key pair allowed to call the ?cors API.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// Buckets limits the key to these buckets; empty means every bucket.
	Buckets []string
}

// Allows reports whether c may manage the CORS configuration of bucket.
func (c *Credential) Allows(bucket string) bool {
	return len(c.Buckets) == 0 || slices.Contains(c.Buckets, bucket)
}

// String names the key without its secret, so that a credential that ends up
// in a log line or an error message gives nothing away.
func (c Credential) String() string {
	return "access key " + c.AccessKeyID
}

const (
	// DefaultRegion is the region a Verifier expects when none is configured.
	DefaultRegion = "us-east-1"
	// DefaultMaxSkew is how far S3 lets a request's date differ from its clock.
	DefaultMaxSkew = 15 * time.Minute
)

// Verifier checks AWS Signature Version 4, in the Authorization header and in
// presigned URLs, against a fixed set of credentials.
//
// The signature is recomputed with aws-sdk-go-v2's signer from a copy of the
// request that carries exactly the headers the client signed, then compared
// in constant time. That signer decides on its own which headers it signs,
// so a few things a client may sign cannot be reproduced and are refused
// with NotImplemented naming the header, rather than failing as a wrong
// signature:
//
//   - a header the signer never signs: user-agent, expect,
//     transfer-encoding, x-amzn-trace-id, authorization;
//   - content-length when it is 0 or absent (the signer signs it only when
//     the body is non-empty);
//   - header authentication dated by the Date header alone, without
//     X-Amz-Date (the signer always adds and signs X-Amz-Date).
//
// No client studied does any of these for the ?cors API. SigV4a
// (AWS4-ECDSA-P256-SHA256) and streaming payloads (STREAMING-*) are refused
// too.
//
// A Verifier is safe for concurrent use; set its fields before the first
// call to Verify.
type Verifier struct {
	// Region is the region a signature must be scoped to.
	Region string
	// MaxSkew is how far the request's date may be from Now. A presigned URL
	// may also be used at most this long before its X-Amz-Date.
	MaxSkew time.Duration
	// Now returns the current time: time.Now unless replaced.
	Now func() time.Time

	creds  map[string]*Credential
	signer *v4.Signer
}

// NewVerifier returns a Verifier for region (DefaultRegion if empty) that
// accepts the given credentials. When two share an access key, the last one
// wins. The credentials are copied.
func NewVerifier(region string, creds []Credential) *Verifier {
	if region == "" {
		region = DefaultRegion
	}
	m := make(map[string]*Credential, len(creds))
	for _, c := range creds {
		c.Buckets = slices.Clone(c.Buckets)
		m[c.AccessKeyID] = &c
	}
	return &Verifier{
		Region:  region,
		MaxSkew: DefaultMaxSkew,
		Now:     time.Now,
		creds:   m,
		signer:  v4.NewSigner(),
	}
}

// Verify authenticates r, whose body has already been read into payload (nil
// when empty), and returns the credential that signed it. Both forms are
// accepted: the Authorization header and presigned query parameters.
func (v *Verifier) Verify(r *http.Request, payload []byte) (*Credential, *Error) {
	rawPath, rawQuery := rawTarget(r)
	query, _ := url.ParseQuery(rawQuery) // a pair that does not parse is not signable either
	auth := fieldValue(r.Header, "Authorization")
	switch {
	case auth != "" && (query.Has(paramAlgorithm) || query.Has("Signature")):
		return nil, ErrTwoAuthMechanisms(auth)
	case auth != "":
		return v.verifyHeader(r, rawPath, rawQuery, auth, payload)
	case isPresigned(query):
		return v.verifyPresigned(r, rawPath, rawQuery, query, payload)
	case query.Has("AWSAccessKeyId") && query.Has("Signature"):
		return nil, ErrUnsupportedAuthorization() // SigV2 presigned URL
	}
	return nil, ErrAccessDenied()
}

// verifyHeader checks the Authorization-header form. The clock is looked at
// only once the key and the signature are known good, as S3 does, so a
// forged request learns nothing about the server's time.
func (v *Verifier) verifyHeader(r *http.Request, rawPath, rawQuery, value string, payload []byte) (*Credential, *Error) {
	a, err := parseAuthorization(value)
	if err != nil {
		return nil, err
	}
	if a.scope.region != v.Region {
		return nil, headerForm.regionError(a.scope.region, v.Region)
	}
	payloadHash := fieldValue(r.Header, "X-Amz-Content-Sha256")
	if payloadHash == "" {
		return nil, ErrMissingContentSHA256()
	}
	if err := checkPayloadHash(payloadHash); err != nil {
		return nil, err
	}
	rawDate := fieldValue(r.Header, "X-Amz-Date")
	if rawDate == "" && r.Header.Get("Date") != "" {
		return nil, ErrNotImplemented("Date")
	}
	date, ok := parseAmzDate(rawDate)
	if !ok {
		return nil, ErrMissingDate()
	}
	if a.scope.date != rawDate[:len(scopeDateForm)] {
		return nil, headerForm.dateMismatchError(a.scope.date, rawDate[:len(scopeDateForm)])
	}
	if err := checkSignedHeaders(r, a.signedHeaders, headerForm); err != nil {
		return nil, err
	}
	cred := v.creds[a.scope.accessKeyID]
	if cred == nil {
		return nil, ErrInvalidAccessKeyID(a.scope.accessKeyID)
	}
	if err := v.checkSignature(r, rawPath, rawQuery, cred, a.signedHeaders, a.signature, payloadHash, date, headerForm); err != nil {
		return nil, err
	}
	now := v.Now()
	if d := now.Sub(date); d > v.MaxSkew || d < -v.MaxSkew {
		return nil, ErrRequestTimeTooSkewed(rawDate, serverTime(now), v.MaxSkew.Milliseconds())
	}
	if err := checkPayload(payloadHash, payload); err != nil {
		return nil, err
	}
	return cred, nil
}

// verifyPresigned checks the presigned-URL form, in the same order.
func (v *Verifier) verifyPresigned(r *http.Request, rawPath, rawQuery string, query url.Values, payload []byte) (*Credential, *Error) {
	p, err := parsePresigned(query)
	if err != nil {
		return nil, err
	}
	if p.scope.region != v.Region {
		return nil, queryForm.regionError(p.scope.region, v.Region)
	}
	// A presigned URL signs no payload, unless the client also signed the
	// x-amz-content-sha256 header.
	payloadHash := fieldValue(r.Header, "X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = unsignedHash
	} else if err := checkPayloadHash(payloadHash); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(r, p.signedHeaders, queryForm); err != nil {
		return nil, err
	}
	cred := v.creds[p.scope.accessKeyID]
	if cred == nil {
		return nil, ErrInvalidAccessKeyID(p.scope.accessKeyID)
	}
	if err := v.checkSignature(r, rawPath, rawQuery, cred, p.signedHeaders, p.signature, payloadHash, p.date, queryForm); err != nil {
		return nil, err
	}
	now := v.Now()
	if now.Before(p.date.Add(-v.MaxSkew)) {
		return nil, ErrRequestNotValidYet()
	}
	if end := p.date.Add(time.Duration(p.expires) * time.Second); now.After(end) {
		return nil, ErrRequestExpired(p.rawExpires, serverTime(end), serverTime(now))
	}
	if err := checkPayload(payloadHash, payload); err != nil {
		return nil, err
	}
	return cred, nil
}

// checkSignature recomputes the signature of r with the signer and compares
// it with the one provided.
func (v *Verifier) checkSignature(r *http.Request, rawPath, rawQuery string, cred *Credential,
	signedHeaders []string, provided, payloadHash string, date time.Time, form authForm,
) *Error {
	if form == queryForm {
		rawQuery = withoutParam(rawQuery, paramSignature)
	}
	req := rebuild(r, rawPath, rawQuery, signedHeaders, form)
	var trace signingTrace
	opts := func(o *v4.SignerOptions) {
		// S3 signs the path as sent, without escaping it a second time.
		o.DisableURIPathEscaping = true
		// Every header given to the signer was signed as a header by the client.
		o.DisableHeaderHoisting = true
		// The signer reports what it signed only through its log.
		o.LogSigning = true
		o.Logger = &trace
	}
	creds := aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}
	var computed string
	if form == queryForm {
		uri, _, err := v.signer.PresignHTTP(r.Context(), creds, req, payloadHash, serviceS3, v.Region, date, opts)
		if err != nil {
			return ErrInternalError()
		}
		if i := strings.LastIndex(uri, paramSignature+"="); i >= 0 {
			computed = uri[i+len(paramSignature)+1:]
		}
	} else {
		if err := v.signer.SignHTTP(r.Context(), creds, req, payloadHash, serviceS3, v.Region, date, opts); err != nil {
			return ErrInternalError()
		}
		auth := req.Header.Get("Authorization")
		if i := strings.LastIndex(auth, "Signature="); i >= 0 {
			computed = auth[i+len("Signature="):]
		}
	}
	if computed != "" && subtle.ConstantTimeCompare([]byte(computed), []byte(strings.ToLower(provided))) == 1 {
		return nil
	}
	return ErrSignatureDoesNotMatch(
		Field{"AWSAccessKeyId", cred.AccessKeyID},
		Field{"StringToSign", trace.stringToSign},
		Field{"SignatureProvided", provided},
		Field{"StringToSignBytes", spacedHex(trace.stringToSign)},
		Field{"CanonicalRequest", trace.canonicalRequest},
		Field{"CanonicalRequestBytes", spacedHex(trace.canonicalRequest)},
	)
}

// rebuild returns a request for the signer that has r's method, host, raw
// path and query, and exactly the headers the client signed.
func rebuild(r *http.Request, rawPath, rawQuery string, signedHeaders []string, form authForm) *http.Request {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := &http.Request{
		Method: r.Method,
		// Opaque carries the path exactly as the client sent it; the signer
		// prefers it over re-escaping URL.Path.
		URL:    &url.URL{Scheme: scheme, Host: r.Host, Opaque: "//" + r.Host + rawPath, RawQuery: rawQuery},
		Host:   r.Host,
		Header: make(http.Header, len(signedHeaders)),
	}
	for _, name := range signedHeaders {
		switch name {
		case "host":
			continue // the signer takes it from req.Host
		case "content-length":
			req.ContentLength, _ = contentLength(r)
			continue
		case "x-amz-date":
			if form == headerForm {
				continue // the signer sets it from the signing time
			}
		}
		values := slices.Clone(r.Header.Values(name))
		if len(values) == 0 {
			values = []string{""}
		}
		req.Header[name] = values
	}
	return req
}

// fieldValue is the value of the header field name as S3 reads it: all of
// its lines joined by commas (RFC 9110, 5.3). A request that repeats
// X-Amz-Date or Authorization after signing thus fails as it does at S3,
// where the signature covers every line, instead of being judged by its
// first line alone.
func fieldValue(h http.Header, name string) string {
	values := h.Values(name)
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values, ",")
}

// checkSignedHeaders applies S3's rules on what must be signed (host and
// every x-amz-* header present) and refuses what the signer cannot verify.
func checkSignedHeaders(r *http.Request, signedHeaders []string, form authForm) *Error {
	var unsigned []string
	if !slices.Contains(signedHeaders, "host") {
		unsigned = append(unsigned, "host")
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !slices.Contains(signedHeaders, lower) {
			unsigned = append(unsigned, lower)
		}
	}
	if unsigned != nil {
		slices.Sort(unsigned)
		return ErrHeadersNotSigned(unsigned)
	}
	for _, name := range signedHeaders {
		switch name {
		case "authorization", "user-agent", "expect", "transfer-encoding", "x-amzn-trace-id":
			return ErrNotImplemented(name)
		case "content-length":
			if n, ok := contentLength(r); !ok || n == 0 {
				return ErrNotImplemented(name)
			}
		}
	}
	return nil
}

// contentLength returns the Content-Length r was sent with.
func contentLength(r *http.Request) (int64, bool) {
	if v := r.Header.Get("Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil && n >= 0
	}
	if r.ContentLength > 0 {
		return r.ContentLength, true
	}
	return 0, false
}

// checkPayloadHash checks the form of an x-amz-content-sha256 value.
func checkPayloadHash(value string) *Error {
	switch {
	case value == unsignedHash, isHexSHA256(value):
		return nil
	case strings.HasPrefix(value, "STREAMING-"):
		// aws-chunked bodies; no client sends them for the ?cors API.
		switch value {
		case "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
			"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
			return ErrNotImplemented("x-amz-content-sha256")
		}
	}
	return ErrInvalidContentSHA256(value)
}

// checkPayload compares the signed payload hash with the body's.
func checkPayload(payloadHash string, payload []byte) *Error {
	if payloadHash == unsignedHash {
		return nil
	}
	sum := sha256.Sum256(payload)
	computed := hex.EncodeToString(sum[:])
	if !strings.EqualFold(payloadHash, computed) {
		return ErrContentSHA256Mismatch(payloadHash, computed)
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// rawTarget returns the path and query of r as the client sent them. The
// request line is authoritative; URL is the fallback for requests built in
// code, whose RequestURI is empty.
func rawTarget(r *http.Request) (path, query string) {
	if strings.HasPrefix(r.RequestURI, "/") {
		path, query, _ = strings.Cut(r.RequestURI, "?")
		return path, query
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// withoutParam removes every name=value pair named name from a raw query.
func withoutParam(rawQuery, name string) string {
	var b strings.Builder
	for q := rawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// serverTime formats t as S3 does in ServerTime and Expires.
func serverTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// spacedHex writes s as S3's *Bytes elements do: "41 57 53 34 ...".
func spacedHex(s string) string {
	if s == "" {
		return ""
	}
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 3*len(s)-1)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&0x0f])
	}
	return string(b)
}

// signingTrace catches the canonical request and the string to sign, which
// the SDK's signer exposes only through its signing log, for the
// SignatureDoesNotMatch body. Neither contains the secret.
type signingTrace struct {
	canonicalRequest, stringToSign string
}

// Logf receives the signer's log entry, whose first two arguments are the
// canonical request and the string to sign.
func (t *signingTrace) Logf(_ logging.Classification, _ string, v ...any) {
	if len(v) >= 2 {
		t.canonicalRequest, _ = v[0].(string)
		t.stringToSign, _ = v[1].(string)
	}
}

var _ logging.Logger = (*signingTrace)(nil)
