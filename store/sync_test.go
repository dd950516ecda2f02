package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestInstancesConverge(t *testing.T) {
	type step struct {
		instance int
		bucket   string
		origin   string // "" deletes
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"puts on different instances", []step{
			{0, "photos", "https://a.example.com"},
			{1, "assets", "https://b.example.com"},
			{2, "videos", "https://c.example.com"},
		}},
		{"overwrites across instances", []step{
			{0, "photos", "https://a.example.com"},
			{1, "photos", "https://b.example.com"},
			{2, "photos", "https://c.example.com"},
			{0, "assets", "https://c.example.com"},
		}},
		{"delete elsewhere", []step{
			{0, "photos", "https://a.example.com"},
			{0, "assets", "https://a.example.com"},
			{1, "photos", ""},
		}},
		{"delete then recreate", []step{
			{0, "photos", "https://a.example.com"},
			{1, "photos", ""},
			{2, "photos", "https://c.example.com"},
			{1, "assets", ""},
		}},
	}
	for _, tt := range tests {
		for _, syncEach := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sync each step %v", tt.name, syncEach), func(t *testing.T) {
				fsys := fileStorage(t)
				stores := make([]*Store, 3)
				for i := range stores {
					stores[i] = newTestStore(t, fsys, Options{})
					mustLoad(t, stores[i])
				}
				want := map[string]string{}
				for _, st := range tt.steps {
					s := stores[st.instance]
					if st.origin == "" {
						if _, err := s.Delete(context.Background(), st.bucket, "admin"); err != nil {
							t.Fatal(err)
						}
						delete(want, st.bucket)
					} else {
						mustPut(t, s, st.bucket, st.origin)
						want[st.bucket] = canonical(t, st.origin)
					}
					if syncEach {
						for _, s := range stores {
							mustSync(t, s)
						}
					}
				}
				for _, s := range stores {
					mustSync(t, s)
				}
				for i, s := range stores {
					if got := stateString(state(s)); got != stateString(want) {
						t.Errorf("instance %d serves:\n%s\nwant:\n%s", i, got, stateString(want))
					}
					if st := s.Stats(); st.FullSyncs != 1 {
						t.Errorf("instance %d made %d full syncs, want only the initial load", i, st.FullSyncs)
					}
				}
			})
		}
	}
}

func TestConcurrentPutsToOneBucket(t *testing.T) {
	const instances, writers = 3, 3
	fsys := fileStorage(t)
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = newTestStore(t, fsys, Options{})
		mustLoad(t, stores[i])
	}
	written := map[string]bool{}
	var wg sync.WaitGroup
	for i, s := range stores {
		for w := range writers {
			origin := fmt.Sprintf("https://writer-%d-%d.example.com", i, w)
			written[canonical(t, origin)] = true
			cfg := corsConfig(t, origin)
			wg.Go(func() {
				if _, err := s.Put(context.Background(), "photos", cfg, "AKIDTEST"); err != nil {
					t.Errorf("Put: %v", err)
				}
			})
		}
	}
	wg.Wait()

	data, err := fsys.Load(context.Background(), "s3_cors/buckets/photos.json")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := decodeRecord("photos", data)
	if err != nil {
		t.Fatalf("the stored record is not whole: %v\n%s", err, data)
	}
	if !written[stored.Document] {
		t.Fatalf("storage holds a document nobody wrote:\n%s", stored.Document)
	}
	for i, s := range stores {
		mustSync(t, s)
		rec, ok := s.Get("photos")
		if !ok || !rec.same(stored) {
			t.Errorf("instance %d has %+v, storage has %+v", i, rec, stored)
		}
		if got := policyDoc(s.Lookup("photos").Live); got != stored.Document {
			t.Errorf("instance %d serves %q, storage has %q", i, got, stored.Document)
		}
	}
	// With the file system storage's lock every change reached the journal.
	var m marker
	mdata, err := fsys.Load(context.Background(), "s3_cors/marker.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mdata, &m); err != nil {
		t.Fatal(err)
	}
	if m.Seq != instances*writers {
		t.Errorf("marker sequence = %d, want %d", m.Seq, instances*writers)
	}
}

func TestSyncIsCheapWhenNothingChanged(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	for _, b := range []string{"aa1", "aa2", "aa3", "aa4"} {
		mustPut(t, writer, b, "https://app.example.com")
	}
	counted := newFaultStorage(fsys)
	s := newTestStore(t, counted, Options{})
	mustLoad(t, s)

	counted.loads.Store(0)
	counted.lists.Store(0)
	mustSync(t, s)
	mustSync(t, s)
	if loads, lists := counted.loads.Load(), counted.lists.Load(); loads != 2 || lists != 0 {
		t.Fatalf("two idle polls made %d loads and %d lists, want 2 and 0", loads, lists)
	}

	mustPut(t, writer, "aa2", "https://changed.example.com")
	counted.loads.Store(0)
	mustSync(t, s)
	if loads, lists := counted.loads.Load(), counted.lists.Load(); loads != 2 || lists != 0 {
		t.Fatalf("a poll after one change made %d loads and %d lists, want 2 (marker, record) and 0", loads, lists)
	}
	if got := policyDoc(s.Lookup("aa2").Live); got != canonical(t, "https://changed.example.com") {
		t.Fatalf("a2 = %q", got)
	}
}

func TestStorageFailureKeepsServing(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	faulty := newFaultStorage(fsys)
	s := newTestStore(t, faulty, Options{})
	mustPut(t, writer, "photos", "https://old.example.com")
	mustLoad(t, s)

	faulty.failing.Store(true)
	mustPut(t, writer, "photos", "https://new.example.com")
	mustPut(t, writer, "assets", "https://new.example.com")
	for range 3 {
		if err := s.Sync(context.Background()); !errors.Is(err, errInjected) {
			t.Fatalf("Sync with failing storage = %v, want the storage error", err)
		}
	}
	if err := s.Load(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Load with failing storage = %v, want the storage error", err)
	}
	if got := policyDoc(s.Lookup("photos").Live); got != canonical(t, "https://old.example.com") {
		t.Fatalf("while storage fails, photos = %q, want the last good configuration", got)
	}
	st := s.Stats()
	if st.ConsecutiveErrors != 4 || st.SyncErrors != 4 || !errors.Is(st.LastError, errInjected) || st.LastErrorTime.IsZero() {
		t.Fatalf("Stats while failing = %+v", st)
	}
	data, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(data), `"last_error":"`) || !strings.Contains(string(data), errInjected.Error()) {
		t.Fatalf("Stats as JSON = %s, %v; want the error message under last_error", data, err)
	}

	// Writes fail cleanly and change nothing.
	if _, err := s.Put(context.Background(), "photos", corsConfig(t, "https://lost.example.com"), "admin"); !errors.Is(err, errInjected) {
		t.Fatalf("Put with failing storage = %v", err)
	}
	if _, err := s.Delete(context.Background(), "photos", "admin"); !errors.Is(err, errInjected) {
		t.Fatalf("Delete with failing storage = %v", err)
	}
	if got := policyDoc(s.Lookup("photos").Live); got != canonical(t, "https://old.example.com") {
		t.Fatalf("after failed writes, photos = %q", got)
	}

	faulty.failing.Store(false)
	mustSync(t, s)
	if got, want := stateString(state(s)), stateString(state(writer)); got != want {
		t.Fatalf("after recovery:\n%s\nwant:\n%s", got, want)
	}
	st = s.Stats()
	if st.ConsecutiveErrors != 0 || st.LastError != nil || st.LastErrorTime.IsZero() || st.MarkerSequence != 3 || st.SyncErrors != 4 {
		t.Fatalf("Stats after recovery = %+v", st)
	}
	if data, _ := json.Marshal(st); strings.Contains(string(data), "last_error\"") {
		t.Fatalf("Stats as JSON after recovery still has an error: %s", data)
	}
}

func TestFirstLoadFailureIsRetriedBySync(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	mustPut(t, writer, "photos", "https://app.example.com")
	faulty := newFaultStorage(fsys)
	faulty.failing.Store(true)
	s := newTestStore(t, faulty, Options{})
	if err := s.Load(context.Background()); err == nil {
		t.Fatal("Load with failing storage succeeded")
	}
	if s.Lookup("photos").Live != nil || s.Stats().Loaded {
		t.Fatal("a failed first load left something behind")
	}
	faulty.failing.Store(false)
	mustSync(t, s)
	if got := policyDoc(s.Lookup("photos").Live); got != canonical(t, "https://app.example.com") {
		t.Fatalf("after the retry, photos = %q", got)
	}
	if st := s.Stats(); !st.Loaded || st.FullSyncs != 2 {
		t.Fatalf("Stats = %+v, want loaded after two full attempts", st)
	}
}

func TestJournalOverflowConverges(t *testing.T) {
	tests := []struct {
		name     string
		writes   int
		wantFull bool
	}{
		{"one change", 1, false},
		{"as many as the journal holds besides the seen entry", 3, false},
		{"as many as the journal holds", 4, true},
		{"far beyond the journal", 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fileStorage(t)
			opts := Options{JournalSize: 4}
			writer := newTestStore(t, fsys, opts)
			s := newTestStore(t, fsys, opts)
			mustPut(t, writer, "seed", "https://seed.example.com")
			mustLoad(t, s)
			for i := range tt.writes {
				b := fmt.Sprintf("bkt%d", i%7)
				if i%5 == 4 {
					if _, err := writer.Delete(context.Background(), "seed", "admin"); err != nil {
						t.Fatal(err)
					}
					continue
				}
				mustPut(t, writer, b, fmt.Sprintf("https://%d.example.com", i))
			}
			before := s.Stats().FullSyncs
			mustSync(t, s)
			if got := s.Stats().FullSyncs - before; (got == 1) != tt.wantFull {
				t.Fatalf("full syncs = %d, want full=%v", got, tt.wantFull)
			}
			if got, want := stateString(state(s)), stateString(state(writer)); got != want {
				t.Fatalf("follower serves:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestLostMarkerUpdateConverges(t *testing.T) {
	fsys := fileStorage(t)
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	lossy := newFaultStorage(fsys)
	writer := newTestStore(t, lossy, Options{})
	s := newTestStore(t, fsys, Options{FullSyncInterval: time.Minute})
	s.now = clock.now
	mustPut(t, writer, "photos", "https://one.example.com")
	mustLoad(t, s)

	lossy.dropMarker.Store(true)
	mustPut(t, writer, "photos", "https://two.example.com")
	mustPut(t, writer, "assets", "https://two.example.com")
	if _, err := writer.Delete(context.Background(), "photos", "admin"); err != nil {
		t.Fatal(err)
	}
	lossy.dropMarker.Store(false)

	mustSync(t, s)
	if got := stateString(state(s)); got != stateString(map[string]string{"photos": canonical(t, "https://one.example.com")}) {
		t.Fatalf("the changes reached the follower without any marker update:\n%s", got)
	}
	clock.advance(time.Minute)
	mustSync(t, s)
	if got, want := stateString(state(s)), stateString(state(writer)); got != want {
		t.Fatalf("after the full reconciliation:\n%s\nwant:\n%s", got, want)
	}
	if st := s.Stats(); st.FullSyncs != 2 {
		t.Fatalf("FullSyncs = %d, want 2", st.FullSyncs)
	}
}

// TestOverwrittenChangeIsAppendedAgain lets a concurrent writer replace
// the marker right after a Put wrote it: the Put must notice and append its
// change again, so other instances hear of it at their next poll.
func TestOverwrittenChangeIsAppendedAgain(t *testing.T) {
	fsys := fileStorage(t)
	racy := newFaultStorage(fsys)
	writer := newTestStore(t, racy, Options{})
	s := newTestStore(t, fsys, Options{})
	mustPut(t, writer, "photos", "https://app.example.com")
	mustLoad(t, s)

	var once sync.Once
	racy.afterStore(func(key string) {
		if key != racy.markerKey {
			return
		}
		once.Do(func() {
			// Another writer read the marker before this one wrote it,
			// and writes its own change on top.
			m, err := s.readMarker(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			prev := journalOf(1, 1)
			prev.Journal[0] = m.Journal[0]
			data, err := json.Marshal(appendedTo(prev, []change{{Token: "concurrent", Bucket: "videos"}}))
			if err != nil {
				t.Error(err)
				return
			}
			if err := fsys.Store(context.Background(), key, data); err != nil {
				t.Error(err)
			}
		})
	})
	mustPut(t, writer, "assets", "https://app.example.com")
	racy.afterStore(nil)

	mustSync(t, s)
	if got := policyDoc(s.Lookup("assets").Live); got != canonical(t, "https://app.example.com") {
		t.Fatalf("the follower missed the change whose marker entry was overwritten: assets = %q", got)
	}
	if st := s.Stats(); st.FullSyncs != 1 || st.MarkerSequence != 3 {
		t.Fatalf("Stats = %+v, want the change found by the journal (sequence 3) without a full sync", st)
	}
}

// TestOverwrittenMarkerIsNoticed covers marker states a poll cannot trust:
// the instance must fall back to a full reconciliation.
func TestOverwrittenMarkerIsNoticed(t *testing.T) {
	tests := []struct {
		name     string
		rewrite  func(m marker) marker // from the marker the follower saw
		wantFull bool
	}{
		{"next entry appended", func(m marker) marker {
			return appendedTo(m, []change{{Token: "tnext", Bucket: "assets"}})
		}, false},
		{"seen entry overwritten by a concurrent writer", func(m marker) marker {
			m.Journal[len(m.Journal)-1].Token = "tother"
			return appendedTo(m, []change{{Token: "tnext", Bucket: "assets"}})
		}, true},
		{"same sequence, different token", func(m marker) marker {
			m.Journal[len(m.Journal)-1].Token = "tother"
			return m
		}, true},
		{"sequence went back", func(marker) marker {
			return appendedTo(marker{}, []change{{Token: "tnew", Bucket: "assets"}})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fileStorage(t)
			writer := newTestStore(t, fsys, Options{})
			s := newTestStore(t, fsys, Options{})
			mustPut(t, writer, "photos", "https://app.example.com")
			mustPut(t, writer, "videos", "https://app.example.com")
			mustLoad(t, s)
			// The record changes, but the marker is rewritten by hand.
			writeFile(t, filepath.Join(fsys.Path, "s3_cors", "buckets", "assets.json"),
				`{"format":1,"bucket":"assets","document":`+jsonString(canonical(t, "https://assets.example.com"))+`,"version":"v"}`)
			seen, err := s.readMarker(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(tt.rewrite(seen))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(fsys.Path, "s3_cors", "marker.json"), string(data))

			mustSync(t, s)
			if got := s.Stats().FullSyncs; (got == 2) != tt.wantFull {
				t.Fatalf("FullSyncs = %d, want full=%v", got, tt.wantFull)
			}
			if got := policyDoc(s.Lookup("assets").Live); got != canonical(t, "https://assets.example.com") {
				t.Fatalf("assets = %q", got)
			}
		})
	}
}

func TestUnreadableMarker(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	s := newTestStore(t, fsys, Options{})
	mustPut(t, writer, "photos", "https://app.example.com")
	mustLoad(t, s)

	markerFile := filepath.Join(fsys.Path, "s3_cors", "marker.json")
	writeFile(t, markerFile, "garbage")
	writeFile(t, filepath.Join(fsys.Path, "s3_cors", "buckets", "assets.json"),
		`{"format":1,"bucket":"assets","document":`+jsonString(canonical(t, "https://assets.example.com"))+`,"version":"v"}`)
	mustSync(t, s)
	if st := s.Stats(); st.FullSyncs != 2 || s.Lookup("assets").Live == nil {
		t.Fatalf("a broken marker did not cause a full reconciliation: %+v", st)
	}
	mustSync(t, s)
	if st := s.Stats(); st.FullSyncs != 2 {
		t.Fatalf("an unchanged broken marker caused another full reconciliation: %+v", st)
	}

	// The next write starts the marker afresh, and polls follow it again.
	mustPut(t, writer, "videos", "https://app.example.com")
	mustSync(t, s)
	if st := s.Stats(); st.FullSyncs != 2 || s.Lookup("videos").Live == nil {
		t.Fatalf("after the marker was rewritten: %+v, videos=%v", st, s.Lookup("videos").Live)
	}
}

// TestSyncDoesNotUndoLocalWrite pauses a sync after it loaded a record,
// writes the bucket locally, then lets the sync finish: the local write
// must survive.
func TestSyncDoesNotUndoLocalWrite(t *testing.T) {
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete=%v", del), func(t *testing.T) {
			fsys := fileStorage(t)
			writer := newTestStore(t, fsys, Options{})
			paused := newFaultStorage(fsys)
			s := newTestStore(t, paused, Options{})
			mustPut(t, writer, "photos", "https://one.example.com")
			mustLoad(t, s)
			mustPut(t, writer, "photos", "https://two.example.com")

			loaded := make(chan struct{})
			resume := make(chan struct{})
			var once sync.Once
			paused.afterLoad(func(key string) {
				if strings.HasSuffix(key, "/photos.json") {
					once.Do(func() {
						close(loaded)
						<-resume
					})
				}
			})
			done := make(chan error)
			go func() { done <- s.Sync(context.Background()) }()
			<-loaded
			paused.afterLoad(nil)
			want := ""
			if del {
				if _, err := s.Delete(context.Background(), "photos", "admin"); err != nil {
					t.Fatal(err)
				}
			} else {
				mustPut(t, s, "photos", "https://three.example.com")
				want = canonical(t, "https://three.example.com")
			}
			close(resume)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := policyDoc(s.Lookup("photos").Live); got != want {
				t.Fatalf("after the sync, photos = %q, want the local write %q", got, want)
			}
			mustSync(t, s)
			mustSync(t, writer)
			if got, want := stateString(state(s)), stateString(state(writer)); got != want {
				t.Fatalf("instances disagree:\n%s\nand\n%s", got, want)
			}
		})
	}
}

// TestRunFollowsChanges runs the poll loop: it picks up another instance's
// change, asks for the interval before every wait (so a reload can change
// it), and stops with its context.
func TestRunFollowsChanges(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var asked atomic.Int64
	go func() {
		s.Run(ctx, func() time.Duration {
			asked.Add(1)
			return 10 * time.Millisecond
		})
		close(stopped)
	}()
	mustPut(t, writer, "photos", "https://app.example.com")
	// Liveness only: give up after a generous bound instead of hanging.
	deadline := time.Now().Add(20 * time.Second)
	for s.Lookup("photos").Live == nil {
		if time.Now().After(deadline) {
			t.Fatal("Run never picked up the change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-stopped
	polls := int64(s.Stats().Syncs) - 1 // the first one was Load
	if polls < 1 || asked.Load() < polls+1 {
		t.Fatalf("Run made %d polls and asked for the interval %d times; want it asked before every wait", polls, asked.Load())
	}
}

// TestBurstCostsReadsInProportion makes a burst of changes far larger than
// the marker's own journal between two polls, among many more configured
// buckets: the follower reads the marker, the journal segments and the
// changed records, nothing else; the writer reads no record at all.
func TestBurstCostsReadsInProportion(t *testing.T) {
	const existing, burst = 1000, 300
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	if _, err := writer.PutMany(context.Background(), items(t, existing), "seed", nil); err != nil {
		t.Fatal(err)
	}
	counted := newFaultStorage(fsys)
	follower := newTestStore(t, counted, Options{})
	mustLoad(t, follower)
	mustSync(t, writer)

	for i := range burst {
		bucket := fmt.Sprintf("bucket-%04d", i*3) // 300 of the existing buckets
		mustPut(t, writer, bucket, fmt.Sprintf("https://burst-%d.example.com", i))
	}
	m, err := writer.readMarker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	segments := int64(len(m.Segments))
	if segments < burst/journalInline {
		t.Fatalf("the marker names %d segments after %d changes, want the journal to have rolled over", segments, burst)
	}

	counted.loads.Store(0)
	counted.lists.Store(0)
	mustSync(t, follower)
	if loads, lists := counted.loads.Load(), counted.lists.Load(); loads != 1+segments+burst || lists != 0 {
		t.Fatalf("the follower's poll made %d loads and %d lists; want %d (marker, %d segments, %d records) and none", loads, lists, 1+segments+burst, segments, burst)
	}
	if st := follower.Stats(); st.FullSyncs != 1 {
		t.Fatalf("the follower reconciled in full: %+v", st)
	}
	if got, want := stateString(state(follower)), stateString(state(writer)); got != want {
		t.Fatal("follower and writer disagree after the burst")
	}

	own := newFaultStorage(fsys)
	writer.storage = own
	mustSync(t, writer)
	if loads, lists := own.loads.Load(), own.lists.Load(); loads != 1+segments || lists != 0 {
		t.Fatalf("the writer's poll made %d loads and %d lists; want %d (marker, segments) and no record", loads, lists, 1+segments)
	}
}

// TestLostJournalSegment deletes a segment the follower needs: it falls
// back to a full reconciliation and converges.
func TestLostJournalSegment(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	follower := newTestStore(t, fsys, Options{})
	mustPut(t, writer, "seed-bucket", "https://seed.example.com")
	mustLoad(t, follower)
	for i := range 2 * journalInline {
		mustPut(t, writer, fmt.Sprintf("bucket-%04d", i), "https://app.example.com")
	}
	m, err := writer.readMarker(context.Background())
	if err != nil || len(m.Segments) == 0 {
		t.Fatalf("marker %+v, %v: want segments", m, err)
	}
	if err := fsys.Delete(context.Background(), writer.segmentKey(m.Segments[0])); err != nil {
		t.Fatal(err)
	}
	mustSync(t, follower)
	if st := follower.Stats(); st.FullSyncs != 2 {
		t.Fatalf("FullSyncs = %d, want a full reconciliation for the lost segment", st.FullSyncs)
	}
	if got, want := stateString(state(follower)), stateString(state(writer)); got != want {
		t.Fatal("follower and writer disagree")
	}
}

// TestJournalKeysArePruned writes far more changes than the journal
// remembers: segments and batch keys it no longer reaches are deleted.
func TestJournalKeysArePruned(t *testing.T) {
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{JournalSize: 3 * journalInline})
	for round := range 8 {
		if _, err := s.PutMany(context.Background(), items(t, batchInline+1), "importer", nil); err != nil {
			t.Fatal(err)
		}
		for i := range journalInline {
			mustPut(t, s, fmt.Sprintf("bucket-%d-%d", round, i), "https://app.example.com")
		}
	}
	m, err := s.readMarker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	segs, _ := fsys.List(ctx, s.journalDir, false)
	batches, _ := fsys.List(ctx, s.batchesDir, false)
	var referenced int
	for _, c := range m.Journal {
		if c.Batch != "" {
			referenced++
		}
	}
	for _, g := range m.Segments {
		data, err := fsys.Load(ctx, s.segmentKey(g))
		if err != nil {
			t.Fatalf("a segment the marker names is gone: %v", err)
		}
		j, err := parseJournal(data, g)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range j {
			if c.Batch != "" {
				referenced++
			}
		}
	}
	if len(segs) != len(m.Segments) || len(batches) != referenced {
		t.Fatalf("storage keeps %d segments and %d batches; the journal reaches %d and %d", len(segs), len(batches), len(m.Segments), referenced)
	}
}
