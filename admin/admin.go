// Package admin adds the s3_cors routes to Caddy's admin API and the
// `caddy s3-cors` command that calls them. Operators use them to list,
// read, change and delete bucket CORS configurations without SigV4, to
// find out why a preflight is refused, and to try a configuration on the
// live traffic before it decides anything.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

func init() {
	caddy.RegisterModule(API{})
}

// basePath is the prefix of every route of this module.
const basePath = "/s3_cors/"

// maxRequestBody bounds what the routes read: a CORS document, or an
// explain request, is far smaller.
const maxRequestBody = cors.MaxDocumentSize

// API is the admin.api.s3_cors module. Its routes:
//
//	GET    /s3_cors/buckets           the buckets that have a configuration (JSON)
//	GET    /s3_cors/buckets/{bucket}  a bucket's CORSConfiguration (XML)
//	PUT    /s3_cors/buckets/{bucket}  store a CORSConfiguration (XML), validated as S3 does;
//	                                  answers the bucket's summary (JSON)
//	DELETE /s3_cors/buckets/{bucket}  delete a bucket's configuration
//	POST   /s3_cors/explain           evaluate a request against a bucket's rules, or the
//	                                  default's (JSON: ExplainRequest in, Explanation out)
//	GET    /s3_cors/lint/{bucket}     what in the bucket's configuration browsers or SDKs will
//	                                  trip on (JSON: LintReport)
//	GET    /s3_cors/stats/{bucket}    how often each rule decided, and why requests were
//	                                  refused, on this instance (JSON: caddymodule.DecisionStats)
//	POST   /s3_cors/import            copy configurations here (JSON: ImportRequest in,
//	                                  caddymodule.ImportReport out), or store those of an
//	                                  import file (Content-Type application/x-ndjson: lines
//	                                  {"bucket": ..., "cors_xml": ...} in, at most 10,000 lines
//	                                  and 16 MiB; query replace, skip_bucket_check;
//	                                  caddymodule.ImportReport out)
//	GET    /s3_cors/history/{bucket}  the bucket's versions, newest first (JSON: History)
//	GET    /s3_cors/history/{bucket}/{version}
//	                                  the CORSConfiguration (XML) of one of them
//	POST   /s3_cors/rollback/{bucket} restore an earlier version (JSON: RollbackRequest, or
//	                                  nothing for the previous one, in; RollbackResult out)
//	POST   /s3_cors/sync              read changes from the storage now
//
// and those of report-only trials (see caddymodule.TrialReport):
//
//	GET    /s3_cors/candidates                   the buckets with a candidate on trial (JSON)
//	GET    /s3_cors/candidates/{bucket}          a bucket's candidate CORSConfiguration (XML)
//	PUT    /s3_cors/candidates/{bucket}          store a candidate (XML), validated and checked
//	                                             as a PUT of a configuration; answers its summary (JSON)
//	DELETE /s3_cors/candidates/{bucket}          discard the candidate
//	POST   /s3_cors/candidates/{bucket}/promote  make the candidate live, as a PUT would; answers
//	                                             the bucket's summary (JSON)
//	GET    /s3_cors/candidates/{bucket}/report   what the trial counted on every instance (JSON:
//	                                             caddymodule.TrialReport)
//
// A route of a candidate that the bucket does not have answers 404, saying
// how to store one.
//
// Bucket names follow S3's naming rules; another name is refused with 400.
// A PUT or a rollback is refused, as PutBucketCors would refuse it, when
// the s3_cors handlers have an upstream and none of them has the bucket
// (404 NoSuchBucket), or when they cannot tell (503 ServiceUnavailable;
// nothing is changed and the call may be retried); an import from a file
// reports such buckets as failed, unless skip_bucket_check is set. A DELETE does not ask the
// upstreams, so that the configuration of a bucket that is gone can be
// removed. Errors are Caddy's admin errors, {"error": "..."}, whose text
// carries S3's code and message where the ?cors API would send one.
//
// A PUT, a promotion, a rollback or a candidate that stores a configuration
// with lint warnings (cors.Lint) logs each of them at warn level; the
// answer is the same.
//
// The admin API is not authenticated by SigV4: protect it as Caddy's admin
// API always must (it listens on localhost by default).
type API struct{}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.s3_cors",
		New: func() caddy.Module { return new(API) },
	}
}

// Routes returns the module's admin routes.
func (a *API) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: basePath,
		Handler: caddy.AdminHandlerFunc(a.serve),
	}}
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app()
	if err != nil {
		return err
	}
	st := app.Store()
	path := strings.TrimPrefix(r.URL.Path, basePath)
	switch {
	case path == "buckets" || path == "buckets/":
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
		return a.listBuckets(w, st)
	case strings.HasPrefix(path, "buckets/"):
		return a.bucket(w, r, app, strings.TrimPrefix(path, "buckets/"))
	case path == "explain":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r.Method, "POST")
		}
		return a.explain(w, r, app)
	case strings.HasPrefix(path, "lint/"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
		return a.lint(w, st, strings.TrimPrefix(path, "lint/"))
	case strings.HasPrefix(path, "stats/"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
		return a.stats(w, app, strings.TrimPrefix(path, "stats/"))
	case path == "import":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r.Method, "POST")
		}
		if mediaType(r) == ndjsonType {
			return a.importFile(w, r, app)
		}
		return a.importConfigurations(w, r, app)
	case strings.HasPrefix(path, "history/"):
		return a.history(w, r, app)
	case strings.HasPrefix(path, "rollback/"):
		return a.rollback(w, r, app)
	case path == "candidates" || path == "candidates/":
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
		return a.listCandidates(w, st)
	case strings.HasPrefix(path, "candidates/"):
		return a.candidate(w, r, app, strings.TrimPrefix(path, "candidates/"))
	case path == "sync":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r.Method, "POST")
		}
		if err := st.Sync(r.Context()); err != nil {
			return apiError(http.StatusBadGateway, fmt.Errorf("reading the storage: %w", err))
		}
		return writeJSON(w, st.Stats())
	}
	return apiError(http.StatusNotFound, fmt.Errorf("no route %s", r.URL.Path))
}

// app finds the running s3_cors app. It is not looked up through the
// config's context: Caddy serves the admin routes of a new config while
// that config's apps are still being provisioned, and the context's app
// table is not safe to read then.
func (a *API) app() (*caddymodule.App, error) {
	app := caddymodule.Running()
	if app == nil {
		return nil, apiError(http.StatusNotFound, errors.New("no s3_cors handler is configured"))
	}
	return app, nil
}

// BucketSummary is one entry of the bucket list, and the answer to a PUT.
type BucketSummary struct {
	Bucket    string    `json:"bucket"`
	Rules     int       `json:"rules"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// summary describes the configuration of bucket, if it has one.
func summary(st *store.Store, bucket string) (BucketSummary, bool) {
	rec, ok := st.Get(bucket)
	if !ok {
		return BucketSummary{}, false
	}
	return BucketSummary{Bucket: bucket, Rules: st.Lookup(bucket).Live.Len(), UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy}, true
}

func (a *API) listBuckets(w http.ResponseWriter, st *store.Store) error {
	names := st.Buckets()
	list := make([]BucketSummary, 0, len(names))
	for _, b := range names {
		if s, ok := summary(st, b); ok {
			list = append(list, s)
		}
	}
	return writeJSON(w, list)
}

// bucket serves the routes of one bucket. Their errors carry S3's code and
// message, as the ?cors API would answer.
func (a *API) bucket(w http.ResponseWriter, r *http.Request, app *caddymodule.App, bucket string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPut && r.Method != http.MethodDelete {
		return methodNotAllowed(r.Method, "GET, PUT, DELETE")
	}
	if !s3.ValidBucketName(bucket) {
		return s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	st := app.Store()
	switch r.Method {
	case http.MethodGet:
		rec, ok := st.Get(bucket)
		if !ok {
			return s3Error(bucket, s3.ErrNoSuchCORSConfiguration(bucket))
		}
		w.Header().Set("Content-Type", "application/xml")
		_, err := io.WriteString(w, rec.Document)
		return err

	case http.MethodPut:
		cfg, err := readConfiguration(r, app, bucket)
		if err != nil {
			return err
		}
		ctx, cancel := caddymodule.WriteContext(r.Context())
		defer cancel()
		if _, err := st.Put(ctx, bucket, cfg, updatedBy); err != nil {
			return storeError(bucket, err)
		}
		app.LogLint(bucket, updatedBy, cfg)
		s, _ := summary(st, bucket)
		return writeJSON(w, s)

	default: // DELETE
		// Unlike DeleteBucketCors, this does not ask the upstream: an
		// operator may remove the configuration of a bucket that is gone.
		ctx, cancel := caddymodule.WriteContext(r.Context())
		defer cancel()
		existed, err := st.Delete(ctx, bucket, updatedBy)
		if err != nil {
			return storeError(bucket, err)
		}
		if !existed {
			return s3Error(bucket, s3.ErrNoSuchCORSConfiguration(bucket))
		}
		return nil
	}
}

// readConfiguration reads the CORSConfiguration of a PUT for bucket, as
// PutBucketCors would: the bucket must exist at the upstreams of the
// handlers, checked before the document, and the document must pass S3's
// rules. Its errors are S3's.
func readConfiguration(r *http.Request, app *caddymodule.App, bucket string) (*cors.Configuration, error) {
	if err := bucketMustExist(r, app, bucket); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, apiError(http.StatusBadRequest, err)
	}
	cfg, err := cors.Parse(body)
	if err != nil {
		return nil, s3Error(bucket, s3.AsError(err))
	}
	return cfg, nil
}

// bucketMustExist refuses a change, as PutBucketCors would, for a bucket
// that the handlers' upstreams do not have (404 NoSuchBucket), or cannot
// tell about (503 ServiceUnavailable).
func bucketMustExist(r *http.Request, app *caddymodule.App, bucket string) error {
	exists, err := app.BucketExists(r.Context(), bucket)
	switch {
	case err != nil:
		return s3Error(bucket, s3.ErrServiceUnavailable())
	case !exists:
		return s3Error(bucket, s3.ErrNoSuchBucket(bucket))
	}
	return nil
}

// updatedBy names the admin API as the author of the changes it makes.
const updatedBy = "admin"

// s3Error is the admin API's answer for what the ?cors API answers with e:
// the same status, and S3's code and message in the text.
func s3Error(bucket string, e *s3.Error) error {
	return apiError(e.StatusCode, fmt.Errorf("bucket %q: %w", bucket, e))
}

// storeError is the answer for a failed write to the storage.
func storeError(bucket string, err error) error {
	if errors.Is(err, store.ErrInvalidBucket) {
		return s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	return apiError(http.StatusInternalServerError, fmt.Errorf("bucket %q: %w", bucket, err))
}

// decodeRequest reads the JSON body of the route named what into v,
// refusing fields v does not have.
func decodeRequest(r *http.Request, v any, what string) error {
	return decodeJSON(r, v, what, false)
}

// decodeOptionalRequest is decodeRequest for a route whose body may be
// empty, which leaves v as it is.
func decodeOptionalRequest(r *http.Request, v any, what string) error {
	return decodeJSON(r, v, what, true)
}

func decodeJSON(r *http.Request, v any, what string, optional bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && (!optional || !errors.Is(err, io.EOF)) {
		return apiError(http.StatusBadRequest, fmt.Errorf("decoding the %s request: %w", what, err))
	}
	return nil
}

// mediaType is the request's Content-Type without its parameters.
func mediaType(r *http.Request) string {
	t, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return t
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

func methodNotAllowed(method, allowed string) error {
	return apiError(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed; use %s", method, allowed))
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*API)(nil)
)

// ExplainRequest is the body of POST /s3_cors/explain: the parts of an
// HTTP request that CORS evaluation reads.
type ExplainRequest struct {
	Bucket string `json:"bucket"`
	// Key is the object key; empty for the bucket itself.
	Key string `json:"key,omitempty"`
	// Method is the request's HTTP method. Default: OPTIONS, a preflight.
	Method string `json:"method,omitempty"`
	// Origin is the Origin header.
	Origin string `json:"origin,omitempty"`
	// RequestMethod is the Access-Control-Request-Method header.
	RequestMethod string `json:"request_method,omitempty"`
	// RequestHeaders is the Access-Control-Request-Headers header: a
	// string as a browser sends it ("content-type,x-amz-date"), or an array
	// of its lines.
	RequestHeaders HeaderLines `json:"request_headers,omitempty"`
}

// HeaderLines are the lines of a request header. In JSON it is an array of
// strings, or one string for a header sent on one line.
type HeaderLines []string

// UnmarshalJSON accepts a string, an array of strings, or null.
func (h *HeaderLines) UnmarshalJSON(b []byte) error {
	var line string
	if err := json.Unmarshal(b, &line); err == nil {
		if string(b) == "null" {
			*h = nil
		} else {
			*h = HeaderLines{line}
		}
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return errors.New("request_headers must be a string, such as \"content-type,x-amz-date\", or an array of strings")
	}
	*h = lines
	return nil
}

// Explanation is the answer of POST /s3_cors/explain.
type Explanation struct {
	Bucket string `json:"bucket"`
	// Source is the configuration that decided: "bucket" (the bucket's
	// own), "default" (default_cors) or "none" (the bucket has no
	// configuration: CORS is not enabled).
	Source string `json:"source"`
	// DefaultFile is the default_cors file, when the default decided.
	DefaultFile string `json:"default_file,omitempty"`
	// Outcome is the step of S3's procedure that decided the request.
	Outcome string `json:"outcome"`
	// Status, Code and Message are what a preflight would be answered.
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// MatchedRule is the index of the rule that decided, or -1.
	MatchedRule int `json:"matched_rule"`
	// Reason is the criterion no rule passed: origin, method, header or
	// headers_too_large.
	Reason       string `json:"reason,omitempty"`
	DeniedHeader string `json:"denied_header,omitempty"`
	// Headers are the CORS headers the response would carry.
	Headers http.Header `json:"headers,omitempty"`
	// Rules say how each rule fared, in document order.
	Rules []RuleVerdict `json:"rules,omitempty"`
	// Note says what the evaluation could not take into account.
	Note string `json:"note,omitempty"`
}

// RuleVerdict is how one rule fared against the request.
type RuleVerdict struct {
	Index   int    `json:"index"`
	ID      string `json:"id,omitempty"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason,omitempty"`
	Header  string `json:"header,omitempty"`
}

func (a *API) explain(w http.ResponseWriter, r *http.Request, app *caddymodule.App) error {
	var q ExplainRequest
	if err := decodeRequest(r, &q, "explain"); err != nil {
		return err
	}
	if q.Bucket == "" {
		return apiError(http.StatusBadRequest, errors.New("bucket is required"))
	}
	if !s3.ValidBucketName(q.Bucket) {
		return s3Error(q.Bucket, s3.ErrInvalidBucketName(q.Bucket))
	}
	if q.Method == "" {
		q.Method = http.MethodOptions
	}
	req := cors.Request{
		Origin:           q.Origin,
		Method:           q.Method,
		RequestMethod:    q.RequestMethod,
		HasRequestMethod: q.RequestMethod != "",
		RequestHeaders:   q.RequestHeaders,
	}
	policy, src := app.Policy(q.Bucket)
	ex := policy.Explain(req)
	d := ex.Decision
	out := Explanation{
		Bucket:       q.Bucket,
		Source:       src.String(),
		Outcome:      d.Outcome().String(),
		MatchedRule:  d.Rule(),
		DeniedHeader: d.DeniedHeader(),
		Note:         "whether the bucket exists at the upstream is not checked here",
	}
	switch {
	case src == caddymodule.SourceDefault:
		out.DefaultFile = app.DefaultFile()
		out.Note = "the bucket has no configuration of its own: the default decided, at the handlers with default_cors; " + out.Note
	case src == caddymodule.SourceNone && q.Bucket == app.ConfigBucket() && app.DefaultFile() != "":
		out.Note = "the bucket holds the configurations (bucket_storage), so the default never applies to it; " + out.Note
	}
	if d.Reason() != cors.ReasonNone {
		out.Reason = d.Reason().String()
	}
	if q.Method == http.MethodOptions {
		out.Status, out.Code, out.Message = d.StatusCode(), d.Code(), d.Message()
	}
	if d.Allowed() {
		out.Headers = http.Header{}
		d.WriteHeaders(out.Headers)
	}
	for _, v := range ex.Rules {
		rv := RuleVerdict{Index: v.Index, ID: v.ID, Matched: v.Matched, Header: v.Header}
		if v.Reason != cors.ReasonNone {
			rv.Reason = v.Reason.String()
		}
		out.Rules = append(out.Rules, rv)
	}
	return writeJSON(w, out)
}

func (a *API) stats(w http.ResponseWriter, app *caddymodule.App, bucket string) error {
	if !s3.ValidBucketName(bucket) {
		return s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	return writeJSON(w, app.Stats(bucket))
}

// ImportRequest is the body of POST /s3_cors/import.
type ImportRequest struct {
	// FromUpstream reads the configurations from the store behind the
	// handlers (GetBucketCors, signed with the upstream's credentials).
	// It is the one source so far, and must be set.
	FromUpstream bool `json:"from_upstream"`
	// Buckets are the buckets to import; none means every bucket the
	// store lists (ListBuckets).
	Buckets []string `json:"buckets,omitempty"`
	// Replace overwrites the configurations buckets already have here;
	// without it those buckets are skipped.
	Replace bool `json:"replace,omitempty"`
	// Upstream is the endpoint of the upstream to read from, needed only
	// when the handlers have several.
	Upstream string `json:"upstream,omitempty"`
}

// importConfigurations answers with the import's report, also when some
// buckets were refused or failed: the report says which.
func (a *API) importConfigurations(w http.ResponseWriter, r *http.Request, app *caddymodule.App) error {
	var q ImportRequest
	if err := decodeRequest(r, &q, "import"); err != nil {
		return err
	}
	if !q.FromUpstream {
		return apiError(http.StatusBadRequest, errors.New("an import reads from the upstream: set from_upstream"))
	}
	report, err := app.ImportFromUpstream(r.Context(), caddymodule.ImportOptions{
		Buckets: q.Buckets, Replace: q.Replace, Upstream: q.Upstream,
	})
	switch {
	case errors.Is(err, caddymodule.ErrImportRequest):
		return apiError(http.StatusBadRequest, err)
	case err != nil:
		return apiError(http.StatusBadGateway, err)
	}
	return writeJSON(w, report)
}
