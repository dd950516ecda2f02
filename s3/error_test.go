package s3

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestErrorConstructors pins every S3 error the module emits: status, code,
// message byte for byte, and the extra elements in wire order.
func TestErrorConstructors(t *testing.T) {
	tests := []struct {
		err     *Error
		status  int
		code    string
		message string
		extra   []Field
	}{
		{ErrNoSuchBucket("b"), 404, "NoSuchBucket", "The specified bucket does not exist", []Field{{"BucketName", "b"}}},
		{ErrNoSuchCORSConfiguration("b"), 404, "NoSuchCORSConfiguration", "The CORS configuration does not exist", []Field{{"BucketName", "b"}}},
		{ErrAccessDenied(), 403, "AccessDenied", "Access Denied", nil},
		{ErrInvalidBucketName("B_1"), 400, "InvalidBucketName", "The specified bucket is not valid.", []Field{{"BucketName", "B_1"}}},
		{ErrMethodNotAllowed("POST", ResourceBucket), 405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
			[]Field{{"Method", "POST"}, {"ResourceType", "BUCKET"}}},
		{ErrInvalidRequest("x"), 400, "InvalidRequest", "x", nil},
		{ErrMaxMessageLengthExceeded(), 400, "MaxMessageLengthExceeded", "Your request was too big.", nil},
		{ErrIncompleteBody(), 400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", nil},
		{ErrInternalError(), 500, "InternalError", "We encountered an internal error. Please try again.", nil},
		{ErrServiceUnavailable(), 503, "ServiceUnavailable", "Service is unable to handle request.", nil},
		{ErrNotImplemented("x-amz-trailer"), 501, "NotImplemented", "A header you provided implies functionality that is not implemented",
			[]Field{{"Header", "x-amz-trailer"}}},
		{ErrInvalidBucketOwnerAWSAccountID("abcd"), 400, "InvalidBucketOwnerAWSAccountID",
			"The value of the expected bucket owner parameter must be an AWS Account ID... [abcd]", nil},
		{ErrMissingIntegrityHeader(), 400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*", nil},
		{ErrInvalidDigest("zz"), 400, "InvalidDigest", "The Content-MD5 you specified was invalid.", []Field{{"Content-MD5", "zz"}}},
		{ErrBadDigestMD5("d41d8cd98f00b204e9800998ecf8427e", "JfnnlDI7RTiF9RgfG2JNCw=="), 400, "BadDigest",
			"The Content-MD5 you specified did not match what we received.",
			[]Field{{"ExpectedDigest", "d41d8cd98f00b204e9800998ecf8427e"}, {"CalculatedDigest", "JfnnlDI7RTiF9RgfG2JNCw=="}}},
		{ErrBadDigestChecksum("CRC64NVME"), 400, "BadDigest", "The CRC64NVME you specified did not match the calculated checksum.", nil},
		{ErrInvalidChecksumValue("x-amz-checksum-crc32c"), 400, "InvalidRequest", "Value for x-amz-checksum-crc32c header is invalid.", nil},
		{ErrMultipleChecksums(), 400, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.", nil},
		{ErrChecksumAlgorithmWithoutChecksum(), 400, "InvalidRequest",
			"x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.", nil},
		{ErrUnsupportedChecksumAlgorithm(), 400, "InvalidRequest",
			"Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]", nil},
		{ErrRequestTimeTooSkewed("20260314T150926Z", "2026-03-14T15:25:26Z", 900000), 403, "RequestTimeTooSkewed",
			"The difference between the request time and the current time is too large.",
			[]Field{{"RequestTime", "20260314T150926Z"}, {"ServerTime", "2026-03-14T15:25:26Z"}, {"MaxAllowedSkewMilliseconds", "900000"}}},
		{ErrRequestNotValidYet(), 403, "AccessDenied", "Request is not valid yet", nil},
		{ErrMissingDate(), 403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", nil},
		{ErrHeadersNotSigned([]string{"host", "x-amz-meta-a"}), 403, "AccessDenied", "There were headers present in the request which were not signed",
			[]Field{{"HeadersNotSigned", "host, x-amz-meta-a"}}},
		{ErrContentSHA256Mismatch("aa", "bb"), 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
			[]Field{{"ClientComputedContentSHA256", "aa"}, {"S3ComputedContentSHA256", "bb"}}},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.message, func(t *testing.T) {
			e := tt.err
			if e.StatusCode != tt.status || e.Code != tt.code || e.Message != tt.message || http.StatusText(e.StatusCode) == "" {
				t.Errorf("got %d %s %q", e.StatusCode, e.Code, e.Message)
			}
			if len(e.Extra) != len(tt.extra) {
				t.Fatalf("extra %v, want %v", e.Extra, tt.extra)
			}
			for i := range tt.extra {
				if e.Extra[i] != tt.extra[i] {
					t.Errorf("extra[%d] = %v, want %v", i, e.Extra[i], tt.extra[i])
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := ErrNoSuchBucket("b")
	if err.Error() != "NoSuchBucket: The specified bucket does not exist" {
		t.Errorf("Error() = %q", err.Error())
	}
	if err.Get("BucketName") != "b" || err.Get("Nope") != "" {
		t.Errorf("Get: %v", err.Extra)
	}
}

// codedError is an error of another package that carries S3's answer.
type codedError struct{ code, message string }

func (e codedError) Error() string        { return e.code + ": " + e.message }
func (e codedError) StatusCode() int      { return http.StatusBadRequest }
func (e codedError) ErrorCode() string    { return e.code }
func (e codedError) ErrorMessage() string { return e.message }

func TestAsError(t *testing.T) {
	own := ErrNoSuchBucket("b")
	if got := AsError(fmt.Errorf("checking: %w", own)); got != own {
		t.Errorf("a wrapped *Error: got %v, want the same error", got)
	}
	got := AsError(fmt.Errorf("parsing: %w", codedError{"MalformedXML", "not well-formed"}))
	if got.StatusCode != http.StatusBadRequest || got.Code != "MalformedXML" || got.Message != "not well-formed" || got.Extra != nil {
		t.Errorf("a CodedError: got %d %s %q %v", got.StatusCode, got.Code, got.Message, got.Extra)
	}
	if got := AsError(errors.New("disk full")); got.StatusCode != http.StatusInternalServerError || got.Code != "InternalError" {
		t.Errorf("any other error: got %d %s, want InternalError", got.StatusCode, got.Code)
	}
}
