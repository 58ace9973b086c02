#!/usr/bin/env bash
# `make bench` part two: the tunnel lanes the harness cannot drive through
# an explicit proxy (wrk has no proxy support). One load tool, hey, against
# the same loopback origin, CPU-pinned as in ../shared/bench:
#   nginx            hey https://nginx-relay/PATH      (TLS relay, the ceiling)
#   mitmd tunnel     hey -x http://mitmd https://origin/PATH   (CONNECT, splice)
# for PATH in /1m (throughput) and /small with keep-alive off (connections
# per second). Prints req/s and the ratio to nginx from this one run.
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

declare -A RPS
for profile in nginx custom-connect; do
	bench_start_proxy "$profile"
	for lane in 1m conn; do
		path=/1m; ka=()
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

printf '\n%-26s %12s %12s %8s\n' lane "nginx req/s" "mitmd req/s" vsNginx
for lane in 1m conn; do
	n=${RPS[nginx,$lane]} m=${RPS[custom-connect,$lane]}
	awk -v l="$lane" -v n="$n" -v m="$m" 'BEGIN {
		name = l == "1m" ? "tunnel 1 MiB keep-alive" : "new connection, full TLS"
		printf "%-26s %12.1f %12.1f %8.2f\n", name, n, m, (n > 0 ? m / n : 0) }'
done
echo "(hey -c $CONNS, ${DUR}s after 2s warm-up; mitmd as an explicit proxy with a tunnel policy: the TLS handshake is the origin's; nginx terminates and re-originates TLS)"
