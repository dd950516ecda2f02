package s3

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	algorithmHMAC  = "AWS4-HMAC-SHA256"
	algorithmECDSA = "AWS4-ECDSA-P256-SHA256" // SigV4a: asymmetric, not verifiable with a shared secret
	serviceS3      = "s3"
	scopeTerminal  = "aws4_request"
	amzDateFormat  = "20060102T150405Z"
	scopeDateForm  = "20060102"
	unsignedHash   = "UNSIGNED-PAYLOAD"
	// maxPresignExpires is S3's limit on X-Amz-Expires: seven days.
	maxPresignExpires = 7 * 24 * 60 * 60
)

// credentialScope is the parsed Credential of a signature:
// <access key>/<yyyyMMdd>/<region>/s3/aws4_request.
type credentialScope struct {
	accessKeyID, date, region string
}

// authForm says where a signature came from; S3 words the same failure
// differently for the Authorization header and for a presigned URL.
type authForm bool

const (
	headerForm authForm = false
	queryForm  authForm = true
)

// credentialError is a malformed Credential, worded for the form.
func (f authForm) credentialError(detail string, extra ...Field) *Error {
	if f == headerForm {
		return ErrAuthorizationHeaderMalformed(detail, extra...)
	}
	return ErrAuthorizationQueryParametersError("Error parsing the X-Amz-Credential parameter; "+detail, extra...)
}

// regionError is a Credential scoped to another region than the gateway's.
func (f authForm) regionError(got, want string) *Error {
	return f.credentialError("the region '"+got+"' is wrong; expecting '"+want+"'", Field{"Region", want})
}

// dateMismatchError is a Credential dated another day than the request.
func (f authForm) dateMismatchError(scopeDate, requestDate string) *Error {
	detail := `Invalid credential date "` + scopeDate + `". This date is not the same as X-Amz-Date: "` + requestDate + `".`
	if f == headerForm {
		return ErrAuthorizationHeaderMalformed(detail)
	}
	return ErrAuthorizationQueryParametersError(detail)
}

// parseCredential parses a Credential value. The region is returned for the
// caller to compare with its own; service and terminal are S3's constants.
func parseCredential(value string, form authForm) (credentialScope, *Error) {
	parts := strings.Split(value, "/")
	if len(parts) != 5 {
		return credentialScope{}, form.credentialError(
			`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	scope := credentialScope{accessKeyID: parts[0], date: parts[1], region: parts[2]}
	if !validScopeDate(scope.date) {
		return credentialScope{}, form.credentialError(
			`incorrect date format "` + scope.date + `". This date in the credential must be in the format "yyyyMMdd".`)
	}
	if parts[3] != serviceS3 {
		return credentialScope{}, form.credentialError(
			`incorrect service "` + parts[3] + `". This endpoint belongs to "s3".`)
	}
	if parts[4] != scopeTerminal {
		return credentialScope{}, form.credentialError(
			`incorrect terminal "` + parts[4] + `". This endpoint uses "aws4_request".`)
	}
	return scope, nil
}

func validScopeDate(s string) bool {
	if len(s) != len(scopeDateForm) {
		return false
	}
	_, err := time.Parse(scopeDateForm, s)
	return err == nil
}

// parseAmzDate parses an X-Amz-Date. Only the exact ISO 8601 basic form is
// accepted, because the signer re-formats the parsed time into the string to
// sign, which must be byte-identical to what the client signed.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateFormat) {
		return time.Time{}, false
	}
	t, err := time.Parse(amzDateFormat, s)
	if err != nil || t.Format(amzDateFormat) != s {
		return time.Time{}, false
	}
	return t, true
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	scope         credentialScope
	signedHeaders []string // lower case, in the client's order
	signature     string
}

// parseAuthorization parses an Authorization header of the form
// `AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request,
// SignedHeaders=a;b;c, Signature=hex`, with or without spaces after the
// commas (s3cmd sends none).
func parseAuthorization(value string) (authorization, *Error) {
	scheme, rest, _ := strings.Cut(value, " ")
	switch scheme {
	case algorithmHMAC:
	case "AWS", algorithmECDSA:
		return authorization{}, ErrUnsupportedAuthorization()
	default:
		return authorization{}, ErrUnsupportedAuthorizationType(value)
	}
	var credential, signedHeaders, signature string
	var seen [3]bool
	for rest != "" {
		var component string
		component, rest, _ = strings.Cut(rest, ",")
		component = strings.Trim(component, " \t")
		name, val, ok := strings.Cut(component, "=")
		i := -1
		switch name {
		case "Credential":
			i, credential = 0, val
		case "SignedHeaders":
			i, signedHeaders = 1, val
		case "Signature":
			i, signature = 2, val
		}
		if !ok || i < 0 || seen[i] {
			return authorization{}, ErrAuthorizationHeaderMalformed(
				`the authorization component "` + component + `" is malformed.`)
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return authorization{}, ErrAuthorizationHeaderMalformed(
			"the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	scope, err := parseCredential(credential, headerForm)
	if err != nil {
		return authorization{}, err
	}
	return authorization{scope: scope, signedHeaders: splitSignedHeaders(signedHeaders), signature: signature}, nil
}

// splitSignedHeaders splits a SignedHeaders list; names are compared in
// lower case, which is how SigV4 signs them.
func splitSignedHeaders(s string) []string {
	if s == "" {
		return nil
	}
	names := strings.Split(s, ";")
	for i, n := range names {
		names[i] = strings.ToLower(n)
	}
	return names
}

// The query parameters of a presigned URL. Their names are matched exactly:
// the signer writes them back in this case, so other spellings could not be
// verified anyway.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
)

// presigned holds the parsed authentication parameters of a presigned URL.
type presigned struct {
	scope         credentialScope
	date          time.Time
	rawDate       string
	expires       int64 // seconds
	rawExpires    string
	signedHeaders []string
	signature     string
}

// isPresigned reports whether query carries SigV4 presigned-URL parameters.
func isPresigned(query url.Values) bool {
	return query.Has(paramAlgorithm) || query.Has(paramCredential) || query.Has(paramSignature)
}

// parsePresigned parses and checks the authentication parameters of a
// presigned URL, in the order S3 reports their failures.
func parsePresigned(query url.Values) (presigned, *Error) {
	for _, name := range [...]string{paramAlgorithm, paramCredential, paramSignature, paramDate, paramSignedHeaders, paramExpires} {
		if !query.Has(name) {
			return presigned{}, ErrAuthorizationQueryParametersError("Query-string authentication version 4 requires the " +
				"X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	switch query.Get(paramAlgorithm) {
	case algorithmHMAC:
	case algorithmECDSA:
		return presigned{}, ErrUnsupportedAuthorization()
	default:
		return presigned{}, ErrAuthorizationQueryParametersError(
			`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"`)
	}
	p := presigned{
		rawDate:       query.Get(paramDate),
		rawExpires:    query.Get(paramExpires),
		signedHeaders: splitSignedHeaders(query.Get(paramSignedHeaders)),
		signature:     query.Get(paramSignature),
	}
	var ok bool
	if p.date, ok = parseAmzDate(p.rawDate); !ok {
		return presigned{}, ErrAuthorizationQueryParametersError(
			`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	expires, err := strconv.ParseInt(p.rawExpires, 10, 64)
	switch {
	case err != nil:
		return presigned{}, ErrAuthorizationQueryParametersError("X-Amz-Expires should be a number")
	case expires < 0:
		return presigned{}, ErrAuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
	case expires > maxPresignExpires:
		return presigned{}, ErrAuthorizationQueryParametersError("X-Amz-Expires must be less than a week (in seconds); " +
			"that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	p.expires = expires
	scope, e := parseCredential(query.Get(paramCredential), queryForm)
	if e != nil {
		return presigned{}, e
	}
	if scope.date != p.rawDate[:len(scopeDateForm)] {
		return presigned{}, queryForm.dateMismatchError(scope.date, p.rawDate[:len(scopeDateForm)])
	}
	p.scope = scope
	return p, nil
}
