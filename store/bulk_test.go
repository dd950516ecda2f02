package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

func items(t testing.TB, n int) []Item {
	t.Helper()
	list := make([]Item, n)
	for i := range list {
		bucket := fmt.Sprintf("bucket-%04d", i)
		list[i] = Item{Bucket: bucket, Config: corsConfig(t, "https://"+bucket+".example.com")}
	}
	return list
}

// TestPutMany stores a batch, small and large, and checks what Put would
// give for each bucket, the progress calls, and what the change costs other
// instances: the batch key and one read per record, and nothing at all for
// the instance that wrote it.
func TestPutMany(t *testing.T) {
	for _, n := range []int{batchInline, 3 * batchInline} {
		t.Run(fmt.Sprintf("items=%d", n), func(t *testing.T) {
			fsys := fileStorage(t)
			counted := newFaultStorage(fsys)
			follower := newTestStore(t, counted, Options{})
			mustLoad(t, follower)
			s := newTestStore(t, fsys, Options{})
			mustLoad(t, s)
			var calls []int
			stored, err := s.PutMany(context.Background(), items(t, n), "importer", func(done, total int) {
				if total != n {
					t.Errorf("progress total = %d, want %d", total, n)
				}
				calls = append(calls, done)
			})
			if err != nil || stored != n {
				t.Fatalf("PutMany = %d, %v", stored, err)
			}
			if len(calls) != n || calls[0] != 1 || calls[n-1] != n {
				t.Fatalf("progress calls %v, want 1..%d", calls, n)
			}
			for i := 1; i < len(calls); i++ {
				if calls[i] != calls[i-1]+1 {
					t.Fatalf("progress calls out of order: %v", calls)
				}
			}
			m, err := s.readMarker(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantSeq := uint64(n)
			if n > batchInline {
				wantSeq = 1
			}
			if m.Seq != wantSeq {
				t.Fatalf("marker sequence %d after one PutMany of %d, want %d", m.Seq, n, wantSeq)
			}

			counted.loads.Store(0)
			counted.lists.Store(0)
			mustSync(t, follower)
			wantLoads := int64(1 + n) // marker, records
			if n > batchInline {
				wantLoads++ // the batch key
			}
			if got := counted.loads.Load(); got != wantLoads || counted.lists.Load() != 0 {
				t.Fatalf("follower's poll made %d loads and %d lists, want %d and 0", got, counted.lists.Load(), wantLoads)
			}
			for _, it := range items(t, n) {
				rec, ok := follower.Get(it.Bucket)
				if !ok || rec.Document != string(it.Config.Marshal()) || rec.UpdatedBy != "importer" {
					t.Fatalf("follower has %s = %+v, %v", it.Bucket, rec, ok)
				}
				if own, _ := s.Get(it.Bucket); !own.same(rec) {
					t.Fatalf("writer and follower disagree on %s", it.Bucket)
				}
			}

			// The writer does not reload its own batch.
			countedWriter := newFaultStorage(fsys)
			s.storage = countedWriter
			mustSync(t, s)
			if got := countedWriter.loads.Load(); got != 1 {
				t.Fatalf("the writer's poll made %d loads, want 1 (the marker)", got)
			}
		})
	}
}

// TestPutManyValidatesFirst gives a batch with bad items among good ones:
// each bad one is reported, in order, and nothing is stored.
func TestPutManyValidatesFirst(t *testing.T) {
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	list := items(t, 6)
	list[1].Bucket = "ab"
	list[3].Bucket = list[0].Bucket
	list[4].Config = nil
	list[5].Config = &cors.Configuration{}
	stored, err := s.PutMany(context.Background(), list, "importer", func(int, int) { t.Error("progress called for an invalid batch") })
	var invalid *InvalidItemsError
	if stored != 0 || !errors.As(err, &invalid) {
		t.Fatalf("PutMany = %d, %v; want an *InvalidItemsError", stored, err)
	}
	var got []int
	for _, it := range invalid.Items {
		got = append(got, it.Index)
	}
	if fmt.Sprint(got) != "[1 3 4 5]" {
		t.Fatalf("invalid items %v, want [1 3 4 5]: %v", got, err)
	}
	if !errors.Is(invalid.Items[0], ErrInvalidBucket) || !strings.Contains(invalid.Items[1].Error(), "given twice, first as item 0") {
		t.Fatalf("reasons: %v", err)
	}
	var ce *cors.Error
	if !errors.As(invalid.Items[3], &ce) || ce.Code != cors.CodeMalformedXML {
		t.Fatalf("an empty configuration is refused with %v, want S3's MalformedXML", invalid.Items[3].Err)
	}
	if keys, _ := fsys.List(context.Background(), DefaultPrefix, true); len(keys) != 0 {
		t.Fatalf("an invalid batch left keys in storage: %v", keys)
	}
}

// TestPutManyStorageFailure fails storage part way: PutMany reports how
// many items it stored, and those are announced to the other instances.
func TestPutManyStorageFailure(t *testing.T) {
	fsys := fileStorage(t)
	faulty := newFaultStorage(fsys)
	s := newTestStore(t, faulty, Options{WriteConcurrency: 1})
	follower := newTestStore(t, fsys, Options{})
	mustLoad(t, follower)
	var records int
	faulty.afterStore(func(key string) {
		if strings.HasPrefix(key, s.bucketsDir+"/") {
			if records++; records == 30 {
				faulty.failing.Store(true)
			}
		}
	})
	stored, err := s.PutMany(context.Background(), items(t, 50), "importer", nil)
	if !errors.Is(err, errInjected) || stored != 30 {
		t.Fatalf("PutMany = %d, %v; want 30 and the storage error", stored, err)
	}
	mustSync(t, follower)
	if got := len(follower.Buckets()); got != 0 {
		t.Fatalf("follower serves %d buckets before any announcement could be made", got)
	}
	// The failure also hit the announcement; the next write makes it.
	faulty.failing.Store(false)
	mustPut(t, s, "other", "https://app.example.com")
	mustSync(t, follower)
	if got := len(follower.Buckets()); got != 31 || follower.Stats().FullSyncs != 1 {
		t.Fatalf("follower serves %d buckets after %d full syncs, want the 30 stored and one more, without a full sync", got, follower.Stats().FullSyncs)
	}
}
