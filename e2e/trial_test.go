package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// trialReport is the part of the admin API's report route the test reads.
type trialReport struct {
	Candidate struct {
		Version string `json:"version"`
	} `json:"candidate"`
	ComparedWith      string `json:"compared_with"`
	RequestsSeen      uint64 `json:"requests_seen"`
	Agreements        uint64 `json:"agreements"`
	WouldNewlyRefuse  uint64 `json:"would_newly_refuse"`
	WouldNewlyAllow   uint64 `json:"would_newly_allow"`
	LastDisagreements []struct {
		Instance       string `json:"instance"`
		Kind           string `json:"kind"`
		Change         string `json:"change"`
		Method         string `json:"method"`
		Origin         string `json:"origin"`
		RequestMethod  string `json:"request_method"`
		RequestHeaders string `json:"request_headers"`
		Key            string `json:"key"`
		Live           struct {
			Source  string `json:"source"`
			Allowed bool   `json:"allowed"`
			Rule    int    `json:"rule"`
		} `json:"live"`
		Candidate struct {
			Allowed bool   `json:"allowed"`
			Rule    int    `json:"rule"`
			Reason  string `json:"reason"`
		} `json:"candidate"`
	} `json:"last_disagreements"`
	Instances []struct {
		Instance     string `json:"instance"`
		This         bool   `json:"this"`
		RequestsSeen uint64 `json:"requests_seen"`
	} `json:"instances"`
}

// adminGet reads a route of px's admin API, returning its status and body.
func adminGet(t *testing.T, px *proxy, path string) response {
	t.Helper()
	return send(t, mustRequest(t, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(px.cfg.AdminPort)+path, nil))
}

func readTrialReport(t *testing.T, px *proxy, bucket string) trialReport {
	t.Helper()
	res := adminGet(t, px, "/s3_cors/candidates/"+bucket+"/report")
	var r trialReport
	if err := json.Unmarshal(res.body, &r); res.status != http.StatusOK || err != nil {
		t.Fatalf("the report route: %s (%v)", res, err)
	}
	return r
}

// TestTrial runs a report-only trial in front of versitygw with two proxies
// on one storage, as a cluster. A candidate that would refuse the page's
// origin is put on trial with `caddy s3-cors try`; a real browser still
// uploads from that origin through the first proxy, because the live rules
// decide, and `caddy s3-cors report` counts the upload's preflight and PUT
// as would-newly-refuse, with the preflight among the last disagreements,
// together with a request the second proxy counted. After `promote` the
// browser is refused (on a fresh URL, so that no cached preflight answers)
// and the upload never reaches the store; `discard` drops a later
// candidate.
func TestTrial(t *testing.T) {
	b := startBrowser(t)
	pages := startPageServer(t)
	st := startStore(t, versitygw)
	tp := startTap(t, st.URL)
	shared := t.TempDir()
	px := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, DataDir: shared, Comment: "trial a"})
	other := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, DataDir: shared, Comment: "trial b"})
	s := &stack{store: st, tap: tp, proxy: px, s3: newS3Client(px.URL, rootCreds), direct: newS3Client(st.URL, rootCreds)}
	bt := &browserTest{b: b, pages: pages, s: s}

	page := pages.origin(allowedHost)
	bucket := bucketName(t, "trial")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, []corsRule{{AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{page}, ExposeHeaders: []string{"ETag"}}})
	file := filepath.Join(t.TempDir(), "candidate.xml")
	if err := os.WriteFile(file, corsXML([]corsRule{{
		AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{pages.origin(deniedHost)}, ExposeHeaders: []string{"ETag"},
	}}), 0o600); err != nil {
		t.Fatal(err)
	}

	run := s3corsCLI(t, px, "try", bucket, file)
	if run.code != 0 || !strings.HasPrefix(run.stdout, "stored a candidate CORS configuration for bucket "+bucket+" (1 rule, version ") {
		t.Fatalf("try: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	s.s3.assertCORS(t, bucket, []corsRule{{AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{page}, ExposeHeaders: []string{"ETag"}}})

	// The second instance learns of the candidate at its next sync and
	// counts a preflight of its own.
	eventually(t, "the second proxy has the candidate", func() bool {
		return adminGet(t, other, "/s3_cors/candidates/"+bucket).status == http.StatusOK
	})
	if pre := sendPreflight(t, other.URL+"/"+bucket+"/from-b.txt", page, "PUT", ""); pre.status != http.StatusOK {
		t.Errorf("a preflight to the second proxy during the trial: %s", pre)
	}

	tb := b.open(t, page)
	upload := func(key string) pageResult {
		content := "uploaded as " + key
		return tb.request(t, s.s3.presignPut(t, bucket, key), map[string]any{"method": "PUT", "body": content})
	}
	r := upload("during-trial.txt")
	r.assertStatus(t, tb, "PUT from the origin the live rules allow, during the trial", http.StatusOK)
	if n := tb.preflights(px.URL, 1); n != 1 {
		t.Errorf("the browser sent %d preflights, want 1\n%s", n, tb.seen())
	}
	if got := string(s.s3.getObject(t, bucket, "during-trial.txt")); got != "uploaded as during-trial.txt" {
		t.Errorf("stored %q", got)
	}

	// The second proxy stores its counts at its next sync interval.
	var rep trialReport
	eventually(t, "the report has both proxies' counts", func() bool {
		rep = readTrialReport(t, px, bucket)
		return len(rep.Instances) == 2
	})
	if rep.ComparedWith != "bucket" || rep.RequestsSeen != 3 || rep.WouldNewlyRefuse != 3 || rep.Agreements != 0 || rep.WouldNewlyAllow != 0 {
		t.Errorf("report: %+v, want 3 requests (two preflights and the PUT), all would-newly-refuse", rep)
	}
	keys := map[string]bool{}
	for _, d := range rep.LastDisagreements {
		keys[d.Kind+" "+d.Key] = true
		if d.Kind == "preflight" && d.Key == "during-trial.txt" {
			if d.Origin != page || d.Method != http.MethodOptions || d.RequestMethod != http.MethodPut || d.Change != "would_newly_refuse" ||
				!d.Live.Allowed || d.Live.Rule != 0 || d.Live.Source != "bucket" || d.Candidate.Allowed || d.Candidate.Rule != -1 || d.Candidate.Reason != "origin" {
				t.Errorf("the browser's preflight as the report has it: %+v", d)
			}
		}
	}
	for _, want := range []string{"preflight during-trial.txt", "actual during-trial.txt", "preflight from-b.txt"} {
		if !keys[want] {
			t.Errorf("the last disagreements lack the %s: %+v", want, rep.LastDisagreements)
		}
	}
	run = s3corsCLI(t, px, "report", bucket)
	for _, want := range []string{
		"bucket " + bucket + ": candidate " + rep.Candidate.Version + " (1 rule)",
		"compared with the bucket's own configuration",
		"\nall             3     0       3 ",
		"preflight  would newly refuse  OPTIONS  " + page + "  PUT ",
		"during-trial.txt  rule 0  refused (origin)",
	} {
		if run.code != 0 || !strings.Contains(run.stdout, want) {
			t.Errorf("report lacks %q: exit %d\n%s%s", want, run.code, run.stdout, run.stderr)
		}
	}

	run = s3corsCLI(t, px, "promote", bucket)
	if run.code != 0 || run.stdout != "promoted the candidate of bucket "+bucket+": it is the live CORS configuration now (1 rule)\n" {
		t.Fatalf("promote: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	r = upload("after-promote.txt")
	r.assertBlocked(t, tb, "PUT from the origin the promoted candidate refuses")
	if n := tb.preflights(px.URL, 2); n != 2 {
		t.Errorf("the browser sent %d preflights in all, want 2: the upload after the promotion went without asking\n%s", n, tb.seen())
	}
	bt.assertNeverReached(t, http.MethodPut, bucket, "after-promote.txt")
	s.s3.assertCORS(t, bucket, []corsRule{{AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{pages.origin(deniedHost)}, ExposeHeaders: []string{"ETag"}}})
	run = s3corsCLI(t, px, "report", bucket)
	if run.code != 1 || !strings.Contains(run.stderr, "has no candidate CORS configuration on trial; store one with `caddy s3-cors try "+bucket+" <file>`") {
		t.Errorf("report after the promotion: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	eventually(t, "the second proxy serves the promoted candidate", func() bool {
		return sendPreflight(t, other.URL+"/"+bucket+"/k", page, "PUT", "").status == http.StatusForbidden
	})

	// A later candidate is discarded: the promoted rules stay.
	if run := s3corsCLI(t, px, "try", bucket, file); run.code != 0 {
		t.Fatalf("second try: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	run = s3corsCLI(t, px, "discard", bucket)
	if run.code != 0 || run.stdout != "discarded the candidate CORS configuration of bucket "+bucket+"\n" {
		t.Errorf("discard: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	if res := adminGet(t, px, "/s3_cors/candidates"); res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != "[]" {
		t.Errorf("candidates after the discard: %s", res)
	}
	if res := adminGet(t, px, "/s3_cors/candidates/"+bucket+"/report"); res.status != http.StatusNotFound {
		t.Errorf("report after the discard: %s", res)
	}
	s.s3.assertCORS(t, bucket, []corsRule{{AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{pages.origin(deniedHost)}, ExposeHeaders: []string{"ETag"}}})

	// The overall disagreement counter, without bucket or origin labels.
	res := adminGet(t, px, "/metrics")
	for _, want := range []string{
		`caddy_s3_cors_trial_disagreements_total{change="would_newly_refuse"} 2`,
		`caddy_s3_cors_candidates_on_trial 0`,
	} {
		if !bytes.Contains(res.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	tp.assertNothingCORSForwarded(t)
}
