// Package e2e holds the end-to-end tests of caddy-s3-cors: they build the
// project's own Caddy binary, start real S3 stores (versitygw, MinIO,
// gofakes3) and drive the proxy in front of them with real clients (the Go SDK,
// boto3, the aws CLI, s3cmd, headless Chromium) over loopback, and they run
// every command of every README as written (readme_test.go). The package has
// no code of its own beyond its tests; scripts/upstream.sh provides the stores.
//
// It is a Go module of its own, so that its dependencies (chromedp among
// them) stay out of the plugin's go.mod, which every Caddy build with the
// plugin reads. Run it from this directory: go test -count=1 ./...
package e2e
