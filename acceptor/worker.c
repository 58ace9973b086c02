/*
 * The acceptor's side of its channels to the tlsworkers. master sends an
 * IMSG_PEER with one end of a SOCK_SEQPACKET socketpair per worker; a
 * respawned worker arrives as a new IMSG_PEER for the same index and
 * replaces the old channel. Workers acknowledge each handoff
 * (IMSG_CONN_ACK) and report closed connections (IMSG_CONN_CLOSED), both
 * with their current count of open connections, which drives the choice of
 * the next worker and the in-flight cap.
 *
 * A worker channel that fails (EOF, I/O error, a malformed message) is
 * dropped; the acceptor goes on with the others.
 */
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "acceptor/acceptor.h"
#include "common/ipc.h"
#include "common/log.h"

static void	acceptor_worker_dispatch(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	acceptor_worker_error(struct ipc_chan *, int, const char *,
		    void *);

/* Takes fd. */
void
acceptor_worker_attach(struct acceptor *acc, uint32_t index, uint32_t pid,
    int fd)
{
	struct acceptor_worker *aw;

	if (index >= CONF_MAX_WORKERS) {
		log_warnx("peer: worker index %u out of range", index);
		close(fd);
		return;
	}
	aw = &acc->ac_workers[index];
	if (aw->aw_chan != NULL)
		acceptor_worker_drop(aw, "replaced by a new worker");
	aw->aw_chan = ipc_chan_new(acc->ac_base, fd, ROLE_TLSWORKER,
	    acceptor_worker_dispatch, acceptor_worker_error, aw);
	if (aw->aw_chan == NULL) {
		log_warnx("worker %u: cannot make a channel", index);
		close(fd);
		return;
	}
	aw->aw_pid = pid;
	log_debug("worker %u (pid %u): channel up", index, pid);
	acceptor_capacity_changed(acc);
}

/*
 * Forget a worker: its unacknowledged handoffs died with it (or are the
 * replaced worker's to lose), so they no longer count against the cap.
 */
void
acceptor_worker_drop(struct acceptor_worker *aw, const char *why)
{
	if (aw->aw_chan == NULL)
		return;
	log_debug("worker %u (pid %u): channel dropped: %s, %u handoff(s) "
	    "unacknowledged", aw->aw_index, aw->aw_pid, why, aw->aw_inflight);
	ipc_chan_free(aw->aw_chan);
	aw->aw_chan = NULL;
	aw->aw_open = 0;
	aw->aw_inflight = 0;
	aw->aw_pid = 0;
}

/*
 * The in-flight count fell or a worker appeared: accept again if paused;
 * when draining, leave once nothing is in flight.
 */
void
acceptor_capacity_changed(struct acceptor *acc)
{
	if (acc->ac_draining) {
		if (acceptor_inflight(acc) == 0) {
			log_debug("drained, exiting");
			acceptor_exit(acc, 0);
		}
		return;
	}
	acceptor_resume(acc);
}

static void
acceptor_worker_dispatch(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct acceptor_worker *aw = arg;
	struct worker_load wl;

	(void)chan;
	switch (m->im_hdr.ih_type) {
	case IMSG_CONN_ACK:
		if (ipc_get_conn_ack(m, &wl) == -1)
			break;
		aw->aw_open = wl.wl_open;
		if (aw->aw_inflight > 0)
			aw->aw_inflight--;
		else
			log_warnx("worker %u: ack for conn=%llu without a "
			    "handoff in flight", aw->aw_index,
			    (unsigned long long)wl.wl_conn_id);
		acceptor_capacity_changed(aw->aw_acc);
		break;
	case IMSG_CONN_CLOSED:
		if (ipc_get_conn_closed(m, &wl) == -1)
			break;
		aw->aw_open = wl.wl_open;
		acceptor_capacity_changed(aw->aw_acc);
		break;
	default:
		/* proto.c's rules let nothing else through from a worker. */
		log_warnx("worker %u: unexpected %s", aw->aw_index,
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

static void
acceptor_worker_error(struct ipc_chan *chan, int err, const char *why,
    void *arg)
{
	struct acceptor_worker *aw = arg;

	(void)chan;
	if (err == IPC_ERR_EOF)
		log_debug("worker %u: channel closed", aw->aw_index);
	else
		log_warnx("worker %u: %s", aw->aw_index,
		    why != NULL ? why : "channel error");
	acceptor_worker_drop(aw, err == IPC_ERR_EOF ? "eof" : "error");
	acceptor_capacity_changed(aw->aw_acc);
}
