/*
 * What master prepares before any child runs: absolute paths, the system
 * users, the directories (state, CA, runtime, the empty chroot) with their
 * owners and modes, and the listening sockets. Only master opens files and
 * binds ports; children get fds.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"
#include "master/token.h"

#define SETUP_LISTEN_BACKLOG 1024
#define SETUP_CA_SUBDIR	     "ca"
#define SETUP_STORE_SUBDIR   "store"
#define SETUP_CTL_NAME	     "mitmd.sock"
#define SETUP_CHROOT_NAME    "empty"

extern char **environ;

/* dir + "/" + name into dst; a path that does not fit is fatal. */
static void
setup_join(char *dst, size_t size, const char *dir, const char *name)
{
	int n;

	n = snprintf(dst, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		fatalx("path too long: %s/%s", dir, name);
}

/* Make a config path absolute against the directory mitmd started in, so
 * the development config's relative paths survive a chdir. */
static void
setup_abspath(char *path, size_t size)
{
	char	cwd[PATH_MAX], tmp[CONF_PATH_MAX];

	if (path[0] == '\0' || path[0] == '/')
		return;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		fatal("getcwd");
	setup_join(tmp, sizeof(tmp), cwd, path);
	util_strlcpy(path, tmp, size);
}

void
setup_paths(struct mitmd_conf *c)
{
	setup_abspath(c->mc_state_dir, sizeof(c->mc_state_dir));
	setup_abspath(c->mc_runtime_dir, sizeof(c->mc_runtime_dir));
	setup_abspath(c->mc_chroot, sizeof(c->mc_chroot));
	setup_abspath(c->mc_syslog, sizeof(c->mc_syslog));
	setup_abspath(c->mc_events_file, sizeof(c->mc_events_file));
	setup_abspath(c->mc_events_socket, sizeof(c->mc_events_socket));
	setup_abspath(c->mc_global.cg_ca_file,
	    sizeof(c->mc_global.cg_ca_file));
}

/*
 * Raise the hard fd limit to what the kernel allows, while root: a child
 * cannot raise it after dropping privileges, and a worker needs several
 * fds per relayed connection. The soft limit stays; each child sets its
 * own.
 */
/* A hard fd limit we cannot raise (a container without
 * CAP_SYS_RESOURCE): say what it costs when workers would want more. */
static void
setup_rlimit_short(const struct rlimit *rl, unsigned long nr_open)
{
	uint64_t want = (uint64_t)master->m_conf->mc_global.cg_max_conns *
	    CONF_FDS_PER_CONN + CONF_FDS_RESERVE;

	if (rl->rlim_max == RLIM_INFINITY || want <= rl->rlim_max) {
		log_debug("cannot raise the fd limit to %lu", nr_open);
		return;
	}
	log_warnx("cannot raise the open-file limit from %llu to %lu (%s): "
	    "a worker may hold fewer than the %u connections of 'limit "
	    "connections', about %llu intercepted ones",
	    (unsigned long long)rl->rlim_max, nr_open, strerror(errno),
	    master->m_conf->mc_global.cg_max_conns,
	    (unsigned long long)(rl->rlim_max / 2));
}

void
setup_rlimits(void)
{
	struct rlimit	 rl;
	FILE		*f;
	char		 line[32], *ep;
	unsigned long	 nr_open = 0;

	if (!master->m_privileged || getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL) {
			errno = 0;
			nr_open = strtoul(line, &ep, 10);
			if (ep == line || (*ep != '\n' && *ep != '\0') ||
			    errno != 0)
				nr_open = 0;
		}
		fclose(f);
	}
	if (nr_open > rl.rlim_max) {
		rl.rlim_max = nr_open;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 &&
		    getrlimit(RLIMIT_NOFILE, &rl) == 0)
			setup_rlimit_short(&rl, nr_open);
	}
}

/* useradd --system for a missing user; only when root. */
static void
setup_useradd(const char *name)
{
	char	*argv[] = { "useradd", "--system", "--no-create-home",
	    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
	    "--user-group", (char *)name, NULL };
	pid_t	 pid;
	int	 st;

	log_info("creating system user %s", name);
	if (posix_spawnp(&pid, "useradd", NULL, NULL, argv, environ) != 0)
		fatalx("cannot run useradd to create user %s", name);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		fatalx("useradd %s failed", name);
}

static void
setup_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if ((pw = getpwnam(name)) == NULL) {
		setup_useradd(name);
		if ((pw = getpwnam(name)) == NULL)
			fatalx("user %s still unknown after useradd", name);
	}
	if (pw->pw_uid == 0)
		fatalx("user %s is root: the children must not run as root",
		    name);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

void
setup_users(void)
{
	struct mitmd_conf *c = master->m_conf;

	if (!master->m_privileged) {
		master->m_uid = master->m_ca_uid = getuid();
		master->m_gid = master->m_ca_gid = getgid();
		return;
	}
	setup_user(c->mc_user, &master->m_uid, &master->m_gid);
	setup_user(c->mc_ca_user, &master->m_ca_uid, &master->m_ca_gid);
	if (master->m_uid == master->m_ca_uid)
		fatalx("user and ca user are the same (%s): certd needs a uid "
		    "of its own", c->mc_user);
}

/* mkdir if missing, then enforce owner and mode. */
static void
setup_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &st) == -1)
		fatal("%s", path);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s is not a directory", path);
	if (master->m_privileged && (st.st_uid != uid || st.st_gid != gid) &&
	    chown(path, uid, gid) == -1)
		fatal("chown %s", path);
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

static void
setup_chroot_dir(const char *path)
{
	DIR		*d;
	struct dirent	*de;

	setup_dir(path, 0755, 0, 0);
	if ((d = opendir(path)) == NULL)
		fatal("%s", path);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..")
		    != 0)
			fatalx("chroot directory %s is not empty (%s): the "
			    "children must find nothing there", path,
			    de->d_name);
	closedir(d);
}

void
setup_dirs(void)
{
	struct mitmd_conf *c = master->m_conf;
	char path[CONF_PATH_MAX];

	setup_dir(c->mc_state_dir, 0755, 0, 0);
	setup_join(path, sizeof(path), c->mc_state_dir, SETUP_CA_SUBDIR);
	/* The CA directory: certd's user alone may enter it. */
	setup_dir(path, 0700, master->m_ca_uid, master->m_ca_gid);
	/*
	 * The flow store: webui's chroot. SQLite opens its database, WAL and
	 * shared-memory files by name, so webui lives in the one directory
	 * that holds nothing but the store, owned by its user; every other
	 * child stays in the empty root-owned chroot.
	 */
	setup_join(master->m_store_dir, sizeof(master->m_store_dir),
	    c->mc_state_dir, SETUP_STORE_SUBDIR);
	setup_dir(master->m_store_dir, 0700, master->m_uid, master->m_gid);
	/* The admin token, made once and kept (master/token.c), unless the
	 * config names its own: then admin.token is left as it is. */
	if (c->mc_admin_token_file[0] == '\0' &&
	    token_ensure(c->mc_state_dir) == -1)
		fatalx("cannot make the admin token in %s", c->mc_state_dir);
	setup_dir(c->mc_runtime_dir, 0755, 0, 0);
	if (c->mc_chroot[0] != '\0')
		util_strlcpy(master->m_chroot, c->mc_chroot,
		    sizeof(master->m_chroot));
	else
		setup_join(master->m_chroot, sizeof(master->m_chroot),
		    c->mc_runtime_dir, SETUP_CHROOT_NAME);
	if (master->m_privileged)
		setup_chroot_dir(master->m_chroot);
	setup_join(master->m_ctlpath, sizeof(master->m_ctlpath),
	    c->mc_runtime_dir, SETUP_CTL_NAME);
}

/* An O_DIRECTORY fd of the CA directory for certd; master reads nothing
 * in it. */
int
setup_open_ca_dir(void)
{
	char path[CONF_PATH_MAX];
	int  fd;

	setup_join(path, sizeof(path), master->m_conf->mc_state_dir,
	    SETUP_CA_SUBDIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		log_warn("open %s", path);
	return fd;
}

static int
setup_listen(const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_to_sa(a, &ss);
	char	  buf[ADDR_STRLEN];
	int	  fd, on = 1;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	/*
	 * Accepted sockets inherit it: webui's pages and API answer in more
	 * than one write (head, body; TLS records), and with Nagle the
	 * second waits for the client's delayed ACK, 40 ms on every
	 * request of a kept-alive connection. The workers set it again.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		fatal("TCP_NODELAY");
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		fatal("bind %s", addr_str(a, 1, buf, sizeof(buf)));
	if (listen(fd, SETUP_LISTEN_BACKLOG) == -1)
		fatal("listen %s", addr_str(a, 1, buf, sizeof(buf)));
	return fd;
}

void
setup_listeners(void)
{
	struct mitmd_conf *c = master->m_conf;
	const struct conf_listener *l;
	char	buf[ADDR_STRLEN];
	size_t	i;

	for (i = 0; i < CONF_MAX_LISTENERS; i++)
		master->m_listen_fd[i] = -1;
	for (i = 0; i < c->mc_nlisteners; i++) {
		master->m_listen_fd[i] = setup_listen(&c->mc_listeners[i].cl_addr);
		l = &c->mc_listeners[i];
		if (l->cl_kind == LISTENER_REVERSE)
			log_info("listening on %s (reverse to %s port %u)",
			    addr_str(&l->cl_addr, 1, buf, sizeof(buf)),
			    l->cl_rhost, (unsigned)l->cl_rport);
		else
			log_info("listening on %s (%s)",
			    addr_str(&l->cl_addr, 1, buf, sizeof(buf)),
			    l->cl_kind == LISTENER_WEBUI ? "webui" :
			    l->cl_kind == LISTENER_ADMIN ? "admin" : "proxy");
	}
}

void
setup_close_listeners(void)
{
	size_t i;

	for (i = 0; i < CONF_MAX_LISTENERS; i++)
		if (master->m_listen_fd[i] != -1) {
			close(master->m_listen_fd[i]);
			master->m_listen_fd[i] = -1;
		}
}
