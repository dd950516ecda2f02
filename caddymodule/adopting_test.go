package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// adminCall sends a request to the admin endpoint and returns the status
// and body.
func adminCall(t *testing.T, tc *caddytest.Tester, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", adminPort, path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tc.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// forceLoad loads a Caddyfile as `caddy reload --force` does: even when its
// JSON is the one running, the config is loaded anew. It returns the admin
// endpoint's answer.
func forceLoad(t *testing.T, tc *caddytest.Tester, config string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", adminPort), strings.NewReader(config))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	res, err := tc.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	tc.Client.CloseIdleConnections()
	return res.StatusCode, string(b)
}

// A bucket without a configuration of its own is served the default for
// preflights, proxied requests and ?cors answers; GetBucketCors still finds
// nothing, explain and stats say that the default decided, and the debug
// log of a refused preflight too.
func TestDefaultCORS(t *testing.T) {
	tc := caddytest.NewTester(t)
	dir := storageDir(t)
	// The default of the package's tests, for an origin of its own.
	doc, err := os.ReadFile(filepath.Join("testdata", "default-cors.xml"))
	if err != nil {
		t.Fatal(err)
	}
	legacyDoc := strings.ReplaceAll(string(doc), "https://app.example", "https://legacy.example")
	file := filepath.Join(dir, "default.xml")
	if err := os.WriteFile(file, []byte(legacyDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "caddy.log")
	logTo := fmt.Sprintf("log {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel DEBUG\n\t}", logFile)
	up := upstream(t)
	config := site(t, "", logTo, fmt.Sprintf("s3_cors {\n\t\tinsecure_unauthenticated_api\n\t\tdefault_cors %s\n\t}\n\treverse_proxy %s", file, strings.TrimPrefix(up.URL, "http://")))
	load(tc, config, "caddyfile")

	res, body := do(t, tc, http.MethodOptions, "/videos/clip.mp4", nil,
		"Origin", "https://legacy.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "https://legacy.example" ||
		res.Header.Get("Access-Control-Allow-Methods") != "GET, PUT" || res.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("a preflight the default allows: %d %v %s", res.StatusCode, res.Header, body)
	}
	res, body = do(t, tc, http.MethodGet, "/videos/clip.mp4", nil, "Origin", "https://legacy.example")
	if body != "object body from GET" || res.Header.Get("Access-Control-Allow-Origin") != "https://legacy.example" ||
		res.Header.Get("Access-Control-Expose-Headers") != "ETag" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("a GET the default allows: %d %v", res.StatusCode, res.Header)
	}
	res, _ = do(t, tc, http.MethodGet, "/videos/clip.mp4", nil, "Origin", "https://evil.example")
	if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("a GET from an origin the default does not allow got ACAO %q (the upstream's leaked?)", v)
	}

	// S3 would answer GetBucketCors with NoSuchCORSConfiguration; the
	// answer carries the default's headers, as the bucket's other answers.
	res, body = do(t, tc, http.MethodGet, "/videos?cors", nil, "Origin", "https://legacy.example")
	assertS3Error(t, res, body, http.StatusNotFound, "NoSuchCORSConfiguration")
	if res.Header.Get("Access-Control-Allow-Origin") != "https://legacy.example" {
		t.Errorf("GetBucketCors answered without the default's CORS headers: %v", res.Header)
	}

	code, body := adminCall(t, tc, http.MethodPost, "/s3_cors/explain", `{"bucket":"videos","origin":"https://legacy.example","request_method":"DELETE"}`)
	for _, want := range []string{`"source": "default"`, `"default_file": "` + file + `"`, `"outcome": "NotAllowed"`, `"reason": "method"`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("explain lacks %s: %d %s", want, code, body)
		}
	}
	res, _ = do(t, tc, http.MethodOptions, "/videos/clip.mp4", nil, "Origin", "https://legacy.example", "Access-Control-Request-Method", "DELETE")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a preflight the default refuses: %d", res.StatusCode)
	}
	var refused map[string]any
	if b, err := os.ReadFile(logFile); err == nil {
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"msg":"preflight refused"`) {
				_ = json.Unmarshal([]byte(line), &refused)
			}
		}
	}
	if refused["source"] != "default" || refused["bucket"] != "videos" || refused["reason"] != "method" {
		t.Errorf("the debug line of the refused preflight: %v", refused)
	}

	code, body = adminCall(t, tc, http.MethodGet, "/s3_cors/stats/videos", "")
	var st struct {
		Source string `json:"source"`
		Rules  []struct {
			Preflight, Actual int
		} `json:"rules"`
		PreflightRefused struct{ Method int } `json:"preflight_refused"`
		ActualRefused    struct{ Origin int } `json:"actual_refused"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.Source != "default" || len(st.Rules) != 1 ||
		st.Rules[0].Preflight != 1 || st.Rules[0].Actual != 2 || st.PreflightRefused.Method != 1 || st.ActualRefused.Origin != 1 {
		t.Errorf("stats of the default: %d %s", code, body)
	}

	// A configuration of the bucket's own replaces the default.
	putCORS(t, tc, "videos", corsDoc)
	res, _ = do(t, tc, http.MethodOptions, "/videos/clip.mp4", nil, "Origin", "https://legacy.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("the default still decides a bucket that has a configuration: %d", res.StatusCode)
	}

	// A reload reads the file again: a changed file is a new default.
	if err := os.WriteFile(file, []byte(strings.Replace(legacyDoc, "https://legacy.example", "https://next.example", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := forceLoad(t, tc, config); code != http.StatusOK {
		t.Fatalf("forced reload: %d %s", code, body)
	}
	res, _ = do(t, tc, http.MethodOptions, "/music/a.mp3", nil, "Origin", "https://next.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusOK {
		t.Errorf("after a reload with a changed file, its origin: %d", res.StatusCode)
	}
	res, _ = do(t, tc, http.MethodOptions, "/music/a.mp3", nil, "Origin", "https://legacy.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("after a reload with a changed file, the old origin: %d", res.StatusCode)
	}

	// A file that became invalid fails the reload; the running config
	// keeps serving.
	if err := os.WriteFile(file, []byte("<CORSConfiguration>\n<CORSRule>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body = forceLoad(t, tc, config)
	if code == http.StatusOK || !strings.Contains(body, "default_cors "+file+": line 3") || !strings.Contains(body, "MalformedXML") {
		t.Errorf("a reload with a broken file: %d %s", code, body)
	}
	res, _ = do(t, tc, http.MethodOptions, "/music/a.mp3", nil, "Origin", "https://next.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusOK {
		t.Errorf("after a refused reload, the running default: %d", res.StatusCode)
	}
}

// always_vary through Caddy: a response no rule matched varies on the CORS
// request headers too, on one line with the store's own names.
func TestAlwaysVaryThroughCaddy(t *testing.T) {
	tc := startCaddy(t, "insecure_unauthenticated_api\n\t\talways_vary")
	putCORS(t, tc, "photos", corsDoc)
	res, _ := do(t, tc, http.MethodGet, "/photos/cat.jpg", nil, "Origin", "https://evil.example")
	if got := res.Header.Values("Vary"); len(got) != 1 || got[0] != "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Accept-Encoding, X-Tenant" {
		t.Errorf("an unmatched GET: Vary %q", got)
	}
	if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("an unmatched GET got ACAO %q", v)
	}
	res, _ = do(t, tc, http.MethodOptions, "/photos/cat.jpg", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
	if got := res.Header.Values("Vary"); res.StatusCode != http.StatusForbidden || len(got) != 1 || got[0] != "Origin, Access-Control-Request-Headers, Access-Control-Request-Method" {
		t.Errorf("a refused preflight: %d, Vary %q", res.StatusCode, got)
	}
	res, _ = do(t, tc, http.MethodGet, "/", nil, "Origin", "https://evil.example")
	if got := res.Header.Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding, X-Tenant" {
		t.Errorf("ListBuckets, which names no bucket: Vary %q", got)
	}
}
