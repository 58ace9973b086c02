/*
 * The figures of webui's status page and /metrics (IMSG_WEB_STATUS):
 * every MASTER_WEBSTAT_SEC master sends webui one snapshot of what
 * `mitmctl status` shows (each process with its counters, from the
 * children's last IMSG_STATUS), the TLS failures since start by reason,
 * the learned passthroughs and the listeners. webui keeps the last one
 * and renders it on request; it never asks, so a page load costs master
 * nothing and webui learns nothing it could not show.
 */
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

static struct event *webstat_ev;

/* The snapshot; static, it is large and master has one event loop. */
static void
webstat_fill(struct web_status *ws)
{
	const struct mitmd_conf *c = master->m_conf;
	size_t		 i;

	memset(ws, 0, sizeof(*ws));
	ws->ws_now_usec = util_wall_usec();
	ws->ws_start_usec = master->m_start_wall;
	tlsstat_totals(ws->ws_tls_fail, nitems(ws->ws_tls_fail),
	    &ws->ws_passthrough);
	control_master_info(&ws->ws_procs[ws->ws_nprocs++]);
	for (i = 0; i < master->m_nprocs && ws->ws_nprocs < WEB_STATUS_PROCS;
	    i++)
		control_proc_info(&master->m_procs[i],
		    &ws->ws_procs[ws->ws_nprocs++]);
	for (i = 0; i < c->mc_nlisteners && i < CONF_MAX_LISTENERS; i++) {
		ws->ws_listeners[i].wsl_id = c->mc_listeners[i].cl_id;
		ws->ws_listeners[i].wsl_kind = c->mc_listeners[i].cl_kind;
		ws->ws_listeners[i].wsl_addr = c->mc_listeners[i].cl_addr;
		ws->ws_nlisteners++;
	}
}

static void
webstat_send(evutil_socket_t fd, short ev, void *arg)
{
	static struct web_status ws;
	struct proc	*w = proc_find_role(ROLE_WEBUI);

	(void)fd;
	(void)ev;
	(void)arg;
	if (w == NULL || w->p_pid == 0 || w->p_chan == NULL ||
	    w->p_state != PROC_RUNNING)
		return;
	webstat_fill(&ws);
	if (ipc_send_web_status(w->p_chan, 0, -1, &ws) == -1)
		log_debug("status to webui: not sent");
}

void
webstat_init(void)
{
	struct timeval tv = { MASTER_WEBSTAT_SEC, 0 };

	webstat_ev = event_new(master->m_base, -1, EV_PERSIST, webstat_send,
	    NULL);
	if (webstat_ev == NULL || event_add(webstat_ev, &tv) == -1)
		fatalx("webui status timer");
}
