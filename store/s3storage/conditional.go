package s3storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/store"
)

// prepareTimeout bounds the preparation Conditional makes when no other
// call has made it yet.
const prepareTimeout = 15 * time.Second

// Conditional reports whether the store enforces conditional writes, as the
// probe made by Prepare found. If the storage is not prepared yet it
// prepares it first, within 15 s; when that fails it reports false, which
// is always safe: the fallback works on any store.
func (s *Storage) Conditional() bool {
	if !s.prepared.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
		defer cancel()
		if s.Prepare(ctx) != nil {
			return false
		}
	}
	return s.conditional.Load()
}

// StoreIf stores value at key if the key's current version (ETag) is
// version, or, with version "", if the key does not exist, and returns the
// new version. When the key changed, it returns an error wrapping
// store.ErrConditionFailed and nothing was written.
//
// On a store that enforces conditional writes the store itself decides,
// atomically. On one that does not (Conditional reports false) StoreIf
// compares the version first and then writes: right with one writer, but
// two writers can both pass the comparison, and the last write wins. The
// store package never relies on StoreIf there; it uses its lock and
// read-back protocol instead.
func (s *Storage) StoreIf(ctx context.Context, key string, value []byte, version string) (string, error) {
	if err := s.Prepare(ctx); err != nil {
		return "", err
	}
	if !s.conditional.Load() {
		return s.storeIfUnenforced(ctx, key, value, version)
	}
	etag, err := s.putIf(ctx, key, value, version)
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return "", s.failed("storing (conditionally)", key, err)
	}
	return etag, err
}

// putIf sends a conditional PutObject. It retries transient failures
// itself, because a retry cannot tell "refused" from "my earlier attempt
// was applied": when a retry is refused it reads the key, and finding its
// own value there it counts the write as done.
func (s *Storage) putIf(ctx context.Context, key string, value []byte, version string) (string, error) {
	retryable := retry.IsErrorRetryables(retry.DefaultRetryables)
	uncertain := false
	for attempt := 1; ; attempt++ {
		in := s.putInput(key, value)
		if version == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(version)
		}
		out, err := s.client.PutObject(ctx, in, func(o *awss3.Options) { o.Retryer = aws.NopRetryer{} })
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
		// A write against a version of a key that is gone is refused
		// with 404 NoSuchKey (by Amazon S3 as by MinIO and versitygw).
		if isConditionFailed(err) || (version != "" && isMissingKey(err)) {
			if uncertain {
				if current, cerr := s.currentVersion(ctx, key, value); cerr == nil && current != "" {
					return current, nil
				}
			}
			return "", s.conditionFailed(key, version, err)
		}
		if attempt >= maxAttempts || ctx.Err() != nil || retryable.IsErrorRetryable(err) != aws.TrueTernary {
			return "", err
		}
		uncertain = true
		t := time.NewTimer(min(maxBackoff, 100*time.Millisecond<<attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", err
		case <-t.C:
		}
	}
}

// currentVersion returns key's version if key holds exactly value, or "".
func (s *Storage) currentVersion(ctx context.Context, key string, value []byte) (string, error) {
	got, version, err := s.loadVersion(ctx, key)
	if err != nil || !bytes.Equal(got, value) {
		return "", err
	}
	return version, nil
}

// storeIfUnenforced is StoreIf on a store that ignores conditions.
func (s *Storage) storeIfUnenforced(ctx context.Context, key string, value []byte, version string) (string, error) {
	_, current, err := s.loadVersion(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if unquote(current) != unquote(version) {
		return "", s.conditionFailed(key, version, nil)
	}
	out, err := s.client.PutObject(ctx, s.putInput(key, value))
	if err != nil {
		return "", s.failed("storing", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// conditionFailed is the error of a refused conditional write; cause is
// the store's answer, if there was one.
func (s *Storage) conditionFailed(key, version string, cause error) error {
	expected := "to be absent"
	if version != "" {
		expected = "to have version " + version
	}
	msg := fmt.Sprintf("bucket storage: object %q in bucket %s was expected %s", s.objectKey(key), s.cfg.Bucket, expected)
	if cause != nil {
		return fmt.Errorf("%s: %w: %w", msg, store.ErrConditionFailed, cause)
	}
	return fmt.Errorf("%s: %w", msg, store.ErrConditionFailed)
}

// unquote drops the quotes around an ETag, which some stores leave off.
func unquote(etag string) string { return strings.Trim(etag, `"`) }
