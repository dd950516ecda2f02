package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/store"
)

// corsDocFor is corsDoc with another origin, so that versions differ.
func corsDocFor(origin string) string {
	return strings.Replace(corsDoc, "https://app.example", origin, 1)
}

// corsDocTwoRules has two rules, so that a version's rule count shows.
const corsDocTwoRules = `<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://two.example</AllowedOrigin></CORSRule>` +
	`<CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>`

func mustCall(t *testing.T, method, path, body string) string {
	t.Helper()
	code, answer, _ := call(t, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, answer)
	}
	return answer
}

func getHistory(t *testing.T, bucket string) History {
	t.Helper()
	var h History
	if err := json.Unmarshal([]byte(mustCall(t, http.MethodGet, "/s3_cors/history/"+bucket, "")), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHistoryRoutes(t *testing.T) {
	loadConfig(t, "")

	h := getHistory(t, "photos")
	if h.Bucket != "photos" || h.Keeps != store.HistorySize || h.Versions == nil || len(h.Versions) != 0 {
		t.Errorf("the history of a bucket never configured: %+v", h)
	}
	if body := mustCall(t, http.MethodGet, "/s3_cors/history/photos", ""); !strings.Contains(body, `"versions": []`) {
		t.Errorf("an empty history is not an empty list: %s", body)
	}

	mustCall(t, http.MethodPut, "/s3_cors/buckets/photos", corsDocFor("https://one.example"))
	mustCall(t, http.MethodPut, "/s3_cors/buckets/photos", corsDocTwoRules)
	mustCall(t, http.MethodDelete, "/s3_cors/buckets/photos", "")
	mustCall(t, http.MethodPut, "/s3_cors/buckets/photos", corsDocFor("https://three.example"))

	h = getHistory(t, "photos")
	type row struct {
		rules            int
		deleted, current bool
	}
	var got []row
	for _, v := range h.Versions {
		got = append(got, row{v.Rules, v.Deleted, v.Current})
		if v.UpdatedBy != "admin" || v.UpdatedAt.IsZero() || len(v.Version) == 0 {
			t.Errorf("version %+v: want one by admin, with a time", v)
		}
	}
	if want := []row{{1, false, true}, {0, true, false}, {2, false, false}, {1, false, false}}; !slices.Equal(got, want) {
		t.Fatalf("history: %+v, want %+v", h.Versions, want)
	}
	current, deletion, two, one := h.Versions[0].Version, h.Versions[1].Version, h.Versions[2].Version, h.Versions[3].Version

	// One version's document.
	code, doc, ctype := call(t, http.MethodGet, "/s3_cors/history/photos/"+two, "")
	if code != http.StatusOK || ctype != "application/xml" || !strings.Contains(doc, "<AllowedOrigin>https://two.example</AllowedOrigin>") {
		t.Errorf("GET of version %s: %d %s %s", two, code, ctype, doc)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/history/photos/"+current, ""); !strings.Contains(doc, "https://three.example") {
		t.Errorf("GET of the current version: %s", doc)
	}
	code, body, _ := call(t, http.MethodGet, "/s3_cors/history/photos/"+deletion, "")
	wantError(t, "GET of a deletion", 404, "is the deletion of its configuration", code, body)
	code, body, _ = call(t, http.MethodGet, "/s3_cors/history/photos/nosuchversion", "")
	wantError(t, "GET of an unknown version", 404,
		`bucket "photos", version nosuchversion: no such version of the CORS configuration; `+
			"`caddy s3-cors history photos` (GET /s3_cors/history/photos) lists the versions kept", code, body)

	// Rolling back without a version restores the previous configuration,
	// skipping the deletion, as a new version.
	var rb RollbackResult
	if err := json.Unmarshal([]byte(mustCall(t, http.MethodPost, "/s3_cors/rollback/photos", "")), &rb); err != nil {
		t.Fatal(err)
	}
	if rb.Bucket != "photos" || rb.Restored.Version != two || rb.Restored.Rules != 2 || rb.Rules != 2 ||
		rb.UpdatedBy != "admin" || rb.Restored.UpdatedBy != "admin" || rb.Version == "" || rb.Version == two || rb.UpdatedAt.IsZero() {
		t.Errorf("rollback to the previous version: %+v", rb)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://two.example") {
		t.Errorf("after the rollback photos has %s", doc)
	}
	h = getHistory(t, "photos")
	if len(h.Versions) != 5 || h.Versions[0].Version != rb.Version || !h.Versions[0].Current || h.Versions[1].Version != current {
		t.Errorf("the history after the rollback: %+v", h.Versions)
	}

	// A version named in the body.
	if err := json.Unmarshal([]byte(mustCall(t, http.MethodPost, "/s3_cors/rollback/photos", `{"version": "`+one+`"}`)), &rb); err != nil {
		t.Fatal(err)
	}
	if rb.Restored.Version != one || rb.Rules != 1 {
		t.Errorf("rollback to version %s: %+v", one, rb)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://one.example") {
		t.Errorf("after the rollback to %s photos has %s", one, doc)
	}

	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"an unknown version", http.MethodPost, "/s3_cors/rollback/photos", `{"version": "nosuchversion"}`, 404,
			"no such version of the CORS configuration; `caddy s3-cors history photos`"},
		{"a deletion", http.MethodPost, "/s3_cors/rollback/photos", `{"version": "` + deletion + `"}`, 404, "delete it instead"},
		{"a bucket without history", http.MethodPost, "/s3_cors/rollback/videos", "", 404, `bucket "videos" has no earlier configuration to roll back to`},
		{"an unknown field", http.MethodPost, "/s3_cors/rollback/photos", `{"versoin": "x"}`, 400, `unknown field "versoin"`},
		{"the version in the path", http.MethodPost, "/s3_cors/rollback/photos/" + one, "", 404, `the version goes in the body`},
		{"an invalid bucket", http.MethodPost, "/s3_cors/rollback/Photos", "", 400, "InvalidBucketName: The specified bucket is not valid."},
		{"history of an invalid bucket", http.MethodGet, "/s3_cors/history/ab", "", 400, "InvalidBucketName"},
		{"a version of an invalid bucket", http.MethodGet, "/s3_cors/history/photos%2Fcat/" + one, "", 400, "InvalidBucketName"},
		{"too deep", http.MethodGet, "/s3_cors/history/photos/" + one + "/x", "", 404, "no route"},
		{"GET rollback", http.MethodGet, "/s3_cors/rollback/photos", "", 405, "use POST"},
		{"POST history", http.MethodPost, "/s3_cors/history/photos", "", 405, "use GET"},
	} {
		code, body, _ := call(t, c.method, c.path, c.body)
		wantError(t, c.name, c.status, c.want, code, body)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://one.example") {
		t.Errorf("a refused rollback changed photos: %s", doc)
	}
}

// A version written by hand may hold a slash, escaped in the path.
func TestHistorySegments(t *testing.T) {
	for path, want := range map[string][]string{
		"/s3_cors/history/photos":                 {"photos"},
		"/s3_cors/history/photos/":                {"photos", ""},
		"/s3_cors/history/photos/Hand%2FMade%201": {"photos", "Hand/Made 1"},
		"/s3_cors/history/photos%2Fcat/v":         {"photos/cat", "v"},
	} {
		got, err := historySegments(httptest.NewRequest(http.MethodGet, path, nil), "history")
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", path, got, err, want)
		}
	}
}

// A rollback is refused as a PUT is when the handlers' upstream does not
// have the bucket, or cannot tell.
func TestRollbackAsksTheHandlersUpstream(t *testing.T) {
	up := newHeadBucketStore(t, "photos")
	loadConfig(t, up.URL)
	mustCall(t, http.MethodPut, "/s3_cors/buckets/photos", corsDocFor("https://one.example"))
	mustCall(t, http.MethodPut, "/s3_cors/buckets/photos", corsDocFor("https://two.example"))

	up.down.Store(true)
	code, body, _ := call(t, http.MethodPost, "/s3_cors/rollback/photos", "")
	wantError(t, "rollback with the upstream down", 503, `bucket "photos": ServiceUnavailable`, code, body)
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://two.example") {
		t.Errorf("a refused rollback changed photos: %s", doc)
	}
	up.down.Store(false)
	code, body, _ = call(t, http.MethodPost, "/s3_cors/rollback/videos", "")
	wantError(t, "rollback of a bucket the upstream does not have", 404, `bucket "videos": NoSuchBucket: The specified bucket does not exist`, code, body)
	mustCall(t, http.MethodPost, "/s3_cors/rollback/photos", "")
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://one.example") {
		t.Errorf("after the rollback photos has %s", doc)
	}
}

func TestCommandHistory(t *testing.T) {
	loadConfig(t, "")
	file := filepath.Join(t.TempDir(), "two.xml")
	if err := os.WriteFile(file, []byte(corsDocTwoRules), 0o600); err != nil {
		t.Fatal(err)
	}
	runCaddy(t, "", "history", "photos").wantSuccess(t, "history of a bucket never configured",
		"bucket photos: no CORS configuration, and none earlier\n")
	runCaddy(t, corsDoc, "put", "photos", "-").wantSuccess(t, "put", "stored the CORS configuration of bucket photos (1 rule)\n")
	runCaddy(t, "", "put", "photos", file).wantSuccess(t, "put", "stored the CORS configuration of bucket photos (2 rules)\n")
	runCaddy(t, "", "delete", "photos").wantSuccess(t, "delete", "deleted the CORS configuration of bucket photos\n")
	runCaddy(t, corsDoc, "put", "photos", "-").wantSuccess(t, "put", "stored the CORS configuration of bucket photos (1 rule)\n")
	h := getHistory(t, "photos")

	run := runCaddy(t, "", "history", "photos")
	const clockRE = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`
	want := regexp.MustCompile(`^bucket photos: 4 versions, newest first; \* is in force \(the last 20 earlier ones are kept\)\n\n` +
		`   VERSION +TIME +BY +RULES\n` +
		`\*  ` + h.Versions[0].Version + `  ` + clockRE + `  admin  1\n` +
		`   ` + h.Versions[1].Version + `  ` + clockRE + `  admin  deleted\n` +
		`   ` + h.Versions[2].Version + `  ` + clockRE + `  admin  2\n` +
		`   ` + h.Versions[3].Version + `  ` + clockRE + `  admin  1\n$`)
	if run.code != 0 || !want.MatchString(run.stdout) {
		t.Errorf("history: exit %d\n%s\nwant %s\n%s", run.code, run.stdout, want, run.stderr)
	}
	two := h.Versions[2].Version
	_, doc, _ := call(t, http.MethodGet, "/s3_cors/history/photos/"+two, "")
	runCaddy(t, "", "history", "photos", two).wantSuccess(t, "history of one version", doc+"\n")

	run = runCaddy(t, "", "rollback", "photos")
	want = regexp.MustCompile(`^rolled bucket photos back to version ` + two + `, written ` + clockRE + ` by admin \(2 rules\); it is in force as version [0-9a-f]{24}\n$`)
	if run.code != 0 || !want.MatchString(run.stdout) {
		t.Errorf("rollback: exit %d, %q, want %s (%s)", run.code, run.stdout, want, run.stderr)
	}
	if _, doc, _ := call(t, http.MethodGet, "/s3_cors/buckets/photos", ""); !strings.Contains(doc, "https://two.example") {
		t.Errorf("after the rollback photos has %s", doc)
	}
	first := h.Versions[3].Version
	run = runCaddy(t, "", "rollback", "photos", first)
	if run.code != 0 || !strings.HasPrefix(run.stdout, "rolled bucket photos back to version "+first+", written ") || !strings.Contains(run.stdout, " by admin (1 rule); ") {
		t.Errorf("rollback to %s: exit %d, %q (%s)", first, run.code, run.stdout, run.stderr)
	}

	runCaddy(t, "", "rollback", "photos", "nosuchversion").wantFailure(t, "rollback to an unknown version",
		"HTTP 404: bucket \"photos\", version nosuchversion: no such version of the CORS configuration; `caddy s3-cors history photos`")
	runCaddy(t, "", "history", "photos", "nosuchversion").wantFailure(t, "history of an unknown version", "HTTP 404", "lists the versions kept")
	runCaddy(t, "", "rollback", "videos").wantFailure(t, "rollback of a bucket without history", "HTTP 404", "no earlier configuration")
	runCaddy(t, "", "history").wantFailure(t, "history without a bucket", "usage: caddy s3-cors history <bucket> [<version>]\n")
	runCaddy(t, "", "rollback", "photos", "a", "b").wantFailure(t, "rollback with two versions", "usage: caddy s3-cors rollback <bucket> [<version>]\n")
}
