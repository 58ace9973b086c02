#!/usr/bin/env bash
# mitmd in a seat of ../shared/bench, in the foreground (the harness stops
# it and its children by pid), state in the harness's temp dir:
#   mitmd-seat.sh reverse   the custom profile: a reverse listener on
#                           127.0.0.1:$PROXY_PORT to https://127.0.0.1:$ORIGIN_PORT
#   mitmd-seat.sh connect   the custom-connect profile: an explicit proxy on
#                           127.0.0.1:$PROXY_PORT, every host with the action of
#                           MITMD_BENCH_POLICY (intercept by default, or tunnel)
# Upstream verification is off: the bench origin's certificate is
# self-signed. MITMD_BENCH_EXTRA adds config lines (e.g. 'store off').
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: mitmd-seat.sh reverse|connect}
: "${PROXY_PORT:?}" "${BENCH_TMP:?}"
dir=$BENCH_TMP/mitmd-$mode
mkdir -p "$dir"
case $mode in
reverse)
	: "${ORIGIN_PORT:?}"
	listen="listen on 127.0.0.1 port $PROXY_PORT reverse to https://127.0.0.1:$ORIGIN_PORT"
	rule=""
	;;
connect)
	listen="listen on 127.0.0.1 port $PROXY_PORT"
	rule="${MITMD_BENCH_POLICY:-intercept} host \"*\""
	;;
*)
	echo "mitmd-seat.sh: unknown mode $mode" >&2
	exit 2
	;;
esac
cat >"$dir/mitmd.conf" <<CONF
state directory "$dir/state"
runtime directory "$dir/run"
workers auto
$listen
upstream verify no
${MITMD_BENCH_EXTRA:-}
$rule
CONF
exec "$ROOT/build/mitmd" -D -f "$dir/mitmd.conf"
