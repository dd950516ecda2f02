// Package admin adds the s3_cors routes to Caddy's admin API and the
// `caddy s3-cors` command that calls them. Operators use them to list,
// read, change and delete bucket CORS configurations without SigV4, and to
// find out why a preflight is refused.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/cors"
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
//	PUT    /s3_cors/buckets/{bucket}  store a CORSConfiguration (XML), validated as S3 does
//	DELETE /s3_cors/buckets/{bucket}  delete a bucket's configuration
//	POST   /s3_cors/explain           evaluate a request against a bucket's rules (JSON)
//	POST   /s3_cors/sync              read changes from the storage now
//
// The admin API is not authenticated by SigV4: protect it as Caddy's admin
// API always must (it listens on localhost by default).
type API struct {
	ctx caddy.Context
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.s3_cors",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision keeps the config's context, through which the s3_cors app is
// found when a request comes: admin routes are provisioned before the apps.
func (a *API) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	return nil
}

// Routes returns the module's admin routes.
func (a *API) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: basePath,
		Handler: caddy.AdminHandlerFunc(a.serve),
	}}
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	path := strings.TrimPrefix(r.URL.Path, basePath)
	switch {
	case path == "buckets" || path == "buckets/":
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
		return a.listBuckets(w, st)
	case strings.HasPrefix(path, "buckets/"):
		return a.bucket(w, r, st, strings.TrimPrefix(path, "buckets/"))
	case path == "explain":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r.Method, "POST")
		}
		return a.explain(w, r, st)
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

// store finds the store of the running s3_cors app.
func (a *API) store() (*store.Store, error) {
	app, err := a.ctx.AppIfConfigured("s3_cors")
	if err != nil {
		return nil, apiError(http.StatusNotFound, errors.New("no s3_cors handler is configured"))
	}
	return app.(*caddymodule.App).Store(), nil
}

// bucketSummary is one entry of the bucket list.
type bucketSummary struct {
	Bucket    string    `json:"bucket"`
	Rules     int       `json:"rules"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

func (a *API) listBuckets(w http.ResponseWriter, st *store.Store) error {
	names := st.Buckets()
	list := make([]bucketSummary, 0, len(names))
	for _, b := range names {
		rec, ok := st.Get(b)
		if !ok {
			continue
		}
		rules := 0
		if p := st.Lookup(b).Live; p != nil {
			rules = len(p.Configuration().Rules)
		}
		list = append(list, bucketSummary{Bucket: b, Rules: rules, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy})
	}
	return writeJSON(w, list)
}

func (a *API) bucket(w http.ResponseWriter, r *http.Request, st *store.Store, bucket string) error {
	switch r.Method {
	case http.MethodGet:
		rec, ok := st.Get(bucket)
		if !ok {
			return apiError(http.StatusNotFound, fmt.Errorf("bucket %q has no CORS configuration", bucket))
		}
		w.Header().Set("Content-Type", "application/xml")
		_, err := io.WriteString(w, rec.Document)
		return err

	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil {
			return apiError(http.StatusBadRequest, err)
		}
		cfg, err := cors.Parse(body)
		if err != nil {
			return apiError(http.StatusBadRequest, err)
		}
		if _, err := st.Put(r.Context(), bucket, cfg, "admin"); err != nil {
			if errors.Is(err, store.ErrInvalidBucket) {
				return apiError(http.StatusBadRequest, err)
			}
			return apiError(http.StatusInternalServerError, err)
		}
		w.WriteHeader(http.StatusOK)
		return nil

	case http.MethodDelete:
		existed, err := st.Delete(r.Context(), bucket, "admin")
		if err != nil {
			if errors.Is(err, store.ErrInvalidBucket) {
				return apiError(http.StatusBadRequest, err)
			}
			return apiError(http.StatusInternalServerError, err)
		}
		if !existed {
			return apiError(http.StatusNotFound, fmt.Errorf("bucket %q has no CORS configuration", bucket))
		}
		return nil
	}
	return methodNotAllowed(r.Method, "GET, PUT, DELETE")
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
	_ caddy.Provisioner = (*API)(nil)
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
	// RequestHeaders are the Access-Control-Request-Headers lines.
	RequestHeaders []string `json:"request_headers,omitempty"`
}

// Explanation is the answer of POST /s3_cors/explain.
type Explanation struct {
	Bucket string `json:"bucket"`
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

func (a *API) explain(w http.ResponseWriter, r *http.Request, st *store.Store) error {
	var q ExplainRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return apiError(http.StatusBadRequest, fmt.Errorf("decoding the explain request: %w", err))
	}
	if q.Bucket == "" {
		return apiError(http.StatusBadRequest, errors.New("bucket is required"))
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
	ex := st.Lookup(q.Bucket).Live.Explain(req)
	d := ex.Decision
	out := Explanation{
		Bucket:       q.Bucket,
		Outcome:      d.Outcome().String(),
		MatchedRule:  d.Rule(),
		DeniedHeader: d.DeniedHeader(),
		Note:         "whether the bucket exists at the upstream is not checked here",
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
