package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// preflight is whether p allows a GET preflight from origin.
func preflight(p *cors.Policy, origin string) bool {
	return p.Preflight(cors.Request{Origin: origin, Method: http.MethodOptions, RequestMethod: "GET", HasRequestMethod: true}).Allowed()
}

// TestCandidateTrial puts a candidate on trial on one instance and follows
// it on another: Lookup gives both policies, the live one unchanged; the
// candidate has one identity everywhere; discarding it ends the trial
// everywhere; all without a full reconciliation.
func TestCandidateTrial(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	a := newTestStore(t, fsys, Options{})
	b := newTestStore(t, fsys, Options{})
	mustPut(t, a, "photos", "https://live.example.com")
	mustLoad(t, a)
	mustLoad(t, b)
	if c := b.Lookup("photos").Candidate; c != nil {
		t.Fatalf("a bucket without a trial has candidate %+v", c)
	}

	rec, err := a.Try(ctx, "photos", corsConfig(t, "https://next.example.com"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	for name, s := range map[string]*Store{"writer": a, "follower": b} {
		p := s.Lookup("photos")
		if p.Candidate == nil || p.Candidate.Version != rec.Version || p.Candidate.UpdatedBy != "alice" {
			t.Fatalf("%s: candidate %+v, want version %s", name, p.Candidate, rec.Version)
		}
		if !preflight(p.Live, "https://live.example.com") || preflight(p.Live, "https://next.example.com") {
			t.Fatalf("%s: the live configuration changed with the trial", name)
		}
		if !preflight(p.Candidate.Policy, "https://next.example.com") || preflight(p.Candidate.Policy, "https://live.example.com") {
			t.Fatalf("%s: the candidate does not decide as its document says", name)
		}
		if got, ok := s.GetCandidate("photos"); !ok || got.Document != canonical(t, "https://next.example.com") || got.Version != rec.Version {
			t.Fatalf("%s: GetCandidate = %+v, %v", name, got, ok)
		}
		if got := s.Candidates(); !slices.Equal(got, []string{"photos"}) || s.Stats().Candidates != 1 {
			t.Fatalf("%s: Candidates = %v, Stats %+v", name, got, s.Stats())
		}
		if n := testing.AllocsPerRun(100, func() { _ = s.Lookup("photos") }); n != 0 {
			t.Fatalf("%s: Lookup of a bucket on trial allocates %v times", name, n)
		}
	}
	// A change of the live configuration keeps the trial going.
	mustPut(t, b, "photos", "https://live2.example.com")
	mustSync(t, a)
	if p := a.Lookup("photos"); p.Candidate == nil || p.Candidate.Version != rec.Version || !preflight(p.Live, "https://live2.example.com") {
		t.Fatalf("after a live change: %+v", p)
	}

	existed, err := b.Discard(ctx, "photos", "bob")
	if err != nil || !existed {
		t.Fatalf("Discard = %v, %v", existed, err)
	}
	mustSync(t, a)
	for name, s := range map[string]*Store{"writer": a, "follower": b} {
		if p := s.Lookup("photos"); p.Candidate != nil || p.Live == nil {
			t.Fatalf("%s after Discard: %+v", name, p)
		}
		if st := s.Stats(); st.FullSyncs != 1 || st.Candidates != 0 || st.Policies != 1 {
			t.Fatalf("%s: %+v; want no full sync, no candidate, one policy", name, st)
		}
	}
	if existed, err := a.Discard(ctx, "photos", "bob"); err != nil || existed {
		t.Fatalf("second Discard = %v, %v", existed, err)
	}
}

// TestPromote makes a candidate live through another instance: it is a
// normal Put, so the configuration it replaces is in the history, and the
// candidate is gone everywhere.
func TestPromote(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	a := newTestStore(t, fsys, Options{})
	b := newTestStore(t, fsys, Options{})
	ticking(a, b)
	old := mustPut(t, a, "photos", "https://live.example.com")
	mustLoad(t, b)
	if _, err := b.Promote(ctx, "photos", "bob"); !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("Promote without a candidate = %v, want ErrNoCandidate", err)
	}
	cand, err := a.Try(ctx, "photos", corsConfig(t, "https://next.example.com"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// b has not synced: Promote reads the candidate from storage.
	rec, err := b.Promote(ctx, "photos", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Document != cand.Document || rec.UpdatedBy != "bob" {
		t.Fatalf("Promote returned %+v, want the candidate's document", rec)
	}
	mustSync(t, a)
	for name, s := range map[string]*Store{"other": a, "promoter": b} {
		p := s.Lookup("photos")
		if p.Candidate != nil || !preflight(p.Live, "https://next.example.com") {
			t.Fatalf("%s after Promote: %+v", name, p)
		}
	}
	h, err := a.History(ctx, "photos")
	if err != nil || len(h) != 2 || h[0].Version != rec.Version || h[1].Version != old.Version {
		t.Fatalf("history after Promote: %+v, %v", h, err)
	}
	if _, err := os.Stat(filepath.Join(fsys.Path, "s3_cors", "candidates", "photos.json")); !os.IsNotExist(err) {
		t.Fatalf("candidate key after Promote: %v", err)
	}
}

// TestCandidateWithoutConfiguration tries a configuration on a bucket that
// has none: it is served as a candidate only, survives a deletion of the
// (absent) configuration, and a fresh instance loads it.
func TestCandidateWithoutConfiguration(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	mustPut(t, s, "assets", "https://app.example.com")
	if _, err := s.Try(ctx, "photos", corsConfig(t, "https://next.example.com"), "alice"); err != nil {
		t.Fatal(err)
	}
	check := func(name string, s *Store) {
		t.Helper()
		p := s.Lookup("photos")
		if p.Live != nil || p.Candidate == nil {
			t.Fatalf("%s: %+v, want only a candidate", name, p)
		}
		if _, ok := s.Get("photos"); ok {
			t.Fatalf("%s: Get finds a configuration", name)
		}
		if got := s.Buckets(); !slices.Equal(got, []string{"assets"}) {
			t.Fatalf("%s: Buckets = %v", name, got)
		}
		if st := s.Stats(); st.Buckets != 1 || st.Candidates != 1 {
			t.Fatalf("%s: %+v", name, st)
		}
	}
	check("writer", s)
	if _, err := s.Delete(ctx, "photos", "admin"); err != nil {
		t.Fatal(err)
	}
	check("writer after Delete", s)
	fresh := newTestStore(t, fsys, Options{})
	mustLoad(t, fresh)
	check("fresh instance", fresh)

	// A candidate removed behind the store's back goes at the next full
	// reconciliation.
	if err := os.Remove(filepath.Join(fsys.Path, "s3_cors", "candidates", "photos.json")); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, fresh)
	if p := fresh.Lookup("photos"); p.Live != nil || p.Candidate != nil || fresh.Stats().Candidates != 0 {
		t.Fatalf("after the candidate key went: %+v", p)
	}
}

// TestCandidateSharesPolicies checks the policy cache across live and
// candidate configurations: equal documents share one policy, and nothing
// is left once both are gone.
func TestCandidateSharesPolicies(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, fileStorage(t), Options{})
	mustPut(t, s, "photos", "https://app.example.com")
	if _, err := s.Try(ctx, "photos", corsConfig(t, "https://app.example.com"), "alice"); err != nil {
		t.Fatal(err)
	}
	p := s.Lookup("photos")
	if p.Candidate.Policy != p.Live || s.Stats().Policies != 1 {
		t.Fatalf("equal live and candidate documents do not share a policy: %+v", s.Stats())
	}
	if _, err := s.Delete(ctx, "photos", "admin"); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Policies != 1 {
		t.Fatalf("the candidate lost its policy with the configuration: %+v", s.Stats())
	}
	if _, err := s.Discard(ctx, "photos", "admin"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Policies != 0 || st.Buckets != 0 || st.Candidates != 0 {
		t.Fatalf("after Delete and Discard: %+v", st)
	}
}

// TestConcurrentTries has several instances try candidates for one bucket
// at once: storage keeps one whole candidate, and every instance serves
// that one after a sync.
func TestConcurrentTries(t *testing.T) {
	fsys := fileStorage(t)
	stores := make([]*Store, 3)
	for i := range stores {
		stores[i] = newTestStore(t, fsys, Options{})
		mustLoad(t, stores[i])
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		for w := range 3 {
			wg.Go(func() {
				cfg := corsConfig(t, fmt.Sprintf("https://try-%d-%d.example.com", i, w))
				if _, err := s.Try(context.Background(), "photos", cfg, "AKIDTEST"); err != nil {
					t.Errorf("Try: %v", err)
				}
			})
		}
	}
	wg.Wait()
	data, err := fsys.Load(context.Background(), "s3_cors/candidates/photos.json")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := decodeRecord("photos", data)
	if err != nil {
		t.Fatalf("the stored candidate is not whole: %v", err)
	}
	for i, s := range stores {
		mustSync(t, s)
		got, ok := s.GetCandidate("photos")
		if !ok || !got.same(stored) {
			t.Fatalf("instance %d serves candidate %+v, storage has %+v", i, got, stored)
		}
	}
}
