package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// Policies are what decides the requests to one bucket, as Lookup finds
// them.
type Policies struct {
	// Live decides every response; nil when the bucket has no
	// configuration.
	Live *cors.Policy
	// Candidate is the configuration on report-only trial; nil when there
	// is none, as for nearly every bucket.
	Candidate *Candidate
}

// Candidate is a configuration on report-only trial (Try): requests are
// also decided by it, to count how it would have answered, but never
// answered by it. A Candidate is immutable and shared; a new Try gives a
// new one, with a new Version.
type Candidate struct {
	Policy *cors.Policy
	// Version identifies this candidate, the same on every instance, so
	// that counters kept per candidate start afresh when it is replaced.
	Version   string
	UpdatedAt time.Time
	UpdatedBy string
}

// ErrNoCandidate is wrapped by the errors of Promote for a bucket that has
// no candidate.
var ErrNoCandidate = errors.New("no candidate CORS configuration")

func (s *Store) candidateKey(bucket string) string {
	return s.candidatesDir + "/" + bucket + ".json"
}

// Try stores cfg as bucket's candidate configuration, replacing any other
// candidate, and returns it as stored. Like a configuration, it is durable
// when Try returns and reaches the other instances at their next Sync. The
// bucket's live configuration, if any, is not changed. The trial counts of
// the candidate it replaces are removed. by is as for Put.
func (s *Store) Try(ctx context.Context, bucket string, cfg *cors.Configuration, by string) (Record, error) {
	p, err := s.prepare(bucket, cfg, nil)
	if err != nil {
		return Record{}, err
	}
	rec := s.newRecord(p, by)
	data, err := encodeRecord(rec)
	if err != nil {
		return Record{}, err
	}
	unlock := s.lockBucket(bucket)
	if err := s.storage.Store(ctx, s.candidateKey(bucket), data); err != nil {
		unlock()
		return Record{}, fmt.Errorf("storing candidate CORS configuration of bucket %q: %w", bucket, err)
	}
	s.installCandidate(bucket, newCandidate(rec, p.policy), p.digest)
	unlock()
	s.removeTrialCounts(ctx, bucket, rec.Version)

	s.logger().Info("candidate CORS configuration stored",
		zap.String("bucket", bucket), zap.Int("rules", p.policy.Len()),
		zap.String("by", by), zap.String("version", rec.Version))
	if err := s.publish(ctx, change{Bucket: bucket, Candidate: true, By: by}); err != nil {
		s.logger().Warn("announcing candidate CORS configuration to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return rec, nil
}

// same reports whether c and o are the same candidate, compiled alike.
func (c *Candidate) same(o *Candidate) bool {
	return c.Policy == o.Policy && c.Version == o.Version && c.UpdatedBy == o.UpdatedBy && c.UpdatedAt.Equal(o.UpdatedAt)
}

func newCandidate(rec Record, p *cors.Policy) *Candidate {
	return &Candidate{Policy: p, Version: rec.Version, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy}
}

// GetCandidate returns bucket's candidate configuration, as this instance
// serves it.
func (s *Store) GetCandidate(bucket string) (Record, bool) {
	e := s.entry(bucket)
	if e == nil || e.candidate() == nil {
		return Record{}, false
	}
	c := e.candidate()
	return Record{
		Bucket:    bucket,
		Document:  string(c.Policy.Configuration().Marshal()),
		Version:   c.Version,
		UpdatedAt: c.UpdatedAt,
		UpdatedBy: c.UpdatedBy,
	}, true
}

// Promote makes bucket's candidate its live configuration, by a Put of the
// candidate's document (so the configuration it replaces is in the
// history), then removes the candidate and its trial counts. It returns the
// new live record. by is as for Put.
func (s *Store) Promote(ctx context.Context, bucket, by string) (Record, error) {
	if !s3.ValidBucketName(bucket) {
		return Record{}, invalidBucket(bucket)
	}
	// Storage, not this instance's copy, says what the candidate is now.
	data, err := s.storage.Load(ctx, s.candidateKey(bucket))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("bucket %q: %w", bucket, ErrNoCandidate)
	}
	if err != nil {
		return Record{}, fmt.Errorf("reading candidate CORS configuration of bucket %q: %w", bucket, err)
	}
	cand, err := decodeRecord(bucket, data)
	if err != nil {
		return Record{}, fmt.Errorf("candidate CORS configuration of bucket %q cannot be used: %w", bucket, err)
	}
	cfg, err := cors.ParseStored([]byte(cand.Document))
	if err != nil {
		return Record{}, fmt.Errorf("candidate CORS configuration of bucket %q is not valid: %w", bucket, err)
	}
	rec, rules, err := s.write(ctx, bucket, cfg, by)
	if err != nil {
		return Record{}, err
	}
	if err := s.removeCandidate(ctx, bucket); err != nil {
		// The promotion itself is done; the candidate can be discarded.
		s.logger().Warn("removing the promoted candidate CORS configuration", zap.String("bucket", bucket), zap.Error(err))
	}
	s.removeTrialCounts(ctx, bucket, "")
	s.logger().Info("candidate CORS configuration promoted",
		zap.String("bucket", bucket), zap.Int("rules", rules),
		zap.String("by", by), zap.String("candidate", cand.Version), zap.String("version", rec.Version))
	if err := s.publish(ctx, change{Bucket: bucket, By: by}, change{Bucket: bucket, Candidate: true, Deleted: true, By: by}); err != nil {
		s.logger().Warn("announcing promoted CORS configuration to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return rec, nil
}

// Discard removes bucket's candidate configuration and its trial counts.
// existed reports whether
// there was one, as far as this instance and storage could tell; discarding
// a missing candidate is not an error.
func (s *Store) Discard(ctx context.Context, bucket, by string) (existed bool, err error) {
	if !s3.ValidBucketName(bucket) {
		return false, invalidBucket(bucket)
	}
	existed = s.storage.Exists(ctx, s.candidateKey(bucket))
	if e := s.entry(bucket); e != nil && e.candidate() != nil {
		existed = true
	}
	if err := s.removeCandidate(ctx, bucket); err != nil {
		return false, err
	}
	s.removeTrialCounts(ctx, bucket, "")
	if existed {
		s.logger().Info("candidate CORS configuration discarded", zap.String("bucket", bucket), zap.String("by", by))
	}
	if err := s.publish(ctx, change{Bucket: bucket, Candidate: true, Deleted: true, By: by}); err != nil {
		s.logger().Warn("announcing discarded candidate CORS configuration to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return existed, nil
}

// removeCandidate deletes bucket's candidate from storage and from this
// instance, without announcing it.
func (s *Store) removeCandidate(ctx context.Context, bucket string) error {
	unlock := s.lockBucket(bucket)
	defer unlock()
	if err := s.storage.Delete(ctx, s.candidateKey(bucket)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting candidate CORS configuration of bucket %q: %w", bucket, err)
	}
	s.uninstallCandidate(bucket)
	return nil
}
