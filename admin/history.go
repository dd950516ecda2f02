package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// History is the answer of GET /s3_cors/history/{bucket}.
type History struct {
	Bucket string `json:"bucket"`
	// Keeps is how many earlier versions the store keeps per bucket.
	Keeps int `json:"keeps"`
	// Versions are newest first: the configuration in force (current),
	// if any, then the earlier ones, deletions included.
	Versions []store.Version `json:"versions"`
}

// RollbackRequest is the body of POST /s3_cors/rollback/{bucket}, which
// may also be empty.
type RollbackRequest struct {
	// Version is the version to restore, as the history lists it. Default:
	// the previous configuration, the newest earlier version that is not a
	// deletion and differs from the one in force.
	Version string `json:"version,omitempty"`
}

// RollbackResult is the answer of a rollback: the configuration now in
// force, which is a new version, and the version whose document it
// restored.
type RollbackResult struct {
	BucketSummary
	Version  string        `json:"version"`
	Restored store.Version `json:"restored"`
}

// historySegments splits what follows "history/" or "rollback/" in the
// request's escaped path into its unescaped segments, so that a version
// written by hand may hold a slash.
func historySegments(r *http.Request, route string) ([]string, error) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), basePath+route+"/")
	var segments []string
	for seg := range strings.SplitSeq(rest, "/") {
		s, err := url.PathUnescape(seg)
		if err != nil {
			return nil, apiError(http.StatusBadRequest, fmt.Errorf("path %s: %w", r.URL.EscapedPath(), err))
		}
		segments = append(segments, s)
	}
	return segments, nil
}

// historyRoute checks the method of a request to route (history or
// rollback), and returns its bucket, valid by S3's naming rules, and the
// path segments after it.
func historyRoute(r *http.Request, route, method string) (string, []string, error) {
	if r.Method != method {
		return "", nil, methodNotAllowed(r.Method, method)
	}
	segments, err := historySegments(r, route)
	if err != nil {
		return "", nil, err
	}
	bucket := segments[0]
	if !s3.ValidBucketName(bucket) {
		return "", nil, s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	return bucket, segments[1:], nil
}

// history serves GET /s3_cors/history/{bucket}, the bucket's versions, and
// GET /s3_cors/history/{bucket}/{version}, the document of one of them.
// Both read the storage, so they show the changes of every instance.
func (a *API) history(w http.ResponseWriter, r *http.Request, app *caddymodule.App) error {
	bucket, rest, err := historyRoute(r, "history", http.MethodGet)
	if err != nil {
		return err
	}
	st := app.Store()
	switch {
	case len(rest) > 1:
		return apiError(http.StatusNotFound, fmt.Errorf("no route %s", r.URL.Path))
	case len(rest) == 1 && rest[0] != "":
		rec, err := st.GetVersion(r.Context(), bucket, rest[0])
		if err != nil {
			return historyError(bucket, err)
		}
		w.Header().Set("Content-Type", "application/xml")
		_, err = io.WriteString(w, rec.Document)
		return err
	}
	versions, err := st.History(r.Context(), bucket)
	if err != nil {
		return historyError(bucket, err)
	}
	if versions == nil {
		versions = []store.Version{}
	}
	return writeJSON(w, History{Bucket: bucket, Keeps: store.HistorySize, Versions: versions})
}

// rollback serves POST /s3_cors/rollback/{bucket}. As a PUT, it is refused
// for a bucket that the handlers' upstreams do not have.
func (a *API) rollback(w http.ResponseWriter, r *http.Request, app *caddymodule.App) error {
	bucket, rest, err := historyRoute(r, "rollback", http.MethodPost)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return apiError(http.StatusNotFound, fmt.Errorf("no route %s; the version goes in the body: {\"version\": \"...\"}", r.URL.Path))
	}
	var q RollbackRequest
	if err := decodeOptionalRequest(r, &q, "rollback"); err != nil {
		return err
	}
	if err := bucketMustExist(r, app, bucket); err != nil {
		return err
	}
	st := app.Store()
	ctx, cancel := caddymodule.WriteContext(r.Context())
	defer cancel()
	rec, restored, err := st.Rollback(ctx, bucket, q.Version, updatedBy)
	if err != nil {
		return historyError(bucket, err)
	}
	app.LogLint(bucket, updatedBy, st.Lookup(bucket).Live.Configuration())
	return writeJSON(w, RollbackResult{
		BucketSummary: BucketSummary{Bucket: bucket, Rules: restored.Rules, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy},
		Version:       rec.Version,
		Restored:      restored,
	})
}

// historyError is the answer for a failed history read or rollback: a
// version the history does not hold is 404, with the way to list those it
// does.
func historyError(bucket string, err error) error {
	if errors.Is(err, store.ErrNoSuchVersion) {
		return apiError(http.StatusNotFound, fmt.Errorf("%w; `caddy s3-cors history %s` (GET %shistory/%s) lists the versions kept", err, bucket, basePath, bucket))
	}
	return storeError(bucket, err)
}
