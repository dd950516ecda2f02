package bench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/internal/memstorage"
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
			d := s.Lookup(bucketName(i)).Live.Preflight(cors.Request{Origin: fmt.Sprintf("https://app-%d.example.com", i), Method: "OPTIONS", RequestMethod: "PUT", HasRequestMethod: true})
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
			storage := memstorage.New()
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
		storage := memstorage.New()
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

var (
	storeBuckets = flag.Int("store-buckets", 10_000, "the large number of buckets of the store benchmarks; the baseline has 1,000 (100,000 for the figures in BENCHMARKS.md)")
	putSamples   = flag.Int("store-put-samples", 1000, "PUTs timed at each size by BenchmarkStorePut")
)

// baselineBuckets is the small size every store figure is a ratio to.
const baselineBuckets = 1000

// fileStore is a store on the file system storage in a temporary directory
// (or on a memory storage when dir is ""), filled by PutMany with n
// single-rule buckets, each with its own origin.
type fileStore struct {
	dir   string
	s     *store.Store
	n     int
	taken time.Duration // by PutMany
}

func items(n int) []store.Item {
	list := make([]store.Item, n)
	for i := range list {
		list[i] = store.Item{Bucket: bucketName(i), Config: bucketConfig(i)}
	}
	return list
}

func newFileStore(dir string, n int) (*fileStore, error) {
	var storage certmagic.Storage = memstorage.New()
	if dir != "" {
		storage = &certmagic.FileStorage{Path: dir}
	}
	s := store.New(storage, store.Options{Logger: zap.NewNop()})
	list := items(n)
	start := time.Now()
	if stored, err := s.PutMany(context.Background(), list, "AKIDBENCH", nil); err != nil || stored != n {
		return nil, fmt.Errorf("PutMany stored %d of %d: %v", stored, n, err)
	}
	return &fileStore{dir: dir, s: s, n: n, taken: time.Since(start)}, nil
}

// sizes builds the baseline and the large store under root.
func sizes(root string) (small, large *fileStore, err error) {
	if small, err = newFileStore(filepath.Join(root, "small"), baselineBuckets); err != nil {
		return nil, nil, err
	}
	large, err = newFileStore(filepath.Join(root, "large"), *storeBuckets)
	return small, large, err
}

// fileStores are the baseline and the large store, built once per run and
// shared by the benchmarks that read them.
var fileStores = sync.OnceValues(func() ([2]*fileStore, error) {
	root, err := os.MkdirTemp("", "s3cors-store-bench-")
	if err != nil {
		return [2]*fileStore{}, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(root) })
	small, large, err := sizes(root)
	return [2]*fileStore{small, large}, err
})

func sharedFileStores(b *testing.B) (small, large *fileStore) {
	b.Helper()
	fs, err := fileStores()
	if err != nil {
		b.Fatal(err)
	}
	return fs[0], fs[1]
}

// memStores are the baseline and the large store on memory storages.
var memStores = sync.OnceValues(func() ([2]*fileStore, error) {
	small, err := newFileStore("", baselineBuckets)
	if err != nil {
		return [2]*fileStore{}, err
	}
	large, err := newFileStore("", *storeBuckets)
	return [2]*fileStore{small, large}, err
})

// cleanups run when the benchmarks are done (TestMain).
var cleanups []func()

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
}

// BenchmarkStorePut times single PUTs (Store.Put, each a new document for
// an existing bucket) on a store with 1,000 buckets and on one with
// -store-buckets, alternating between the two so that both see the same
// load, and reports the p50 and p99 of each and their ratios (large /
// baseline): on the file system storage, where fsync dominates, and on a
// memory storage, which leaves only the store's own work.
func BenchmarkStorePut(b *testing.B) {
	b.Run("storage=file", func(b *testing.B) {
		small, large := sharedFileStores(b)
		benchmarkPut(b, small, large)
	})
	b.Run("storage=memory", func(b *testing.B) {
		fs, err := memStores()
		if err != nil {
			b.Fatal(err)
		}
		benchmarkPut(b, fs[0], fs[1])
	})
}

func benchmarkPut(b *testing.B, small, large *fileStore) {
	ctx := context.Background()
	put := func(fs *fileStore, i int) time.Duration {
		// A new document for the bucket, still allowing its own origin.
		n := rand.IntN(fs.n)
		bucket, cfg := bucketName(n), bucketConfig(n)
		maxAge := i
		cfg.Rules[0].MaxAgeSeconds = &maxAge
		start := time.Now()
		if _, err := fs.s.Put(ctx, bucket, cfg, "AKIDBENCH"); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for b.Loop() {
		var ts, tl []time.Duration
		for i := range *putSamples {
			if i%2 == 0 {
				ts = append(ts, put(small, i))
				tl = append(tl, put(large, i))
			} else {
				tl = append(tl, put(large, i))
				ts = append(ts, put(small, i))
			}
		}
		slices.Sort(ts)
		slices.Sort(tl)
		p50s, p99s, p50l, p99l := percentile(ts, 0.50), percentile(ts, 0.99), percentile(tl, 0.50), percentile(tl, 0.99)
		b.ReportMetric(float64(p50s.Microseconds()), "p50-base-µs")
		b.ReportMetric(float64(p99s.Microseconds()), "p99-base-µs")
		b.ReportMetric(float64(p50l.Microseconds()), "p50-large-µs")
		b.ReportMetric(float64(p99l.Microseconds()), "p99-large-µs")
		b.ReportMetric(float64(p50l)/float64(p50s), "p50-ratio")
		b.ReportMetric(float64(p99l)/float64(p99s), "p99-ratio")
	}
}

// BenchmarkStoreColdStart is a restart: a new store loads every record the
// large store holds from the file system storage, then every bucket's
// preflight is checked (allowed for its own origin, refused for another's).
// It reports the seconds until the store serves, and the ratio to the same
// at 1,000 buckets per bucket.
func BenchmarkStoreColdStart(b *testing.B) {
	small, large := sharedFileStores(b)
	load := func(fs *fileStore) time.Duration {
		s := store.New(&certmagic.FileStorage{Path: fs.dir}, store.Options{Logger: zap.NewNop()})
		start := time.Now()
		if err := s.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		taken := time.Since(start)
		for i := range fs.n {
			p := s.Lookup(bucketName(i)).Live
			own := p.Preflight(cors.Request{Origin: fmt.Sprintf("https://app-%d.example.com", i), Method: "OPTIONS", RequestMethod: "PUT", HasRequestMethod: true})
			other := p.Preflight(cors.Request{Origin: fmt.Sprintf("https://app-%d.example.com", i+1), Method: "OPTIONS", RequestMethod: "PUT", HasRequestMethod: true})
			if !own.Allowed() || other.Allowed() {
				b.Fatalf("after a cold start, bucket %d decides %v for its origin and %v for another", i, own.Outcome(), other.Outcome())
			}
		}
		return taken
	}
	for b.Loop() {
		ts, tl := load(small), load(large)
		b.ReportMetric(tl.Seconds(), "s-large")
		b.ReportMetric(ts.Seconds(), "s-base")
		b.ReportMetric((tl.Seconds()/float64(large.n))/(ts.Seconds()/float64(small.n)), "per-bucket-ratio")
	}
}

// BenchmarkStorePutMany is a bulk load: PutMany of -store-buckets
// configurations into an empty file system storage, as `caddy s3-cors
// import` does. It reports the seconds it took, and the time per bucket as
// a ratio to a bulk load of 1,000.
func BenchmarkStorePutMany(b *testing.B) {
	for b.Loop() {
		base, big, err := sizes(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(big.taken.Seconds(), "s-large")
		b.ReportMetric((big.taken.Seconds()/float64(big.n))/(base.taken.Seconds()/float64(base.n)), "per-bucket-ratio")
	}
}

// BenchmarkStoreLookup is the hot path of every request: Store.Lookup among
// -store-buckets buckets, in scattered order, against a bare map of the same
// policies (impl=map, the floor: the policy pointer sits in the map itself)
// and a map of one small struct per bucket holding its policy (impl=entries,
// the layout of a store that keeps anything per bucket besides the policy,
// as the store before the lock-free table did). The maps' keys are copies of
// the names looked up, as a request's bucket name is a string of its own.
func BenchmarkStoreLookup(b *testing.B) {
	n := *storeBuckets
	s := store.New(memstorage.New(), store.Options{Logger: zap.NewNop()})
	if _, err := s.PutMany(context.Background(), items(n), "AKIDBENCH", nil); err != nil {
		b.Fatal(err)
	}
	type bucketEntry struct {
		policy  *cors.Policy
		version string
	}
	bare := make(map[string]*cors.Policy, n)
	entries := make(map[string]*bucketEntry, n)
	names := make([]string, n)
	for i := range names {
		names[i] = bucketName(i)
		bare[strings.Clone(names[i])] = s.Lookup(names[i]).Live
		entries[strings.Clone(names[i])] = &bucketEntry{policy: s.Lookup(names[i]).Live}
	}
	rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink = s.Lookup(names[i]).Live
			if i++; i == len(names) {
				i = 0
			}
		}
	})
	b.Run("impl=map", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink = bare[names[i]]
			if i++; i == len(names) {
				i = 0
			}
		}
	})
	b.Run("impl=entries", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if e := entries[names[i]]; e != nil {
				sink = e.policy
			}
			if i++; i == len(names) {
				i = 0
			}
		}
	})
}
