// Package cors is an implementation of Amazon S3's bucket CORS: it parses and
// validates CORSConfiguration documents with S3's exact error codes and
// messages, renders them as GetBucketCors returns them, and compiles them into
// immutable policies that decide preflight and actual requests and write S3's
// response headers.
//
// Section references in comments and test names ("spec B.3", "A.3 V9") are
// to the project's specification of S3's behaviour, docs/s3-cors-spec.md.
//
// The package does no I/O and imports nothing from Caddy, so the HTTP handler,
// the configuration store and the admin API all share this one evaluator. The
// hot paths (Policy.Preflight, Policy.Actual, Decision.WriteHeaders) allocate
// nothing when a request is refused and once when it is allowed (twice when
// the Access-Control-Allow-Headers value outgrows the inline buffer).
package cors
