package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// PolicySource says which configuration decides a bucket's CORS.
type PolicySource uint8

const (
	// SourceNone: the bucket has no configuration and no default applies;
	// S3's "CORS is not enabled for this bucket".
	SourceNone PolicySource = iota
	// SourceBucket: the bucket's own configuration.
	SourceBucket
	// SourceDefault: the default_cors document of the handlers.
	SourceDefault
)

var sourceNames = [...]string{SourceNone: "none", SourceBucket: "bucket", SourceDefault: "default"}

// String names the source as the admin API and the logs do.
func (s PolicySource) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("PolicySource(%d)", s)
}

// defaultCORS is a compiled default_cors document with the counts of what
// it decided. Handlers whose files hold the same configuration share one,
// also across config reloads, so it is compiled once and its counts go on.
type defaultCORS struct {
	policy   *cors.Policy
	counters *decisionCounters
}

// Destruct releases nothing: a defaultCORS holds memory only.
func (*defaultCORS) Destruct() error { return nil }

// defaultPolicies holds the defaultCORS of every configuration in use, by
// its canonical form's hash.
var defaultPolicies = caddy.NewUsagePool()

// loadDefaultCORS reads and validates a default_cors file and returns the
// shared compiled form of its configuration, with the pool key to release
// in Cleanup. Errors quote S3's code and message and the file's line.
func loadDefaultCORS(file string) (*defaultCORS, string, error) {
	cfg, err := readCORSFile(file)
	if err != nil {
		return nil, "", err
	}
	// Files that differ only in layout hold the same configuration.
	sum := sha256.Sum256(cfg.Marshal())
	key := hex.EncodeToString(sum[:])
	val, _, err := defaultPolicies.LoadOrNew(key, func() (caddy.Destructor, error) {
		p := cors.Compile(cfg)
		return &defaultCORS{policy: p, counters: newDecisionCounters(p, time.Now())}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*defaultCORS), key, nil
}

// readCORSFile reads a CORSConfiguration document from file and validates
// it with S3's rules.
func readCORSFile(file string) (*cors.Configuration, error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("default_cors: no file %s", file)
		}
		return nil, fmt.Errorf("default_cors: %w", err)
	}
	defer f.Close()
	// One byte over the limit is enough for Parse to refuse it as S3 does.
	doc, err := io.ReadAll(io.LimitReader(f, cors.MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("default_cors: reading %s: %w", file, err)
	}
	cfg, err := cors.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("default_cors %s: %s", file, DescribeParseError(err))
	}
	return cfg, nil
}

// DescribeParseError is an error of cors.Parse with its place in the
// document first, as compilers write theirs ("line 5, column 5:
// InvalidRequest: ...").
func DescribeParseError(err error) string {
	e, ok := errors.AsType[*cors.Error](err)
	switch {
	case !ok || e.Line == 0:
		return err.Error()
	case e.Column == 0:
		return fmt.Sprintf("line %d: %s", e.Line, e)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e)
}

// configDefault is the default of one config's handlers. Every handler that
// sets default_cors must name the same configuration: bucket configurations
// belong to the instance, not to a site, and explain and stats must be able
// to say which default decided.
type configDefault struct {
	mu   sync.Mutex
	d    *defaultCORS
	file string // the file the first handler named
}

// set registers d, read from file, as the config's default; a different
// configuration is refused.
func (c *configDefault) set(d *defaultCORS, file string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil && c.d != d {
		return fmt.Errorf("default_cors: %s and %s hold different configurations; "+
			"the s3_cors handlers of one Caddy share their buckets, so they must share one default "+
			"(name the same file, or give the buckets configurations of their own)", c.file, file)
	}
	if c.d == nil {
		c.d, c.file = d, file
	}
	return nil
}

// get returns the default and its file; nil and "" without one.
func (c *configDefault) get() (*defaultCORS, string) {
	if c == nil {
		return nil, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d, c.file
}

// resolve returns the policy that decides bucket's CORS at a handler whose
// default is def (nil without default_cors), where it comes from, and the
// bucket's candidate on trial (nil for nearly every bucket), which is
// compared with that policy, whichever it is. The bucket that
// bucket_storage keeps the configurations in never gets the default: its
// objects are the configurations, and a browser should read them only if
// the operator gave that bucket a configuration of its own.
func (a *App) resolve(bucket string, def *defaultCORS) (*cors.Policy, PolicySource, *store.Candidate) {
	p := a.shared.store.Lookup(bucket)
	if p.Live != nil {
		return p.Live, SourceBucket, p.Candidate
	}
	if def == nil || bucket == a.configBucket {
		return nil, SourceNone, p.Candidate
	}
	return def.policy, SourceDefault, p.Candidate
}

// Policy returns the policy that decides bucket's CORS at the handlers
// that set default_cors, and where it comes from: the bucket's own
// configuration, the default, or none (a nil policy).
func (a *App) Policy(bucket string) (*cors.Policy, PolicySource) {
	d, _ := a.defaults.get()
	p, src, _ := a.resolve(bucket, d)
	return p, src
}

// DefaultFile is the default_cors file of the config's handlers; "" when
// none sets one.
func (a *App) DefaultFile() string {
	_, file := a.defaults.get()
	return file
}

// ConfigBucket is the bucket that bucket_storage keeps the configurations
// in; "" without bucket_storage.
func (a *App) ConfigBucket() string { return a.configBucket }
