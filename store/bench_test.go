package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
)

// seedRecords writes n bucket records straight into storage, with one shared
// document or a distinct one per bucket.
func seedRecords(b *testing.B, storage *memStorage, n int, shared bool) {
	b.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := canonical(b, "https://shared.example.com")
	for i := range n {
		bucket := fmt.Sprintf("bucket-%06d", i)
		if !shared {
			doc = canonical(b, fmt.Sprintf("https://app-%d.example.com", i))
		}
		data, err := encodeRecord(Record{Bucket: bucket, Document: doc, Version: newID(), UpdatedAt: at, UpdatedBy: "AKIDBENCH"})
		if err != nil {
			b.Fatal(err)
		}
		if err := storage.Store(context.Background(), "s3_cors/buckets/"+bucket+".json", data); err != nil {
			b.Fatal(err)
		}
	}
}

func loadedStore(b *testing.B, n int, shared bool) (*Store, *memStorage) {
	b.Helper()
	storage := newMemStorage()
	seedRecords(b, storage, n, shared)
	s := New(storage, Options{Logger: zap.NewNop()})
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	if got := len(s.Buckets()); got != n {
		b.Fatalf("loaded %d buckets, want %d", got, n)
	}
	return s, storage
}

func BenchmarkLookup(b *testing.B) {
	s, _ := loadedStore(b, 100_000, true)
	for _, bucket := range []string{"bucket-050000", "no-such-bucket"} {
		b.Run(bucket, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if (s.Lookup(bucket) == nil) != (bucket == "no-such-bucket") {
					b.Fatal("wrong lookup result")
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if s.Lookup("bucket-050000") == nil {
					b.Error("missing bucket")
					return
				}
			}
		})
	})
}

// BenchmarkPut measures a Put on an in-memory storage, so the snapshot
// copy shows: the difference between sizes is the cost of copying the
// bucket map, which every write pays.
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{1, 10_000, 100_000} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			s, _ := loadedStore(b, n, true)
			one, two := corsConfig(b, "https://one.example.com"), corsConfig(b, "https://two.example.com")
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				cfg := one
				if i%2 == 1 {
					cfg = two
				}
				i++
				if _, err := s.Put(ctx, "bucket-000000", cfg, "AKIDBENCH"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSnapshotSwap isolates the copy-on-write of the bucket map.
func BenchmarkSnapshotSwap(b *testing.B) {
	for _, n := range []int{1, 10_000, 100_000} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			s, _ := loadedStore(b, n, true)
			rec, _ := s.Get("bucket-000000")
			p := s.Lookup("bucket-000000")
			b.ReportAllocs()
			for b.Loop() {
				s.install("bucket-000000", newEntry(rec, p), digestOf([]byte(rec.Document)))
			}
		})
	}
}

// BenchmarkLoad measures a full reconciliation of 100k buckets from an
// in-memory storage, and reports the memory a loaded store holds per
// bucket when all buckets share one document and when each has its own.
func BenchmarkLoad(b *testing.B) {
	const n = 100_000
	for _, shared := range []bool{true, false} {
		b.Run(fmt.Sprintf("buckets=%d/shared=%v", n, shared), func(b *testing.B) {
			storage := newMemStorage()
			seedRecords(b, storage, n, shared)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s := New(storage, Options{Logger: zap.NewNop()})
			if err := s.Load(context.Background()); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perBucket := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
			policies := s.Stats().Policies
			runtime.KeepAlive(s)

			for b.Loop() {
				fresh := New(storage, Options{Logger: zap.NewNop()})
				if err := fresh.Load(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			// Reported after the loop, which would discard them.
			b.ReportMetric(perBucket, "heap-B/bucket")
			b.ReportMetric(float64(policies), "policies")
		})
	}
}

// BenchmarkSyncIdle is the cost of one poll when nothing changed.
func BenchmarkSyncIdle(b *testing.B) {
	s, _ := loadedStore(b, 100_000, true)
	ctx := context.Background()
	if _, err := s.Put(ctx, "bucket-000000", corsConfig(b, "https://one.example.com"), "AKIDBENCH"); err != nil {
		b.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
