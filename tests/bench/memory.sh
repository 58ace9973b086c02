#!/usr/bin/env bash
# `make bench-memory`: what an idle intercepted connection costs in memory.
# A gateway proxy spends most of its life holding many quiet keep-alive
# connections, so the figure that decides how many clients a box can serve
# is RSS per held connection, not req/s. For each proxy of MEMBENCH_PROXIES
# (mitmd, mitmproxy), tests/bench/memclient.py (Debian's /usr/bin/python3)
# opens MEMBENCH_CONNS (10000) concurrent connections through it as an
# explicit proxy: CONNECT 127.0.0.1:origin, TLS inside the tunnel with the
# forged leaf, one keep-alive HTTP/1.1 GET /small (13 bytes) read in full,
# then silence. Once all are open (or the time bound ran out, or attempts
# failed for 30 s without a success: the proxy holds what it holds), the
# RSS and PSS (/proc/PID/smaps_rollup) of the proxy's whole process tree
# (mitmd: the master and every descendant) are summed; minus the idle figure taken after one probe request, divided by
# the held connections, that is the cost per connection. Also reported:
# connections that failed to open, connections the proxy dropped while
# idle, and the RSS after the client closed everything.
#
# The origin is nginx on loopback (certificates from ../shared/bench's
# lib.sh), with a configuration of its own sized for the connection count.
# Everything runs on 127.0.0.1, unpinned (memory, not speed), as root (fd
# limits, mitmd's users). Results on stdout, progress on stderr. Knobs:
#   MEMBENCH_CONNS            connections to hold (10000)
#   MEMBENCH_PROXIES          comma list of mitmd, mitmproxy (both)
#   MEMBENCH_TIMEOUT          seconds mitmd gets to open them (300)
#   MEMBENCH_MITMPROXY_TIMEOUT  same for mitmproxy (180): it is bounded
#                             tighter, and reported at what it held then
#   MEMBENCH_INFLIGHT         connection attempts in flight (200)
#   MEMBENCH_SETTLE           seconds idle before sampling (5)
#   BENCH_KEEP_TMP=1          keep the temp dir (configs, mitmd's log)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
[ -f "$BENCH/lib.sh" ] || {
	echo "bench-memory: harness not found at $BENCH (set BENCH_DIR)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$BENCH/lib.sh"

CONNS=${MEMBENCH_CONNS:-10000}
PROXIES=${MEMBENCH_PROXIES:-mitmd,mitmproxy}
TMO_MITMD=${MEMBENCH_TIMEOUT:-300}
TMO_MITMPROXY=${MEMBENCH_MITMPROXY_TIMEOUT:-180}
INFLIGHT=${MEMBENCH_INFLIGHT:-200}
SETTLE=${MEMBENCH_SETTLE:-5}
PY=/usr/bin/python3
CLIENT=$ROOT/tests/bench/memclient.py
# shellcheck disable=SC2034  # read by lib.sh: no taskset (memory, not speed)
BENCH_PIN=0

[ "$(id -u)" -eq 0 ] || bench_die "run as root (fd limits, mitmd's users)"
[ -x "$ROOT/build/mitmd" ] || bench_die "no $ROOT/build/mitmd: make all first"
[ -x "$PY" ] || bench_die "$PY missing (apt-get install python3)"
bench_ensure_deps
trap bench_cleanup EXIT INT TERM
bench_init
T0=$(date +%s)

# Every process we start inherits these: the client holds CONNS sockets,
# mitmproxy 2*CONNS, nginx CONNS (its own worker_rlimit_nofile too), and
# mitmd's master raises the hard limit itself and each worker sets its own.
nofile=$((CONNS * 4 + 65536))
nr_open=$(cat /proc/sys/fs/nr_open)
[ "$nofile" -le "$nr_open" ] || nofile=$nr_open
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ] &&
	! ulimit -Hn "$nofile" 2>/dev/null; then
	# a container without CAP_SYS_RESOURCE: mitmd's master cannot raise
	# it either, and mitmproxy needs two fds per connection
	bench_log "WARNING: cannot raise the hard fd limit from $hard to $nofile" \
		"(no CAP_SYS_RESOURCE?); every process here is held to $hard"
	nofile=$hard
fi
ulimit -Sn "$nofile"
bench_log "fd limit $(ulimit -Sn), ephemeral ports $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)"

# ---------------------------------------------------------------- origin
bench_gen_certs
ORIGIN_PORT=$(bench_free_port)
od=$BENCH_TMP/origin
mkdir -p "$od"
chmod 0755 "$od"
cat >"$od/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $od/nginx.pid;
error_log $od/error.log warn;
worker_rlimit_nofile $((CONNS * 2 + 4096 < nofile ? CONNS * 2 + 4096 : nofile));
events { worker_connections $((CONNS + 2048)); multi_accept on; }
http {
    access_log off;
    client_body_temp_path $od/client_body;
    proxy_temp_path $od/proxy_temp;
    fastcgi_temp_path $od/fastcgi_temp;
    uwsgi_temp_path $od/uwsgi_temp;
    scgi_temp_path $od/scgi_temp;
    keepalive_timeout 3600s;
    keepalive_requests 1000000;
    server_tokens off;
    server {
        listen 127.0.0.1:$ORIGIN_PORT ssl backlog=4096;
        ssl_certificate     $BENCH_TMP/pki/origin.crt;
        ssl_certificate_key $BENCH_TMP/pki/origin.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:membench:10m;
        location = /small { default_type text/plain; return 200 "hello, world\n"; }
    }
}
EOF
bench_spawn - "$od/stdout.log" nginx -e "$od/error.log" -c "$od/nginx.conf"
ORIGIN_PID=$BENCH_SPAWNED
bench_wait_port "$ORIGIN_PORT" "$ORIGIN_PID" "origin nginx"
bench_log "origin nginx pid $ORIGIN_PID on https://127.0.0.1:$ORIGIN_PORT"

# ---------------------------------------------------------------- helpers
# tree_mem PID -> "procs rss_kib pss_kib" summed over PID and its descendants
tree_mem() {
	local p n=0 rss=0 pss=0 r s
	for p in "$1" $(bench_descendants "$1"); do
		read -r r s < <(awk '/^Rss:/ { r = $2 } /^Pss:/ { s = $2 }
			END { print r + 0, s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		[ "$r" -gt 0 ] || continue
		n=$((n + 1)); rss=$((rss + r)); pss=$((pss + s))
	done
	echo "$n $rss $pss"
}

# wait_line FILE REGEX SECS PID: until a line of FILE matches, PID lives, SECS pass
wait_line() {
	local f=$1 re=$2 end=$(($(date +%s) + $3)) pid=$4
	while ! grep -Eq "$re" "$f" 2>/dev/null; do
		bench_alive "$pid" || { grep -Eq "$re" "$f" 2>/dev/null && return 0; return 1; }
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.5
	done
}

# field KEY LINE -> the value of KEY=value in LINE
field() { sed -n "s/.*[[:space:]]$1=\\([^[:space:]]*\\).*/\\1/p" <<<"$2"; }

kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

start_mitmd() {
	local d=$BENCH_TMP/mitmd
	mkdir -p "$d"
	PROXY_PORT=$(bench_free_port)
	# limit connections is per worker: high enough that one worker could
	# take them all, so the acceptor's spread cannot cap the test. A kept
	# connection waits for its next request under timeout idle.
	cat >"$d/mitmd.conf" <<CONF
state directory "$d/state"
runtime directory "$d/run"
workers auto
listen on 127.0.0.1 port $PROXY_PORT
upstream verify no
timeout idle $((TMO_MITMD + 3600))
timeout drain 1
limit connections $((CONNS + 1000))
intercept host "*"
CONF
	"$ROOT/build/mitmd" -n -f "$d/mitmd.conf" >&2 || bench_die "mitmd refused $d/mitmd.conf"
	# -d: foreground with the log on stderr as well (there may be no syslog)
	bench_spawn - "$d/mitmd.log" "$ROOT/build/mitmd" -d -f "$d/mitmd.conf"
	PROXY_PID=$BENCH_SPAWNED
	PROXY_LOG=$d/mitmd.log
	bench_wait_port "$PROXY_PORT" "$PROXY_PID" mitmd
	bench_log "mitmd pid $PROXY_PID on 127.0.0.1:$PROXY_PORT"
}

declare -A R
run_proxy() {
	local name=$1 tmo out cpid line sec procs rss pss
	case $name in
	mitmd) start_mitmd; tmo=$TMO_MITMD ;;
	mitmproxy)
		bench_start_proxy mitmproxy-connect
		PROXY_LOG=$BENCH_TMP/proxy-mitmproxy-connect/stdout.log
		tmo=$TMO_MITMPROXY ;;
	*) bench_die "unknown proxy '$name' (mitmd, mitmproxy)" ;;
	esac
	# one request first: the leaf is forged and cached, the TLS contexts
	# are built; the idle figure is taken after it
	local got
	got=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' \
		-x "http://127.0.0.1:$PROXY_PORT" "https://127.0.0.1:$ORIGIN_PORT/small") || true
	[ "$got" = "200 13" ] || bench_die "$name: probe got '$got', want '200 13'"
	sleep 1
	read -r procs rss pss < <(tree_mem "$PROXY_PID")
	R[$name,idle_rss]=$rss R[$name,idle_pss]=$pss
	bench_log "$name idle: $procs processes, RSS $(kib_mib "${R[$name,idle_rss]}") MiB"

	out=$BENCH_TMP/client-$name.out
	: >"$out"
	bench_log "$name: opening $CONNS connections ($INFLIGHT in flight, at most ${tmo}s)"
	(exec "$PY" "$CLIENT" --proxy "127.0.0.1:$PROXY_PORT" --target "127.0.0.1:$ORIGIN_PORT" \
		--conns "$CONNS" --inflight "$INFLIGHT" --deadline "$tmo" >"$out") &
	cpid=$!
	BENCH_PIDS+=("$cpid")
	wait_line "$out" '^READY' $((tmo + 60)) "$cpid" ||
		bench_die "$name: client gave no READY line (see above)"
	line=$(grep '^READY' "$out")
	bench_log "$name: $line"
	R[$name,held]=$(field held " $line")
	R[$name,failed]=$(field failed " $line")
	R[$name,secs]=$(field secs " $line")
	R[$name,errors]=$(field errors " $line")
	sleep "$SETTLE"
	# three samples a second apart; the last one counts (they agree when idle)
	for sec in 1 2 3; do
		read -r procs rss pss < <(tree_mem "$PROXY_PID")
		R[$name,rss]=$rss R[$name,pss]=$pss
		bench_log "$name loaded sample $sec: $procs processes, RSS $(kib_mib "${R[$name,rss]}") MiB, PSS $(kib_mib "${R[$name,pss]}") MiB"
		[ "$sec" = 3 ] || sleep 1
	done
	R[$name,procs]=$procs
	# per process, to see where the memory of a connection lives
	local q
	for q in "$PROXY_PID" $(bench_descendants "$PROXY_PID"); do
		[ -r "/proc/$q/smaps_rollup" ] || continue
		awk -v c="$(cat "/proc/$q/comm" 2>/dev/null)" '/^Rss:/ { r = $2 }
			/^Pss_Anon:/ { a = $2 } END { if (r > 0) printf "%s RSS %.1f MiB, anonymous %.1f MiB\n",
			c, r / 1024, a / 1024 }' "/proc/$q/smaps_rollup"
	done | sort | sed "s/^/[$name process] /" | tee -a "$BENCH_TMP/per-process.txt" >&2
	if [ "$name" = mitmd ]; then
		"$ROOT/build/mitmctl" -f "$BENCH_TMP/mitmd/mitmd.conf" status >"$BENCH_TMP/mitmd/status.txt" 2>&1 || true
		sed 's/^/[mitmctl status] /' "$BENCH_TMP/mitmd/status.txt" >&2
	fi
	kill -USR1 "$cpid" 2>/dev/null || true
	wait_line "$out" '^CLOSED' 60 "$cpid" || bench_log "$name: client did not confirm CLOSED"
	line=$(grep '^ALIVE' "$out" || true)
	R[$name,dropped]=$(field dropped " $line")
	R[$name,alive]=$(field held " $line")
	wait "$cpid" 2>/dev/null || true
	bench_forget_pid "$cpid"
	sleep 5
	read -r procs rss pss < <(tree_mem "$PROXY_PID")
	R[$name,after_rss]=$rss
	bench_log "$name after close: RSS $(kib_mib "${R[$name,after_rss]}") MiB"
	# what the proxy logged about trouble (warnings, fd exhaustion, pauses),
	# less mitmd's expected warning about upstream verify no
	local trouble='warn|error|fatal|too many|emfile|enfile|paus|refus|limit|fail'
	R[$name,logwarn]=$(grep -Ei "$trouble" "$PROXY_LOG" | grep -vc "'upstream verify no'" || true)
	grep -Ei "$trouble" "$PROXY_LOG" | grep -v "'upstream verify no'" |
		sed 's/\[[0-9]*\]//' | sort | uniq -c | sort -rn | head -20 | sed "s/^/[$name log] /" >&2 || true
	bench_stop_proxy
}

IFS=, read -r -a LIST <<<"$PROXIES"
for p in "${LIST[@]}"; do run_proxy "$p"; done

# ---------------------------------------------------------------- report
echo
echo "bench-memory: $CONNS idle intercepted TLS connections (CONNECT + TLS + one GET /small, keep-alive)"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  host: nproc=$(nproc)" \
	"mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" \
	"kernel=$(uname -r)  mitmd=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')" \
	"mitmproxy=$(dpkg-query -W -f '${Version}' mitmproxy 2>/dev/null || echo '?')"
printf '%-10s %5s %11s %6s %7s %6s %8s %9s %9s %8s %8s %9s\n' \
	proxy procs held/target failed dropped open_s idleRSS loadedRSS loadedPSS \
	KiB/conn PSS/conn afterRSS
for p in "${LIST[@]}"; do
	awk -v p="$p" -v procs="${R[$p,procs]}" -v held="${R[$p,held]:-0}" -v want="$CONNS" \
		-v failed="${R[$p,failed]:-0}" -v dropped="${R[$p,dropped]:-?}" -v secs="${R[$p,secs]:-0}" \
		-v ir="${R[$p,idle_rss]}" -v ip="${R[$p,idle_pss]}" -v r="${R[$p,rss]}" -v s="${R[$p,pss]}" \
		-v ar="${R[$p,after_rss]}" 'BEGIN {
		n = held - (dropped ~ /^[0-9]+$/ ? dropped : 0)
		printf "%-10s %5d %11s %6d %7s %6.1f %8.1f %9.1f %9.1f %8s %8s %9.1f\n",
			p, procs, held "/" want, failed, dropped, secs, ir / 1024, r / 1024, s / 1024,
			(n > 0 ? sprintf("%.1f", (r - ir) / n) : "-"),
			(n > 0 ? sprintf("%.1f", (s - ip) / n) : "-"), ar / 1024 }'
done
echo "(MiB summed over the process tree; KiB/conn = (loaded - idle) / connections still open at sampling;"
echo " open_s: seconds to open them; afterRSS: 5 s after the client closed all)"
for p in "${LIST[@]}"; do
	[ "${R[$p,errors]:-none}" = none ] || echo "$p: client errors: ${R[$p,errors]}"
	[ "${R[$p,logwarn]:-0}" = 0 ] || echo "$p: ${R[$p,logwarn]} warning/error lines in its log (stderr of this run)"
done
bench_log "done in $(($(date +%s) - T0)) s"
