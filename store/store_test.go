package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/s3cors/caddy-s3-cors/cors"
)

func TestPutGetLookupDelete(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)

	if p := s.Lookup("photos").Live; p != nil {
		t.Fatalf("Lookup on an empty store = %v, want nil", p)
	}
	before := time.Now().UTC()
	rec := mustPut(t, s, "photos", "https://app.example.com")
	want := canonical(t, "https://app.example.com")
	if rec.Bucket != "photos" || rec.Document != want || rec.UpdatedBy != "AKIDTEST" || rec.Version == "" {
		t.Fatalf("Put returned %+v", rec)
	}
	if rec.UpdatedAt.Before(before.Add(-time.Second)) || rec.UpdatedAt.Location() != time.UTC {
		t.Fatalf("UpdatedAt = %v, want about now in UTC", rec.UpdatedAt)
	}
	if got := policyDoc(s.Lookup("photos").Live); got != want {
		t.Fatalf("Lookup after Put = %q, want %q", got, want)
	}
	got, ok := s.Get("photos")
	if !ok || !got.same(rec) {
		t.Fatalf("Get = %+v, %v; want %+v", got, ok, rec)
	}

	// The record is in storage, as readable JSON, before Put returned.
	data, err := os.ReadFile(filepath.Join(fsys.Path, "s3_cors", "buckets", "photos.json"))
	if err != nil {
		t.Fatalf("record file: %v", err)
	}
	stored, err := decodeRecord("photos", data)
	if err != nil || !stored.same(rec) {
		t.Fatalf("stored record = %+v, %v; want %+v", stored, err, rec)
	}

	rec2 := mustPut(t, s, "photos", "https://other.example.com")
	if rec2.Version == rec.Version {
		t.Fatalf("overwrite kept version %q", rec.Version)
	}
	if got := policyDoc(s.Lookup("photos").Live); got != canonical(t, "https://other.example.com") {
		t.Fatalf("Lookup after overwrite = %q", got)
	}
	mustPut(t, s, "assets", "https://app.example.com")
	if got, want := s.Buckets(), []string{"assets", "photos"}; !slices.Equal(got, want) {
		t.Fatalf("Buckets = %v, want %v", got, want)
	}

	existed, err := s.Delete(ctx, "photos", "admin")
	if err != nil || !existed {
		t.Fatalf("Delete = %v, %v; want true, nil", existed, err)
	}
	if p := s.Lookup("photos").Live; p != nil {
		t.Fatalf("Lookup after Delete = %q", policyDoc(p))
	}
	if _, ok := s.Get("photos"); ok {
		t.Fatal("Get after Delete found a record")
	}
	if _, err := os.Stat(filepath.Join(fsys.Path, "s3_cors", "buckets", "photos.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record file after Delete: %v", err)
	}
	existed, err = s.Delete(ctx, "photos", "admin")
	if err != nil || existed {
		t.Fatalf("second Delete = %v, %v; want false, nil", existed, err)
	}
	if got, want := s.Buckets(), []string{"assets"}; !slices.Equal(got, want) {
		t.Fatalf("Buckets = %v, want %v", got, want)
	}
}

// TestBucketNames checks that the store takes the names S3 takes, and only
// those (s3.ValidBucketName is the one validator).
func TestBucketNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"photos", true},
		{"abc", true},
		{"my-bucket.example.com", true},
		{"123", true},
		{"ab", false},
		{"a", false},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"trailing-", false},
		{"trailing.", false},
		{"-leading", false},
		{"two..dots", false},
		{"192.168.1.1", false},
		{"xn--bucket", false},
		{"Upper", false},
		{"under_score", false},
		{"a/b", false},
		{"../../etc", false},
		{"sp ace", false},
		{"ünïcode", false},
		{strings.Repeat("a", 64), false},
	}
	ctx := context.Background()
	s := newTestStore(t, fileStorage(t), Options{})
	cfg := corsConfig(t, "https://app.example.com")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, tt.name, cfg, "admin")
			if tt.valid != (err == nil) {
				t.Fatalf("Put(%q) error = %v, want valid=%v", tt.name, err, tt.valid)
			}
			if !tt.valid && !errors.Is(err, ErrInvalidBucket) {
				t.Fatalf("Put(%q) error %v does not wrap ErrInvalidBucket", tt.name, err)
			}
			_, err = s.Delete(ctx, tt.name, "admin")
			if tt.valid != (err == nil) || (!tt.valid && !errors.Is(err, ErrInvalidBucket)) {
				t.Fatalf("Delete(%q) error = %v, want valid=%v", tt.name, err, tt.valid)
			}
		})
	}
	if _, err := s.Put(ctx, "photos", nil, "admin"); err == nil {
		t.Fatal("Put with a nil configuration succeeded")
	}
}

func TestPrefix(t *testing.T) {
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{Prefix: "/tenants/one/"})
	mustPut(t, s, "photos", "https://app.example.com")
	if _, err := os.Stat(filepath.Join(fsys.Path, "tenants", "one", "buckets", "photos.json")); err != nil {
		t.Fatalf("record not under the prefix: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fsys.Path, "tenants", "one", "marker.json")); err != nil {
		t.Fatalf("marker not under the prefix: %v", err)
	}
	other := newTestStore(t, fsys, Options{})
	mustLoad(t, other)
	if got := other.Buckets(); got != nil {
		t.Fatalf("a store under another prefix sees %v", got)
	}
}

func TestRestartSeesEverything(t *testing.T) {
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)
	recs := map[string]Record{}
	for _, b := range []string{"aa1", "bb2", "ccc3"} {
		recs[b] = mustPut(t, s, b, "https://"+b+".example.com")
	}
	if _, err := s.Delete(context.Background(), "bb2", "admin"); err != nil {
		t.Fatal(err)
	}
	delete(recs, "bb2")

	restarted := newTestStore(t, fsys, Options{})
	mustLoad(t, restarted)
	if got, want := stateString(state(restarted)), stateString(state(s)); got != want {
		t.Fatalf("after restart:\n%s\nwant:\n%s", got, want)
	}
	for b, want := range recs {
		got, ok := restarted.Get(b)
		if !ok || !got.same(want) {
			t.Errorf("Get(%s) after restart = %+v, want %+v", b, got, want)
		}
	}
	st := restarted.Stats()
	if !st.Loaded || st.Buckets != 2 || st.MarkerSequence != 4 {
		t.Fatalf("Stats after restart = %+v, want loaded, 2 buckets, marker sequence 4", st)
	}
}

func TestSharedPolicies(t *testing.T) {
	ctx := context.Background()
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)
	buckets := []string{"bb0", "bb1", "bb2", "bb3", "bb4"}
	for _, b := range buckets {
		mustPut(t, s, b, "https://shared.example.com")
	}
	check := func(s *Store, wantPolicies int) {
		t.Helper()
		if got := s.Stats().Policies; got != wantPolicies {
			t.Fatalf("Policies = %d, want %d", got, wantPolicies)
		}
	}
	check(s, 1)
	first := s.Lookup("bb0").Live
	for _, b := range buckets {
		if s.Lookup(b).Live != first {
			t.Fatalf("bucket %s has its own copy of a shared policy", b)
		}
	}

	loaded := newTestStore(t, fsys, Options{})
	mustLoad(t, loaded)
	check(loaded, 1)
	for _, b := range buckets {
		if loaded.Lookup(b).Live != loaded.Lookup("bb0").Live {
			t.Fatalf("after Load, bucket %s has its own copy of a shared policy", b)
		}
	}

	mustPut(t, s, "bb1", "https://own.example.com")
	check(s, 2)
	for _, b := range []string{"bb0", "bb2", "bb3", "bb4"} {
		if _, err := s.Delete(ctx, b, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	check(s, 1)
	mustPut(t, s, "bb1", "https://shared.example.com")
	check(s, 1)
	if _, err := s.Delete(ctx, "bb1", "admin"); err != nil {
		t.Fatal(err)
	}
	check(s, 0)
}

func TestLookupAllocatesNothing(t *testing.T) {
	s := newTestStore(t, fileStorage(t), Options{})
	mustPut(t, s, "photos", "https://app.example.com")
	for _, bucket := range []string{"photos", "missing"} {
		if n := testing.AllocsPerRun(1000, func() { _ = s.Lookup(bucket).Live }); n != 0 {
			t.Errorf("Lookup(%q) allocates %v times", bucket, n)
		}
	}
}

// TestLookupsDuringWrites checks under -race that readers see a whole
// configuration, old or new, while one instance writes and another syncs.
func TestLookupsDuringWrites(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	follower := newTestStore(t, fsys, Options{})
	origins := []string{"https://one.example.com", "https://two.example.com", "https://three.example.com"}
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[canonical(t, o)] = true
	}
	mustPut(t, writer, "photos", origins[0])
	mustLoad(t, follower)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	errs := make(chan string, 8)
	for _, s := range []*Store{writer, follower} {
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					doc := policyDoc(s.Lookup("photos").Live)
					if !allowed[doc] {
						errs <- doc
						return
					}
					if rec, ok := s.Get("photos"); !ok || !allowed[rec.Document] {
						errs <- rec.Document
						return
					}
				}
			})
		}
	}
	for i := range 30 {
		mustPut(t, writer, "photos", origins[i%len(origins)])
		mustPut(t, writer, "other", origins[i%len(origins)])
		mustSync(t, follower)
	}
	close(stop)
	readers.Wait()
	close(errs)
	for doc := range errs {
		t.Errorf("a reader saw %q, which was never written", doc)
	}
	if got, want := stateString(state(follower)), stateString(state(writer)); got != want {
		t.Fatalf("follower serves:\n%s\nwriter serves:\n%s", got, want)
	}
}

func TestUnusableRecordsAreSkipped(t *testing.T) {
	good := corsDoc("https://app.example.com")
	tests := []struct {
		name     string
		file     string // relative to the buckets directory
		content  string
		warnings int
	}{
		{"not json", "broken.json", "{not json", 1},
		{"truncated", "broken.json", `{"format":1,"bucket":"broken","document":"<CORSConfig`, 1},
		{"invalid document", "broken.json", `{"format":1,"bucket":"broken","document":"<CORSConfiguration/>","version":"x"}`, 1},
		{"empty document", "broken.json", `{"format":1,"bucket":"broken","document":"","version":"x"}`, 1},
		{"other bucket's record", "broken.json", `{"format":1,"bucket":"photos","document":` + jsonString(good) + `}`, 1},
		{"newer format", "broken.json", `{"format":2,"bucket":"broken","document":` + jsonString(good) + `}`, 1},
		{"foreign file", "README.txt", "hello", 1},
		{"foreign json", "Not_A_Bucket.json", `{}`, 1},
		{"foreign directory", "sub/broken.json", `{}`, 1},
		{"temporary file of an atomic write", "1234567", "{", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fileStorage(t)
			dir := filepath.Join(fsys.Path, "s3_cors", "buckets")
			writer := newTestStore(t, fsys, Options{})
			mustPut(t, writer, "photos", "https://app.example.com")
			mustPut(t, writer, "broken", "https://last-good.example.com")
			if tt.file != "broken.json" {
				if _, err := writer.Delete(context.Background(), "broken", "admin"); err != nil {
					t.Fatal(err)
				}
			}
			core, logs := observer.New(zapcore.WarnLevel)
			follower := newTestStore(t, fsys, Options{Logger: zap.New(core)})
			mustLoad(t, follower)

			writeFile(t, filepath.Join(dir, filepath.FromSlash(tt.file)), tt.content)
			mustLoad(t, follower)
			mustLoad(t, follower)
			if tt.file == "broken.json" {
				// The instance that knew the bucket's good configuration
				// keeps serving it.
				if got := policyDoc(follower.Lookup("broken").Live); got != canonical(t, "https://last-good.example.com") {
					t.Fatalf("follower serves broken = %q, want its last good configuration", got)
				}
			}
			// Reported once, not at every full sync.
			if got := logs.FilterMessageSnippet("skipping unusable key").Len(); got != tt.warnings {
				t.Fatalf("%d warnings about skipped keys, want %d: %v", got, tt.warnings, logs.All())
			}

			fresh := newTestStore(t, fsys, Options{})
			mustLoad(t, fresh)
			if got := fresh.Buckets(); !slices.Equal(got, []string{"photos"}) {
				t.Fatalf("a fresh instance serves %v, want only photos", got)
			}
			if got := policyDoc(fresh.Lookup("photos").Live); got != canonical(t, "https://app.example.com") {
				t.Fatalf("photos = %q", got)
			}
			if got := fresh.Stats().SkippedKeys; got != tt.warnings {
				t.Fatalf("SkippedKeys = %d, want %d", got, tt.warnings)
			}
		})
	}
}

func TestCorruptRecordKeepsLastGoodPolicy(t *testing.T) {
	fsys := fileStorage(t)
	writer := newTestStore(t, fsys, Options{})
	follower := newTestStore(t, fsys, Options{})
	mustPut(t, writer, "photos", "https://good.example.com")
	mustLoad(t, follower)

	// A change announced through the marker, whose record is then broken.
	mustPut(t, writer, "photos", "https://newer.example.com")
	writeFile(t, filepath.Join(fsys.Path, "s3_cors", "buckets", "photos.json"), `{"format":1,"bucket":"photos","document":"<oops"}`)
	mustSync(t, follower)
	if got := policyDoc(follower.Lookup("photos").Live); got != canonical(t, "https://good.example.com") {
		t.Fatalf("after a corrupt record arrived by the journal, photos = %q", got)
	}
	mustLoad(t, follower)
	if got := policyDoc(follower.Lookup("photos").Live); got != canonical(t, "https://good.example.com") {
		t.Fatalf("after a full load with a corrupt record, photos = %q", got)
	}

	// Fixing the record is picked up.
	mustPut(t, writer, "photos", "https://fixed.example.com")
	mustSync(t, follower)
	if got := policyDoc(follower.Lookup("photos").Live); got != canonical(t, "https://fixed.example.com") {
		t.Fatalf("after the fix, photos = %q", got)
	}
}

func TestHandWrittenRecordIsCanonicalized(t *testing.T) {
	fsys := fileStorage(t)
	raw := "<CORSConfiguration>\n  <CORSRule>\n    <AllowedMethod>GET</AllowedMethod>\n    <AllowedOrigin>https://app.example.com</AllowedOrigin>\n  </CORSRule>\n</CORSConfiguration>\n"
	writeFile(t, filepath.Join(fsys.Path, "s3_cors", "buckets", "photos.json"),
		`{"format":1,"bucket":"photos","document":`+jsonString(raw)+`,"version":"hand","updated_at":"2026-01-02T03:04:05Z","updated_by":"operator"}`)
	s := newTestStore(t, fsys, Options{})
	mustLoad(t, s)
	cfg, err := cors.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := s.Get("photos")
	if !ok || rec.Document != string(cfg.Marshal()) || rec.Version != "hand" || rec.UpdatedBy != "operator" {
		t.Fatalf("Get = %+v, %v; want the canonical document and the stored metadata", rec, ok)
	}
	gen := s.Stats().Generation
	mustLoad(t, s)
	if got := s.Stats().Generation; got != gen {
		t.Fatalf("reloading an unchanged hand-written record swapped the snapshot (generation %d -> %d)", gen, got)
	}
}

func jsonString(v string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSetLogger checks that a store kept across a reload logs to the logger
// it was given last.
func TestSetLogger(t *testing.T) {
	firstCore, first := observer.New(zapcore.InfoLevel)
	s := newTestStore(t, fileStorage(t), Options{Logger: zap.New(firstCore)})
	mustPut(t, s, "photos", "https://one.example.com")
	secondCore, second := observer.New(zapcore.InfoLevel)
	s.SetLogger(zap.New(secondCore))
	mustPut(t, s, "assets", "https://two.example.com")

	for _, c := range []struct {
		logs   *observer.ObservedLogs
		bucket string
	}{{first, "photos"}, {second, "assets"}} {
		stored := c.logs.FilterMessage("CORS configuration stored").All()
		if len(stored) != 1 || stored[0].ContextMap()["bucket"] != c.bucket {
			t.Errorf("logger got %v, want only the change of %s", stored, c.bucket)
		}
	}
	s.SetLogger(nil) // stops logging without panicking
	mustPut(t, s, "videos", "https://three.example.com")
	if n := second.FilterMessage("CORS configuration stored").Len(); n != 1 {
		t.Errorf("after SetLogger(nil) the previous logger got %d lines, want 1", n)
	}
}

// TestCanonicalFormLargerThanTheLimit stores a document within S3's 64 KB
// whose canonical form is larger (a plain ">" in a value is written back as
// &gt;, as every XML writer may, and the declaration is added): it is stored,
// and it loads back on other instances, by a full load and by a sync.
func TestCanonicalFormLargerThanTheLimit(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(`<CORSConfiguration>`)
	for i := range cors.MaxRules {
		fmt.Fprintf(&doc, `<CORSRule><ID>%s%03d</ID><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://%d.example.com</AllowedOrigin></CORSRule>`,
			strings.Repeat(">", 240), i, i)
	}
	doc.WriteString(`</CORSConfiguration>`)
	cfg, err := cors.Parse([]byte(doc.String()))
	if err != nil {
		t.Fatalf("the client's document (%d bytes) is refused: %v", doc.Len(), err)
	}
	want := string(cfg.Marshal())
	if doc.Len() > cors.MaxDocumentSize || len(want) <= cors.MaxDocumentSize {
		t.Fatalf("test document is %d bytes, canonical form %d: want the first within %d and the second over it", doc.Len(), len(want), cors.MaxDocumentSize)
	}

	fsys := fileStorage(t)
	follower := newTestStore(t, fsys, Options{})
	mustLoad(t, follower)
	s := newTestStore(t, fsys, Options{})
	rec, err := s.Put(context.Background(), "photos", cfg, "AKIDTEST")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if rec.Document != want {
		t.Fatal("Put returned another document than the canonical form")
	}
	fresh := newTestStore(t, fsys, Options{})
	mustLoad(t, fresh)
	mustSync(t, follower)
	for name, other := range map[string]*Store{"writer": s, "fresh instance": fresh, "follower": follower} {
		got, ok := other.Get("photos")
		if !ok || got.Document != want || got.Version != rec.Version {
			t.Fatalf("%s: Get = %d bytes, version %q, %v; want the stored record", name, len(got.Document), got.Version, ok)
		}
		d := other.Lookup("photos").Live.Preflight(cors.Request{Origin: "https://99.example.com", Method: http.MethodOptions, RequestMethod: "GET", HasRequestMethod: true})
		if !d.Allowed() || d.Rule() != 99 {
			t.Fatalf("%s: preflight from the last rule's origin = %v (rule %d)", name, d.Outcome(), d.Rule())
		}
	}
}

// TestGetRendersTheStoredDocument checks that the document Get renders
// from the compiled policy (the store keeps no text) is the canonical form
// of what was put, for documents that use every element.
func TestGetRendersTheStoredDocument(t *testing.T) {
	docs := []string{
		`<CORSConfiguration><CORSRule><ID>all &amp; "more" &lt;x&gt;</ID><AllowedHeader>*</AllowedHeader><AllowedHeader>X-Amz-*</AllowedHeader>` +
			`<AllowedHeader>content-type</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>GET</AllowedMethod>` +
			`<AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedOrigin>http://localhost:*</AllowedOrigin>` +
			`<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-checksum-crc32</ExposeHeader><MaxAgeSeconds>-5</MaxAgeSeconds></CORSRule>` +
			`<CORSRule><AllowedMethod>DELETE</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>0</MaxAgeSeconds></CORSRule>` +
			`<CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedOrigin>https://a.example.com</AllowedOrigin></CORSRule></CORSConfiguration>`,
		corsDoc("https://app.example.com"),
	}
	fsys := fileStorage(t)
	s := newTestStore(t, fsys, Options{})
	for i, doc := range docs {
		cfg, err := cors.Parse([]byte(doc))
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		bucket := fmt.Sprintf("bucket-%d", i)
		if _, err := s.Put(context.Background(), bucket, cfg, "AKIDTEST"); err != nil {
			t.Fatal(err)
		}
		fresh := newTestStore(t, fsys, Options{})
		mustLoad(t, fresh)
		for name, st := range map[string]*Store{"writer": s, "fresh instance": fresh} {
			if rec, _ := st.Get(bucket); rec.Document != string(cfg.Marshal()) {
				t.Errorf("%s: document %d renders as\n%s\nwant\n%s", name, i, rec.Document, cfg.Marshal())
			}
		}
	}
}
