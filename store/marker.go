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
	m, err := parseMarker(data)
	if err != nil {
		sum := sha256.Sum256(data)
		return marker{token: "unreadable-" + hex.EncodeToString(sum[:8]), invalid: err}, nil
	}
	return m, nil
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

// appended returns the marker with c added as its next entry, keeping at
// most size entries.
func (m marker) appended(c change, size int) marker {
	c.Seq = m.Seq + 1
	journal := make([]change, 0, min(len(m.Journal)+1, size))
	if keep := size - 1; len(m.Journal) > keep {
		journal = append(journal, m.Journal[len(m.Journal)-keep:]...)
	} else {
		journal = append(journal, m.Journal...)
	}
	journal = append(journal, c)
	return marker{Format: markerFormat, Seq: c.Seq, Journal: journal, token: c.Token}
}

// publish appends a change of bucket to the marker so other instances
// reload it. Locking is a best effort; after writing, the marker is read
// back and the change appended again if a concurrent writer replaced it.
func (s *Store) publish(ctx context.Context, bucket string, deleted bool, by string) error {
	s.markerMu.Lock()
	defer s.markerMu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markerUpdateTimeout)
	defer cancel()
	if s.lockMarker(ctx) {
		defer func() {
			if err := s.storage.Unlock(ctx, s.lockName); err != nil {
				s.logger().Warn("releasing change-marker lock", zap.String("lock", s.lockName), zap.Error(err))
			}
		}()
	}

	for range markerWriteAttempts {
		m, err := s.readMarker(ctx)
		if err != nil {
			return err
		}
		next := m.appended(change{Token: newID(), Bucket: bucket, Deleted: deleted, By: by}, s.opts.JournalSize)
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
		if check.has(next.Journal[len(next.Journal)-1]) {
			return nil
		}
	}
	return fmt.Errorf("change marker %s kept being replaced by concurrent writers; other instances will see the change of bucket %q at their next full reconciliation", s.markerKey, bucket)
}

// lockMarker takes the storage lock around a marker update, waiting at most
// LockTimeout. Failing to get it is not fatal: the read-back in publish and
// the periodic full reconciliation keep instances converging.
func (s *Store) lockMarker(ctx context.Context) bool {
	lctx, cancel := context.WithTimeout(ctx, s.opts.LockTimeout)
	defer cancel()
	if err := s.storage.Lock(lctx, s.lockName); err != nil {
		s.logger().Debug("updating change marker without lock", zap.String("lock", s.lockName), zap.Error(err))
		return false
	}
	return true
}
