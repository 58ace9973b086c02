/*
 * The status page (/status) and the Prometheus text (/metrics) of webui,
 * both from the last snapshot master sent (IMSG_WEB_STATUS, every few
 * seconds, master/webstat.c) and the CA certificate webui holds: uptime,
 * each process (role, pid, uid, sandbox, state, restarts), open
 * connections, connections a second, TLS failures by reason, learned
 * passthroughs, the CA, the listeners. Pure functions over an evbuffer;
 * the same figures in both, so a scraper and a person agree.
 *
 * /metrics follows the Prometheus text exposition format 0.0.4: a HELP
 * and a TYPE line per metric, names prefixed mitmd_, label values
 * escaped (backslash, double quote, newline).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/addr.h"
#include "common/util.h"
#include "webui/webui.h"

#define WEBUI_USEC	1000000ULL

/* Sum of the tlsworkers' connection counters. */
static uint64_t
webui_stat_total(const struct web_status *ws, uint64_t *open)
{
	uint64_t t = 0;
	size_t	 i;

	*open = 0;
	for (i = 0; i < ws->ws_nprocs; i++)
		if (ws->ws_procs[i].cp_role == ROLE_TLSWORKER) {
			t += ws->ws_procs[i].cp_total;
			*open += ws->ws_procs[i].cp_open;
		}
	return (t);
}

int
webui_stat_update(struct webui_stat *st, const struct web_status *ws)
{
	uint64_t open, total;

	if (ws->ws_nprocs == 0 || ws->ws_nprocs > WEB_STATUS_PROCS ||
	    ws->ws_nlisteners > CONF_MAX_LISTENERS)
		return (-1);
	total = webui_stat_total(ws, &open);
	/* A respawned worker starts again from 0: no rate that time. */
	if (st->st_has && ws->ws_now_usec > st->st_prev_usec &&
	    total >= st->st_prev_total)
		st->st_fps = (double)(total - st->st_prev_total) *
		    (double)WEBUI_USEC /
		    (double)(ws->ws_now_usec - st->st_prev_usec);
	else
		st->st_fps = 0;
	st->st_prev_total = total;
	st->st_prev_usec = ws->ws_now_usec;
	st->st_ws = *ws;
	st->st_has = 1;
	return (0);
}

static const char *
webui_sandbox_str(const struct ctl_proc *p)
{
	if (p->cp_role == ROLE_MASTER)
		return ("none");
	if ((p->cp_sandbox & SANDBOX_ALL) == SANDBOX_ALL)
		return ("full");
	if (p->cp_sandbox & SANDBOX_SECCOMP)
		return ("seccomp-only");
	return ("unknown");
}

static const char *
webui_state_str(uint32_t s)
{
	switch (s) {
	case PROC_STARTING:
		return ("starting");
	case PROC_RUNNING:
		return ("running");
	case PROC_BACKOFF:
		return ("restarting");
	case PROC_DRAINING:
		return ("draining");
	default:
		return ("stopped");
	}
}

static const char *
webui_kind_str(uint32_t k)
{
	switch (k) {
	case LISTENER_PROXY:
		return ("proxy");
	case LISTENER_WEBUI:
		return ("webui");
	case LISTENER_REVERSE:
		return ("reverse");
	default:
		return ("unknown");
	}
}

static uint64_t
webui_uptime(const struct web_status *ws, uint64_t start)
{
	return (ws->ws_now_usec > start ? (ws->ws_now_usec - start) /
	    WEBUI_USEC : 0);
}

/* --- /status ----------------------------------------------------------- */

static const char webui_status_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>mitmd status</title>\n"
    "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;"
    "padding:0 1em;line-height:1.4}table{border-collapse:collapse}"
    "th,td{text-align:left;padding:.15em .8em .15em 0}"
    "code{word-break:break-all}</style>\n"
    "</head><body>\n<h1>mitmd status</h1>\n"
    "<p><a href=\"/\">Install the CA</a> &middot; "
    "<a href=\"/metrics\">Prometheus metrics</a></p>\n";

static int
webui_status_summary(struct evbuffer *b, const struct webui_stat *st)
{
	const struct web_status *ws = &st->st_ws;
	uint64_t open;

	(void)webui_stat_total(ws, &open);
	return (evbuffer_add_printf(b, "<table id=\"summary\">\n"
	    "<tr><th>Uptime</th><td id=\"uptime\">%llu s</td></tr>\n"
	    "<tr><th>Open connections</th><td id=\"open\">%llu</td></tr>\n"
	    "<tr><th>Connections per second</th><td id=\"fps\">%.2f</td>"
	    "</tr>\n<tr><th>Pinned hosts learned (passthrough)</th>"
	    "<td id=\"passthrough\">%u</td></tr>\n</table>\n",
	    (unsigned long long)webui_uptime(ws, ws->ws_start_usec),
	    (unsigned long long)open, st->st_fps, ws->ws_passthrough) < 0 ?
	    -1 : 0);
}

static int
webui_status_procs(struct evbuffer *b, const struct web_status *ws)
{
	const struct ctl_proc *p;
	size_t	 i;

	if (evbuffer_add_printf(b, "<h2>Processes</h2>\n<table id=\"procs\">\n"
	    "<tr><th>Role</th><th>Index</th><th>PID</th><th>UID</th>"
	    "<th>Sandbox</th><th>State</th><th>Uptime</th><th>Open</th>"
	    "<th>Total</th><th>Restarts</th></tr>\n") < 0)
		return (-1);
	for (i = 0; i < ws->ws_nprocs; i++) {
		p = &ws->ws_procs[i];
		if (evbuffer_add_printf(b, "<tr><td>%s</td><td>%u</td>"
		    "<td>%u</td><td>%u</td><td>%s</td><td>%s</td>"
		    "<td>%llu s</td><td>%u</td><td>%llu</td><td>%u</td></tr>\n",
		    role_name(p->cp_role), p->cp_index, p->cp_pid, p->cp_uid,
		    webui_sandbox_str(p), webui_state_str(p->cp_state),
		    (unsigned long long)(p->cp_pid ? webui_uptime(ws,
		    p->cp_start_usec) : 0), p->cp_open,
		    (unsigned long long)p->cp_total, p->cp_restarts) < 0)
			return (-1);
	}
	return (evbuffer_add_printf(b, "</table>\n") < 0 ? -1 : 0);
}

static int
webui_status_tls(struct evbuffer *b, const struct web_status *ws)
{
	uint32_t r;

	if (evbuffer_add_printf(b, "<h2>TLS failures since start</h2>\n"
	    "<table id=\"tls\">\n") < 0)
		return (-1);
	for (r = 0; r < TLSF_MAX; r++)
		if (evbuffer_add_printf(b, "<tr><th>%s</th><td>%llu</td></tr>\n",
		    tls_failure_name(r),
		    (unsigned long long)ws->ws_tls_fail[r]) < 0)
			return (-1);
	return (evbuffer_add_printf(b, "</table>\n") < 0 ? -1 : 0);
}

static int
webui_status_listeners(struct evbuffer *b, const struct web_status *ws)
{
	char	 a[ADDR_STRLEN];
	size_t	 i;

	if (evbuffer_add_printf(b, "<h2>Listeners</h2>\n"
	    "<table id=\"listeners\">\n") < 0)
		return (-1);
	for (i = 0; i < ws->ws_nlisteners; i++) {
		addr_str(&ws->ws_listeners[i].wsl_addr, 1, a, sizeof(a));
		if (evbuffer_add_printf(b, "<tr><th>%s</th><td><code>%s</code>"
		    "</td></tr>\n", webui_kind_str(ws->ws_listeners[i].wsl_kind),
		    a) < 0)
			return (-1);
	}
	return (evbuffer_add_printf(b, "</table>\n") < 0 ? -1 : 0);
}

static int
webui_status_ca(struct evbuffer *b, const struct webui_ca *wc)
{
	if (wc->wc_pem == NULL)
		return (evbuffer_add_printf(b, "<h2>CA</h2>\n<p>Not available "
		    "yet.</p>\n") < 0 ? -1 : 0);
	if (evbuffer_add_printf(b, "<h2>CA</h2>\n<table id=\"ca\">\n"
	    "<tr><th>Name</th><td>") < 0 ||
	    webui_html_text(b, wc->wc_name) == -1 ||
	    evbuffer_add_printf(b, "</td></tr>\n<tr><th>SHA-256</th><td><code>"
	    "%s</code></td></tr>\n<tr><th>Valid until</th><td>%s</td></tr>\n"
	    "</table>\n", wc->wc_sha256, wc->wc_not_after) < 0)
		return (-1);
	return (0);
}

int
webui_status_html(struct evbuffer *b, const struct webui_stat *st,
    const struct webui_ca *wc)
{
	if (evbuffer_add(b, webui_status_head, strlen(webui_status_head)) ==
	    -1)
		return (-1);
	if (!st->st_has) {
		if (evbuffer_add_printf(b, "<p>No figures yet: mitmd is "
		    "starting. Reload in a few seconds.</p>\n") < 0)
			return (-1);
	} else if (webui_status_summary(b, st) == -1 ||
	    webui_status_procs(b, &st->st_ws) == -1 ||
	    webui_status_tls(b, &st->st_ws) == -1 ||
	    webui_status_listeners(b, &st->st_ws) == -1)
		return (-1);
	if (webui_status_ca(b, wc) == -1 ||
	    evbuffer_add_printf(b, "</body></html>\n") < 0)
		return (-1);
	return (0);
}

/* --- /metrics ---------------------------------------------------------- */

/* A label value: \ " and newline escaped; other control bytes, which
 * no scraper expects, become '?'. */
static int
webui_label(struct evbuffer *b, const char *s)
{
	int	 rv = 0;

	for (; *s != '\0' && rv == 0; s++) {
		if (*s == '\\' || *s == '"')
			rv = evbuffer_add_printf(b, "\\%c", *s) < 0 ? -1 : 0;
		else if (*s == '\n')
			rv = evbuffer_add(b, "\\n", 2);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			rv = evbuffer_add(b, "?", 1);
		else
			rv = evbuffer_add(b, s, 1);
	}
	return (rv);
}

static int
webui_m_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	return (evbuffer_add_printf(b, "# HELP mitmd_%s %s\n# TYPE mitmd_%s "
	    "%s\n", name, help, name, type) < 0 ? -1 : 0);
}

/* One sample per process of a counter or gauge of ctl_proc. */
static int
webui_m_procs(struct evbuffer *b, const struct web_status *ws,
    const char *name, const char *type, const char *help, size_t off,
    int wide)
{
	const struct ctl_proc *p;
	uint64_t v;
	size_t	 i;

	if (webui_m_head(b, name, type, help) == -1)
		return (-1);
	for (i = 0; i < ws->ws_nprocs; i++) {
		p = &ws->ws_procs[i];
		if (wide)
			memcpy(&v, (const char *)p + off, sizeof(v));
		else {
			uint32_t v32;

			memcpy(&v32, (const char *)p + off, sizeof(v32));
			v = v32;
		}
		if (evbuffer_add_printf(b, "mitmd_%s{role=\"%s\",index=\"%u\"} "
		    "%llu\n", name, role_name(p->cp_role), p->cp_index,
		    (unsigned long long)v) < 0)
			return (-1);
	}
	return (0);
}

static int
webui_m_info(struct evbuffer *b, const struct web_status *ws)
{
	const struct ctl_proc *p;
	size_t	 i;

	if (webui_m_head(b, "process_info", "gauge", "Each process of mitmd; "
	    "1 while it has a pid.") == -1)
		return (-1);
	for (i = 0; i < ws->ws_nprocs; i++) {
		p = &ws->ws_procs[i];
		if (evbuffer_add_printf(b, "mitmd_process_info{role=\"%s\","
		    "index=\"%u\",pid=\"%u\",uid=\"%u\",sandbox=\"%s\","
		    "state=\"%s\"} %d\n", role_name(p->cp_role), p->cp_index,
		    p->cp_pid, p->cp_uid, webui_sandbox_str(p),
		    webui_state_str(p->cp_state), p->cp_pid != 0) < 0)
			return (-1);
	}
	return (0);
}

static int
webui_m_master(struct evbuffer *b, const struct webui_stat *st)
{
	const struct web_status *ws = &st->st_ws;
	uint64_t open, total = webui_stat_total(ws, &open);
	uint32_t r;

	if (webui_m_head(b, "uptime_seconds", "gauge", "Seconds since mitmd "
	    "started.") == -1 || evbuffer_add_printf(b,
	    "mitmd_uptime_seconds %llu\n", (unsigned long long)
	    webui_uptime(ws, ws->ws_start_usec)) < 0 ||
	    webui_m_head(b, "open_connections", "gauge", "Client connections "
	    "open on the tlsworkers.") == -1 || evbuffer_add_printf(b,
	    "mitmd_open_connections %llu\n", (unsigned long long)open) < 0 ||
	    webui_m_head(b, "connections_total", "counter", "Client "
	    "connections the tlsworkers took (since each one started).") ==
	    -1 || evbuffer_add_printf(b, "mitmd_connections_total %llu\n",
	    (unsigned long long)total) < 0 ||
	    webui_m_head(b, "flows_per_second", "gauge", "Connections a "
	    "second over the last status period.") == -1 ||
	    evbuffer_add_printf(b, "mitmd_flows_per_second %.3f\n",
	    st->st_fps) < 0 ||
	    webui_m_head(b, "passthrough_hosts", "gauge", "Pinned hosts "
	    "learned: tunnelled instead of intercepted.") == -1 ||
	    evbuffer_add_printf(b, "mitmd_passthrough_hosts %u\n",
	    ws->ws_passthrough) < 0 ||
	    webui_m_head(b, "tls_failures_total", "counter", "TLS handshake "
	    "failures since start, by reason.") == -1)
		return (-1);
	for (r = 0; r < TLSF_MAX; r++)
		if (evbuffer_add_printf(b, "mitmd_tls_failures_total{reason="
		    "\"%s\"} %llu\n", tls_failure_name(r),
		    (unsigned long long)ws->ws_tls_fail[r]) < 0)
			return (-1);
	return (0);
}

static int
webui_m_listeners(struct evbuffer *b, const struct web_status *ws)
{
	char	 a[ADDR_STRLEN];
	size_t	 i;

	if (webui_m_head(b, "listener_info", "gauge", "The listening "
	    "sockets.") == -1)
		return (-1);
	for (i = 0; i < ws->ws_nlisteners; i++) {
		addr_str(&ws->ws_listeners[i].wsl_addr, 1, a, sizeof(a));
		if (evbuffer_add_printf(b, "mitmd_listener_info{kind=\"%s\","
		    "address=\"", webui_kind_str(ws->ws_listeners[i].wsl_kind))
		    < 0 || webui_label(b, a) == -1 ||
		    evbuffer_add_printf(b, "\"} 1\n") < 0)
			return (-1);
	}
	return (0);
}

static int
webui_m_ca(struct evbuffer *b, const struct webui_ca *wc)
{
	if (wc->wc_pem == NULL)
		return (0);
	if (webui_m_head(b, "ca_info", "gauge", "The CA certificate served.")
	    == -1 || evbuffer_add_printf(b, "mitmd_ca_info{sha256=\"%s\","
	    "name=\"", wc->wc_sha256) < 0 || webui_label(b, wc->wc_name) ==
	    -1 || evbuffer_add_printf(b, "\"} 1\n") < 0 ||
	    webui_m_head(b, "ca_not_after_seconds", "gauge", "When the CA "
	    "certificate expires, seconds since the epoch.") == -1 ||
	    evbuffer_add_printf(b, "mitmd_ca_not_after_seconds %lld\n",
	    (long long)wc->wc_not_after_t) < 0)
		return (-1);
	return (0);
}

int
webui_metrics(struct evbuffer *b, const struct webui_stat *st,
    const struct webui_ca *wc)
{
	const struct web_status *ws = &st->st_ws;

	if (webui_m_head(b, "webui_requests_total", "counter", "HTTP "
	    "requests webui answered.") == -1 || evbuffer_add_printf(b,
	    "mitmd_webui_requests_total %llu\n",
	    (unsigned long long)st->st_requests) < 0 ||
	    webui_m_head(b, "events_total", "counter", "Events webui "
	    "accepted from the workers.") == -1 || evbuffer_add_printf(b,
	    "mitmd_events_total %llu\n", (unsigned long long)st->st_events)
	    < 0 || webui_m_ca(b, wc) == -1)
		return (-1);
	if (!st->st_has)
		return (0);
	if (webui_m_master(b, st) == -1 || webui_m_info(b, ws) == -1 ||
	    webui_m_procs(b, ws, "process_restarts_total", "counter",
	    "Restarts of each process.", offsetof(struct ctl_proc,
	    cp_restarts), 0) == -1 ||
	    webui_m_procs(b, ws, "process_open_connections", "gauge",
	    "Connections open on each process.", offsetof(struct ctl_proc,
	    cp_open), 0) == -1 ||
	    webui_m_procs(b, ws, "process_handled_total", "counter",
	    "Connections or requests each process handled.",
	    offsetof(struct ctl_proc, cp_total), 1) == -1 ||
	    webui_m_listeners(b, ws) == -1)
		return (-1);
	return (0);
}
