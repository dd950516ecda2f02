#!/usr/bin/env bash
# End-to-end load on loopback: what the s3_cors handler costs a real Caddy.
#
# Usage: bench/loopback.sh [rounds] [seconds]     (defaults: 5 rounds of 10 s)
#
# One Caddy process (the project's binary) serves four variants side by side,
# so that every variant runs in the same process, build and load:
#   :18082  reverse_proxy                      bare proxy (baseline of GET)
#   :18085  reverse_proxy + static headers     the proxy adding the same CORS
#                                              headers with `header` (the
#                                              baseline that sends as many bytes)
#   :18083  s3_cors + reverse_proxy            the module in front of the proxy
#   :18084  respond 200 + static CORS headers  baseline of the preflight
#   :18083  OPTIONS                            the module answering a preflight
# A second Caddy on :18090 plays the store (respond with a 1 KiB body). wrk
# runs each variant once per round, in interleaved order, and the script
# prints the median requests/s and latency of each, and the ratios
# module/baseline. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
seconds=${2:-10}
command -v wrk >/dev/null || { echo "loopback.sh: wrk is needed (apt-get install -y wrk)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/s3cors-loopback.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/caddy" ./cmd/caddy
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"

head -c 1024 /dev/zero | tr '\0' 'x' >"$work/object"
cat >"$work/Store" <<EOF
{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:18090 {
	root * $work
	rewrite * /object
	file_server
}
EOF

vary='"Origin, Access-Control-Request-Headers, Access-Control-Request-Method"'
cat >"$work/Caddyfile" <<EOF
{
	admin 127.0.0.1:18099
	auto_https off
	persist_config off
	s3_cors {
		sync_interval 1h
	}
}
http://127.0.0.1:18082 {
	reverse_proxy 127.0.0.1:18090
}
http://127.0.0.1:18083 {
	s3_cors {
		insecure_unauthenticated_api
	}
	reverse_proxy 127.0.0.1:18090
}
http://127.0.0.1:18085 {
	header Access-Control-Allow-Origin https://app.example.com
	header Access-Control-Allow-Credentials true
	header Access-Control-Allow-Methods "GET, PUT"
	header Access-Control-Expose-Headers ETag
	header Access-Control-Max-Age 3000
	header Vary $vary
	reverse_proxy 127.0.0.1:18090
}
http://127.0.0.1:18084 {
	header Access-Control-Allow-Origin https://app.example.com
	header Access-Control-Allow-Credentials true
	header Access-Control-Allow-Methods "GET, PUT"
	header Access-Control-Allow-Headers "content-type, x-amz-date"
	header Access-Control-Expose-Headers ETag
	header Access-Control-Max-Age 3000
	header Vary $vary
	respond 200
}
EOF

"$work/caddy" run --config "$work/Store" --adapter caddyfile >"$work/store.log" 2>&1 &
pids+=($!)
"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	curl -s -o /dev/null http://127.0.0.1:18083/ && curl -s -o /dev/null http://127.0.0.1:18090/ && break
	sleep 0.1
done

doc='<CORSConfiguration><CORSRule><AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>'
md5=$(printf '%s' "$doc" | openssl dgst -md5 -binary | base64)
curl -sf -X PUT -H "Content-MD5: $md5" --data-binary "$doc" 'http://127.0.0.1:18083/bucket?cors' >/dev/null

cat >"$work/get.lua" <<'EOF'
wrk.headers["Origin"] = "https://app.example.com"
EOF
cat >"$work/preflight.lua" <<'EOF'
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "https://app.example.com"
wrk.headers["Access-Control-Request-Method"] = "PUT"
wrk.headers["Access-Control-Request-Headers"] = "content-type,x-amz-date"
EOF

# Sanity: each variant answers what it should, so a fast wrong answer
# cannot pass.
check() {
	local want=$1
	shift
	curl -s -o /dev/null -D - "$@" | grep -qi "$want" || { echo "loopback.sh: $* lacks $want" >&2; exit 1; }
}
check 'access-control-allow-origin: https://app.example.com' -H 'Origin: https://app.example.com' http://127.0.0.1:18083/bucket/key
check 'HTTP/1.1 200' http://127.0.0.1:18082/bucket/key
check 'access-control-allow-origin: https://app.example.com' http://127.0.0.1:18085/bucket/key
check 'access-control-allow-methods: GET, PUT' -X OPTIONS -H 'Origin: https://app.example.com' \
	-H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type,x-amz-date' http://127.0.0.1:18083/bucket/key
check 'access-control-allow-methods: GET, PUT' -X OPTIONS http://127.0.0.1:18084/bucket/key

variants=(
	"get-bare get.lua http://127.0.0.1:18082/bucket/key"
	"get-headers get.lua http://127.0.0.1:18085/bucket/key"
	"get-module get.lua http://127.0.0.1:18083/bucket/key"
	"preflight-static preflight.lua http://127.0.0.1:18084/bucket/key"
	"preflight-module preflight.lua http://127.0.0.1:18083/bucket/key"
)
: >"$work/results"
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	for v in "${variants[@]}"; do
		read -r name script url <<<"$v"
		out=$(wrk -t2 -c32 -d"${seconds}s" --latency -s "$work/$script" "$url")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
		[ -z "$errs" ] || { echo "loopback.sh: $name had $errs non-2xx answers" >&2; exit 1; }
		echo "$r $name $rps $p50 $p99" >>"$work/results"
	done
done

echo
echo "machine: $(nproc) CPUs, $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of ${seconds}s, wrk -t2 -c32"
awk '
function ms(s) { if (s ~ /us$/) return s / 1000; if (s ~ /ms$/) return s + 0; if (s ~ /s$/) return s * 1000; return s }
function median(list,   n, i, j, t, a) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function span(list,   n, i, a, lo, hi) {
	n = split(list, a, " "); lo = a[1]; hi = a[1]
	for (i = 2; i <= n; i++) { if (a[i] + 0 < lo + 0) lo = a[i]; if (a[i] + 0 > hi + 0) hi = a[i] }
	return sprintf("%.3f .. %.3f", lo, hi)
}
{ round = $1; v = $2; rps[v] = rps[v] " " $3; p50[v] = p50[v] " " ms($4); p99[v] = p99[v] " " ms($5); R[round, v] = $3; rounds[round] = 1 }
END {
	printf "%-18s %10s %9s %9s\n", "variant", "req/s", "p50 ms", "p99 ms"
	n = split("get-bare get-headers get-module preflight-static preflight-module", order, " ")
	for (i = 1; i <= n; i++) {
		v = order[i]
		printf "%-18s %10.0f %9.3f %9.3f\n", v, median(rps[v]), median(p50[v]), median(p99[v])
	}
	for (r in rounds) {
		get = get " " R[r, "get-module"] / R[r, "get-bare"]
		geth = geth " " R[r, "get-module"] / R[r, "get-headers"]
		pre = pre " " R[r, "preflight-module"] / R[r, "preflight-static"]
	}
	printf "\nthroughput ratios within a round (median, range):\n"
	printf "  proxied GET, module / bare reverse_proxy:            %.3f  (%s)\n", median(get), span(get)
	printf "  proxied GET, module / reverse_proxy + same headers:  %.3f  (%s)\n", median(geth), span(geth)
	printf "  preflight, module / static respond:                  %.3f  (%s)\n", median(pre), span(pre)
}' "$work/results"
