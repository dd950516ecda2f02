package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// headBucketServer answers HeadBucket like an S3 store that has the buckets
// in exist, counting requests; status overrides the answer when set.
type headBucketServer struct {
	*httptest.Server
	requests atomic.Int64
	status   atomic.Int64
}

func newHeadBucketServer(t *testing.T, exist ...string) *headBucketServer {
	t.Helper()
	s := &headBucketServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
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

// roundTripFunc is an HTTP transport in a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A storm of questions about one bucket makes one upstream request. The
// test runs in a synctest bubble, so that the upstream answers only once
// every question is waiting: either the one request in flight, or, in a
// checker that does not coalesce, fifty of them.
func TestBucketCheckerCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestChecker(t, "http://store.invalid", time.Minute)
		release := make(chan struct{})
		var requests atomic.Int64
		opts := c.client.Options()
		opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			<-release
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		})}
		c.client = awss3.New(opts)

		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if ok, err := c.exists(context.Background(), "photos"); !ok || err != nil {
					t.Errorf("exists: %v %v", ok, err)
				}
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if n := requests.Load(); n != 1 {
			t.Errorf("%d upstream requests for 50 concurrent questions, want 1", n)
		}
	})
}

// The cache keeps every answer up to its bound; past it, the expired
// answers make room first, and it never holds more than the bound.
func TestBucketCheckerBoundsItsCache(t *testing.T) {
	c, now := newTestChecker(t, "http://store.invalid", time.Minute)
	name := func(i int) string { return fmt.Sprintf("bucket-%05d", i) }
	half := maxCachedBuckets / 2
	for i := range maxCachedBuckets {
		ttl := time.Minute
		if i < half {
			ttl = time.Second
		}
		c.store(name(i), bucketAnswer{exists: true, expires: now.Add(ttl)}, 0)
	}
	if n := len(c.cache); n != maxCachedBuckets {
		t.Fatalf("cache holds %d answers after %d were stored", n, maxCachedBuckets)
	}
	if a, ok := c.cached(name(0)); !ok || !a.exists {
		t.Fatalf("the first answer is not served from the cache: %+v %v", a, ok)
	}

	*now = now.Add(2 * time.Second)
	c.store("fresh", bucketAnswer{exists: true, expires: now.Add(time.Minute)}, 0)
	if n := len(c.cache); n != maxCachedBuckets-half+1 {
		t.Errorf("after the short-lived half expired: %d answers, want %d", n, maxCachedBuckets-half+1)
	}
	if _, ok := c.cache[name(0)]; ok {
		t.Error("an expired answer was kept while the cache was full")
	}
	for _, b := range []string{name(maxCachedBuckets - 1), "fresh"} {
		if _, ok := c.cached(b); !ok {
			t.Errorf("the live answer for %s was dropped", b)
		}
	}

	// Full of live answers, the cache still does not grow past its bound.
	for i := len(c.cache); i < maxCachedBuckets+10; i++ {
		c.store(fmt.Sprintf("more-%05d", i), bucketAnswer{exists: true, expires: now.Add(time.Minute)}, 0)
	}
	if n := len(c.cache); n > maxCachedBuckets || n == 0 {
		t.Errorf("cache holds %d answers, bound %d", n, maxCachedBuckets)
	}
	if _, ok := c.cached(fmt.Sprintf("more-%05d", maxCachedBuckets+9)); !ok {
		t.Error("the newest answer was not kept")
	}
}

// A question sent before the proxy forgot a bucket (a DeleteBucket went
// through) does not answer the questions after it: they send their own,
// and the older answer is not cached. Otherwise a check that the bucket
// is gone could join a HeadBucket sent while it still existed, and keep
// its configuration for a new bucket of that name.
func TestBucketCheckerForgetsAnswersInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestChecker(t, "http://store.invalid", time.Minute)
		release := make(chan struct{})
		var deleted atomic.Bool
		var requests atomic.Int64
		opts := c.client.Options()
		opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			status := http.StatusOK
			if deleted.Load() {
				status = http.StatusNotFound
			} else {
				<-release
			}
			return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		})}
		c.client = awss3.New(opts)

		var before sync.WaitGroup
		before.Go(func() {
			if ok, err := c.exists(context.Background(), "photos"); !ok || err != nil {
				t.Errorf("question sent before the delete: %v %v, want the bucket there", ok, err)
			}
		})
		synctest.Wait() // the first HeadBucket is in flight

		deleted.Store(true)
		c.forget("photos")
		if ok, err := c.exists(context.Background(), "photos"); ok || err != nil {
			t.Errorf("question after the delete: %v %v, want the bucket gone", ok, err)
		}
		close(release)
		before.Wait()

		if ok, err := c.exists(context.Background(), "photos"); ok || err != nil {
			t.Errorf("after both answers: %v %v, want the bucket gone", ok, err)
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("%d upstream requests, want 2", n)
		}
	})
}
