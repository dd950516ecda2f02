package store

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTableAgainstMap applies random puts and removes to a table and a map
// side by side and checks after each change that they agree. Weak hashes
// make probe sequences long and collide, and the key space makes the table
// grow, fill with tombstones and rebuild.
func TestTableAgainstMap(t *testing.T) {
	seed := maphash.MakeSeed()
	hashes := map[string]func(string) uint64{
		"maphash":   func(s string) uint64 { return maphash.String(seed, s) },
		"4 values":  func(s string) uint64 { return maphash.String(seed, s) & 3 },
		"one value": func(string) uint64 { return 7 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var tb table
			want := map[string]*entry{}
			for step := range 4000 {
				key := fmt.Sprintf("bucket-%d", rng.IntN(300))
				h := hash(key)
				if rng.IntN(3) == 0 {
					got := tb.remove(h, key)
					if got != want[key] {
						t.Fatalf("step %d: remove(%s) = %v, want %v", step, key, got, want[key])
					}
					delete(want, key)
				} else {
					e := &entry{name: key}
					if old := tb.put(h, e, hash); old != want[key] {
						t.Fatalf("step %d: put(%s) replaced %v, want %v", step, key, old, want[key])
					}
					want[key] = e
				}
				if tb.len() != len(want) {
					t.Fatalf("step %d: len %d, want %d", step, tb.len(), len(want))
				}
				if step%10 != 0 {
					continue
				}
				for k, e := range want {
					if got := tb.get(hash(k), k); got != e {
						t.Fatalf("step %d: get(%s) = %v, want %v", step, k, got, e)
					}
				}
				if got := tb.get(hash("absent"), "absent"); got != nil {
					t.Fatalf("step %d: get of an absent name = %v", step, got)
				}
				seen := map[string]bool{}
				tb.each(func(e *entry) bool {
					if seen[e.name] || want[e.name] != e {
						t.Fatalf("step %d: each visits %s twice or stale", step, e.name)
					}
					seen[e.name] = true
					return true
				})
				if len(seen) != len(want) {
					t.Fatalf("step %d: each visits %d entries, want %d", step, len(seen), len(want))
				}
				if n := len(*tb.cur.Load()); 4*tb.used > 3*n {
					t.Fatalf("step %d: %d of %d slots used", step, tb.used, n)
				}
			}
		})
	}
}

// TestTableReadersDuringWrites runs readers against a writer under -race:
// a bucket that is never removed is always found, whole, and no lookup
// returns another bucket's entry, while the table grows and rebuilds.
func TestTableReadersDuringWrites(t *testing.T) {
	seed := maphash.MakeSeed()
	hash := func(s string) uint64 { return maphash.String(seed, s) }
	var tb table
	stable := &entry{name: "stable"}
	tb.put(hash("stable"), stable, hash)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if tb.get(hash("stable"), "stable") != stable {
					t.Error("a reader missed the stable bucket")
					return
				}
				key := fmt.Sprintf("churn-%d", (i*7+r)%500)
				if e := tb.get(hash(key), key); e != nil && e.name != key {
					t.Errorf("get(%s) returned %s", key, e.name)
					return
				}
			}
		})
	}
	for i := range 20000 {
		key := fmt.Sprintf("churn-%d", i%500)
		if i%3 == 0 {
			tb.remove(hash(key), key)
		} else {
			tb.put(hash(key), &entry{name: key}, hash)
		}
	}
	stop.Store(true)
	wg.Wait()
}
