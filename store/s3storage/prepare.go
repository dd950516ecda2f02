package s3storage

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// Prepare makes the storage ready: it creates the bucket if it does not
// exist and probes whether the store enforces conditional writes. Every
// other method calls it first; it does its work once, and while it fails
// the next call tries again. It is exported so that a caller can surface
// a misconfiguration early, at a moment of its choosing.
func (s *Storage) Prepare(ctx context.Context) error {
	if s.prepared.Load() {
		return nil
	}
	select {
	case s.prepareSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("bucket storage: waiting for bucket %s at %s to be prepared: %w", s.cfg.Bucket, s.cfg.Endpoint, ctx.Err())
	}
	defer func() { <-s.prepareSem }()
	if s.prepared.Load() {
		return nil
	}
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	enforced, why, err := s.probe(ctx)
	if err != nil {
		return err
	}
	s.conditional.Store(enforced)
	s.prepared.Store(true)
	if enforced {
		s.log.Info("bucket storage enforces conditional writes (If-Match, If-None-Match)",
			zap.String("storage", s.String()))
	} else {
		s.log.Warn("bucket storage ignores conditional writes (If-Match, If-None-Match); writers fall back to locks and read-back checks, which a race can defeat until the next full reconciliation",
			zap.String("storage", s.String()), zap.String("finding", why))
	}
	return nil
}

// ensureBucket creates the bucket unless it exists. Several instances may
// start at once: whichever create fails, the bucket is fine if a second
// look finds it.
func (s *Storage) ensureBucket(ctx context.Context) error {
	head := func() error {
		_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
		return err
	}
	err := head()
	if err == nil {
		return nil
	}
	if s3.StatusOf(err) != http.StatusNotFound {
		return s.failed("looking for", "", err)
	}
	in := &awss3.CreateBucketInput{Bucket: aws.String(s.cfg.Bucket)}
	if s.cfg.Region != "us-east-1" {
		// us-east-1 is the one region S3 wants no constraint for.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.cfg.Region),
		}
	}
	if _, cerr := s.client.CreateBucket(ctx, in); cerr != nil {
		if head() == nil {
			return nil
		}
		return s.failed("creating", "", cerr)
	}
	s.log.Info("created the bucket for bucket storage", zap.String("storage", s.String()))
	return nil
}

// probe finds out whether the store enforces conditional writes, on an
// object of its own that it removes afterwards: a create-only write must
// succeed once and be refused the second time, a write against a wrong
// ETag must be refused, and one against the right ETag must succeed.
// finding says what the store did instead when it does not enforce them;
// err is set only when the store could not be asked.
func (s *Storage) probe(ctx context.Context) (enforced bool, finding string, err error) {
	key := ".conditional-write-probe-" + rand.Text()
	defer func() {
		if derr := s.deleteObject(ctx, key); derr != nil && err == nil {
			err = derr
		}
	}()

	// expect makes one conditional write and compares its fate with what
	// an enforcing store does; finding is set when they differ.
	expect := func(version string, accept bool, otherwise string) (etag, finding string, err error) {
		etag, err = s.putIf(ctx, key, []byte(rand.Text()), version)
		switch {
		case err == nil && accept, isConditionFailed(err) && !accept:
			return etag, "", nil
		case err == nil, isConditionFailed(err):
			return "", otherwise, nil
		case s3.StatusOf(err) == http.StatusNotImplemented || s3.StatusOf(err) == http.StatusBadRequest:
			// Stores that know no conditions may refuse the headers.
			return "", fmt.Sprintf("refused a conditional write: %v", err), nil
		}
		return "", "", s.failed("probing conditional writes with", key, err)
	}

	first, finding, err := expect("", true, "refused a create-only write (If-None-Match: *) of a new object")
	if finding != "" || err != nil {
		return false, finding, err
	}
	for _, step := range []struct{ version, otherwise string }{
		{"", "accepted a create-only write (If-None-Match: *) over an existing object"},
		{`"0123456789abcdef0123456789abcdef"`, "accepted a write with If-Match of an ETag the object does not have"},
	} {
		if _, finding, err = expect(step.version, false, step.otherwise); finding != "" || err != nil {
			return false, finding, err
		}
	}
	if _, finding, err = expect(first, true, "refused a write with If-Match of the ETag it had just returned"); finding != "" || err != nil {
		return false, finding, err
	}
	return true, "", nil
}
