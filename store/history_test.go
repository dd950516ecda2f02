package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ticking gives stores one clock that moves a second at every reading, so
// that versions are ordered as they were made.
func ticking(stores ...*Store) {
	var mu sync.Mutex
	t := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
	for _, s := range stores {
		s.now = now
	}
}

// historyVersions lists the versions of bucket's history, newest first.
func historyVersions(t *testing.T, s *Store, bucket string) []string {
	t.Helper()
	h, err := s.History(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, v := range h {
		versions = append(versions, v.Version)
	}
	return versions
}

type versionWant struct {
	origin  string // "" for a deletion
	by      string
	current bool
}

// checkHistory compares History with what was written, newest first.
func checkHistory(t *testing.T, s *Store, bucket string, want []versionWant, versions map[string]string) {
	t.Helper()
	got, err := s.History(context.Background(), bucket)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("History has %d versions, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Current != w.current || g.Deleted != (w.origin == "") || g.UpdatedBy != w.by {
			t.Fatalf("version %d = %+v, want %+v", i, g, w)
		}
		if i > 0 && !g.UpdatedAt.Before(got[i-1].UpdatedAt) {
			t.Fatalf("versions out of order: %+v", got)
		}
		if w.origin == "" {
			if g.Rules != 0 {
				t.Fatalf("a deletion with %d rules", g.Rules)
			}
			continue
		}
		if g.Rules != 1 || versions[g.Version] != w.origin {
			t.Fatalf("version %d (%s) is %q with %d rules, want %q", i, g.Version, versions[g.Version], g.Rules, w.origin)
		}
		rec, err := s.GetVersion(context.Background(), bucket, g.Version)
		if err != nil || rec.Document != canonical(t, w.origin) {
			t.Fatalf("GetVersion(%s) = %q, %v", g.Version, rec.Document, err)
		}
	}
}

// TestHistory writes, deletes and rolls back through two instances on one
// storage: each instance's History shows every version, from both, newest
// first, and a rollback is a new version that puts the old document back.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	a := newTestStore(t, fsys, Options{})
	b := newTestStore(t, fsys, Options{})
	ticking(a, b)
	mustLoad(t, a)
	mustLoad(t, b)
	versions := map[string]string{}
	put := func(s *Store, origin, by string) Record {
		t.Helper()
		rec, err := s.Put(ctx, "photos", corsConfig(t, origin), by)
		if err != nil {
			t.Fatal(err)
		}
		versions[rec.Version] = origin
		return rec
	}
	const one, two, three = "https://one.example.com", "https://two.example.com", "https://three.example.com"

	put(a, one, "alice")
	mustSync(t, b)
	put(b, two, "bob")
	if _, err := a.Delete(ctx, "photos", "alice"); err != nil {
		t.Fatal(err)
	}
	put(b, three, "bob")
	for _, s := range []*Store{a, b} {
		checkHistory(t, s, "photos", []versionWant{
			{three, "bob", true}, {"", "alice", false}, {two, "bob", false}, {one, "alice", false},
		}, versions)
	}

	// The default rollback target is the newest configuration before the
	// current one, skipping the deletion.
	var bobsTwo string
	for v, o := range versions {
		if o == two {
			bobsTwo = v
		}
	}
	rec, restored, err := a.Rollback(ctx, "photos", "", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if restored.Version != bobsTwo || restored.UpdatedBy != "bob" || restored.Rules != 1 || restored.UpdatedAt.IsZero() || restored.Current {
		t.Errorf("the rollback says it restored %+v, want bob's version %s", restored, bobsTwo)
	}
	versions[rec.Version] = two
	mustSync(t, b)
	if got := policyDoc(b.Lookup("photos").Live); got != canonical(t, two) {
		t.Fatalf("after the rollback the other instance serves %q", got)
	}
	var first string
	for v, o := range versions {
		if o == one {
			first = v
		}
	}
	rec, restored, err = b.Rollback(ctx, "photos", first, "dave")
	if err != nil {
		t.Fatal(err)
	}
	if restored.Version != first || restored.UpdatedBy != "alice" {
		t.Errorf("the rollback to %s says it restored %+v", first, restored)
	}
	versions[rec.Version] = one
	checkHistory(t, a, "photos", []versionWant{
		{one, "dave", true}, {two, "carol", false}, {three, "bob", false}, {"", "alice", false}, {two, "bob", false}, {one, "alice", false},
	}, versions)

	got, _ := a.History(ctx, "photos")
	deletion := got[3].Version
	for _, v := range []string{deletion, "nosuchversion"} {
		if _, _, err := a.Rollback(ctx, "photos", v, "eve"); !errors.Is(err, ErrNoSuchVersion) {
			t.Fatalf("Rollback(%s) = %v, want ErrNoSuchVersion", v, err)
		}
		if _, err := a.GetVersion(ctx, "photos", v); !errors.Is(err, ErrNoSuchVersion) {
			t.Fatalf("GetVersion(%s) = %v, want ErrNoSuchVersion", v, err)
		}
	}
	if _, _, err := a.Rollback(ctx, "ab", "", "eve"); !errors.Is(err, ErrInvalidBucket) {
		t.Fatalf("Rollback of an invalid bucket name = %v", err)
	}
}

func TestRollbackWithoutEarlierVersion(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, fileStorage(t), Options{})
	if _, _, err := s.Rollback(ctx, "photos", "", "admin"); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("Rollback of a bucket without configuration = %v", err)
	}
	if h, err := s.History(ctx, "photos"); err != nil || len(h) != 0 {
		t.Fatalf("History of a bucket without configuration = %v, %v", h, err)
	}
	mustPut(t, s, "photos", "https://app.example.com")
	mustPut(t, s, "photos", "https://app.example.com") // the same document again
	if _, _, err := s.Rollback(ctx, "photos", "", "admin"); err != nil {
		t.Fatalf("Rollback to the same document written earlier: %v", err)
	}
	s2 := newTestStore(t, fileStorage(t), Options{})
	mustPut(t, s2, "photos", "https://app.example.com")
	if _, _, err := s2.Rollback(ctx, "photos", "", "admin"); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("Rollback with only the current version = %v", err)
	}
}

// TestHistoryIsBounded writes more versions than the history keeps: the
// oldest go, from the listing and from storage.
func TestHistoryIsBounded(t *testing.T) {
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	ticking(s)
	const writes = HistorySize + 6
	var all []string
	for i := range writes {
		all = append(all, mustPut(t, s, "photos", fmt.Sprintf("https://v%d.example.com", i)).Version)
	}
	got := historyVersions(t, s, "photos")
	slices.Reverse(all)
	if !slices.Equal(got, all[:HistorySize+1]) {
		t.Fatalf("History lists %d versions %v, want the current one and the %d before it", len(got), got, HistorySize)
	}
	keys, err := fsys.List(context.Background(), s.historyDir+"/photos", false)
	if err != nil || len(keys) != HistorySize {
		t.Fatalf("storage keeps %d history versions (%v), want %d", len(keys), err, HistorySize)
	}
}

// TestHandWrittenVersionInHistory replaces a record written by hand, with
// a version that cannot be a key segment: it is kept and found by its
// version.
func TestHandWrittenVersionInHistory(t *testing.T) {
	fsys := fileStorage(t)
	writeFile(t, filepath.Join(fsys.Path, "s3_cors", "buckets", "photos.json"),
		`{"format":1,"bucket":"photos","document":`+jsonString(corsDoc("https://hand.example.com"))+`,"version":"Hand/Made 1","updated_by":"operator"}`)
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)
	mustPut(t, s, "photos", "https://app.example.com")
	rec, err := s.GetVersion(context.Background(), "photos", "Hand/Made 1")
	if err != nil || rec.UpdatedBy != "operator" || rec.Document != corsDoc("https://hand.example.com") {
		t.Fatalf("GetVersion = %+v, %v", rec, err)
	}
	if _, _, err := s.Rollback(context.Background(), "photos", "Hand/Made 1", "admin"); err != nil {
		t.Fatal(err)
	}
	if got := policyDoc(s.Lookup("photos").Live); got != canonical(t, "https://hand.example.com") {
		t.Fatalf("after the rollback photos = %q", got)
	}
}

// TestConcurrentWritersHistory has writers on several instances race on
// one bucket. On every storage one whole winner is served everywhere; on a
// ConditionalStorage the history also keeps every version that lost, each
// exactly once.
func TestConcurrentWritersHistory(t *testing.T) {
	for _, conditional := range []bool{false, true} {
		t.Run(fmt.Sprintf("conditional=%v", conditional), func(t *testing.T) {
			const instances, writers = 3, 4
			var storage interface {
				Load(context.Context, string) ([]byte, error)
			}
			stores := make([]*Store, instances)
			fsys := fileStorage(t)
			cs := newCondStorage(t)
			for i := range stores {
				if conditional {
					stores[i] = newTestStore(t, cs, Options{})
					storage = cs
				} else {
					stores[i] = newTestStore(t, fsys, Options{})
					storage = fsys
				}
				mustLoad(t, stores[i])
			}
			written := map[string]string{} // version -> document
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i, s := range stores {
				for w := range writers {
					wg.Go(func() {
						origin := fmt.Sprintf("https://writer-%d-%d.example.com", i, w)
						rec, err := s.Put(context.Background(), "photos", corsConfig(t, origin), "AKIDTEST")
						if err != nil {
							t.Errorf("Put: %v", err)
							return
						}
						mu.Lock()
						written[rec.Version] = rec.Document
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			data, err := storage.Load(context.Background(), "s3_cors/buckets/photos.json")
			if err != nil {
				t.Fatal(err)
			}
			winner, err := decodeRecord("photos", data)
			if err != nil || written[winner.Version] != winner.Document {
				t.Fatalf("storage holds %+v, %v: not one whole write", winner, err)
			}
			for i, s := range stores {
				mustSync(t, s)
				if rec, _ := s.Get("photos"); !rec.same(winner) {
					t.Fatalf("instance %d serves %+v, storage holds %+v", i, rec, winner)
				}
			}
			h, err := stores[0].History(context.Background(), "photos")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, v := range h {
				if seen[v.Version] || written[v.Version] == "" {
					t.Fatalf("history lists %s twice or a version nobody wrote: %+v", v.Version, h)
				}
				seen[v.Version] = true
			}
			if conditional && len(h) != instances*writers {
				t.Fatalf("history has %d versions, want all %d writes", len(h), instances*writers)
			}
		})
	}
}

// TestConditionalReplaceKeepsTheInterloper lets another writer replace the
// record between a Put's read and its conditional write: the Put retries,
// and the history keeps the interloper's version as well as the first.
func TestConditionalReplaceKeepsTheInterloper(t *testing.T) {
	cs := newCondStorage(t)
	s := newTestStore(t, cs, Options{})
	other := newTestStore(t, cs, Options{})
	ticking(s, other)
	first := mustPut(t, s, "photos", "https://one.example.com")
	var interloper Record
	var interfered atomic.Bool
	cs.beforeStoreIf = func(key string) {
		if key == s.recordKey("photos") && interfered.CompareAndSwap(false, true) {
			interloper = mustPut(t, other, "photos", "https://two.example.com")
		}
	}
	last := mustPut(t, s, "photos", "https://three.example.com")
	cs.beforeStoreIf = nil
	if cs.conflicts.Load() == 0 {
		t.Fatal("no conditional write failed: the interloper did not get in between")
	}
	got := historyVersions(t, s, "photos")
	if want := []string{last.Version, interloper.Version, first.Version}; !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
}
