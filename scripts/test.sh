#!/usr/bin/env bash
# Usage: scripts/test.sh
#
# The project's whole test run, the same locally and in CI:
#   1. scripts/deps.sh (Debian clients, the S3 stores, Go modules);
#   2. gofmt: fails on any unformatted Go file;
#   3. go vet, for the main module and bench/;
#   4. go test ./... for the main module: unit, caddytest integration and
#      end-to-end tests (real stores, the project's own Caddy, real clients);
#   5. the bench module: every benchmark once, for the checks each makes of
#      the answers it times (bench/run.sh measures).
# Each phase's time is printed at the end.
#
# With CI=true a test whose prerequisite (a store, a client, a browser) is
# missing fails instead of skipping, so a green run means everything ran.
# Caddy's data and config dirs point at a temp dir for the run, so neither the
# tests nor caddytest write to $HOME.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "${CI:-}" = true ]; then
	export CI
	echo "test.sh: CI=true: missing prerequisites fail the run"
fi

timings=()
summary() {
	echo "=== timings"
	local line
	for line in "${timings[@]}"; do
		echo "  $line"
	done
}
tmp=$(mktemp -d)
trap 'summary; rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"

phase() {
	local name=$1
	shift
	echo "=== $name"
	local start=$SECONDS rc=0
	# The phase functions return their first failure explicitly: set -e does
	# not apply inside a command that is followed by ||.
	"$@" || rc=$?
	local took=$((SECONDS - start))
	timings+=("$(printf '%-22s %4ds%s' "$name" "$took" "$([ $rc -eq 0 ] || echo '  FAILED')")")
	echo "=== $name: ${took}s"
	[ $rc -eq 0 ] || exit "$rc"
}

check_gofmt() {
	local files unformatted
	files=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' | sort)
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086 # one path per word is intended
	unformatted=$(gofmt -l $files) || return
	if [ -n "$unformatted" ]; then
		echo "gofmt: these files need 'gofmt -w':" >&2
		echo "$unformatted" >&2
		return 1
	fi
}

go_vet() {
	go vet ./... || return
	(cd bench && go vet ./...)
}

test_main() {
	# The end-to-end package starts real processes and may build a store
	# that deps.sh did not (it should have): allow well past go test's
	# default of 10 minutes per package.
	go test -count=1 -timeout 45m ./...
}

test_bench() {
	# Each benchmark checks its implementations' answers before timing
	# them; one iteration of each runs those checks.
	(cd bench && go test -count=1 -timeout 20m -run '^$' -bench . -benchtime 1x ./...)
}

phase deps scripts/deps.sh
phase gofmt check_gofmt
phase "go vet" go_vet
phase "go test (main)" test_main
phase "go test (bench)" test_bench
