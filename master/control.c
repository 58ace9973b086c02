/*
 * The control socket mitmctl talks to: a SOCK_SEQPACKET Unix socket in the
 * runtime directory, mode 0600, and a peer-credential check on top, so only
 * root (or, in development, the user running mitmd) gets an answer. The
 * framing is the children's IPC framing with the sender role ROLE_CTL.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

#define CONTROL_BACKLOG 16

static int	     ctl_fd = -1;
static struct event *ctl_ev;

/* What mitmctl status and the status page say of master itself. */
void
control_master_info(struct ctl_proc *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->cp_role = ROLE_MASTER;
	cp->cp_pid = (uint32_t)getpid();
	cp->cp_uid = (uint32_t)geteuid();
	cp->cp_state = master->m_stopping ? PROC_DRAINING : PROC_RUNNING;
	cp->cp_start_usec = master->m_start_wall;
}

/* ... and of one child. */
void
control_proc_info(const struct proc *p, struct ctl_proc *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->cp_role = p->p_role;
	cp->cp_index = p->p_index;
	cp->cp_pid = (uint32_t)p->p_pid;
	cp->cp_uid = (uint32_t)p->p_uid;
	cp->cp_sandbox = p->p_sandbox;
	cp->cp_restarts = p->p_restarts;
	cp->cp_state = p->p_state;
	cp->cp_open = p->p_status.st_open;
	cp->cp_total = p->p_status.st_total;
	cp->cp_cache_hits = p->p_status.st_cache_hits;
	cp->cp_cache_misses = p->p_status.st_cache_misses;
	cp->cp_start_usec = p->p_start_wall;
}

static void
control_status(struct ipc_chan *c, uint32_t reqid)
{
	struct ctl_proc cp;
	size_t		i;

	control_master_info(&cp);
	ipc_send_ctl_proc(c, reqid, -1, &cp);
	for (i = 0; i < master->m_nprocs; i++) {
		control_proc_info(&master->m_procs[i], &cp);
		ipc_send_ctl_proc(c, reqid, -1, &cp);
	}
	tlsstat_ctl_hoststats(c, reqid);
	ipc_send_ctl_end(c, reqid);
}

/* A new leaf key from certd; the CA itself stays (see mitmctl(8)). */
static void
control_ca_rotate(struct ipc_chan *c, uint32_t reqid)
{
	struct proc *p = proc_find_role(ROLE_CERTD);

	if (p == NULL || p->p_chan == NULL || p->p_state != PROC_RUNNING) {
		ipc_send_ctl_result(c, reqid, 0, "certd is not running");
		return;
	}
	ipc_send_ca_rotate(p->p_chan, reqid);
	log_info("mitmctl: leaf key rotation requested");
	ipc_send_ctl_result(c, reqid, 1, "leaf key rotation requested");
}

static void
control_dispatch(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	char	err[IPC_TEXT_MAX];
	uint32_t reqid = m->im_hdr.ih_reqid;

	(void)arg;
	switch (m->im_hdr.ih_type) {
	case IMSG_CTL_STATUS:
		control_status(c, reqid);
		break;
	case IMSG_CTL_RELOAD:
		if (master_reload(err, sizeof(err)) == 0)
			ipc_send_ctl_result(c, reqid, 1, "configuration "
			    "reloaded");
		else
			ipc_send_ctl_result(c, reqid, 0, err);
		break;
	case IMSG_CTL_CA_ROTATE:
		control_ca_rotate(c, reqid);
		break;
	case IMSG_CTL_PT_LIST:
		tlsstat_ctl_list(c, reqid);
		break;
	case IMSG_CTL_PT_CLEAR:
		tlsstat_ctl_clear(c, reqid);
		break;
	case IMSG_CTL_STOP:
		ipc_send_ctl_result(c, reqid, 1, "stopping");
		master_stop();
		break;
	default:
		ipc_chan_free(c);
		break;
	}
}

static void
control_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	(void)arg;
	if (err == IPC_ERR_MALFORMED)
		log_warnx("control socket: %s", why);
	ipc_chan_free(c);
}

static void
control_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	int		s;

	(void)ev;
	(void)arg;
	if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warnx("control socket: refused uid %d", (int)cred.uid);
		close(s);
		return;
	}
	if (ipc_chan_new(master->m_base, s, ROLE_CTL, control_dispatch,
	    control_error, NULL) == NULL)
		close(s);
}

void
control_init(void)
{
	struct sockaddr_un sun;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (util_strlcpy(sun.sun_path, master->m_ctlpath,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", master->m_ctlpath);
	if ((ctl_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	/* A live socket means another mitmd owns this runtime directory. */
	if (connect(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("another mitmd is running (%s answers)",
		    master->m_ctlpath);
	close(ctl_fd);
	if ((ctl_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	if (unlink(master->m_ctlpath) == -1 && errno != ENOENT)
		fatal("unlink %s", master->m_ctlpath);
	old = umask(0177);
	if (bind(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", master->m_ctlpath);
	umask(old);
	if (listen(ctl_fd, CONTROL_BACKLOG) == -1)
		fatal("listen %s", master->m_ctlpath);
	ctl_ev = event_new(master->m_base, ctl_fd, EV_READ | EV_PERSIST,
	    control_accept, NULL);
	if (ctl_ev == NULL || event_add(ctl_ev, NULL) == -1)
		fatalx("control socket event");
}

void
control_close(void)
{
	if (ctl_fd == -1)
		return;
	event_free(ctl_ev);
	close(ctl_fd);
	ctl_fd = -1;
	(void)unlink(master->m_ctlpath);
}
