// Package s3 speaks the S3 wire protocol for the CORS gateway: it finds the
// bucket a request addresses and classifies the request as S3 and the stores
// behind read it (the ?cors API, DeleteBucket, what must be refused),
// verifies AWS Signature Version 4 and the integrity headers of a body, and
// writes errors as Amazon S3 does, byte for byte; and, for the gateway as a
// client of the store behind it, checks endpoints and reads the status of a
// failed SDK call. It knows nothing of Caddy or of CORS rules.
package s3
