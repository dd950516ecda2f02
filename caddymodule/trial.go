package caddymodule

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// A report-only trial decides every request to a bucket with a candidate
// configuration twice: by the configuration that answers it (the bucket's
// own, or the default that serves it, as resolve finds it) and by the
// candidate, and counts how the candidate's decision would have differed.
// The requests counted are every preflight and every other request with an
// Origin; requests without one get no CORS headers either way. The counts
// are this instance's; trialreport.go stores them next to the candidate
// and adds up every instance's.

// trialChange is how the candidate's decision of a request compares with
// the one the request got, as a browser would see it.
type trialChange uint8

const (
	// changeNone: both refuse, or both allow with the same CORS headers
	// (another rule may have matched).
	changeNone trialChange = iota
	// changeNewlyRefuse: a rule of the live configuration matched, none of
	// the candidate's would.
	changeNewlyRefuse
	// changeNewlyAllow: no live rule matched, a rule of the candidate would.
	changeNewlyAllow
	// changeHeaders: both allow, but the candidate's rule would write other
	// headers (Access-Control-Allow-Methods, -Expose-Headers, -Max-Age, or
	// "*" for the echoed origin), which a browser may act on.
	changeHeaders
	trialChanges
)

var trialChangeNames = [trialChanges]string{
	changeNone:        "agreement",
	changeNewlyRefuse: "would_newly_refuse",
	changeNewlyAllow:  "would_newly_allow",
	changeHeaders:     "would_change_headers",
}

func (c trialChange) String() string {
	if c < trialChanges {
		return trialChangeNames[c]
	}
	return "unknown"
}

// compareDecisions says how cand, the candidate's decision of a request,
// differs from live, the decision the request got. "Allowed" is a rule
// matched: the response gets CORS headers.
func compareDecisions(live, cand cors.Decision) trialChange {
	switch la, ca := live.Allowed(), cand.Allowed(); {
	case la && !ca:
		return changeNewlyRefuse
	case !la && ca:
		return changeNewlyAllow
	case la && !live.SameHeaders(cand):
		return changeHeaders
	}
	return changeNone
}

var countKindNames = [2]string{countPreflight: "preflight", countActual: "actual"}

// trialRing is how many disagreeing requests an instance keeps per trial.
const trialRing = 20

// The request values a disagreement keeps, each copied into a fixed part of
// the sample's own buffer and cut at its limit, so that recording one
// allocates nothing and keeps nothing of the request alive.
const (
	fieldMethod = iota
	fieldOrigin
	fieldRequestMethod
	fieldRequestHeaders
	fieldKey
	sampleFields
)

var (
	sampleFieldNames = [sampleFields]string{"method", "origin", "request_method", "request_headers", "key"}
	// sampleFieldMax are the limits in bytes: an origin is a scheme and a
	// host, and a browser's Access-Control-Request-Headers names a dozen
	// headers at most.
	sampleFieldMax = [sampleFields]int{16, 256, 16, 512, 256}
	sampleFieldOff = func() (off [sampleFields]int) {
		for i := 1; i < sampleFields; i++ {
			off[i] = off[i-1] + sampleFieldMax[i-1]
		}
		return off
	}()
)

const sampleTextSize = 16 + 256 + 16 + 512 + 256

// trialSample is one disagreeing request, as the ring keeps it.
type trialSample struct {
	at     time.Time
	kind   uint8 // countPreflight or countActual
	change trialChange
	source PolicySource // what decided the request
	live   sideDecision
	cand   sideDecision
	lens   [sampleFields]uint16
	cut    uint8 // bit i: field i was cut at its limit
	text   [sampleTextSize]byte
}

// sideDecision is what one side decided.
type sideDecision struct {
	rule    int32 // -1 when no rule matched
	outcome cors.Outcome
	reason  cors.Reason
}

func sideOf(d cors.Decision) sideDecision {
	return sideDecision{rule: int32(d.Rule()), outcome: d.Outcome(), reason: d.Reason()}
}

func (s *trialSample) appendText(field int, v string) {
	room := sampleFieldMax[field] - int(s.lens[field])
	if len(v) > room {
		v = v[:room]
		s.cut |= 1 << field
	}
	copy(s.text[sampleFieldOff[field]+int(s.lens[field]):], v)
	s.lens[field] += uint16(len(v))
}

func (s *trialSample) textOf(field int) string {
	off := sampleFieldOff[field]
	return strings.ToValidUTF8(string(s.text[off:off+int(s.lens[field])]), "\uFFFD")
}

// trialCounts are one instance's counts of the trial of one candidate.
type trialCounts struct {
	bucket  string
	version string // the candidate's
	since   time.Time

	// tally counts the requests by kind and change.
	tally [2][trialChanges]atomic.Uint64

	mu   sync.Mutex // guards ring and recorded
	ring [trialRing]trialSample
	// recorded is how many disagreements were recorded in all; the newest
	// is at ring[(recorded-1)%trialRing].
	recorded uint64

	// written is how many requests the counts last stored covered; 0 when
	// they were never stored.
	written atomic.Uint64
}

// seen is how many requests were counted.
func (c *trialCounts) seen() uint64 {
	var n uint64
	for k := range c.tally {
		for ch := range c.tally[k] {
			n += c.tally[k][ch].Load()
		}
	}
	return n
}

// record counts the request req of kind, to key, decided live by the
// configuration from source and cand by the candidate. A disagreement also
// goes into the ring, overwriting the oldest; nothing is allocated.
func (c *trialCounts) record(kind int, source PolicySource, req *cors.Request, key string, live, cand cors.Decision) trialChange {
	ch := compareDecisions(live, cand)
	c.tally[kind][ch].Add(1)
	if ch == changeNone {
		return ch
	}
	now := time.Now()
	c.mu.Lock()
	s := &c.ring[c.recorded%trialRing]
	c.recorded++
	s.at, s.kind, s.change, s.source = now, uint8(kind), ch, source
	s.live, s.cand = sideOf(live), sideOf(cand)
	s.lens, s.cut = [sampleFields]uint16{}, 0
	s.appendText(fieldMethod, req.Method)
	s.appendText(fieldOrigin, req.Origin)
	s.appendText(fieldRequestMethod, req.RequestMethod)
	for i, line := range req.RequestHeaders {
		if i > 0 {
			s.appendText(fieldRequestHeaders, ",")
		}
		s.appendText(fieldRequestHeaders, line)
	}
	s.appendText(fieldKey, key)
	c.mu.Unlock()
	return ch
}

// trialTable holds this instance's counts of every trial it has seen a
// request for, by bucket. It lives as long as the store, across config
// reloads. Entries are made by the first request to a bucket with a
// candidate, replaced when the candidate is, and dropped by the flush that
// finds their candidate gone; there are never more than the buckets with a
// candidate, which only the admin API makes.
type trialTable struct {
	mu     sync.Mutex // serializes the writers
	trials atomic.Pointer[map[string]*trialCounts]
	// stale are counts replaced or dropped after they were stored, whose
	// storage copy the next flush removes.
	stale []*trialCounts
}

func (t *trialTable) load() map[string]*trialCounts {
	if m := t.trials.Load(); m != nil {
		return *m
	}
	return nil
}

// counts returns this instance's counts of the trial of c, bucket's
// candidate. The common case is a map read and a compare, without a lock.
func (t *trialTable) counts(bucket string, c *store.Candidate) *trialCounts {
	if tc := t.load()[bucket]; tc != nil && tc.version == c.Version {
		return tc
	}
	return t.add(bucket, c)
}

func (t *trialTable) add(bucket string, c *store.Candidate) *trialCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.load()
	old := cur[bucket]
	if old != nil && old.version == c.Version {
		return old
	}
	if old != nil && old.written.Load() > 0 {
		t.stale = append(t.stale, old)
	}
	next := make(map[string]*trialCounts, len(cur)+1)
	for b, tc := range cur {
		next[b] = tc
	}
	// The key outlives the request whose URL it was cut from.
	bucket = strings.Clone(bucket)
	tc := &trialCounts{bucket: bucket, version: c.Version, since: time.Now()}
	next[bucket] = tc
	t.trials.Store(&next)
	return tc
}

// prune drops the counts whose candidate current no longer names, and
// returns the counts left and the stale ones whose storage copies are to be
// removed.
func (t *trialTable) prune(current func(bucket string) *store.Candidate) (kept, stale []*trialCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stale, t.stale = t.stale, nil
	cur := t.load()
	if len(cur) == 0 {
		return nil, stale
	}
	next := make(map[string]*trialCounts, len(cur))
	for b, tc := range cur {
		if c := current(b); c != nil && c.Version == tc.version {
			next[b] = tc
			kept = append(kept, tc)
			continue
		}
		if tc.written.Load() > 0 {
			stale = append(stale, tc)
		}
	}
	if len(next) != len(cur) {
		t.trials.Store(&next)
	}
	return kept, stale
}

// lookup returns this instance's counts of bucket's candidate version, or
// nil when it has counted no request for it.
func (t *trialTable) lookup(bucket, version string) *trialCounts {
	if tc := t.load()[bucket]; tc != nil && tc.version == version {
		return tc
	}
	return nil
}
