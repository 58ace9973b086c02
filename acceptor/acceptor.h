/*
 * The acceptor: accepts client connections on the proxy listeners master
 * opened, applies the client ACL and hands each accepted fd, with its
 * metadata, to the least-loaded tlsworker over that worker's SOCK_SEQPACKET
 * channel. It never reads a byte of payload.
 *
 * Back-pressure: each worker has at most ACCEPTOR_MAX_INFLIGHT handoffs that
 * it has not acknowledged yet (fds in flight count against our fd limit);
 * when no worker can take one more, the listeners' events are switched off
 * until an acknowledgement arrives, so accept never spins.
 */
#ifndef MITMD_ACCEPTOR_H
#define MITMD_ACCEPTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/conf.h"
#include "common/proto.h"

struct event;
struct event_base;
struct ipc_chan;
struct child;

#define ACCEPTOR_MAX_INFLIGHT	32	/* unacked handoffs per worker */
#define ACCEPTOR_ACCEPT_BATCH	64	/* accepts per readable event */
#define ACCEPTOR_SHED_LOG_USEC	1000000 /* at most one fd-limit warning */
#define ACCEPTOR_RETRY_MSEC	100	/* pause when no reserve fd exists */

/* The client ACL: an empty list allows nobody (master always sends the
 * effective list, defaults included). */
struct acceptor_acl {
	struct cidr aa_cidr[CONF_MAX_ALLOW];
	uint32_t    aa_line[CONF_MAX_ALLOW];
	size_t	    aa_n;
};

/* What the worker choice looks at, one entry per worker slot. */
struct acceptor_load {
	int	 al_up;		/* a channel exists */
	uint32_t al_open;	/* open connections, as last reported */
	uint32_t al_inflight;	/* handed off, not acknowledged */
};

/*
 * A handoff the worker has not acknowledged yet. The acceptor keeps its
 * own copy of the client fd until the ack: a worker that dies before it
 * takes the connection (its channel may still accept the send) loses
 * nobody; the client goes to another worker.
 */
struct acceptor_pending {
	struct conn_meta ap_meta;
	int		 ap_fd;
};

struct acceptor_worker {
	struct acceptor	*aw_acc;
	struct ipc_chan	*aw_chan;	/* NULL: no worker in this slot */
	uint32_t	 aw_index;
	uint32_t	 aw_open;
	uint32_t	 aw_inflight;	/* entries used in aw_pending */
	struct acceptor_pending aw_pending[ACCEPTOR_MAX_INFLIGHT];
	uint32_t	 aw_pid;
	uint64_t	 aw_handed;	/* handoffs sent, for debugging */
};

struct acceptor_listener {
	struct acceptor	*ls_acc;
	struct event	*ls_ev;
	int		 ls_fd;
	uint32_t	 ls_id;
};

struct acceptor {
	struct event_base	*ac_base;
	struct child		*ac_child;
	struct conf_global	 ac_global;
	struct acceptor_acl	 ac_acl;	/* in force */

	/* The configuration set being received, applied at IMSG_CONF_END. */
	struct conf_global	 ac_next_global;
	struct acceptor_acl	 ac_next_acl;
	int			 ac_next_lfd[CONF_MAX_LISTENERS];
	uint32_t		 ac_next_lid[CONF_MAX_LISTENERS];
	size_t			 ac_next_nl;
	uint64_t		 ac_nsets;	/* sets applied */

	struct acceptor_listener ac_ls[CONF_MAX_LISTENERS];
	size_t			 ac_nls;
	struct acceptor_worker	 ac_workers[CONF_MAX_WORKERS];
	uint32_t		 ac_rr;		/* where the next tie search starts */

	int			 ac_reserve;	/* fd kept for the fd limit */
	int			 ac_paused;	/* listener events are off */
	int			 ac_draining;	/* IMSG_SHUTDOWN received */
	struct event		*ac_retry_ev;
	struct event		*ac_drain_ev;

	uint64_t		 ac_next_id;
	uint64_t		 ac_total;	/* handed off */
	uint64_t		 ac_refused;	/* by the ACL */
	uint64_t		 ac_shed;	/* closed at the fd limit */
	uint64_t		 ac_shed_logged;
	uint64_t		 ac_shed_last;	/* monotonic usec of the warning */
};

/* acl.c: pure, no I/O. */
void	acceptor_acl_clear(struct acceptor_acl *);
int	acceptor_acl_add(struct acceptor_acl *, const struct conf_allow *);
int	acceptor_acl_allows(const struct acceptor_acl *, const struct addr *);

/* pick.c: pure. Index of the least-loaded worker that may take one more
 * handoff, ties broken round-robin from start; -1 if none. max_conns 0
 * means no limit on open connections. */
int	acceptor_pick(const struct acceptor_load *, size_t n, size_t start,
	    uint32_t max_inflight, uint32_t max_conns);

/* accept.c */
void	acceptor_init(struct acceptor *, struct event_base *, struct child *);
int	acceptor_listen(struct acceptor *, int fd, uint32_t id);
void	acceptor_close_listeners(struct acceptor *);
void	acceptor_pause(struct acceptor *);
void	acceptor_resume(struct acceptor *);
int	acceptor_choose(struct acceptor *);
uint32_t acceptor_inflight(const struct acceptor *);
/* Flush what master should still hear and exit. */
void	acceptor_exit(struct acceptor *, int status)
	    __attribute__((noreturn));

/* worker.c */
void	acceptor_worker_attach(struct acceptor *, uint32_t index, uint32_t pid,
	    int fd);
void	acceptor_worker_drop(struct acceptor_worker *, const char *why);
/* Hand a client to the least-loaded worker; owns cfd (kept until the
 * worker's ack). 0, or -1 when no worker could take it (cfd closed). */
int	acceptor_handoff(struct acceptor *, int cfd, const struct conn_meta *);
/* Called whenever the in-flight count falls: resume, or exit if draining. */
void	acceptor_capacity_changed(struct acceptor *);


#endif
