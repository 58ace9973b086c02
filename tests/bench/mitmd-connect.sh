#!/usr/bin/env bash
# The custom-connect seat of ../shared/bench: mitmd as an explicit proxy on
# 127.0.0.1:$PROXY_PORT with a policy given by MITMD_BENCH_POLICY (tunnel by
# default; intercept turns upstream verification off, since the bench
# origin's certificate is self-signed), state in the harness's temp dir.
# Stays in the foreground; the harness stops it (and its children) by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${PROXY_PORT:?}" "${BENCH_TMP:?}"
dir=$BENCH_TMP/mitmd
mkdir -p "$dir"
cat >"$dir/mitmd.conf" <<CONF
state directory "$dir/state"
runtime directory "$dir/run"
workers auto
listen on 127.0.0.1 port $PROXY_PORT
$([ "${MITMD_BENCH_POLICY:-tunnel}" = intercept ] && echo 'upstream verify no')
${MITMD_BENCH_POLICY:-tunnel} host "*"
CONF
exec "$ROOT/build/mitmd" -D -f "$dir/mitmd.conf"
