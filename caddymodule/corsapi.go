package caddymodule

import (
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// anonymousCaller names the caller of an unauthenticated ?cors call, which
// only insecure_unauthenticated_api lets through.
const anonymousCaller = "anonymous"

// serveAPI answers PutBucketCors, GetBucketCors and DeleteBucketCors
// itself; a ?cors call never reaches the upstream.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, t s3.Target) {
	ids := s3.NewIDs()
	op := apiOperation(r.Method)
	fail := func(e *s3.Error) {
		h.app.metrics.apiRequests.WithLabelValues(op, e.Code).Inc()
		s3.WriteError(w, ids, e)
	}

	// S3 adds CORS headers to these responses too, from the configuration
	// in force before the request (spec C.2), whatever the status; a bucket
	// without one gets the default's, as its other requests do.
	h.writeCORS(w.Header(), h.decideActual(r, t))

	if op == "other" {
		fail(s3.ErrMethodNotAllowed(r.Method, "BUCKET"))
		return
	}
	if !s3.ValidBucketName(t.Bucket) {
		fail(s3.ErrInvalidBucketName(t.Bucket))
		return
	}
	// The body is read under a hard cap before anything else, because the
	// signature and the integrity checks cover it.
	body, e := s3.ReadBody(r, cors.MaxDocumentSize)
	if e != nil {
		fail(e)
		return
	}
	caller, e := h.authenticate(r, body, t.Bucket)
	if e != nil {
		fail(e)
		return
	}
	if e := s3.CheckExpectedBucketOwner(r.Header, h.OwnerID); e != nil {
		fail(e)
		return
	}
	if h.buckets != nil {
		exists, err := h.buckets.exists(r.Context(), t.Bucket)
		switch {
		case err != nil && r.Method != http.MethodGet:
			// A change needs to know that the bucket is there. Nothing is
			// changed, and the client may retry; GetBucketCors answers
			// from the configurations, which are local.
			fail(s3.ErrServiceUnavailable())
			return
		case err == nil && !exists:
			fail(s3.ErrNoSuchBucket(t.Bucket))
			return
		}
	}

	switch r.Method {
	case http.MethodPut:
		if e := s3.CheckIntegrity(r.Header, body); e != nil {
			fail(e)
			return
		}
		cfg, err := cors.Parse(body)
		if err != nil {
			fail(s3.AsError(err))
			return
		}
		ctx, cancel := WriteContext(r.Context())
		defer cancel()
		if _, err := h.store().Put(ctx, t.Bucket, cfg, caller); err != nil {
			h.logger.Error("storing a bucket CORS configuration",
				zap.String("bucket", t.Bucket), zap.String("caller", caller), zap.Error(err))
			fail(s3.ErrInternalError())
			return
		}
		logLint(h.logger, lintLiveMessage, t.Bucket, caller, cfg)
		h.respond(w, ids, op, http.StatusOK, nil)

	case http.MethodGet:
		rec, ok := h.store().Get(t.Bucket)
		if !ok {
			fail(s3.ErrNoSuchCORSConfiguration(t.Bucket))
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		h.respond(w, ids, op, http.StatusOK, []byte(rec.Document))

	case http.MethodDelete:
		ctx, cancel := WriteContext(r.Context())
		defer cancel()
		if _, err := h.store().Delete(ctx, t.Bucket, caller); err != nil {
			h.logger.Error("deleting a bucket CORS configuration",
				zap.String("bucket", t.Bucket), zap.String("caller", caller), zap.Error(err))
			fail(s3.ErrInternalError())
			return
		}
		h.respond(w, ids, op, http.StatusNoContent, nil)
	}
}

// respond writes a successful API response.
func (h *Handler) respond(w http.ResponseWriter, ids s3.IDs, op string, status int, body []byte) {
	h.app.metrics.apiRequests.WithLabelValues(op, "OK").Inc()
	hdr := w.Header()
	ids.Set(hdr)
	if status != http.StatusNoContent {
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// authenticate checks the caller of a ?cors call and returns its access
// key. Every call is refused when no credentials are configured, unless the
// development opt-in lets unauthenticated calls through.
func (h *Handler) authenticate(r *http.Request, body []byte, bucket string) (string, *s3.Error) {
	if h.InsecureUnauthenticatedAPI {
		return anonymousCaller, nil
	}
	if len(h.Credentials) == 0 {
		return "", s3.ErrAccessDenied()
	}
	cred, e := h.verifier.Verify(r, body)
	if e != nil {
		return "", e
	}
	if !cred.Allows(bucket) {
		return "", s3.ErrAccessDenied()
	}
	return cred.AccessKeyID, nil
}

// apiOperation names the operation of a ?cors call for metrics.
func apiOperation(method string) string {
	switch method {
	case http.MethodPut:
		return "put"
	case http.MethodGet:
		return "get"
	case http.MethodDelete:
		return "delete"
	}
	return "other"
}

// Interface guards.
var _ s3.CodedError = (*cors.Error)(nil)
