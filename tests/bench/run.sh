#!/usr/bin/env bash
# `make bench`: ../shared/bench's run.sh with mitmd in both custom seats,
# beside nginx, SSLsplit and mitmproxy in the same run:
#   custom          mitmd's reverse listener (every wrk and hey lane)
#   custom-connect  mitmd as an explicit proxy, intercepting (hey lanes)
# The harness prints the table with each lane's ratio to nginx; quote
# ratios within one run only. Then a second, shorter run of nginx and
# mitmd's reverse seat with `store off` (no flow store, no event sink:
# the workers encode no events), for the cost of the events: compare the
# two runs' ratios to nginx. BENCH_PROFILES picks the profiles of the
# first run, BENCH_ARGS passes options to run.sh (-d, -r, -o, -l ...),
# BENCH_EVENTS_OFF=0 skips the second run. BENCH_LANES picks the lanes
# (h2-small, HTTP/2 through h2load, is in by default: nginx relays it to
# its HTTP/1.1 upstream, mitmd to the origin's HTTP/2). Not part of make check.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
[ -f "$BENCH/run.sh" ] || {
	echo "bench: harness not found at $BENCH (set BENCH_DIR)" >&2; exit 1; }
export PROXY_CMD="$ROOT/tests/bench/mitmd-seat.sh reverse"
export PROXY_CONNECT_CMD="$ROOT/tests/bench/mitmd-seat.sh connect"
# shellcheck disable=SC2086
bash "$BENCH/run.sh" \
	-p "${BENCH_PROFILES:-nginx,sslsplit,mitmproxy,mitmproxy-connect,custom,custom-connect}" \
	-l "${BENCH_LANES:-small,100k,1m,hs-resume,hs-full,hey-small,h2-small}" \
	${BENCH_ARGS:-}
[ "${BENCH_EVENTS_OFF:-1}" = 1 ] || exit 0
echo
echo "== the same mitmd reverse seat with 'store off' (no events encoded)"
# shellcheck disable=SC2086
MITMD_BENCH_EXTRA="store off" bash "$BENCH/run.sh" -p nginx,custom \
	-l small,1m,hs-full ${BENCH_ARGS:-}
