package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// HistorySize is how many earlier versions of its configuration the store
// keeps per bucket.
const HistorySize = 20

// Version is one version of a bucket's configuration, as History lists it.
type Version struct {
	// Version is the record's version, which GetVersion and Rollback
	// take.
	Version string `json:"version"`
	// UpdatedAt is when the version was written (or the configuration
	// deleted), by the writer's clock.
	UpdatedAt time.Time `json:"updated_at"`
	// UpdatedBy is who wrote it.
	UpdatedBy string `json:"updated_by,omitempty"`
	// Rules is the number of CORS rules; 0 for a deletion.
	Rules int `json:"rules"`
	// Deleted marks the deletion of the configuration.
	Deleted bool `json:"deleted,omitempty"`
	// Current marks the configuration in force.
	Current bool `json:"current,omitempty"`
}

// ErrNoSuchVersion is wrapped by the errors of GetVersion and Rollback for
// a version the bucket's history does not hold, or holds as a deletion.
var ErrNoSuchVersion = errors.New("no such version of the CORS configuration")

// historyKey is where the history keeps a version: under the bucket, named
// by when the version was written, so that names sort by age.
func (s *Store) historyKey(bucket string, at time.Time, version string) string {
	nanos := int64(0)
	if !at.IsZero() && at.Year() >= 1970 && at.Year() <= 2261 {
		nanos = at.UnixNano()
	}
	return fmt.Sprintf("%s/%s/%020d-%s.json", s.historyDir, bucket, nanos, historyID(version))
}

// historyID is version as a key segment: itself when it is one Put drew,
// a digest of it for a version written by hand.
func historyID(version string) string {
	if validID(version) {
		return version
	}
	sum := sha256.Sum256([]byte(version))
	return "x" + hex.EncodeToString(sum[:12])
}

// storedVersion is a history key's content: a record, or the deletion of
// the configuration.
type storedVersion struct {
	storedRecord
	Deleted bool `json:"deleted,omitempty"`
}

// keepInHistory stores prev, the record data a write is about to replace
// or delete, in bucket's history, and forgets the oldest versions beyond
// HistorySize. A record that cannot be read is not kept: it could not be
// restored.
func (s *Store) keepInHistory(ctx context.Context, bucket string, prev []byte) error {
	rec, err := decodeRecord(bucket, prev)
	if err != nil {
		s.logger().Debug("not keeping an unusable record in the history", zap.String("bucket", bucket), zap.Error(err))
		return nil
	}
	return s.addVersion(ctx, rec, false)
}

// addVersion stores one version in the history of rec.Bucket.
func (s *Store) addVersion(ctx context.Context, rec Record, deleted bool) error {
	data, err := json.MarshalIndent(storedVersion{storedRecord{Format: recordFormat, Record: rec}, deleted}, "", "\t")
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, s.historyKey(rec.Bucket, rec.UpdatedAt, rec.Version), data); err != nil {
		return fmt.Errorf("keeping the earlier CORS configuration of bucket %q in its history: %w", rec.Bucket, err)
	}
	keys, err := s.historyKeys(ctx, rec.Bucket)
	if err != nil {
		s.logger().Debug("listing a bucket's history to trim it", zap.String("bucket", rec.Bucket), zap.Error(err))
		return nil
	}
	for _, key := range keys[:max(0, len(keys)-HistorySize)] {
		if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger().Debug("trimming a bucket's history", zap.String("key", key), zap.Error(err))
		}
	}
	return nil
}

// historyKeys lists bucket's history keys, oldest first.
func (s *Store) historyKeys(ctx context.Context, bucket string) ([]string, error) {
	dir := s.historyDir + "/" + bucket
	keys, err := s.storage.List(ctx, dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kept := keys[:0]
	for _, key := range keys {
		// Skip what is not a version: temporary files of atomic writers.
		if name, ok := strings.CutPrefix(key, dir+"/"); ok && strings.HasSuffix(name, ".json") && !strings.Contains(name, "/") {
			kept = append(kept, key)
		}
	}
	slices.Sort(kept)
	return kept, nil
}

// storedVersionOf is one version read back: from the history, or the
// current record.
type storedVersionOf struct {
	rec     Record
	deleted bool
	current bool
}

// versions reads bucket's current record and history, newest first. A
// history version that repeats the current one (a write that failed after
// keeping it) is left out, and unreadable keys are skipped.
func (s *Store) versions(ctx context.Context, bucket string) ([]storedVersionOf, error) {
	if !s3.ValidBucketName(bucket) {
		return nil, invalidBucket(bucket)
	}
	var out []storedVersionOf
	data, err := s.storage.Load(ctx, s.recordKey(bucket))
	switch {
	case err == nil:
		if rec, err := decodeRecord(bucket, data); err == nil {
			out = append(out, storedVersionOf{rec: rec, current: true})
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading CORS configuration of bucket %q: %w", bucket, err)
	}
	keys, err := s.historyKeys(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("listing the history of bucket %q: %w", bucket, err)
	}
	for _, key := range slices.Backward(keys) {
		data, err := s.storage.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // trimmed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading the history of bucket %q: %w", bucket, err)
		}
		var sv storedVersion
		if err := json.Unmarshal(data, &sv); err != nil || sv.Format != recordFormat || sv.Bucket != bucket {
			s.logger().Debug("skipping an unreadable history version", zap.String("key", key))
			continue
		}
		if len(out) > 0 && out[0].current && sv.Version == out[0].rec.Version && !sv.Deleted {
			continue
		}
		out = append(out, storedVersionOf{rec: sv.Record, deleted: sv.Deleted})
	}
	return out, nil
}

// History lists bucket's configuration versions, newest first: the one in
// force (Current), if any, then the earlier ones the store keeps, up to
// HistorySize, deletions included. It reads them from storage, so it shows
// the changes of every instance.
func (s *Store) History(ctx context.Context, bucket string) ([]Version, error) {
	vs, err := s.versions(ctx, bucket)
	if err != nil {
		return nil, err
	}
	list := make([]Version, 0, len(vs))
	for _, v := range vs {
		item := Version{Version: v.rec.Version, UpdatedAt: v.rec.UpdatedAt, UpdatedBy: v.rec.UpdatedBy, Deleted: v.deleted, Current: v.current}
		if !v.deleted {
			if cfg, err := cors.ParseStored([]byte(v.rec.Document)); err == nil {
				item.Rules = len(cfg.Rules)
			}
		}
		list = append(list, item)
	}
	return list, nil
}

// GetVersion returns one version of bucket's configuration, current or
// earlier, with its document.
func (s *Store) GetVersion(ctx context.Context, bucket, version string) (Record, error) {
	vs, err := s.versions(ctx, bucket)
	if err != nil {
		return Record{}, err
	}
	for _, v := range vs {
		if v.rec.Version != version {
			continue
		}
		if v.deleted {
			return Record{}, fmt.Errorf("version %s of bucket %q is the deletion of its configuration: %w", version, bucket, ErrNoSuchVersion)
		}
		return v.rec, nil
	}
	return Record{}, fmt.Errorf("bucket %q, version %s: %w", bucket, version, ErrNoSuchVersion)
}

// Rollback restores an earlier version of bucket's configuration, by a Put
// of its document: the version it replaces goes into the history, and the
// restored one is a new version. With version "" it restores the previous
// configuration: the newest earlier version that is not a deletion and
// differs from the one in force. It returns the new record and the version
// it restored. by is as for Put.
func (s *Store) Rollback(ctx context.Context, bucket, version, by string) (Record, Version, error) {
	vs, err := s.versions(ctx, bucket)
	if err != nil {
		return Record{}, Version{}, err
	}
	var current string
	if len(vs) > 0 && vs[0].current {
		current = vs[0].rec.Version
	}
	var target *storedVersionOf
	for i, v := range vs {
		if version == "" && !v.current && !v.deleted && v.rec.Version != current {
			target = &vs[i]
			break
		}
		if version != "" && v.rec.Version == version {
			if v.deleted {
				return Record{}, Version{}, fmt.Errorf("version %s of bucket %q is the deletion of its configuration; delete it instead: %w", version, bucket, ErrNoSuchVersion)
			}
			target = &vs[i]
			break
		}
	}
	if target == nil {
		if version == "" {
			return Record{}, Version{}, fmt.Errorf("bucket %q has no earlier configuration to roll back to: %w", bucket, ErrNoSuchVersion)
		}
		return Record{}, Version{}, fmt.Errorf("bucket %q, version %s: %w", bucket, version, ErrNoSuchVersion)
	}
	cfg, err := cors.ParseStored([]byte(target.rec.Document))
	if err != nil {
		return Record{}, Version{}, fmt.Errorf("version %s of bucket %q is not a valid configuration: %w", target.rec.Version, bucket, err)
	}
	rec, err := s.Put(ctx, bucket, cfg, by)
	if err != nil {
		return Record{}, Version{}, err
	}
	s.logger().Info("CORS configuration rolled back",
		zap.String("bucket", bucket), zap.String("to", target.rec.Version), zap.String("version", rec.Version), zap.String("by", by))
	restored := Version{Version: target.rec.Version, UpdatedAt: target.rec.UpdatedAt, UpdatedBy: target.rec.UpdatedBy, Rules: len(cfg.Rules)}
	return rec, restored, nil
}

// replaceRecord stores data as bucket's record, first keeping the record it
// replaces in the history. On a ConditionalStorage the write is conditional
// on the record read for the history, and retried when another writer got
// in between, so that every replaced version is kept; elsewhere two
// concurrent writers may each keep the same one.
func (s *Store) replaceRecord(ctx context.Context, bucket string, data []byte) error {
	key := s.recordKey(bucket)
	if cs := s.conditional(); cs != nil {
		for range casAttempts {
			prev, version, err := cs.LoadVersion(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				prev, version, err = nil, "", nil
			}
			if err != nil {
				return fmt.Errorf("reading the CORS configuration bucket %q has: %w", bucket, err)
			}
			if prev != nil {
				if err := s.keepInHistory(ctx, bucket, prev); err != nil {
					return err
				}
			}
			_, err = cs.StoreIf(ctx, key, data, version)
			if !errors.Is(err, ErrConditionFailed) {
				return err
			}
		}
		return fmt.Errorf("CORS configuration of bucket %q kept being replaced by other writers", bucket)
	}
	prev, err := s.storage.Load(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the CORS configuration bucket %q has: %w", bucket, err)
	}
	if err == nil {
		if err := s.keepInHistory(ctx, bucket, prev); err != nil {
			return err
		}
	}
	return s.storage.Store(ctx, key, data)
}

// deleteRecord deletes bucket's record, first keeping it in the history
// with the deletion. It reports whether there was a record.
func (s *Store) deleteRecord(ctx context.Context, bucket, by string) (bool, error) {
	key := s.recordKey(bucket)
	prev, err := s.storage.Load(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading the CORS configuration bucket %q has: %w", bucket, err)
	}
	existed := err == nil
	if existed {
		if err := s.keepInHistory(ctx, bucket, prev); err != nil {
			return false, err
		}
		deletion := Record{Bucket: bucket, Version: newID(), UpdatedAt: s.now().UTC(), UpdatedBy: by}
		if err := s.addVersion(ctx, deletion, true); err != nil {
			return false, err
		}
	}
	if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return existed, nil
}
