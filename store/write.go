package store

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

var errNoConfiguration = errors.New("no CORS configuration given: pass the parsed document to store")

// Put stores cfg as bucket's CORS configuration, replacing any other, and
// returns the record as stored. It returns after storage has durably kept
// the record; from then on Lookup and Get on this Store see it, and other
// Stores on the same storage see it after their next Sync. by names who
// made the change (an access key ID, or "admin").
//
// Concurrent Puts to one bucket, from this or other instances, leave one of
// the documents, whole, in storage and, once they have synced, on every
// instance.
func (s *Store) Put(ctx context.Context, bucket string, cfg *cors.Configuration, by string) (Record, error) {
	if !s3.ValidBucketName(bucket) {
		return Record{}, invalidBucket(bucket)
	}
	if cfg == nil {
		return Record{}, errNoConfiguration
	}
	if err := cfg.Validate(); err != nil {
		return Record{}, fmt.Errorf("CORS configuration of bucket %q is not valid: %w", bucket, err)
	}
	doc := cfg.Marshal()
	// Compile what other instances will compile: the stored text, not the
	// caller's value, which the caller may go on to change. The canonical
	// text may be longer than the document the client sent, so it is read
	// without the size limit that applied to that document.
	parsed, err := cors.ParseStored(doc)
	if err != nil {
		return Record{}, fmt.Errorf("CORS configuration of bucket %q does not read back after encoding, so it was not stored: %w", bucket, err)
	}
	rec := Record{
		Bucket:    bucket,
		Document:  string(doc),
		Version:   newID(),
		UpdatedAt: s.now().UTC(),
		UpdatedBy: by,
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return Record{}, fmt.Errorf("encoding CORS configuration of bucket %q: %w", bucket, err)
	}
	d := digestOf(doc)
	policy := s.cachedPolicy(d)
	if policy == nil {
		policy = cors.Compile(parsed)
	}

	unlock := s.lockBucket(bucket)
	if err := s.storage.Store(ctx, s.recordKey(bucket), data); err != nil {
		unlock()
		return Record{}, fmt.Errorf("storing CORS configuration of bucket %q: %w", bucket, err)
	}
	s.install(bucket, newEntry(rec, policy), d)
	unlock()

	s.logger().Info("CORS configuration stored",
		zap.String("bucket", bucket),
		zap.Int("rules", len(parsed.Rules)),
		zap.String("by", by),
		zap.String("version", rec.Version))
	if err := s.publish(ctx, change{Bucket: bucket, By: by}); err != nil {
		s.logger().Warn("announcing CORS configuration change to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return rec, nil
}

// Delete removes bucket's CORS configuration. existed reports whether there
// was one, as far as this instance and storage could tell; deleting a
// missing configuration is not an error. by is as for Put.
func (s *Store) Delete(ctx context.Context, bucket, by string) (existed bool, err error) {
	if !s3.ValidBucketName(bucket) {
		return false, invalidBucket(bucket)
	}
	key := s.recordKey(bucket)
	unlock := s.lockBucket(bucket)
	_, existed = s.Get(bucket)
	if !existed {
		existed = s.storage.Exists(ctx, key)
	}
	if err := s.storage.Delete(ctx, key); err != nil {
		unlock()
		return false, fmt.Errorf("deleting CORS configuration of bucket %q: %w", bucket, err)
	}
	s.uninstall(bucket)
	unlock()

	if existed {
		s.logger().Info("CORS configuration deleted", zap.String("bucket", bucket), zap.String("by", by))
	}
	// Announced even when nothing seemed to exist: another instance may
	// still serve a configuration this one never saw.
	if err := s.publish(ctx, change{Bucket: bucket, Deleted: true, By: by}); err != nil {
		s.logger().Warn("announcing CORS configuration deletion to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return existed, nil
}
