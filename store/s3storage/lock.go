package s3storage

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/store"
)

// A lock is an object, locks/<name>.lock under the prefix, that names its
// holder and an expiry lockTTL (10 s) ahead. The holder rewrites it every
// third of that while it holds it, so a lock whose expiry has passed was
// left by a holder that died (or lost the store for that long) and may be
// taken over.
// Expiries are compared with the reader's clock: instances' clocks must
// agree to within a few seconds, as TLS already needs.
const (
	defaultLockTTL = 10 * time.Second
	lockPoll       = 250 * time.Millisecond
	// lockSettle is how long a writer on a store without conditional
	// writes waits before reading its lock back, so that a competitor
	// whose write was in flight has landed.
	lockSettle = 100 * time.Millisecond
)

type lockFile struct {
	Token   string    `json:"token"`
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// heldLock is a lock this instance holds.
type heldLock struct {
	key   string
	token string
	stop  context.CancelFunc
	done  chan struct{}

	mu   sync.Mutex
	etag string
}

// holder names this process in lock objects, for people reading them.
var holder = func() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}()

func (s *Storage) lockKey(name string) string { return "locks/" + name + ".lock" }

// Lock takes the named lock, waiting until it is free or stale, or until
// ctx is done. On a store that enforces conditional writes only one
// instance can take a lock: it is created with If-None-Match, and a stale
// one is replaced with If-Match of the ETag seen stale. On one that does
// not, Lock writes the lock and reads it back after a short wait, which
// keeps out all but writers racing within that wait: a best effort, which
// certmagic's Locker contract allows and the store package's read-back
// checks tolerate.
func (s *Storage) Lock(ctx context.Context, name string) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	key := s.lockKey(name)
	for {
		ok, err := s.tryLock(ctx, name, key)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bucket storage: waiting for lock %q: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

func (s *Storage) tryLock(ctx context.Context, name, key string) (bool, error) {
	token := rand.Text()
	if !s.conditional.Load() {
		return s.tryLockUnenforced(ctx, name, key, token)
	}
	etag, err := s.putIf(ctx, key, s.lockBody(token), "")
	if err == nil {
		s.hold(name, key, token, etag)
		return true, nil
	}
	if !errors.Is(err, store.ErrConditionFailed) {
		return false, s.failed("taking lock", key, err)
	}
	current, version, err := s.loadVersion(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // released meanwhile; the next try may get it
	}
	if err != nil {
		return false, err
	}
	if !s.stale(current) {
		return false, nil
	}
	etag, err = s.putIf(ctx, key, s.lockBody(token), version)
	if errors.Is(err, store.ErrConditionFailed) {
		return false, nil // another waiter took it over first
	}
	if err != nil {
		return false, s.failed("taking over stale lock", key, err)
	}
	s.log.Warn("took over a stale lock", zap.String("lock", name), zap.String("storage", s.String()))
	s.hold(name, key, token, etag)
	return true, nil
}

func (s *Storage) tryLockUnenforced(ctx context.Context, name, key, token string) (bool, error) {
	current, _, err := s.loadVersion(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err == nil && !s.stale(current) {
		return false, nil
	}
	if err := s.putPlain(ctx, key, s.lockBody(token)); err != nil {
		return false, s.failed("taking lock", key, err)
	}
	t := time.NewTimer(lockSettle)
	select {
	case <-ctx.Done():
		t.Stop()
		return false, ctx.Err()
	case <-t.C:
	}
	current, version, err := s.loadVersion(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err != nil || s.lockToken(current) != token {
		return false, nil
	}
	s.hold(name, key, token, version)
	return true, nil
}

func (s *Storage) putPlain(ctx context.Context, key string, value []byte) error {
	_, err := s.client.PutObject(ctx, s.putInput(key, value))
	return err
}

func (s *Storage) lockBody(token string) []byte {
	b, _ := json.Marshal(lockFile{Token: token, Holder: holder, Expires: s.now().Add(s.lockTTL).UTC()})
	return b
}

func (s *Storage) lockToken(data []byte) string {
	var lf lockFile
	if json.Unmarshal(data, &lf) != nil {
		return ""
	}
	return lf.Token
}

// stale reports whether a lock object may be taken over: its expiry has
// passed, or it is not a lock this storage wrote.
func (s *Storage) stale(data []byte) bool {
	var lf lockFile
	if err := json.Unmarshal(data, &lf); err != nil || lf.Token == "" {
		return true
	}
	return s.now().After(lf.Expires)
}

// hold records a lock taken and keeps it fresh until Unlock.
func (s *Storage) hold(name, key, token, etag string) {
	ctx, stop := context.WithCancel(context.Background())
	h := &heldLock{key: key, token: token, etag: etag, stop: stop, done: make(chan struct{})}
	s.locksMu.Lock()
	if old := s.locks[name]; old != nil {
		// Only possible if this instance's own lock went stale and was
		// taken over by this instance: the old holder lost it.
		old.stop()
	}
	s.locks[name] = h
	s.locksMu.Unlock()
	go s.refresh(ctx, name, h)
}

// refresh rewrites the lock's expiry every third of lockTTL until stopped, or
// until it finds the lock taken over.
func (s *Storage) refresh(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	every := s.lockTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		err := s.renew(rctx, h)
		cancel()
		switch {
		case errors.Is(err, store.ErrConditionFailed):
			s.log.Warn("a lock held by this instance expired and was taken over", zap.String("lock", name), zap.String("storage", s.String()))
			return
		case err != nil && ctx.Err() == nil:
			s.log.Warn("renewing a lock; it expires unless a later renewal succeeds", zap.String("lock", name), zap.Error(err))
		}
	}
}

func (s *Storage) renew(ctx context.Context, h *heldLock) error {
	h.mu.Lock()
	etag := h.etag
	h.mu.Unlock()
	var err error
	if s.conditional.Load() {
		etag, err = s.putIf(ctx, h.key, s.lockBody(h.token), etag)
	} else {
		etag, err = s.storeIfUnenforced(ctx, h.key, s.lockBody(h.token), etag)
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.etag = etag
	h.mu.Unlock()
	return nil
}

// Unlock releases a lock this instance took with Lock. It reports an error
// if the lock was not held, or expired and was taken over by another
// holder before it was released (then the critical section may have
// overlapped another).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.locksMu.Lock()
	h := s.locks[name]
	delete(s.locks, name)
	s.locksMu.Unlock()
	if h == nil {
		return fmt.Errorf("bucket storage: lock %q is not held by this instance", name)
	}
	h.stop()
	<-h.done
	current, _, err := s.loadVersion(ctx, h.key)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bucket storage: lock %q had expired and was released by another holder", name)
	}
	if err != nil {
		return err
	}
	if s.lockToken(current) != h.token {
		return fmt.Errorf("bucket storage: lock %q had expired and was taken over by another holder", name)
	}
	return s.deleteObject(ctx, h.key)
}
