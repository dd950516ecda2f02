package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// ImportOptions say what ImportFromUpstream reads and what it may
// overwrite.
type ImportOptions struct {
	// Buckets are the buckets to import; none means every bucket that
	// ListBuckets names.
	Buckets []string
	// Replace overwrites the configurations that buckets already have
	// here; without it those buckets are skipped.
	Replace bool
	// Upstream is the endpoint of the handlers' upstream to read from. It
	// may be left empty when the handlers name one store.
	Upstream string
}

// ImportStatus is what became of one bucket in an import.
type ImportStatus string

// The statuses of an import's buckets. Refused and failed buckets are not
// imported and make the import unsuccessful; the others are fine.
const (
	// ImportImported: the store's configuration is now the bucket's here.
	ImportImported ImportStatus = "imported"
	// ImportReplaced: as imported, over a configuration the bucket had here.
	ImportReplaced ImportStatus = "replaced"
	// ImportSkipped: the bucket has a configuration here already, which
	// only Replace overwrites; the store was not asked.
	ImportSkipped ImportStatus = "skipped"
	// ImportNoConfiguration: the store has no CORS configuration for the
	// bucket (NoSuchCORSConfiguration); nothing changed here.
	ImportNoConfiguration ImportStatus = "no_configuration"
	// ImportRefused: the store's configuration breaks S3's rules, so S3's
	// PutBucketCors would refuse it; Code and Message are S3's.
	ImportRefused ImportStatus = "refused"
	// ImportFailed: the store or the storage here failed; Code and Message
	// say how.
	ImportFailed ImportStatus = "failed"
)

// ImportResult is what became of one bucket.
type ImportResult struct {
	Bucket string       `json:"bucket"`
	Status ImportStatus `json:"status"`
	// Rules is the number of rules imported.
	Rules int `json:"rules,omitempty"`
	// Code and Message are S3's for a refused configuration, the store's
	// (or the storage's) for a failure.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// OK reports whether the bucket needs no attention: its configuration was
// imported, or there was nothing to import.
func (r ImportResult) OK() bool { return r.Status != ImportRefused && r.Status != ImportFailed }

// ImportReport is the outcome of an import, bucket by bucket in the order
// they were named or listed.
type ImportReport struct {
	// Source is where the configurations were read from: the upstream's
	// endpoint.
	Source  string         `json:"source"`
	Results []ImportResult `json:"results"`
}

// Count is how many buckets ended with status s.
func (r ImportReport) Count(s ImportStatus) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// ErrImportRequest marks an import that cannot start as asked: no upstream
// to read from, or not the one named. Other errors are the store's.
var ErrImportRequest = errors.New("import")

// Limits of an import from the upstream.
const (
	// importRequestTimeout bounds each request to the store.
	importRequestTimeout = 30 * time.Second
	// importConcurrency is how many buckets are read at once.
	importConcurrency = 4
)

// importedBy names an import as the author of the changes it makes.
const importedBy = "import"

// ImportFromUpstream reads the bucket CORS configurations of the store
// behind the handlers (GetBucketCors, signed with the upstream's
// credentials) and stores here those that S3's rules accept. A
// configuration S3 would refuse is reported with S3's code and message and
// not stored. It returns an error only when the import could not start:
// ErrImportRequest for a request it cannot serve, or the store's error
// when listing the buckets failed; what became of each bucket is in the
// report.
func (a *App) ImportFromUpstream(ctx context.Context, opts ImportOptions) (ImportReport, error) {
	u, err := a.upstreams.pick(opts.Upstream)
	if err != nil {
		return ImportReport{}, err
	}
	client := u.client(importRequestTimeout)
	report := ImportReport{Source: u.Endpoint}
	buckets := opts.Buckets
	if len(buckets) == 0 {
		if buckets, err = listBuckets(ctx, client); err != nil {
			return report, fmt.Errorf("listing the buckets of %s: %w", u.Endpoint, err)
		}
	}
	report.Results = make([]ImportResult, len(buckets))
	stored := make([]*cors.Configuration, len(buckets))
	parallel(len(buckets), importConcurrency, func(i int) {
		report.Results[i], stored[i] = a.importBucket(ctx, client, buckets[i], opts.Replace)
	})

	a.logger.Info("imported bucket CORS configurations from the upstream",
		zap.String("upstream", u.Endpoint), zap.Int("buckets", len(buckets)),
		zap.Int("imported", report.Count(ImportImported)+report.Count(ImportReplaced)),
		zap.Int("refused", report.Count(ImportRefused)), zap.Int("failed", report.Count(ImportFailed)))
	var lint lintTally
	for _, cfg := range stored {
		lint.add(cfg) // nil for a bucket not imported, which has no warnings
	}
	lint.log(a.logger, u.Endpoint)
	return report, nil
}

// importBucket imports one bucket's configuration, and returns it when it
// was stored.
func (a *App) importBucket(ctx context.Context, client *awss3.Client, bucket string, replace bool) (ImportResult, *cors.Configuration) {
	res := ImportResult{Bucket: bucket}
	if !s3.ValidBucketName(bucket) {
		e := s3.ErrInvalidBucketName(bucket)
		res.Status, res.Code, res.Message = ImportFailed, e.Code, e.Message
		return res, nil
	}
	st := a.shared.store
	had := st.Lookup(bucket).Live != nil
	if had && !replace {
		res.Status, res.Message = ImportSkipped, "the bucket has a CORS configuration here already"
		return res, nil
	}
	out, err := client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil {
		res.Code, res.Message = describeStoreError(err)
		res.Status = ImportFailed
		if res.Code == "NoSuchCORSConfiguration" {
			res.Status, res.Code, res.Message = ImportNoConfiguration, "", ""
		}
		return res, nil
	}
	cfg := configurationOf(out.CORSRules)
	if err := cfg.Validate(); err != nil {
		e := s3.AsError(err)
		res.Status, res.Code, res.Message = ImportRefused, e.Code, e.Message
		return res, nil
	}
	wctx, cancel := WriteContext(ctx)
	defer cancel()
	if _, err := st.Put(wctx, bucket, cfg, importedBy); err != nil {
		res.Status, res.Message = ImportFailed, "storing the configuration here: "+err.Error()
		return res, nil
	}
	res.Status, res.Rules = ImportImported, len(cfg.Rules)
	if had {
		res.Status = ImportReplaced
	}
	return res, cfg
}

// parallel calls do for every index below n, workers at a time, and
// returns when every call has.
func parallel(n, workers int, do func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range work {
				do(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// listBuckets returns the names of every bucket the store lists.
func listBuckets(ctx context.Context, client *awss3.Client) ([]string, error) {
	var names []string
	pages := awss3.NewListBucketsPaginator(client, &awss3.ListBucketsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			code, msg := describeStoreError(err)
			return nil, errors.New(strings.TrimPrefix(code+": "+msg, ": "))
		}
		for _, b := range page.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
	}
	return names, nil
}

// configurationOf is the configuration of the rules a GetBucketCors
// answer holds, values as the store sent them.
func configurationOf(rules []types.CORSRule) *cors.Configuration {
	c := &cors.Configuration{Rules: make([]cors.Rule, len(rules))}
	for i, r := range rules {
		c.Rules[i] = cors.Rule{
			ID:             aws.ToString(r.ID),
			AllowedHeaders: r.AllowedHeaders,
			AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins,
			ExposeHeaders:  r.ExposeHeaders,
		}
		if r.MaxAgeSeconds != nil {
			age := int(*r.MaxAgeSeconds)
			c.Rules[i].MaxAgeSeconds = &age
		}
	}
	return c
}

// describeStoreError is the S3 code and message of a failed call to the
// store, or no code and what went wrong when the store gave no S3 error.
func describeStoreError(err error) (code, message string) {
	if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() != "" {
		msg := ae.ErrorMessage()
		if msg == "" {
			msg = fmt.Sprintf("the store answered %d", s3.StatusOf(err))
		}
		return ae.ErrorCode(), msg
	}
	if status := s3.StatusOf(err); status != 0 {
		return "", fmt.Sprintf("the store answered %d", status)
	}
	return "", err.Error()
}

// pick returns the upstream named by endpoint, or the only one when
// endpoint is empty.
func (u *upstreams) pick(endpoint string) (*Upstream, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	var distinct []*Upstream
	for _, c := range u.checkers {
		if !slices.ContainsFunc(distinct, c.upstream.sameStore) {
			distinct = append(distinct, c.upstream)
		}
	}
	endpoints := make([]string, len(distinct))
	for i, up := range distinct {
		endpoints[i] = up.Endpoint
	}
	switch {
	case len(distinct) == 0:
		return nil, fmt.Errorf("%w: no s3_cors handler has an upstream to read the configurations from; add `upstream <url> { credentials <access_key> <secret_key> }` to the s3_cors block", ErrImportRequest)
	case endpoint == "" && len(distinct) == 1:
		return distinct[0], nil
	case endpoint == "":
		return nil, fmt.Errorf("%w: the s3_cors handlers have several upstreams (%s); name the one to read from", ErrImportRequest, strings.Join(endpoints, ", "))
	}
	for _, up := range distinct {
		if strings.TrimSuffix(up.Endpoint, "/") == strings.TrimSuffix(endpoint, "/") {
			return up, nil
		}
	}
	return nil, fmt.Errorf("%w: no s3_cors handler has the upstream %s (they have %s)", ErrImportRequest, endpoint, strings.Join(endpoints, ", "))
}

// sameStore reports whether u and o reach the same store as the same user.
func (u *Upstream) sameStore(o *Upstream) bool {
	return u.Endpoint == o.Endpoint && u.AccessKeyID == o.AccessKeyID && u.Region == o.Region
}
