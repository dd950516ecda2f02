#!/usr/bin/env bash
# Usage: scripts/test.sh
#
# The project's whole test run, the same locally and in CI:
#   1. scripts/deps.sh (Debian clients, the S3 stores, Go modules);
#   2. gofmt: fails on any unformatted Go file;
#   3. go mod: each of the three Go modules (the plugin, e2e/, bench/) is
#      tidy, and the plugin's go.mod requires only modules that a Caddy
#      build with the plugin uses (test-only dependencies belong in e2e/ or
#      bench/, so that xcaddy never pulls them);
#   4. go vet, for the three modules;
#   5. the plugin's tests under the race detector: unit and caddytest
#      integration tests;
#   6. the end-to-end tests (e2e/): real stores, the project's own Caddy,
#      real clients and Chromium, and every command of every README;
#   7. the bench module: every benchmark once, for the checks each makes of
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
	timings+=("$(printf '%-24s %4ds%s' "$name" "$took" "$([ $rc -eq 0 ] || echo '  FAILED')")")
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

# Go modules of the repository, the plugin first.
modules=(. e2e bench)

check_go_mod() {
	local m
	for m in "${modules[@]}"; do
		(cd "$m" && go mod tidy -diff) || {
			echo "go mod: $m/go.mod or go.sum is not tidy: run 'go mod tidy' there" >&2
			return 1
		}
	done
	# The plugin's direct requirements against the modules its package and
	# ./cmd/caddy (Caddy's standard modules) build from.
	local required used extra
	required=$(go mod edit -print | awk '
		/^require \(/ { block = 1; next }
		block && /^\)/ { block = 0; next }
		block && !/\/\/ indirect/ { print $1 }
		/^require [^(]/ && !/\/\/ indirect/ { print $2 }' | sort -u)
	used=$(go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}' . ./cmd/caddy | sort -u)
	extra=$(comm -23 <(echo "$required") <(echo "$used"))
	if [ -n "$extra" ]; then
		echo "go mod: the plugin's go.mod requires modules no Caddy build with it uses (tests only?):" >&2
		echo "$extra" >&2
		return 1
	fi
}

go_vet() {
	local m
	for m in "${modules[@]}"; do
		(cd "$m" && go vet ./...) || return
	done
}

test_plugin() {
	go test -race -count=1 -timeout 20m ./...
}

test_e2e() {
	# The end-to-end tests start real processes and may build a store that
	# deps.sh did not (it should have): allow well past go test's default
	# of 10 minutes per package.
	(cd e2e && go test -count=1 -timeout 45m ./...)
}

test_bench() {
	# Each benchmark checks its implementations' answers before timing
	# them; one iteration of each runs those checks.
	(cd bench && go test -count=1 -timeout 20m -run '^$' -bench . -benchtime 1x ./...)
}

phase deps scripts/deps.sh
phase gofmt check_gofmt
phase "go mod" check_go_mod
phase "go vet" go_vet
phase "go test (plugin, race)" test_plugin
phase "go test (e2e)" test_e2e
phase "go test (bench)" test_bench
