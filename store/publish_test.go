package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// answerWithin is how soon a restarted instance must answer its first
// PUT, whatever lock a crashed one left behind.
const answerWithin = time.Second

// TestCrashedInstanceLockDoesNotHoldUpWrites leaves the marker lock as a
// crashed instance leaves it, in each way a storage can: the file system
// storage's lock file with fresh timestamps (it only counts as stale ten
// seconds later), a Lock that blocks until its context ends, and one that
// ignores its context. Every Put must complete and be announced, and the
// store must never give the lock a deadline later than answerWithin after
// the Put began.
func TestCrashedInstanceLockDoesNotHoldUpWrites(t *testing.T) {
	tests := []struct {
		name          string
		lockFile      bool
		ignoreContext bool
	}{
		{name: "lock file left behind", lockFile: true},
		{name: "Lock blocks until its context ends"},
		{name: "Lock ignores its context", ignoreContext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fileStorage(t)
			stuck := &stuckLockStorage{FileStorage: fsys, delegate: tt.lockFile, ignoreContext: tt.ignoreContext, release: make(chan struct{})}
			lockFile := filepath.Join(fsys.Path, "locks", certmagic.StorageKeys.Safe(DefaultPrefix+"/marker")+".lock")
			now := time.Now().UTC()
			left, err := json.Marshal(map[string]time.Time{"created": now, "updated": now})
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, lockFile, string(left))
			follower := newTestStore(t, fsys, Options{})
			mustLoad(t, follower)
			restarted := newTestStore(t, stuck, Options{})
			mustLoad(t, restarted)

			for _, bucket := range []string{"photos", "assets"} {
				began := time.Now()
				mustPut(t, restarted, bucket, "https://app.example.com")
				deadlines := stuck.takeDeadlines()
				if len(deadlines) == 0 || (tt.ignoreContext && len(deadlines) != 1) {
					t.Fatalf("Put(%s) made %d lock attempts; want some, and one when Lock does not return", bucket, len(deadlines))
				}
				for _, d := range deadlines {
					if d.Sub(began) > answerWithin {
						t.Fatalf("Put(%s) gave the lock until %v after it began, more than %v", bucket, d.Sub(began), answerWithin)
					}
				}
			}
			if data, err := os.ReadFile(lockFile); err != nil || string(data) != string(left) {
				t.Fatalf("lock file after the Puts: %q, %v; want it untouched", data, err)
			}
			if stuck.unlocks.Load() != 0 {
				t.Fatal("the store released a lock it never got")
			}
			mustSync(t, follower)
			if follower.Lookup("photos").Live == nil || follower.Lookup("assets").Live == nil || follower.Stats().FullSyncs != 1 {
				t.Fatalf("the changes were not announced through the marker: %+v", follower.Stats())
			}
			if tt.ignoreContext {
				// A late success of an abandoned attempt is released.
				close(stuck.release)
				deadline := time.Now().Add(20 * time.Second) // liveness only
				for stuck.unlocks.Load() != 2 {
					if time.Now().After(deadline) {
						t.Fatalf("%d of the 2 late locks were released", stuck.unlocks.Load())
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// TestConditionalMarkerUpdates has writers on several instances race on a
// ConditionalStorage: no lock is ever taken, no change is lost from the
// marker, and followers see every change without a full reconciliation.
func TestConditionalMarkerUpdates(t *testing.T) {
	const instances, writers = 3, 5
	cs := newCondStorage(t)
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = newTestStore(t, cs, Options{})
		mustLoad(t, stores[i])
	}
	follower := newTestStore(t, cs, Options{})
	mustLoad(t, follower)
	var wg sync.WaitGroup
	for i, s := range stores {
		for w := range writers {
			wg.Go(func() {
				bucket := fmt.Sprintf("bucket-%d-%d", i, w)
				if _, err := s.Put(context.Background(), bucket, corsConfig(t, "https://"+bucket+".example.com"), "AKIDTEST"); err != nil {
					t.Errorf("Put(%s): %v", bucket, err)
				}
			})
		}
	}
	wg.Wait()
	m, err := follower.readMarker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != instances*writers {
		t.Fatalf("marker sequence = %d, want %d: changes were lost or repeated", m.Seq, instances*writers)
	}
	mustSync(t, follower)
	if got := len(follower.Buckets()); got != instances*writers || follower.Stats().FullSyncs != 1 {
		t.Fatalf("follower serves %d buckets after %d full syncs, want %d after only the initial load", got, follower.Stats().FullSyncs, instances*writers)
	}
}

// TestConditionalMarkerRetries makes another writer change the marker
// between each read and the compare-and-swap once: the update is retried
// and both changes survive.
func TestConditionalMarkerRetries(t *testing.T) {
	cs := newCondStorage(t)
	s := newTestStore(t, cs, Options{})
	other := newTestStore(t, cs, Options{})
	follower := newTestStore(t, cs, Options{})
	mustLoad(t, follower)
	var interfered atomic.Bool
	cs.beforeStoreIf = func(key string) {
		if key == s.markerKey && interfered.CompareAndSwap(false, true) {
			mustPut(t, other, "assets", "https://other.example.com")
		}
	}
	mustPut(t, s, "photos", "https://app.example.com")
	if cs.conflicts.Load() != 1 {
		t.Fatalf("%d conditional writes failed, want the one the other writer caused", cs.conflicts.Load())
	}
	mustSync(t, follower)
	if follower.Lookup("photos").Live == nil || follower.Lookup("assets").Live == nil || follower.Stats().FullSyncs != 1 {
		t.Fatalf("follower: photos=%v assets=%v, %+v", follower.Lookup("photos").Live, follower.Lookup("assets").Live, follower.Stats())
	}
}

// TestConditionalMarkerFailure checks that a storage error other than a
// failed condition fails the marker update instead of being retried.
func TestConditionalMarkerFailure(t *testing.T) {
	cs := newCondStorage(t)
	s := newTestStore(t, cs, Options{})
	errBroken := errors.New("broken")
	err := s.swapMarker(context.Background(), failingStoreIf{cs, errBroken}, []change{{Bucket: "photos", Token: newID()}})
	if !errors.Is(err, errBroken) {
		t.Fatalf("swapMarker = %v, want the storage's error", err)
	}
}

type failingStoreIf struct {
	*condStorage
	err error
}

func (f failingStoreIf) StoreIf(context.Context, string, []byte, string) (string, error) {
	return "", f.err
}
