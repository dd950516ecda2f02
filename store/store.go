// Package store keeps every bucket's CORS configuration in Caddy's storage
// and serves the compiled policies from memory. Request handlers look
// buckets up without locks or allocations; writes are durable before they
// return; and Caddy instances that share a storage converge by polling one
// small change marker.
//
// # Layout in storage
//
// Under the key prefix (default "s3_cors"):
//
//	s3_cors/buckets/<bucket>.json        one Record per configured bucket
//	s3_cors/candidates/<bucket>.json     the Record of a candidate on trial
//	s3_cors/trials/<bucket>/<version>/<instance>.json
//	                                     one instance's counts of the trial
//	                                     of candidate <version>, written by
//	                                     the instance (SaveTrialCounts) and
//	                                     removed with the candidate
//	s3_cors/history/<bucket>/<time>-<version>.json
//	                                     an earlier version of the bucket's
//	                                     Record, or its deletion; the newest
//	                                     HistorySize are kept; <time> is when
//	                                     the version was written, in Unix
//	                                     nanoseconds (20 digits, so names sort
//	                                     by age)
//	s3_cors/marker.json                  the change marker: a sequence number,
//	                                     the most recent changes (the journal)
//	                                     and the segments holding older ones
//	s3_cors/journal/<first>-<token>.json a segment: up to 64 older journal
//	                                     entries, from sequence <first> on
//	s3_cors/batches/<id>.json            the buckets of one PutMany, which one
//	                                     journal entry stands for
//
// All are plain JSON, readable with `caddy storage export`. Segment and
// batch keys are written once, before the marker names them, and deleted
// when the journal no longer reaches them.
//
// # History and trials
//
// Every write of a configuration (Put, PutMany, Rollback, Promote) and every
// Delete first stores the record it replaces in the bucket's history, then
// writes; a Delete also records the deletion itself. On a ConditionalStorage
// the write is conditional on the record kept, and retried if another
// writer got in between, so the history holds every version; elsewhere two
// concurrent writers may both keep the same one and lose the other from
// the history (never from storage). History, GetVersion and Rollback read
// storage, so they show every instance's changes at once; a rollback is a
// Put of the old document.
//
// A candidate (Try) is stored and announced exactly like a configuration,
// with journal entries marked as the candidate's, and served next to the
// live configuration by Lookup, for report-only trials; Promote is a Put
// of its document followed by its removal, Discard its removal. What the
// instances counted during a trial they store themselves, one document per
// instance and candidate version (SaveTrialCounts, TrialCounts); a Try
// removes the counts of the candidate it replaces, and Promote and Discard
// those of the candidate they end.
//
// # How instances agree
//
// Storage is the only source of truth. A write stores the bucket's record
// first, then appends an entry (sequence, token, writer, bucket) to the
// marker's journal. Every instance polls the marker alone, so a poll when
// nothing changed costs one small read. When the sequence moved, the
// instance reads the journal entries since the one it saw last (in the
// marker, and in the segments when it fell further behind), skips its own
// changes, which it has already applied, and reloads just the buckets the
// others name: reads in proportion to the changes, never to the number of
// buckets. Only when the journal cannot tell (it no longer reaches back to
// what the instance saw, Options.JournalSize changes ago, or shows that an
// entry the instance saw was overwritten, or a segment is lost), and every
// Options.FullSyncInterval on storages without conditional writes, does
// the instance list and reload everything. Modification times are never
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
// Concurrent writes of one instance, and all the buckets of one PutMany,
// share one marker update; one that fails is retried with the next update
// or the next Sync.
//
// # Memory
//
// An instance keeps, per bucket, the compiled policy and packed metadata in
// a hash table that readers use without locks and a write changes in one
// slot, so a write costs the same however many buckets there are. It keeps
// no document text: GetBucketCors renders the canonical document from the
// policy, which keeps every value verbatim. Buckets with the same document
// share one policy, found by a digest of the canonical text.
package store

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultPrefix           = "s3_cors"
	DefaultSyncInterval     = 5 * time.Second
	DefaultFullSyncInterval = 5 * time.Minute
	DefaultJournalSize      = 4096
	DefaultLockTimeout      = 250 * time.Millisecond
	DefaultSyncTimeout      = 2 * time.Minute
	DefaultLoadConcurrency  = 8
	DefaultWriteConcurrency = 16
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
	// can stay unnoticed. A negative value means never. Default: 5m on a
	// storage without conditional writes; never on a ConditionalStorage,
	// where no marker update can be lost.
	FullSyncInterval time.Duration

	// JournalSize is how many recent changes the change journal remembers,
	// in the marker and the segments it names. An instance that missed
	// this many changes or more since its last poll (a batch of PutMany
	// counts as one) does a full reconciliation instead. Default: 4096.
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

	// WriteConcurrency is how many records PutMany stores at once.
	// Default: 16.
	WriteConcurrency int
}

// Stats describes the state of a Store, for metrics and the admin API.
type Stats struct {
	// Buckets is the number of buckets with a configuration in the
	// current snapshot.
	Buckets int `json:"buckets"`
	// Candidates is the number of buckets with a candidate configuration
	// on trial.
	Candidates int `json:"candidates"`
	// Policies is the number of distinct compiled policies; buckets with
	// identical documents share one.
	Policies int `json:"policies"`
	// Generation increases with every change of what the store serves.
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

	// id names this instance in the journal entries of its changes, so
	// that it does not reload them.
	id string

	bucketsDir    string
	candidatesDir string
	trialsDir     string
	historyDir    string
	journalDir    string
	batchesDir    string
	markerKey     string
	lockName      string

	// buckets holds every bucket's entry; gen counts its changes, live and
	// candidates the buckets with a configuration and with a candidate.
	buckets    table
	gen        atomic.Uint64
	live       atomic.Int64
	candidates atomic.Int64

	// mu serializes changes of buckets, and guards the policy cache and the
	// set of buckets written locally since the running sync began.
	mu       sync.Mutex
	policies policyCache
	dirty    map[dirtyKey]struct{}

	// bucketLocks order a bucket's storage write and snapshot update within
	// this instance, so the snapshot ends with the write storage kept.
	bucketLocks [64]sync.Mutex
	hashSeed    maphash.Seed

	// markerMu serializes this instance's own marker updates; pending
	// queues the changes waiting for the next one, and unannounced holds
	// those whose update failed.
	markerMu    sync.Mutex
	pendingMu   sync.Mutex
	pending     []*publication
	unannounced []change

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
	if opts.WriteConcurrency <= 0 {
		opts.WriteConcurrency = DefaultWriteConcurrency
	}
	s := &Store{
		storage:       storage,
		opts:          opts,
		now:           time.Now,
		id:            newID()[:16],
		bucketsDir:    opts.Prefix + "/buckets",
		candidatesDir: opts.Prefix + "/candidates",
		trialsDir:     opts.Prefix + "/trials",
		historyDir:    opts.Prefix + "/history",
		journalDir:    opts.Prefix + "/journal",
		batchesDir:    opts.Prefix + "/batches",
		markerKey:     opts.Prefix + "/marker.json",
		lockName:      opts.Prefix + "/marker",
		policies:      newPolicyCache(),
		dirty:         make(map[dirtyKey]struct{}),
		hashSeed:      maphash.MakeSeed(),
	}
	s.log.Store(opts.Logger)
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
