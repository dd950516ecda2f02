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
// made the change (an access key ID, or "admin"). A configuration that
// fails cfg.Validate gives an error wrapping the *cors.Error.
//
// Concurrent Puts to one bucket, from this or other instances, leave one of
// the documents, whole, in storage and, once they have synced, on every
// instance.
func (s *Store) Put(ctx context.Context, bucket string, cfg *cors.Configuration, by string) (Record, error) {
	rec, rules, err := s.write(ctx, bucket, cfg, by)
	if err != nil {
		return Record{}, err
	}
	s.logger().Info("CORS configuration stored",
		zap.String("bucket", bucket),
		zap.Int("rules", rules),
		zap.String("by", by),
		zap.String("version", rec.Version))
	if err := s.publish(ctx, change{Bucket: bucket, By: by}); err != nil {
		s.logger().Warn("announcing CORS configuration change to other instances", zap.String("bucket", bucket), zap.Error(err))
	}
	return rec, nil
}

// write checks cfg and stores it as bucket's configuration, without
// announcing it, and returns the record and its number of rules.
func (s *Store) write(ctx context.Context, bucket string, cfg *cors.Configuration, by string) (Record, int, error) {
	p, err := s.prepare(bucket, cfg, nil)
	if err != nil {
		return Record{}, 0, err
	}
	rec, err := s.writeRecord(ctx, p, by)
	return rec, p.policy.Len(), err
}

// prepared is a configuration checked and compiled, ready to be stored.
type prepared struct {
	bucket string
	doc    []byte // canonical
	digest digest
	policy *cors.Policy
}

// prepare checks a configuration of bucket and compiles it. compiled, when
// not nil, shares policies between the items of one PutMany.
func (s *Store) prepare(bucket string, cfg *cors.Configuration, compiled *policyCompiler) (prepared, error) {
	if !s3.ValidBucketName(bucket) {
		return prepared{}, invalidBucket(bucket)
	}
	if cfg == nil {
		return prepared{}, errNoConfiguration
	}
	if err := cfg.Validate(); err != nil {
		return prepared{}, fmt.Errorf("CORS configuration of bucket %q is not valid: %w", bucket, err)
	}
	doc := cfg.Marshal()
	p := prepared{bucket: bucket, doc: doc, digest: digestOf(doc)}
	if p.policy = s.cachedPolicy(p.digest); p.policy == nil && compiled != nil {
		p.policy = compiled.get(p.digest)
	}
	if p.policy != nil {
		return p, nil
	}
	// Compile what other instances will compile: the stored text, not the
	// caller's value, which the caller may go on to change. The canonical
	// text may be longer than the document the client sent, so it is read
	// without the size limit that applied to that document.
	parsed, err := cors.ParseStored(doc)
	if err != nil {
		return prepared{}, fmt.Errorf("CORS configuration of bucket %q does not read back after encoding, so it was not stored: %w", bucket, err)
	}
	p.policy = cors.Compile(parsed)
	if compiled != nil {
		p.policy = compiled.put(p.digest, p.policy)
	}
	return p, nil
}

// newRecord is the record of a new version of a prepared configuration.
func (s *Store) newRecord(p prepared, by string) Record {
	return Record{
		Bucket:    p.bucket,
		Document:  string(p.doc),
		Version:   newID(),
		UpdatedAt: s.now().UTC(),
		UpdatedBy: by,
	}
}

// writeRecord stores a prepared configuration durably, keeping the one it
// replaces in the history, and installs it in this instance. It does not
// announce it.
func (s *Store) writeRecord(ctx context.Context, p prepared, by string) (Record, error) {
	rec := s.newRecord(p, by)
	data, err := encodeRecord(rec)
	if err != nil {
		return Record{}, fmt.Errorf("encoding CORS configuration of bucket %q: %w", p.bucket, err)
	}
	unlock := s.lockBucket(p.bucket)
	defer unlock()
	if err := s.replaceRecord(ctx, p.bucket, data); err != nil {
		return Record{}, fmt.Errorf("storing CORS configuration of bucket %q: %w", p.bucket, err)
	}
	s.install(newEntry(rec, p.policy), p.digest)
	return rec, nil
}

// Delete removes bucket's CORS configuration, keeping it in the history
// with the deletion. existed reports whether there was one, as far as this
// instance and storage could tell; deleting a missing configuration is not
// an error. The bucket's candidate, if any, stays (Discard removes it). by
// is as for Put.
func (s *Store) Delete(ctx context.Context, bucket, by string) (existed bool, err error) {
	if !s3.ValidBucketName(bucket) {
		return false, invalidBucket(bucket)
	}
	unlock := s.lockBucket(bucket)
	stored, err := s.deleteRecord(ctx, bucket, by)
	if err != nil {
		unlock()
		return false, fmt.Errorf("deleting CORS configuration of bucket %q: %w", bucket, err)
	}
	e := s.entry(bucket)
	existed = stored || (e != nil && e.policy != nil)
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
