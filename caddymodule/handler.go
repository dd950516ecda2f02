package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
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

// Handler gives the S3-compatible store behind it Amazon S3's per-bucket
// CORS. It answers the bucket CORS API (PUT, GET and DELETE /{bucket}?cors)
// and every preflight OPTIONS request itself, and passes everything else to
// the next handler (normally reverse_proxy), replacing the CORS headers of
// the upstream's responses with the ones S3 would send.
//
// Buckets are addressed path-style (/{bucket}/{key}) or, for the host names
// in virtual_host_suffixes, virtual-host style ({bucket}.{suffix}/{key}).
// Requests that name no bucket, such as ListBuckets, pass through untouched.
//
// For every request that names a bucket, the handler sets the placeholder
// {http.s3_cors.bucket} to the bucket's name, for access logs and for the
// handlers after it (for instance to route buckets to different stores).
// It is not set for requests that name no bucket.
type Handler struct {
	// Credentials are the SigV4 key pairs allowed to call the ?cors API.
	// Secrets may be placeholders such as {env.S3_SECRET_KEY}. With none,
	// every call of the API is refused unless insecure_unauthenticated_api
	// is set, and a warning says so at start.
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
	// and preflights "Bucket not found" as S3 does; the admin API's PUT
	// asks it too. When it cannot tell, preflights and GetBucketCors answer
	// from the stored configurations, and PutBucketCors and
	// DeleteBucketCors are refused with 503 ServiceUnavailable, changing
	// nothing.
	Upstream *Upstream `json:"upstream,omitempty"`

	// InsecureUnauthenticatedAPI lets anyone call the ?cors API without a
	// signature. For local development only: it lets any client decide
	// which web sites may read every bucket. A warning is logged at start.
	InsecureUnauthenticatedAPI bool `json:"insecure_unauthenticated_api,omitempty"`

	// DefaultCORSFile is a CORSConfiguration XML document that decides the
	// preflights and other requests of every bucket without a
	// configuration of its own, as if the bucket had it: for adopting the
	// proxy in front of a store whose browser apps relied on one global
	// CORS setting. It is read and validated with S3's rules at provision,
	// so that a bad file fails `caddy validate` and `caddy run` with S3's
	// code, message and the line; a reload reads it again (after changing
	// only the file, reload with --force, as the config itself did not
	// change). GetBucketCors still answers NoSuchCORSConfiguration for those
	// buckets, as S3 would. The bucket that bucket_storage keeps the
	// configurations in never gets the default. Every handler of a config
	// that sets it must name the same configuration. {env.*} and {file.*}
	// placeholders are replaced; a relative path is relative to Caddy's
	// working directory.
	DefaultCORSFile string `json:"default_cors_file,omitempty"`

	// AlwaysVary sends `Vary: Origin, Access-Control-Request-Headers,
	// Access-Control-Request-Method` on every response to a request that
	// names a bucket, whether a rule matched or not (merged with the
	// store's other Vary names on proxied responses), so that shared caches
	// and CDNs keep apart the copies for different origins. S3 sends it only
	// with a match, which lets a cache serve a copy without CORS headers to
	// an allowed origin. Default: off, as S3.
	AlwaysVary bool `json:"always_vary,omitempty"`

	app         *App
	verifier    *s3.Verifier
	buckets     *bucketChecker
	logger      *zap.Logger
	warnedEmpty *atomic.Bool // the next handler once wrote nothing
	defaultCORS *defaultCORS // the compiled DefaultCORSFile; nil without one
	defaultKey  string       // its key in defaultPolicies, released in Cleanup
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
	h.warnedEmpty = new(atomic.Bool)
	repl := caddy.NewReplacer()

	if h.Region == "" {
		h.Region = s3.DefaultRegion
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

	if h.DefaultCORSFile != "" {
		file := repl.ReplaceKnown(h.DefaultCORSFile, "")
		if file == "" {
			return errors.New("default_cors: the file name is empty (is the environment variable behind the placeholder set?)")
		}
		h.defaultCORS, h.defaultKey, err = loadDefaultCORS(file)
		if err != nil {
			return err
		}
		if err := h.app.defaults.set(h.defaultCORS, file); err != nil {
			return err
		}
	}

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
		h.app.upstreams.add(h.buckets)
	}

	switch {
	case h.InsecureUnauthenticatedAPI:
		h.logger.Warn("insecure_unauthenticated_api is set: anyone who can reach this server can change every bucket's CORS configuration; use it for local development only")
	case len(h.Credentials) == 0:
		h.logger.Warn("s3_cors has no credentials, so every PutBucketCors, GetBucketCors and DeleteBucketCors call " +
			"is refused with 403 AccessDenied; add `credentials <access_key> <secret_key>` to the s3_cors block " +
			"(in JSON, \"credentials\") to let signed calls through, or manage the configurations with `caddy s3-cors`")
	}
	if h.Upstream != nil && h.Upstream.AccessKeyID == "" {
		h.logger.Warn("the upstream has no credentials, so HeadBucket is sent unsigned, and a store that refuses it " +
			"makes every bucket look present; add `credentials <access_key> <secret_key>` to the upstream block " +
			"(in JSON, \"access_key_id\" and \"secret_access_key\")")
	}
	return nil
}

// Cleanup removes the handler's upstream from the app's and releases its
// default configuration.
func (h *Handler) Cleanup() error {
	if h.app != nil && h.buckets != nil {
		h.app.upstreams.remove(h.buckets)
	}
	if h.defaultKey != "" {
		_, err := defaultPolicies.Delete(h.defaultKey)
		return err
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

// ServeHTTP routes a request as s3.Classify reads it: the ?cors API and
// preflights are answered here, requests that S3 and the store could read
// differently are refused, everything else goes to next with its CORS
// headers rewritten.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	c := s3.Classify(r, h.VirtualHostSuffixes)
	t := c.Target
	if t.Bucket != "" {
		h.app.shared.waitReady(r.Context())
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			repl.Set("http.s3_cors.bucket", t.Bucket)
		}
	}

	switch c.Kind {
	case s3.KindPreflight:
		// Every OPTIONS is a preflight, also one for a ?cors call that a
		// web page makes (S3 has no OPTIONS operation); S3 refuses
		// preflights to the service endpoint.
		h.servePreflight(w, r, t)
		return nil
	case s3.KindRefused:
		h.serveRefusal(w, r, c)
		return nil
	case s3.KindCORS:
		h.serveAPI(w, r, t)
		return nil
	case s3.KindService:
		// S3 adds no CORS headers to requests that name no bucket, such
		// as ListBuckets (spec C.1 step 2): the upstream's are removed and
		// none are added, not even always_vary's.
		_, err := h.forward(w, r, next, cors.Decision{}, false)
		return err
	}
	return h.serveProxied(w, r, c, next)
}

// serveRefusal answers a request that must not reach the upstream with its
// S3 error. Like the API's answers, it carries the bucket's CORS headers,
// so that a page allowed to read the bucket can read why.
func (h *Handler) serveRefusal(w http.ResponseWriter, r *http.Request, c s3.Classification) {
	if c.Target.Bucket != "" {
		h.writeCORS(w.Header(), h.decideActual(r, c.Target))
	}
	ids := s3.NewIDs()
	if ce := h.logger.Check(zap.DebugLevel, "request refused: S3 and the store could read it differently"); ce != nil {
		ce.Write(zap.String("method", r.Method), zap.String("uri", r.RequestURI),
			zap.String("code", c.Err.Code), zap.String("request_id", ids.RequestID))
	}
	s3.WriteError(w, ids, c.Err)
}

// store is where the bucket configurations live.
func (h *Handler) store() *store.Store { return h.app.shared.store }

// decideActual decides which CORS headers a request to t other than a
// preflight gets, from the bucket's configuration or the default, and
// counts the decision of a request that has an Origin, also for the
// bucket's candidate on trial.
func (h *Handler) decideActual(r *http.Request, t s3.Target) cors.Decision {
	policy, src, cand := h.app.resolve(t.Bucket, h.defaultCORS)
	if policy == nil && cand == nil {
		return cors.Decision{}
	}
	req := cors.NewRequest(r.Method, r.Header)
	d := policy.Actual(req)
	if req.Origin != "" {
		h.count(t.Bucket, policy, src, d, countActual)
		if cand != nil {
			h.trial(t, cand, src, countActual, &req, d)
		}
	}
	return d
}

// trial decides req, of kind, by t's candidate cand too, and counts how that
// would differ from live, the decision from src that answers it.
func (h *Handler) trial(t s3.Target, cand *store.Candidate, src PolicySource, kind int, req *cors.Request, live cors.Decision) {
	var d cors.Decision
	switch {
	case live.Outcome() == cors.BucketNotFound:
		d = live // no configuration can change that
	case kind == countPreflight:
		d = cand.Policy.Preflight(*req)
	default:
		d = cand.Policy.Actual(*req)
	}
	change := h.app.shared.trials.counts(t.Bucket, cand).record(kind, src, req, t.Key, live, d)
	if change == changeNone {
		return
	}
	h.app.metrics.countTrial(change)
	if ce := h.logger.Check(zap.DebugLevel, "the candidate on trial would decide differently"); ce != nil {
		ce.Write(
			zap.String("bucket", t.Bucket),
			zap.String("candidate", cand.Version),
			zap.Stringer("change", change),
			zap.String("kind", countKindNames[kind]),
			zap.String("origin", req.Origin),
			zap.String("request_method", req.RequestMethod),
			zap.Strings("request_headers", req.RequestHeaders),
			zap.Stringer("source", src),
			zap.Int("live_rule", live.Rule()),
			zap.Int("candidate_rule", d.Rule()),
		)
	}
}

// count records decision d of a request of kind, made by policy from src,
// for the stats route. Decisions of the default are counted under the
// default, not per bucket: any bucket name can reach it.
func (h *Handler) count(bucket string, policy *cors.Policy, src PolicySource, d cors.Decision, kind int) {
	switch src {
	case SourceBucket:
		if t := h.app.shared.stats; t != nil {
			t.counters(bucket, policy, h.store()).count(d, kind)
		}
	case SourceDefault:
		h.defaultCORS.counters.count(d, kind)
	}
}

// writeCORS sets the CORS headers of d on a response the handler writes
// itself; with always_vary, one that no rule matched gets S3's Vary too.
func (h *Handler) writeCORS(hdr http.Header, d cors.Decision) {
	d.WriteHeaders(hdr)
	if h.AlwaysVary && !d.Allowed() {
		setCORSVary(hdr)
	}
}

// setCORSVary sets S3's CORS Vary. The value is a constant; the slice is
// the response's own, as handlers around this one may change it in place.
func setCORSVary(hdr http.Header) { hdr["Vary"] = []string{cors.VaryValue} }

// storeWriteTimeout bounds a write to the storage.
const storeWriteTimeout = 30 * time.Second

// WriteContext is the context of a change to the storage made for a
// request whose context is ctx: it keeps ctx's values, but a client that
// hangs up does not cut the write short between its steps, and the write
// takes at most 30 seconds. Every write a request causes (the ?cors API,
// DeleteBucket, import, the admin API) uses it.
func WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
}

// servePreflight answers an OPTIONS request as S3 does (spec B).
func (h *Handler) servePreflight(w http.ResponseWriter, r *http.Request, t s3.Target) {
	req := cors.NewRequest(r.Method, r.Header)
	var (
		d      cors.Decision
		policy *cors.Policy
		src    PolicySource
		cand   *store.Candidate
	)
	if t.Bucket != "" {
		policy, src, cand = h.app.resolve(t.Bucket, h.defaultCORS)
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
	h.count(t.Bucket, policy, src, d, countPreflight)
	if cand != nil {
		h.trial(t, cand, src, countPreflight, &req, d)
	}

	ids := s3.NewIDs()
	if !d.Allowed() {
		if ce := h.logger.Check(zap.DebugLevel, "preflight refused"); ce != nil {
			ce.Write(
				zap.String("bucket", t.Bucket),
				zap.Stringer("source", src),
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
		forbidden, vary := d.StatusCode() == http.StatusForbidden, h.AlwaysVary && t.Bucket != ""
		if forbidden || vary {
			v := new(refusalValues)
			if forbidden {
				v.extra = [2]s3.Field{
					{Name: "Method", Value: d.Method()},
					{Name: "ResourceType", Value: d.ResourceType(t.Key != "")},
				}
				e.Extra = v.extra[:]
			}
			if vary {
				v.vary[0] = cors.VaryValue
				w.Header()["Vary"] = v.vary[:]
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

// refusalValues hold what a refused preflight's response has of its own:
// the extra elements of its 403 body and, with always_vary, its Vary line,
// in one allocation, so that always_vary costs a 403 none.
type refusalValues struct {
	extra [2]s3.Field
	vary  [1]string
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
func (h *Handler) serveProxied(w http.ResponseWriter, r *http.Request, c s3.Classification, next caddyhttp.Handler) error {
	t := c.Target
	status, err := h.forward(w, r, next, h.decideActual(r, t), h.AlwaysVary)
	if status < 200 || status >= 300 {
		return err
	}

	// A PUT or DELETE at a bucket root may have created or deleted the
	// bucket, also one with a sub-resource the store does not know (which
	// gofakes3 takes as CreateBucket or DeleteBucket): forget the cached
	// answer.
	if t.Key == "" && (r.Method == http.MethodPut || r.Method == http.MethodDelete) && h.buckets != nil {
		h.buckets.forget(t.Bucket)
	}
	// S3 deletes a bucket's CORS configuration with the bucket; do the same
	// when the upstream confirms a DeleteBucket, so that a new bucket of
	// that name does not inherit it. Where S3 would have run another
	// operation, the upstream is asked whether the bucket is gone; without
	// an upstream to ask, the configuration stays, as S3 keeps it.
	switch c.Kind {
	case s3.KindDeleteBucket:
		h.dropDeletedBucket(r, t.Bucket)
	case s3.KindMayDeleteBucket:
		if p := h.store().Lookup(t.Bucket); h.buckets != nil && (p.Live != nil || p.Candidate != nil) {
			if exists, askErr := h.buckets.exists(r.Context(), t.Bucket); askErr == nil && !exists {
				h.dropDeletedBucket(r, t.Bucket)
			}
		}
	}
	return err
}

// dropDeletedBucket removes the configuration, and any candidate on trial,
// of a bucket the upstream has deleted, so that a new bucket of that name
// starts with neither.
func (h *Handler) dropDeletedBucket(r *http.Request, bucket string) {
	p := h.store().Lookup(bucket)
	if p.Live == nil && p.Candidate == nil {
		return
	}
	ctx, cancel := WriteContext(r.Context())
	defer cancel()
	if p.Live != nil {
		if _, err := h.store().Delete(ctx, bucket, "DeleteBucket"); err != nil {
			h.logger.Error("removing the CORS configuration of a deleted bucket",
				zap.String("bucket", bucket), zap.Error(err))
		}
	}
	if p.Candidate != nil {
		if _, err := h.store().Discard(ctx, bucket, "DeleteBucket"); err != nil {
			h.logger.Error("discarding the candidate CORS configuration of a deleted bucket",
				zap.String("bucket", bucket), zap.Error(err))
		}
	}
}

// forward passes r to next and gives the response the CORS headers of d,
// removing the upstream's, and S3's Vary whatever d when alwaysVary is
// set. It returns the response's status, or 0 when next wrote nothing.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d cors.Decision, alwaysVary bool) (int, error) {
	cw := newCORSWriter(w, d, alwaysVary)
	err := next.ServeHTTP(cw, r)
	cw.finish()
	if err == nil && cw.status == 0 {
		h.warnEmptyResponse(r)
	}
	return cw.status, err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
