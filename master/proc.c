/*
 * The process table: fork+exec of every child from a fixed path, its setup
 * and configuration over IPC, the socketpairs between acceptor and workers,
 * supervision (reap, log the death, respawn with backoff) and the counters
 * children report. A child that sends a malformed message is killed here;
 * nothing a child does can stop master or another child.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/admin.h"
#include "master/master.h"

struct master *master;

static void proc_dispatch(struct ipc_chan *, struct ipc_msg *, void *);
static void proc_chan_error(struct ipc_chan *, int, const char *, void *);
static void proc_respawn_cb(evutil_socket_t, short, void *);
static void proc_shutdown_next(void);
static int  proc_spawn(struct proc *);

static const char *
proc_binary(enum role r)
{
	switch (r) {
	case ROLE_ACCEPTOR:
		return "mitmd-acceptor";
	case ROLE_TLSWORKER:
		return "mitmd-tlsworker";
	case ROLE_CERTD:
		return "mitmd-certd";
	case ROLE_WEBUI:
		return "mitmd-webui";
	default:
		fatalx("no binary for role %d", (int)r);
	}
}

/* "tlsworker 1" for logs. */
static const char *
proc_label(const struct proc *p, char *buf, size_t size)
{
	if (p->p_role == ROLE_TLSWORKER)
		snprintf(buf, size, "%s %u", role_name(p->p_role), p->p_index);
	else
		snprintf(buf, size, "%s", role_name(p->p_role));
	return buf;
}

static struct proc *
proc_add(enum role r, uint32_t index)
{
	struct proc *p = &master->m_procs[master->m_nprocs++];

	memset(p, 0, sizeof(*p));
	p->p_role = r;
	p->p_index = index;
	p->p_backoff_ms = MASTER_BACKOFF_MIN_MS;
	p->p_respawn = evtimer_new(master->m_base, proc_respawn_cb, p);
	if (p->p_respawn == NULL)
		fatalx("evtimer_new");
	return p;
}

/* Start order matters: certd loads the CA that webui serves; workers exist
 * before the acceptor hands them connections. webui always runs: it owns
 * the flow store and the event sinks even without a page to serve. */
void
proc_init_table(void)
{
	uint32_t i;

	master->m_nprocs = 0;
	proc_add(ROLE_CERTD, 0);
	proc_add(ROLE_WEBUI, 0);
	for (i = 0; i < master->m_conf->mc_global.cg_workers; i++)
		proc_add(ROLE_TLSWORKER, i);
	proc_add(ROLE_ACCEPTOR, 0);
}

struct proc *
proc_find_role(enum role r)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_role == r)
			return &master->m_procs[i];
	return NULL;
}

int
proc_alive(const struct proc *p)
{
	return p != NULL && p->p_pid != 0 && p->p_chan != NULL;
}

/* In the child after fork: fd 3 is the channel, nothing else survives. */
static void __attribute__((noreturn))
proc_exec(int fd, enum role r)
{
	char	 path[CONF_PATH_MAX];
	sigset_t set;

	if (fd != IPC_CHILD_FD) {
		if (dup2(fd, IPC_CHILD_FD) == -1)
			_exit(126);
	} else if (fcntl(fd, F_SETFD, 0) == -1) {
		_exit(126);
	}
	closefrom(IPC_CHILD_FD + 1);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	snprintf(path, sizeof(path), "%s/%s", MITMD_LIBEXECDIR,
	    proc_binary(r));
	execl(path, proc_binary(r), (char *)NULL);
	dprintf(2, "mitmd: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

static void
proc_send_setup(struct proc *p, int fd)
{
	struct ipc_setup s;

	memset(&s, 0, sizeof(s));
	s.is_version = IPC_VERSION;
	s.is_role = p->p_role;
	s.is_index = p->p_index;
	s.is_flags = master->m_privileged ? SETUP_F_PRIVDROP : 0;
	if (master->m_debug)
		s.is_flags |= SETUP_F_DEBUG;
	s.is_uid = p->p_role == ROLE_CERTD ? master->m_ca_uid : master->m_uid;
	s.is_gid = p->p_role == ROLE_CERTD ? master->m_ca_gid : master->m_gid;
	s.is_verbose = (uint32_t)master->m_verbose;
	util_strlcpy(s.is_chroot, p->p_role == ROLE_WEBUI ?
	    master->m_store_dir : master->m_chroot, sizeof(s.is_chroot));
	p->p_uid = s.is_uid;
	ipc_send_setup(p->p_chan, 0, fd, &s);
}

/* The configuration set of one child; listeners only at its start. */
static void
proc_send_conf(struct proc *p, int with_listeners)
{
	struct mitmd_conf *c = master->m_conf;
	struct conf_allow  def[CONF_MAX_ALLOW];
	const struct conf_allow *allow = c->mc_allow;
	size_t		   i, nallow = c->mc_nallow;
	int		   fd;

	ipc_send_conf_global(p->p_chan, 0, -1, &c->mc_global);
	if (p->p_role == ROLE_ACCEPTOR || p->p_role == ROLE_TLSWORKER)
		for (i = 0; i < c->mc_nrules; i++)
			ipc_send_conf_rule(p->p_chan, 0, -1, &c->mc_rules[i]);
	if (p->p_role == ROLE_ACCEPTOR) {
		if (nallow == 0) {
			nallow = conf_default_allow(def, nitems(def));
			allow = def;
		}
		for (i = 0; i < nallow; i++)
			ipc_send_conf_allow(p->p_chan, 0, -1, &allow[i]);
	}
	for (i = 0; with_listeners && i < c->mc_nlisteners; i++) {
		const struct conf_listener *l = &c->mc_listeners[i];

		if (!((p->p_role == ROLE_ACCEPTOR && (l->cl_kind ==
		    LISTENER_PROXY || l->cl_kind == LISTENER_REVERSE)) ||
		    (p->p_role == ROLE_WEBUI && (l->cl_kind ==
		    LISTENER_WEBUI || l->cl_kind == LISTENER_ADMIN))))
			continue;
		/* The child gets a copy; master keeps its own for respawns. */
		if ((fd = dup(master->m_listen_fd[i])) == -1)
			fatal("dup listener");
		ipc_send_conf_listener(p->p_chan, 0, fd, l);
	}
	/* A worker learns where each reverse listener relays to, and
	 * where the webui listens (for mitmd.cert), every set: listeners
	 * change only with a restart, workers respawn. */
	if (p->p_role == ROLE_TLSWORKER)
		ipc_send_ticket_keys(p->p_chan, 0, -1, ticket_keys());
	for (i = 0; p->p_role == ROLE_TLSWORKER && i < c->mc_nlisteners; i++)
		if (c->mc_listeners[i].cl_kind == LISTENER_REVERSE ||
		    c->mc_listeners[i].cl_kind == LISTENER_WEBUI)
			ipc_send_conf_listener(p->p_chan, 0, -1,
			    &c->mc_listeners[i]);
	if (p->p_role == ROLE_WEBUI)
		admin_send_conf(p->p_chan);
	ipc_send_conf_end(p->p_chan, 0);
}

/* One socketpair between two children, each told who is at the other end
 * (the matrix in common/proto.h). */
static void
proc_link(struct proc *a, struct proc *b)
{
	struct ipc_peer	pa, pb;
	int		sp[2];

	if (!proc_alive(a) || !proc_alive(b))
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair %s-%s", role_name(a->p_role),
		    role_name(b->p_role));
		return;
	}
	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	pa.ip_role = b->p_role;
	pa.ip_index = b->p_index;
	pa.ip_pid = (uint32_t)b->p_pid;
	pb.ip_role = a->p_role;
	pb.ip_index = a->p_index;
	pb.ip_pid = (uint32_t)a->p_pid;
	ipc_send_peer(a->p_chan, 0, sp[0], &pa);
	ipc_send_peer(b->p_chan, 0, sp[1], &pb);
}

/* The edges of a (re)started child: every worker talks to the acceptor,
 * to certd and to webui. */
static void
proc_link_all(struct proc *p)
{
	size_t i;

	if (p->p_role == ROLE_TLSWORKER) {
		proc_link(proc_find_role(ROLE_ACCEPTOR), p);
		proc_link(proc_find_role(ROLE_CERTD), p);
		proc_link(proc_find_role(ROLE_WEBUI), p);
		return;
	}
	if (p->p_role != ROLE_ACCEPTOR && p->p_role != ROLE_CERTD &&
	    p->p_role != ROLE_WEBUI)
		return;
	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_role == ROLE_TLSWORKER)
			proc_link(p, &master->m_procs[i]);
}

static int
proc_spawn(struct proc *p)
{
	char	lbl[32];
	int	sp[2], fd = -1;
	pid_t	pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if (p->p_role == ROLE_CERTD && (fd = setup_open_ca_dir()) == -1) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(sp[0]);
		close(sp[1]);
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (pid == 0)
		proc_exec(sp[1], p->p_role);
	close(sp[1]);
	p->p_pid = pid;
	p->p_state = PROC_STARTING;
	p->p_sandbox = 0;
	p->p_start_wall = util_wall_usec();
	p->p_start_mono = util_now_usec();
	memset(&p->p_status, 0, sizeof(p->p_status));
	p->p_chan = ipc_chan_new(master->m_base, sp[0], p->p_role,
	    proc_dispatch, proc_chan_error, p);
	if (p->p_chan == NULL)
		fatal("ipc_chan_new");
	proc_send_setup(p, fd);
	proc_send_conf(p, 1);
	proc_link_all(p);
	if (p->p_role == ROLE_WEBUI && master->m_ca_pem != NULL)
		ipc_send_ca_cert(p->p_chan, master->m_ca_pem,
		    master->m_ca_pem_len);
	if (p->p_role == ROLE_WEBUI)
		sink_send(p->p_chan);
	if (p->p_role == ROLE_TLSWORKER)
		tlsstat_sync_worker(p->p_chan);
	log_debug("started %s, pid %d", proc_label(p, lbl, sizeof(lbl)),
	    (int)pid);
	return 0;
}

void
proc_start_all(void)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (proc_spawn(&master->m_procs[i]) == -1)
			fatalx("cannot start %s", role_name(
			    master->m_procs[i].p_role));
}

void
proc_send_conf_all(void)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (proc_alive(&master->m_procs[i]))
			proc_send_conf(&master->m_procs[i], 0);
}

size_t
proc_running(void)
{
	size_t i, n = 0;

	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_pid != 0)
			n++;
	return n;
}

static void
proc_check_all_ready(void)
{
	size_t i;

	if (master->m_ready_sent || master->m_stopping)
		return;
	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_state != PROC_RUNNING)
			return;
	master->m_ready_sent = 1;
	log_info("mitmd ready: %zu processes, %u tlsworkers%s",
	    master->m_nprocs + 1, master->m_conf->mc_global.cg_workers,
	    master->m_privileged ? "" : " (UNPRIVILEGED: no chroot, no "
	    "separate users)");
	notify_send("READY=1\nSTATUS=running");
}

static void
proc_kill(struct proc *p, const char *why)
{
	char lbl[32];

	log_warnx("killing %s (pid %d): %s", proc_label(p, lbl, sizeof(lbl)),
	    (int)p->p_pid, why);
	if (p->p_pid != 0)
		kill(p->p_pid, SIGKILL);
	ipc_chan_free(p->p_chan);
	p->p_chan = NULL;
}

static void
proc_on_ready(struct proc *p, struct ipc_msg *m)
{
	struct ipc_ready r;
	char		 lbl[32];

	if (ipc_get_ready(m, &r) == -1 || p->p_state != PROC_STARTING ||
	    r.ir_version != IPC_VERSION) {
		proc_kill(p, "READY out of turn or wrong version");
		return;
	}
	p->p_state = PROC_RUNNING;
	p->p_sandbox = r.ir_sandbox;
	log_info("%s ready, pid %d, sandbox %s", proc_label(p, lbl,
	    sizeof(lbl)), (int)p->p_pid, (r.ir_sandbox & SANDBOX_ALL) ==
	    SANDBOX_ALL ? "full" : "PARTIAL (seccomp without chroot or "
	    "uid change)");
	proc_check_all_ready();
}

static void
proc_on_log(struct proc *p, struct ipc_msg *m)
{
	struct ipc_log	l;
	char		text[IPC_LOG_MAX + 1], who[48], lbl[32];

	if (ipc_get_log(m, &l, text, sizeof(text)) == -1)
		return;
	snprintf(who, sizeof(who), "%s[%d]", proc_label(p, lbl, sizeof(lbl)),
	    (int)p->p_pid);
	msyslog_write((int)l.il_prio, l.il_flags, who, text);
}

static void
proc_on_ca_cert(struct proc *p, struct ipc_msg *m)
{
	struct proc *w;
	const char  *pem;
	size_t	     len;
	char	    *copy;

	if (p->p_role != ROLE_CERTD || ipc_get_ca_cert(m, &pem, &len) == -1)
		return;
	if ((copy = malloc(len)) == NULL) {
		log_warn("CA certificate");
		return;
	}
	memcpy(copy, pem, len);
	free(master->m_ca_pem);
	master->m_ca_pem = copy;
	master->m_ca_pem_len = len;
	if ((w = proc_find_role(ROLE_WEBUI)) != NULL && proc_alive(w))
		ipc_send_ca_cert(w->p_chan, copy, len);
	/* certd is up: the admin listener's leaf, if it needs one. */
	admin_ask_certd(p->p_chan);
}

static void
proc_dispatch(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct proc *p = arg;

	(void)c;
	switch (m->im_hdr.ih_type) {
	case IMSG_READY:
		proc_on_ready(p, m);
		break;
	case IMSG_LOG:
		proc_on_log(p, m);
		break;
	case IMSG_STATUS:
		(void)ipc_get_status(m, &p->p_status);
		break;
	case IMSG_CA_CERT:
		proc_on_ca_cert(p, m);
		break;
	case IMSG_TLS_FAIL:
		tlsstat_on_fail(p, m);
		break;
	case IMSG_LEAF_KEY:
	case IMSG_CERT_REP:
		/* The IPC rules let only certd send them. */
		admin_on_certd(m);
		break;
	default:
		proc_kill(p, "unexpected message");
		break;
	}
}

static void
proc_chan_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	struct proc *p = arg;
	char	     buf[128];

	(void)c;
	if (err == IPC_ERR_MALFORMED) {
		snprintf(buf, sizeof(buf), "malformed message: %s", why);
		proc_kill(p, buf);
		return;
	}
	/* EOF: the child is exiting; SIGCHLD tells how. */
	ipc_chan_free(p->p_chan);
	p->p_chan = NULL;
}

static struct proc *
proc_by_pid(pid_t pid)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_pid == pid)
			return &master->m_procs[i];
	return NULL;
}

static void
proc_log_death(struct proc *p, int st)
{
	char	lbl[32];

	proc_label(p, lbl, sizeof(lbl));
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
		kmsg_log_sigsys(master->m_base, p->p_pid, lbl);
	} else if (WIFSIGNALED(st)) {
		log_warnx("%s (pid %d) killed by signal %d (%s)", lbl,
		    (int)p->p_pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
	} else if (master->m_stopping && WEXITSTATUS(st) == 0) {
		log_debug("%s (pid %d) exited", lbl, (int)p->p_pid);
	} else {
		log_warnx("%s (pid %d) exited with status %d", lbl,
		    (int)p->p_pid, WEXITSTATUS(st));
	}
}

/* Double the delay for a child that keeps dying, reset it for one that
 * ran long enough. */
static void
proc_schedule_respawn(struct proc *p)
{
	struct timeval tv;
	uint64_t ran = util_now_usec() - p->p_start_mono;

	if (ran > (uint64_t)MASTER_STABLE_SEC * 1000000u)
		p->p_backoff_ms = MASTER_BACKOFF_MIN_MS;
	tv.tv_sec = p->p_backoff_ms / 1000;
	tv.tv_usec = (suseconds_t)(p->p_backoff_ms % 1000) * 1000;
	p->p_state = PROC_BACKOFF;
	evtimer_add(p->p_respawn, &tv);
	p->p_backoff_ms = MIN(p->p_backoff_ms * 2, MASTER_BACKOFF_MAX_MS);
}

void
proc_reap(void)
{
	struct proc *p;
	pid_t	     pid;
	int	     st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((p = proc_by_pid(pid)) == NULL)
			continue;
		proc_log_death(p, st);
		ipc_chan_free(p->p_chan);
		p->p_chan = NULL;
		p->p_pid = 0;
		if (master->m_stopping) {
			p->p_state = 0;
			continue;
		}
		proc_schedule_respawn(p);
	}
	if (master->m_stopping)
		proc_shutdown_next();
	if (master->m_stopping && proc_running() == 0)
		event_base_loopexit(master->m_base, NULL);
}

static void
proc_respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proc *p = arg;
	char	     lbl[32];

	(void)fd;
	(void)ev;
	if (master->m_stopping)
		return;
	p->p_restarts++;
	log_info("restarting %s (restart %u)", proc_label(p, lbl, sizeof(lbl)),
	    p->p_restarts);
	if (proc_spawn(p) == -1)
		proc_schedule_respawn(p);
}

/*
 * Shutdown in two steps. First the acceptor and the workers: they drain
 * their flows, and the events of those flows (stream_closed last) still
 * reach webui. Once none of them runs, webui, which writes what its
 * channels still hold, and certd, which the workers may need for a leaf
 * until the end. The kill timer of master_stop() bounds both steps.
 */
static int
proc_last(enum role r)
{
	return (r == ROLE_WEBUI || r == ROLE_CERTD);
}

static void
proc_shutdown_step(int last)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++) {
		struct proc *p = &master->m_procs[i];

		if (proc_last(p->p_role) != last)
			continue;
		if (proc_alive(p) && p->p_state != PROC_DRAINING) {
			p->p_state = PROC_DRAINING;
			ipc_send_shutdown(p->p_chan, 0);
		}
	}
}

/* The second step, once no process of the first runs. */
static void
proc_shutdown_next(void)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (!proc_last(master->m_procs[i].p_role) &&
		    master->m_procs[i].p_pid != 0)
			return;
	proc_shutdown_step(1);
}

void
proc_shutdown_all(void)
{
	size_t i;

	/* no respawn of any role from here on */
	for (i = 0; i < master->m_nprocs; i++)
		evtimer_del(master->m_procs[i].p_respawn);
	proc_shutdown_step(0);
	proc_shutdown_next();
}

void
proc_kill_all(void)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_pid != 0) {
			log_warnx("%s (pid %d) did not stop in time, killing",
			    role_name(master->m_procs[i].p_role),
			    (int)master->m_procs[i].p_pid);
			kill(master->m_procs[i].p_pid, SIGKILL);
		}
}

void
proc_status_poll(void)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (proc_alive(&master->m_procs[i]) &&
		    master->m_procs[i].p_state == PROC_RUNNING)
			ipc_send_status_req(master->m_procs[i].p_chan, 0);
}

void
proc_broadcast(enum role r, uint32_t type, const void *data, size_t len)
{
	size_t i;

	for (i = 0; i < master->m_nprocs; i++)
		if (master->m_procs[i].p_role == r &&
		    proc_alive(&master->m_procs[i]))
			ipc_send(master->m_procs[i].p_chan, type, 0, -1, data,
			    len);
}
