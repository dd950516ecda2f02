#!/usr/bin/env bash
# Usage: scripts/demo.sh [--store minio|versitygw] [--port PORT] [--page-port PORT]
#
# A working caddy-s3-cors on loopback in one command:
#   1. builds the chosen store if it is not cached yet (MinIO, the default,
#      takes ~6 min cold; versitygw ~2 min) and the project's caddy binary;
#   2. starts the store on loopback with a throw-away data dir and creates the
#      bucket "demo" with one object, hello.txt;
#   3. runs the proxy with the repository's Caddyfile.example on
#      127.0.0.1:PORT (default 8080) in front of it;
#   4. serves the browser-upload example page (examples/browser-upload) on
#      http://localhost:PAGE_PORT (default 8081), a second origin;
#   5. prints the URLs and ready-to-paste commands: put-bucket-cors with the
#      aws CLI, boto3 or curl, a preflight that is allowed and one that is
#      not, and a GET with an Origin;
#   6. stays in the foreground until Ctrl-C, then stops what it started.
#
# Environment: STORE_PORT (default: minio 9000, versitygw 7070),
# ADMIN_PORT (Caddy's admin API, default 2019).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

store=minio
port=8080
page_port=8081
while [ $# -gt 0 ]; do
	case $1 in
	--store)
		store=${2:-}
		shift
		;;
	--port)
		port=${2:-}
		shift
		;;
	--page-port)
		page_port=${2:-}
		shift
		;;
	*)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
		exit 2
		;;
	esac
	shift
done
case $store in
minio) store_port=${STORE_PORT:-9000} ;;
versitygw) store_port=${STORE_PORT:-7070} ;;
*)
	echo "demo.sh: --store must be minio or versitygw" >&2
	exit 2
	;;
esac
admin_port=${ADMIN_PORT:-2019}

access_key=demo-access-key
secret_key=demo-secret-key-0123456789
bucket=demo
origin=https://app.example.com
endpoint="http://127.0.0.1:$port"
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

for tool in go curl sha256sum openssl; do
	command -v "$tool" >/dev/null || {
		echo "demo.sh: $tool is needed; on Debian: apt-get install -y ${tool/sha256sum/coreutils}" >&2
		exit 1
	}
done
for p in "$port" "$store_port" "$admin_port" "$page_port"; do
	if curl -s -o /dev/null -m 1 "http://127.0.0.1:$p/"; then
		echo "demo.sh: port $p is in use; choose others with --port, --page-port, STORE_PORT or ADMIN_PORT" >&2
		exit 1
	fi
done

scripts/deps.sh --no-apt --upstream "$store"

work=$(mktemp -d "${TMPDIR:-/tmp}/s3cors-demo.XXXXXX")
caddy_pid=
page_pid=
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "demo.sh: stopping"
	for pid in $caddy_pid $page_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	RUN_DIR="$work/run" PORT=$store_port scripts/upstream.sh stop "$store" || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo.sh: building caddy and the example page's server"
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/browser-upload" ./examples/browser-upload

RUN_DIR="$work/run" PORT=$store_port S3_ACCESS_KEY=$access_key S3_SECRET_KEY=$secret_key \
	scripts/upstream.sh start "$store"

# s3 signs a request to the store itself with curl's SigV4 support; curl
# does not add x-amz-content-sha256, so it is passed explicitly.
s3() {
	local method=$1 url=$2 file=${3:-}
	local hash=$empty_sha256 data=()
	if [ -n "$file" ]; then
		hash=$(sha256sum "$file" | cut -d' ' -f1)
		data=(--data-binary "@$file" -H 'Content-Type: text/plain')
	fi
	curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
		-X "$method" -H "x-amz-content-sha256: $hash" "${data[@]}" "$url"
}
printf 'hello from caddy-s3-cors\n' >"$work/hello.txt"
s3 PUT "http://127.0.0.1:$store_port/$bucket"
s3 PUT "http://127.0.0.1:$store_port/$bucket/hello.txt" "$work/hello.txt"

S3CORS_UPSTREAM=127.0.0.1:$store_port S3CORS_ACCESS_KEY=$access_key S3CORS_SECRET_KEY=$secret_key \
	S3CORS_BIND=127.0.0.1 S3CORS_PORT=$port S3CORS_ADMIN=127.0.0.1:$admin_port \
	XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	"$work/caddy" run --config "$repo/Caddyfile.example" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
for _ in $(seq 1 100); do
	code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$endpoint/" || true)
	[ "$code" != 000 ] && break
	if ! kill -0 "$caddy_pid" 2>/dev/null; then
		echo "demo.sh: caddy exited; its log:" >&2
		cat "$work/caddy.log" >&2
		exit 1
	fi
	sleep 0.1
done
if [ "$code" = 000 ]; then
	echo "demo.sh: caddy did not answer on $endpoint; its log:" >&2
	cat "$work/caddy.log" >&2
	exit 1
fi

page="http://localhost:$page_port"
AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key \
	"$work/browser-upload" -listen "127.0.0.1:$page_port" -endpoint "$endpoint" -bucket "$bucket" >"$work/page.log" 2>&1 &
page_pid=$!

cat >"$work/cors.json" <<EOF
{"CORSRules": [{"AllowedOrigins": ["$origin", "$page"], "AllowedMethods": ["GET", "PUT", "HEAD"],
  "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]}
EOF
cat >"$work/cors.xml" <<EOF
<CORSConfiguration><CORSRule><AllowedOrigin>$origin</AllowedOrigin><AllowedOrigin>$page</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>
EOF
xml_md5=$(openssl dgst -md5 -binary "$work/cors.xml" | base64)
xml_sha256=$(sha256sum "$work/cors.xml" | cut -d' ' -f1)

cat <<EOF

caddy-s3-cors is running on $endpoint in front of $store (127.0.0.1:$store_port).
Bucket "$bucket" holds hello.txt and has no CORS configuration yet.
Caddy's log: $work/caddy.log

Credentials (the store's; the proxy checks ?cors calls against the same pair):

  export AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_DEFAULT_REGION=us-east-1

The browser-upload page, on another origin: $page/
It cannot upload until the bucket's CORS allows that origin.

Set the bucket's CORS with the aws CLI, boto3, or curl with the same document as XML:

  aws s3api put-bucket-cors --endpoint-url $endpoint --bucket $bucket --cors-configuration file://$work/cors.json
  aws s3api get-bucket-cors --endpoint-url $endpoint --bucket $bucket

  python3 -c 'import boto3, json; from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="$endpoint", region_name="us-east-1", aws_access_key_id="$access_key",
                  aws_secret_access_key="$secret_key", config=Config(s3={"addressing_style": "path"}))
s3.put_bucket_cors(Bucket="$bucket", CORSConfiguration=json.load(open("$work/cors.json")))
print(s3.get_bucket_cors(Bucket="$bucket")["CORSRules"])'

  curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $access_key:$secret_key -X PUT '$endpoint/$bucket?cors=' \\
    -H 'Content-MD5: $xml_md5' -H 'x-amz-content-sha256: $xml_sha256' --data-binary @$work/cors.xml

A preflight from the allowed origin (200 with S3's headers), and from another (403 AccessForbidden):

  curl -i -X OPTIONS $endpoint/$bucket/hello.txt -H 'Origin: $origin' \\
    -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: Content-Type'
  curl -i -X OPTIONS $endpoint/$bucket/hello.txt -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: PUT'

A GET with an Origin: S3's CORS headers for the allowed origin, none for another
(whatever the store itself would have sent):

  curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $access_key:$secret_key \\
    -H 'x-amz-content-sha256: $empty_sha256' -H 'Origin: $origin' $endpoint/$bucket/hello.txt
  curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $access_key:$secret_key \\
    -H 'x-amz-content-sha256: $empty_sha256' -H 'Origin: https://evil.example' $endpoint/$bucket/hello.txt

Then upload a file from $page/ (and see it refused from http://127.0.0.1:$page_port/,
which the rules do not list). Remove the rules again, and the page is refused:

  aws s3api delete-bucket-cors --endpoint-url $endpoint --bucket $bucket

Why a preflight was refused, rule by rule:

  $work/caddy s3-cors explain $bucket --address 127.0.0.1:$admin_port --key hello.txt \\
    --origin https://evil.example --request-method PUT

Press Ctrl-C to stop the proxy and the store.
EOF

wait "$caddy_pid"
