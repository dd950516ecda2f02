package s3storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// failed describes a failed request: what was done to which key (none for
// the bucket itself), where, and what to check.
func (s *Storage) failed(op, key string, err error) error {
	msg := fmt.Sprintf("bucket storage: %s %q in bucket %s at %s", op, s.objectKey(key), s.cfg.Bucket, s.cfg.Endpoint)
	if key == "" {
		msg = fmt.Sprintf("bucket storage: %s bucket %s at %s", op, s.cfg.Bucket, s.cfg.Endpoint)
	}
	if hint := hint(err); hint != "" {
		return fmt.Errorf("%s: %w; %s", msg, err, hint)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// hint says what to check after err.
func hint(err error) string {
	status, code := s3.StatusOf(err), codeOf(err)
	switch {
	case errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, context.DeadlineExceeded) && status == 0:
		return "the store did not answer in time: check that the endpoint is right and the store is up"
	case status == 0:
		return "no answer from the store: check that the endpoint is right and the store is up"
	case code == "NoSuchBucket":
		return "the bucket is gone: it was deleted after this instance found or created it; the configurations were in it, so restore it from a backup"
	case status == http.StatusForbidden, code == "InvalidAccessKeyId", code == "SignatureDoesNotMatch":
		return "check the credentials: the access key ID, the secret access key, and that they may use the bucket"
	case status == http.StatusMovedPermanently, code == "PermanentRedirect", code == "AuthorizationHeaderMalformed",
		code == "IllegalLocationConstraintException", code == "InvalidLocationConstraint":
		return "check the region: the store expects another one"
	case status >= 500:
		return "the store failed: check its logs"
	}
	return ""
}

// codeOf is the S3 error code of a failed SDK call, or "".
func codeOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isMissingKey reports whether err says that an object does not exist. A
// missing bucket is not a missing key: it is an error worth reporting.
func isMissingKey(err error) bool {
	code := codeOf(err)
	return code == "NoSuchKey" || (s3.StatusOf(err) == http.StatusNotFound && code != "NoSuchBucket")
}

// isConditionFailed reports whether err is the store refusing a
// conditional write: 412 Precondition Failed, or 409
// ConditionalRequestConflict, which Amazon S3 answers when a concurrent
// conditional write to the same key is in progress.
func isConditionFailed(err error) bool {
	status := s3.StatusOf(err)
	return status == http.StatusPreconditionFailed ||
		(status == http.StatusConflict && codeOf(err) == "ConditionalRequestConflict")
}
