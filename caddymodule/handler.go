package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultRegion is the SigV4 region of the ?cors API when none is set.
const DefaultRegion = "us-east-1"

// Handler gives the S3-compatible store behind it Amazon S3's per-bucket
// CORS. It answers the bucket CORS API (PUT, GET and DELETE /{bucket}?cors)
// and every preflight OPTIONS request itself, and passes everything else to
// the next handler (normally reverse_proxy), replacing the CORS headers of
// the upstream's responses with the ones S3 would send.
//
// Buckets are addressed path-style (/{bucket}/{key}) or, for the host names
// in virtual_host_suffixes, virtual-host style ({bucket}.{suffix}/{key}).
// Requests that name no bucket, such as ListBuckets, pass through untouched.
type Handler struct {
	// Credentials are the SigV4 key pairs allowed to call the ?cors API.
	// Secrets may be placeholders such as {env.S3_SECRET_KEY}. With none,
	// every call of the API is refused unless insecure_unauthenticated_api
	// is set.
	Credentials []Credential `json:"credentials,omitempty"`

	// OwnerID is the 12-digit account ID that the
	// x-amz-expected-bucket-owner header of ?cors calls is checked against.
	// Without it, a call that carries the header is refused: the caller
	// asked for the call to fail unless that account owns the bucket, and
	// nothing here can confirm it.
	OwnerID string `json:"owner_id,omitempty"`

	// Region is the SigV4 signing region of the ?cors API. Default:
	// us-east-1.
	Region string `json:"region,omitempty"`

	// VirtualHostSuffixes are the host names under which buckets are
	// addressed virtual-host style, as <bucket>.<suffix>. Path-style
	// addressing always works.
	VirtualHostSuffixes []string `json:"virtual_host_suffixes,omitempty"`

	// Upstream, when set, is asked whether a bucket exists (HeadBucket,
	// cached), so that ?cors calls on a missing bucket answer NoSuchBucket
	// and preflights "Bucket not found" as S3 does.
	Upstream *Upstream `json:"upstream,omitempty"`

	// InsecureUnauthenticatedAPI lets anyone call the ?cors API without a
	// signature. For local development only: it lets any client decide
	// which web sites may read every bucket. A warning is logged at start.
	InsecureUnauthenticatedAPI bool `json:"insecure_unauthenticated_api,omitempty"`

	app      *App
	verifier *s3.Verifier
	buckets  *bucketChecker
	logger   *zap.Logger
}

// Credential is a SigV4 key pair allowed to call the ?cors API.
type Credential struct {
	// AccessKeyID is the access key. Placeholders are replaced.
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey is the secret key. Placeholders are replaced.
	SecretAccessKey string `json:"secret_access_key"`
	// Buckets, when set, are the only buckets this key may change.
	Buckets []string `json:"buckets,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.s3_cors",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets the handler up: it replaces placeholders in the secrets and
// attaches the handler to the s3_cors app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()

	if h.Region == "" {
		h.Region = DefaultRegion
	}
	h.OwnerID = repl.ReplaceKnown(h.OwnerID, "")
	for i := range h.Credentials {
		c := &h.Credentials[i]
		c.AccessKeyID = repl.ReplaceKnown(c.AccessKeyID, "")
		c.SecretAccessKey = repl.ReplaceKnown(c.SecretAccessKey, "")
	}
	for i, s := range h.VirtualHostSuffixes {
		h.VirtualHostSuffixes[i] = strings.ToLower(strings.TrimSuffix(repl.ReplaceKnown(s, ""), "."))
	}

	appVal, err := ctx.App("s3_cors")
	if err != nil {
		return fmt.Errorf("getting the s3_cors app: %w", err)
	}
	h.app = appVal.(*App)

	creds := make([]s3.Credential, 0, len(h.Credentials))
	for _, c := range h.Credentials {
		creds = append(creds, s3.Credential{
			AccessKeyID:     c.AccessKeyID,
			SecretAccessKey: c.SecretAccessKey,
			Buckets:         c.Buckets,
		})
	}
	h.verifier = s3.NewVerifier(h.Region, creds)

	if h.Upstream != nil {
		if err := h.Upstream.provision(repl, h.Region); err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		h.buckets = newBucketChecker(h.Upstream, h.logger)
	}

	switch {
	case h.InsecureUnauthenticatedAPI:
		h.logger.Warn("insecure_unauthenticated_api is set: anyone who can reach this server can change every bucket's CORS configuration; use it for local development only")
	case len(h.Credentials) == 0:
		h.logger.Info("no credentials configured: every call of the ?cors API will be refused")
	}
	return nil
}

var ownerIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// Validate checks the handler's configuration.
func (h *Handler) Validate() error {
	seen := make(map[string]bool, len(h.Credentials))
	for i, c := range h.Credentials {
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return fmt.Errorf("credentials %d: access key and secret key must not be empty (is the environment variable behind the placeholder set?)", i)
		}
		if seen[c.AccessKeyID] {
			return fmt.Errorf("credentials %d: access key %q is configured twice", i, c.AccessKeyID)
		}
		seen[c.AccessKeyID] = true
		for _, b := range c.Buckets {
			if !s3.ValidBucketName(b) {
				return fmt.Errorf("credentials %d: %q is not a valid bucket name", i, b)
			}
		}
	}
	if h.OwnerID != "" && !ownerIDPattern.MatchString(h.OwnerID) {
		return fmt.Errorf("owner_id must be a 12-digit account ID, got %q", h.OwnerID)
	}
	for _, s := range h.VirtualHostSuffixes {
		if s == "" || strings.ContainsAny(s, "/:") {
			return fmt.Errorf("virtual_host_suffix %q must be a bare host name, without scheme or port", s)
		}
	}
	return nil
}

// ServeHTTP routes a request: the ?cors API and preflights are answered
// here, everything else goes to next with its CORS headers rewritten.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	t := s3.ResolveTarget(r, h.VirtualHostSuffixes)
	if t.Bucket == "" {
		if r.Method == http.MethodOptions {
			// S3 refuses preflights to the service endpoint.
			h.servePreflight(w, r, t)
			return nil
		}
		// S3 adds no CORS headers to requests that name no bucket, such
		// as ListBuckets (spec C.1 step 2): the upstream's are removed and
		// none are added.
		_, err := h.forward(w, r, next, cors.Decision{})
		return err
	}
	h.app.shared.waitReady(r.Context())
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.s3_cors.bucket", t.Bucket)
	}

	switch {
	case r.Method == http.MethodOptions:
		// Every OPTIONS is a preflight, also one for a ?cors call that a
		// web page makes (S3 has no OPTIONS operation).
		h.servePreflight(w, r, t)
		return nil
	case s3.IsCORSSubresource(r, t):
		h.serveAPI(w, r, t)
		return nil
	}
	return h.serveProxied(w, r, t, next)
}

// store is where the bucket configurations live.
func (h *Handler) store() *store.Store { return h.app.shared.store }

// servePreflight answers an OPTIONS request as S3 does (spec B).
func (h *Handler) servePreflight(w http.ResponseWriter, r *http.Request, t s3.Target) {
	req := cors.NewRequest(r.Method, r.Header)
	var (
		d      cors.Decision
		policy *cors.Policy
	)
	if t.Bucket != "" {
		policy = h.store().Lookup(t.Bucket).Live
	}
	switch {
	case t.Bucket == "":
		d = cors.MissingBucket(req)
	case req.Origin != "" && !h.bucketExists(r, t.Bucket):
		d = cors.MissingBucket(req)
	default:
		d = policy.Preflight(req)
	}
	h.app.metrics.countPreflight(d.Outcome())

	ids := s3.NewIDs()
	if !d.Allowed() {
		if ce := h.logger.Check(zap.DebugLevel, "preflight refused"); ce != nil {
			ce.Write(
				zap.String("bucket", t.Bucket),
				zap.String("origin", req.Origin),
				zap.String("request_method", req.RequestMethod),
				zap.Strings("request_headers", req.RequestHeaders),
				zap.Stringer("outcome", d.Outcome()),
				zap.Stringer("reason", d.Reason()),
				zap.String("denied_header", d.DeniedHeader()),
				zap.String("request_id", ids.RequestID),
			)
		}
		e := &s3.Error{StatusCode: d.StatusCode(), Code: d.Code(), Message: d.Message()}
		if d.StatusCode() == http.StatusForbidden {
			e.Extra = []s3.Field{
				{Name: "Method", Value: d.Method()},
				{Name: "ResourceType", Value: d.ResourceType(t.Key != "")},
			}
		}
		s3.WriteError(w, ids, e)
		return
	}
	hdr := w.Header()
	ids.Set(hdr)
	d.WriteHeaders(hdr)
	// With no body written, the server sends Content-Length: 0 and no
	// Content-Type, as S3 does.
	w.WriteHeader(http.StatusOK)
}

// bucketExists reports whether the upstream has the bucket. Without an
// upstream to ask, or when the upstream cannot tell, the bucket is assumed
// to exist: the answer then depends on the stored configuration alone.
func (h *Handler) bucketExists(r *http.Request, bucket string) bool {
	if h.buckets == nil {
		return true
	}
	if !s3.ValidBucketName(bucket) {
		return false
	}
	exists, err := h.buckets.exists(r.Context(), bucket)
	if err != nil {
		return true
	}
	return exists
}

// serveProxied passes r to next and rewrites the CORS headers of the
// response (spec C).
func (h *Handler) serveProxied(w http.ResponseWriter, r *http.Request, t s3.Target, next caddyhttp.Handler) error {
	var d cors.Decision
	if policy := h.store().Lookup(t.Bucket).Live; policy != nil {
		d = policy.Actual(cors.NewRequest(r.Method, r.Header))
	}
	status, err := h.forward(w, r, next, d)

	// CreateBucket and DeleteBucket through the proxy change what the
	// upstream would answer about the bucket: forget the cached answer.
	bucketOp := t.Key == "" && r.URL.RawQuery == "" && status >= 200 && status < 300
	if bucketOp && h.buckets != nil && (r.Method == http.MethodPut || r.Method == http.MethodDelete) {
		h.buckets.forget(t.Bucket)
	}
	// S3 deletes a bucket's CORS configuration with the bucket; do the same
	// when the upstream confirms a DeleteBucket, so that a new bucket of
	// that name does not inherit it.
	if bucketOp && r.Method == http.MethodDelete && h.store().Lookup(t.Bucket).Live != nil {
		ctx, cancel := writeContext(r)
		defer cancel()
		if _, derr := h.store().Delete(ctx, t.Bucket, "DeleteBucket"); derr != nil {
			h.logger.Error("removing the CORS configuration of a deleted bucket",
				zap.String("bucket", t.Bucket), zap.Error(derr))
		}
	}
	return err
}

// forward passes r to next and gives the response the CORS headers of d,
// removing the upstream's. It returns the response's status, or 0 when
// next wrote nothing.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d cors.Decision) (int, error) {
	cw := newCORSWriter(w, d)
	err := next.ServeHTTP(cw, r)
	cw.finish()
	return cw.status, err
}

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

// DefaultCacheTTL is how long a bucket-existence answer is reused.
const DefaultCacheTTL = 10 * time.Second

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
	ep, err := url.Parse(u.Endpoint)
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return fmt.Errorf("endpoint %q must be an http:// or https:// URL", u.Endpoint)
	}
	if (u.AccessKeyID == "") != (u.SecretAccessKey == "") {
		return errors.New("credentials need both an access key and a secret key")
	}
	if u.CacheTTL < 0 {
		return errors.New("cache_ttl must not be negative")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
