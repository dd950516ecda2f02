package bench

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"testing"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

var storeHeapBuckets = flag.Int("store-heap-buckets", 10_000, "how many buckets BenchmarkStoreHeap configures")

func bucketName(i int) string { return fmt.Sprintf("bucket-%06d", i) }

// liveHeap is the live heap after a collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkStoreHeap is the live heap a running store.Store holds per
// configured bucket: n single-rule buckets, each with its own origin (the
// configuration of BenchmarkBuckets), stored through Put (put) or read by
// Load from a storage that another store filled (load). What the in-memory
// storage itself holds is measured apart and left out.
func BenchmarkStoreHeap(b *testing.B) {
	n := *storeHeapBuckets
	ctx := context.Background()
	put := func(s *store.Store) {
		for i := range n {
			if _, err := s.Put(ctx, bucketName(i), bucketConfig(i), "AKIDBENCH"); err != nil {
				b.Fatal(err)
			}
		}
	}
	check := func(s *store.Store) {
		for _, i := range []int{0, n / 2, n - 1} {
			d := s.Lookup(bucketName(i)).Preflight(cors.Request{Origin: fmt.Sprintf("https://app-%d.example.com", i), Method: "OPTIONS", RequestMethod: "PUT", HasRequestMethod: true})
			if !d.Allowed() {
				b.Fatalf("bucket %d refuses its own origin: %v", i, d.Outcome())
			}
		}
		if got := s.Stats().Buckets; got != n {
			b.Fatalf("store holds %d buckets, want %d", got, n)
		}
	}
	b.Run("via=put", func(b *testing.B) {
		var perBucket float64
		for b.Loop() {
			storage := newMemStorage()
			s := store.New(storage, store.Options{Logger: zap.NewNop()})
			put(s)
			// A running store polls; the poll also forgets the local
			// writes it tracks between polls.
			if err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			check(s)
			withStore := liveHeap()
			runtime.KeepAlive(s)
			s = nil
			storageOnly := liveHeap()
			runtime.KeepAlive(storage)
			perBucket = (float64(withStore) - float64(storageOnly)) / float64(n)
		}
		b.ReportMetric(perBucket, "B/bucket")
	})
	b.Run("via=load", func(b *testing.B) {
		storage := newMemStorage()
		put(store.New(storage, store.Options{Logger: zap.NewNop()}))
		var perBucket float64
		for b.Loop() {
			base := liveHeap()
			s := store.New(storage, store.Options{Logger: zap.NewNop()})
			if err := s.Load(ctx); err != nil {
				b.Fatal(err)
			}
			check(s)
			perBucket = (float64(liveHeap()) - float64(base)) / float64(n)
			runtime.KeepAlive(s)
		}
		b.ReportMetric(perBucket, "B/bucket")
	})
}
