#!/usr/bin/env bash
# Bulk import through a running Caddy (issue 11: 100,000 configurations in
# at most 2 minutes): `caddy s3-cors import <file>` of a LINES-line NDJSON
# file, and of a 1,000-line file in the same round as the baseline, into the
# file system storage.
#
# Usage: bench/import.sh [rounds] [lines]     (defaults: 3 rounds, 100000)
#
# Each round starts the project's Caddy twice on fresh storage: once with an
# s3_cors handler without upstream, once with an upstream (the same Caddy
# answering HeadBucket on another port with `respond 200`), so that the
# second import asks about every bucket as it does by default. In each it
# times the 1,000-line import, then the large one, checks that every line
# was imported (the summary and the store's bucket count), that a sample of
# preflights is allowed for each bucket's own origin and refused for
# another, then stops Caddy. It prints each import's seconds and the ratios
# large / 1,000 (whole and per line), per round and as medians. Everything
# listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
lines=${2:-100000}
small=1000
admin=127.0.0.1:18199
site=127.0.0.1:18183
store=127.0.0.1:18190

work=$(mktemp -d "${TMPDIR:-/tmp}/s3cors-import.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/caddy" ./cmd/caddy
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"

# One single-rule configuration per bucket, each with an origin of its own:
# about 300 bytes a line.
generate() { # stem count file
	awk -v stem="$1" -v n="$2" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "{\"bucket\": \"%s-%06d\", \"cors_xml\": \"<CORSConfiguration><CORSRule><AllowedOrigin>https://%s-%06d.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>\"}\n", stem, i, stem, i
	}' >"$3"
}
generate small "$small" "$work/small.ndjson"
generate large "$lines" "$work/large.ndjson"
echo "import.sh: $(wc -c <"$work/large.ndjson") bytes in the $lines-line file" >&2

caddyfile() { # storage-dir with-upstream
	local upstream=
	if [ "$2" = yes ]; then
		upstream="upstream http://$store {
			credentials bench-key bench-secret
		}"
	fi
	cat <<EOF
{
	admin $admin
	auto_https off
	persist_config off
	storage file_system {
		root $1
	}
	s3_cors {
		sync_interval 1h
	}
	log {
		level WARN
	}
}
http://$site {
	s3_cors {
		$upstream
	}
	respond 204
}
http://$store {
	respond 200
}
EOF
}

now() { date +%s.%N; }

# check_preflights stem count: a sample of buckets, spread over the file.
check_preflights() {
	local stem=$1 count=$2 i name
	for i in 0 1 $((count / 3)) $((count / 2)) $((count - 2)) $((count - 1)); do
		name=$(printf '%s-%06d' "$stem" "$i")
		curl -s -o /dev/null -D - -X OPTIONS "http://$site/$name/key" -H "Origin: https://$name.example.com" \
			-H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type' |
			grep -qi "^access-control-allow-origin: https://$name.example.com" ||
			{ echo "import.sh: the preflight of $name is not allowed" >&2; exit 1; }
		curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "http://$site/$name/key" -H 'Origin: https://other.example.com' \
			-H 'Access-Control-Request-Method: PUT' | grep -qx 403 ||
			{ echo "import.sh: the preflight of $name from another origin is not refused" >&2; exit 1; }
	done
}

# import_timed file count: prints the seconds the import took.
import_timed() {
	local start end out
	start=$(now)
	out=$("$work/caddy" s3-cors import "$1" --address "$admin")
	end=$(now)
	case "$out" in
	*": $2 buckets, $2 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed") ;;
	*) echo "import.sh: the import of $1 says: $out" >&2; exit 1 ;;
	esac
	echo "$end - $start" | bc
}

results=$work/results
: >"$results"
for round in $(seq "$rounds"); do
	for mode in no-upstream upstream; do
		dir=$work/storage-$round-$mode
		caddyfile "$dir" "$([ $mode = upstream ] && echo yes || echo no)" >"$work/Caddyfile"
		"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do
			curl -s -o /dev/null "http://$admin/config/" && break
			sleep 0.1
		done
		t_small=$(import_timed "$work/small.ndjson" "$small")
		t_large=$(import_timed "$work/large.ndjson" "$lines")
		buckets=$("$work/caddy" s3-cors sync --address "$admin" | sed -n 's/.*"buckets": \([0-9]*\).*/\1/p')
		[ "$buckets" = $((small + lines)) ] || { echo "import.sh: the store holds $buckets buckets, want $((small + lines))" >&2; exit 1; }
		check_preflights small "$small"
		check_preflights large "$lines"
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		pid=
		echo "$mode $t_small $t_large" >>"$results"
		printf 'round %d, %-11s  %d lines: %6.2f s   %d lines: %7.2f s   ratio %6.1f   per line %.2f\n' \
			"$round" "$mode" "$small" "$t_small" "$lines" "$t_large" \
			"$(echo "$t_large / $t_small" | bc -l)" "$(echo "($t_large / $lines) / ($t_small / $small)" | bc -l)"
	done
done

echo
for mode in no-upstream upstream; do
	awk -v mode="$mode" -v small="$small" -v lines="$lines" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		$1 == mode { n++; s[n] = $2; l[n] = $3; r[n] = $3 / $2; p[n] = ($3 / lines) / ($2 / small) }
		END {
			printf "median, %-11s  %d lines: %6.2f s   %d lines: %7.2f s   ratio %6.1f   per line %.2f   (%d rounds)\n",
				mode, small, median(s, n), lines, median(l, n), median(r, n), median(p, n), n
		}' "$results"
done
