package caddymodule

import (
	"maps"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// A configuration S3 accepts may still be one browsers or SDKs trip on
// (cors.Lint). S3 answers PutBucketCors without a word about it, and so
// does the proxy; the log of the instance that took the change says it
// instead, so that the operator sees it before the users do.

// The messages of the lint lines, stable for log searches.
const (
	lintLiveMessage      = "stored CORS configuration has a lint warning"
	lintCandidateMessage = "candidate CORS configuration has a lint warning"
	lintImportMessage    = "imported CORS configurations have lint warnings"
)

// logLint writes a warn line for each lint warning of cfg, which caller
// has just stored for bucket.
func logLint(logger *zap.Logger, msg, bucket, caller string, cfg *cors.Configuration) {
	for _, w := range cors.Lint(cfg) {
		logger.Warn(msg, zap.String("bucket", bucket), zap.String("caller", caller),
			zap.String("code", w.Code), zap.Int("rule", w.Rule), zap.String("message", w.Message))
	}
}

// LogLint logs the lint warnings of cfg, which caller has just made the
// live configuration of bucket through the admin API, a line each.
func (a *App) LogLint(bucket, caller string, cfg *cors.Configuration) {
	logLint(a.logger, lintLiveMessage, bucket, caller, cfg)
}

// LogCandidateLint logs the lint warnings of cfg, which caller has just
// put on trial for bucket, a line each.
func (a *App) LogCandidateLint(bucket, caller string, cfg *cors.Configuration) {
	logLint(a.logger, lintCandidateMessage, bucket, caller, cfg)
}

// lintTally counts the lint warnings of configurations stored together, by
// code, so that an import of many buckets logs one line, not one per
// warning.
type lintTally struct {
	buckets int // that have a warning
	codes   map[string]int
}

func (t *lintTally) add(cfg *cors.Configuration) {
	ws := cors.Lint(cfg)
	if len(ws) == 0 {
		return
	}
	if t.codes == nil {
		t.codes = make(map[string]int)
	}
	t.buckets++
	for _, w := range ws {
		t.codes[w.Code]++
	}
}

// log writes the tally's line, if any configuration had a warning.
func (t *lintTally) log(logger *zap.Logger, source string) {
	if t.buckets == 0 {
		return
	}
	logger.Warn(lintImportMessage, zap.String("source", source), zap.String("caller", importedBy),
		zap.Int("buckets", t.buckets), zap.Object("warnings", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
			for _, code := range slices.Sorted(maps.Keys(t.codes)) {
				enc.AddInt(code, t.codes[code])
			}
			return nil
		})),
		zap.String("details", "caddy s3-cors lint <bucket> (GET /s3_cors/lint/<bucket>) lists a bucket's warnings"))
}
