#!/usr/bin/env bash
# Usage: scripts/deps.sh [--no-apt] [--upstream NAME]...
#
# Installs everything the tests need on a fresh Debian machine of the
# project's kind, and does nothing (quietly) when it is all there already:
#   - Debian packages: the clients the end-to-end tests drive (Debian's boto3
#     and aws CLI v2, s3cmd), headless Chromium, wrk, curl, and openssl and git
#     for the README commands;
#   - the S3 stores the end-to-end tests start, built one after another with
#     scripts/upstream.sh install (which says how long each takes; cached
#     afterwards outside the repository);
#   - the dependencies of the three Go modules: the plugin, e2e/ and bench/.
#
#   --no-apt         skip the Debian packages (the demo needs none of them)
#   --upstream NAME  build only this store (repeatable; default: all three)
#
# The pip-installed boto3 1.43 and aws CLI v1 come with the machine image (the
# image's python3 is a pyenv shim); they cannot be installed from here, so
# their absence is reported, and the tests that need them fail under CI=true.
set -euo pipefail

cd "$(dirname "$0")/.."

apt=1
upstreams=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-apt) apt=0 ;;
	--upstream)
		[ $# -ge 2 ] || {
			echo "deps.sh: --upstream needs a store name" >&2
			exit 2
		}
		upstreams+=("$2")
		shift
		;;
	*)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
		exit 2
		;;
	esac
	shift
done
[ ${#upstreams[@]} -gt 0 ] || upstreams=(versitygw gofakes3 minio)

# run prints a command's output only when it fails, so that a run with
# nothing to do stays silent.
run() {
	local log
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		echo "deps.sh: '$*' failed:" >&2
		cat "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

if [ "$apt" = 1 ]; then
	packages=(python3-boto3 awscli s3cmd chromium wrk curl openssl git)
	missing=()
	for p in "${packages[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		sudo=()
		if [ "$(id -u)" -ne 0 ]; then
			sudo=(sudo)
		fi
		echo "deps.sh: installing Debian packages: ${missing[*]}" >&2
		run "${sudo[@]}" apt-get update
		run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
	fi

	# These two come with the image rather than from a registry this machine
	# reaches: say so instead of failing later with a less helpful message.
	if ! python3 -c 'import boto3' >/dev/null 2>&1; then
		echo "deps.sh: warning: python3 has no boto3 (the image's pip boto3 1.43); its e2e client tests will not run" >&2
	fi
	if ! command -v aws >/dev/null 2>&1 || ! aws --version >/dev/null 2>&1; then
		echo "deps.sh: warning: no 'aws' CLI v1 on PATH (the image's pip awscli); its e2e client tests will not run" >&2
	fi
fi

# Sequentially: on 2 cores, parallel builds save little and double the peak
# memory (MinIO alone peaks around 1.5 GB).
for u in "${upstreams[@]}"; do
	scripts/upstream.sh install "$u"
done

for m in . e2e bench; do
	(cd "$m" && run go mod download)
done
