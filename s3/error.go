package s3

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error is an S3 error response: an HTTP status and the <Error> document that
// goes with it (WriteError renders it).
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is S3's error code, such as NoSuchBucket.
	Code string
	// Message is S3's human-readable text for the error, byte for byte.
	Message string
	// Extra holds the operation-specific elements that follow Message, in wire
	// order (BucketName, Method, ResourceType, ExpectedDigest, ...).
	Extra []Field
}

// Field is one operation-specific element of an S3 error document.
type Field struct{ Name, Value string }

// A CodedError is an error that knows how S3 reports it: its HTTP status,
// S3's error code and S3's message, byte for byte. Packages that do not
// depend on this one, such as the CORS engine with its validation errors,
// describe their errors this way, and AsError turns them into an *Error, so
// that each of S3's texts is written once, where its rule is.
type CodedError interface {
	error
	StatusCode() int
	ErrorCode() string
	ErrorMessage() string
}

// AsError returns the S3 error that err reports: err itself when it is or
// wraps an *Error, the status, code and message of a CodedError, and
// InternalError for any other error, which can only be a failure of the
// gateway itself.
func AsError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if c, ok := errors.AsType[CodedError](err); ok {
		return newError(c.StatusCode(), c.ErrorCode(), c.ErrorMessage())
	}
	return ErrInternalError()
}

// Error returns the code and the message, as SDKs print them.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// Get returns the value of the extra element name, or "" if e has none.
func (e *Error) Get(name string) string {
	for _, f := range e.Extra {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Resource types that S3 names in MethodNotAllowed and AccessForbidden.
const (
	ResourceBucket  = "BUCKET"
	ResourceObject  = "OBJECT"
	ResourceService = "SERVICE"
)

func newError(status int, code, message string, extra ...Field) *Error {
	return &Error{StatusCode: status, Code: code, Message: message, Extra: extra}
}

// The messages below are S3's own. Where each came from is noted; "spec" is
// the project's behavioural specification (docs/s3-cors-spec.md), which
// cites the AWS recordings behind it.

// ErrNoSuchBucket is the answer for a bucket that does not exist (spec A.6,
// recorded from AWS by LocalStack).
func ErrNoSuchBucket(bucket string) *Error {
	return newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist",
		Field{"BucketName", bucket})
}

// ErrNoSuchCORSConfiguration is GetBucketCors on a bucket without a
// configuration. The wire text differs from AWS's error table (spec A.7,
// E.1 #15; raw capture in versitygw#1842).
func ErrNoSuchCORSConfiguration(bucket string) *Error {
	return newError(http.StatusNotFound, "NoSuchCORSConfiguration", "The CORS configuration does not exist",
		Field{"BucketName", bucket})
}

// ErrAccessDenied is S3's generic refusal: an anonymous request, or an
// x-amz-expected-bucket-owner that names another account (spec A.6).
func ErrAccessDenied() *Error {
	return newError(http.StatusForbidden, "AccessDenied", "Access Denied")
}

// ErrInvalidBucketName refuses a name that breaks S3's naming rules (AWS
// error table; BucketName as S3 adds it).
func ErrInvalidBucketName(name string) *Error {
	return newError(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.",
		Field{"BucketName", name})
}

// ErrMethodNotAllowed refuses a method the resource does not support, such as
// POST /bucket?cors (AWS error table; Method and ResourceType as S3 adds them).
func ErrMethodNotAllowed(method, resourceType string) *Error {
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed",
		"The specified method is not allowed against this resource.",
		Field{"Method", method}, Field{"ResourceType", resourceType})
}

// Refusals of a request target (Classify; docs/request-forms.md says why
// each form gets which).

// ErrInvalidURI refuses a target that cannot be read one way only (AWS error
// table). S3 itself answers a bad percent escape with a bare 400 "Invalid
// URI: isHexDigit" before any routing (versitygw#2070).
func ErrInvalidURI() *Error {
	return newError(http.StatusBadRequest, "InvalidURI", "Couldn't parse the specified URI.")
}

// ErrConflictingQueryParameters refuses a request that names two
// sub-resources, such as ?cors&tagging. names are sorted; S3 lists them so
// and names the first as the argument (recorded from S3 by S3-compatible
// servers' tests, versitygw's among them).
func ErrConflictingQueryParameters(names []string) *Error {
	first := ""
	if len(names) > 0 {
		first = names[0]
	}
	return errInvalidArgument("Conflicting query string parameters: "+strings.Join(names, ", "), "ResourceType", first)
}

// ErrCORSOnKey refuses the cors sub-resource on a key, which stores execute
// as an object operation; the text follows S3's own for ?versions on a key.
func ErrCORSOnKey() *Error {
	return ErrInvalidRequest("There is no such thing as the ?cors sub-resource for a key")
}

// ErrCORSWithoutBucket refuses the cors sub-resource on a target that names
// no bucket, such as /?cors on a host that is no virtual host of this
// gateway: a store that does its own virtual hosting would take it as a
// ?cors call.
func ErrCORSWithoutBucket() *Error {
	return ErrInvalidRequest("The ?cors sub-resource needs a bucket: name it in the path, " +
		"or in a host name under one of the gateway's virtual host suffixes")
}

// ErrInvalidRequest is S3's InvalidRequest with the given message, for the
// validation errors whose text depends on the input (spec A.3 V6-V12).
func ErrInvalidRequest(message string) *Error {
	return newError(http.StatusBadRequest, "InvalidRequest", message)
}

// ErrMaxMessageLengthExceeded refuses a body above the operation's limit
// (AWS error table; spec A.3 V17 names it the likely answer).
func ErrMaxMessageLengthExceeded() *Error {
	return newError(http.StatusBadRequest, "MaxMessageLengthExceeded", "Your request was too big.")
}

// ErrIncompleteBody is a body that ended before its Content-Length (AWS error
// table).
func ErrIncompleteBody() *Error {
	return newError(http.StatusBadRequest, "IncompleteBody",
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
}

// ErrInternalError is a failure of the gateway itself, such as a store that
// cannot be written (AWS error table).
func ErrInternalError() *Error {
	return newError(http.StatusInternalServerError, "InternalError",
		"We encountered an internal error. Please try again.")
}

// ErrServiceUnavailable is a call that needs an answer from the store behind
// the gateway while the store cannot give one, such as PutBucketCors asking
// whether the bucket exists: nothing was changed, and the call may be
// retried (AWS error table; SDKs retry every 503).
func ErrServiceUnavailable() *Error {
	return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
}

// ErrNotImplemented refuses a request whose header asks for something this
// gateway does not do, naming the header as S3 does (AWS error table).
func ErrNotImplemented(header string) *Error {
	return newError(http.StatusNotImplemented, "NotImplemented",
		"A header you provided implies functionality that is not implemented",
		Field{"Header", header})
}

// x-amz-expected-bucket-owner (spec A.6, recorded from AWS for the bucket
// policy operations).

// ErrInvalidBucketOwnerAWSAccountID refuses an x-amz-expected-bucket-owner
// that is not a 12-digit account ID; S3 echoes the value in brackets.
func ErrInvalidBucketOwnerAWSAccountID(value string) *Error {
	return newError(http.StatusBadRequest, "InvalidBucketOwnerAWSAccountID",
		"The value of the expected bucket owner parameter must be an AWS Account ID... ["+value+"]")
}

// Integrity of the body (spec A.5, recorded from AWS on PutObject).

// ErrMissingIntegrityHeader is a PutBucketCors with neither Content-MD5 nor
// an x-amz-checksum-* header. The exact current text is [OPEN] in the spec;
// this is its recommended wording, also what versitygw sends.
func ErrMissingIntegrityHeader() *Error {
	return ErrInvalidRequest("Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
}

// ErrInvalidDigest refuses a Content-MD5 that is not base64 of 16 bytes.
func ErrInvalidDigest(contentMD5 string) *Error {
	return newError(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.",
		Field{"Content-MD5", contentMD5})
}

// ErrBadDigestMD5 is a Content-MD5 that does not match the body: expectedHex
// is the supplied digest in hex, calculated the body's digest in base64.
func ErrBadDigestMD5(expectedHex, calculated string) *Error {
	return newError(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.",
		Field{"ExpectedDigest", expectedHex}, Field{"CalculatedDigest", calculated})
}

// ErrBadDigestChecksum is an x-amz-checksum-* value that does not match the
// body; algorithm is upper case (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
func ErrBadDigestChecksum(algorithm string) *Error {
	return newError(http.StatusBadRequest, "BadDigest",
		"The "+algorithm+" you specified did not match the calculated checksum.")
}

// ErrInvalidChecksumValue refuses an x-amz-checksum-* value that is not
// base64 of the algorithm's size; header is the lower-case header name.
func ErrInvalidChecksumValue(header string) *Error {
	return ErrInvalidRequest("Value for " + header + " header is invalid.")
}

// ErrMultipleChecksums refuses two different x-amz-checksum-* headers.
func ErrMultipleChecksums() *Error {
	return ErrInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
}

// ErrChecksumAlgorithmWithoutChecksum refuses x-amz-sdk-checksum-algorithm
// sent without the checksum it announces. AWS's answer is [OPEN] in the spec;
// this text is the one S3-compatible servers written against S3 use
// (Scality CloudServer's checksum tests, OpenStack Swift's s3api).
func ErrChecksumAlgorithmWithoutChecksum() *Error {
	return ErrInvalidRequest("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
}

// ErrUnsupportedChecksumAlgorithm refuses an x-amz-sdk-checksum-algorithm
// that names no algorithm S3 has (the text S3-compatible servers mimic).
func ErrUnsupportedChecksumAlgorithm() *Error {
	return ErrInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
}

// Authentication (AWS Signature Version 4). Texts are S3's as recorded by
// versitygw's s3err package (which is run against S3 in its direct mode) and
// by AWS error bodies quoted in public logs; differences are noted.

// ErrUnsupportedAuthorization refuses a signature scheme other than
// AWS4-HMAC-SHA256: Signature Version 2, or SigV4a, which this gateway cannot
// verify (S3's text for SigV2 in regions without it).
func ErrUnsupportedAuthorization() *Error {
	return ErrInvalidRequest("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
}

// errInvalidArgument is S3's InvalidArgument with the argument it names.
func errInvalidArgument(message, name, value string) *Error {
	return newError(http.StatusBadRequest, "InvalidArgument", message,
		Field{"ArgumentName", name}, Field{"ArgumentValue", value})
}

// ErrUnsupportedAuthorizationType refuses an Authorization header that is no
// AWS scheme at all, such as Bearer.
func ErrUnsupportedAuthorizationType(value string) *Error {
	return errInvalidArgument("Unsupported Authorization Type", "Authorization", value)
}

// ErrTwoAuthMechanisms refuses a request that is presigned and also carries
// an Authorization header.
func ErrTwoAuthMechanisms(authorization string) *Error {
	return errInvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "+
		"Signature query string parameter or the Authorization header should be specified",
		"Authorization", authorization)
}

// ErrAuthorizationHeaderMalformed is AuthorizationHeaderMalformed with S3's
// prefix before detail.
func ErrAuthorizationHeaderMalformed(detail string, extra ...Field) *Error {
	return newError(http.StatusBadRequest, "AuthorizationHeaderMalformed",
		"The authorization header is malformed; "+detail, extra...)
}

// ErrAuthorizationQueryParametersError is S3's refusal of a presigned URL's
// authentication parameters.
func ErrAuthorizationQueryParametersError(message string, extra ...Field) *Error {
	return newError(http.StatusBadRequest, "AuthorizationQueryParametersError", message, extra...)
}

// ErrMissingDate is a signed request without a usable date.
func ErrMissingDate() *Error {
	return newError(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
}

// ErrHeadersNotSigned refuses a request that carries x-amz-* headers (or a
// host) its signature does not cover; names are lower case.
func ErrHeadersNotSigned(names []string) *Error {
	return newError(http.StatusForbidden, "AccessDenied", "There were headers present in the request which were not signed",
		Field{"HeadersNotSigned", strings.Join(names, ", ")})
}

// ErrInvalidAccessKeyID refuses an access key that is not configured. The
// wording is the one AWS sends (quoted in SDK traces); versitygw's differs.
func ErrInvalidAccessKeyID(accessKeyID string) *Error {
	return newError(http.StatusForbidden, "InvalidAccessKeyId",
		"The AWS Access Key Id you provided does not exist in our records.",
		Field{"AWSAccessKeyId", accessKeyID})
}

// ErrSignatureDoesNotMatch refuses a wrong signature. extra carries what S3
// adds to help the caller: AWSAccessKeyId, StringToSign, SignatureProvided,
// StringToSignBytes, CanonicalRequest, CanonicalRequestBytes. None of them
// holds or hints at a secret.
func ErrSignatureDoesNotMatch(extra ...Field) *Error {
	return newError(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		extra...)
}

// ErrRequestTimeTooSkewed refuses a request signed too far from the server's
// time. requestTime is the date as the request sent it, serverTime ISO 8601
// (AWS bodies quoted in public logs).
func ErrRequestTimeTooSkewed(requestTime, serverTime string, maxSkewMillis int64) *Error {
	return newError(http.StatusForbidden, "RequestTimeTooSkewed",
		"The difference between the request time and the current time is too large.",
		Field{"RequestTime", requestTime}, Field{"ServerTime", serverTime},
		Field{"MaxAllowedSkewMilliseconds", strconv.FormatInt(maxSkewMillis, 10)})
}

// ErrRequestExpired refuses a presigned URL past X-Amz-Date + X-Amz-Expires
// (AWS bodies quoted in public logs, in this element order).
func ErrRequestExpired(expires, expiresAt, serverTime string) *Error {
	return newError(http.StatusForbidden, "AccessDenied", "Request has expired",
		Field{"X-Amz-Expires", expires}, Field{"Expires", expiresAt}, Field{"ServerTime", serverTime})
}

// ErrRequestNotValidYet refuses a presigned URL dated further in the future
// than the allowed skew (versitygw's text; other servers write "not yet valid").
func ErrRequestNotValidYet() *Error {
	return newError(http.StatusForbidden, "AccessDenied", "Request is not valid yet")
}

// ErrMissingContentSHA256 refuses header authentication without
// x-amz-content-sha256.
func ErrMissingContentSHA256() *Error {
	return ErrInvalidRequest("Missing required header for this request: x-amz-content-sha256")
}

// ErrInvalidContentSHA256 refuses an x-amz-content-sha256 that is neither a
// SHA-256 in hex nor one of S3's keywords.
func ErrInvalidContentSHA256(value string) *Error {
	return errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "+
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "+
		"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
		"x-amz-content-sha256", value)
}

// ErrContentSHA256Mismatch is a body whose SHA-256 is not the signed one.
func ErrContentSHA256Mismatch(clientHash, computedHash string) *Error {
	return newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
		"The provided 'x-amz-content-sha256' header does not match what was computed.",
		Field{"ClientComputedContentSHA256", clientHash}, Field{"S3ComputedContentSHA256", computedHash})
}
