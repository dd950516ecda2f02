package e2e

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHistory changes a bucket's rules through PutBucketCors to rules that
// refuse the page's origin, then restores the earlier ones with `caddy
// s3-cors rollback`, and has a real browser upload after each step: allowed,
// refused, allowed again, exposing what the restored rule exposes. Each
// upload goes to a URL of its own, so that no preflight Chromium cached
// decides it (see testConfigChange), and the test counts the preflights the
// browser sent to be sure.
func TestHistory(t *testing.T) {
	b := startBrowser(t)
	pages := startPageServer(t)
	s := newStack(t, versitygw)
	bt := &browserTest{b: b, pages: pages, s: s}
	bucket := bucketName(t, "history")
	s.s3.createBucket(t, bucket)
	origin := pages.origin(allowedHost)
	tb := b.open(t, origin)

	allowing := []corsRule{{ID: "page", AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{origin},
		ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: maxAge(600)}}
	refusing := []corsRule{{AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{pages.origin(deniedHost)}}}

	step := 0
	upload := func(what string, allowed bool) {
		t.Helper()
		key := "history-" + strconv.Itoa(step) + ".txt"
		content := "step " + strconv.Itoa(step)
		step++
		r := tb.request(t, s.s3.presignPut(t, bucket, key), map[string]any{"method": "PUT", "body": content})
		if n := tb.preflights(s.proxy.URL, step); n != step {
			t.Errorf("%s: the browser has sent %d preflights in all, want %d: an upload went without asking the proxy\n%s", what, n, step, tb.seen())
		}
		if !allowed {
			r.assertBlocked(t, tb, what)
			bt.assertNeverReached(t, http.MethodPut, bucket, key)
			return
		}
		r.assertStatus(t, tb, what, http.StatusOK)
		if r.Headers["etag"] == "" {
			t.Errorf("%s: the page could not read the ETag\n%s", what, tb.seen())
		}
		r.assertExposed(t, tb, what, map[string]string{"etag": r.Headers["etag"]})
		if got := string(s.s3.getObject(t, bucket, key)); got != content {
			t.Errorf("%s: stored %q, want %q", what, got, content)
		}
	}

	s.s3.putCORS(t, bucket, allowing)
	upload("PUT under the rules that allow the page", true)
	s.s3.putCORS(t, bucket, refusing)
	upload("PUT under the rules that refuse the page", false)

	const clock = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`
	run := s3corsCLI(t, s.proxy, "history", bucket)
	history := regexp.MustCompile(`^bucket ` + bucket + `: 2 versions, newest first; \* is in force \(the last 20 earlier ones are kept\)\n\n` +
		`   VERSION +TIME +BY +RULES\n` +
		`\*  [0-9a-f]{24}  ` + clock + `  ` + rootAccessKey + `  1\n` +
		`   ([0-9a-f]{24})  ` + clock + `  ` + rootAccessKey + `  1\n$`)
	m := history.FindStringSubmatch(run.stdout)
	if run.code != 0 || m == nil {
		t.Fatalf("history: exit %d\n%s\nwant %s\n%s", run.code, run.stdout, history, run.stderr)
	}
	earlier := m[1]
	run = s3corsCLI(t, s.proxy, "history", bucket, earlier)
	if run.code != 0 || !strings.Contains(run.stdout, "<AllowedOrigin>"+origin+"</AllowedOrigin>") {
		t.Errorf("history of version %s: exit %d\n%s%s", earlier, run.code, run.stdout, run.stderr)
	}

	run = s3corsCLI(t, s.proxy, "rollback", bucket)
	rolled := regexp.MustCompile(`^rolled bucket ` + bucket + ` back to version ` + earlier + `, written ` + clock + ` by ` + rootAccessKey +
		` \(1 rule\); it is in force as version [0-9a-f]{24}\n$`)
	if run.code != 0 || !rolled.MatchString(run.stdout) {
		t.Fatalf("rollback: exit %d\n%s\nwant %s\n%s", run.code, run.stdout, rolled, run.stderr)
	}
	s.s3.assertCORS(t, bucket, allowing)
	upload("PUT after the rollback", true)

	run = s3corsCLI(t, s.proxy, "history", bucket)
	if run.code != 0 || !regexp.MustCompile(`\n\*  [0-9a-f]{24}  `+clock+`  admin +1\n`).MatchString(run.stdout) ||
		!strings.Contains(run.stdout, ": 3 versions, ") {
		t.Errorf("history after the rollback: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}

	// A bucket the store does not have cannot be rolled back, as
	// PutBucketCors would refuse it.
	run = s3corsCLI(t, s.proxy, "rollback", bucketName(t, "history-missing"))
	if run.code != 1 || !strings.Contains(run.stderr, "HTTP 404: ") || !strings.Contains(run.stderr, "NoSuchBucket: The specified bucket does not exist") {
		t.Errorf("rollback of a bucket the store does not have: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	s.tap.assertNothingCORSForwarded(t)
}
