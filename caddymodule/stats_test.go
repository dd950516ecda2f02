package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// serve sends one request through h, with upstreamStub as the next
// handler, and returns the response.
func serve(t testing.TB, h *Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := newRequest(method, target, header...)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, upstreamStub{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// newRequest is a request to the test host with the header pairs given.
func newRequest(method, target string, header ...string) *http.Request {
	r := httptest.NewRequest(method, "http://s3.example.com"+target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// statsDoc has two rules: uploads from the app, reads from any origin
// under example.
const statsDoc = `<CORSConfiguration>` +
	`<CORSRule><ID>uploads</ID><AllowedHeader>content-type</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.example</AllowedOrigin></CORSRule>` +
	`<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://*.example</AllowedOrigin></CORSRule>` +
	`</CORSConfiguration>`

func putDoc(t testing.TB, h *Handler, bucket, doc string) {
	t.Helper()
	cfg, err := cors.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store().Put(context.Background(), bucket, cfg, "test"); err != nil {
		t.Fatal(err)
	}
}

func preflight(origin, method string, headers ...string) []string {
	h := []string{"Origin", origin, "Access-Control-Request-Method", method}
	if len(headers) > 0 {
		h = append(h, "Access-Control-Request-Headers", strings.Join(headers, ","))
	}
	return h
}

// Every decision of a bucket's configuration is counted under its rule, or
// under the reason no rule matched, preflights apart from other requests.
func TestStatsCountDecisions(t *testing.T) {
	h := newBenchHandler(t)
	putDoc(t, h, "photos", statsDoc)
	// As if this instance had started after the configuration was stored.
	started := time.Now()
	h.app.shared.stats.started = started

	for range 3 {
		serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "PUT", "content-type")...)
	}
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://evil.test", "PUT")...)          // origin
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "DELETE")...)     // method
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "PUT", "x-a")...) // header
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "PUT", strings.Repeat("x,", cors.MaxRequestHeadersSize))...)
	serve(t, h, http.MethodOptions, "/photos/a.jpg", "Access-Control-Request-Method", "GET") // no Origin
	serve(t, h, http.MethodOptions, "/photos/a.jpg", preflight("https://app.example", "PATCH")...)
	for range 2 {
		serve(t, h, http.MethodGet, "/photos/a.jpg", "Origin", "https://any.example")
	}
	serve(t, h, http.MethodPut, "/photos/a.jpg", "Origin", "https://app.example")
	serve(t, h, http.MethodDelete, "/photos/a.jpg", "Origin", "https://app.example") // no rule has DELETE
	serve(t, h, http.MethodGet, "/photos/a.jpg", "Origin", "https://evil.test")
	serve(t, h, http.MethodGet, "/photos/a.jpg") // not a CORS request: not counted

	st := h.app.Stats("photos")
	want := DecisionStats{
		Bucket: "photos", Source: "bucket", Since: started, SinceEvent: "start",
		Rules:                  []RuleStats{{Index: 0, ID: "uploads", Preflight: 3, Actual: 1}, {Index: 1, Actual: 2}},
		PreflightRefused:       RefusalStats{Origin: 1, Method: 1, Header: 1, HeadersTooLarge: 1},
		ActualRefused:          RefusalStats{Origin: 1, Method: 1},
		PreflightMissingOrigin: 1, PreflightInvalidMethod: 1,
	}
	if fmt.Sprintf("%+v", st) != fmt.Sprintf("%+v", want) {
		t.Errorf("stats:\n got %+v\nwant %+v", st, want)
	}
	if st := h.app.Stats("videos"); st.Source != "none" || len(st.Rules) != 0 || st.Note == "" {
		t.Errorf("a bucket without configuration: %+v", st)
	}
}

// A new configuration starts its counts afresh, and says since when.
func TestStatsRestartWithTheConfiguration(t *testing.T) {
	h := newBenchHandler(t)
	putDoc(t, h, "photos", statsDoc)
	h.app.shared.stats.started = time.Now()
	serve(t, h, http.MethodGet, "/photos/a.jpg", "Origin", "https://any.example")
	if st := h.app.Stats("photos"); st.Rules[1].Actual != 1 || st.SinceEvent != "start" {
		t.Fatalf("before the change: %+v", st)
	}
	before := time.Now()
	putDoc(t, h, "photos", strings.Replace(statsDoc, "<AllowedMethod>GET</AllowedMethod>", "<AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>", 1))
	st := h.app.Stats("photos")
	if st.Rules[1].Actual != 0 || st.SinceEvent != "configuration_change" || st.Since.Before(before) {
		t.Errorf("right after the change: %+v", st)
	}
	serve(t, h, http.MethodHead, "/photos/a.jpg", "Origin", "https://any.example")
	if st := h.app.Stats("photos"); st.Rules[1].Actual != 1 || st.SinceEvent != "configuration_change" {
		t.Errorf("after a request under the new configuration: %+v", st)
	}
}

// Decisions of the default are counted once, under the default: requests
// to made-up bucket names add nothing to the table.
func TestStatsOfTheDefault(t *testing.T) {
	h := newBenchHandler(t)
	d, key, err := loadDefaultCORS(writeFile(t, "d.xml", statsDoc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = defaultPolicies.Delete(key) })
	h.defaultCORS = d
	if err := h.app.defaults.set(d, "d.xml"); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		bucket := fmt.Sprintf("/made-up-%d/key", i)
		serve(t, h, http.MethodOptions, bucket, preflight("https://app.example", "PUT")...)
		serve(t, h, http.MethodGet, bucket, "Origin", "https://evil.example")
	}
	st := h.app.Stats("made-up-7")
	if st.Source != "default" || st.DefaultFile != "d.xml" || st.SinceEvent != "default_loaded" ||
		st.Rules[0].Preflight != 500 || st.Rules[1].Actual != 500 || st.Note == "" {
		t.Errorf("the default's stats: %+v", st)
	}
	if n := h.app.shared.stats.entries(); n != 0 {
		t.Errorf("the table holds %d entries after requests to buckets without configuration", n)
	}
}

// The table holds no more entries than buckets have a configuration: those
// of removed configurations go when their shard next changes.
func TestStatsTableDropsRemovedBuckets(t *testing.T) {
	h := newBenchHandler(t)
	st := h.app.shared.stats
	for i := range 200 {
		b := fmt.Sprintf("old-%d", i)
		putDoc(t, h, b, statsDoc)
		serve(t, h, http.MethodGet, "/"+b+"/k", "Origin", "https://any.example")
	}
	if n := st.entries(); n != 200 {
		t.Fatalf("%d entries for 200 configured buckets", n)
	}
	for i := range 200 {
		if _, err := h.store().Delete(context.Background(), fmt.Sprintf("old-%d", i), "test"); err != nil {
			t.Fatal(err)
		}
	}
	touched := map[*statsShard]bool{}
	for i := range 200 {
		b := fmt.Sprintf("new-%d", i)
		putDoc(t, h, b, statsDoc)
		serve(t, h, http.MethodGet, "/"+b+"/k", "Origin", "https://any.example")
		touched[st.shard(b)] = true
	}
	for i := range st.shards {
		sh := &st.shards[i]
		m := sh.buckets.Load()
		if m == nil || !touched[sh] {
			continue
		}
		for b := range *m {
			if strings.HasPrefix(b, "old-") {
				t.Errorf("shard %d still counts %s, whose configuration was removed before the shard changed", i, b)
			}
		}
	}
	if n := st.entries(); n > 200+len(st.shards) {
		t.Errorf("%d entries for 200 configured buckets", n)
	}
}

// entries counts the table's entries.
func (t *statsTable) entries() int {
	n := 0
	for i := range t.shards {
		if m := t.shards[i].buckets.Load(); m != nil {
			n += len(*m)
		}
	}
	return n
}
