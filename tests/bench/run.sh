#!/usr/bin/env bash
# `make bench`: ../shared/bench's run.sh with mitmd in the custom-connect
# seat (explicit proxy, CONNECT, tunnel policy) beside nginx, SSLsplit and
# mitmproxy in the same run. Ratios within one run are what to quote.
# BENCH_ARGS passes options to run.sh (default: -r 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
[ -x "$BENCH/run.sh" ] || [ -f "$BENCH/run.sh" ] || {
	echo "bench: harness not found at $BENCH (set BENCH_DIR)" >&2; exit 1; }
export PROXY_CONNECT_CMD="$ROOT/tests/bench/mitmd-connect.sh"
# shellcheck disable=SC2086
exec bash "$BENCH/run.sh" -p "${BENCH_PROFILES:-nginx,sslsplit,mitmproxy-connect,custom-connect}" ${BENCH_ARGS:-}
