/*
 * Logging (see log.h). A record is formatted once here and handed to the
 * sink: stderr before any sink is set, the IPC channel to master in a
 * child, master's syslog writer in master.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"

#define LOG_LINE_MAX IPC_LOG_MAX

static const char	*log_name = "mitmd";
static int		 log_level;
static log_sink_fn	*log_sink;
static struct ipc_chan	*log_chan;
static int		 log_fd = -1;

void
log_init(const char *procname, int verbose)
{
	log_name = procname;
	log_level = verbose;
}

void
log_set_sink(log_sink_fn *fn)
{
	log_sink = fn;
}

void
log_discard(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	(void)msg;
}

void
log_set_ipc(struct ipc_chan *c)
{
	log_chan = c;
}

void
log_set_ipc_fd(int fd)
{
	log_fd = fd;
}

int
log_verbose(void)
{
	return log_level;
}

const char *
log_procname(void)
{
	return log_name;
}

static void
log_emit(int prio, uint32_t flags, const char *msg)
{
	uint8_t		buf[sizeof(struct ipc_log) + LOG_LINE_MAX];
	struct ipc_log	l = { (uint32_t)prio, flags };
	size_t		n;

	if (log_sink != NULL) {
		log_sink(prio, flags, msg);
		return;
	}
	if (log_chan != NULL && ipc_send_log(log_chan, prio, flags, msg) == 0)
		return;
	if (log_fd != -1) {
		n = strlen(msg);
		if (n > LOG_LINE_MAX)
			n = LOG_LINE_MAX;
		if (n > 0) {
			memcpy(buf, &l, sizeof(l));
			memcpy(buf + sizeof(l), msg, n);
			if (ipc_send_sync(log_fd, IMSG_LOG, 0, -1, buf,
			    sizeof(l) + n) == 0)
				return;
		}
	}
	fprintf(stderr, "%s: %s\n", log_name, msg);
}

static void
log_vlog(int, uint32_t, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
log_vlog(int prio, uint32_t flags, const char *errstr, const char *fmt,
    va_list ap)
{
	char	msg[LOG_LINE_MAX];
	int	n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errstr != NULL && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", errstr);
	log_emit(prio, flags, msg);
}

#define LOG_BODY(prio, flags, err)                     \
	do {                                           \
		va_list ap;                            \
		va_start(ap, fmt);                     \
		log_vlog(prio, flags, err, fmt, ap);   \
		va_end(ap);                            \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_WARNING, 0, e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0, NULL);
}

void
log_debug(const char *fmt, ...)
{
	if (log_level < 1)
		return;
	LOG_BODY(LOG_DEBUG, 0, NULL);
}

void
log_audit(const char *fmt, ...)
{
	LOG_BODY(LOG_NOTICE, LOG_F_AUDIT, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_CRIT, 0, e);
	if (log_chan != NULL)
		ipc_chan_flush(log_chan);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0, NULL);
	if (log_chan != NULL)
		ipc_chan_flush(log_chan);
	exit(1);
}
