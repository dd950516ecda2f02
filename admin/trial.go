package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// CandidateSummary is one entry of the candidate list, and the answer to a
// PUT of a candidate.
type CandidateSummary struct {
	Bucket string `json:"bucket"`
	Rules  int    `json:"rules"`
	// Version identifies the candidate, the same on every instance; a
	// report counts for this version only.
	Version   string    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// candidateSummary describes bucket's candidate, if it has one.
func candidateSummary(st *store.Store, bucket string) (CandidateSummary, bool) {
	c := st.Lookup(bucket).Candidate
	if c == nil {
		return CandidateSummary{}, false
	}
	return CandidateSummary{Bucket: bucket, Rules: c.Policy.Len(), Version: c.Version, UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy}, true
}

func (a *API) listCandidates(w http.ResponseWriter, st *store.Store) error {
	names := st.Candidates()
	list := make([]CandidateSummary, 0, len(names))
	for _, b := range names {
		if s, ok := candidateSummary(st, b); ok {
			list = append(list, s)
		}
	}
	return writeJSON(w, list)
}

// candidate serves the routes of one bucket's candidate: rest is the
// bucket, and after a slash the action, if any.
func (a *API) candidate(w http.ResponseWriter, r *http.Request, app *caddymodule.App, rest string) error {
	bucket, action, _ := strings.Cut(rest, "/")
	switch action {
	case "":
		if r.Method != http.MethodGet && r.Method != http.MethodPut && r.Method != http.MethodDelete {
			return methodNotAllowed(r.Method, "GET, PUT, DELETE")
		}
	case "promote":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r.Method, "POST")
		}
	case "report":
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method, "GET")
		}
	default:
		return apiError(http.StatusNotFound, fmt.Errorf("no route %s", r.URL.Path))
	}
	if !s3.ValidBucketName(bucket) {
		return s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	st := app.Store()
	switch {
	case action == "report":
		report, err := app.TrialReport(r.Context(), bucket)
		if err != nil {
			return candidateError(bucket, err)
		}
		return writeJSON(w, report)

	case action == "promote":
		// A promotion is a PUT of the candidate's document, checked as one.
		if err := bucketMustExist(r, app, bucket); err != nil {
			return err
		}
		ctx, cancel := caddymodule.WriteContext(r.Context())
		defer cancel()
		if _, err := st.Promote(ctx, bucket, updatedBy); err != nil {
			return candidateError(bucket, err)
		}
		app.LogLint(bucket, updatedBy, st.Lookup(bucket).Live.Configuration())
		s, _ := summary(st, bucket)
		return writeJSON(w, s)

	case r.Method == http.MethodGet:
		rec, ok := st.GetCandidate(bucket)
		if !ok {
			return noCandidate(bucket)
		}
		w.Header().Set("Content-Type", "application/xml")
		_, err := io.WriteString(w, rec.Document)
		return err

	case r.Method == http.MethodPut:
		// A candidate is checked as a configuration would be, also for a
		// bucket without one: a trial may show what enabling CORS would
		// allow.
		cfg, err := readConfiguration(r, app, bucket)
		if err != nil {
			return err
		}
		ctx, cancel := caddymodule.WriteContext(r.Context())
		defer cancel()
		if _, err := st.Try(ctx, bucket, cfg, updatedBy); err != nil {
			return storeError(bucket, err)
		}
		app.LogCandidateLint(bucket, updatedBy, cfg)
		s, _ := candidateSummary(st, bucket)
		return writeJSON(w, s)

	default: // DELETE
		ctx, cancel := caddymodule.WriteContext(r.Context())
		defer cancel()
		existed, err := st.Discard(ctx, bucket, updatedBy)
		if err != nil {
			return storeError(bucket, err)
		}
		if !existed {
			return noCandidate(bucket)
		}
		return nil
	}
}

// noCandidate is the answer for a bucket without a candidate: 404, and how
// to store one.
func noCandidate(bucket string) error {
	return apiError(http.StatusNotFound, fmt.Errorf("bucket %q has no candidate CORS configuration on trial; "+
		"store one with `caddy s3-cors try %s <file>` (PUT /s3_cors/candidates/%s)", bucket, bucket, bucket))
}

// candidateError is the answer for a failed call on a candidate.
func candidateError(bucket string, err error) error {
	if errors.Is(err, store.ErrNoCandidate) {
		return noCandidate(bucket)
	}
	return storeError(bucket, err)
}
