/*
 * Process-wide state of a tlsworker: the configuration set (received from
 * master, applied whole at IMSG_CONF_END so a reload is atomic), the
 * counters reported in IMSG_STATUS, the load reports to the acceptor, the
 * learned passthroughs master sends, and the drain that IMSG_SHUTDOWN
 * starts.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "tlsworker/leaf.h"
#include "tlsworker/tls.h"
#include "tlsworker/tlsworker.h"

struct tlsworker tw_env;

static void	worker_defaults(struct conf_global *);
static void	worker_apply(void);
static void	worker_exit(void);
static void	worker_log_leaves(void);

static void
worker_defaults(struct conf_global *cg)
{
	memset(cg, 0, sizeof(*cg));
	cg->cg_connect_tmo = CONF_DEF_CONNECT_TMO;
	cg->cg_idle_tmo = CONF_DEF_IDLE_TMO;
	cg->cg_header_tmo = CONF_DEF_HEADER_TMO;
	cg->cg_drain_tmo = CONF_DEF_DRAIN_TMO;
	cg->cg_max_head = CONF_DEF_MAX_HEAD;
	cg->cg_max_headers = CONF_DEF_MAX_HEADERS;
	cg->cg_max_conns = CONF_DEF_MAX_CONNS;
	cg->cg_tls_min = CONF_DEF_TLS_MIN;
	cg->cg_verify = 1;
	cg->cg_events = 1;
	util_strlcpy(cg->cg_ciphers, CONF_DEF_CIPHERS, sizeof(cg->cg_ciphers));
	util_strlcpy(cg->cg_ca_file, CONF_DEF_CA_FILE, sizeof(cg->cg_ca_file));
}

void
worker_init(struct child *ch, struct event_base *base, struct evdns_base *dns)
{
	tw_env.tw_child = ch;
	tw_env.tw_base = base;
	tw_env.tw_dns = dns;
	if (tw_env.tw_conns.tqh_last == NULL)
		TAILQ_INIT(&tw_env.tw_conns);
}

/* Zero timeouts and limits would wedge or refuse everything; master
 * checks the config, this keeps a bad value from reaching the loop. */
static void
worker_sanitize(struct conf_global *cg)
{
	struct conf_global d;

	worker_defaults(&d);
	if (cg->cg_connect_tmo == 0)
		cg->cg_connect_tmo = d.cg_connect_tmo;
	if (cg->cg_idle_tmo == 0)
		cg->cg_idle_tmo = d.cg_idle_tmo;
	if (cg->cg_header_tmo == 0)
		cg->cg_header_tmo = d.cg_header_tmo;
	if (cg->cg_max_head == 0)
		cg->cg_max_head = d.cg_max_head;
	if (cg->cg_max_headers == 0)
		cg->cg_max_headers = d.cg_max_headers;
	if (cg->cg_max_conns == 0)
		cg->cg_max_conns = d.cg_max_conns;
	if (cg->cg_tls_min == 0)
		cg->cg_tls_min = d.cg_tls_min;
	cg->cg_ciphers[sizeof(cg->cg_ciphers) - 1] = '\0';
	if (cg->cg_ciphers[0] == '\0')
		memcpy(cg->cg_ciphers, d.cg_ciphers, sizeof(d.cg_ciphers));
	cg->cg_ca_file[sizeof(cg->cg_ca_file) - 1] = '\0';
	if (cg->cg_ca_file[0] == '\0')
		memcpy(cg->cg_ca_file, d.cg_ca_file, sizeof(d.cg_ca_file));
	if (cg->cg_capture_max > CONF_CAPTURE_MAX_KIB)
		cg->cg_capture_max = CONF_CAPTURE_MAX_KIB;
}

/*
 * Where the webui listens, for requests to "mitmd.cert" (conn.c). A
 * listener on every address is reached on loopback. Like the reverse
 * listeners, it changes only with a restart.
 */
static void
worker_webui(const struct conf_listener *l)
{
	static const uint8_t zero[16];
	struct addr a = l->cl_addr;

	if (a.a_family == AF_INET && memcmp(a.a_ip, zero, 4) == 0) {
		a.a_ip[0] = 127;
		a.a_ip[3] = 1;
	} else if (a.a_family == AF_INET6 && memcmp(a.a_ip, zero, 16) == 0)
		a.a_ip[15] = 1;
	else if (a.a_family != AF_INET && a.a_family != AF_INET6) {
		log_warnx("config: webui listener %u: no address", l->cl_id);
		return;
	}
	if (a.a_port == 0) {
		log_warnx("config: webui listener %u: no port", l->cl_id);
		return;
	}
	tw_env.tw_webui = a;
	tw_env.tw_webui_on = 1;
}

/*
 * One message of a configuration set, at setup (child_read_conf) or at
 * runtime (a reload, through main.c's dispatch). Nothing takes effect
 * before IMSG_CONF_END.
 */
void
worker_conf_msg(struct ipc_msg *m, void *arg)
{
	struct conf_rule	 r, *nr;
	struct conf_listener	 l;
	struct ticket_keys	 tk;

	(void)arg;
	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
		if (ipc_get_conf_global(m, &tw_env.tw_next_conf) == 0)
			tw_env.tw_next_has_global = 1;
		break;
	case IMSG_CONF_RULE:
		if (ipc_get_conf_rule(m, &r) == -1)
			break;
		if (tw_env.tw_next_nrules >= CONF_MAX_RULES) {
			tw_env.tw_next_overflow = 1;
			break;
		}
		nr = reallocarray(tw_env.tw_next_rules,
		    tw_env.tw_next_nrules + 1, sizeof(*nr));
		if (nr == NULL)
			fatal("rules");
		r.cr_pat.hp_name[sizeof(r.cr_pat.hp_name) - 1] = '\0';
		nr[tw_env.tw_next_nrules++] = r;
		tw_env.tw_next_rules = nr;
		break;
	case IMSG_CONF_LISTENER:
		if (ipc_get_conf_listener(m, &l) == -1)
			break;
		l.cl_rhost[sizeof(l.cl_rhost) - 1] = '\0';
		if (l.cl_kind == LISTENER_WEBUI) {
			worker_webui(&l);
			break;
		}
		/* Listeners change only with a restart: no set to wait for. */
		if (l.cl_kind != LISTENER_REVERSE || l.cl_id >=
		    CONF_MAX_LISTENERS || l.cl_rhost[0] == '\0' ||
		    l.cl_rport == 0 || l.cl_rport > UINT16_MAX) {
			log_warnx("config: listener %u is no reverse "
			    "listener, ignored", l.cl_id);
			break;
		}
		tw_env.tw_reverse[l.cl_id] = l;
		break;
	case IMSG_TICKET_KEYS:
		/* Not configuration: in force at once, in or out of a set. */
		if (ipc_get_ticket_keys(m, &tk) == 0)
			tls_ticket_keys(&tk);
		explicit_bzero(&tk, sizeof(tk));
		break;
	case IMSG_CONF_END:
		worker_apply();
		break;
	default:
		log_debug("config: ignoring %s", imsg_name(m->im_hdr.ih_type));
		break;
	}
}

static void
worker_apply(void)
{
	if (tw_env.tw_next_overflow) {
		/* master caps the rules too; half a rule set would be a
		 * different policy, so keep the old one whole. */
		log_warnx("config: more than %d rules, set ignored",
		    CONF_MAX_RULES);
		free(tw_env.tw_next_rules);
	} else {
		if (tw_env.tw_next_has_global)
			tw_env.tw_conf = tw_env.tw_next_conf;
		else if (tw_env.tw_conf.cg_max_head == 0)
			worker_defaults(&tw_env.tw_conf);
		worker_sanitize(&tw_env.tw_conf);
		tls_conf(&tw_env.tw_conf);
		/* Idle upstreams were made under the old settings. */
		pool_flush();
		ev_set_capture(tw_env.tw_conf.cg_capture_max);
		ev_set_enabled((int)tw_env.tw_conf.cg_events);
		/* Connections copy their decision, so the old list can go
		 * at once. */
		free(tw_env.tw_rules);
		tw_env.tw_rules = tw_env.tw_next_rules;
		tw_env.tw_nrules = tw_env.tw_next_nrules;
		log_debug("config: %zu rules", tw_env.tw_nrules);
	}
	tw_env.tw_next_rules = NULL;
	tw_env.tw_next_nrules = 0;
	tw_env.tw_next_has_global = 0;
	tw_env.tw_next_overflow = 0;
}

/*
 * Give the heap's free pages back (malloc_trim(3) releases them inside
 * the heap too): after many connections came or went, handshakes leave
 * free holes that a thousand idle connections keep from shrinking. At
 * most every TW_TRIM_SEC, from the status tick.
 */
static void
worker_trim(void)
{
	static uint64_t	 last_usec, last_total;
	static uint32_t	 last_open;
	uint64_t	 now = util_now_usec();

	if (now - last_usec < (uint64_t)TW_TRIM_SEC * TW_USEC ||
	    (tw_env.tw_total - last_total < TW_TRIM_CONNS &&
	    last_open < tw_env.tw_open + TW_TRIM_CONNS))
		return;
	(void)malloc_trim(0);
	last_usec = now;
	last_total = tw_env.tw_total;
	last_open = tw_env.tw_open;
}

void
worker_status(struct ipc_chan *c)
{
	struct ipc_status st;
	struct leaf_stats ls;

	worker_trim();
	memset(&st, 0, sizeof(st));
	leaf_stats(&ls);
	st.st_cache_hits = ls.ls_hits;
	st.st_cache_misses = ls.ls_misses;
	st.st_open = tw_env.tw_open;
	st.st_state = tw_env.tw_draining ? 1 : 0;
	st.st_total = tw_env.tw_total;
	st.st_bytes_in = tw_env.tw_bytes_in;
	st.st_bytes_out = tw_env.tw_bytes_out;
	if (ipc_send_status(c, 0, -1, &st) == -1)
		log_warnx("cannot send status");
}

/* Last words: what is queued for master (audit lines) goes out first. */
static void
worker_exit(void)
{
	ev_exit_flush();
	if (tw_env.tw_acceptor != NULL)
		ipc_chan_flush(tw_env.tw_acceptor);
	if (tw_env.tw_child != NULL && tw_env.tw_child->ch_master != NULL)
		ipc_chan_flush(tw_env.tw_child->ch_master);
	exit(0);
}

/* The leaf cache's counters, for the log (debug). */
static void
worker_log_leaves(void)
{
	struct leaf_stats ls;

	leaf_stats(&ls);
	log_debug("leaves: %u cached, %llu hits, %llu misses, %llu failed, "
	    "%u pending, generation %u, certd %s; %zu passthroughs",
	    ls.ls_cached, (unsigned long long)ls.ls_hits,
	    (unsigned long long)ls.ls_misses, (unsigned long long)ls.ls_failed,
	    ls.ls_pending, ls.ls_gen, ls.ls_certd ? "up" : "down",
	    policy_pt_count());
}

static void
worker_drain_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	log_info("drain timeout: %u connections still open, closing them",
	    tw_env.tw_open);
	conn_close_all();
	worker_exit();
}

void
worker_shutdown(void)
{
	struct timeval tv = { 0, 0 };

	if (tw_env.tw_draining)
		return;
	tw_env.tw_draining = 1;
	log_info("shutting down: %u connections open", tw_env.tw_open);
	worker_log_leaves();
	pool_flush();
	conn_drain_idle();
	if (tw_env.tw_open == 0)
		worker_exit();
	tv.tv_sec = tw_env.tw_conf.cg_drain_tmo;
	tw_env.tw_drain_ev = evtimer_new(tw_env.tw_base, worker_drain_timeout,
	    NULL);
	if (tw_env.tw_drain_ev == NULL ||
	    evtimer_add(tw_env.tw_drain_ev, &tv) == -1)
		worker_exit();
}

void
worker_conn_closed(uint64_t id)
{
	struct worker_load wl;

	if (tw_env.tw_acceptor != NULL) {
		memset(&wl, 0, sizeof(wl));
		wl.wl_conn_id = id;
		wl.wl_open = tw_env.tw_open;
		if (ipc_send_conn_closed(tw_env.tw_acceptor, 0, -1, &wl) == -1)
			log_warnx("cannot tell the acceptor conn=%llu closed",
			    (unsigned long long)id);
	}
	if (tw_env.tw_draining && tw_env.tw_open == 0) {
		log_info("drained, exiting");
		worker_exit();
	}
}

/* IMSG_PASSTHROUGH from master: a learned entry, or the table cleared. */
void
worker_passthrough(struct ipc_msg *m)
{
	struct passthrough	 p;
	char			 cbuf[ADDR_STRLEN];

	if (ipc_get_passthrough(m, &p) == -1)
		return;
	p.pt_host[sizeof(p.pt_host) - 1] = '\0';
	policy_pt_update(&p);
	if (p.pt_op == PT_ADD)
		log_debug("passthrough: %s for %s", p.pt_host,
		    p.pt_client.a_family == AF_UNSPEC ? "every client" :
		    addr_str(&p.pt_client, 0, cbuf, sizeof(cbuf)));
	else if (p.pt_op == PT_CLEAR_ALL)
		log_debug("passthrough table cleared");
}
