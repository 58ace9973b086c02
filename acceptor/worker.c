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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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
	struct acceptor_pending	pend[ACCEPTOR_MAX_INFLIGHT];
	uint32_t		i, n = aw->aw_inflight;

	if (aw->aw_chan == NULL)
		return;
	log_debug("worker %u (pid %u): channel dropped: %s, %u handoff(s) "
	    "unacknowledged", aw->aw_index, aw->aw_pid, why, n);
	/* Empty the slot first: the clients go to other workers, and a
	 * failure there may drop another worker in turn. */
	memcpy(pend, aw->aw_pending, n * sizeof(pend[0]));
	ipc_chan_free(aw->aw_chan);
	aw->aw_chan = NULL;
	aw->aw_open = 0;
	aw->aw_inflight = 0;
	aw->aw_pid = 0;
	for (i = 0; i < n; i++) {
		log_info("conn=%llu: worker %u went away before taking it, "
		    "handing it to another", (unsigned long long)
		    pend[i].ap_meta.cm_id, aw->aw_index);
		(void)acceptor_handoff(aw->aw_acc, pend[i].ap_fd,
		    &pend[i].ap_meta);
	}
}

int
acceptor_handoff(struct acceptor *acc, int cfd, const struct conn_meta *cm)
{
	struct acceptor_worker *aw;
	int w, fd;

	for (;;) {
		if ((w = acceptor_choose(acc)) == -1) {
			log_warnx("conn=%llu: no worker can take it",
			    (unsigned long long)cm->cm_id);
			close(cfd);
			return -1;
		}
		aw = &acc->ac_workers[w];
		acc->ac_rr = ((uint32_t)w + 1) % CONF_MAX_WORKERS;
		/* ipc_send owns the fd it is given; cfd stays ours. */
		if ((fd = fcntl(cfd, F_DUPFD_CLOEXEC, 0)) == -1) {
			log_warn("conn=%llu: dup", (unsigned long long)
			    cm->cm_id);
			close(cfd);
			return -1;
		}
		if (ipc_send_conn_handoff(aw->aw_chan, 0, fd, cm) == 0)
			break;
		log_warnx("conn=%llu: handoff to worker %u failed, trying "
		    "another", (unsigned long long)cm->cm_id, aw->aw_index);
		acceptor_worker_drop(aw, "send failed");
	}
	aw->aw_pending[aw->aw_inflight].ap_meta = *cm;
	aw->aw_pending[aw->aw_inflight].ap_fd = cfd;
	aw->aw_inflight++;
	aw->aw_handed++;
	return 0;
}

/* The worker took the connection: our copy of the fd can go. */
static void
acceptor_worker_acked(struct acceptor_worker *aw, uint64_t id)
{
	uint32_t i;

	for (i = 0; i < aw->aw_inflight; i++)
		if (aw->aw_pending[i].ap_meta.cm_id == id)
			break;
	if (i == aw->aw_inflight) {
		log_warnx("worker %u: ack for conn=%llu without a handoff in "
		    "flight", aw->aw_index, (unsigned long long)id);
		return;
	}
	close(aw->aw_pending[i].ap_fd);
	aw->aw_pending[i] = aw->aw_pending[--aw->aw_inflight];
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
		acceptor_worker_acked(aw, wl.wl_conn_id);
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
