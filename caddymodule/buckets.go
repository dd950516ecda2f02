package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// Upstream is the S3-compatible store behind the proxy, asked whether
// buckets exist.
type Upstream struct {
	// Endpoint is the store's base URL, such as http://127.0.0.1:9000.
	Endpoint string `json:"endpoint"`
	// AccessKeyID and SecretAccessKey sign the HeadBucket requests.
	// Placeholders are replaced.
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	// Region is the signing region of the store. Default: the handler's
	// region.
	Region string `json:"region,omitempty"`
	// CacheTTL is how long an answer (bucket found or not) is reused.
	// Default: 10s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
}

// client is an S3 client of the store, signing with the upstream's
// credentials (anonymous without), whose every request takes at most
// timeout. It does not retry: its callers decide what a failure means.
func (u *Upstream) client(timeout time.Duration) *awss3.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if u.AccessKeyID != "" {
		creds = credentials.NewStaticCredentialsProvider(u.AccessKeyID, u.SecretAccessKey, "")
	}
	return awss3.New(awss3.Options{
		BaseEndpoint: aws.String(u.Endpoint),
		Region:       u.Region,
		Credentials:  creds,
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Timeout: timeout, Transport: storeTransport()},
	})
}

// storeTransport is Go's default transport keeping as many idle
// connections to the store as an import asks it questions at once: with
// the default's two, checking thousands of buckets would open a
// connection per request and could run out of local ports.
func storeTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = bucketCheckConcurrency
	return t
}

// DefaultCacheTTL is how long a bucket-existence answer is reused.
const DefaultCacheTTL = 10 * time.Second

// provision replaces the placeholders, applies the defaults and checks the
// options.
func (u *Upstream) provision(repl *caddy.Replacer, region string) error {
	u.Endpoint = repl.ReplaceKnown(u.Endpoint, "")
	u.AccessKeyID = repl.ReplaceKnown(u.AccessKeyID, "")
	u.SecretAccessKey = repl.ReplaceKnown(u.SecretAccessKey, "")
	if u.Region == "" {
		u.Region = region
	}
	if u.CacheTTL == 0 {
		u.CacheTTL = caddy.Duration(DefaultCacheTTL)
	}
	if err := s3.CheckEndpoint(u.Endpoint); err != nil {
		return err
	}
	if (u.AccessKeyID == "") != (u.SecretAccessKey == "") {
		return errors.New("credentials need both an access key and a secret key")
	}
	if u.CacheTTL < 0 {
		return errors.New("cache_ttl must not be negative")
	}
	return nil
}

const (
	// headBucketTimeout bounds one HeadBucket, so that a hung upstream
	// delays a preflight by at most this much.
	headBucketTimeout = 2 * time.Second
	// unknownTTL is how long an upstream failure is remembered, so that a
	// preflight storm against a down upstream does not become a
	// connection storm.
	unknownTTL = time.Second
	// maxCachedBuckets bounds the cache; bucket names in preflights come
	// from anyone on the network.
	maxCachedBuckets = 10000
)

// errUnknown is the cached answer of an upstream that could not tell.
var errUnknown = errors.New("the upstream could not tell whether the bucket exists")

// bucketChecker asks the upstream whether buckets exist, with HeadBucket
// signed with the upstream's credentials. Answers, misses included, are
// cached for a TTL, and concurrent questions about one bucket share one
// request.
type bucketChecker struct {
	upstream *Upstream
	client   *awss3.Client
	ttl      time.Duration
	logger   *zap.Logger
	now      func() time.Time

	flight singleflight.Group
	mu     sync.RWMutex
	cache  map[string]bucketAnswer
	// forgets counts calls of forget. An answer whose question was sent
	// before a forget is returned to the questions that shared it, but not
	// cached: it may describe the bucket before the change that made the
	// proxy forget.
	forgets atomic.Uint64
}

type bucketAnswer struct {
	exists  bool
	unknown bool
	expires time.Time
}

func newBucketChecker(u *Upstream, logger *zap.Logger) *bucketChecker {
	return &bucketChecker{
		upstream: u,
		client:   u.client(headBucketTimeout),
		ttl:      time.Duration(u.CacheTTL),
		logger:   logger,
		now:      time.Now,
		cache:    make(map[string]bucketAnswer),
	}
}

// exists reports whether bucket exists at the upstream. It returns an error
// when the upstream could not tell.
func (c *bucketChecker) exists(ctx context.Context, bucket string) (bool, error) {
	a, ok := c.cached(bucket)
	if !ok {
		// The shared request must not die with the request that started it.
		v, _, _ := c.flight.Do(bucket, func() (any, error) {
			// A question that missed the cache just before the previous
			// flight ended finds its answer here, not in a second request.
			if a, ok := c.cached(bucket); ok {
				return a, nil
			}
			return c.ask(context.WithoutCancel(ctx), bucket), nil
		})
		a = v.(bucketAnswer)
	}
	if a.unknown {
		return false, errUnknown
	}
	return a.exists, nil
}

// cached returns the answer about bucket that is still valid, if any.
func (c *bucketChecker) cached(bucket string) (bucketAnswer, bool) {
	c.mu.RLock()
	a, ok := c.cache[bucket]
	c.mu.RUnlock()
	return a, ok && c.now().Before(a.expires)
}

// ask sends one HeadBucket and caches its answer.
func (c *bucketChecker) ask(ctx context.Context, bucket string) bucketAnswer {
	ctx, cancel := context.WithTimeout(ctx, headBucketTimeout)
	defer cancel()
	asked := c.forgets.Load()
	_, err := c.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)})

	a := bucketAnswer{exists: true, expires: c.now().Add(c.ttl)}
	if err != nil {
		switch status := s3.StatusOf(err); status {
		case http.StatusNotFound:
			a.exists = false
		case http.StatusForbidden, http.StatusMovedPermanently, http.StatusBadRequest:
			// The bucket exists but these credentials may not use it, or it
			// lives in another region: either way it is there.
		default:
			c.logger.Warn("asking the upstream whether a bucket exists",
				zap.String("bucket", bucket), zap.Int("status", status), zap.Error(err))
			a = bucketAnswer{unknown: true, expires: c.now().Add(min(unknownTTL, c.ttl))}
		}
	}
	c.store(bucket, a, asked)
	return a
}

// store caches a, the answer to a question sent when forgets stood at
// asked.
func (c *bucketChecker) store(bucket string, a bucketAnswer, asked uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets.Load() != asked {
		return
	}
	if len(c.cache) >= maxCachedBuckets {
		now := c.now()
		for k, v := range c.cache {
			if !now.Before(v.expires) {
				delete(c.cache, k)
			}
		}
		if len(c.cache) >= maxCachedBuckets {
			clear(c.cache)
		}
	}
	c.cache[bucket] = a
}

// forget drops the cached answer for bucket after a change to it: the next
// question is sent anew, even while an older one is still in flight.
func (c *bucketChecker) forget(bucket string) {
	c.mu.Lock()
	c.forgets.Add(1)
	delete(c.cache, bucket)
	c.mu.Unlock()
	c.flight.Forget(bucket)
}
