package store

import (
	"context"
	"maps"
	"slices"
	"testing"
)

// TestTrialCounts stores two instances' counts of one candidate on one
// storage: each reads both, under the other's ID; a new Try removes the
// counts of the candidate it replaces, and Promote and Discard those of the
// one they end, whatever instance stored them.
func TestTrialCounts(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	a := newTestStore(t, fsys, Options{})
	b := newTestStore(t, fsys, Options{})
	if a.InstanceID() == b.InstanceID() || a.InstanceID() == "" {
		t.Fatalf("instance IDs %q and %q", a.InstanceID(), b.InstanceID())
	}
	counts := func(s *Store, bucket, version string) map[string]string {
		t.Helper()
		m, err := s.TrialCounts(ctx, bucket, version)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	save := func(s *Store, bucket, version, data string) {
		t.Helper()
		if err := s.SaveTrialCounts(ctx, bucket, version, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}

	first, err := a.Try(ctx, "photos", corsConfig(t, "https://one.example.com"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(b, "photos", first.Version); len(got) != 0 {
		t.Fatalf("counts before any instance stored some: %v", got)
	}
	save(a, "photos", first.Version, "a1")
	save(b, "photos", first.Version, "b1")
	save(a, "photos", first.Version, "a2") // replaces a1
	save(a, "videos", first.Version, "other bucket")
	want := map[string]string{a.InstanceID(): "a2", b.InstanceID(): "b1"}
	for _, s := range []*Store{a, b} {
		if got := counts(s, "photos", first.Version); !maps.Equal(got, want) {
			t.Fatalf("counts = %v, want %v", got, want)
		}
	}

	second, err := b.Try(ctx, "photos", corsConfig(t, "https://two.example.com"), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(a, "photos", first.Version); len(got) != 0 {
		t.Errorf("the replaced candidate's counts are still there: %v", got)
	}
	save(a, "photos", second.Version, "a3")
	if got := counts(b, "photos", second.Version); !maps.Equal(got, map[string]string{a.InstanceID(): "a3"}) {
		t.Errorf("the new candidate's counts: %v", got)
	}
	if err := a.DeleteTrialCounts(ctx, "photos", second.Version); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTrialCounts(ctx, "photos", second.Version); err != nil {
		t.Errorf("deleting counts that are gone: %v", err)
	}
	if got := counts(b, "photos", second.Version); len(got) != 0 {
		t.Errorf("counts after their instance deleted them: %v", got)
	}

	save(a, "photos", second.Version, "a4")
	if _, err := b.Promote(ctx, "photos", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := counts(a, "photos", second.Version); len(got) != 0 {
		t.Errorf("the promoted candidate's counts are still there: %v", got)
	}

	third, err := a.Try(ctx, "photos", corsConfig(t, "https://three.example.com"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	save(b, "photos", third.Version, "b5")
	if existed, err := a.Discard(ctx, "photos", "alice"); err != nil || !existed {
		t.Fatalf("Discard = %v, %v", existed, err)
	}
	if got := counts(a, "photos", third.Version); len(got) != 0 {
		t.Errorf("the discarded candidate's counts are still there: %v", got)
	}
	// Other buckets' counts are not touched.
	if got := counts(a, "videos", first.Version); !slices.Equal(slices.Collect(maps.Values(got)), []string{"other bucket"}) {
		t.Errorf("another bucket's counts: %v", got)
	}

	for _, bad := range [][2]string{{"Not_A_Bucket", first.Version}, {"photos", "../buckets"}, {"photos", ""}} {
		if err := a.SaveTrialCounts(ctx, bad[0], bad[1], []byte("x")); err == nil {
			t.Errorf("SaveTrialCounts(%q, %q) was accepted", bad[0], bad[1])
		}
		if _, err := a.TrialCounts(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("TrialCounts(%q, %q) was accepted", bad[0], bad[1])
		}
	}
}
