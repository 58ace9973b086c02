/*
 * What every child does first and last: take its channel to master on fd 3,
 * read IMSG_SETUP synchronously and check the protocol version, read the
 * initial configuration set, enter the sandbox, announce READY, and later
 * leave quietly when master goes away.
 */
#ifndef MITMD_CHILD_H
#define MITMD_CHILD_H

#include "common/ipc.h"
#include "common/sandbox.h"

struct event_base;

struct child {
	enum role	 ch_role;
	struct ipc_setup ch_setup;
	int		 ch_setup_fd;	/* fd that came with IMSG_SETUP, or -1 */
	unsigned	 ch_sandbox;	/* SANDBOX_* done */
	struct event_base *ch_base;
	struct ipc_chan	*ch_master;
};

typedef void child_conf_fn(struct ipc_msg *, void *);

/* First call of a child's main(): fd 3 must be the channel to master. */
void	child_init(struct child *, enum role, const char *procname);
/* Read messages synchronously until IMSG_CONF_END; each message goes to fn
 * (which owns its fd), IMSG_CONF_END last, so the role applies the set
 * there exactly as it does for a reload. */
void	child_read_conf(struct child *, child_conf_fn *, void *);
/* Fills so_chroot, so_uid, so_gid and so_privdrop from the setup. */
void	child_sandbox_opts(const struct child *, struct sandbox_opts *);
/* Attach fd 3 to the event loop with the role's dispatch function, switch
 * logging to it and send IMSG_READY. Messages of types the child handles
 * itself (IMSG_SHUTDOWN...) go to fn too. EOF from master exits. */
void	child_ready(struct child *, struct event_base *, ipc_dispatch_fn *,
	    void *);

/*
 * Test builds only (MITMD_TESTHOOKS): child_init installs a SIGUSR2 handler
 * that calls a forbidden syscall, so the tests can see the seccomp filter
 * kill the process. A release build has no such handler.
 */

#endif
