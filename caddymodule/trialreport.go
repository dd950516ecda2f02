package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// Every instance keeps its counts of a trial in memory and stores them in
// the configurations' storage, next to the candidate, at most once per
// sync interval and only when they changed: one small write per instance
// and bucket on trial per interval at most, and none at all while no
// bucket has a candidate. A report adds up the stored counts of every
// instance, with this instance's own taken from memory. The counts of a
// candidate are removed by the change that ends its trial (Try, Promote,
// Discard); an instance that finds a candidate gone also removes the copy
// it stored, in case it stored it after that change.

// TrialTally counts the requests of a trial by how the candidate's
// decision compared with the one they got.
type TrialTally struct {
	// RequestsSeen is the sum of the four others.
	RequestsSeen uint64 `json:"requests_seen"`
	// Agreements: both refused, or both allowed with the same CORS
	// headers (another rule may have matched).
	Agreements uint64 `json:"agreements"`
	// WouldNewlyRefuse: a live rule matched; no rule of the candidate would.
	WouldNewlyRefuse uint64 `json:"would_newly_refuse"`
	// WouldNewlyAllow: no live rule matched; a rule of the candidate would.
	WouldNewlyAllow uint64 `json:"would_newly_allow"`
	// WouldChangeHeaders: both allowed, but the candidate's rule would
	// send other values in Access-Control-Allow-Methods,
	// Access-Control-Expose-Headers, Access-Control-Max-Age, or "*" where
	// the origin was echoed (or the reverse).
	WouldChangeHeaders uint64 `json:"would_change_headers"`
}

func (t *TrialTally) add(o TrialTally) {
	t.RequestsSeen += o.RequestsSeen
	t.Agreements += o.Agreements
	t.WouldNewlyRefuse += o.WouldNewlyRefuse
	t.WouldNewlyAllow += o.WouldNewlyAllow
	t.WouldChangeHeaders += o.WouldChangeHeaders
}

func tallyOf(c *[trialChanges]atomic.Uint64) TrialTally {
	t := TrialTally{
		Agreements:         c[changeNone].Load(),
		WouldNewlyRefuse:   c[changeNewlyRefuse].Load(),
		WouldNewlyAllow:    c[changeNewlyAllow].Load(),
		WouldChangeHeaders: c[changeHeaders].Load(),
	}
	t.RequestsSeen = t.Agreements + t.WouldNewlyRefuse + t.WouldNewlyAllow + t.WouldChangeHeaders
	return t
}

// TrialSample is one request on which the candidate disagreed.
type TrialSample struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	// Kind is "preflight" or "actual" (any other request with an Origin).
	Kind string `json:"kind"`
	// Change is would_newly_refuse, would_newly_allow or
	// would_change_headers.
	Change         string `json:"change"`
	Method         string `json:"method"`
	Origin         string `json:"origin"`
	RequestMethod  string `json:"request_method,omitempty"`
	RequestHeaders string `json:"request_headers,omitempty"`
	Key            string `json:"key,omitempty"`
	// Truncated names the fields above that were cut at their limit
	// (method and request_method 16 bytes, origin and key 256,
	// request_headers 512).
	Truncated []string `json:"truncated,omitempty"`
	// Live is how the request was decided; Candidate how the candidate
	// would have decided it.
	Live      TrialSide `json:"live"`
	Candidate TrialSide `json:"candidate"`
}

// TrialSide is one side's decision of a request.
type TrialSide struct {
	// Source is, for the live side, the configuration that decided:
	// "bucket", "default" or "none".
	Source  string `json:"source,omitempty"`
	Allowed bool   `json:"allowed"`
	// Rule is the index of the rule that matched, or -1.
	Rule int `json:"rule"`
	// Outcome is the step of S3's procedure that decided (NotAllowed,
	// NotEnabled, ...), and Reason, for NotAllowed, the criterion no rule
	// passed.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

func (d sideDecision) export(source string) TrialSide {
	s := TrialSide{Source: source, Allowed: d.outcome == cors.Allowed && d.rule >= 0, Rule: int(d.rule), Outcome: d.outcome.String()}
	if d.reason != 0 {
		s.Reason = d.reason.String()
	}
	return s
}

func (s *trialSample) export(instance string) TrialSample {
	out := TrialSample{
		Time: s.at.UTC(), Instance: instance, Kind: countKindNames[s.kind], Change: s.change.String(),
		Method: s.textOf(fieldMethod), Origin: s.textOf(fieldOrigin), RequestMethod: s.textOf(fieldRequestMethod),
		RequestHeaders: s.textOf(fieldRequestHeaders), Key: s.textOf(fieldKey),
		Live: s.live.export(s.source.String()), Candidate: s.cand.export(""),
	}
	for f := range sampleFields {
		if s.cut&(1<<f) != 0 {
			out.Truncated = append(out.Truncated, sampleFieldNames[f])
		}
	}
	return out
}

// trialFormat versions the stored counts' layout; counts of another format
// are left out of reports.
const trialFormat = 1

// instanceCounts are one instance's counts of one trial, as stored.
type instanceCounts struct {
	Format           int        `json:"format"`
	Bucket           string     `json:"bucket"`
	CandidateVersion string     `json:"candidate_version"`
	Instance         string     `json:"instance"`
	Since            time.Time  `json:"since"`
	UpdatedAt        time.Time  `json:"updated_at"`
	Preflight        TrialTally `json:"preflight"`
	Actual           TrialTally `json:"actual"`
	// LastDisagreements are the newest first.
	LastDisagreements []TrialSample `json:"last_disagreements"`
}

// snapshot copies the counts as instance's at now.
func (c *trialCounts) snapshot(instance string, now time.Time) instanceCounts {
	out := instanceCounts{
		Format: trialFormat, Bucket: c.bucket, CandidateVersion: c.version, Instance: instance,
		Since: c.since.UTC(), UpdatedAt: now.UTC(),
		Preflight: tallyOf(&c.tally[countPreflight]), Actual: tallyOf(&c.tally[countActual]),
	}
	c.mu.Lock()
	n := min(c.recorded, trialRing)
	out.LastDisagreements = make([]TrialSample, 0, n)
	for i := range n {
		out.LastDisagreements = append(out.LastDisagreements, c.ring[(c.recorded-1-i)%trialRing].export(instance))
	}
	c.mu.Unlock()
	return out
}

// trialStoreTimeout bounds one flush of the counts at shutdown, when no
// sync loop bounds it any more.
const trialStoreTimeout = 10 * time.Second

// runTrials stores this instance's trial counts every interval() until ctx
// is done, and once more then, so that a stopping instance's last counts
// are not lost.
func (s *sharedStore) runTrials(ctx context.Context, interval func() time.Duration) {
	for {
		t := time.NewTimer(cmp.Or(max(interval(), 0), store.DefaultSyncInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			fctx, cancel := context.WithTimeout(context.Background(), trialStoreTimeout)
			s.flushTrials(fctx)
			cancel()
			return
		case <-t.C:
		}
		fctx, cancel := context.WithTimeout(ctx, trialStoreTimeout)
		s.flushTrials(fctx)
		cancel()
	}
}

// flushTrials stores the counts that changed since they were last stored,
// forgets those of candidates that are gone, and removes their stored
// copies.
func (s *sharedStore) flushTrials(ctx context.Context) {
	st := s.store
	kept, stale := s.trials.prune(func(bucket string) *store.Candidate { return st.Lookup(bucket).Candidate })
	for _, tc := range stale {
		if err := st.DeleteTrialCounts(ctx, tc.bucket, tc.version); err != nil {
			s.logger().Warn("removing the trial counts of a candidate that is gone", zap.String("bucket", tc.bucket), zap.Error(err))
		}
	}
	for _, tc := range kept {
		seen := tc.seen()
		if seen == tc.written.Load() {
			continue
		}
		data, err := json.Marshal(tc.snapshot(st.InstanceID(), time.Now()))
		if err == nil {
			err = st.SaveTrialCounts(ctx, tc.bucket, tc.version, data)
		}
		if err != nil {
			// The next flush tries again; the counts stay in memory.
			s.logger().Warn("storing trial counts", zap.String("bucket", tc.bucket), zap.Error(err))
			continue
		}
		tc.written.Store(seen)
	}
}

// TrialReport is what the trial of a bucket's candidate found, on every
// instance that shares the storage, for the admin API's report route.
type TrialReport struct {
	Bucket    string         `json:"bucket"`
	Candidate TrialCandidate `json:"candidate"`
	// ComparedWith is what the candidate is compared against here: the
	// configuration that decides the bucket's requests, "bucket" (its own),
	// "default" (default_cors, named by DefaultFile) or "none". Promoting
	// the candidate replaces exactly that.
	ComparedWith string `json:"compared_with"`
	DefaultFile  string `json:"default_file,omitempty"`
	// The tally of every request, then of preflights and of other
	// requests with an Origin apart.
	TrialTally
	Preflight TrialTally `json:"preflight"`
	Actual    TrialTally `json:"actual"`
	// LastDisagreements are the trialRing newest disagreeing requests of
	// all instances, the newest first.
	LastDisagreements []TrialSample `json:"last_disagreements"`
	// Instances are the instances whose counts the report adds up.
	Instances []TrialInstance `json:"instances"`
	// Note says what the figures could not include.
	Note string `json:"note,omitempty"`
}

// TrialCandidate identifies the candidate on trial.
type TrialCandidate struct {
	Version   string    `json:"version"`
	Rules     int       `json:"rules"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// TrialInstance is one instance's part of a report.
type TrialInstance struct {
	Instance string `json:"instance"`
	// This marks the instance that answered, whose counts are current;
	// the others' are as of UpdatedAt, at most a sync interval old while
	// they run.
	This         bool      `json:"this,omitempty"`
	Since        time.Time `json:"since"`
	UpdatedAt    time.Time `json:"updated_at"`
	RequestsSeen uint64    `json:"requests_seen"`
}

// TrialReport adds up what every instance counted for the trial of bucket's
// candidate. It wraps store.ErrNoCandidate when the bucket has none here.
// When the other instances' counts cannot be read, the report has this
// instance's alone and Note says so.
func (a *App) TrialReport(ctx context.Context, bucket string) (TrialReport, error) {
	st := a.shared.store
	c := st.Lookup(bucket).Candidate
	if c == nil {
		return TrialReport{}, fmt.Errorf("bucket %q: %w", bucket, store.ErrNoCandidate)
	}
	out := TrialReport{
		Bucket:            bucket,
		Candidate:         TrialCandidate{Version: c.Version, Rules: c.Policy.Len(), UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy},
		LastDisagreements: []TrialSample{},
		Instances:         []TrialInstance{},
	}
	if _, src := a.Policy(bucket); src == SourceDefault {
		out.ComparedWith, out.DefaultFile = src.String(), a.DefaultFile()
	} else {
		out.ComparedWith = src.String()
	}

	var all []instanceCounts
	me := st.InstanceID()
	if tc := a.shared.trials.lookup(bucket, c.Version); tc != nil {
		all = append(all, tc.snapshot(me, time.Now()))
	}
	stored, err := st.TrialCounts(ctx, bucket, c.Version)
	if err != nil {
		out.Note = "only this instance's counts: the other instances' could not be read: " + err.Error()
	}
	var unreadable []string
	for instance, data := range stored {
		if instance == me {
			continue // memory has this instance's newest counts
		}
		var ic instanceCounts
		if err := json.Unmarshal(data, &ic); err != nil || ic.Format != trialFormat || ic.CandidateVersion != c.Version {
			unreadable = append(unreadable, instance)
			continue
		}
		ic.Instance = instance
		all = append(all, ic)
	}
	if len(unreadable) > 0 {
		slices.Sort(unreadable)
		if out.Note != "" {
			out.Note += "; "
		}
		out.Note += fmt.Sprintf("the counts stored by instances %v could not be read and are left out", unreadable)
	}
	for _, ic := range all {
		out.Preflight.add(ic.Preflight)
		out.Actual.add(ic.Actual)
		out.LastDisagreements = append(out.LastDisagreements, ic.LastDisagreements...)
		out.Instances = append(out.Instances, TrialInstance{
			Instance: ic.Instance, This: ic.Instance == me, Since: ic.Since, UpdatedAt: ic.UpdatedAt,
			RequestsSeen: ic.Preflight.RequestsSeen + ic.Actual.RequestsSeen,
		})
	}
	out.TrialTally.add(out.Preflight)
	out.TrialTally.add(out.Actual)
	slices.SortStableFunc(out.LastDisagreements, func(x, y TrialSample) int { return y.Time.Compare(x.Time) })
	out.LastDisagreements = out.LastDisagreements[:min(len(out.LastDisagreements), trialRing)]
	slices.SortFunc(out.Instances, func(x, y TrialInstance) int { return cmp.Compare(x.Instance, y.Instance) })
	return out, nil
}
