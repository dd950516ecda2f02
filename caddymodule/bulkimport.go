package caddymodule

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// BulkImportOptions say what ImportConfigurations may overwrite, and
// whether it asks the upstreams about the buckets.
type BulkImportOptions struct {
	// Replace overwrites the configurations that buckets already have
	// here; without it those buckets are skipped, as ImportFromUpstream
	// skips them.
	Replace bool
	// SkipBucketCheck stores the configurations without asking the
	// handlers' upstreams whether each bucket exists. Without it a bucket
	// that no upstream has fails with NoSuchBucket, as PutBucketCors
	// would answer.
	SkipBucketCheck bool
}

// Limits of ImportConfigurations.
const (
	// bucketCheckConcurrency is how many buckets an import asks the
	// upstreams about at once.
	bucketCheckConcurrency = 16
	// bulkImportTimeout bounds one call, checks and writes together.
	bulkImportTimeout = 5 * time.Minute
)

// ImportConfigurations stores configurations given by the caller (the
// lines of an import file), as PutBucketCors would one by one, and reports
// what became of each item, in order: imported, replaced, skipped (the
// bucket has a configuration here and Replace is not set) or failed (no
// upstream has the bucket, the upstreams cannot tell, or the storage
// failed). The items must name distinct buckets, with configurations that
// cors.Parse accepted; otherwise nothing is stored and the error is a
// *store.InvalidItemsError.
//
// The buckets that pass are stored with one PutMany, announced to the other
// instances with one marker update. The call runs to its end even when ctx
// is cancelled, so that a client that hangs up leaves no half-stored batch
// behind, within bulkImportTimeout.
func (a *App) ImportConfigurations(ctx context.Context, source string, items []store.Item, opts BulkImportOptions) (ImportReport, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bulkImportTimeout)
	defer cancel()
	st := a.shared.store
	report := ImportReport{Source: source, Results: make([]ImportResult, len(items))}
	// before is each bucket's live policy before the import, to tell what
	// a PutMany that failed half-way did store.
	before := make([]*cors.Policy, len(items))
	var candidates []int
	for i, it := range items {
		report.Results[i].Bucket = it.Bucket
		before[i] = st.Lookup(it.Bucket).Live
		if before[i] != nil && !opts.Replace {
			report.Results[i].Status = ImportSkipped
			report.Results[i].Message = "the bucket has a CORS configuration here already"
			continue
		}
		candidates = append(candidates, i)
	}

	if !opts.SkipBucketCheck {
		missing := make([]*s3.Error, len(items))
		parallel(len(candidates), bucketCheckConcurrency, func(k int) {
			i := candidates[k]
			exists, err := a.BucketExists(ctx, items[i].Bucket)
			switch {
			case err != nil:
				missing[i] = s3.ErrServiceUnavailable()
			case !exists:
				missing[i] = s3.ErrNoSuchBucket(items[i].Bucket)
			}
		})
		kept := candidates[:0]
		for _, i := range candidates {
			if e := missing[i]; e != nil {
				report.Results[i].Status, report.Results[i].Code, report.Results[i].Message = ImportFailed, e.Code, e.Message
				continue
			}
			kept = append(kept, i)
		}
		candidates = kept
	}

	batch := make([]store.Item, len(candidates))
	for k, i := range candidates {
		batch[k] = items[i]
	}
	_, err := st.PutMany(ctx, batch, importedBy, nil)
	if invalid, ok := errors.AsType[*store.InvalidItemsError](err); ok {
		return ImportReport{}, invalid
	}
	var lint lintTally
	for _, i := range candidates {
		res := &report.Results[i]
		now := st.Lookup(items[i].Bucket).Live
		switch {
		case err != nil && (now == nil || now == before[i]):
			// Not stored, as far as this instance can tell: a document
			// equal to the one in force shares its policy, and is
			// reported failed even if it was written again.
			res.Status, res.Message = ImportFailed, "storing the configuration here: "+err.Error()
			continue
		case before[i] != nil:
			res.Status, res.Rules = ImportReplaced, len(items[i].Config.Rules)
		default:
			res.Status, res.Rules = ImportImported, len(items[i].Config.Rules)
		}
		lint.add(items[i].Config)
	}

	a.logger.Info("imported bucket CORS configurations",
		zap.String("source", source), zap.Int("buckets", len(items)),
		zap.Int("imported", report.Count(ImportImported)+report.Count(ImportReplaced)),
		zap.Int("skipped", report.Count(ImportSkipped)), zap.Int("failed", report.Count(ImportFailed)))
	lint.log(a.logger, source)
	return report, nil
}
