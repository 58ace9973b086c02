#!/usr/bin/env bash
# `make bench` part two: the lanes the harness cannot drive through an
# explicit proxy (wrk has no proxy support). One load tool, hey, against
# the same loopback origin, CPU-pinned as in ../shared/bench:
#   nginx, sslsplit        hey https://relay/PATH            (reverse seats)
#   mitmproxy, mitmd       hey -x http://proxy https://origin/PATH (CONNECT)
# for PATH in /1m and /100k (keep-alive throughput) and /small with
# keep-alive off (new connections, full TLS). mitmd runs with the policy of
# MITMD_BENCH_POLICY (tunnel by default, or intercept). Prints req/s and
# the ratio to nginx from this one run. TUNNEL_PROFILES picks profiles.
# Uses the harness's own functions (lib.sh) for the origin, certificates,
# pinning and cleanup by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
DUR=${TUNNEL_SECS:-8}
CONNS=${TUNNEL_CONNS:-32}
# shellcheck source=/dev/null
source "$BENCH/lib.sh"
export PROXY_CONNECT_CMD="$ROOT/tests/bench/mitmd-connect.sh"

bench_ensure_deps
trap bench_cleanup EXIT INT TERM
bench_init
[ "$(nproc)" -ge 2 ] || BENCH_PIN=0
bench_gen_certs
bench_start_origin

# hey_rps OUT -> requests per second (0 when the run had errors)
hey_rps() {
	awk '/Requests\/sec:/ { r = $2 } /^Error distribution/ { e = 1 }
	     END { print (e ? "0" : r + 0) }' "$1"
}

LANES=(1m 100k conn)
read -r -a PROFILES <<<"${TUNNEL_PROFILES:-nginx sslsplit mitmproxy-connect custom-connect}"
declare -A RPS
for profile in "${PROFILES[@]}"; do
	bench_start_proxy "$profile"
	for lane in "${LANES[@]}"; do
		path=/$lane; ka=()
		[ "$lane" = conn ] && { path=/small; ka=(-disable-keepalive); }
		if [ "$PROXY_MODE" = connect ]; then
			args=(-x "http://127.0.0.1:$PROXY_PORT" "https://127.0.0.1:$ORIGIN_PORT$path")
		else
			args=("https://127.0.0.1:$PROXY_PORT$path")
		fi
		out=$BENCH_TMP/$profile-$lane.txt
		# warm-up, then the measured run
		bench_pinned "$BENCH_CPU_CLIENT" timeout 30 hey -c "$CONNS" -z 2s -t 10 "${ka[@]}" "${args[@]}" >/dev/null 2>&1 || true
		bench_pinned "$BENCH_CPU_CLIENT" timeout $((DUR + 30)) hey -c "$CONNS" -z "${DUR}s" -t 10 "${ka[@]}" "${args[@]}" >"$out" 2>&1 || true
		RPS[$profile,$lane]=$(hey_rps "$out")
		bench_log "$profile $lane: ${RPS[$profile,$lane]} req/s"
	done
	bench_stop_proxy
done

label() {
	case $1 in
	1m) echo "1 MiB, keep-alive" ;;
	100k) echo "100 KiB, keep-alive" ;;
	*) echo "new connection, full TLS" ;;
	esac
}
printf '\n%-26s' "lane (req/s, vs nginx)"
for p in "${PROFILES[@]}"; do printf ' %18s' "$p"; done
printf '\n'
for lane in "${LANES[@]}"; do
	printf '%-26s' "$(label "$lane")"
	for p in "${PROFILES[@]}"; do
		awk -v n="${RPS[nginx,$lane]:-0}" -v m="${RPS[$p,$lane]}" 'BEGIN {
			printf " %10.1f (%4.2f)", m, (n > 0 ? m / n : 0) }'
	done
	printf '\n'
done
echo "(hey -c $CONNS, ${DUR}s after 2s warm-up; custom-connect = mitmd, policy ${MITMD_BENCH_POLICY:-tunnel})"
