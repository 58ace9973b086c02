#!/usr/bin/env bash
# `make bench`: ../shared/bench's run.sh with mitmd in the custom-connect
# seat (explicit proxy, CONNECT, tunnel policy) beside nginx, SSLsplit and
# mitmproxy in the same run, then tests/bench/tunnel.sh for the lanes the
# harness cannot drive through an explicit proxy. Quote ratios within one
# run. BENCH_ARGS passes options to run.sh; BENCH_PROFILES picks profiles.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
[ -f "$BENCH/run.sh" ] || {
	echo "bench: harness not found at $BENCH (set BENCH_DIR)" >&2; exit 1; }
export PROXY_CONNECT_CMD="$ROOT/tests/bench/mitmd-connect.sh"
# shellcheck disable=SC2086
bash "$BENCH/run.sh" -p "${BENCH_PROFILES:-nginx,sslsplit,mitmproxy-connect,custom-connect}" ${BENCH_ARGS:-}
bash "$ROOT/tests/bench/tunnel.sh"
