/*
 * The first and last steps of every child (see child.h). A child is exec'd
 * by master with its channel on fd 3 and nothing else open but stdio; it
 * trusts master, and checks that master speaks the same protocol version
 * before anything else.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"
#include "common/util.h"

/* The receive buffer for synchronous setup reads. */
static uint8_t child_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1]
    __attribute__((aligned(16)));

#ifdef MITMD_TESTHOOKS
static void child_testhook_install(void);
#endif

static void
child_check_fd(void)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (fcntl(IPC_CHILD_FD, F_GETFD) == -1 ||
	    getsockopt(IPC_CHILD_FD, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_SEQPACKET)
		fatalx("fd %d is not a channel to master: this program is "
		    "started by mitmd, not by hand", IPC_CHILD_FD);
}

static void
child_signals(void)
{
	/* The terminal's ^C, or a SIGTERM to the whole process group, must
	 * not stop children behind master's back: master decides when they
	 * stop, through IMSG_SHUTDOWN, by closing fd 3 or with SIGKILL. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
}

void
child_init(struct child *ch, enum role role, const char *procname)
{
	struct ipc_msg	m;
	const char	*why = "";

	memset(ch, 0, sizeof(*ch));
	ch->ch_role = role;
	ch->ch_setup_fd = -1;
	log_init(procname, 0);
	ipc_set_role(role);
	child_check_fd();
	child_signals();
	/* glibc reads /etc/localtime on the first localtime/gmtime call;
	 * after chroot and seccomp it could not. */
	tzset();
#ifdef MITMD_TESTHOOKS
	child_testhook_install();
#endif
	log_set_ipc_fd(IPC_CHILD_FD);
	if (ipc_recv_sync(IPC_CHILD_FD, ROLE_MASTER, &m, child_buf,
	    sizeof(child_buf), &why) != 1)
		fatalx("no setup from master: %s", why);
	if (ipc_get_setup(&m, &ch->ch_setup) == -1)
		fatalx("first message from master is %s, not SETUP",
		    imsg_name(m.im_hdr.ih_type));
	if (ch->ch_setup.is_version != IPC_VERSION)
		fatalx("protocol version %u from master, this binary speaks "
		    "%u: restart mitmd after an upgrade",
		    ch->ch_setup.is_version, IPC_VERSION);
	if (ch->ch_setup.is_role != (uint32_t)role)
		fatalx("master started this binary as %s",
		    role_name(ch->ch_setup.is_role));
	ch->ch_setup.is_chroot[sizeof(ch->ch_setup.is_chroot) - 1] = '\0';
	ch->ch_setup_fd = m.im_fd;
	log_init(procname, (int)ch->ch_setup.is_verbose);
}

void
child_read_conf(struct child *ch, child_conf_fn *fn, void *arg)
{
	struct ipc_msg	m;
	const char	*why = "";
	int		rv;

	(void)ch;
	for (;;) {
		rv = ipc_recv_sync(IPC_CHILD_FD, ROLE_MASTER, &m, child_buf,
		    sizeof(child_buf), &why);
		if (rv == 0)
			exit(0); /* master went away during setup */
		if (rv == -1)
			fatalx("bad message from master during setup: %s", why);
		if (m.im_hdr.ih_type == IMSG_CONF_END)
			break;
		fn(&m, arg);
		if (m.im_fd != -1)
			close(m.im_fd);
	}
	/* The set is complete: the role applies it now. */
	fn(&m, arg);
}

void
child_sandbox_opts(const struct child *ch, struct sandbox_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->so_privdrop = (ch->ch_setup.is_flags & SETUP_F_PRIVDROP) != 0;
	so->so_chroot = so->so_privdrop ? ch->ch_setup.is_chroot : NULL;
	so->so_uid = ch->ch_setup.is_uid;
	so->so_gid = ch->ch_setup.is_gid;
	so->so_dumpable = 1;
}

static void
child_master_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	(void)c;
	(void)arg;
	if (err == IPC_ERR_EOF)
		exit(0); /* master is gone: so are we */
	/* Master never sends garbage; if it seems to, we are the broken
	 * side. Say so and leave. */
	log_set_ipc(NULL);
	fatalx("channel to master: %s", why);
}

void
child_ready(struct child *ch, struct event_base *base, ipc_dispatch_fn *fn,
    void *arg)
{
	struct ipc_ready r = { IPC_VERSION, ch->ch_sandbox };

	ch->ch_base = base;
	ch->ch_master = ipc_chan_new(base, IPC_CHILD_FD, ROLE_MASTER, fn,
	    child_master_error, arg);
	if (ch->ch_master == NULL)
		fatal("channel to master");
	log_set_ipc(ch->ch_master);
	if (ipc_send_ready(ch->ch_master, 0, -1, &r) == -1)
		fatal("send READY");
}

#ifdef MITMD_TESTHOOKS
#include <sys/syscall.h>

/* A raw handler, installed before the sandbox (rt_sigaction is not on any
 * allow-list afterwards). */
static void
child_sigsys_handler(int sig)
{
	(void)sig;
	/* ptrace is on no role's allow-list: the filter kills us here. */
	syscall(SYS_ptrace, 0, 0, 0, 0);
}

static void
child_testhook_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = child_sigsys_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL) == -1)
		fatal("test hook");
}
#endif
