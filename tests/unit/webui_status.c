/*
 * Unit test of webui/status.c: a snapshot from master checked (counts in
 * range), the connection rate between two snapshots (and none across a
 * worker's respawn), the status page and /metrics from the same figures,
 * HELP and TYPE lines, label values escaped.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/addr.h"
#include "webui/webui.h"
#include "tests/unit/evstr.h"
#include "tests/unit/unit.h"

#define T_OUT_MAX 65536

static char *
render(const struct webui_stat *st, const struct webui_ca *wc, int metrics)
{
	static char	 s[T_OUT_MAX];
	struct evbuffer	*b = evbuffer_new();

	return (t_evstr(b, metrics ? webui_metrics(b, st, wc) :
	    webui_status_html(b, st, wc), s, sizeof(s)));
}

static void
snapshot(struct web_status *ws, uint64_t now, uint64_t total)
{
	memset(ws, 0, sizeof(*ws));
	ws->ws_start_usec = 1000000;
	ws->ws_now_usec = now;
	ws->ws_nprocs = 2;
	ws->ws_procs[0].cp_role = ROLE_MASTER;
	ws->ws_procs[0].cp_pid = 100;
	ws->ws_procs[0].cp_state = PROC_RUNNING;
	ws->ws_procs[1].cp_role = ROLE_TLSWORKER;
	ws->ws_procs[1].cp_pid = 101;
	ws->ws_procs[1].cp_uid = 999;
	ws->ws_procs[1].cp_sandbox = SANDBOX_ALL;
	ws->ws_procs[1].cp_state = PROC_RUNNING;
	ws->ws_procs[1].cp_restarts = 3;
	ws->ws_procs[1].cp_open = 7;
	ws->ws_procs[1].cp_total = total;
	ws->ws_procs[1].cp_start_usec = 1000000;
	ws->ws_tls_fail[TLSF_UNKNOWN_CA] = 5;
	ws->ws_passthrough = 2;
	ws->ws_nlisteners = 1;
	ws->ws_listeners[0].wsl_kind = LISTENER_PROXY;
	addr_parse_ip("127.0.0.1", &ws->ws_listeners[0].wsl_addr);
	ws->ws_listeners[0].wsl_addr.a_port = 8080;
}

int
main(void)
{
	static struct web_status ws;
	struct webui_stat st;
	struct webui_ca	 wc;
	char		*s;

	memset(&st, 0, sizeof(st));
	memset(&wc, 0, sizeof(wc));
	s = render(&st, &wc, 0);
	ok(strstr(s, "No figures yet") != NULL, "status page before a "
	    "snapshot");
	s = render(&st, &wc, 1);
	ok(strstr(s, "mitmd_webui_requests_total 0") != NULL &&
	    strstr(s, "mitmd_uptime_seconds") == NULL,
	    "metrics before a snapshot: webui's own only");

	snapshot(&ws, 11000000, 100);
	ws.ws_nprocs = WEB_STATUS_PROCS + 1;
	ok(webui_stat_update(&st, &ws) == -1 && !st.st_has,
	    "too many processes refused");
	snapshot(&ws, 11000000, 100);
	ws.ws_nlisteners = CONF_MAX_LISTENERS + 1;
	ok(webui_stat_update(&st, &ws) == -1, "too many listeners refused");
	snapshot(&ws, 11000000, 100);
	ws.ws_nprocs = 0;
	ok(webui_stat_update(&st, &ws) == -1, "no process refused");

	snapshot(&ws, 11000000, 100);
	ok(webui_stat_update(&st, &ws) == 0 && st.st_fps == 0,
	    "first snapshot: no rate yet");
	snapshot(&ws, 13000000, 140);
	ok(webui_stat_update(&st, &ws) == 0 && st.st_fps > 19.99 &&
	    st.st_fps < 20.01, "40 connections in 2 s: 20 a second");
	snapshot(&ws, 15000000, 10);
	ok(webui_stat_update(&st, &ws) == 0 && st.st_fps == 0,
	    "a respawned worker: no rate");
	snapshot(&ws, 17000000, 30);
	ok(webui_stat_update(&st, &ws) == 0 && st.st_fps > 9.99 &&
	    st.st_fps < 10.01, "then the rate again");

	s = render(&st, &wc, 0);
	ok(strstr(s, "id=\"uptime\">16 s<") != NULL, "page: uptime");
	ok(strstr(s, "<td>tlsworker</td><td>0</td><td>101</td><td>999</td>"
	    "<td>full</td><td>running</td>") != NULL, "page: a worker row");
	ok(strstr(s, "<td>master</td><td>0</td><td>100</td><td>0</td>"
	    "<td>none</td>") != NULL, "page: master row");
	ok(strstr(s, "id=\"open\">7<") != NULL &&
	    strstr(s, "id=\"fps\">10.00<") != NULL &&
	    strstr(s, "id=\"passthrough\">2<") != NULL, "page: summary");
	ok(strstr(s, "<th>unknown_ca</th><td>5</td>") != NULL,
	    "page: TLS failures");
	ok(strstr(s, "<th>proxy</th><td><code>127.0.0.1:8080</code>") != NULL,
	    "page: listeners");

	s = render(&st, &wc, 1);
	ok(strstr(s, "# HELP mitmd_uptime_seconds ") != NULL &&
	    strstr(s, "# TYPE mitmd_uptime_seconds gauge\n"
	    "mitmd_uptime_seconds 16\n") != NULL, "metrics: uptime");
	ok(strstr(s, "mitmd_process_info{role=\"tlsworker\",index=\"0\","
	    "pid=\"101\",uid=\"999\",sandbox=\"full\",state=\"running\"} 1\n")
	    != NULL, "metrics: process info");
	ok(strstr(s, "mitmd_process_restarts_total{role=\"tlsworker\","
	    "index=\"0\"} 3\n") != NULL, "metrics: restarts");
	ok(strstr(s, "mitmd_tls_failures_total{reason=\"unknown_ca\"} 5\n")
	    != NULL && strstr(s, "mitmd_tls_failures_total{reason=\"other\"} "
	    "0\n") != NULL, "metrics: TLS failures by reason");
	ok(strstr(s, "mitmd_flows_per_second 10.000\n") != NULL &&
	    strstr(s, "mitmd_open_connections 7\n") != NULL &&
	    strstr(s, "mitmd_connections_total 30\n") != NULL &&
	    strstr(s, "mitmd_passthrough_hosts 2\n") != NULL,
	    "metrics: the summary");
	ok(strstr(s, "mitmd_listener_info{kind=\"proxy\",address="
	    "\"127.0.0.1:8080\"} 1\n") != NULL, "metrics: listeners");

	wc.wc_pem = (char *)"x";
	snprintf(wc.wc_name, sizeof(wc.wc_name), "a\"b\\c\nd<e>");
	snprintf(wc.wc_sha256, sizeof(wc.wc_sha256), "AB:CD");
	wc.wc_not_after_t = 2082758400;
	s = render(&st, &wc, 1);
	ok(strstr(s, "mitmd_ca_info{sha256=\"AB:CD\",name=\"a\\\"b\\\\c\\nd<e>\"}"
	    " 1\n") != NULL, "metrics: label value escaped");
	ok(strstr(s, "mitmd_ca_not_after_seconds 2082758400\n") != NULL,
	    "metrics: CA expiry");
	s = render(&st, &wc, 0);
	ok(strstr(s, "a&quot;b\\c?d&lt;e&gt;") != NULL, "page: name escaped");
	return (unit_done());
}
