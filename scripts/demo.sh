#!/usr/bin/env bash
# Usage: scripts/demo.sh [--store versitygw|minio] [--port PORT] [--page-port PORT]
#
# A working caddy-s3-cors on loopback in one command:
#   1. builds the chosen store into ~/.cache/caddy-s3-cors/bin if it is not
#      there yet (scripts/upstream.sh says how long that takes);
#   2. builds ./caddy, the project's Caddy (go build ./cmd/caddy), and the
#      browser-upload example's server;
#   3. starts the store on loopback with a throw-away data dir and creates
#      the bucket "demo" with one object, hello.txt;
#   4. runs the proxy with the repository's Caddyfile.example on
#      127.0.0.1:PORT (default 8080) in front of it, and serves the
#      browser-upload page (examples/browser-upload) on
#      http://localhost:PAGE_PORT (default 8081), a second origin;
#   5. prints ready-to-paste commands (put-bucket-cors with the aws CLI,
#      boto3 and curl, preflights that are allowed and refused, GETs with an
#      Origin, explain), which it also writes to a script that runs them all;
#   6. stays in the foreground until Ctrl-C, then stops what it started.
#
# The store is versitygw by default. On a fresh machine (2 cores, empty Go
# caches) the demo is up in 4 to 6 minutes: about 2 to build versitygw and 2
# to build Caddy, more on a busy machine; later runs take seconds. --store minio puts the proxy in
# front of MinIO's community edition, which has no bucket CORS at all; its
# first build takes about 5 minutes more.
#
# Environment: STORE_PORT (default: versitygw 7070, minio 9000),
# ADMIN_PORT (Caddy's admin API, default 2019).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=progress.sh
source scripts/progress.sh
# shellcheck source=s3request.sh
source scripts/s3request.sh

store=versitygw
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
versitygw) store_port=${STORE_PORT:-7070} ;;
minio) store_port=${STORE_PORT:-9000} ;;
*)
	echo "demo.sh: --store must be versitygw or minio" >&2
	exit 2
	;;
esac
admin_port=${ADMIN_PORT:-2019}

S3_ACCESS_KEY=demo-access-key
S3_SECRET_KEY=demo-secret-key-0123456789
bucket=demo
origin=https://app.example.com
endpoint="http://127.0.0.1:$port"
page="http://localhost:$page_port"

for tool in go curl sha256sum openssl flock; do
	command -v "$tool" >/dev/null || {
		case $tool in
		sha256sum) pkg=coreutils ;;
		flock) pkg=util-linux ;;
		*) pkg=$tool ;;
		esac
		echo "demo.sh: $tool is needed; on Debian: apt-get install -y $pkg" >&2
		exit 1
	}
done
for p in "$port" "$store_port" "$admin_port" "$page_port"; do
	if curl -s -o /dev/null -m 1 "http://127.0.0.1:$p/"; then
		echo "demo.sh: port $p is in use; choose others with --port, --page-port, STORE_PORT or ADMIN_PORT" >&2
		exit 1
	fi
done

echo "demo.sh: the proxy on $endpoint in front of $store on 127.0.0.1:$store_port, the page on $page" >&2
started=$SECONDS

# 1. The store: built once, into a cache outside the repository.
if [ -x "$(scripts/upstream.sh path "$store")" ]; then
	echo "demo.sh: [1/4] $store: built already ($(scripts/upstream.sh path "$store"))" >&2
else
	echo "demo.sh: [1/4] $store: not built yet" >&2
	scripts/upstream.sh install "$store"
fi

# 2. Caddy with the module, and the page's server.
step demo.sh "[2/4] building ./caddy and the page's server: go build ./cmd/caddy ./examples/browser-upload (the first time about 2 min on 2 cores, downloading and compiling Caddy; seconds afterwards)"
work=$(mktemp -d "${TMPDIR:-/tmp}/s3cors-demo.XXXXXX")
caddy_pid=
page_pid=
# stop_process stops a child: SIGTERM, then SIGKILL if it is still there
# after 5 s (a signal that reaches a child between fork and exec is lost).
stop_process() {
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "demo.sh: stopping" >&2
	for pid in $caddy_pid $page_pid; do
		stop_process "$pid"
	done
	RUN_DIR="$work/run" PORT=$store_port scripts/upstream.sh stop "$store" || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
with_heartbeat demo.sh go build -o caddy ./cmd/caddy
with_heartbeat demo.sh go build -o "$work/browser-upload" ./examples/browser-upload
step_done demo.sh

# 3. The store, with a bucket and an object.
step demo.sh "[3/4] starting $store on 127.0.0.1:$store_port with the bucket \"$bucket\" holding hello.txt"
RUN_DIR="$work/run" PORT=$store_port S3_ACCESS_KEY=$S3_ACCESS_KEY S3_SECRET_KEY=$S3_SECRET_KEY \
	scripts/upstream.sh start "$store"
printf 'hello from caddy-s3-cors\n' >"$work/hello.txt"
s3_request PUT "http://127.0.0.1:$store_port/$bucket"
s3_request PUT "http://127.0.0.1:$store_port/$bucket/hello.txt" "$work/hello.txt"
step_done demo.sh

# wait_answers NAME URL PID LOG waits up to 10 s for URL to answer, and
# fails with the log if it does not or the process exits.
wait_answers() {
	local name=$1 url=$2 pid=$3 log=$4 code
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" || true)
		[ "$code" != 000 ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "demo.sh: $name did not answer on $url; its log:" >&2
	cat "$log" >&2
	exit 1
}

# 4. The proxy and the page.
step demo.sh "[4/4] starting the proxy (Caddyfile.example) on $endpoint and the page on $page"
S3CORS_UPSTREAM=127.0.0.1:$store_port S3CORS_ACCESS_KEY=$S3_ACCESS_KEY S3CORS_SECRET_KEY=$S3_SECRET_KEY \
	S3CORS_BIND=127.0.0.1 S3CORS_PORT=$port S3CORS_ADMIN=127.0.0.1:$admin_port \
	XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	./caddy run --config Caddyfile.example --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
wait_answers caddy "$endpoint/" "$caddy_pid" "$work/caddy.log"
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
	"$work/browser-upload" -listen "127.0.0.1:$page_port" -endpoint "$endpoint" -bucket "$bucket" >"$work/page.log" 2>&1 &
page_pid=$!
wait_answers "the page's server" "http://127.0.0.1:$page_port/" "$page_pid" "$work/page.log"
step_done demo.sh

cat >"$work/cors.json" <<EOF
{"CORSRules": [{"AllowedOrigins": ["$origin", "$page"], "AllowedMethods": ["GET", "PUT", "HEAD"],
  "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]}
EOF
cat >"$work/cors.xml" <<EOF
<CORSConfiguration><CORSRule><AllowedOrigin>$origin</AllowedOrigin><AllowedOrigin>$page</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>
EOF
xml_md5=$(openssl dgst -md5 -binary "$work/cors.xml" | base64)
xml_sha256=$(sha256sum "$work/cors.xml" | cut -d' ' -f1)

# The commands to try, printed and written to a script that runs them all:
# one text, so what is shown is what runs.
cat >"$work/try.sh" <<EOF
# Credentials: the store's. The proxy checks ?cors calls against the same pair.
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1

# Set the bucket's CORS with the aws CLI and read it back:
aws s3api put-bucket-cors --endpoint-url $endpoint --bucket $bucket --cors-configuration file://$work/cors.json
aws s3api get-bucket-cors --endpoint-url $endpoint --bucket $bucket

# The same with boto3:
python3 -c 'import boto3, json; from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="$endpoint", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
s3.put_bucket_cors(Bucket="$bucket", CORSConfiguration=json.load(open("$work/cors.json")))
print(s3.get_bucket_cors(Bucket="$bucket")["CORSRules"])'

# And with curl, the same document as XML:
curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $S3_ACCESS_KEY:$S3_SECRET_KEY -X PUT '$endpoint/$bucket?cors=' \\
  -H 'Content-MD5: $xml_md5' -H 'x-amz-content-sha256: $xml_sha256' --data-binary @$work/cors.xml

# A preflight from the allowed origin (200 with S3's headers), and from another (403 AccessForbidden):
curl -i -X OPTIONS $endpoint/$bucket/hello.txt -H 'Origin: $origin' \\
  -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: Content-Type'
curl -i -X OPTIONS $endpoint/$bucket/hello.txt -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: PUT'

# A GET with an Origin: S3's CORS headers for the allowed origin, none for
# another, whatever the store itself would have sent:
curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $S3_ACCESS_KEY:$S3_SECRET_KEY \\
  -H 'x-amz-content-sha256: $empty_sha256' -H 'Origin: $origin' $endpoint/$bucket/hello.txt
curl -i --aws-sigv4 aws:amz:us-east-1:s3 --user $S3_ACCESS_KEY:$S3_SECRET_KEY \\
  -H 'x-amz-content-sha256: $empty_sha256' -H 'Origin: https://evil.example' $endpoint/$bucket/hello.txt

# Why a preflight was refused, rule by rule:
$repo/caddy s3-cors explain $bucket --address 127.0.0.1:$admin_port --key hello.txt \\
  --origin https://evil.example --request-method PUT

# Remove the rules again (the page is then refused):
aws s3api delete-bucket-cors --endpoint-url $endpoint --bucket $bucket
EOF

cat <<EOF

caddy-s3-cors is running on $endpoint in front of $store (127.0.0.1:$store_port),
ready in $((SECONDS - started)) s. Bucket "$bucket" holds hello.txt and has no CORS configuration yet.
Caddy's log: $work/caddy.log

The browser-upload page, on another origin: $page/
It cannot upload until the bucket's CORS allows that origin; then try it from
http://127.0.0.1:$page_port/ too, an origin the rules do not list.

Commands to try (bash $work/try.sh runs them all; it needs the aws CLI and boto3):

$(sed 's/^/  /' "$work/try.sh")

Press Ctrl-C to stop the proxy and the store.
EOF

wait "$caddy_pid"
