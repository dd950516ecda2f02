package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// headBucketServer answers HeadBucket like an S3 store that has the buckets
// in exist, counting requests; status overrides the answer when set.
type headBucketServer struct {
	*httptest.Server
	requests atomic.Int64
	status   atomic.Int64
	release  chan struct{} // when set, requests wait for it
}

func newHeadBucketServer(t *testing.T, exist ...string) *headBucketServer {
	t.Helper()
	s := &headBucketServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.release != nil {
			<-s.release
		}
		if r.Method != http.MethodHead || r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		for _, b := range exist {
			if strings.TrimPrefix(r.URL.Path, "/") == b {
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(s.Close)
	return s
}

func newTestChecker(t *testing.T, url string, ttl time.Duration) (*bucketChecker, *time.Time) {
	t.Helper()
	u := &Upstream{Endpoint: url, AccessKeyID: "ak", SecretAccessKey: "sk", CacheTTL: caddy.Duration(ttl)}
	if err := u.provision(caddy.NewReplacer(), "us-east-1"); err != nil {
		t.Fatal(err)
	}
	c := newBucketChecker(u, zap.NewNop())
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	return c, &now
}

func TestBucketCheckerCachesHitsAndMisses(t *testing.T) {
	srv := newHeadBucketServer(t, "photos")
	c, now := newTestChecker(t, srv.URL, 10*time.Second)
	ctx := context.Background()

	for range 3 {
		if ok, err := c.exists(ctx, "photos"); !ok || err != nil {
			t.Fatalf("photos: %v %v", ok, err)
		}
		if ok, err := c.exists(ctx, "missing"); ok || err != nil {
			t.Fatalf("missing: %v %v", ok, err)
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("%d HeadBucket requests for two buckets asked three times each, want 2", n)
	}

	*now = now.Add(11 * time.Second)
	_, _ = c.exists(ctx, "missing")
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("after the TTL: %d requests, want 3", n)
	}

	c.forget("missing")
	_, _ = c.exists(ctx, "missing")
	if n := srv.requests.Load(); n != 4 {
		t.Errorf("after forget: %d requests, want 4", n)
	}
}

func TestBucketCheckerStatuses(t *testing.T) {
	for _, c := range []struct {
		status  int
		exists  bool
		unknown bool
	}{
		{http.StatusForbidden, true, false},
		{http.StatusMovedPermanently, true, false},
		{http.StatusInternalServerError, false, true},
		{http.StatusServiceUnavailable, false, true},
	} {
		srv := newHeadBucketServer(t)
		srv.status.Store(int64(c.status))
		chk, _ := newTestChecker(t, srv.URL, time.Minute)
		ok, err := chk.exists(context.Background(), "b")
		if ok != c.exists || (err != nil) != c.unknown {
			t.Errorf("status %d: exists %v, err %v; want %v, unknown %v", c.status, ok, err, c.exists, c.unknown)
		}
	}

	// An unreachable upstream cannot tell, and is not asked again at once.
	srv := newHeadBucketServer(t)
	srv.Close()
	chk, _ := newTestChecker(t, srv.URL, time.Minute)
	if _, err := chk.exists(context.Background(), "b"); err == nil {
		t.Error("unreachable upstream: no error")
	}
	if a := chk.cache["b"]; !a.unknown {
		t.Errorf("unreachable upstream: cached %+v", a)
	}
}

// A storm of questions about one bucket makes one upstream request.
func TestBucketCheckerCoalesces(t *testing.T) {
	srv := newHeadBucketServer(t, "photos")
	srv.release = make(chan struct{})
	c, _ := newTestChecker(t, srv.URL, time.Minute)

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, err := c.exists(context.Background(), "photos"); !ok || err != nil {
				t.Errorf("exists: %v %v", ok, err)
			}
		})
	}
	for srv.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join the flight
	close(srv.release)
	wg.Wait()
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d upstream requests for 50 concurrent questions, want 1", n)
	}
}

func TestBucketCheckerBoundsItsCache(t *testing.T) {
	srv := newHeadBucketServer(t)
	c, _ := newTestChecker(t, srv.URL, time.Minute)
	for i := range maxCachedBuckets + 10 {
		c.store("b"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), bucketAnswer{expires: c.now().Add(time.Minute)})
	}
	if n := len(c.cache); n > maxCachedBuckets {
		t.Errorf("cache holds %d answers, more than %d", n, maxCachedBuckets)
	}
}
