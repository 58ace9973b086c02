/*
 * master's own syslog client and sd_notify. glibc's syslog(3) can only talk
 * to /dev/log; mitmd takes the socket path from the config ("syslog socket")
 * so a test or a container can collect the audit trail. Records are RFC 3164
 * datagrams, facility daemon, tag mitmd. Children's records arrive over IPC
 * and are written here with the child's role and pid in front.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>
#include <errno.h>
#include <poll.h>
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
#define SYSLOG_RETRY_SEC 1	      /* reconnect at most this often */
/* Lines held while the daemon lags. */
#define SYSLOG_QUEUE_MAX ((size_t)16 * 1024)
#define SYSLOG_CLOSE_USEC 1000000    /* flush time at exit */

/*
 * A Unix datagram socket refuses a send (EAGAIN) when the log daemon's
 * receive queue is full, which a burst of audit lines does easily. Lines
 * then wait in a bounded queue, sent as the socket drains; only past the
 * bound are lines dropped, and the count of dropped lines is logged.
 */
struct ms_line {
	TAILQ_ENTRY(ms_line) ml_entry;
	size_t	ml_len;
	char	ml_text[];
};
static TAILQ_HEAD(ms_lineq, ms_line) ms_queue =
    TAILQ_HEAD_INITIALIZER(ms_queue);
static size_t	ms_queued;
static uint64_t	ms_dropped;
static struct event *ms_wev;

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

static void
msyslog_reset(void)
{
	if (ms_wev != NULL) {
		event_free(ms_wev);
		ms_wev = NULL;
	}
	if (ms_fd != -1)
		close(ms_fd);
	ms_fd = -1;
}

/* Send queued lines; 0 when the queue is empty, 1 when the socket is full,
 * -1 when the socket broke. */
static int
msyslog_flush(void)
{
	struct ms_line *l, *next;

	for (l = TAILQ_FIRST(&ms_queue); l != NULL; l = next) {
		next = TAILQ_NEXT(l, ml_entry);
		if (send(ms_fd, l->ml_text, l->ml_len, MSG_NOSIGNAL) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 1;
			return -1;
		}
		TAILQ_REMOVE(&ms_queue, l, ml_entry);
		ms_queued--;
		free(l);
	}
	return 0;
}

static void msyslog_send(const char *, size_t);

static void
msyslog_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	char	 msg[128];
	int	 rv;

	(void)fd;
	(void)ev;
	(void)arg;
	if ((rv = msyslog_flush()) == 1) {
		event_add(ms_wev, NULL);
		return;
	}
	if (rv == -1) {
		msyslog_reset();
		ms_last_try = 0;
		return;
	}
	if (ms_dropped > 0) {
		snprintf(msg, sizeof(msg), "<%d>mitmd[%d]: syslog lagged: %llu "
		    "lines dropped", LOG_DAEMON | LOG_WARNING, (int)getpid(),
		    (unsigned long long)ms_dropped);
		ms_dropped = 0;
		msyslog_send(msg, strlen(msg));
	}
}

/* Queue one line behind others, or when the socket is full. */
static void
msyslog_enqueue(const char *line, size_t len)
{
	struct ms_line *l;

	if (ms_queued >= SYSLOG_QUEUE_MAX || master == NULL ||
	    master->m_base == NULL ||
	    (l = malloc(sizeof(*l) + len)) == NULL) {
		ms_dropped++;
		return;
	}
	memcpy(l->ml_text, line, len);
	l->ml_len = len;
	TAILQ_INSERT_TAIL(&ms_queue, l, ml_entry);
	ms_queued++;
	if (ms_wev == NULL)
		ms_wev = event_new(master->m_base, ms_fd, EV_WRITE,
		    msyslog_write_cb, NULL);
	if (ms_wev != NULL)
		event_add(ms_wev, NULL);
}

static void
msyslog_send(const char *line, size_t len)
{
	if (msyslog_connect() == -1)
		return;
	if (TAILQ_EMPTY(&ms_queue) &&
	    send(ms_fd, line, len, MSG_NOSIGNAL) != -1)
		return;
	if (TAILQ_EMPTY(&ms_queue) && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != ENOBUFS) {
		/* The log daemon restarted: reconnect on the next record. */
		msyslog_reset();
		ms_last_try = 0;
		return;
	}
	msyslog_enqueue(line, len);
}

void
msyslog_init(const char *path, int to_stderr)
{
	if (ms_fd != -1 && strcmp(path, ms_path) != 0)
		msyslog_reset();
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
	msyslog_send(line, MIN((size_t)n, sizeof(line) - 1));
}

/* At exit: give queued lines up to a second to reach the log daemon. */
void
msyslog_close(void)
{
	struct pollfd pfd;
	uint64_t deadline = util_now_usec() + SYSLOG_CLOSE_USEC;

	while (ms_fd != -1 && !TAILQ_EMPTY(&ms_queue) &&
	    util_now_usec() < deadline) {
		if (msyslog_flush() != 1)
			break;
		pfd.fd = ms_fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, 100);
	}
	msyslog_reset();
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
