// Package s3cors gives S3-compatible object stores per-bucket CORS that
// behaves exactly like Amazon S3's, as Caddy modules. Importing it (or
// building Caddy with `xcaddy build --with github.com/s3cors/caddy-s3-cors`)
// registers the s3_cors app, the http.handlers.s3_cors handler, its
// Caddyfile directive and global option, and the admin.api.s3_cors routes.
package s3cors

import (
	_ "github.com/s3cors/caddy-s3-cors/admin"
	_ "github.com/s3cors/caddy-s3-cors/caddymodule"
)
