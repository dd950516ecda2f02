#!/usr/bin/env bash
# Runs the benchmarks in interleaved rounds, so that load from other work on
# the machine hits every implementation alike, then prints benchstat's summary
# and the same-run ratios against the targets in BENCHMARKS.md.
#
# Usage: bench/run.sh [rounds] [benchtime] [test binary flags...]
#   defaults: 10 rounds of 200ms; later flags override earlier ones, e.g.
#   bench/run.sh 5 200ms -resident -test.bench CORS
# The raw output is kept in bench/results.txt (or $OUT).
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-10}
benchtime=${2:-200ms}
shift $(($# < 2 ? $# : 2))
out=${OUT:-results.txt}

go test -c -o bench.test .
trap 'rm -f bench.test' EXIT
: >"$out"
for i in $(seq "$rounds"); do
	echo "round $i/$rounds" >&2
	# One round is the whole suite once: go test -run '^$' -bench . -count 1 -cpu 1.
	./bench.test -test.run '^$' -test.bench . -test.benchtime "$benchtime" \
		-test.count 1 -test.cpu 1 -test.benchmem "$@" >>"$out"
done

go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out"
echo
go run ./ratios <"$out"
