package s3storage

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLockExcludes has instances on separate storages increment a counter
// under the lock, read-modify-write: with mutual exclusion no increment is
// lost.
func TestLockExcludes(t *testing.T) {
	const instances, increments = 3, 4
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			srv := sharedServer(t, kind)
			bucket := testBucket("lock")
			ctx := t.Context()
			var wg sync.WaitGroup
			for range instances {
				s := newTestStorage(t, srv.endpoint, bucket, "")
				wg.Go(func() {
					for range increments {
						if err := s.Lock(ctx, "counter"); err != nil {
							t.Error(err)
							return
						}
						n := 0
						if v, err := s.Load(ctx, "counter"); err == nil {
							n, _ = strconv.Atoi(string(v))
						}
						err := s.Store(ctx, "counter", []byte(strconv.Itoa(n+1)))
						if uerr := s.Unlock(ctx, "counter"); uerr != nil {
							t.Error(uerr)
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			v, err := newTestStorage(t, srv.endpoint, bucket, "").Load(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(v); got != strconv.Itoa(instances*increments) {
				t.Errorf("counter = %s after %d increments under the lock: some overlapped", got, instances*increments)
			}
		})
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) string
	}{
		{"conditional", func(t *testing.T) string { return sharedServer(t, minio).endpoint }},
		{"without conditions", func(t *testing.T) string { return conditionStripper(t, sharedServer(t, minio).endpoint) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint, bucket := tc.endpoint(t), testBucket("wait")
			a, b := newTestStorage(t, endpoint, bucket, ""), newTestStorage(t, endpoint, bucket, "")
			ctx := t.Context()
			if err := a.Lock(ctx, "job"); err != nil {
				t.Fatal(err)
			}
			assertLockWaits(t, b, "job", 700*time.Millisecond)
			if err := b.Unlock(ctx, "job"); err == nil || !strings.Contains(err.Error(), "not held") {
				t.Errorf("Unlock of a lock never taken: %v", err)
			}
			if err := a.Unlock(ctx, "job"); err != nil {
				t.Fatal(err)
			}
			if err := b.Lock(ctx, "job"); err != nil {
				t.Fatalf("Lock after release: %v", err)
			}
			if err := b.Unlock(ctx, "job"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLockStale takes over a lock whose holder is gone, and reports the
// loss to a holder whose lock was taken over.
func TestLockStale(t *testing.T) {
	srv := sharedServer(t, minio)
	bucket := testBucket("stale")
	a, b := newTestStorage(t, srv.endpoint, bucket, ""), newTestStorage(t, srv.endpoint, bucket, "")
	ctx := t.Context()
	dead, _ := json.Marshal(lockFile{Token: "a-dead-holder", Holder: "gone:1", Expires: time.Now().Add(-time.Second)})
	if err := a.Store(ctx, a.lockKey("job"), dead); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.Lock(wait, "job"); err != nil {
		t.Fatalf("Lock over a stale lock: %v", err)
	}
	// Someone else's lock replaces a's, as after a's had expired.
	alive, _ := json.Marshal(lockFile{Token: "another-holder", Holder: "other:2", Expires: time.Now().Add(time.Minute)})
	if err := b.Store(ctx, b.lockKey("job"), alive); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "job"); err == nil || !strings.Contains(err.Error(), "taken over") {
		t.Errorf("Unlock of a lock taken over: %v, want an error saying so", err)
	}
	if v, err := b.Load(ctx, b.lockKey("job")); err != nil || !strings.Contains(string(v), "another-holder") {
		t.Errorf("Unlock removed the other holder's lock: %q, %v", v, err)
	}
}

// TestLockRenewed holds a lock for several of its lifetimes: the holder
// keeps renewing it, so nobody takes it over.
func TestLockRenewed(t *testing.T) {
	srv := sharedServer(t, minio)
	bucket := testBucket("renew")
	a, b := newTestStorage(t, srv.endpoint, bucket, ""), newTestStorage(t, srv.endpoint, bucket, "")
	a.lockTTL, b.lockTTL = 600*time.Millisecond, 600*time.Millisecond
	ctx := t.Context()
	if err := a.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	assertLockWaits(t, b, "job", 2*time.Second)
	if err := a.Unlock(ctx, "job"); err != nil {
		t.Errorf("Unlock after renewals: %v", err)
	}
}

// assertLockWaits fails unless s.Lock(name) is still waiting after wait.
func assertLockWaits(t *testing.T, s *Storage, name string, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := s.Lock(ctx, name); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock(%q) while another instance holds it: %v, want it to wait until its context expires", name, err)
	}
}
