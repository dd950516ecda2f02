package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"go.uber.org/zap"
)

// markerWriteAttempts bounds how often a writer re-appends its changes when
// it finds that a concurrent writer replaced the marker without them.
const markerWriteAttempts = 3

// casAttempts bounds how often a compare-and-swap of the marker is retried
// after another writer changed it in between.
const casAttempts = 20

// markerUpdateTimeout bounds a whole marker update, which runs on even if
// the request that caused it is gone: the record is already stored and the
// other instances should hear of it.
const markerUpdateTimeout = 30 * time.Second

// publication is one caller's changes waiting for a marker update.
type publication struct {
	changes []change
	done    bool // guarded by Store.markerMu
	err     error
}

// publish appends changes to the marker so other instances reload what
// they name. Concurrent callers are served by one marker update: the first
// to take markerMu writes every change queued by then, so a burst of writes
// costs one marker update per round, not one per write, and no caller
// queues behind more than one update in progress. Changes whose update
// failed are kept and go with the next one, which Sync also attempts, so a
// storage that fails for a while delays announcements but loses none.
func (s *Store) publish(ctx context.Context, changes ...change) error {
	for i := range changes {
		changes[i].Writer = s.id
	}
	p := &publication{changes: changes}
	s.pendingMu.Lock()
	s.pending = append(s.pending, p)
	s.pendingMu.Unlock()

	s.markerMu.Lock()
	defer s.markerMu.Unlock()
	if p.done {
		return p.err
	}
	s.pendingMu.Lock()
	batch := s.pending
	s.pending = nil
	all := s.unannounced
	s.unannounced = nil
	s.pendingMu.Unlock()
	for _, q := range batch {
		all = append(all, q.changes...)
	}
	if len(all) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markerUpdateTimeout)
	defer cancel()
	err := s.updateMarker(ctx, all)
	if err != nil {
		s.pendingMu.Lock()
		s.unannounced = append(all, s.unannounced...)
		if over := len(s.unannounced) - s.opts.JournalSize; over > 0 {
			// Other instances would have to reconcile in full anyway.
			s.unannounced = s.unannounced[over:]
		}
		s.pendingMu.Unlock()
	}
	for _, q := range batch {
		q.done, q.err = true, err
	}
	return p.err
}

// announcePending retries the marker update of changes whose announcement
// failed, if there are any.
func (s *Store) announcePending(ctx context.Context) {
	s.pendingMu.Lock()
	n := len(s.unannounced)
	s.pendingMu.Unlock()
	if n == 0 {
		return
	}
	if err := s.publish(ctx); err != nil {
		s.logger().Warn("announcing earlier CORS configuration changes to other instances", zap.Int("changes", n), zap.Error(err))
		return
	}
	s.logger().Info("announced earlier CORS configuration changes to other instances", zap.Int("changes", n))
}

// updateMarker appends changes to the marker. On a storage with
// conditional writes it is a compare-and-swap, retried when another writer
// got there first, and no lock is taken. On any other storage it is a
// read-modify-write under a storage lock that it tries for at most
// LockTimeout, checked by reading the marker back.
func (s *Store) updateMarker(ctx context.Context, changes []change) error {
	for i := range changes {
		if c := &changes[i]; c.buckets != nil {
			if err := s.writeBatch(ctx, c.Batch, c.buckets); err != nil {
				return err
			}
			c.buckets = nil
		}
	}
	drawTokens(changes)
	if cs := s.conditional(); cs != nil {
		return s.swapMarker(ctx, cs, changes)
	}
	if unlock := s.lockMarker(ctx); unlock != nil {
		defer unlock()
	}
	for range markerWriteAttempts {
		m, err := s.readMarker(ctx)
		if err != nil {
			return err
		}
		next, roll := m.appended(changes, s.opts.JournalSize)
		var written []byte
		if err := s.writeMarker(ctx, next, roll, func(data []byte) error {
			written = data
			return s.storage.Store(ctx, s.markerKey, data)
		}); err != nil {
			return err
		}
		data, err := s.storage.Load(ctx, s.markerKey)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading change marker %s back: %w", s.markerKey, err)
		}
		// What was written is still there: the common case needs no parsing.
		if bytes.Equal(data, written) {
			s.prune(ctx, roll)
			return nil
		}
		check := parseMarkerData(data)
		if check.hasAll(changes) {
			s.prune(ctx, roll)
			return nil
		}
		s.forgetSegment(ctx, check, roll)
		// A concurrent writer replaced the marker without these changes:
		// append them again, with fresh tokens so that an instance that saw
		// them under the old ones can tell the difference.
		drawTokens(changes)
	}
	return fmt.Errorf("change marker %s kept being replaced by concurrent writers; other instances will see the changes at their next full reconciliation", s.markerKey)
}

func drawTokens(changes []change) {
	for i := range changes {
		changes[i].Token = newID()
	}
}

// swapMarker appends changes to the marker by compare-and-swap.
func (s *Store) swapMarker(ctx context.Context, cs ConditionalStorage, changes []change) error {
	for range casAttempts {
		data, version, err := cs.LoadVersion(ctx, s.markerKey)
		if errors.Is(err, fs.ErrNotExist) {
			data, version, err = nil, "", nil
		}
		if err != nil {
			return fmt.Errorf("reading change marker %s: %w", s.markerKey, err)
		}
		m := parseMarkerData(data)
		next, roll := m.appended(changes, s.opts.JournalSize)
		err = s.writeMarker(ctx, next, roll, func(data []byte) error {
			_, err := cs.StoreIf(ctx, s.markerKey, data, version)
			return err
		})
		if err == nil {
			s.prune(ctx, roll)
			return nil
		}
		if !errors.Is(err, ErrConditionFailed) {
			return err
		}
		s.forgetSegment(ctx, marker{}, roll)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("change marker %s: %d compare-and-swap attempts in a row lost to other writers", s.markerKey, casAttempts)
}

// writeMarker stores the segment a rollover adds, then the marker itself
// with store.
func (s *Store) writeMarker(ctx context.Context, next marker, roll rollover, store func([]byte) error) error {
	if roll.added != nil {
		data, err := json.Marshal(storedJournal{Format: journalFormat, Journal: roll.entries})
		if err != nil {
			return err
		}
		if err := s.storage.Store(ctx, s.segmentKey(*roll.added), data); err != nil {
			return fmt.Errorf("writing change journal segment: %w", err)
		}
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := store(data); err != nil {
		return fmt.Errorf("writing change marker %s: %w", s.markerKey, err)
	}
	return nil
}

// forgetSegment deletes the segment a failed marker update stored, unless
// the marker now in storage (cur) names it after all.
func (s *Store) forgetSegment(ctx context.Context, cur marker, roll rollover) {
	if roll.added == nil || slices.Contains(cur.Segments, *roll.added) {
		return
	}
	s.deleteKey(ctx, s.segmentKey(*roll.added))
}

// prune deletes, after a marker update, the segments and batch keys the
// journal no longer reaches. It is a best effort: what it leaves is never
// read again.
func (s *Store) prune(ctx context.Context, roll rollover) {
	for _, id := range roll.droppedBatches {
		s.deleteKey(ctx, s.batchKey(id))
	}
	for _, g := range roll.dropped {
		key := s.segmentKey(g)
		if data, err := s.storage.Load(ctx, key); err == nil {
			if j, err := parseJournal(data, g); err == nil {
				for _, c := range j {
					if c.Batch != "" {
						s.deleteKey(ctx, s.batchKey(c.Batch))
					}
				}
			}
		}
		s.deleteKey(ctx, key)
	}
}

func (s *Store) deleteKey(ctx context.Context, key string) {
	if err := s.storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger().Debug("deleting a key the change journal no longer needs", zap.String("key", key), zap.Error(err))
	}
}

// conditional returns the storage as a ConditionalStorage when it enforces
// conditional writes, nil otherwise.
func (s *Store) conditional() ConditionalStorage {
	if cs, ok := s.storage.(ConditionalStorage); ok && cs.Conditional() {
		return cs
	}
	return nil
}

// lockPoll is how long one attempt at the marker lock may wait: storages
// such as the file system poll for a held lock far less often (once a
// second), so the store retries on its own, briefly, to take the lock as
// soon as a live holder lets go of it.
const lockPoll = 20 * time.Millisecond

// lockGrace is how long an attempt may overrun its context before the store
// stops waiting for it, for a storage whose Lock ignores its context.
const lockGrace = 50 * time.Millisecond

// lockMarker takes the storage lock around a marker update, trying for at
// most LockTimeout, and returns the function that releases it, or nil when
// the lock was not obtained in time. Going ahead without it is safe: the
// read-back in updateMarker and the periodic full reconciliation keep
// instances converging. So a lock left behind by a crashed instance delays
// a write by LockTimeout at most, and a storage whose Lock ignores its
// context by lockGrace more.
func (s *Store) lockMarker(ctx context.Context) (unlock func()) {
	release := func() {
		if err := s.storage.Unlock(context.WithoutCancel(ctx), s.lockName); err != nil {
			s.logger().Warn("releasing change-marker lock", zap.String("lock", s.lockName), zap.Error(err))
		}
	}
	deadline := time.Now().Add(s.opts.LockTimeout)
	var lastErr error
	for {
		wait := min(lockPoll, time.Until(deadline))
		if wait <= 0 {
			break
		}
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, wait)
		got := make(chan error, 1)
		go func() { got <- s.storage.Lock(lctx, s.lockName) }()
		overrun := time.NewTimer(wait + lockGrace)
		select {
		case err := <-got:
			overrun.Stop()
			early := lctx.Err() == nil
			cancel()
			if err == nil {
				return release
			}
			lastErr = err
			if ctx.Err() != nil {
				return nil
			}
			if early {
				// A Lock that fails at once (it is not supported, say)
				// must not make this loop spin.
				time.Sleep(wait - time.Since(start))
			}
		case <-overrun.C:
			cancel()
			// Lock ignores its context. It may still succeed later; the
			// lock is then released at once.
			go func() {
				if err := <-got; err == nil {
					release()
				}
			}()
			s.logger().Warn("the storage's Lock does not return when its context ends; updating change marker without lock", zap.String("lock", s.lockName))
			return nil
		}
	}
	s.logger().Debug("updating change marker without lock", zap.String("lock", s.lockName),
		zap.Duration("tried_for", s.opts.LockTimeout), zap.NamedError("last_error", lastErr))
	return nil
}
