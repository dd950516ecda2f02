package caddymodule

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// The kinds of request a decision is counted for.
const (
	countPreflight = iota
	countActual
)

// decisionCounters count what one configuration decided: how often each
// rule matched, and why requests with an Origin matched none. Counting is
// an atomic add; the counters are read only by the admin API. They are
// kept for the configurations that decide, never per request origin or per
// bucket name a request makes up, so their memory is bounded by the
// configured buckets.
type decisionCounters struct {
	since time.Time
	rules []ruleCounters
	// refused counts the NotAllowed decisions by kind and reason.
	refused [2][reasonSlots]atomic.Uint64
	// Preflights refused before any rule was consulted.
	missingOrigin, invalidMethod, bucketNotFound atomic.Uint64
}

// reasonSlots holds every cors.Reason with room to spare.
const reasonSlots = 8

type ruleCounters struct{ preflight, actual atomic.Uint64 }

func newDecisionCounters(p *cors.Policy, since time.Time) *decisionCounters {
	return &decisionCounters{since: since, rules: make([]ruleCounters, p.Len())}
}

// count records d, the decision of a request of kind.
func (c *decisionCounters) count(d cors.Decision, kind int) {
	switch d.Outcome() {
	case cors.Allowed:
		if i := d.Rule(); uint(i) < uint(len(c.rules)) {
			if kind == countPreflight {
				c.rules[i].preflight.Add(1)
			} else {
				c.rules[i].actual.Add(1)
			}
		}
	case cors.NotAllowed:
		if r := d.Reason(); int(r) < reasonSlots {
			c.refused[kind][r].Add(1)
		}
	case cors.MissingOrigin:
		c.missingOrigin.Add(1)
	case cors.InvalidRequestMethod:
		c.invalidMethod.Add(1)
	case cors.BucketNotFound:
		c.bucketNotFound.Add(1)
	}
}

// statsShards spreads the buckets over maps that are copied on write, so
// that adding a bucket copies a small map and reading takes no lock.
const statsShards = 64

// statsTable holds the decision counters of every bucket that has a
// configuration of its own. It lives as long as the store, across config
// reloads. An entry is made when a bucket's configuration first decides a
// request, and replaced when its compiled policy changes (a new document);
// entries of buckets whose configuration is gone are dropped when their
// shard next changes, so the table never holds more entries than buckets
// were configured at once, whatever bucket names requests make up.
type statsTable struct {
	started time.Time
	seed    maphash.Seed
	shards  [statsShards]statsShard
}

type statsShard struct {
	mu      sync.Mutex // serializes the writers
	buckets atomic.Pointer[map[string]*bucketCounters]
}

// bucketCounters are the counters of one compiled configuration of a
// bucket, and why they start when they do.
type bucketCounters struct {
	policy     *cors.Policy
	sinceEvent string
	decisionCounters
}

func newStatsTable(now time.Time) *statsTable {
	return &statsTable{started: now, seed: maphash.MakeSeed()}
}

func (t *statsTable) shard(bucket string) *statsShard {
	return &t.shards[maphash.String(t.seed, bucket)%statsShards]
}

// counters returns the counters of bucket, whose policy in st is p. The
// common case is a map read and a pointer compare, without a lock.
func (t *statsTable) counters(bucket string, p *cors.Policy, st *store.Store) *decisionCounters {
	sh := t.shard(bucket)
	if m := sh.buckets.Load(); m != nil {
		if c := (*m)[bucket]; c != nil && c.policy == p {
			return &c.decisionCounters
		}
	}
	return t.add(sh, bucket, p, st)
}

// add makes the counters of bucket for policy p, copying the shard's map
// without the entries of configurations that are gone.
func (t *statsTable) add(sh *statsShard, bucket string, p *cors.Policy, st *store.Store) *decisionCounters {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var cur map[string]*bucketCounters
	if m := sh.buckets.Load(); m != nil {
		cur = *m
	}
	if c := cur[bucket]; c != nil && c.policy == p {
		return &c.decisionCounters
	}
	next := make(map[string]*bucketCounters, len(cur)+1)
	for b, c := range cur {
		if st.Lookup(b).Live == c.policy {
			next[b] = c
		}
	}
	c := &bucketCounters{policy: p, decisionCounters: decisionCounters{rules: make([]ruleCounters, p.Len())}}
	c.since, c.sinceEvent = t.countingSince(bucket, st)
	// The key outlives the request whose URL it was cut from.
	next[string([]byte(bucket))] = c
	sh.buckets.Store(&next)
	return &c.decisionCounters
}

// countingSince is when the counts of bucket's current configuration
// begin, and why then. No request was decided by a configuration before its
// counters were made, so counting from when it came in loses nothing: the
// later of this instance's start and the configuration's change.
func (t *statsTable) countingSince(bucket string, st *store.Store) (time.Time, string) {
	if rec, ok := st.Get(bucket); ok && rec.UpdatedAt.After(t.started) {
		return rec.UpdatedAt, "configuration_change"
	}
	return t.started, "start"
}

// lookup returns the counters of bucket's policy p, or nil when p has
// decided nothing yet. It never adds an entry.
func (t *statsTable) lookup(bucket string, p *cors.Policy) *bucketCounters {
	m := t.shard(bucket).buckets.Load()
	if m == nil {
		return nil
	}
	if c := (*m)[bucket]; c != nil && c.policy == p {
		return c
	}
	return nil
}

// DecisionStats is what a bucket's CORS configuration decided, for the
// admin API's stats route.
type DecisionStats struct {
	Bucket string `json:"bucket"`
	// Source is the configuration that decides the bucket's requests:
	// "bucket" (its own), "default" (default_cors) or "none".
	Source string `json:"source"`
	// DefaultFile is the default_cors file, when the default decides.
	DefaultFile string `json:"default_file,omitempty"`
	// Since is when counting began, and SinceEvent why then: "start" (this
	// instance started serving the storage), "configuration_change" (the
	// bucket's configuration changed later), or "default_loaded" (the
	// default's document was loaded, at start or by a reload that changed
	// it).
	Since      time.Time `json:"since,omitzero"`
	SinceEvent string    `json:"since_event,omitempty"`
	// Rules say how often each rule decided a request, in document order.
	Rules []RuleStats `json:"rules"`
	// PreflightRefused and ActualRefused count the requests with an Origin
	// that no rule matched, by the criterion no rule passed. A refused
	// actual request was answered without CORS headers.
	PreflightRefused RefusalStats `json:"preflight_refused"`
	ActualRefused    RefusalStats `json:"actual_refused"`
	// Preflights refused before any rule was consulted: without Origin,
	// with an invalid Access-Control-Request-Method, to a bucket the
	// upstream does not have.
	PreflightMissingOrigin  uint64 `json:"preflight_missing_origin"`
	PreflightInvalidMethod  uint64 `json:"preflight_invalid_method"`
	PreflightBucketNotFound uint64 `json:"preflight_bucket_not_found"`
	// Note says what the figures cover.
	Note string `json:"note,omitempty"`
}

// RuleStats is how often one rule decided a request.
type RuleStats struct {
	Index int    `json:"index"`
	ID    string `json:"id,omitempty"`
	// Preflight counts the preflights the rule allowed; Actual the other
	// requests it gave CORS headers.
	Preflight uint64 `json:"preflight"`
	Actual    uint64 `json:"actual"`
}

// RefusalStats counts refused requests by the criterion no rule passed.
type RefusalStats struct {
	Origin          uint64 `json:"origin"`
	Method          uint64 `json:"method"`
	Header          uint64 `json:"header"`
	HeadersTooLarge uint64 `json:"headers_too_large"`
}

// Stats reports what bucket's CORS configuration decided on this instance.
// For a bucket without a configuration of its own that the default
// decides, the figures are the default's, for every such bucket: counting
// them per bucket name would let anyone grow the table with made-up names.
func (a *App) Stats(bucket string) DecisionStats {
	p, src := a.Policy(bucket)
	out := DecisionStats{Bucket: bucket, Source: src.String(), Rules: []RuleStats{}}
	var c *decisionCounters
	switch src {
	case SourceBucket:
		table := a.shared.stats
		if bc := table.lookup(bucket, p); bc != nil {
			c, out.Since, out.SinceEvent = &bc.decisionCounters, bc.since, bc.sinceEvent
			break
		}
		out.Since, out.SinceEvent = table.countingSince(bucket, a.shared.store)
	case SourceDefault:
		d, file := a.defaults.get()
		c = d.counters
		out.DefaultFile, out.Since, out.SinceEvent = file, c.since, "default_loaded"
		out.Note = "the bucket has no configuration of its own: these are the counts of the default, for every bucket it decided"
	default:
		out.Note = "the bucket has no CORS configuration and no default_cors applies to it: nothing is counted"
		return out
	}
	for i, r := range p.Configuration().Rules {
		rs := RuleStats{Index: i, ID: r.ID}
		if c != nil && i < len(c.rules) {
			rs.Preflight, rs.Actual = c.rules[i].preflight.Load(), c.rules[i].actual.Load()
		}
		out.Rules = append(out.Rules, rs)
	}
	if c != nil {
		out.PreflightRefused = c.refusals(countPreflight)
		out.ActualRefused = c.refusals(countActual)
		out.PreflightMissingOrigin = c.missingOrigin.Load()
		out.PreflightInvalidMethod = c.invalidMethod.Load()
		out.PreflightBucketNotFound = c.bucketNotFound.Load()
	}
	return out
}

func (c *decisionCounters) refusals(kind int) RefusalStats {
	r := &c.refused[kind]
	return RefusalStats{
		Origin:          r[cors.ReasonOrigin].Load(),
		Method:          r[cors.ReasonMethod].Load(),
		Header:          r[cors.ReasonHeader].Load(),
		HeadersTooLarge: r[cors.ReasonHeadersTooLarge].Load(),
	}
}
