#!/usr/bin/env bash
# Usage: scripts/upstream.sh install|start|stop|path NAME
#
# Builds, starts and stops the S3 stores the tests and the demo put behind the
# proxy. NAME is one of:
#   versitygw  the main upstream; it implements bucket CORS itself (Apache-2.0)
#   minio      the store without bucket CORS, with its permissive global CORS
#              headers left at their default so header stripping is exercised
#   gofakes3   a store that misroutes ?cors (DELETE ?cors deletes the bucket):
#              the canary for anything the proxy should never forward
#
#   install  build the pinned version with `go install` into the binary cache
#            (once per version; later calls return at once)
#   path     print where the binary lives (built or not)
#   start    install, then run it in the background on 127.0.0.1:$PORT with
#            a throw-away data dir, wait until it creates and deletes a
#            bucket, and record its PID
#   stop     stop the instance `start` recorded for NAME and $PORT, by PID,
#            and remove its data dir
#
# Environment:
#   PORT           listen port (default: versitygw 7070, minio 9000, gofakes3 9300)
#   S3_ACCESS_KEY  root access key (default testadmin)
#   S3_SECRET_KEY  root secret key (default testadmin-secret)
#   RUN_DIR        where PID files, data dirs and logs go (default: the cache's run/)
#
# The cache lives outside the repository because CI runs in a fresh clone:
# ${XDG_CACHE_HOME:-$HOME/.cache}/caddy-s3-cors/bin/<name>-<version>.
set -euo pipefail

# shellcheck source=progress.sh
source "$(dirname "$0")/progress.sh"
# shellcheck source=s3request.sh
source "$(dirname "$0")/s3request.sh"

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
name=$2

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/caddy-s3-cors"
bin_dir="$cache_dir/bin"
RUN_DIR=${RUN_DIR:-"$cache_dir/run"}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-testadmin}
S3_SECRET_KEY=${S3_SECRET_KEY:-testadmin-secret}

# cold_build is how long `install` takes with empty Go caches on 2 cores
# (downloading the store's modules and compiling them).
case $name in
versitygw)
	mod=github.com/versity/versitygw/cmd/versitygw
	ver=v1.8.0
	default_port=7070
	cold_build="about 2 min"
	;;
minio)
	mod=github.com/minio/minio
	ver=v0.0.0-20260212201848-7aac2a2c5b7c
	default_port=9000
	cold_build="about 5 min"
	;;
gofakes3)
	mod=github.com/johannesboyne/gofakes3/cmd/gofakes3
	ver=v1.2.0
	default_port=9300
	cold_build="about 30 s"
	;;
*)
	echo "upstream.sh: unknown store '$name': use versitygw, minio or gofakes3" >&2
	exit 2
	;;
esac
PORT=${PORT:-$default_port}
bin="$bin_dir/$name-$ver"
pid_file="$RUN_DIR/$name-$PORT.pid"
data_file="$RUN_DIR/$name-$PORT.datadir"
log_file="$RUN_DIR/$name-$PORT.log"

install_store() {
	[ -x "$bin" ] && return 0
	mkdir -p "$bin_dir"
	# Tests and scripts may ask for the same store at once; one builds, the
	# others wait and then find the binary.
	exec 9>"$bin.lock"
	flock 9
	if [ -x "$bin" ]; then
		exec 9>&-
		return 0
	fi
	local gobin
	gobin=$(mktemp -d "$bin_dir/.build-$name.XXXXXX")
	step upstream.sh "building $name ($mod@$ver) into $bin_dir: $cold_build on 2 cores the first time, never again"
	# go install with a version never reads the project's go.mod, so the
	# store's dependencies (AGPL for MinIO) stay out of the project's graph.
	if ! (cd "$gobin" && GOBIN="$gobin" GOWORK=off GOFLAGS="${GOFLAGS:-} -modcacherw" with_heartbeat upstream.sh go install "$mod@$ver"); then
		rm -rf "$gobin"
		echo "upstream.sh: building $name failed; check that the Go module proxy is reachable and retry" >&2
		exit 1
	fi
	mv "$gobin/$(basename "$mod")" "$bin"
	rm -rf "$gobin"
	step_done upstream.sh
	exec 9>&-
}

probe_ready() {
	local code
	case $name in
	minio)
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/minio/health/ready" || true)
		[ "$code" = 200 ] || return
		;;
	*)
		# versitygw answers an unsigned GET / with 403: any answer means it is up.
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)
		[ "$code" != 000 ] || return
		;;
	esac
	accepts_bucket_operations
}

# accepts_bucket_operations creates and deletes a bucket. Answering is not
# enough: MinIO has said ready on its health route and then refused
# CreateBucket with XMinioServerNotInitialized. The bucket may be left from
# an earlier probe whose delete failed, so only the delete decides.
accepts_bucket_operations() {
	local url="http://127.0.0.1:$PORT/upstream-sh-readiness-probe"
	s3_request PUT "$url" 2>/dev/null || true
	s3_request DELETE "$url" 2>/dev/null
}

start_store() {
	install_store
	command -v curl >/dev/null || {
		echo "upstream.sh: curl is needed for the readiness probe: run scripts/deps.sh" >&2
		exit 1
	}
	if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		echo "upstream.sh: $name already runs on 127.0.0.1:$PORT (pid $(cat "$pid_file")); stop it first" >&2
		exit 1
	fi
	mkdir -p "$RUN_DIR"
	local data
	data=$(mktemp -d "$RUN_DIR/$name-$PORT-data.XXXXXX")
	echo "$data" >"$data_file"
	case $name in
	versitygw)
		ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY \
			"$bin" --port "127.0.0.1:$PORT" --keep-alive --quiet posix "$data" >"$log_file" 2>&1 &
		;;
	minio)
		# MINIO_API_CORS_ALLOW_ORIGIN stays at its default (*): MinIO then
		# echoes any origin with credentials, which the proxy must strip.
		MINIO_ROOT_USER=$S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$S3_SECRET_KEY \
			MINIO_BROWSER=off MINIO_UPDATE=off \
			"$bin" server "$data" --address "127.0.0.1:$PORT" \
			--console-address "127.0.0.1:$((PORT + 1))" >"$log_file" 2>&1 &
		;;
	gofakes3)
		"$bin" -backend memory -host "127.0.0.1:$PORT" -quiet >"$log_file" 2>&1 &
		;;
	esac
	local pid=$!
	echo "$pid" >"$pid_file"
	local deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		if probe_ready; then
			echo "upstream.sh: $name up on http://127.0.0.1:$PORT (pid $pid, log $log_file)" >&2
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "upstream.sh: $name did not come up on 127.0.0.1:$PORT within a minute; its log:" >&2
	cat "$log_file" >&2 || true
	stop_store
	exit 1
}

stop_store() {
	[ -f "$pid_file" ] || return 0
	local pid
	pid=$(cat "$pid_file")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	if [ -f "$data_file" ]; then
		rm -rf "$(cat "$data_file")"
	fi
	rm -f "$pid_file" "$data_file"
}

case $cmd in
install) install_store ;;
start) start_store ;;
stop) stop_store ;;
path) echo "$bin" ;;
*) usage ;;
esac
