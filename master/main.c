/*
 * mitmd: the privileged master. It parses the configuration, prepares
 * users, directories and listening sockets, forks and execs every child,
 * supervises them, answers the control socket, writes syslog for everyone,
 * and reloads or stops on signals. It never reads network payload.
 */
#include <sys/stat.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"
#include "master/token.h"

#define MITMD_CONF_DEFAULT "/etc/mitmd/mitmd.conf"

static struct master master_state;
static char	*reload_err;	/* capture of parse errors during reload */
static size_t	 reload_errsz;

/* Before syslog is set up (and for -n): bare lines on stderr, so config
 * errors read "file:line: message". */
static void
stderr_sink(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	fprintf(stderr, "%s\n", msg);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mitmd [-dDnv] [-f file]\n");
	exit(1);
}

static void
resolve_workers(struct mitmd_conf *c)
{
	cpu_set_t set;
	long	  n;

	if (!c->mc_workers_auto && c->mc_global.cg_workers != 0)
		return;
	/* The CPUs mitmd may run on (taskset, a cpuset), else all online. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	c->mc_global.cg_workers = (uint32_t)(n < 1 ? 1 : MIN(n,
	    CONF_MAX_WORKERS));
}

static struct mitmd_conf *
load_conf(const char *file)
{
	struct mitmd_conf *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("calloc");
	if (conf_parse_file(file, c) == -1) {
		free(c);
		return NULL;
	}
	if (conf_admin_load(c) == -1) {
		conf_free(c);
		free(c);
		return NULL;
	}
	resolve_workers(c);
	c->mc_global.cg_verbose = (uint32_t)master->m_verbose;
	return c;
}

static void
daemonize(void)
{
	int fd;

	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/") == -1)
		fatal("chdir");
}

/* Reload capture: errors go to syslog and into the answer for mitmctl. */
static void
reload_sink(int prio, uint32_t flags, const char *msg)
{
	size_t n;

	msyslog_sink(prio, flags, msg);
	if (reload_err == NULL || prio > LOG_WARNING)
		return;
	n = strlen(reload_err);
	if (n + 1 < reload_errsz)
		snprintf(reload_err + n, reload_errsz - n, "%s%s",
		    n ? "\n" : "", msg);
}

/* Settings a running mitmd cannot change: keep the old ones, say so. */
static void
reload_keep(struct mitmd_conf *nc, const struct mitmd_conf *oc)
{
	if (!conf_listeners_same(nc, oc))
		log_warnx("listeners changed: this takes a restart");
	if (nc->mc_global.cg_workers != oc->mc_global.cg_workers)
		log_warnx("workers changed: this takes a restart");
	if (strcmp(nc->mc_user, oc->mc_user) != 0 || strcmp(nc->mc_ca_user,
	    oc->mc_ca_user) != 0 || strcmp(nc->mc_state_dir,
	    oc->mc_state_dir) != 0 || strcmp(nc->mc_runtime_dir,
	    oc->mc_runtime_dir) != 0 || strcmp(nc->mc_chroot,
	    oc->mc_chroot) != 0)
		log_warnx("users or directories changed: this takes a "
		    "restart");
	if (strcmp(nc->mc_events_file, oc->mc_events_file) != 0 ||
	    strcmp(nc->mc_events_socket, oc->mc_events_socket) != 0)
		log_warnx("events file or socket changed: this takes a "
		    "restart");
	memcpy(nc->mc_events_file, oc->mc_events_file,
	    sizeof(nc->mc_events_file));
	memcpy(nc->mc_events_socket, oc->mc_events_socket,
	    sizeof(nc->mc_events_socket));
	memcpy(nc->mc_listeners, oc->mc_listeners, sizeof(nc->mc_listeners));
	nc->mc_nlisteners = oc->mc_nlisteners;
	nc->mc_global.cg_workers = oc->mc_global.cg_workers;
	memcpy(nc->mc_user, oc->mc_user, sizeof(nc->mc_user));
	memcpy(nc->mc_ca_user, oc->mc_ca_user, sizeof(nc->mc_ca_user));
	memcpy(nc->mc_state_dir, oc->mc_state_dir, sizeof(nc->mc_state_dir));
	memcpy(nc->mc_runtime_dir, oc->mc_runtime_dir,
	    sizeof(nc->mc_runtime_dir));
	memcpy(nc->mc_chroot, oc->mc_chroot, sizeof(nc->mc_chroot));
}

int
master_reload(char *errbuf, size_t errsz)
{
	struct mitmd_conf *nc;

	if (master->m_stopping) {
		snprintf(errbuf, errsz, "mitmd is stopping");
		return -1;
	}
	notify_send("RELOADING=1");
	errbuf[0] = '\0';
	reload_err = errbuf;
	reload_errsz = errsz;
	log_set_sink(reload_sink);
	nc = load_conf(master->m_conffile);
	if (nc != NULL)
		setup_paths(nc);
	log_set_sink(msyslog_sink);
	reload_err = NULL;
	if (nc == NULL) {
		log_warnx("reload refused: %s has errors, the running "
		    "configuration stays", master->m_conffile);
		notify_send("READY=1");
		return -1;
	}
	reload_keep(nc, master->m_conf);
	/* Without "admin token file" now, maybe with one before: the state
	 * directory's token, made if it never was. */
	if (nc->mc_admin_token_file[0] == '\0' &&
	    token_ensure(nc->mc_state_dir) == -1)
		log_warnx("no admin token in %s: the admin pages let nobody "
		    "in", nc->mc_state_dir);
	conf_free(master->m_conf);
	free(master->m_conf);
	master->m_conf = nc;
	msyslog_init(nc->mc_syslog, master->m_debug);
	proc_send_conf_all();
	log_info("configuration reloaded from %s", master->m_conffile);
	conf_warnings(nc);
	notify_send("READY=1");
	return 0;
}

static void
kill_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	proc_kill_all();
}

void
master_stop(void)
{
	static struct event *kill_ev;
	struct timeval tv;

	if (master->m_stopping)
		return;
	master->m_stopping = 1;
	notify_send("STOPPING=1");
	log_info("stopping: no new connections, draining for up to %u s",
	    master->m_conf->mc_global.cg_drain_tmo);
	/* The kernel keeps a socket listening while any fd refers to it. */
	setup_close_listeners();
	proc_shutdown_all();
	tv.tv_sec = master->m_conf->mc_global.cg_drain_tmo +
	    MASTER_KILL_GRACE_SEC;
	tv.tv_usec = 0;
	kill_ev = evtimer_new(master->m_base, kill_timeout_cb, NULL);
	if (kill_ev != NULL)
		evtimer_add(kill_ev, &tv);
	if (proc_running() == 0)
		event_base_loopexit(master->m_base, NULL);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	char err[IPC_TEXT_MAX];

	(void)ev;
	(void)arg;
	switch (sig) {
	case SIGCHLD:
		proc_reap();
		break;
	case SIGHUP:
		log_info("SIGHUP: reloading %s", master->m_conffile);
		(void)master_reload(err, sizeof(err));
		break;
	case SIGTERM:
	case SIGINT:
		master_stop();
		break;
	}
}

static void
status_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	proc_status_poll();
}

static void
add_events(void)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	static struct event *ev[nitems(sigs) + 1];
	struct timeval tv = { MASTER_STATUS_SEC, 0 };
	size_t i;

	for (i = 0; i < nitems(sigs); i++) {
		ev[i] = evsignal_new(master->m_base, sigs[i], signal_cb, NULL);
		if (ev[i] == NULL || event_add(ev[i], NULL) == -1)
			fatalx("signal event");
	}
	ev[i] = event_new(master->m_base, -1, EV_PERSIST, status_cb, NULL);
	if (ev[i] == NULL || event_add(ev[i], &tv) == -1)
		fatalx("status timer");
}

static void
warn_unprivileged(void)
{
	log_warnx("WARNING: mitmd runs as uid %d, not root: children keep "
	    "this uid and are NOT chrooted; certd shares the uid of the "
	    "workers, so the CA key is protected only by seccomp. Run as "
	    "root for the full sandbox.", (int)geteuid());
}

static int
master_run(int foreground)
{
	master->m_privileged = geteuid() == 0;
	master->m_start_wall = util_wall_usec();
	setup_paths(master->m_conf);
	msyslog_init(master->m_conf->mc_syslog, master->m_debug);
	log_set_sink(msyslog_sink);
	if (!master->m_privileged)
		warn_unprivileged();
	conf_warnings(master->m_conf);
	if (!foreground)
		daemonize();
	signal(SIGPIPE, SIG_IGN);
	if ((master->m_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	kmsg_open();
	setup_rlimits();
	setup_users();
	setup_dirs();
	sink_open_all();
	setup_listeners();
	control_init();
	add_events();
	ticket_init();
	webstat_init();
	proc_init_table();
	proc_start_all();
	log_info("mitmd starting, pid %d, configuration %s", (int)getpid(),
	    master->m_conffile);
	event_base_dispatch(master->m_base);
	control_close();
	log_info("mitmd stopped");
	msyslog_close();
	return 0;
}

int
main(int argc, char *argv[])
{
	int	ch, check = 0, foreground = 0;

	master = &master_state;
	master->m_conffile = MITMD_CONF_DEFAULT;
	log_init("master", 0);
	ipc_set_role(ROLE_MASTER);
	while ((ch = getopt(argc, argv, "dDf:nv")) != -1) {
		switch (ch) {
		case 'd':
			master->m_debug = 1;
			foreground = 1;
			break;
		case 'D':
			foreground = 1;
			break;
		case 'f':
			master->m_conffile = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			master->m_verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("master", master->m_verbose);
	log_set_sink(stderr_sink);
	if ((master->m_conf = load_conf(master->m_conffile)) == NULL)
		exit(1);
	if (check) {
		conf_warnings(master->m_conf);
		if (master->m_verbose)
			conf_print(stdout, master->m_conf);
		else
			fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	return master_run(foreground);
}
