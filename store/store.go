// Package store keeps every bucket's CORS configuration in Caddy's storage
// and serves the compiled policies from memory. Request handlers read one
// immutable snapshot without locks; writes are durable before they return;
// and Caddy instances that share a storage converge by polling one small
// change marker.
//
// # Layout in storage
//
// Under the key prefix (default "s3_cors"):
//
//	s3_cors/buckets/<bucket>.json   one Record per configured bucket (JSON)
//	s3_cors/marker.json             the change marker: a sequence number and
//	                                a bounded journal of recent changes
//
// Both are plain JSON, readable with `caddy storage export`.
//
// # How instances agree
//
// Storage is the only source of truth. A write stores the bucket's record
// first, then appends (sequence, bucket) to the marker's journal. Every
// instance polls the marker alone; when its sequence moved, the instance
// reloads just the buckets the journal names. When the journal no longer
// reaches back to what the instance last saw, or shows that an entry it saw
// was overwritten, and in any case every Options.FullSyncInterval, the
// instance lists and reloads everything. Modification times are never
// consulted.
//
// Writers update the marker in one of two ways. On a ConditionalStorage
// (S3 conditional writes) the update is a compare-and-swap, retried when
// another writer got there first: no lock is taken and no update is lost.
// On any other storage it is a read-modify-write under the storage lock,
// which a writer tries for at most Options.LockTimeout before going ahead
// without it (so the lock of a crashed instance never holds a write up),
// then checks by reading the marker back. A marker update lost there (two
// writers without the lock, a backend whose Lock is a no-op) delays
// convergence to the next full reconciliation but cannot prevent it.
// Concurrent writes of one instance share one marker update.
//
// # Memory
//
// An instance keeps, per bucket, the compiled policy and packed metadata,
// not the document text: GetBucketCors renders the canonical document from
// the policy, which keeps every value verbatim. Buckets with the same
// document share one policy, found by a digest of the canonical text.
package store

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultPrefix           = "s3_cors"
	DefaultSyncInterval     = 5 * time.Second
	DefaultFullSyncInterval = 5 * time.Minute
	DefaultJournalSize      = 128
	DefaultLockTimeout      = 250 * time.Millisecond
	DefaultSyncTimeout      = 2 * time.Minute
	DefaultLoadConcurrency  = 8
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Prefix is the storage key prefix every key of the store lives under.
	// Default: "s3_cors".
	Prefix string

	// Logger receives an info line per configuration change and warnings
	// about skipped records and failed syncs. SetLogger replaces it.
	// Default: no logging.
	Logger *zap.Logger

	// FullSyncInterval is how often Sync lists and reloads every record
	// even when the change marker says nothing changed. It bounds how long
	// a lost marker update (or a record edited behind the store's back)
	// can stay unnoticed. Default: 5m.
	FullSyncInterval time.Duration

	// JournalSize is how many recent changes the marker remembers. An
	// instance that missed this many changes or more since its last poll
	// does a full reconciliation instead. Default: 128.
	JournalSize int

	// LockTimeout bounds the wait for the storage lock around a marker
	// update, on a storage without conditional writes; when it expires the
	// update goes ahead unlocked, so that a lock left by a crashed instance
	// delays a write by at most this much. A ConditionalStorage takes no
	// lock. Default: 250ms.
	LockTimeout time.Duration

	// SyncTimeout bounds each poll made by Run. Default: 2m.
	SyncTimeout time.Duration

	// LoadConcurrency is how many records a sync loads from storage at
	// once, which matters for storages with per-request latency.
	// Default: 8.
	LoadConcurrency int
}

// Stats describes the state of a Store, for metrics and the admin API.
type Stats struct {
	// Buckets is the number of buckets with a configuration in the
	// current snapshot.
	Buckets int `json:"buckets"`
	// Policies is the number of distinct compiled policies; buckets with
	// identical documents share one.
	Policies int `json:"policies"`
	// Generation increases with every snapshot swap.
	Generation uint64 `json:"generation"`
	// Loaded reports whether a full load has succeeded yet.
	Loaded bool `json:"loaded"`
	// MarkerSequence is the change-marker sequence the snapshot reflects.
	MarkerSequence uint64 `json:"marker_sequence"`
	// LastSync is when the last successful sync (or load) finished.
	LastSync time.Time `json:"last_sync,omitzero"`
	// LastFullSync is when the last successful full reconciliation
	// finished.
	LastFullSync time.Time `json:"last_full_sync,omitzero"`
	// LastError is why the most recent Sync or Load failed; nil when it
	// succeeded. In JSON it is the message, omitted when nil.
	LastError error `json:"-"`
	// LastErrorTime is when a Sync or Load last failed, kept after
	// recovery.
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// ConsecutiveErrors counts the failures since the last success.
	ConsecutiveErrors int `json:"consecutive_errors"`
	// Syncs, FullSyncs and SyncErrors count Sync and Load calls, the full
	// reconciliations among them, and the ones that failed.
	Syncs      uint64 `json:"syncs"`
	FullSyncs  uint64 `json:"full_syncs"`
	SyncErrors uint64 `json:"sync_errors"`
	// SkippedKeys is how many keys under the buckets prefix the last full
	// reconciliation could not use: corrupt or foreign records.
	SkippedKeys int `json:"skipped_keys"`
}

// MarshalJSON renders the stats for the admin API, with LastError as its
// message.
func (st Stats) MarshalJSON() ([]byte, error) {
	type plain Stats
	var msg string
	if st.LastError != nil {
		msg = st.LastError.Error()
	}
	return json.Marshal(struct {
		plain
		LastError string `json:"last_error,omitempty"`
	}{plain(st), msg})
}

// Store holds the CORS configuration of every bucket. It is safe for
// concurrent use; Lookup never blocks.
type Store struct {
	storage certmagic.Storage
	opts    Options
	log     atomic.Pointer[zap.Logger]
	now     func() time.Time

	bucketsDir string
	markerKey  string
	lockName   string

	snap atomic.Pointer[snapshot]

	// mu guards building and swapping snapshots, the policy cache and the
	// set of buckets written locally since the running sync began.
	mu       sync.Mutex
	policies policyCache
	dirty    map[string]struct{}

	// bucketLocks order a bucket's storage write and snapshot update within
	// this instance, so the snapshot ends with the write storage kept.
	bucketLocks [64]sync.Mutex
	hashSeed    maphash.Seed

	// markerMu serializes this instance's own marker updates; pending
	// queues the changes waiting for the next one.
	markerMu  sync.Mutex
	pendingMu sync.Mutex
	pending   []*publication

	// syncMu serializes Load and Sync; it guards the fields below.
	syncMu    sync.Mutex
	loaded    bool
	seenSeq   uint64
	seenToken string
	lastFull  time.Time
	warned    map[string]string
	lastWarn  time.Time

	statsMu sync.Mutex
	stats   Stats
}

// snapshot is an immutable view of every bucket's configuration.
type snapshot struct {
	entries map[string]*entry
	gen     uint64
}

// New returns a Store keeping its data in storage, which must not be nil.
// It does no I/O: call Load before serving, then Run (or Sync) to follow
// other instances' changes.
func New(storage certmagic.Storage, opts Options) *Store {
	opts.Prefix = strings.Trim(opts.Prefix, "/")
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.FullSyncInterval <= 0 {
		opts.FullSyncInterval = DefaultFullSyncInterval
	}
	if opts.JournalSize <= 0 {
		opts.JournalSize = DefaultJournalSize
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = DefaultSyncTimeout
	}
	if opts.LoadConcurrency <= 0 {
		opts.LoadConcurrency = DefaultLoadConcurrency
	}
	s := &Store{
		storage:    storage,
		opts:       opts,
		now:        time.Now,
		bucketsDir: opts.Prefix + "/buckets",
		markerKey:  opts.Prefix + "/marker.json",
		lockName:   opts.Prefix + "/marker",
		policies:   newPolicyCache(),
		dirty:      make(map[string]struct{}),
		hashSeed:   maphash.MakeSeed(),
	}
	s.log.Store(opts.Logger)
	s.snap.Store(&snapshot{entries: map[string]*entry{}})
	return s
}

// SetLogger makes l the logger of the store from now on; nil stops logging.
// A store that outlives a configuration reload takes the new
// configuration's logger this way. It is safe to call at any time.
func (s *Store) SetLogger(l *zap.Logger) {
	if l == nil {
		l = zap.NewNop()
	}
	s.log.Store(l)
}

// logger is the store's current logger.
func (s *Store) logger() *zap.Logger { return s.log.Load() }

// Lookup returns the compiled policy of bucket, or nil when the bucket has
// no CORS configuration. It takes no lock and allocates nothing.
func (s *Store) Lookup(bucket string) *cors.Policy {
	e := s.snap.Load().entries[bucket]
	if e == nil {
		return nil
	}
	return e.policy
}

// Get returns the stored record of bucket, as GetBucketCors and the admin
// API show it. The document is rendered anew from the compiled policy on
// every call.
func (s *Store) Get(bucket string) (Record, bool) {
	e := s.snap.Load().entries[bucket]
	if e == nil {
		return Record{}, false
	}
	return e.record(bucket), true
}

// Buckets returns the names of all configured buckets, sorted.
func (s *Store) Buckets() []string {
	entries := s.snap.Load().entries
	if len(entries) == 0 {
		return nil
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Stats returns a consistent copy of the store's counters.
func (s *Store) Stats() Stats {
	snap := s.snap.Load()
	s.mu.Lock()
	policies := s.policies.len()
	s.mu.Unlock()
	s.statsMu.Lock()
	st := s.stats
	s.statsMu.Unlock()
	st.Buckets = len(snap.entries)
	st.Policies = policies
	st.Generation = snap.gen
	return st
}

// Run polls storage with Sync until ctx is done, waiting interval()
// between polls. interval is called before every wait, so a caller can
// change the interval while Run runs; a nil interval, or one that returns a
// duration that is not positive, means DefaultSyncInterval. Each poll is
// bounded by Options.SyncTimeout. Failures are recorded in Stats and logged
// by Sync; the last good snapshot keeps serving and the next poll retries.
func (s *Store) Run(ctx context.Context, interval func() time.Duration) {
	for {
		d := DefaultSyncInterval
		if interval != nil {
			if v := interval(); v > 0 {
				d = v
			}
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.SyncTimeout)
		_ = s.Sync(pctx)
		cancel()
	}
}

// lockBucket serializes this instance's writes to one bucket.
func (s *Store) lockBucket(bucket string) func() {
	m := &s.bucketLocks[maphash.String(s.hashSeed, bucket)%uint64(len(s.bucketLocks))]
	m.Lock()
	return m.Unlock
}

// cachedPolicy returns the shared compiled policy of the document with
// digest d, if one is in use.
func (s *Store) cachedPolicy(d digest) *cors.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policies.get(d)
}

// swapLocked publishes entries as the new snapshot. s.mu must be held.
func (s *Store) swapLocked(entries map[string]*entry) {
	s.snap.Store(&snapshot{entries: entries, gen: s.snap.Load().gen + 1})
}

// install makes e, whose document has digest d, bucket's configuration in
// this instance's snapshot.
func (s *Store) install(bucket string, e *entry, d digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load().entries
	next := maps.Clone(cur)
	e.policy = s.policies.acquire(d, e.policy)
	if old := cur[bucket]; old != nil {
		s.policies.release(old.policy)
	}
	next[bucket] = e
	s.dirty[bucket] = struct{}{}
	s.swapLocked(next)
}

// uninstall removes bucket from this instance's snapshot.
func (s *Store) uninstall(bucket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty[bucket] = struct{}{}
	cur := s.snap.Load().entries
	old := cur[bucket]
	if old == nil {
		return
	}
	next := maps.Clone(cur)
	delete(next, bucket)
	s.policies.release(old.policy)
	s.swapLocked(next)
}
