package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// trialDoc is a candidate for a bucket with statsDoc: uploads move to
// another origin, and reads expose ETag.
const trialDoc = `<CORSConfiguration>` +
	`<CORSRule><ID>uploads</ID><AllowedHeader>content-type</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://next.example</AllowedOrigin></CORSRule>` +
	`<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://*.example</AllowedOrigin><ExposeHeader>ETag</ExposeHeader></CORSRule>` +
	`</CORSConfiguration>`

func tryDoc(t testing.TB, h *Handler, bucket, doc string) store.Record {
	t.Helper()
	cfg, err := cors.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.store().Try(context.Background(), bucket, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func trialReport(t testing.TB, h *Handler, bucket string) TrialReport {
	t.Helper()
	r, err := h.app.TrialReport(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// trialDisagreements reads caddy_s3_cors_trial_disagreements_total by change.
func trialDisagreements(t *testing.T, st *store.Store) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if _, err := registerMetrics(reg, st); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "caddy_s3_cors_trial_disagreements_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "change" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// Every preflight and every other request with an Origin to a bucket with a
// candidate is answered by the live configuration and counted by how the
// candidate would have decided it: agreement, would newly refuse, would
// newly allow, would change the headers; the disagreements are kept with
// what the request asked and each side's rule.
func TestTrialCounting(t *testing.T) {
	h := newBenchHandler(t)
	putDoc(t, h, "photos", statsDoc)
	metricsBefore := trialDisagreements(t, h.store())
	rec := tryDoc(t, h, "photos", trialDoc)

	// Live rule 0 allows it; no rule of the candidate does.
	w := serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "PUT", "content-type")...)
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("a preflight the live rules allow: %d %v", w.Code, w.Header())
	}
	// No live rule allows it; candidate rule 0 does.
	if w := serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://next.example", "PUT", "content-type")...); w.Code != http.StatusForbidden {
		t.Errorf("a preflight only the candidate allows: %d", w.Code)
	}
	// Both allow, but the candidate's rule would expose ETag.
	w = serve(t, h, http.MethodGet, "/photos/b.jpg", "Origin", "https://www.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://www.example" || w.Header().Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("a GET both allow got %v, want the live rule's headers", w.Header())
	}
	// Both refuse: an agreement. Without an Origin: not counted.
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://evil.test", "GET")...)
	serve(t, h, http.MethodGet, "/photos/a.jpg")

	r := trialReport(t, h, "photos")
	want := TrialReport{
		Bucket:       "photos",
		ComparedWith: "bucket",
		TrialTally:   TrialTally{RequestsSeen: 4, Agreements: 1, WouldNewlyRefuse: 1, WouldNewlyAllow: 1, WouldChangeHeaders: 1},
		Preflight:    TrialTally{RequestsSeen: 3, Agreements: 1, WouldNewlyRefuse: 1, WouldNewlyAllow: 1},
		Actual:       TrialTally{RequestsSeen: 1, WouldChangeHeaders: 1},
	}
	if r.Bucket != want.Bucket || r.ComparedWith != want.ComparedWith || r.TrialTally != want.TrialTally ||
		r.Preflight != want.Preflight || r.Actual != want.Actual {
		t.Errorf("report %+v\nwant %+v", r, want)
	}
	if r.Candidate.Version != rec.Version || r.Candidate.Rules != 2 || r.Candidate.UpdatedBy != "test" {
		t.Errorf("candidate %+v, want version %s", r.Candidate, rec.Version)
	}
	if len(r.Instances) != 1 || !r.Instances[0].This || r.Instances[0].RequestsSeen != 4 || r.Instances[0].Instance != h.store().InstanceID() {
		t.Errorf("instances %+v", r.Instances)
	}
	me := h.store().InstanceID()
	wantSamples := []TrialSample{
		{Instance: me, Kind: "actual", Change: "would_change_headers", Method: "GET", Origin: "https://www.example", Key: "b.jpg",
			Live:      TrialSide{Source: "bucket", Allowed: true, Rule: 1, Outcome: "Allowed"},
			Candidate: TrialSide{Allowed: true, Rule: 1, Outcome: "Allowed"}},
		{Instance: me, Kind: "preflight", Change: "would_newly_allow", Method: "OPTIONS", Origin: "https://next.example",
			RequestMethod: "PUT", RequestHeaders: "content-type", Key: "a.jpg",
			Live:      TrialSide{Source: "bucket", Rule: -1, Outcome: "NotAllowed", Reason: "method"},
			Candidate: TrialSide{Allowed: true, Rule: 0, Outcome: "Allowed"}},
		{Instance: me, Kind: "preflight", Change: "would_newly_refuse", Method: "OPTIONS", Origin: "https://app.example",
			RequestMethod: "PUT", RequestHeaders: "content-type", Key: "a.jpg",
			Live:      TrialSide{Source: "bucket", Allowed: true, Rule: 0, Outcome: "Allowed"},
			Candidate: TrialSide{Rule: -1, Outcome: "NotAllowed", Reason: "method"}},
	}
	checkSamples(t, r.LastDisagreements, wantSamples)

	after := trialDisagreements(t, h.store())
	for _, change := range []string{"would_newly_refuse", "would_newly_allow", "would_change_headers"} {
		if got := after[change] - metricsBefore[change]; got != 1 {
			t.Errorf("trial_disagreements_total{change=%q} grew by %v, want 1", change, got)
		}
	}
	if _, ok := after["agreement"]; ok {
		t.Error("agreements are a metric: they are not disagreements")
	}

	// A bucket without a candidate has no report.
	if _, err := h.app.TrialReport(context.Background(), "videos"); !errors.Is(err, store.ErrNoCandidate) {
		t.Errorf("report of a bucket without a candidate: %v", err)
	}
}

// checkSamples compares samples, newest first, without their times, which
// must be in order.
func checkSamples(t *testing.T, got, want []TrialSample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d disagreements, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if i > 0 && got[i].Time.After(got[i-1].Time) {
			t.Errorf("disagreement %d is newer than %d", i, i-1)
		}
		g := got[i]
		g.Time = want[i].Time
		if !samplesEqual(g, want[i]) {
			t.Errorf("disagreement %d:\n%+v\nwant\n%+v", i, g, want[i])
		}
	}
}

func samplesEqual(a, b TrialSample) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// ringLive allows any origin to GET and PUT with any header; ringCandidate
// one origin only, so every other origin's request is a disagreement.
const (
	ringLive      = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>`
	ringCandidate = `<CORSConfiguration><CORSRule><AllowedOrigin>https://only.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`
)

// The ring keeps the last trialRing disagreements, newest first, with every
// value cut at its limit, and recording one allocates nothing: a
// disagreeing preflight costs the allocations of one without a candidate.
func TestTrialRing(t *testing.T) {
	h := newBenchHandler(t)
	putDoc(t, h, "photos", ringLive)
	tryDoc(t, h, "photos", ringCandidate)
	for i := range trialRing + 5 {
		key := "/photos/" + strings.Repeat("k", i+1)
		serve(t, h, http.MethodOptions, key, preflight("https://app.example", "PUT", "content-type")...)
	}
	long := "https://" + strings.Repeat("o", 300) + ".example"
	serve(t, h, http.MethodOptions, "/photos/long", "Origin", long, "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", strings.Repeat("x-a,", 200), "Access-Control-Request-Headers", "x-b")
	r := trialReport(t, h, "photos")
	if r.RequestsSeen != trialRing+6 || r.WouldNewlyRefuse != trialRing+6 || len(r.LastDisagreements) != trialRing {
		t.Fatalf("seen %d, kept %d disagreements (%+v), want %d and %d", r.RequestsSeen, len(r.LastDisagreements), r.TrialTally, trialRing+6, trialRing)
	}
	first := r.LastDisagreements[0]
	if len(first.Origin) != sampleFieldMax[fieldOrigin] || !strings.HasPrefix(long, first.Origin) ||
		len(first.RequestHeaders) != sampleFieldMax[fieldRequestHeaders] || !slices.Equal(first.Truncated, []string{"origin", "request_headers"}) {
		t.Errorf("the long request kept origin %d bytes, headers %d bytes, truncated %v", len(first.Origin), len(first.RequestHeaders), first.Truncated)
	}
	// The oldest five are gone: the oldest kept has a key of 6 bytes.
	for i, s := range r.LastDisagreements[1:] {
		if want := strings.Repeat("k", trialRing+5-i); s.Key != want || s.Truncated != nil {
			t.Errorf("disagreement %d has key %q (truncated %v), want %q", i+1, s.Key, s.Truncated, want)
		}
	}
	serve(t, h, http.MethodOptions, "/photos/a", "Origin", "https://app.example", "Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "content-type", "Access-Control-Request-Headers", "x-b")
	if got := trialReport(t, h, "photos").LastDisagreements[0].RequestHeaders; got != "content-type,x-b" {
		t.Errorf("two Access-Control-Request-Headers lines kept as %q", got)
	}

	p := h.store().Lookup("photos")
	tc := h.app.shared.trials.lookup("photos", p.Candidate.Version)
	req := cors.NewRequest(http.MethodOptions, http.Header{
		"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type"},
	})
	live, cand := p.Live.Preflight(req), p.Candidate.Policy.Preflight(req)
	if n := testing.AllocsPerRun(100, func() { tc.record(countPreflight, SourceBucket, &req, "a.jpg", live, cand) }); n != 0 {
		t.Errorf("recording a disagreement allocates %v times", n)
	}

	allocs := func(h *Handler) float64 {
		r := newRequest(http.MethodOptions, "/bucket/key", preflight("https://app.example.com", "PUT", "content-type")...)
		w := &benchWriter{h: make(http.Header)}
		return testing.AllocsPerRun(100, func() {
			clear(w.h)
			_ = h.ServeHTTP(w, r, upstreamStub{})
		})
	}
	without, with := newBenchHandler(t), newBenchHandler(t)
	tryDoc(t, with, "bucket", ringCandidate)
	if a, b := allocs(with), allocs(without); a != b {
		t.Errorf("an allowed preflight allocates %v times with a candidate that would refuse it, %v without a candidate", a, b)
	}
	if c := trialReport(t, with, "bucket"); c.WouldNewlyRefuse == 0 {
		t.Fatalf("the candidate agreed: the allocation comparison recorded no disagreement (%+v)", c.TrialTally)
	}
}

// For a bucket without a configuration of its own, the candidate is
// compared with what decides its requests: the default where one applies,
// else nothing (every CORS request refused), so that the report says what
// promoting it would change.
func TestTrialAgainstTheDefault(t *testing.T) {
	h := newBenchHandler(t)
	d, key, err := loadDefaultCORS(writeFile(t, "d.xml", defaultDoc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = defaultPolicies.Delete(key) })
	if err := h.app.defaults.set(d, "d.xml"); err != nil {
		t.Fatal(err)
	}
	tryDoc(t, h, "legacy", trialDoc)
	without := *h // a handler of the same app without default_cors
	h.defaultCORS = d

	// The default allows it; the candidate's uploads are for another origin.
	if w := serve(t, h, http.MethodOptions, "/legacy/a", preflight("https://app.example", "PUT")...); w.Code != http.StatusOK {
		t.Fatalf("a preflight the default allows: %d", w.Code)
	}
	if w := serve(t, &without, http.MethodOptions, "/legacy/a", preflight("https://next.example", "PUT")...); w.Code != http.StatusForbidden ||
		!strings.Contains(w.Body.String(), "CORS is not enabled for this bucket") {
		t.Fatalf("a preflight to a bucket without configuration or default: %d %s", w.Code, w.Body)
	}
	r := trialReport(t, h, "legacy")
	if r.ComparedWith != "default" || r.DefaultFile != "d.xml" || r.WouldNewlyRefuse != 1 || r.WouldNewlyAllow != 1 {
		t.Fatalf("report %+v", r)
	}
	got := r.LastDisagreements
	if got[0].Live.Source != "none" || got[0].Live.Outcome != "NotEnabled" || !got[0].Candidate.Allowed ||
		got[1].Live.Source != "default" || !got[1].Live.Allowed || got[1].Candidate.Allowed {
		t.Errorf("disagreements %+v", got)
	}
}

// countingStorage counts the writes under the trial counts' prefix.
type countingStorage struct {
	certmagic.Storage
	trialWrites atomic.Int64
}

func (c *countingStorage) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, store.DefaultPrefix+"/trials/") {
		c.trialWrites.Add(1)
	}
	return c.Storage.Store(ctx, key, value)
}

// Two instances on one storage count the same trial: each stores its
// counts once per flush, only when they changed, and a report on either
// adds both up, with the last disagreements of both by time. A promotion, a
// discard and a new candidate start the counts afresh on every instance.
func TestTrialAcrossInstances(t *testing.T) {
	ctx := context.Background()
	storage := &countingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	a, b := newHandlerOn(t, storage), newHandlerOn(t, storage)
	putDoc(t, a, "photos", statsDoc)
	tryDoc(t, a, "photos", trialDoc)
	if err := b.store().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	newlyRefused := preflight("https://app.example", "PUT", "content-type")
	serve(t, a, http.MethodOptions, "/photos/on-a", newlyRefused...)
	serve(t, b, http.MethodOptions, "/photos/on-b", newlyRefused...)
	serve(t, b, http.MethodGet, "/photos/on-b", "Origin", "https://evil.test")

	// Before b stores its counts, a reports its own.
	if r := trialReport(t, a, "photos"); r.RequestsSeen != 1 || len(r.Instances) != 1 {
		t.Errorf("before b stored its counts: %+v", r)
	}
	writes := storage.trialWrites.Load()
	a.app.shared.flushTrials(ctx)
	b.app.shared.flushTrials(ctx)
	if n := storage.trialWrites.Load() - writes; n != 2 {
		t.Errorf("a flush of two instances with one trial each wrote %d times, want 2", n)
	}
	a.app.shared.flushTrials(ctx)
	b.app.shared.flushTrials(ctx)
	if n := storage.trialWrites.Load() - writes; n != 2 {
		t.Errorf("a flush without new counts wrote %d times", n-2)
	}

	serve(t, a, http.MethodOptions, "/photos/on-a-again", newlyRefused...) // not stored yet: a's report has it, b's not
	for name, h := range map[string]*Handler{"a": a, "b": b} {
		r := trialReport(t, h, "photos")
		seen := uint64(4)
		if name == "b" {
			seen = 3
		}
		if r.RequestsSeen != seen || r.WouldNewlyRefuse != seen-1 || r.Agreements != 1 || len(r.Instances) != 2 {
			t.Errorf("report on %s: %+v", name, r)
		}
		var keys []string
		for _, s := range r.LastDisagreements {
			keys = append(keys, s.Instance[:4]+":"+s.Key)
		}
		want := []string{b.store().InstanceID()[:4] + ":on-b", a.store().InstanceID()[:4] + ":on-a"}
		if name == "a" {
			want = append([]string{a.store().InstanceID()[:4] + ":on-a-again"}, want...)
		}
		if !slices.Equal(keys, want) {
			t.Errorf("report on %s: disagreements %v, want %v", name, keys, want)
		}
		for _, in := range r.Instances {
			if in.This != (in.Instance == h.store().InstanceID()) {
				t.Errorf("report on %s: instance %+v", name, in)
			}
		}
	}

	// A new candidate: nobody's counts carry over.
	next := tryDoc(t, b, "photos", strings.Replace(trialDoc, "https://next.example", "https://third.example", 1))
	if err := a.store().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*Handler{"a": a, "b": b} {
		if r := trialReport(t, h, "photos"); r.Candidate.Version != next.Version || r.RequestsSeen != 0 || len(r.Instances) != 0 || len(r.LastDisagreements) != 0 {
			t.Errorf("report on %s after a new try: %+v", name, r)
		}
	}
	// a stored its counts of the old candidate after b's Try removed them:
	// a's next flush removes its copy.
	stale := a.app.shared.trials.load()["photos"]
	if err := a.store().SaveTrialCounts(ctx, "photos", stale.version, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	a.app.shared.flushTrials(ctx)
	if left, err := a.store().TrialCounts(ctx, "photos", stale.version); err != nil || len(left) != 0 {
		t.Errorf("the counts of a replaced candidate are still stored: %v %v", left, err)
	}
	if got := a.app.shared.trials.load(); got["photos"] != nil {
		t.Errorf("a still keeps counts of a candidate that is gone: %+v", got["photos"])
	}

	serve(t, a, http.MethodOptions, "/photos/x", preflight("https://third.example", "PUT", "content-type")...)
	a.app.shared.flushTrials(ctx)
	if _, err := b.store().Promote(ctx, "photos", "test"); err != nil {
		t.Fatal(err)
	}
	if left, _ := a.store().TrialCounts(ctx, "photos", next.Version); len(left) != 0 {
		t.Errorf("counts left after the promotion: %v", left)
	}
	if err := a.store().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*Handler{"a": a, "b": b} {
		if _, err := h.app.TrialReport(ctx, "photos"); !errors.Is(err, store.ErrNoCandidate) {
			t.Errorf("report on %s after the promotion: %v", name, err)
		}
	}
	if w := serve(t, a, http.MethodOptions, "/photos/y", preflight("https://third.example", "PUT", "content-type")...); w.Code != http.StatusOK {
		t.Errorf("the promoted candidate does not decide: %d", w.Code)
	}

	third := tryDoc(t, a, "photos", statsDoc)
	serve(t, a, http.MethodOptions, "/photos/z", newlyRefused...)
	a.app.shared.flushTrials(ctx)
	if _, err := a.store().Discard(ctx, "photos", "test"); err != nil {
		t.Fatal(err)
	}
	if left, _ := a.store().TrialCounts(ctx, "photos", third.Version); len(left) != 0 {
		t.Errorf("counts left after the discard: %v", left)
	}
	writes = storage.trialWrites.Load()
	a.app.shared.flushTrials(ctx)
	b.app.shared.flushTrials(ctx)
	if n := storage.trialWrites.Load() - writes; n != 0 {
		t.Errorf("flushes without any candidate wrote %d times", n)
	}
}
