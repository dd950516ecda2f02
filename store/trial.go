package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// Counts of a report-only trial are kept by the instances that count
// requests, one small document per instance and candidate, so that a
// report can add up what every instance saw. The store keeps them as they
// are given and removes them with their candidate; what they hold is the
// counting instance's business.

// InstanceID names this Store in storage: in the journal entries of its
// changes and in the key of its trial counts. It is drawn when the Store is
// made, so it differs between processes and between stores of one process.
func (s *Store) InstanceID() string { return s.id }

// trialDir is where the counts of bucket's candidates are kept, and
// trialVersionDir those of one candidate version.
func (s *Store) trialDir(bucket string) string { return s.trialsDir + "/" + bucket }

func (s *Store) trialVersionDir(bucket, version string) string {
	return s.trialDir(bucket) + "/" + version
}

// validTrialKey checks what a trial key is made of: a bucket name and a
// version as Try draws them, so that no key can leave its directory.
func validTrialKey(bucket, version string) error {
	if !s3.ValidBucketName(bucket) {
		return invalidBucket(bucket)
	}
	if version == "" || strings.ContainsAny(version, "/\\.") {
		return fmt.Errorf("candidate version %q is not one the store draws", version)
	}
	return nil
}

// SaveTrialCounts stores data as this instance's counts of the trial of
// bucket's candidate version, replacing the ones it stored before. The
// counts of a candidate that is no longer on trial are removed by the next
// Try, Promote or Discard of the bucket, or by DeleteTrialCounts.
func (s *Store) SaveTrialCounts(ctx context.Context, bucket, version string, data []byte) error {
	if err := validTrialKey(bucket, version); err != nil {
		return err
	}
	key := s.trialVersionDir(bucket, version) + "/" + s.id + ".json"
	if err := s.storage.Store(ctx, key, data); err != nil {
		return fmt.Errorf("storing trial counts of bucket %q: %w", bucket, err)
	}
	return nil
}

// TrialCounts returns the counts every instance stored for the trial of
// bucket's candidate version, by instance ID (this one's included, as last
// stored); none when no instance has stored any.
func (s *Store) TrialCounts(ctx context.Context, bucket, version string) (map[string][]byte, error) {
	if err := validTrialKey(bucket, version); err != nil {
		return nil, err
	}
	dir := s.trialVersionDir(bucket, version)
	keys, err := s.storage.List(ctx, dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing trial counts of bucket %q: %w", bucket, err)
	}
	out := make(map[string][]byte, len(keys))
	for _, key := range keys {
		name, ok := strings.CutPrefix(key, dir+"/")
		instance, isCounts := strings.CutSuffix(name, ".json")
		// Skip what is not an instance's counts: temporary files of atomic
		// writers.
		if !ok || !isCounts || instance == "" || strings.Contains(instance, "/") {
			continue
		}
		data, err := s.storage.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing: its candidate is gone
		}
		if err != nil {
			return nil, fmt.Errorf("reading trial counts of bucket %q: %w", bucket, err)
		}
		out[instance] = data
	}
	return out, nil
}

// DeleteTrialCounts removes this instance's counts of the trial of bucket's
// candidate version, for an instance that finds the candidate gone.
// Removing counts that are not there is not an error.
func (s *Store) DeleteTrialCounts(ctx context.Context, bucket, version string) error {
	if err := validTrialKey(bucket, version); err != nil {
		return err
	}
	key := s.trialVersionDir(bucket, version) + "/" + s.id + ".json"
	if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting trial counts of bucket %q: %w", bucket, err)
	}
	return nil
}

// removeTrialCounts removes every instance's counts of bucket's candidates
// but those of version keep ("" keeps none). It is called with the change
// that ends their trial; a failure leaves counts no report reads (a report
// reads the current candidate's only), so it is logged, not returned.
func (s *Store) removeTrialCounts(ctx context.Context, bucket, keep string) {
	dir := s.trialDir(bucket)
	if keep == "" {
		if err := s.storage.Delete(ctx, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger().Warn("removing the trial counts of a bucket", zap.String("bucket", bucket), zap.Error(err))
		}
		return
	}
	keys, err := s.storage.List(ctx, dir, false)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logger().Warn("listing the trial counts of a bucket", zap.String("bucket", bucket), zap.Error(err))
		}
		return
	}
	for _, key := range keys {
		if key == s.trialVersionDir(bucket, keep) {
			continue
		}
		if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger().Warn("removing the trial counts of an earlier candidate", zap.String("bucket", bucket), zap.String("key", key), zap.Error(err))
		}
	}
}
