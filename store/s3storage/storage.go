// Package s3storage is a certmagic.Storage that keeps every key as an object
// in one bucket of an S3-compatible store. It also implements
// store.ConditionalStorage with S3's conditional writes (If-Match,
// If-None-Match), so Caddy instances that keep their bucket CORS
// configurations there agree without locks; a store that ignores those
// conditions is detected once, and the store package then falls back to
// its lock-and-read-back protocol.
package s3storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// Config says where the objects live. In the s3_cors app (the
// bucket_storage option) {env.*} placeholders are replaced in every field.
type Config struct {
	// Endpoint is the store's base URL, http:// or https://, such as
	// http://127.0.0.1:9000. An https endpoint's certificate is verified
	// against the system's trusted roots (SSL_CERT_FILE and SSL_CERT_DIR
	// add to them). Buckets are addressed path-style
	// (<endpoint>/<bucket>/<key>), which every S3-compatible store and
	// Amazon S3 accept and which needs no DNS name per bucket.
	Endpoint string `json:"endpoint"`

	// Bucket holds the objects. It is created at first use if it does not
	// exist. Any S3 bucket name; best one that the proxy's clients
	// cannot write to.
	Bucket string `json:"bucket"`

	// AccessKeyID and SecretAccessKey sign every request. The key needs
	// to read, write, list and delete objects in the bucket, and to create
	// the bucket unless it already exists.
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`

	// Region is the signing region, and the region of a bucket this
	// storage creates. Default: us-east-1.
	Region string `json:"region,omitempty"`

	// Prefix is put before every object key, so that the bucket can hold
	// other data too: with prefix "caddy", the key s3_cors/marker.json is
	// the object caddy/s3_cors/marker.json. Default: none.
	Prefix string `json:"prefix,omitempty"`
}

// Limits and timeouts of every request. A request that fails for a
// transient reason (no answer, 5xx, throttling) is tried maxAttempts times
// in all, at most maxBackoff apart, each attempt within attemptTimeout.
const (
	maxAttempts    = 3
	maxBackoff     = 500 * time.Millisecond
	attemptTimeout = 10 * time.Second
	dialTimeout    = 5 * time.Second

	// MaxValueSize is the largest value Load reads. Stored values are
	// small (CORS records, the change marker, certificates); a larger
	// object under the prefix is refused rather than read into memory.
	MaxValueSize = 16 << 20
)

// Storage keeps keys as objects in one bucket. It is safe for concurrent
// use. New does no I/O; the first operation creates the bucket if needed
// and probes whether the store enforces conditional writes (see Prepare).
type Storage struct {
	cfg    Config
	client *awss3.Client
	prefix string // "" or ending in "/"
	log    *zap.Logger
	now    func() time.Time

	// prepareSem serializes Prepare; prepared and conditional are its
	// results.
	prepareSem  chan struct{}
	prepared    atomic.Bool
	conditional atomic.Bool

	locksMu sync.Mutex
	locks   map[string]*heldLock
	lockTTL time.Duration
}

// New returns a Storage for cfg, after checking it. It does no I/O.
// logger receives the outcome of the conditional-write probe and lock
// warnings; nil logs nothing.
func New(cfg Config, logger *zap.Logger) (*Storage, error) {
	if err := s3.CheckEndpoint(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("bucket storage: %w", err)
	}
	if !s3.ValidBucketName(cfg.Bucket) {
		return nil, fmt.Errorf("bucket storage bucket %q is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')", cfg.Bucket)
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("bucket storage needs credentials: an access key ID and a secret access key (is an environment variable unset?)")
	}
	if cfg.Region == "" {
		cfg.Region = s3.DefaultRegion
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	prefix := cfg.Prefix
	if prefix != "" {
		prefix += "/"
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: attemptTimeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(cfg.Endpoint),
		Region:       cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Transport: transport, Timeout: attemptTimeout},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = maxBackoff
			// A store that is down must fail each call after its own
			// attempts, not start failing calls at once because a
			// shared retry budget ran out.
			o.RateLimiter = ratelimit.None
		}),
		// Checksums only where S3 requires them: many S3-compatible
		// stores refuse the trailing checksums the SDK adds otherwise.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return &Storage{
		cfg:        cfg,
		client:     client,
		prefix:     prefix,
		log:        logger,
		now:        time.Now,
		prepareSem: make(chan struct{}, 1),
		locks:      make(map[string]*heldLock),
		lockTTL:    defaultLockTTL,
	}, nil
}

// String names the location: endpoint, bucket, prefix and access key ID
// (never the secret). Caddy instances, and successive configurations of
// one instance, with the same String share the same data.
func (s *Storage) String() string {
	return fmt.Sprintf("%s/%s/%s (access key %s)", strings.TrimRight(s.cfg.Endpoint, "/"), s.cfg.Bucket, s.cfg.Prefix, s.cfg.AccessKeyID)
}

func (s *Storage) objectKey(key string) string { return s.prefix + key }

func (s *Storage) keyOf(object string) string { return strings.TrimPrefix(object, s.prefix) }

// Store puts value at key, replacing what was there.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.putInput(key, value))
	if err != nil {
		return s.failed("storing", key, err)
	}
	return nil
}

func (s *Storage) putInput(key string, value []byte) *awss3.PutObjectInput {
	return &awss3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          bytes.NewReader(value),
		ContentLength: aws.Int64(int64(len(value))),
		ContentType:   aws.String("application/octet-stream"),
	}
}

// Load returns the value at key; a missing key gives an error wrapping
// fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	value, _, err := s.LoadVersion(ctx, key)
	return value, err
}

// LoadVersion returns the value at key and its ETag, the version StoreIf
// takes. The ETag of a simple upload is the digest of its content, so
// writing the same bytes again keeps the version: callers that need every
// write to change it put something fresh in the value (the store's
// change marker carries a new token each time).
func (s *Storage) LoadVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := s.Prepare(ctx); err != nil {
		return nil, "", err
	}
	return s.loadVersion(ctx, key)
}

func (s *Storage) loadVersion(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isMissingKey(err) {
			return nil, "", fmt.Errorf("key %q in bucket %s: %w", key, s.cfg.Bucket, fs.ErrNotExist)
		}
		return nil, "", s.failed("loading", key, err)
	}
	defer out.Body.Close()
	value, err := io.ReadAll(io.LimitReader(out.Body, MaxValueSize+1))
	if err != nil {
		return nil, "", s.failed("loading", key, err)
	}
	if len(value) > MaxValueSize {
		return nil, "", fmt.Errorf("bucket storage: object %q in bucket %s is larger than %d bytes, more than any value this storage keeps; remove it or use another prefix", s.objectKey(key), s.cfg.Bucket, MaxValueSize)
	}
	return value, aws.ToString(out.ETag), nil
}

// Delete removes key and, if key is a directory, every key under it.
// Deleting a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	if err := s.deleteObject(ctx, key); err != nil {
		return err
	}
	under, err := s.listObjects(ctx, key, true, 0)
	if err != nil {
		return err
	}
	for _, k := range under {
		if err := s.deleteObject(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Storage) deleteObject(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil && !isMissingKey(err) {
		return s.failed("deleting", key, err)
	}
	return nil
}

// Exists reports whether key holds a value or is a directory of other
// keys. A failed check reports false.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a value (IsTerminal, with its size and modification
// time) or a directory of other keys. A missing key gives an error
// wrapping fs.ErrNotExist.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := s.Prepare(ctx); err != nil {
		return certmagic.KeyInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err == nil {
		return certmagic.KeyInfo{
			Key:        key,
			Modified:   aws.ToTime(out.LastModified),
			Size:       aws.ToInt64(out.ContentLength),
			IsTerminal: true,
		}, nil
	}
	if !isMissingKey(err) {
		return certmagic.KeyInfo{}, s.failed("looking up", key, err)
	}
	under, err := s.listObjects(ctx, key, true, 1)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if len(under) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("key %q in bucket %s: %w", key, s.cfg.Bucket, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// List returns the keys under dir ("" for all of them). Recursive, it
// returns every key with a value at any depth; otherwise the keys and
// directories directly under dir. A dir with nothing under it gives an
// error wrapping fs.ErrNotExist, as a missing directory does on a file
// system.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	if err := s.Prepare(ctx); err != nil {
		return nil, err
	}
	keys, err := s.listObjects(ctx, dir, recursive, 0)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("directory %q in bucket %s: %w", dir, s.cfg.Bucket, fs.ErrNotExist)
	}
	return keys, nil
}

// listObjects lists the keys under dir, at most limit of them (0: all).
// Not recursive, it includes the directories directly under dir.
func (s *Storage) listObjects(ctx context.Context, dir string, recursive bool, limit int) ([]string, error) {
	dir = strings.Trim(dir, "/")
	listPrefix := s.prefix
	if dir != "" {
		listPrefix += dir + "/"
	}
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(listPrefix)}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	if limit > 0 {
		in.MaxKeys = aws.Int32(int32(limit))
	}
	var keys []string
	pages := awss3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.failed("listing", dir, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, s.keyOf(aws.ToString(o.Key)))
		}
		for _, p := range page.CommonPrefixes {
			keys = append(keys, strings.TrimSuffix(s.keyOf(aws.ToString(p.Prefix)), "/"))
		}
		if limit > 0 && len(keys) >= limit {
			return keys[:limit], nil
		}
	}
	return keys, nil
}

// Interface guards.
var (
	_ certmagic.Storage        = (*Storage)(nil)
	_ store.ConditionalStorage = (*Storage)(nil)
	_ fmt.Stringer             = (*Storage)(nil)
)
