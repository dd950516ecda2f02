package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// marker is the one small key every instance polls. Seq counts changes.
// Journal holds the most recent ones, oldest first and contiguous, the last
// one numbered Seq; Segments name the keys holding the changes before them,
// oldest first and contiguous, so that an instance that fell behind reads
// what it missed instead of everything.
type marker struct {
	Format   int       `json:"format"`
	Seq      uint64    `json:"seq"`
	Journal  []change  `json:"journal"`
	Segments []segment `json:"segments,omitempty"`

	// token identifies this state of the marker: the token of its newest
	// entry, "" when there is no marker, or a digest of unreadable
	// content (so an unchanged broken marker reads as unchanged).
	token string
	// invalid is why the stored marker could not be read, if it could not.
	invalid error
}

// change is one journal entry: a change of one bucket's configuration, or
// of its candidate with Candidate, or, with Batch, of the configurations of
// the Count buckets listed in a batch key. Token is drawn afresh for every
// marker write, so an entry that was overwritten by a concurrent writer can
// be told apart from the one an instance saw before. Writer names the
// instance that made the change, which does not need to reload it.
type change struct {
	Seq       uint64 `json:"seq"`
	Token     string `json:"token"`
	Writer    string `json:"writer,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	Candidate bool   `json:"candidate,omitempty"`
	By        string `json:"by,omitempty"`
	Batch     string `json:"batch,omitempty"`
	Count     int    `json:"count,omitempty"`

	// buckets are those of a batch whose key is yet to be written.
	buckets []string
}

// segment names a key holding journal entries First to Last.
type segment struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Token string `json:"token"`
}

func (g segment) len() uint64 { return g.Last - g.First + 1 }

// markerFormat is the layout this version writes; it also reads format 1,
// which had neither segments, writers nor batches.
const markerFormat = 2

// journalInline is the most entries the marker itself holds when the
// journal is longer: the rest are in segments of this many entries, so
// that the key every instance polls stays a few kilobytes.
const journalInline = 64

// maxID bounds the tokens and writer IDs a marker may carry, which become
// parts of key names.
const maxID = 64

// validID accepts what newID draws, and other short lowercase
// alphanumeric tokens, so that a token is always a safe key segment.
func validID(s string) bool {
	if s == "" || len(s) > maxID {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func parseMarker(data []byte) (marker, error) {
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return marker{}, err
	}
	if m.Format != 1 && m.Format != markerFormat {
		return marker{}, fmt.Errorf("marker format %d is not readable by this version (it reads formats 1 and %d)", m.Format, markerFormat)
	}
	if m.Seq == 0 || len(m.Journal) == 0 {
		return marker{}, errors.New("marker has no journal")
	}
	first := m.Seq - uint64(len(m.Journal)) + 1
	if first == 0 || first > m.Seq {
		return marker{}, errors.New("marker journal is longer than its sequence")
	}
	if err := checkJournal(m.Journal, first); err != nil {
		return marker{}, err
	}
	next := first
	for i := len(m.Segments) - 1; i >= 0; i-- {
		g := m.Segments[i]
		if g.Last != next-1 || g.First == 0 || g.First > g.Last || !validID(g.Token) {
			return marker{}, fmt.Errorf("marker segment %d is malformed", i)
		}
		next = g.First
	}
	m.token = m.Journal[len(m.Journal)-1].Token
	return m, nil
}

// checkJournal checks that entries are well formed and numbered from
// first on.
func checkJournal(journal []change, first uint64) error {
	for i, c := range journal {
		ok := c.Seq == first+uint64(i) && validID(c.Token) && (c.Writer == "" || validID(c.Writer))
		if c.Batch == "" {
			ok = ok && s3.ValidBucketName(c.Bucket) && c.Count == 0
		} else {
			ok = ok && c.Bucket == "" && validID(c.Batch) && c.Count > 0
		}
		if !ok {
			return fmt.Errorf("journal entry %d is malformed", i)
		}
	}
	return nil
}

// firstKnown is the oldest sequence the marker can tell about, with its
// segments; 0 when it tells nothing.
func (m marker) firstKnown() uint64 {
	if len(m.Segments) > 0 {
		return m.Segments[0].First
	}
	if len(m.Journal) > 0 {
		return m.Journal[0].Seq
	}
	return 0
}

// catchUp says how an instance that last saw the marker state (seq, token)
// learns what changed since: it reads segments (the first of which holds
// seq, unless seq is 0), then takes inline, the entries of the journal
// after seq. It returns false when the marker cannot tell: it no longer
// reaches back that far, or the entry seen then has since been
// overwritten, or the marker was reset or is unreadable. A seen entry
// inside a segment is checked by readSegments.
func (m marker) catchUp(seq uint64, token string) (segments []segment, inline []change, ok bool) {
	if m.invalid != nil || m.Seq <= seq || len(m.Journal) == 0 {
		return nil, nil, false
	}
	first := m.Journal[0].Seq
	switch {
	case seq == 0:
		// The instance saw no readable marker; everything since is here if
		// the marker reaches back to the beginning.
		return m.Segments, m.Journal, m.firstKnown() == 1
	case seq >= first:
		if m.Journal[seq-first].Token != token {
			return nil, nil, false
		}
		return nil, m.Journal[seq-first+1:], true
	case seq < m.firstKnown():
		return nil, nil, false
	}
	for i, g := range m.Segments {
		if g.First <= seq && seq <= g.Last {
			return m.Segments[i:], m.Journal, true
		}
	}
	return nil, nil, false
}

// hasAll reports whether the journal holds every one of changes under its
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

// rollover is what a marker update must do besides writing the marker:
// store a new segment before it, and afterwards delete the keys of what the
// journal no longer reaches.
type rollover struct {
	added   *segment
	entries []change // of added
	dropped []segment
	// droppedBatches are the batch keys of entries dropped from the
	// journal itself, without going through a segment.
	droppedBatches []string
}

// appended returns the marker with changes added as its next entries,
// remembering at least size of the most recent entries (and always the new
// ones). When size exceeds journalInline, older entries move to segments.
func (m marker) appended(changes []change, size int) (marker, rollover) {
	var roll rollover
	journal := make([]change, 0, len(m.Journal)+len(changes))
	journal = append(journal, m.Journal...)
	seq := m.Seq
	for _, c := range changes {
		seq++
		c.Seq = seq
		journal = append(journal, c)
	}
	segments := m.Segments
	if len(journal) > max(min(size, journalInline), len(changes)) {
		if size > journalInline {
			// The whole previous journal becomes a segment.
			if old := journal[:len(m.Journal)]; len(old) > 0 {
				g := segment{First: old[0].Seq, Last: old[len(old)-1].Seq, Token: newID()}
				roll.added, roll.entries = &g, old
				segments = append(segments[:len(segments):len(segments)], g)
				journal = journal[len(old):]
			}
		} else {
			old := journal[:len(journal)-max(size, len(changes))]
			for _, c := range old {
				if c.Batch != "" {
					roll.droppedBatches = append(roll.droppedBatches, c.Batch)
				}
			}
			journal = journal[len(old):]
		}
	}
	if size <= journalInline {
		roll.dropped, segments = segments, nil
	}
	// Drop the oldest segments the journal does not need to reach size.
	known := uint64(len(journal))
	for _, g := range segments {
		known += g.len()
	}
	for len(segments) > 0 && known-segments[0].len() >= uint64(size) {
		known -= segments[0].len()
		roll.dropped = append(roll.dropped, segments[0])
		segments = segments[1:]
	}
	if len(segments) == 0 {
		segments = nil
	}
	next := marker{Format: markerFormat, Seq: seq, Journal: journal, Segments: segments, token: journal[len(journal)-1].Token}
	return next, roll
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
	return parseMarkerData(data), nil
}

// parseMarkerData reads stored marker content as readMarker describes;
// nil data is a missing marker.
func parseMarkerData(data []byte) marker {
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
