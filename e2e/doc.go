// Package e2e holds the end-to-end tests of caddy-s3-cors: they build the
// project's own Caddy binary, start real S3 stores (versitygw, MinIO,
// gofakes3) and drive the proxy in front of them with real clients (the Go SDK,
// boto3, the aws CLI, s3cmd, headless Chromium) over loopback. The package has
// no code of its own beyond its tests; scripts/upstream.sh provides the stores.
package e2e
