package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/s3cors/caddy-s3-cors/store/s3storage"
)

// bucketStorage returns the storage the bucket_storage option describes,
// with placeholders replaced, and notes its bucket, which never gets the
// default CORS configuration. It does no I/O: the bucket is created, and
// the store probed for conditional writes, at the first use in Start.
func (a *App) bucketStorage() (*s3storage.Storage, error) {
	if a.StorageRaw != nil {
		return nil, errors.New("storage and bucket_storage are alternatives: set one of them")
	}
	cfg := *a.BucketStorage
	repl := caddy.NewReplacer()
	for _, field := range []*string{&cfg.Endpoint, &cfg.Bucket, &cfg.AccessKeyID, &cfg.SecretAccessKey, &cfg.Region, &cfg.Prefix} {
		*field = repl.ReplaceKnown(*field, "")
	}
	s, err := s3storage.New(cfg, a.logger)
	if err != nil {
		return nil, fmt.Errorf("bucket_storage: %w", err)
	}
	a.configBucket = cfg.Bucket
	return s, nil
}

// parseBucketStorage reads the bucket_storage option of the s3_cors global
// option block:
//
//	bucket_storage <endpoint> <bucket> {
//		credentials <access_key_id> <secret_access_key>
//		region <region>
//		prefix <prefix>
//	}
func parseBucketStorage(d *caddyfile.Dispenser) (*s3storage.Config, error) {
	var cfg s3storage.Config
	if !d.Args(&cfg.Endpoint, &cfg.Bucket) || d.NextArg() {
		return nil, d.Errf("bucket_storage takes an endpoint and a bucket")
	}
	for n := d.Nesting(); d.NextBlock(n); {
		switch d.Val() {
		case "credentials":
			if !d.Args(&cfg.AccessKeyID, &cfg.SecretAccessKey) || d.NextArg() {
				return nil, d.Errf("credentials takes an access key and a secret key")
			}
		case "region":
			if err := singleArg(d, &cfg.Region); err != nil {
				return nil, err
			}
		case "prefix":
			if err := singleArg(d, &cfg.Prefix); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unknown bucket_storage option %q", d.Val())
		}
	}
	return &cfg, nil
}
