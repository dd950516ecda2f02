// Command caddy is Caddy with its standard modules and the caddy-s3-cors
// modules compiled in: the same binary that
// `xcaddy build --with github.com/s3cors/caddy-s3-cors` produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/s3cors/caddy-s3-cors"
)

func main() {
	caddycmd.Main()
}
