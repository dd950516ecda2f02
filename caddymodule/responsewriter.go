package caddymodule

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// corsWriter rewrites the CORS headers of a forwarded response just before
// they are sent. reverse_proxy copies the upstream's headers with Add, so
// headers set before calling it would be duplicated; rewriting at
// WriteHeader time sees exactly what the upstream sent. The body streams
// through untouched.
type corsWriter struct {
	caddyhttp.ResponseWriterWrapper
	decision    cors.Decision
	alwaysVary  bool // S3's Vary even when no rule matched
	wroteHeader bool
	status      int
}

func newCORSWriter(w http.ResponseWriter, d cors.Decision, alwaysVary bool) *corsWriter {
	return &corsWriter{
		ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		decision:              d,
		alwaysVary:            alwaysVary,
	}
}

// WriteHeader rewrites the headers once, for the final response; 1xx
// interim responses pass as they are.
func (cw *corsWriter) WriteHeader(status int) {
	if cw.wroteHeader {
		cw.ResponseWriter.WriteHeader(status)
		return
	}
	if status >= 200 || status == http.StatusSwitchingProtocols {
		cw.rewrite(status)
	}
	cw.ResponseWriter.WriteHeader(status)
}

func (cw *corsWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.ResponseWriter.Write(p)
}

// ReadFrom keeps the rewrite when the body is copied with io.Copy: the
// wrapped writer would otherwise send the headers itself.
func (cw *corsWriter) ReadFrom(r io.Reader) (int64, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError keeps the rewrite when a response is flushed before anything
// was written (http.ResponseController finds it before unwrapping).
func (cw *corsWriter) FlushError() error {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// finish rewrites the headers of a response whose handler wrote nothing at
// all; the server then sends them with an implicit 200.
func (cw *corsWriter) finish() {
	if !cw.wroteHeader {
		cw.rewrite(0)
	}
}

// rewrite removes every Access-Control-* header of the upstream and the
// CORS field names of its Vary and, when the bucket's rules matched (or
// always_vary asks for S3's Vary), sets S3's, with the upstream's other
// Vary names after S3's on one line.
func (cw *corsWriter) rewrite(status int) {
	cw.wroteHeader = true
	cw.status = status
	h := cw.ResponseWriter.Header()
	for k := range h {
		if len(k) > len("Access-Control-") && strings.EqualFold(k[:len("Access-Control-")], "Access-Control-") {
			delete(h, k)
		}
	}
	upstreamVary := h["Vary"]
	delete(h, "Vary")
	cw.decision.WriteHeaders(h)
	if cw.alwaysVary && !cw.decision.Allowed() {
		setCORSVary(h)
	}
	if len(upstreamVary) > 0 {
		if vary := mergeVary(h["Vary"], upstreamVary); len(vary) > 0 {
			h["Vary"] = vary
		}
	}
}

// corsVary holds the field names of S3's CORS Vary. S3 sends them only with
// a response a rule matched, so the upstream's never pass: a store that
// varies on Origin for its own CORS (MinIO does, on every response) would
// otherwise make a response that matched nothing vary on it.
var corsVary = []string{cors.VaryValue}

// mergeVary adds to ours the field names of the upstream's Vary lines that
// are neither CORS names nor already ours, compared case-insensitively, as
// one line. A "*" from the upstream wins: the response varies on everything.
func mergeVary(ours, upstream []string) []string {
	var extra []string
	for _, line := range upstream {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
				continue
			case name == "*":
				return []string{"*"}
			case varyHas(corsVary, name), varyHas(ours, name), containsFold(extra, name):
				continue
			}
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return ours
	}
	return []string{strings.Join(append(slices.Clone(ours), extra...), ", ")}
}

func varyHas(lines []string, name string) bool {
	for _, line := range lines {
		for n := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				return true
			}
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Interface guards.
var (
	_ http.ResponseWriter = (*corsWriter)(nil)
	_ io.ReaderFrom       = (*corsWriter)(nil)
)
