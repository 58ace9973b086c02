/*
 * The workers' channels and the path of one event through webui. Master
 * gives us one channel per worker (IMSG_PEER, ip_role ROLE_TLSWORKER,
 * ip_index the worker's number); a respawned worker's new channel
 * replaces the old one. On it come IMSG_EVENT messages only (the IPC
 * rules refuse anything else from a worker), each one JSON object or
 * several, a newline between two.
 *
 * An event is checked whole before anything is written (evparse.c): a
 * worker parses network bytes and may have been taken over, and a sink
 * line it could shape would let it forge other flows' lines. A refused
 * event is counted and logged at most once per WEBUI_LOG_USEC; the worker
 * is not disconnected, so one bad event does not cost the flows of the
 * others on that worker their record.
 *
 * The captured body bytes (capture_b64) go to the store only: the sinks
 * get the event without that member (mitmd-events(5)).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

static void	webui_worker_dispatch(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	webui_worker_error(struct ipc_chan *, int, const char *,
		    void *);

int
webui_rl_ok(struct webui_rl *rl, uint64_t period)
{
	uint64_t now = util_now_usec();

	if (rl->rl_when != 0 && now - rl->rl_when < period) {
		rl->rl_missed++;
		return (0);
	}
	rl->rl_when = now;
	return (1);
}

void
webui_peer(struct webui *wu, struct ipc_msg *m)
{
	struct ipc_peer	 p;
	struct ipc_chan	*c;

	if (ipc_get_peer(m, &p) == -1 || p.ip_role != ROLE_TLSWORKER ||
	    p.ip_index >= CONF_MAX_WORKERS) {
		log_warnx("PEER: not a worker channel, ignored");
		return;	/* the IPC layer closes the fd */
	}
	c = ipc_chan_new(wu->wu_base, m->im_fd, ROLE_TLSWORKER,
	    webui_worker_dispatch, webui_worker_error, wu);
	if (c == NULL) {
		log_warn("channel to worker %u", p.ip_index);
		return;
	}
	m->im_fd = -1;
	if (wu->wu_peers[p.ip_index] != NULL)
		ipc_chan_free(wu->wu_peers[p.ip_index]);
	wu->wu_peers[p.ip_index] = c;
	log_debug("events channel from worker %u, pid %u", p.ip_index,
	    p.ip_pid);
}

void
webui_peers_free(struct webui *wu)
{
	size_t i;

	for (i = 0; i < CONF_MAX_WORKERS; i++) {
		ipc_chan_free(wu->wu_peers[i]);
		wu->wu_peers[i] = NULL;
	}
}

static void
webui_worker_dispatch(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct webui *wu = arg;

	(void)c;
	if (m->im_hdr.ih_type != IMSG_EVENT) {
		log_warnx("unexpected %s from a worker",
		    imsg_name(m->im_hdr.ih_type));
		return;
	}
	webui_events(wu, (const char *)m->im_data, m->im_hdr.ih_len);
}

/*
 * A message holds one event or several, a newline between two (a worker
 * batches those of one pass of its event loop). Each is checked and
 * handled on its own, in order: one refused does not cost the others.
 * An empty piece (two newlines, one at either end) is refused too.
 */
void
webui_events(struct webui *wu, const char *text, size_t len)
{
	const char	*nl;
	size_t		 n;

	for (;;) {
		nl = memchr(text, '\n', len);
		n = nl != NULL ? (size_t)(nl - text) : len;
		(void)webui_event(wu, text, n);
		if (nl == NULL)
			return;
		text += n + 1;
		len -= n + 1;
	}
}

static int
webui_peers_open(const struct webui *wu)
{
	size_t i;

	for (i = 0; i < CONF_MAX_WORKERS; i++)
		if (wu->wu_peers[i] != NULL)
			return (1);
	return (0);
}

static void
webui_stop_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	log_warnx("stopping: a worker's events channel is still open after "
	    "%d s; its last events may be lost", WEBUI_STOP_SEC);
	exit(0);	/* the store and the sinks: atexit */
}

/*
 * IMSG_SHUTDOWN. Master sends it once the workers have exited, so each
 * of their channels ends with an EOF after its last events: those are
 * read and stored before webui exits (webui_worker_error), within
 * WEBUI_STOP_SEC. Nothing else is worth a drain: a page request retries.
 */
void
webui_stop(struct webui *wu)
{
	struct timeval tv = { WEBUI_STOP_SEC, 0 };

	if (!webui_peers_open(wu))
		exit(0);
	if (wu->wu_stop_ev != NULL)
		return;
	if ((wu->wu_stop_ev = evtimer_new(wu->wu_base, webui_stop_cb,
	    NULL)) == NULL || evtimer_add(wu->wu_stop_ev, &tv) == -1)
		exit(0);
}

/* The worker died (EOF) or sent something the IPC rules refuse: its
 * channel goes; master gives us a new one when it respawns it. */
static void
webui_worker_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	struct webui	*wu = arg;
	size_t		 i;

	for (i = 0; i < CONF_MAX_WORKERS; i++)
		if (wu->wu_peers[i] == c) {
			wu->wu_peers[i] = NULL;
			if (err == IPC_ERR_EOF)
				log_debug("worker %zu: events channel closed",
				    i);
			else
				log_warnx("worker %zu: events channel: %s", i,
				    why);
		}
	ipc_chan_free(c);
	if (wu->wu_stop_ev != NULL && !webui_peers_open(wu))
		exit(0);
}

static int
webui_event_bad(struct webui *wu, const char *why)
{
	wu->wu_bad_events++;
	if (webui_rl_ok(&wu->wu_bad_rl, WEBUI_LOG_USEC))
		log_warnx("event from a worker refused: %s (%llu refused so "
		    "far)", why, (unsigned long long)wu->wu_bad_events);
	return (-1);
}

int
webui_event(struct webui *wu, const char *text, size_t len)
{
	static struct wev	 ev;	/* 3 KiB: not on the stack */
	static char		 line[WEV_TEXT_MAX];
	static uint8_t		 cap[WEBUI_CAPTURE_MAX];
	const char		*why = NULL;
	ssize_t			 caplen = 0;
	int64_t			 id;

	if (wev_parse(text, len, &ev, &why) == -1)
		return (webui_event_bad(wu, why));
	if (ev.we_cap_len != 0) {
		caplen = wev_b64_decode(text + ev.we_capv_off, ev.we_capv_len,
		    cap, sizeof(cap));
		if (caplen < 0)
			return (webui_event_bad(wu, "bad capture_b64"));
		/* the text without the member, for the sinks and the
		 * events table */
		memcpy(line, text, ev.we_cap_off);
		memcpy(line + ev.we_cap_off, text + ev.we_cap_off +
		    ev.we_cap_len, len - ev.we_cap_off - ev.we_cap_len);
		len -= ev.we_cap_len;
		text = line;
	}
	wu->wu_events++;
	sink_write(wu, text, len);
	id = wu->wu_store != NULL ? store_event(wu->wu_store, &ev, text, len,
	    cap, (size_t)caplen) : -1;
	admin_feed_event(wu, id, text, len);	/* after the store: its id */
	return (0);
}
