package e2e

// The fault tests (issue 8): the parts around the proxy fail, and the proxy
// keeps every promise it can. Index:
//   - the store killed (SIGKILL) while a large GET streams through the
//     proxy: the client gets an error, not a hang nor a silently short body;
//     the proxy keeps answering preflights.
//   - the store stopped: preflights answer from the local configurations
//     (also lifecycle_test.go "store down"), GetBucketCors too, PutBucketCors
//     and DeleteBucketCors get a retryable 503 and change nothing (issue 8).
//   - the store frozen (SIGSTOP): preflights wait at most for one bounded
//     HeadBucket; a PUT is refused within the same bound.
//   - the storage refusing writes: PUT and DELETE get S3's 500 and change
//     nothing, the last good configuration keeps serving, and PUT works once
//     the storage does.
//   - the proxy killed (SIGKILL) during a burst of PUTs and restarted on the
//     same storage, the kill landing while the proxy holds its storage lock
//     on the change marker: every acknowledged PUT is there, no record is
//     torn or mixed, and each of the first three PUTs is answered within 1 s
//     (issue 8). A cluster instance killed on bucket_storage: cluster_test.go.
//
// Subtests named "[issue 8] …" check behaviour issue 8 asks for; each
// fails until that part of the issue is done.

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dataHome is the proxy's XDG_DATA_HOME, under which Caddy's file storage
// keeps the configurations.
func dataHome(t *testing.T, p *proxy) string {
	t.Helper()
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "XDG_DATA_HOME="); ok {
			return v
		}
	}
	t.Fatal("the proxy has no XDG_DATA_HOME")
	return ""
}

// recordsDir holds one record per configured bucket, in the layout the
// store package documents (s3_cors/buckets/<bucket>.json in Caddy's storage).
func recordsDir(t *testing.T, p *proxy) string {
	return filepath.Join(dataHome(t, p), "caddy", "s3_cors", "buckets")
}

// locksDir is where Caddy's file storage keeps its lock files.
func locksDir(t *testing.T, p *proxy) string { return filepath.Join(dataHome(t, p), "caddy", "locks") }

// storedDocument reads bucket's record from the proxy's storage and returns
// its document; a record that is not whole fails the test.
func storedDocument(t *testing.T, p *proxy, bucket string) (string, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(recordsDir(t, p), bucket+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Bucket   string `json:"bucket"`
		Document string `json:"document"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("the record of %s is torn (%v):\n%s", bucket, err, shorten(data))
	}
	if rec.Bucket != bucket {
		t.Errorf("the record of %s names bucket %q", bucket, rec.Bucket)
	}
	if _, err := parseCORSXML([]byte(rec.Document)); err != nil {
		t.Errorf("the record of %s holds a document that does not parse (%v):\n%s", bucket, err, shorten([]byte(rec.Document)))
	}
	return rec.Document, true
}

// unwritable makes dir refuse new files, also to root, and returns how it
// did and the function that undoes it (also run at cleanup). An ordinary
// user is stopped by mode 0500. Root ignores modes, so for root the
// directory is made immutable with chattr +i (which needs
// CAP_LINUX_IMMUTABLE and a file system with the flag, such as ext4);
// where that does not work, the directory is moved aside and a regular file
// put in its place, so that neither a file in it nor the directory itself
// can be created. Records written before stay readable in the first two
// ways only.
func unwritable(t *testing.T, dir string) (how string, restore func()) {
	t.Helper()
	refuses := func() bool {
		f, err := os.CreateTemp(dir, "probe")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
			return false
		}
		return true
	}
	var undo func() error
	switch {
	case os.Geteuid() != 0:
		how = "mode 0500"
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		undo = func() error { return os.Chmod(dir, 0o700) }
	case exec.Command("chattr", "+i", dir).Run() == nil && refuses():
		how = "chattr +i"
		undo = func() error { return exec.Command("chattr", "-i", dir).Run() }
	default:
		_ = exec.Command("chattr", "-i", dir).Run()
		how = "replaced by a regular file"
		aside := dir + ".aside"
		if err := os.Rename(dir, aside); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		undo = func() error {
			if err := os.Remove(dir); err != nil {
				return err
			}
			return os.Rename(aside, dir)
		}
	}
	if !refuses() && how != "replaced by a regular file" {
		t.Fatalf("%s did not make %s refuse new files", how, dir)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := undo(); err != nil {
				t.Errorf("undoing %s on %s: %v", how, dir, err)
			}
		})
	}
	t.Cleanup(restore)
	return how, restore
}

// faultClient bounds every request of the fault tests, so that a proxy
// that hangs fails the test instead of stalling it.
var faultClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableCompression: true},
}

// TestFaults runs the faults of the index above against one proxy in front
// of versitygw. The steps share the store and build on each other.
func TestFaults(t *testing.T) {
	s := newStack(t, versitygw)
	bucket := bucketName(t, "faults")
	s.s3.createBucket(t, bucket)
	s.s3.putCORS(t, bucket, appRules)
	before := canonicalCORS(appRules)

	t.Run("upstream killed mid-download", func(t *testing.T) { testStoreKilledMidDownload(t, s, bucket) })
	t.Run("upstream stopped", func(t *testing.T) { testStoreStopped(t, s, bucket, before) })
	// The store again, on the same port and data: the proxy serves it as
	// before.
	(&cluster{store: s.store, direct: s.direct}).restartStore(t)
	t.Run("upstream back", func(t *testing.T) {
		storeSeenAgain(t, s)
		assertStored(t, s.proxy.URL, bucket, before)
		s.s3.putObject(t, bucket, "after.txt", []byte("after"))
		if got := s.s3.getObject(t, bucket, "after.txt"); string(got) != "after" {
			t.Errorf("GetObject once the store is back: %q", got)
		}
	})
	t.Run("upstream frozen", func(t *testing.T) { testStoreFrozen(t, s, bucket, before) })
	t.Run("storage unwritable", func(t *testing.T) { testStorageUnwritable(t, s, bucket) })
	t.Run("proxy killed during PUTs", func(t *testing.T) { testProxyKilledDuringPuts(t, s) })
}

// testStoreKilledMidDownload kills the store while the proxy streams a
// large object from it to a client.
func testStoreKilledMidDownload(t *testing.T, s *stack, bucket string) {
	const (
		size = 32 << 20
		part = 1 << 20
	)
	obj := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{'f', 'a', 'u', 'l', 't'}).Read(obj)
	s.direct.putObject(t, bucket, "large.bin", obj)

	// The tap sends the first part and holds the rest back until the store
	// is dead, so that most of the object is still at the store. The client
	// reads half of that part first: Caddy may keep the last few KB of what
	// it was sent in its response buffer, which it flushes only as more
	// comes.
	gate := s.tap.gate(http.MethodGet, "/"+bucket+"/large.bin", part)
	resp, err := faultClient.Do(corsRequest(t, http.MethodGet, s.s3.presignGet(t, bucket, "large.bin"), appOrigin, "", ""))
	if err != nil {
		close(gate.release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	assertExactCORS(t, resp.Header, readMatch())
	n, err := io.CopyN(io.Discard, resp.Body, part/2)
	if err != nil {
		close(gate.release)
		t.Fatalf("the first %d bytes: %v", part/2, err)
	}
	_ = s.store.proc.cmd.Process.Kill()
	<-s.store.proc.done
	killed := time.Now()
	close(gate.release)
	rest, err := io.Copy(io.Discard, resp.Body)
	n += rest
	took := time.Since(killed)
	t.Logf("the client read %d of %d bytes and then got %v, %v after the kill", n, size, err, took.Round(time.Millisecond))
	switch {
	case err == nil && n == size:
		t.Errorf("the whole object arrived although the store died with most of it unsent")
	case err == nil:
		t.Errorf("the body ended after %d of %d bytes without an error: a silently short object", n, size)
	}
	if took > 15*time.Second {
		t.Errorf("the client waited %v after the store died", took)
	}
	assertResponsive(t, s.proxy, bucket)
}

// testStoreStopped checks what the proxy answers while the store is down.
func testStoreStopped(t *testing.T, s *stack, bucket string, before []byte) {
	s.store.stop()
	// Past the module's bucket-existence cache (cache_ttl 1s).
	time.Sleep(1500 * time.Millisecond)
	assertResponsive(t, s.proxy, bucket)
	r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucketName(t, "unknown")+"/k", appOrigin, "GET", ""))
	if r.status >= 500 {
		t.Errorf("preflight for a bucket the proxy cannot look up: a 5xx:\n%s", r)
	}

	t.Run("[issue 8] GetBucketCors answers from the local configuration", func(t *testing.T) {
		assertStored(t, s.proxy.URL, bucket, before)
	})
	t.Run("[issue 8] PUT and DELETE get a retryable 503 and change nothing", func(t *testing.T) {
		for _, req := range []rawRequest{
			s.signedCORS(http.MethodPut, bucket, corsXML(publicRules)),
			s.signedCORS(http.MethodDelete, bucket, nil),
		} {
			r, took := timed(t, req.build(t))
			e := assertS3Error(t, r, wantError{status: http.StatusServiceUnavailable})
			if code := e.get("Code"); code != "ServiceUnavailable" && code != "SlowDown" {
				t.Errorf("%s: code %q, want S3's 503 code ServiceUnavailable (or SlowDown)", req.method, code)
			}
			if took > preflightBound {
				t.Errorf("%s answered after %v", req.method, took)
			}
		}
	})
	if doc, ok := storedDocument(t, s.proxy, bucket); !ok || doc != string(before) {
		t.Errorf("the stored record changed while the store was down (present %v):\n%s", ok, shorten([]byte(doc)))
	}
	// publicRules would allow this origin.
	assertPreflight(t, send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucket+"/k", evilOrigin, "GET", "")),
		nil, forbidden(msgNotAllowed, "GET", "OBJECT"))
}

// testStoreFrozen stops the store's process (SIGSTOP): connections are
// accepted and never answered, the worst case for the proxy's lookups.
func testStoreFrozen(t *testing.T, s *stack, bucket string, before []byte) {
	pid := s.store.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thaw := sync.OnceFunc(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	t.Cleanup(thaw)
	time.Sleep(1200 * time.Millisecond) // past cache_ttl

	r, took := timed(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucket+"/k", appOrigin, "GET", ""))
	t.Logf("preflight with the store frozen: %v", took.Round(time.Millisecond))
	assertPreflight(t, r, readMatch(), nil)
	if took > preflightBound {
		t.Errorf("a preflight waited %v on the frozen store", took)
	}
	t.Run("[issue 8] PUT gets a retryable 503", func(t *testing.T) {
		r, took := timed(t, s.signedCORS(http.MethodPut, bucket, corsXML(publicRules)).build(t))
		t.Logf("PUT with the store frozen: %d after %v", r.status, took.Round(time.Millisecond))
		assertS3Error(t, r, wantError{status: http.StatusServiceUnavailable})
		if took > preflightBound {
			t.Errorf("PUT waited %v on the frozen store", took)
		}
	})
	thaw()
	storeSeenAgain(t, s)
	assertStored(t, s.proxy.URL, bucket, before)
}

// storeSeenAgain waits until the proxy hears from the store again, and then
// until what it remembered of each bucket while the store was away has
// expired (cache_ttl 1s). Only the store can say that a bucket is missing,
// so a preflight that hears "Bucket not found" proves that it answers.
func storeSeenAgain(t *testing.T, s *stack) {
	t.Helper()
	missing := s.proxy.URL + "/" + bucketName(t, "missing") + "/k"
	eventually(t, "the proxy hears from the store again", func() bool {
		r := send(t, corsRequest(t, http.MethodOptions, missing, appOrigin, "GET", ""))
		e, _ := parseS3Error(r.body)
		return e.get("Message") == msgBucketNotFound
	})
	time.Sleep(1100 * time.Millisecond)
}

// testStorageUnwritable makes the proxy's storage refuse writes.
func testStorageUnwritable(t *testing.T, s *stack, bucket string) {
	s.s3.putCORS(t, bucket, appRules)
	before := canonicalCORS(appRules)
	how, restore := unwritable(t, recordsDir(t, s.proxy))
	t.Logf("storage made unwritable by %s", how)
	for _, req := range []rawRequest{
		s.signedCORS(http.MethodPut, bucket, corsXML(publicRules)),
		s.signedCORS(http.MethodDelete, bucket, nil),
	} {
		r := req.send(t)
		assertS3Error(t, r, wantError{status: http.StatusInternalServerError, code: "InternalError",
			message: "We encountered an internal error. Please try again.", extras: [][2]string{}})
		assertStored(t, s.proxy.URL, bucket, before)
		assertResponsive(t, s.proxy, bucket)
		assertPreflight(t, send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucket+"/k", evilOrigin, "GET", "")),
			nil, forbidden(msgNotAllowed, "GET", "OBJECT"))
	}
	restore()
	if doc, ok := storedDocument(t, s.proxy, bucket); !ok || doc != string(before) {
		t.Errorf("the record changed while the storage refused writes (present %v):\n%s", ok, shorten([]byte(doc)))
	}
	s.s3.putCORS(t, bucket, publicRules)
	assertStored(t, s.proxy.URL, bucket, canonicalCORS(publicRules))
	if doc, _ := storedDocument(t, s.proxy, bucket); doc != string(canonicalCORS(publicRules)) {
		t.Errorf("once the storage takes writes again, the record holds:\n%s", shorten([]byte(doc)))
	}
	s.s3.putCORS(t, bucket, appRules)
}

// testProxyKilledDuringPuts kills the proxy (SIGKILL) while four clients
// send PUTs for 60 buckets, then starts it again on the same storage.
func testProxyKilledDuringPuts(t *testing.T, s *stack) {
	const writes, writers, killAfter = 60, 4, 12
	buckets := make([]string, writes)
	docs := map[string][]byte{}
	reqs := make([]*http.Request, writes)
	for i := range buckets {
		buckets[i] = bucketName(t, "killed")
		s.direct.createBucket(t, buckets[i])
		rules := []corsRule{{ID: buckets[i], AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://" + buckets[i] + ".example"}}}
		docs[buckets[i]] = canonicalCORS(rules)
		reqs[i] = rawRequest{method: http.MethodPut, url: s.corsURL(buckets[i]), body: corsXML(rules), creds: &rootCreds}.build(t)
	}
	enough := make(chan struct{}) // killAfter PUTs were acknowledged
	// The kill lands while the proxy holds its storage lock around the
	// change marker, the moment that leaves the most behind: the lock file
	// a restarted instance finds. If no lock shows within a few PUTs'
	// time, the kill lands anyway.
	lockedKill := make(chan bool, 1)
	go func() {
		<-enough
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			if locks, _ := filepath.Glob(filepath.Join(locksDir(t, s.proxy), "*.lock")); len(locks) > 0 {
				_ = s.proxy.proc.cmd.Process.Kill()
				lockedKill <- true
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
		_ = s.proxy.proc.cmd.Process.Kill()
		lockedKill <- false
	}()
	var acked []string
	for _, i := range burst(faultClient, reqs, writers, killAfter, func() { close(enough) }) {
		acked = append(acked, buckets[i])
	}
	if len(acked) < killAfter {
		t.Fatalf("only %d PUTs were acknowledged; the proxy was not killed mid-burst", len(acked))
	}
	holding := <-lockedKill
	<-s.proxy.proc.done
	t.Logf("%d of %d PUTs acknowledged before the kill; killed while holding the marker lock: %v", len(acked), writes, holding)
	if len(acked) == writes {
		t.Errorf("every PUT was acknowledged before the kill took effect: it did not land mid-burst")
	}
	locks, _ := filepath.Glob(filepath.Join(locksDir(t, s.proxy), "*.lock"))
	t.Logf("lock files left by the killed proxy: %v", locks)

	// No record is torn or mixed: each is whole and is the document sent
	// for its bucket. Temporary files of writes the kill cut short may stay.
	entries, err := os.ReadDir(recordsDir(t, s.proxy))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		bucket, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			t.Logf("left in the storage: %s", e.Name())
			continue
		}
		want, sent := docs[bucket]
		if !sent {
			continue // an earlier subtest's bucket
		}
		if doc, _ := storedDocument(t, s.proxy, bucket); doc != string(want) {
			t.Errorf("the record of %s is not the document sent for it:\n%s", bucket, shorten([]byte(doc)))
		}
	}
	for _, b := range acked {
		if _, ok := storedDocument(t, s.proxy, b); !ok {
			t.Errorf("the acknowledged PUT for %s is not in the storage", b)
		}
	}

	// The first PUTs after the restart, one after the other: each is timed,
	// as a dead instance's lock can hold up more than the first.
	const firstPuts = 3
	s.proxy.start(t)
	rules := []corsRule{{ID: "after the restart", AllowedMethods: []string{"GET"}, AllowedOrigins: []string{appOrigin}}}
	var slowest time.Duration
	for i, b := range buckets[:firstPuts] {
		r, took := timed(t, s.signedCORS(http.MethodPut, b, corsXML(rules)).build(t))
		t.Logf("PUT %d after the restart: %d after %v (lock files left by the kill: %d)", i+1, r.status, took.Round(time.Millisecond), len(locks))
		if r.status != http.StatusOK {
			t.Errorf("PUT %d after the restart: want 200, got:\n%s", i+1, r)
		}
		docs[b] = canonicalCORS(rules)
		slowest = max(slowest, took)
	}
	t.Run("[issue 8] the first PUTs after a crash within 1 s", func(t *testing.T) {
		if slowest > time.Second {
			t.Errorf("the restarted proxy took up to %v to answer one of its first %d PUTs (lock files left by the kill: %v)",
				slowest.Round(time.Millisecond), firstPuts, locks)
		}
	})
	for _, b := range slices.Concat(acked, buckets[:firstPuts]) {
		assertStored(t, s.proxy.URL, b, docs[b])
	}
}
