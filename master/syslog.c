/*
 * master's own syslog client and sd_notify. glibc's syslog(3) can only talk
 * to /dev/log; mitmd takes the socket path from the config ("syslog socket")
 * so a test or a container can collect the audit trail. Records are RFC 3164
 * datagrams, facility daemon, tag mitmd. Children's records arrive over IPC
 * and are written here with the child's role and pid in front.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

#define SYSLOG_LINE_MAX	 (IPC_LOG_MAX + 128)
#define SYSLOG_RETRY_SEC 1 /* reconnect at most this often */

static int	ms_fd = -1;
static char	ms_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int	ms_stderr;
static time_t	ms_last_try;

static int
msyslog_connect(void)
{
	struct sockaddr_un sun;
	time_t now = time(NULL);

	if (ms_fd != -1)
		return 0;
	if (ms_path[0] == '\0' || now - ms_last_try < SYSLOG_RETRY_SEC)
		return -1;
	ms_last_try = now;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	util_strlcpy(sun.sun_path, ms_path, sizeof(sun.sun_path));
	if ((ms_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(ms_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(ms_fd);
		ms_fd = -1;
		return -1;
	}
	return 0;
}

void
msyslog_init(const char *path, int to_stderr)
{
	if (ms_fd != -1 && strcmp(path, ms_path) != 0) {
		close(ms_fd);
		ms_fd = -1;
	}
	util_strlcpy(ms_path, path, sizeof(ms_path));
	ms_stderr = to_stderr;
	ms_last_try = 0;
	(void)msyslog_connect();
}

void
msyslog_write(int prio, uint32_t flags, const char *who, const char *msg)
{
	char		line[SYSLOG_LINE_MAX], ts[32];
	time_t		now = time(NULL);
	struct tm	tm;
	int		n;
	const char	*audit = (flags & LOG_F_AUDIT) ? "audit: " : "";

	if (prio == LOG_DEBUG && log_verbose() < 1)
		return;
	if (ms_stderr)
		fprintf(stderr, "%s: %s%s\n", who, audit, msg);
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "<%d>%s mitmd[%d]: %s%s%s%s",
	    LOG_DAEMON | (prio & LOG_PRIMASK), ts, (int)getpid(),
	    strcmp(who, "master") == 0 ? "" : who,
	    strcmp(who, "master") == 0 ? "" : ": ", audit, msg);
	if (n < 0)
		return;
	if (msyslog_connect() == -1)
		return;
	if (send(ms_fd, line, MIN((size_t)n, sizeof(line) - 1),
	    MSG_NOSIGNAL) == -1 && errno != EAGAIN) {
		/* The log daemon restarted: reconnect on the next record. */
		close(ms_fd);
		ms_fd = -1;
		ms_last_try = 0;
	}
}

/* The log sink of master's own records. */
void
msyslog_sink(int prio, uint32_t flags, const char *msg)
{
	msyslog_write(prio, flags, "master", msg);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
void
notify_send(const char *state)
{
	struct sockaddr_un sun;
	const char	*path = getenv("NOTIFY_SOCKET");
	socklen_t	 len;
	size_t		 plen;
	int		 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("sd_notify %s: %s", state, strerror(errno));
	close(fd);
}
