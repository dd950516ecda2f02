package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// maxChangeLogs caps the info lines one sync writes; the rest are counted
// in a summary line.
const maxChangeLogs = 100

// errorLogInterval spaces out repeated warnings about the same sync failure.
const errorLogInterval = time.Minute

// Load lists and reads every stored configuration and makes the snapshot
// match storage: a full reconciliation. Call it once before serving; it is
// safe to call again at any time. Records that cannot be used are logged and
// skipped, keeping the last good configuration of their bucket if there is
// one. On error the previous snapshot stays in place.
func (s *Store) Load(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.beginSync()
	m, err := s.readMarker(ctx)
	if err == nil {
		err = s.fullSync(ctx, m)
	}
	return s.finishSync(err, true)
}

// Sync polls the change marker and reloads the buckets changed since the
// last sync by other instances, or everything when the marker cannot tell
// what changed, when no full load has succeeded yet, or when the last full
// reconciliation is older than Options.FullSyncInterval. When nothing
// changed it costs one small read; otherwise, reads in proportion to the
// changes. On error the previous snapshot stays in place and the next call
// retries. Sync first retries announcing this instance's own changes whose
// marker update failed.
func (s *Store) Sync(ctx context.Context) error {
	s.announcePending(ctx)
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.beginSync()
	full := !s.loaded || s.fullSyncDue()
	m, err := s.readMarker(ctx)
	if err != nil {
		return s.finishSync(err, full)
	}
	if full {
		return s.finishSync(s.fullSync(ctx, m), true)
	}
	if m.Seq == s.seenSeq && m.token == s.seenToken {
		return s.finishSync(nil, false)
	}
	changes, err := s.changesSince(ctx, m)
	if errors.Is(err, errJournalGone) {
		if m.invalid != nil {
			s.logger().Warn("change marker is unreadable; reloading every configuration",
				zap.String("key", s.markerKey), zap.Error(m.invalid))
		} else {
			s.logger().Debug("change journal does not cover the changes since the last sync; reloading every configuration",
				zap.Uint64("seen_seq", s.seenSeq), zap.Uint64("marker_seq", m.Seq), zap.Error(err))
		}
		return s.finishSync(s.fullSync(ctx, m), true)
	}
	if err != nil {
		return s.finishSync(err, false)
	}
	return s.finishSync(s.incrementalSync(ctx, m, changes), false)
}

// fullSyncDue reports whether the periodic full reconciliation is due.
func (s *Store) fullSyncDue() bool {
	every := s.opts.FullSyncInterval
	if every == 0 {
		every = DefaultFullSyncInterval
		if s.conditional() != nil {
			return false
		}
	}
	return every > 0 && s.now().Sub(s.lastFull) >= every
}

// changesSince returns the changes other instances made since the marker
// state this instance saw last, reading the journal segments and batches
// that hold them. errJournalGone means the journal cannot tell.
func (s *Store) changesSince(ctx context.Context, m marker) ([]change, error) {
	segments, inline, ok := m.catchUp(s.seenSeq, s.seenToken)
	if !ok {
		return nil, errJournalGone
	}
	journal, err := s.readSegments(ctx, segments, s.seenSeq, s.seenToken)
	if err != nil {
		return nil, err
	}
	journal = append(journal, inline...)
	changes := make([]change, 0, len(journal))
	for _, c := range journal {
		if c.Writer == s.id {
			continue // this instance's own change, already in its snapshot
		}
		if c.Batch == "" {
			changes = append(changes, c)
			continue
		}
		buckets, err := s.readBatch(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, b := range buckets {
			changes = append(changes, change{Bucket: b, By: c.By})
		}
	}
	return changes, nil
}

// beginSync starts tracking local writes, whose effect a load made by this
// sync must not undo.
func (s *Store) beginSync() {
	s.mu.Lock()
	clear(s.dirty)
	s.mu.Unlock()
}

func (s *Store) incrementalSync(ctx context.Context, m marker, changes []change) error {
	// The newest entry of each key decides who is named in the log.
	by := make(map[dirtyKey]string, len(changes))
	keys := make([]dirtyKey, 0, len(changes))
	for _, c := range changes {
		k := dirtyKey{bucket: c.Bucket, candidate: c.Candidate}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = c.By
	}
	results, err := s.loadKeys(ctx, keys)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.state == skipped {
			s.warnSkipped(s.keyOf(r.key), r.reason, nil)
		}
	}
	s.apply(results, nil, by)
	s.seenSeq, s.seenToken = m.Seq, m.token
	return nil
}

// fullSync makes the snapshot match storage. m must have been read before
// the listing, so that a change missed by the listing has a later marker
// sequence and is picked up by the next Sync.
func (s *Store) fullSync(ctx context.Context, m marker) error {
	warned := make(map[string]string)
	var keys []dirtyKey
	for _, candidate := range []bool{false, true} {
		dir := s.bucketsDir
		if candidate {
			dir = s.candidatesDir
		}
		listed, err := s.storage.List(ctx, dir, false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("listing stored CORS configurations under %s: %w", dir, err)
		}
		for _, key := range listed {
			bucket, ok, foreign := bucketOfKey(dir, key)
			if ok {
				keys = append(keys, dirtyKey{bucket: bucket, candidate: candidate})
				continue
			}
			if foreign {
				s.warnSkipped(key, "not a CORS configuration record of this store (expected <bucket>.json)", warned)
			}
		}
	}
	results, err := s.loadKeys(ctx, keys)
	if err != nil {
		return err
	}
	listed := make(map[dirtyKey]struct{}, len(results))
	for _, r := range results {
		listed[r.key] = struct{}{}
		if r.state == skipped {
			s.warnSkipped(s.keyOf(r.key), r.reason, warned)
		}
	}
	first := !s.loaded
	s.apply(results, listed, nil)
	s.warned = warned
	s.seenSeq, s.seenToken = m.Seq, m.token
	s.loaded = true
	s.lastFull = s.now()
	s.statsMu.Lock()
	s.stats.SkippedKeys = len(warned)
	s.statsMu.Unlock()
	if first {
		st := s.Stats()
		s.logger().Info("loaded CORS configurations",
			zap.Int("buckets", st.Buckets),
			zap.Int("candidates", st.Candidates),
			zap.Int("policies", st.Policies),
			zap.Int("skipped", len(warned)))
	}
	return nil
}

// warnSkipped logs a key that cannot be used. During a full sync (warned
// not nil) a key that was already reported with the same reason by the
// previous full sync is not reported again.
func (s *Store) warnSkipped(key, reason string, warned map[string]string) {
	if warned != nil {
		warned[key] = reason
		if s.warned[key] == reason {
			return
		}
	}
	s.logger().Warn("skipping unusable key in CORS configuration storage; the bucket keeps its last good configuration, if any",
		zap.String("key", key), zap.String("reason", reason))
}

// finishSync records the outcome of a Load or Sync in Stats and logs
// failures, repeating an unchanged failure at most once per
// errorLogInterval.
func (s *Store) finishSync(err error, full bool) error {
	now := s.now()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := &s.stats
	st.Syncs++
	if full {
		st.FullSyncs++
	}
	if err != nil {
		st.SyncErrors++
		st.ConsecutiveErrors++
		if st.LastError == nil || err.Error() != st.LastError.Error() || now.Sub(s.lastWarn) >= errorLogInterval {
			s.lastWarn = now
			s.logger().Warn("syncing CORS configurations from storage failed; serving the last good configurations and retrying at the next poll",
				zap.Error(err), zap.Int("consecutive_errors", st.ConsecutiveErrors))
		}
		st.LastError = err
		st.LastErrorTime = now
		return err
	}
	if st.ConsecutiveErrors > 0 {
		s.logger().Info("syncing CORS configurations from storage works again", zap.Int("failed_attempts", st.ConsecutiveErrors))
	}
	st.ConsecutiveErrors = 0
	st.LastError = nil
	st.Loaded = s.loaded
	st.MarkerSequence = s.seenSeq
	st.LastSync = now
	if full {
		st.LastFullSync = now
	}
	return nil
}

type loadState int

const (
	absent  loadState = iota // no record in storage
	present                  // a usable record
	skipped                  // a record that cannot be used
)

type loadResult struct {
	key   dirtyKey
	state loadState
	// entry is a loaded configuration; candidate a loaded candidate.
	entry     *entry
	candidate *Candidate
	digest    digest // of the canonical document
	reason    string
}

// keyOf is the storage key a configuration or candidate is kept under.
func (s *Store) keyOf(k dirtyKey) string {
	if k.candidate {
		return s.candidateKey(k.bucket)
	}
	return s.recordKey(k.bucket)
}

// loadKeys reads the configurations and candidates keys name, several at
// a time. A storage failure fails the whole load; unusable records are
// results, not errors.
func (s *Store) loadKeys(ctx context.Context, keys []dirtyKey) ([]loadResult, error) {
	results := make([]loadResult, len(keys))
	if len(keys) == 0 {
		return results, nil
	}
	res := &resolver{s: s, seen: make(map[digest]resolved)}
	err := forEach(ctx, len(keys), s.opts.LoadConcurrency, func(ctx context.Context, i int) error {
		r, err := s.loadKey(ctx, keys[i], res)
		results[i] = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s *Store) loadKey(ctx context.Context, k dirtyKey, res *resolver) (loadResult, error) {
	what := "CORS configuration"
	if k.candidate {
		what = "candidate CORS configuration"
	}
	data, err := s.storage.Load(ctx, s.keyOf(k))
	if errors.Is(err, fs.ErrNotExist) {
		return loadResult{key: k, state: absent}, nil
	}
	if err != nil {
		return loadResult{}, fmt.Errorf("loading %s of bucket %q: %w", what, k.bucket, err)
	}
	rec, err := decodeRecord(k.bucket, data)
	if err != nil {
		return loadResult{key: k, state: skipped, reason: err.Error()}, nil
	}
	r := res.resolve(rec.Document)
	if r.err != nil {
		return loadResult{key: k, state: skipped, reason: "document is not a valid CORS configuration: " + r.err.Error()}, nil
	}
	out := loadResult{key: k, state: present, digest: r.digest}
	if k.candidate {
		out.candidate = newCandidate(rec, r.policy)
	} else {
		out.entry = newEntry(rec, r.policy)
	}
	return out, nil
}

// resolver turns stored documents into compiled policies during one sync,
// parsing and compiling each distinct document once, and none that a bucket
// already uses.
type resolver struct {
	s *Store

	mu   sync.Mutex
	seen map[digest]resolved // by digest of the stored text
}

type resolved struct {
	policy *cors.Policy
	digest digest // of the canonical text
	err    error
}

// resolve returns the policy of a stored document and the digest of its
// canonical form, or why it is not a valid configuration.
func (r *resolver) resolve(raw string) resolved {
	rd := digestOf([]byte(raw))
	r.mu.Lock()
	v, ok := r.seen[rd]
	r.mu.Unlock()
	if ok {
		return v
	}
	if p := r.s.cachedPolicy(rd); p != nil {
		// The common case: stored text is canonical, and unchanged.
		v = resolved{policy: p, digest: rd}
	} else if cfg, err := cors.ParseStored([]byte(raw)); err != nil {
		v = resolved{err: err}
	} else {
		// Records written by hand may differ from the canonical form;
		// share the policy of the canonical one, as a Put of the same
		// document would.
		cd := digestOf(cfg.Marshal())
		p := r.s.cachedPolicy(cd)
		if p == nil {
			p = cors.Compile(cfg)
		}
		v = resolved{policy: p, digest: cd}
	}
	r.mu.Lock()
	if prev, ok := r.seen[rd]; ok {
		v = prev
	} else {
		r.seen[rd] = v
	}
	r.mu.Unlock()
	return v
}

type appliedChange struct {
	key     dirtyKey
	rules   int
	version string
	deleted bool
	by      string
}

// apply brings loaded results into the served configurations. With listed
// not nil (a full sync), configurations and candidates missing from it are
// removed. Those written locally since the sync began are left alone: the
// local write is at least as new as what was loaded, and its marker entry
// brings the next sync back to it. Skipped records leave what they stand
// for as it was.
func (s *Store) apply(results []loadResult, listed map[dirtyKey]struct{}, by map[dirtyKey]string) {
	var changed []appliedChange
	s.mu.Lock()
	ed := s.beginEdit()
	for _, r := range results {
		if _, ok := s.dirty[r.key]; ok {
			continue
		}
		old := ed.get(r.key.bucket)
		switch {
		case r.state == absent && !r.key.candidate:
			if old == nil || old.policy == nil {
				continue
			}
			ed.remove(r.key.bucket)
			changed = append(changed, appliedChange{key: r.key, deleted: true, by: by[r.key]})
		case r.state == absent:
			if old == nil || old.candidate() == nil {
				continue
			}
			ed.removeCandidate(r.key.bucket)
			changed = append(changed, appliedChange{key: r.key, deleted: true, by: by[r.key]})
		case r.state == present && !r.key.candidate:
			if old != nil && old.policy != nil && old.sameLive(r.entry) {
				continue
			}
			ed.put(r.entry, r.digest)
			changed = append(changed, appliedChange{key: r.key, rules: r.entry.policy.Len(), version: r.entry.version(), by: r.entry.by.Value()})
		case r.state == present:
			if c := old.candidate(); c != nil && c.same(r.candidate) {
				continue
			}
			ed.putCandidate(r.key.bucket, r.candidate, r.digest)
			changed = append(changed, appliedChange{key: r.key, rules: r.candidate.Policy.Len(), version: r.candidate.Version, by: r.candidate.UpdatedBy})
		}
	}
	if listed != nil {
		var gone []dirtyKey
		ed.each(func(e *entry) bool {
			for _, k := range []dirtyKey{{bucket: e.name}, {bucket: e.name, candidate: true}} {
				if has := (k.candidate && e.candidate() != nil) || (!k.candidate && e.policy != nil); !has {
					continue
				}
				if _, ok := listed[k]; !ok {
					gone = append(gone, k)
				}
			}
			return true
		})
		for _, k := range gone {
			if _, ok := s.dirty[k]; ok {
				continue
			}
			if k.candidate {
				ed.removeCandidate(k.bucket)
			} else {
				ed.remove(k.bucket)
			}
			changed = append(changed, appliedChange{key: k, deleted: true})
		}
	}
	ed.commit()
	s.mu.Unlock()

	if !s.loaded {
		// The first load is summarized by its caller.
		return
	}
	for i, c := range changed {
		if i == maxChangeLogs {
			s.logger().Info("more CORS configuration changes loaded from storage", zap.Int("not_logged", len(changed)-i))
			break
		}
		what := "CORS configuration"
		if c.key.candidate {
			what = "candidate CORS configuration"
		}
		if c.deleted {
			s.logger().Info(what+" deletion loaded from storage",
				zap.String("bucket", c.key.bucket), zap.String("by", c.by))
			continue
		}
		s.logger().Info(what+" change loaded from storage",
			zap.String("bucket", c.key.bucket),
			zap.Int("rules", c.rules),
			zap.String("by", c.by),
			zap.String("version", c.version))
	}
}
