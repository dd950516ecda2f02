package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/internal/memstorage"
)

// corsDoc is a one-rule CORSConfiguration allowing GET from origin.
func corsDoc(origin string) string {
	return fmt.Sprintf(`<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><AllowedOrigin>%s</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`, origin)
}

func corsConfig(t testing.TB, origin string) *cors.Configuration {
	t.Helper()
	cfg, err := cors.Parse([]byte(corsDoc(origin)))
	if err != nil {
		t.Fatalf("parsing test document for %q: %v", origin, err)
	}
	return cfg
}

// canonical is what the store keeps for the document allowing origin.
func canonical(t testing.TB, origin string) string {
	t.Helper()
	return string(corsConfig(t, origin).Marshal())
}

// policyDoc renders a policy back to its document, "" for nil.
func policyDoc(p *cors.Policy) string {
	if p == nil {
		return ""
	}
	return string(p.Configuration().Marshal())
}

func fileStorage(t testing.TB) *certmagic.FileStorage {
	return &certmagic.FileStorage{Path: t.TempDir()}
}

func newTestStore(t testing.TB, storage certmagic.Storage, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	return New(storage, opts)
}

func mustLoad(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func mustSync(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func mustPut(t testing.TB, s *Store, bucket, origin string) Record {
	t.Helper()
	rec, err := s.Put(context.Background(), bucket, corsConfig(t, origin), "AKIDTEST")
	if err != nil {
		t.Fatalf("Put(%s): %v", bucket, err)
	}
	return rec
}

// state is what a Store serves: bucket -> document, from Lookup.
func state(s *Store) map[string]string {
	got := make(map[string]string)
	for _, b := range s.Buckets() {
		got[b] = policyDoc(s.Lookup(b).Live)
	}
	return got
}

func stateString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	return b.String()
}

var errInjected = errors.New("injected storage failure")

// faultStorage wraps a storage to fail, drop marker writes, count calls, or
// pause after a load, on demand.
type faultStorage struct {
	certmagic.Storage
	markerKey string

	failing    atomic.Bool
	dropMarker atomic.Bool
	loads      atomic.Int64
	lists      atomic.Int64

	mu           sync.Mutex
	afterLoadFn  func(key string)
	afterStoreFn func(key string)
}

func newFaultStorage(inner certmagic.Storage) *faultStorage {
	return &faultStorage{Storage: inner, markerKey: DefaultPrefix + "/marker.json"}
}

func (f *faultStorage) afterLoad(fn func(key string)) {
	f.mu.Lock()
	f.afterLoadFn = fn
	f.mu.Unlock()
}

func (f *faultStorage) afterStore(fn func(key string)) {
	f.mu.Lock()
	f.afterStoreFn = fn
	f.mu.Unlock()
}

func (f *faultStorage) Store(ctx context.Context, key string, value []byte) error {
	if f.failing.Load() {
		return errInjected
	}
	if key == f.markerKey && f.dropMarker.Load() {
		return nil
	}
	if err := f.Storage.Store(ctx, key, value); err != nil {
		return err
	}
	f.mu.Lock()
	fn := f.afterStoreFn
	f.mu.Unlock()
	if fn != nil {
		fn(key)
	}
	return nil
}

func (f *faultStorage) Load(ctx context.Context, key string) ([]byte, error) {
	f.loads.Add(1)
	if f.failing.Load() {
		return nil, errInjected
	}
	data, err := f.Storage.Load(ctx, key)
	f.mu.Lock()
	fn := f.afterLoadFn
	f.mu.Unlock()
	if fn != nil {
		fn(key)
	}
	return data, err
}

func (f *faultStorage) Exists(ctx context.Context, key string) bool {
	if f.failing.Load() {
		return false
	}
	return f.Storage.Exists(ctx, key)
}

func (f *faultStorage) Delete(ctx context.Context, key string) error {
	if f.failing.Load() {
		return errInjected
	}
	return f.Storage.Delete(ctx, key)
}

func (f *faultStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	f.lists.Add(1)
	if f.failing.Load() {
		return nil, errInjected
	}
	return f.Storage.List(ctx, prefix, recursive)
}

func (f *faultStorage) Lock(ctx context.Context, name string) error {
	if f.failing.Load() {
		return errInjected
	}
	return f.Storage.Lock(ctx, name)
}

// fakeClock is a settable clock for the full-sync schedule.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var _ certmagic.Storage = (*faultStorage)(nil)

// condStorage is an in-memory ConditionalStorage: every write of a key
// gives it a new version, and StoreIf refuses a stale one. Its Lock fails
// the test, since a store on it must never take a lock.
type condStorage struct {
	*memstorage.Storage
	t testing.TB

	mu       sync.Mutex
	versions map[string]uint64
	next     uint64
	// beforeStoreIf, when set, runs before each StoreIf, to let a test
	// write in between a read and a conditional write.
	beforeStoreIf func(key string)
	conflicts     atomic.Int64
}

func newCondStorage(t testing.TB) *condStorage {
	return &condStorage{Storage: memstorage.New(), t: t, versions: make(map[string]uint64)}
}

func (c *condStorage) Conditional() bool { return true }

func (c *condStorage) Store(ctx context.Context, key string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.versions[key] = c.next
	return c.Storage.Store(ctx, key, value)
}

func (c *condStorage) Delete(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.versions, key)
	return c.Storage.Delete(ctx, key)
}

func (c *condStorage) LoadVersion(ctx context.Context, key string) ([]byte, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.Storage.Load(ctx, key)
	if err != nil {
		return nil, "", err
	}
	return v, fmt.Sprint(c.versions[key]), nil
}

func (c *condStorage) StoreIf(ctx context.Context, key string, value []byte, version string) (string, error) {
	c.mu.Lock()
	hook := c.beforeStoreIf
	c.mu.Unlock()
	if hook != nil {
		hook(key)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, exists := c.versions[key]
	if (version == "" && exists) || (version != "" && (!exists || fmt.Sprint(cur) != version)) {
		c.conflicts.Add(1)
		return "", fmt.Errorf("%s: %w", key, ErrConditionFailed)
	}
	c.next++
	c.versions[key] = c.next
	if err := c.Storage.Store(ctx, key, value); err != nil {
		return "", err
	}
	return fmt.Sprint(c.next), nil
}

func (c *condStorage) Lock(context.Context, string) error {
	c.t.Error("a store on a conditional storage took a storage lock")
	return errors.New("no locks here")
}

func (c *condStorage) Unlock(context.Context, string) error {
	c.t.Error("a store on a conditional storage released a storage lock")
	return nil
}

// stuckLockStorage is a file system storage whose marker lock is held by
// someone who never lets go. It records the deadline of every Lock call.
// With delegate, the file system storage's own Lock does the waiting (for a
// lock file left behind); otherwise Lock blocks until its context ends, or,
// with ignoreContext, until release is closed.
type stuckLockStorage struct {
	*certmagic.FileStorage
	delegate      bool
	ignoreContext bool
	release       chan struct{}

	mu        sync.Mutex
	deadlines []time.Time
	unlocks   atomic.Int64
}

func (s *stuckLockStorage) Lock(ctx context.Context, name string) error {
	d, ok := ctx.Deadline()
	if !ok {
		return errors.New("Lock called without a deadline")
	}
	s.mu.Lock()
	s.deadlines = append(s.deadlines, d)
	s.mu.Unlock()
	switch {
	case s.delegate:
		return s.FileStorage.Lock(ctx, name)
	case s.ignoreContext:
		<-s.release
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// takeDeadlines returns the deadlines recorded since the last call.
func (s *stuckLockStorage) takeDeadlines() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deadlines
	s.deadlines = nil
	return d
}

func (s *stuckLockStorage) Unlock(ctx context.Context, name string) error {
	s.unlocks.Add(1)
	if s.delegate {
		return s.FileStorage.Unlock(ctx, name)
	}
	return nil
}

var (
	_ ConditionalStorage = (*condStorage)(nil)
	_ certmagic.Storage  = (*stuckLockStorage)(nil)
)
