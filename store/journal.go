package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// journalFormat versions the layout of segment and batch keys.
const journalFormat = 1

// storedJournal is the content of a segment key: the journal entries the
// segment names, in order.
type storedJournal struct {
	Format  int      `json:"format"`
	Journal []change `json:"journal"`
}

// storedBatch is the content of a batch key: the buckets one journal entry
// stands for.
type storedBatch struct {
	Format  int      `json:"format"`
	Buckets []string `json:"buckets"`
}

func (s *Store) segmentKey(g segment) string {
	return s.journalDir + "/" + strconv.FormatUint(g.First, 10) + "-" + g.Token + ".json"
}

func (s *Store) batchKey(id string) string {
	return s.batchesDir + "/" + id + ".json"
}

// parseJournal reads the content of segment g's key.
func parseJournal(data []byte, g segment) ([]change, error) {
	var j storedJournal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	if j.Format != journalFormat {
		return nil, fmt.Errorf("journal segment format %d is not readable by this version", j.Format)
	}
	if uint64(len(j.Journal)) != g.len() {
		return nil, fmt.Errorf("journal segment holds %d entries, want %d", len(j.Journal), g.len())
	}
	if err := checkJournal(j.Journal, g.First); err != nil {
		return nil, err
	}
	return j.Journal, nil
}

// errJournalGone reports a segment or batch the marker names that cannot be
// read: the instance must reconcile in full.
var errJournalGone = errors.New("change journal is incomplete")

// readSegments returns the entries of segments after seq, which the first
// of them holds under token (unless seq is 0).
func (s *Store) readSegments(ctx context.Context, segments []segment, seq uint64, token string) ([]change, error) {
	var changes []change
	for i, g := range segments {
		data, err := s.storage.Load(ctx, s.segmentKey(g))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: segment %s is missing", errJournalGone, s.segmentKey(g))
		}
		if err != nil {
			return nil, fmt.Errorf("reading change journal segment %s: %w", s.segmentKey(g), err)
		}
		j, err := parseJournal(data, g)
		if err != nil {
			return nil, fmt.Errorf("%w: segment %s: %v", errJournalGone, s.segmentKey(g), err)
		}
		if i == 0 && seq != 0 {
			at := seq - g.First
			if j[at].Token != token {
				return nil, fmt.Errorf("%w: the entry seen last was overwritten", errJournalGone)
			}
			j = j[at+1:]
		}
		changes = append(changes, j...)
	}
	return changes, nil
}

// writeBatch stores the list of buckets a batch entry stands for.
func (s *Store) writeBatch(ctx context.Context, id string, buckets []string) error {
	data, err := json.Marshal(storedBatch{Format: journalFormat, Buckets: buckets})
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, s.batchKey(id), data); err != nil {
		return fmt.Errorf("writing change batch %s: %w", s.batchKey(id), err)
	}
	return nil
}

// readBatch returns the buckets of batch entry c.
func (s *Store) readBatch(ctx context.Context, c change) ([]string, error) {
	key := s.batchKey(c.Batch)
	data, err := s.storage.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: batch %s is missing", errJournalGone, key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading change batch %s: %w", key, err)
	}
	var b storedBatch
	if err := json.Unmarshal(data, &b); err != nil || b.Format != journalFormat || len(b.Buckets) != c.Count {
		return nil, fmt.Errorf("%w: batch %s is unreadable", errJournalGone, key)
	}
	for _, name := range b.Buckets {
		if !s3.ValidBucketName(name) {
			return nil, fmt.Errorf("%w: batch %s names an invalid bucket", errJournalGone, key)
		}
	}
	return b.Buckets, nil
}
