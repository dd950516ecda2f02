package admin

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// loadServingConfig runs Caddy with the s3_cors app on fresh storage and an
// s3_cors handler (in front of a 204) that requests can reach, and returns
// its address.
func loadServingConfig(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(storageRoot, "storage-")
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr()
	loadJSON(t, map[string]any{
		"storage": map[string]any{"module": "file_system", "root": dir},
		"apps": map[string]any{
			"s3_cors": map[string]any{"sync_interval": "1h"},
			"http": map[string]any{"servers": map[string]any{"s3": map[string]any{
				"listen": []string{addr},
				"routes": []any{map[string]any{"handle": []any{
					map[string]any{"handler": "s3_cors"},
					map[string]any{"handler": "static_response", "status_code": 204},
				}}},
			}}},
		},
	})
	return addr
}

// sendPreflight sends a preflight for PUT from origin to the handler at
// addr and returns the status.
func sendPreflight(t *testing.T, addr, path, origin string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// candidateDoc allows what corsDoc allows, from another origin.
var candidateDoc = strings.Replace(corsDoc, "https://app.example", "https://next.example", 1)

func TestTrialRoutes(t *testing.T) {
	addr := loadServingConfig(t)

	code, body, _ := call(t, http.MethodGet, "/s3_cors/candidates", "")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("list with no candidate: %d %q", code, body)
	}
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, "/s3_cors/candidates/photos"},
		{http.MethodPost, "/s3_cors/candidates/photos/promote"},
		{http.MethodGet, "/s3_cors/candidates/photos/report"},
		{http.MethodDelete, "/s3_cors/candidates/photos"},
	} {
		code, body, _ := call(t, route.method, route.path, "")
		wantError(t, route.method+" "+route.path+" without a candidate", 404,
			"bucket \"photos\" has no candidate CORS configuration on trial; store one with `caddy s3-cors try photos <file>`", code, body)
	}

	// A candidate is validated as PutBucketCors validates.
	code, body, _ = call(t, http.MethodPut, "/s3_cors/candidates/photos", "<CORSConfiguration/>")
	wantError(t, "PUT of a candidate without rules", 400, `bucket "photos": MalformedXML: The XML you provided was not well-formed`, code, body)
	code, body, _ = call(t, http.MethodPut, "/s3_cors/candidates/photos",
		strings.Replace(corsDoc, "<AllowedMethod>PUT</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1))
	wantError(t, "PUT of a candidate with PATCH", 400, "InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH", code, body)

	// The bucket has no configuration: the trial shows what enabling CORS
	// would allow, while preflights stay refused.
	code, body, ctype := call(t, http.MethodPut, "/s3_cors/candidates/photos", candidateDoc)
	var s CandidateSummary
	if err := json.Unmarshal([]byte(body), &s); code != http.StatusOK || ctype != "application/json" || err != nil ||
		s.Bucket != "photos" || s.Rules != 1 || len(s.Version) < 16 || s.UpdatedBy != "admin" || s.UpdatedAt.IsZero() {
		t.Fatalf("PUT of a candidate: %d %s %q (%v)", code, ctype, body, err)
	}
	code, body, ctype = call(t, http.MethodGet, "/s3_cors/candidates/photos", "")
	if code != http.StatusOK || ctype != "application/xml" || !strings.Contains(body, "<AllowedOrigin>https://next.example</AllowedOrigin>") {
		t.Errorf("GET of the candidate: %d %s %q", code, ctype, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/candidates", "")
	var list []CandidateSummary
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil || len(list) != 1 || list[0] != s {
		t.Errorf("list: %d %q, want [%+v]", code, body, s)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/buckets/photos", "")
	wantError(t, "the live configuration after a try", 404, "NoSuchCORSConfiguration", code, body)

	if got := sendPreflight(t, addr, "/photos/a.txt", "https://next.example"); got != http.StatusForbidden {
		t.Errorf("a preflight the candidate alone allows: %d, want 403", got)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/candidates/photos/report", "")
	var report caddymodule.TrialReport
	if err := json.Unmarshal([]byte(body), &report); code != http.StatusOK || err != nil {
		t.Fatalf("report: %d %q (%v)", code, body, err)
	}
	if report.Candidate.Version != s.Version || report.ComparedWith != "none" || report.RequestsSeen != 1 || report.WouldNewlyAllow != 1 ||
		len(report.LastDisagreements) != 1 || report.LastDisagreements[0].Key != "a.txt" || report.LastDisagreements[0].Live.Outcome != "NotEnabled" {
		t.Errorf("report: %s", body)
	}

	// Promoting makes it live, as a PUT: the preflight is allowed now, and
	// the trial is over.
	code, body, _ = call(t, http.MethodPost, "/s3_cors/candidates/photos/promote", "")
	var live BucketSummary
	if err := json.Unmarshal([]byte(body), &live); code != http.StatusOK || err != nil || live.Bucket != "photos" || live.Rules != 1 || live.UpdatedBy != "admin" {
		t.Fatalf("promote: %d %q (%v)", code, body, err)
	}
	if got := sendPreflight(t, addr, "/photos/a.txt", "https://next.example"); got != http.StatusOK {
		t.Errorf("a preflight the promoted candidate allows: %d", got)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/candidates/photos/report", "")
	wantError(t, "report after the promotion", 404, "has no candidate", code, body)

	// Discard drops a candidate, once; the live configuration stays.
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/candidates/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("second PUT of a candidate: %d %s", code, body)
	}
	if code, body, _ := call(t, http.MethodDelete, "/s3_cors/candidates/photos", ""); code != http.StatusOK {
		t.Errorf("DELETE of the candidate: %d %s", code, body)
	}
	code, body, _ = call(t, http.MethodDelete, "/s3_cors/candidates/photos", "")
	wantError(t, "second DELETE of the candidate", 404, "has no candidate", code, body)
	if code, body, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); code != http.StatusOK || !strings.Contains(body, "https://next.example") {
		t.Errorf("the live configuration after the discard: %d %s", code, body)
	}

	for _, name := range []string{"ab", "Not_A_Bucket", "photos..2"} {
		for _, route := range []struct{ method, path string }{
			{http.MethodGet, "/s3_cors/candidates/" + name},
			{http.MethodPut, "/s3_cors/candidates/" + name},
			{http.MethodDelete, "/s3_cors/candidates/" + name},
			{http.MethodPost, "/s3_cors/candidates/" + name + "/promote"},
			{http.MethodGet, "/s3_cors/candidates/" + name + "/report"},
		} {
			code, body, _ := call(t, route.method, route.path, corsDoc)
			wantError(t, route.method+" "+route.path, 400, "InvalidBucketName", code, body)
		}
	}
	for _, c := range []struct{ method, path, allowed string }{
		{http.MethodPost, "/s3_cors/candidates", "GET"},
		{http.MethodPost, "/s3_cors/candidates/photos", "GET, PUT, DELETE"},
		{http.MethodGet, "/s3_cors/candidates/photos/promote", "POST"},
		{http.MethodPost, "/s3_cors/candidates/photos/report", "GET"},
	} {
		code, body, _ := call(t, c.method, c.path, "")
		wantError(t, c.method+" "+c.path, 405, "use "+c.allowed, code, body)
	}
	code, body, _ = call(t, http.MethodGet, "/s3_cors/candidates/photos/history", "")
	wantError(t, "an unknown action", 404, "no route /s3_cors/candidates/photos/history", code, body)
}

// A try and a promotion are checked against the handlers' upstream, as a
// PUT of a configuration is.
func TestTrialAsksTheHandlersUpstream(t *testing.T) {
	up := newHeadBucketStore(t, "photos")
	loadConfig(t, up.URL)
	code, body, _ := call(t, http.MethodPut, "/s3_cors/candidates/videos", corsDoc)
	wantError(t, "a try for a bucket the upstream does not have", 404, `bucket "videos": NoSuchBucket`, code, body)
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/candidates/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("a try for a bucket the upstream has: %d %s", code, body)
	}
	up.down.Store(true)
	code, body, _ = call(t, http.MethodPost, "/s3_cors/candidates/photos/promote", "")
	wantError(t, "a promotion with the upstream down", 503, "ServiceUnavailable", code, body)
	if code, _, _ := call(t, http.MethodGet, "/s3_cors/candidates/photos", ""); code != http.StatusOK {
		t.Errorf("the refused promotion dropped the candidate: %d", code)
	}
	code, body, _ = call(t, http.MethodPut, "/s3_cors/candidates/photos", candidateDoc)
	wantError(t, "a try with the upstream down", 503, "ServiceUnavailable", code, body)
}

func TestCommandTrialUsage(t *testing.T) {
	verbLines := []string{
		"  try <bucket> <file|->      put a candidate CORSConfiguration on report-only trial; the live one keeps answering",
		"  report <bucket>            what the trial of a bucket's candidate counted on every instance (table)",
		"  promote <bucket>           make a bucket's candidate its live configuration",
		"  discard <bucket>           drop a bucket's candidate",
	}
	runCaddy(t, "").wantFailure(t, "no verb", verbLines...)
	runCaddy(t, "", "try", "photos").wantFailure(t, "try without a file", "usage: caddy s3-cors try <bucket> <file|->\n")
	runCaddy(t, "", "report").wantFailure(t, "report without a bucket", "usage: caddy s3-cors report <bucket>\n")
	help := runCaddy(t, "", "--help")
	for _, want := range append(verbLines, "caddy s3-cors try photos next-cors.xml", "caddy s3-cors report photos", "caddy s3-cors promote photos", "caddy s3-cors discard photos") {
		if help.code != 0 || !strings.Contains(help.stdout, want) {
			t.Errorf("--help: exit %d, lacks %q:\n%s", help.code, want, help.stdout)
		}
	}
}

func TestCommandTrial(t *testing.T) {
	addr := loadServingConfig(t)
	if code, body, _ := call(t, http.MethodPut, "/s3_cors/buckets/photos", corsDoc); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	file := filepath.Join(t.TempDir(), "next.xml")
	if err := os.WriteFile(file, []byte(candidateDoc), 0o600); err != nil {
		t.Fatal(err)
	}

	run := runCaddy(t, "", "report", "photos")
	run.wantFailure(t, "report without a candidate", "has no candidate CORS configuration on trial; store one with `caddy s3-cors try photos <file>`")
	run = runCaddy(t, "", "try", "photos", file)
	_, body, _ := call(t, http.MethodGet, "/s3_cors/candidates", "")
	var list []CandidateSummary
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 {
		t.Fatalf("candidates after try: %q (%v)", body, err)
	}
	run.wantSuccess(t, "try", "stored a candidate CORS configuration for bucket photos (1 rule, version "+list[0].Version+
		"); requests are still answered by the live configuration: see caddy s3-cors report photos\n")

	// The live rules allow app.example, the candidate's would not.
	if got := sendPreflight(t, addr, "/photos/cat.jpg", "https://app.example"); got != http.StatusOK {
		t.Fatalf("a preflight the live rules allow: %d", got)
	}
	run = runCaddy(t, "", "report", "photos")
	for _, want := range []string{
		"bucket photos: candidate " + list[0].Version + " (1 rule), stored ",
		"compared with the bucket's own configuration\n",
		"(this one) 1 request\n",
		"\npreflights      1     0       1                   0                  0\n",
		"\nother requests  0     0       0                   0                  0\n",
		"\nlast 1 disagreement, newest first:\n",
		" preflight  would newly refuse  OPTIONS  https://app.example  PUT             content-type     cat.jpg  rule 0  refused (origin)\n",
	} {
		if run.code != 0 || !strings.Contains(run.stdout, want) {
			t.Errorf("report lacks %q: exit %d\n%s%s", want, run.code, run.stdout, run.stderr)
		}
	}

	runCaddy(t, "", "promote", "photos").wantSuccess(t, "promote", "promoted the candidate of bucket photos: it is the live CORS configuration now (1 rule)\n")
	if got := sendPreflight(t, addr, "/photos/cat.jpg", "https://app.example"); got != http.StatusForbidden {
		t.Errorf("a preflight the promoted candidate refuses: %d", got)
	}
	if run := runCaddy(t, corsDoc, "try", "photos", "-"); run.code != 0 || !strings.HasPrefix(run.stdout, "stored a candidate CORS configuration for bucket photos (1 rule, version ") {
		t.Errorf("try from standard input: exit %d, %q %s", run.code, run.stdout, run.stderr)
	}
	runCaddy(t, "", "discard", "photos").wantSuccess(t, "discard", "discarded the candidate CORS configuration of bucket photos\n")
	runCaddy(t, "", "discard", "photos").wantFailure(t, "second discard", "HTTP 404", "has no candidate")
	runCaddy(t, "", "promote", "photos").wantFailure(t, "promote without a candidate", "HTTP 404", "has no candidate")
}
