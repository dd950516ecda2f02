package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// marker is the one small key every instance polls. Seq counts changes;
// Journal holds the most recent ones, oldest first and contiguous, the last
// one numbered Seq.
type marker struct {
	Format  int      `json:"format"`
	Seq     uint64   `json:"seq"`
	Journal []change `json:"journal"`

	// token identifies this state of the marker: the token of its newest
	// entry, "" when there is no marker, or a digest of unreadable
	// content (so an unchanged broken marker reads as unchanged).
	token string
	// invalid is why the stored marker could not be read, if it could not.
	invalid error
}

// change is one journal entry. Token is drawn afresh for every marker
// write, so an entry that was overwritten by a concurrent writer can be
// told apart from the one an instance saw before.
type change struct {
	Seq     uint64 `json:"seq"`
	Token   string `json:"token"`
	Bucket  string `json:"bucket"`
	Deleted bool   `json:"deleted,omitempty"`
	By      string `json:"by,omitempty"`
}

const markerFormat = 1

// markerWriteAttempts bounds how often a writer re-appends its change when
// it finds that a concurrent writer replaced the marker without it.
const markerWriteAttempts = 3

// markerUpdateTimeout bounds a whole marker update, which runs on even if
// the request that caused it is gone: the record is already stored and the
// other instances should hear of it.
const markerUpdateTimeout = 30 * time.Second

func parseMarker(data []byte) (marker, error) {
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return marker{}, err
	}
	if m.Format != markerFormat {
		return marker{}, fmt.Errorf("marker format %d is not readable by this version (it reads format %d)", m.Format, markerFormat)
	}
	if m.Seq == 0 || len(m.Journal) == 0 {
		return marker{}, errors.New("marker has no journal")
	}
	first := m.Seq - uint64(len(m.Journal)) + 1
	if first == 0 || first > m.Seq {
		return marker{}, errors.New("marker journal is longer than its sequence")
	}
	for i, c := range m.Journal {
		if c.Seq != first+uint64(i) || c.Token == "" || !s3.ValidBucketName(c.Bucket) {
			return marker{}, fmt.Errorf("marker journal entry %d is malformed", i)
		}
	}
	m.token = m.Journal[len(m.Journal)-1].Token
	return m, nil
}

// readMarker loads the marker. A missing marker reads as sequence 0; an
// unreadable one also reads as sequence 0, with a token derived from its
// content and the reason in invalid. Only storage failures are errors.
func (s *Store) readMarker(ctx context.Context) (marker, error) {
	data, err := s.storage.Load(ctx, s.markerKey)
	if errors.Is(err, fs.ErrNotExist) {
		return marker{}, nil
	}
	if err != nil {
		return marker{}, fmt.Errorf("reading change marker %s: %w", s.markerKey, err)
	}
	return s.parseMarkerData(data), nil
}

// parseMarkerData reads stored marker content as readMarker describes;
// nil data is a missing marker.
func (s *Store) parseMarkerData(data []byte) marker {
	if data == nil {
		return marker{}
	}
	m, err := parseMarker(data)
	if err != nil {
		sum := sha256.Sum256(data)
		return marker{token: "unreadable-" + hex.EncodeToString(sum[:8]), invalid: err}
	}
	return m
}

// since returns the changes after the marker state (seq, token) an instance
// saw last, and false when the journal cannot tell: it no longer reaches
// back that far, or the entry seen then has since been overwritten, or the
// marker was reset or is unreadable.
func (m marker) since(seq uint64, token string) ([]change, bool) {
	if m.invalid != nil || m.Seq <= seq || len(m.Journal) == 0 {
		return nil, false
	}
	first := m.Journal[0].Seq
	if seq == 0 {
		// The instance saw no readable marker; everything since is in
		// the journal if the journal starts at the beginning.
		return m.Journal, first == 1
	}
	if seq < first {
		return nil, false
	}
	if m.Journal[seq-first].Token != token {
		return nil, false
	}
	return m.Journal[seq-first+1:], true
}

func (m marker) has(c change) bool {
	if len(m.Journal) == 0 || c.Seq < m.Journal[0].Seq || c.Seq > m.Seq {
		return false
	}
	return m.Journal[c.Seq-m.Journal[0].Seq].Token == c.Token
}

// hasAll reports whether the marker holds every one of changes under its
// token, at any position.
func (m marker) hasAll(changes []change) bool {
	tokens := make(map[string]bool, len(m.Journal))
	for _, c := range m.Journal {
		tokens[c.Token] = true
	}
	for _, c := range changes {
		if !tokens[c.Token] {
			return false
		}
	}
	return true
}

// appended returns the marker with changes added as its next entries,
// keeping at most size entries (at least the new ones).
func (m marker) appended(changes []change, size int) marker {
	size = max(size, len(changes))
	journal := make([]change, 0, min(len(m.Journal)+len(changes), size))
	if keep := size - len(changes); len(m.Journal) > keep {
		journal = append(journal, m.Journal[len(m.Journal)-keep:]...)
	} else {
		journal = append(journal, m.Journal...)
	}
	seq := m.Seq
	for _, c := range changes {
		seq++
		c.Seq = seq
		journal = append(journal, c)
	}
	return marker{Format: markerFormat, Seq: seq, Journal: journal, token: journal[len(journal)-1].Token}
}

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
// queues behind more than one update in progress.
func (s *Store) publish(ctx context.Context, changes ...change) error {
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
	s.pendingMu.Unlock()
	var all []change
	for _, q := range batch {
		all = append(all, q.changes...)
	}
	for i := range all {
		all[i].Token = newID()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markerUpdateTimeout)
	defer cancel()
	err := s.updateMarker(ctx, all)
	for _, q := range batch {
		q.done, q.err = true, err
	}
	return p.err
}

// updateMarker appends changes to the marker. On a storage with
// conditional writes it is a compare-and-swap, retried when another writer
// got there first, and no lock is taken. On any other storage it is a
// read-modify-write under a storage lock that it waits for at most
// LockTimeout, checked by reading the marker back.
func (s *Store) updateMarker(ctx context.Context, changes []change) error {
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
		next := m.appended(changes, s.opts.JournalSize)
		data, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if err := s.storage.Store(ctx, s.markerKey, data); err != nil {
			return fmt.Errorf("writing change marker %s: %w", s.markerKey, err)
		}
		check, err := s.readMarker(ctx)
		if err != nil {
			return err
		}
		if check.hasAll(changes) {
			return nil
		}
		// A concurrent writer replaced the marker without these changes:
		// append them again, with fresh tokens so that an instance that saw
		// them under the old ones can tell the difference.
		for i := range changes {
			changes[i].Token = newID()
		}
	}
	return fmt.Errorf("change marker %s kept being replaced by concurrent writers; other instances will see the changes at their next full reconciliation", s.markerKey)
}

// casAttempts bounds how often a compare-and-swap of the marker is retried
// after another writer changed it in between.
const casAttempts = 20

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
		m := s.parseMarkerData(data)
		next, err := json.Marshal(m.appended(changes, s.opts.JournalSize))
		if err != nil {
			return err
		}
		_, err = cs.StoreIf(ctx, s.markerKey, next, version)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConditionFailed) {
			return fmt.Errorf("writing change marker %s: %w", s.markerKey, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("change marker %s: %d compare-and-swap attempts in a row lost to other writers", s.markerKey, casAttempts)
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
