/*
 * mitmd-acceptor: started by master with its channel on fd 3. Receives the
 * client ACL and the proxy listening sockets, enters its sandbox, then
 * accepts clients and hands each fd to a tlsworker (acceptor/accept.c)
 * over the channels master sends as IMSG_PEER (acceptor/worker.c).
 */
#include <sys/time.h>

#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "acceptor/acceptor.h"
#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

/* What the acceptor adds to sandbox_base_calls. */
static const struct sandbox_call acceptor_calls[] = {
	SC(accept4),
	SC(getsockname),
};

static void	acceptor_conf(struct ipc_msg *, void *);
static void	acceptor_conf_end(struct acceptor *);
static void	acceptor_dispatch(struct ipc_chan *, struct ipc_msg *, void *);
static void	acceptor_shutdown(struct acceptor *);
static void	acceptor_drain_cb(int, short, void *);

/*
 * One message of a configuration set, at start (child_read_conf) or on a
 * reload (acceptor_dispatch). Nothing takes effect before IMSG_CONF_END.
 */
static void
acceptor_conf(struct ipc_msg *m, void *arg)
{
	struct acceptor *acc = arg;
	struct conf_allow ca;
	struct conf_listener cl;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
		if (ipc_get_conf_global(m, &acc->ac_next_global) == -1)
			fatalx("bad IMSG_CONF_GLOBAL");
		break;
	case IMSG_CONF_ALLOW:
		if (ipc_get_conf_allow(m, &ca) == -1)
			fatalx("bad IMSG_CONF_ALLOW");
		if (acceptor_acl_add(&acc->ac_next_acl, &ca) == -1)
			log_warnx("more than %d allow entries, line %u "
			    "ignored", CONF_MAX_ALLOW, ca.ca_line);
		break;
	case IMSG_CONF_LISTENER:
		if (ipc_get_conf_listener(m, &cl) == -1)
			fatalx("bad IMSG_CONF_LISTENER");
		if ((cl.cl_kind != LISTENER_PROXY &&
		    cl.cl_kind != LISTENER_REVERSE) || m->im_fd == -1 ||
		    acc->ac_next_nl >= CONF_MAX_LISTENERS) {
			log_warnx("listener %u (kind %u) not for the "
			    "acceptor, ignored", cl.cl_id, cl.cl_kind);
			break;	/* the channel closes the fd */
		}
		acc->ac_next_lfd[acc->ac_next_nl] = m->im_fd;
		acc->ac_next_lid[acc->ac_next_nl] = cl.cl_id;
		acc->ac_next_nl++;
		m->im_fd = -1;	/* ours now */
		break;
	case IMSG_CONF_RULE:
		/* Policy is the workers' business. */
		break;
	case IMSG_CONF_END:
		/* child_read_conf() passes the end of the first set too. */
		acceptor_conf_end(acc);
		break;
	default:
		log_warnx("unexpected %s in a configuration set",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

/* Apply the set received: the new ACL replaces the old one whole. */
static void
acceptor_conf_end(struct acceptor *acc)
{
	size_t i;

	acc->ac_global = acc->ac_next_global;
	acc->ac_acl = acc->ac_next_acl;
	acceptor_acl_clear(&acc->ac_next_acl);
	for (i = 0; i < acc->ac_next_nl; i++) {
		/* Listeners come at start only, but take what master sends. */
		if (acc->ac_draining)
			close(acc->ac_next_lfd[i]);
		else if (acceptor_listen(acc, acc->ac_next_lfd[i],
		    acc->ac_next_lid[i]) == -1)
			log_warnx("listener %u: cannot watch it",
			    acc->ac_next_lid[i]);
	}
	acc->ac_next_nl = 0;
	acc->ac_nsets++;
	/* A higher connection limit may let a paused acceptor go on. */
	acceptor_resume(acc);
	log_debug("configuration: %zu allow entries, %zu listener(s), "
	    "max %u connections per worker", acc->ac_acl.aa_n, acc->ac_nls,
	    acc->ac_global.cg_max_conns);
}

static void
acceptor_dispatch(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct acceptor *acc = arg;
	struct ipc_peer ip;
	struct ipc_status st;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
	case IMSG_CONF_ALLOW:
	case IMSG_CONF_LISTENER:
	case IMSG_CONF_RULE:
	case IMSG_CONF_END:
		acceptor_conf(m, acc);
		break;
	case IMSG_PEER:
		if (ipc_get_peer(m, &ip) == -1)
			fatalx("bad IMSG_PEER");
		if (ip.ip_role != ROLE_TLSWORKER || m->im_fd == -1) {
			log_warnx("peer: role %s without a socket, ignored",
			    role_name(ip.ip_role));
			break;
		}
		acceptor_worker_attach(acc, ip.ip_index, ip.ip_pid, m->im_fd);
		m->im_fd = -1;
		break;
	case IMSG_STATUS_REQ:
		memset(&st, 0, sizeof(st));
		st.st_open = acceptor_inflight(acc);
		st.st_state = acc->ac_draining ? 1 : 0;
		st.st_total = acc->ac_total;
		ipc_send_status(chan, m->im_hdr.ih_reqid, -1, &st);
		break;
	case IMSG_SHUTDOWN:
		acceptor_shutdown(acc);
		break;
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

/*
 * Stop accepting; leave once every handoff in flight is acknowledged (the
 * workers then own the connections), or after the drain timeout, by which
 * time master kills us anyway.
 */
static void
acceptor_shutdown(struct acceptor *acc)
{
	struct timeval tv;

	if (acc->ac_draining)
		return;
	acc->ac_draining = 1;
	acceptor_close_listeners(acc);
	log_debug("shutdown: %u handoff(s) in flight", acceptor_inflight(acc));
	tv.tv_sec = acc->ac_global.cg_drain_tmo ? acc->ac_global.cg_drain_tmo :
	    CONF_DEF_DRAIN_TMO;
	tv.tv_usec = 0;
	if ((acc->ac_drain_ev = evtimer_new(acc->ac_base, acceptor_drain_cb,
	    acc)) != NULL)
		evtimer_add(acc->ac_drain_ev, &tv);
	acceptor_capacity_changed(acc);
}

static void
acceptor_drain_cb(int fd, short ev, void *arg)
{
	struct acceptor *acc = arg;

	(void)fd;
	(void)ev;
	log_warnx("shutdown: %u handoff(s) never acknowledged",
	    acceptor_inflight(acc));
	acceptor_exit(acc, 0);
}

int
main(int argc, char *argv[])
{
	static struct acceptor acc;	/* large: keep it off the stack */
	struct child	   ch;
	struct sandbox_opts so;
	struct event_base *base;

	(void)argc;
	(void)argv;
	child_init(&ch, ROLE_ACCEPTOR, "acceptor");

	/* The base first, so its epoll fd exists before the sandbox and
	 * the listeners can be watched as soon as the set is applied. */
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	acceptor_init(&acc, base, &ch);

	child_read_conf(&ch, acceptor_conf, &acc);
	if (acc.ac_nsets == 0)
		acceptor_conf_end(&acc);
	if (acc.ac_nls == 0)
		log_warnx("no proxy listener: nothing to accept");

	/* Nothing to load from files: straight into the sandbox. */
	child_sandbox_opts(&ch, &so);
	so.so_calls = acceptor_calls;
	so.so_ncalls = nitems(acceptor_calls);
	ch.ch_sandbox |= sandbox_drop(&so);
	ch.ch_sandbox |= sandbox_confine(&so);

	child_ready(&ch, base, acceptor_dispatch, &acc);
	event_base_dispatch(base);
	return (0);
}
