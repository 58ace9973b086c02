/*
 * The event sinks: master opens what the config names ("events file",
 * "events socket") once, at start, and hands webui a duplicate of each fd
 * (IMSG_CONF_SINK) every time webui starts; webui writes the file and
 * accepts the subscribers. Workers never open files, and webui, chrooted
 * in the flow store, could not reach these paths itself. Master keeps the
 * originals for the next webui after a crash; a changed path takes a
 * restart (the reload code keeps the old paths and says so).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

#define SINK_FILE_MODE	0640	/* events carry URLs and headers */
#define SINK_SOCK_MODE	0660	/* root and its group may subscribe */
#define SINK_SOCK_UMASK 0117	/* so bind() never creates it wider */
#define SINK_BACKLOG	16	/* subscribers waiting for webui's accept */

static int sink_file_fd = -1;
static int sink_sock_fd = -1;

/*
 * O_APPEND so that lines from this run follow those of the last one and
 * an admin's logrotate with copytruncate works. O_NOFOLLOW: a root process
 * must not be pointed elsewhere by a link planted in a log directory.
 * O_NONBLOCK only so that a FIFO at that path cannot hang master; anything
 * but a regular file is refused.
 */
static int
sink_open_file(const char *path)
{
	struct stat st;
	int	    fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW | O_NONBLOCK, SINK_FILE_MODE);
	if (fd == -1) {
		if (errno == ENOENT)
			fatalx("events file %s: its directory does not exist; "
			    "create it first", path);
		if (errno == ELOOP)
			fatalx("events file %s: a symbolic link; name the "
			    "file itself", path);
		if (errno == ENXIO)
			fatalx("events file %s: not a regular file", path);
		fatal("events file %s", path);
	}
	if (fstat(fd, &st) == -1)
		fatal("events file %s", path);
	if (!S_ISREG(st.st_mode))
		fatalx("events file %s: not a regular file", path);
	log_info("events file %s opened", path);
	return fd;
}

/* A leftover socket of an earlier run is removed; a live one, or a path
 * that is not a socket, is somebody else's and stops the start. */
static void
sink_remove_stale(const struct sockaddr_un *sun, const char *path)
{
	struct stat st;
	int	    fd;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return;
		fatal("events socket %s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		fatalx("events socket %s: exists and is not a socket; not "
		    "removing it", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		fatalx("events socket %s: another process listens on it",
		    path);
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
}

static int
sink_open_socket(const char *path)
{
	struct sockaddr_un sun;
	mode_t		   old;
	int		   fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("events socket %s: longer than %zu bytes, the most a "
		    "Unix socket path may have", path, sizeof(sun.sun_path) - 1);
	sink_remove_stale(&sun, path);
	/* Non-blocking: webui's accept must never wait on it. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		fatal("socket");
	old = umask(SINK_SOCK_UMASK);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT)
			fatalx("events socket %s: its directory does not exist; "
			    "create it first", path);
		fatal("events socket %s", path);
	}
	umask(old);
	if (chmod(path, SINK_SOCK_MODE) == -1)
		fatal("chmod %s", path);
	if (listen(fd, SINK_BACKLOG) == -1)
		fatal("listen %s", path);
	log_info("events socket %s listening", path);
	return fd;
}

/* Called once by main.c at start, as root, after setup_dirs: the sinks may
 * live in the state or runtime directory. Fatal on any error. */
void
sink_open_all(void)
{
	const struct mitmd_conf *c = master->m_conf;

	if (c->mc_events_file[0] != '\0' && sink_file_fd == -1)
		sink_file_fd = sink_open_file(c->mc_events_file);
	if (c->mc_events_socket[0] != '\0' && sink_sock_fd == -1)
		sink_sock_fd = sink_open_socket(c->mc_events_socket);
}

static void
sink_send_one(struct ipc_chan *c, int fd, uint32_t kind, const char *what)
{
	struct conf_sink cs;
	int		 dfd;

	if (fd == -1)
		return;
	/* webui gets its own fd; ipc_send closes it once sent. */
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("events %s: dup", what);
		return;
	}
	memset(&cs, 0, sizeof(cs));
	cs.cs_kind = kind;
	if (ipc_send_conf_sink(c, 0, dfd, &cs) == -1)
		log_warnx("events %s: cannot hand it to webui", what);
}

/* proc.c calls this each time webui starts, on webui's channel. */
void
sink_send(struct ipc_chan *c)
{
	sink_send_one(c, sink_file_fd, SINK_FILE, "file");
	sink_send_one(c, sink_sock_fd, SINK_SOCKET, "socket");
}
