/*
 * The accept path of the acceptor: one persistent read event per proxy
 * listener, a bounded batch of accept4() calls per event, the client ACL,
 * and the handoff of each admitted fd to a worker with its conn_meta.
 *
 * The fd limit: one descriptor is kept in reserve. When accept4() fails
 * with EMFILE/ENFILE the reserve is closed, the pending connection accepted
 * and closed at once (the client sees a reset instead of hanging in the
 * backlog while the listener event fires forever), and the reserve is made
 * again. If even that fails, the listeners pause for ACCEPTOR_RETRY_MSEC.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "acceptor/acceptor.h"
#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

static void	acceptor_accept_cb(int, short, void *);
static void	acceptor_retry_cb(int, short, void *);
static int	acceptor_meta(struct acceptor_listener *, int,
		    const struct sockaddr_storage *, socklen_t,
		    struct conn_meta *);
static void	acceptor_conn(struct acceptor_listener *, int,
		    const struct sockaddr_storage *, socklen_t);
static int	acceptor_shed(struct acceptor *, int);
static int	acceptor_reserve(struct acceptor *);

void
acceptor_init(struct acceptor *acc, struct event_base *base,
    struct child *ch)
{
	uint32_t i;

	memset(acc, 0, sizeof(*acc));
	acc->ac_base = base;
	acc->ac_child = ch;
	acc->ac_reserve = -1;
	/* Paused until the first worker channel arrives. */
	acc->ac_paused = 1;
	for (i = 0; i < CONF_MAX_WORKERS; i++) {
		acc->ac_workers[i].aw_acc = acc;
		acc->ac_workers[i].aw_index = i;
	}
	/*
	 * Ids start at the wall clock in microseconds, so that a respawned
	 * acceptor never hands out an id its predecessor used (audit lines
	 * and flow ids stay unique across respawns).
	 */
	acc->ac_next_id = util_wall_usec();
	if ((acc->ac_retry_ev = evtimer_new(base, acceptor_retry_cb,
	    acc)) == NULL)
		fatalx("evtimer_new");
	if (acceptor_reserve(acc) == -1)
		fatal("reserve fd");
}

/*
 * The reserve is a duplicate of our channel to master: it costs nothing,
 * and unlike a duplicate of a listener it does not keep a closed listener
 * accepting. fcntl(F_DUPFD_CLOEXEC) is in every role's base allow-list.
 */
static int
acceptor_reserve(struct acceptor *acc)
{
	if (acc->ac_reserve != -1)
		return (0);
	acc->ac_reserve = fcntl(IPC_CHILD_FD, F_DUPFD_CLOEXEC, 0);
	return (acc->ac_reserve == -1 ? -1 : 0);
}

/* Takes the listening socket fd; it is made non-blocking here. */
int
acceptor_listen(struct acceptor *acc, int fd, uint32_t id)
{
	struct acceptor_listener *ls;

	if (acc->ac_nls >= CONF_MAX_LISTENERS || util_nonblock(fd) == -1) {
		close(fd);
		return (-1);
	}
	ls = &acc->ac_ls[acc->ac_nls];
	ls->ls_acc = acc;
	ls->ls_fd = fd;
	ls->ls_id = id;
	ls->ls_ev = event_new(acc->ac_base, fd, EV_READ | EV_PERSIST,
	    acceptor_accept_cb, ls);
	if (ls->ls_ev == NULL) {
		close(fd);
		return (-1);
	}
	acc->ac_nls++;
	if (!acc->ac_paused && !acc->ac_draining)
		event_add(ls->ls_ev, NULL);
	log_debug("listener %u: fd %d", id, fd);
	return (0);
}

void
acceptor_close_listeners(struct acceptor *acc)
{
	size_t i;

	for (i = 0; i < acc->ac_nls; i++) {
		event_free(acc->ac_ls[i].ls_ev);
		close(acc->ac_ls[i].ls_fd);
	}
	acc->ac_nls = 0;
	evtimer_del(acc->ac_retry_ev);
}

void
acceptor_pause(struct acceptor *acc)
{
	size_t i;

	if (acc->ac_paused)
		return;
	for (i = 0; i < acc->ac_nls; i++)
		event_del(acc->ac_ls[i].ls_ev);
	acc->ac_paused = 1;
	log_debug("accepting paused: no worker can take a connection");
}

/* Switch the listeners back on if a worker can take a connection. */
void
acceptor_resume(struct acceptor *acc)
{
	size_t i;

	if (!acc->ac_paused || acc->ac_draining ||
	    evtimer_pending(acc->ac_retry_ev, NULL))
		return;
	if (acceptor_choose(acc) == -1)
		return;
	for (i = 0; i < acc->ac_nls; i++)
		event_add(acc->ac_ls[i].ls_ev, NULL);
	acc->ac_paused = 0;
	log_debug("accepting resumed");
}

/* The worker for the next connection, or -1. */
int
acceptor_choose(struct acceptor *acc)
{
	struct acceptor_load ld[CONF_MAX_WORKERS];
	struct acceptor_worker *aw;
	size_t i;

	for (i = 0; i < CONF_MAX_WORKERS; i++) {
		aw = &acc->ac_workers[i];
		ld[i].al_up = aw->aw_chan != NULL;
		ld[i].al_open = aw->aw_open;
		ld[i].al_inflight = aw->aw_inflight;
	}
	return (acceptor_pick(ld, CONF_MAX_WORKERS, acc->ac_rr,
	    ACCEPTOR_MAX_INFLIGHT, acc->ac_global.cg_max_conns));
}

uint32_t
acceptor_inflight(const struct acceptor *acc)
{
	uint32_t n = 0;
	size_t	 i;

	for (i = 0; i < CONF_MAX_WORKERS; i++)
		n += acc->ac_workers[i].aw_inflight;
	return (n);
}

static void
acceptor_accept_cb(int fd, short ev, void *arg)
{
	struct acceptor_listener *ls = arg;
	struct acceptor *acc = ls->ls_acc;
	struct sockaddr_storage ss;
	socklen_t len;
	int	 i, cfd;

	(void)ev;
	for (i = 0; i < ACCEPTOR_ACCEPT_BATCH; i++) {
		/* Leave the connection in the backlog rather than accept
		 * what no worker can take. */
		if (acceptor_choose(acc) == -1) {
			acceptor_pause(acc);
			return;
		}
		len = sizeof(ss);
		/* Logged on a refused address: defined even if short. */
		ss.ss_family = AF_UNSPEC;
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				if (acceptor_shed(acc, fd) == -1)
					return;
				continue;
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			default:
				log_warn("listener %u: accept", ls->ls_id);
				return;
			}
		}
		acceptor_conn(ls, cfd, &ss, len);
	}
}

/*
 * At the fd limit: spend the reserve on the pending connection and close
 * it, so the listener stops firing for it. Returns -1 when the listeners
 * had to pause (no reserve could be made), 0 to go on.
 */
static int
acceptor_shed(struct acceptor *acc, int lfd)
{
	struct timeval tv;
	uint64_t now;
	int	 cfd;

	if (acc->ac_reserve != -1) {
		close(acc->ac_reserve);
		acc->ac_reserve = -1;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd != -1) {
			close(cfd);
			acc->ac_shed++;
		}
	}
	now = util_now_usec();
	if (acc->ac_shed != acc->ac_shed_logged &&
	    now - acc->ac_shed_last >= ACCEPTOR_SHED_LOG_USEC) {
		log_warnx("fd limit reached: %llu connection(s) closed "
		    "unserved", (unsigned long long)
		    (acc->ac_shed - acc->ac_shed_logged));
		acc->ac_shed_logged = acc->ac_shed;
		acc->ac_shed_last = now;
	}
	if (acceptor_reserve(acc) == 0)
		return (0);
	/* No fd for a reserve either: wait instead of spinning. */
	acceptor_pause(acc);
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)ACCEPTOR_RETRY_MSEC * 1000;
	evtimer_add(acc->ac_retry_ev, &tv);
	return (-1);
}

static void
acceptor_retry_cb(int fd, short ev, void *arg)
{
	struct acceptor *acc = arg;
	struct timeval tv;

	(void)fd;
	(void)ev;
	if (acceptor_reserve(acc) == -1) {
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)ACCEPTOR_RETRY_MSEC * 1000;
		evtimer_add(acc->ac_retry_ev, &tv);
		return;
	}
	acceptor_resume(acc);
}

/* The metadata of an accepted connection; -1 for a foreign family. */
static int
acceptor_meta(struct acceptor_listener *ls, int cfd,
    const struct sockaddr_storage *ss, socklen_t sslen, struct conn_meta *cm)
{
	struct sockaddr_storage lss;
	socklen_t lsslen = sizeof(lss);

	memset(cm, 0, sizeof(*cm));
	cm->cm_id = ls->ls_acc->ac_next_id++;
	cm->cm_accept_usec = util_wall_usec();
	cm->cm_listener = ls->ls_id;
	cm->cm_mode = CONN_MODE_EXPLICIT;
	cm->cm_origdst.a_family = AF_UNSPEC;	/* not transparent */
	if (addr_from_sa(&cm->cm_client, (const struct sockaddr *)ss,
	    sslen) == -1)
		return (-1);
	/* The address the client reached: a wildcard listener has many. */
	if (getsockname(cfd, (struct sockaddr *)&lss, &lsslen) == -1 ||
	    addr_from_sa(&cm->cm_local, (struct sockaddr *)&lss,
	    lsslen) == -1)
		cm->cm_local.a_family = AF_UNSPEC;
	return (0);
}

/* One accepted connection: ACL, metadata, handoff. Owns cfd. */
static void
acceptor_conn(struct acceptor_listener *ls, int cfd,
    const struct sockaddr_storage *ss, socklen_t sslen)
{
	struct acceptor *acc = ls->ls_acc;
	struct conn_meta cm;
	char	 cbuf[ADDR_STRLEN];

	memset(&cm, 0, sizeof(cm));
	if (acceptor_meta(ls, cfd, ss, sslen, &cm) == -1) {
		log_warnx("conn=%llu: client address of family %d",
		    (unsigned long long)cm.cm_id, ss->ss_family);
		close(cfd);
		return;
	}
	addr_str(&cm.cm_client, 1, cbuf, sizeof(cbuf));
	if (!acceptor_acl_allows(&acc->ac_acl, &cm.cm_client)) {
		log_audit("conn=%llu client=%s listener=%u action=refuse "
		    "reason=acl", (unsigned long long)cm.cm_id, cbuf,
		    ls->ls_id);
		acc->ac_refused++;
		close(cfd);
		return;
	}
	/* The caller checked that a worker can take it. */
	if (acceptor_handoff(acc, cfd, &cm) == -1)
		return;
	acc->ac_total++;
	log_debug("conn=%llu client=%s listener=%u", (unsigned long long)
	    cm.cm_id, cbuf, ls->ls_id);
}

void
acceptor_exit(struct acceptor *acc, int status)
{
	if (acc->ac_child->ch_master != NULL)
		ipc_chan_flush(acc->ac_child->ch_master);
	exit(status);
}
