/*
 * The event sinks, as master opened them for us (IMSG_CONF_SINK): workers
 * never open files, and webui opens none but its store.
 *
 *   SINK_FILE	  an fd master opened O_APPEND: each event and "\n". The
 *		  lines of a batch of messages go out in one writev after
 *		  the batch (wu_flush_ev); what the file does not take (a
 *		  full disk, an error) waits in a queue of at most
 *		  SINK_FILE_QUEUE_MAX bytes and is retried every
 *		  SINK_RETRY_MSEC; past that bound new events are lost for
 *		  that file, counted and logged. A regular file cannot be
 *		  polled, hence the timer.
 *   SINK_SOCKET  a listening Unix stream socket: each subscriber gets the
 *		  live feed as JSON lines from the moment it connects. Its
 *		  output waits in its bufferevent; a subscriber with more
 *		  than SINK_SUB_HWM bytes unread is dropped with a log
 *		  line. Nothing a subscriber does can block us or a worker.
 *
 * Whatever a sink does, the worker never waits: its channel to us has its
 * own bounded queue, and we read it whatever the sinks' state.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "webui/webui.h"

#define SINK_FILE_QUEUE_MAX	((size_t)16 * 1024 * 1024)
#define SINK_SUB_HWM		((size_t)4 * 1024 * 1024)
#define SINK_SUBS_MAX		64	/* subscribers of one socket */
#define SINK_RETRY_MSEC		100
#define SINK_PAUSE_MSEC		500	/* accept paused at the fd limit */
#define SINK_DRAIN_READ		4096	/* what a subscriber sends: dropped */

struct sink_sub {
	TAILQ_ENTRY(sink_sub)	 ss_entry;
	struct sink		*ss_sink;
	struct bufferevent	*ss_bev;
	uint64_t		 ss_id;
};

struct sink {
	struct webui		*sk_wu;
	uint32_t		 sk_kind;	/* enum conf_sink_kind */
	int			 sk_fd;
	dev_t			 sk_dev;	/* the file, to spot a resend */
	ino_t			 sk_ino;
	struct evbuffer		*sk_q;		/* file: not yet written */
	struct event		*sk_ev;		/* file: retry; socket: accept */
	struct event		*sk_pause;	/* socket: accept again */
	TAILQ_HEAD(sink_subs, sink_sub) sk_subs;
	size_t			 sk_nsubs;
	uint64_t		 sk_nextid;
	uint64_t		 sk_lost;	/* file: events not queued */
	struct webui_rl		 sk_lost_rl;
	struct webui_rl		 sk_err_rl;
};

static void	sink_retry_cb(evutil_socket_t, short, void *);
static void	sink_accept_cb(evutil_socket_t, short, void *);
static void	sink_unpause_cb(evutil_socket_t, short, void *);
static void	sink_flush_cb(evutil_socket_t, short, void *);
static void	sink_sub_free(struct sink_sub *);

static void
sink_free(struct sink *sk)
{
	struct sink_sub *ss, *next;

	for (ss = TAILQ_FIRST(&sk->sk_subs); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, ss_entry);
		sink_sub_free(ss);
	}
	if (sk->sk_ev != NULL)
		event_free(sk->sk_ev);
	if (sk->sk_pause != NULL)
		event_free(sk->sk_pause);
	if (sk->sk_q != NULL)
		evbuffer_free(sk->sk_q);
	if (sk->sk_fd != -1)
		close(sk->sk_fd);
	free(sk);
}

/*
 * A file master sends again (webui kept running while master re-sent
 * its sinks) replaces the sink on that file, with its queue, so lines are
 * not written twice.
 */
static struct sink *
sink_same_file(struct webui *wu, const struct stat *st, size_t *slot)
{
	size_t i;

	for (i = 0; i < wu->wu_nsinks; i++)
		if (wu->wu_sinks[i]->sk_kind == SINK_FILE &&
		    wu->wu_sinks[i]->sk_dev == st->st_dev &&
		    wu->wu_sinks[i]->sk_ino == st->st_ino) {
			*slot = i;
			return (wu->wu_sinks[i]);
		}
	return (NULL);
}

static int
sink_setup(struct webui *wu, struct sink *sk)
{
	if (wu->wu_flush_ev == NULL && (wu->wu_flush_ev = event_new(
	    wu->wu_base, -1, 0, sink_flush_cb, wu)) == NULL)
		return (-1);
	if (sk->sk_kind == SINK_FILE) {
		sk->sk_q = evbuffer_new();
		sk->sk_ev = evtimer_new(wu->wu_base, sink_retry_cb, sk);
		return (sk->sk_q == NULL || sk->sk_ev == NULL ? -1 : 0);
	}
	if (util_nonblock(sk->sk_fd) == -1)
		return (-1);
	sk->sk_ev = event_new(wu->wu_base, sk->sk_fd, EV_READ | EV_PERSIST,
	    sink_accept_cb, sk);
	sk->sk_pause = evtimer_new(wu->wu_base, sink_unpause_cb, sk);
	if (sk->sk_ev == NULL || sk->sk_pause == NULL ||
	    event_add(sk->sk_ev, NULL) == -1)
		return (-1);
	return (0);
}

int
sink_add(struct webui *wu, uint32_t kind, int fd)
{
	struct sink	*sk, *old;
	struct stat	 st;
	size_t		 slot = wu->wu_nsinks;

	if ((kind != SINK_FILE && kind != SINK_SOCKET) || fd == -1 ||
	    fstat(fd, &st) == -1) {
		log_warnx("events sink of kind %u: unusable, ignored", kind);
		goto fail;
	}
	old = kind == SINK_FILE ? sink_same_file(wu, &st, &slot) : NULL;
	if (old == NULL && wu->wu_nsinks >= WEBUI_SINKS_MAX) {
		log_warnx("more than %d events sinks: one ignored",
		    WEBUI_SINKS_MAX);
		goto fail;
	}
	if ((sk = calloc(1, sizeof(*sk))) == NULL)
		goto fail;
	sk->sk_wu = wu;
	sk->sk_kind = kind;
	sk->sk_fd = fd;
	sk->sk_dev = st.st_dev;
	sk->sk_ino = st.st_ino;
	TAILQ_INIT(&sk->sk_subs);
	if (sink_setup(wu, sk) == -1) {
		log_warn("events sink");
		sink_free(sk);
		return (-1);
	}
	if (old != NULL) {
		/* keep what the old one had not written yet */
		evbuffer_add_buffer(sk->sk_q, old->sk_q);
		sink_free(old);
	} else
		wu->wu_nsinks++;
	wu->wu_sinks[slot] = sk;
	log_debug("events %s sink on fd %d", kind == SINK_FILE ? "file" :
	    "socket", fd);
	return (0);
fail:
	if (fd != -1)
		close(fd);
	return (-1);
}

void
sink_free_all(struct webui *wu)
{
	size_t i;

	for (i = 0; i < wu->wu_nsinks; i++)
		sink_free(wu->wu_sinks[i]);
	wu->wu_nsinks = 0;
	if (wu->wu_flush_ev != NULL) {
		event_free(wu->wu_flush_ev);
		wu->wu_flush_ev = NULL;
	}
}

/* --- files --------------------------------------------------------------- */

static void
sink_file_queue(struct sink *sk, const char *line, size_t len)
{
	if (evbuffer_get_length(sk->sk_q) + len + 1 > SINK_FILE_QUEUE_MAX) {
		sk->sk_lost++;
		if (webui_rl_ok(&sk->sk_lost_rl, WEBUI_LOG_USEC))
			log_warnx("events file: %llu events lost: the file "
			    "does not take them (%zu bytes waiting)",
			    (unsigned long long)sk->sk_lost,
			    evbuffer_get_length(sk->sk_q));
		return;
	}
	if (evbuffer_add(sk->sk_q, line, len) == -1 ||
	    evbuffer_add(sk->sk_q, "\n", 1) == -1)
		sk->sk_lost++;
}

/* Write what the file takes now; the rest waits for the retry timer. */
static void
sink_file_write(struct sink *sk)
{
	struct timeval	 tv;
	int		 n;

	while (evbuffer_get_length(sk->sk_q) > 0) {
		n = evbuffer_write(sk->sk_q, sk->sk_fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && webui_rl_ok(&sk->sk_err_rl,
		    WEBUI_LOG_USEC))
			log_warnx("events file: write: %s; %zu bytes wait",
			    strerror(errno), evbuffer_get_length(sk->sk_q));
		break;
	}
	if (evbuffer_get_length(sk->sk_q) > 0 && !evtimer_pending(sk->sk_ev,
	    NULL)) {
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)SINK_RETRY_MSEC * 1000;
		evtimer_add(sk->sk_ev, &tv);
	}
}

static void
sink_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	sink_file_write(arg);
}

/* --- sockets ------------------------------------------------------------- */

static void
sink_sub_free(struct sink_sub *ss)
{
	TAILQ_REMOVE(&ss->ss_sink->sk_subs, ss, ss_entry);
	ss->ss_sink->sk_nsubs--;
	bufferevent_free(ss->ss_bev);	/* closes the fd */
	free(ss);
}

/* A subscriber has nothing to say: what it sends is read and dropped. */
static void
sink_sub_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
sink_sub_event(struct bufferevent *bev, short what, void *arg)
{
	struct sink_sub *ss = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("events socket: subscriber %llu gone",
		    (unsigned long long)ss->ss_id);
		sink_sub_free(ss);
	}
}

static void
sink_sub_new(struct sink *sk, int fd)
{
	struct sink_sub *ss;

	if (sk->sk_nsubs >= SINK_SUBS_MAX) {
		log_warnx("events socket: more than %d subscribers, one "
		    "refused", SINK_SUBS_MAX);
		close(fd);
		return;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL ||
	    (ss->ss_bev = bufferevent_socket_new(sk->sk_wu->wu_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("events socket: subscriber");
		free(ss);
		close(fd);
		return;
	}
	ss->ss_sink = sk;
	ss->ss_id = ++sk->sk_nextid;
	bufferevent_setcb(ss->ss_bev, sink_sub_read, NULL, sink_sub_event, ss);
	bufferevent_setwatermark(ss->ss_bev, EV_READ, 0, SINK_DRAIN_READ);
	bufferevent_enable(ss->ss_bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&sk->sk_subs, ss, ss_entry);
	sk->sk_nsubs++;
	log_info("events socket: subscriber %llu connected",
	    (unsigned long long)ss->ss_id);
}

static void
sink_accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct sink	*sk = arg;
	struct timeval	 tv;
	int		 fd;

	(void)ev;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			sink_sub_new(sk, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		/* The fd limit, or worse: the listening socket stays
		 * readable, so stop looking at it for a moment. */
		log_warn("events socket: accept; pausing for %d ms",
		    SINK_PAUSE_MSEC);
		event_del(sk->sk_ev);
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)SINK_PAUSE_MSEC * 1000;
		evtimer_add(sk->sk_pause, &tv);
		return;
	}
}

static void
sink_unpause_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sink *sk = arg;

	(void)fd;
	(void)ev;
	event_add(sk->sk_ev, NULL);
}

static void
sink_socket_write(struct sink *sk, const char *line, size_t len)
{
	struct sink_sub	*ss, *next;
	struct evbuffer	*out;
	size_t		 unread;

	for (ss = TAILQ_FIRST(&sk->sk_subs); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, ss_entry);
		out = bufferevent_get_output(ss->ss_bev);
		unread = evbuffer_get_length(out);
		if (unread + len + 1 > SINK_SUB_HWM) {
			log_warnx("events socket: subscriber %llu dropped: "
			    "it does not read (%zu bytes unread)",
			    (unsigned long long)ss->ss_id, unread);
			sink_sub_free(ss);
			continue;
		}
		if (evbuffer_add(out, line, len) == -1 ||
		    evbuffer_add(out, "\n", 1) == -1) {
			log_warnx("events socket: subscriber %llu dropped: "
			    "out of memory", (unsigned long long)ss->ss_id);
			sink_sub_free(ss);
		}
	}
}

/* --- every sink ---------------------------------------------------------- */

void
sink_write(struct webui *wu, const char *line, size_t len)
{
	size_t	 i;
	int	 queued = 0;

	for (i = 0; i < wu->wu_nsinks; i++) {
		if (wu->wu_sinks[i]->sk_kind == SINK_FILE) {
			sink_file_queue(wu->wu_sinks[i], line, len);
			queued = 1;
		} else
			sink_socket_write(wu->wu_sinks[i], line, len);
	}
	/* One write per file after the batch of messages being read:
	 * an active event runs once the current callback returns. */
	if (queued && wu->wu_flush_ev != NULL)
		event_active(wu->wu_flush_ev, EV_TIMEOUT, 0);
}

static void
sink_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	sink_flush(arg);
}

void
sink_flush(struct webui *wu)
{
	size_t i;

	for (i = 0; i < wu->wu_nsinks; i++)
		if (wu->wu_sinks[i]->sk_kind == SINK_FILE)
			sink_file_write(wu->wu_sinks[i]);
}

size_t
sink_subscribers(const struct webui *wu)
{
	size_t i, n = 0;

	for (i = 0; i < wu->wu_nsinks; i++)
		n += wu->wu_sinks[i]->sk_nsubs;
	return (n);
}
