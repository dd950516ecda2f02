module github.com/s3cors/caddy-s3-cors/bench

go 1.26.0

replace github.com/s3cors/caddy-s3-cors => ../

require (
	github.com/jub0bs/cors v1.0.1
	github.com/rs/cors v1.11.1
	github.com/s3cors/caddy-s3-cors v0.0.0-00010101000000-000000000000
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)
