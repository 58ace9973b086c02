/*
 * GET /api/feed on the admin listener: the events webui stores, live,
 * over a WebSocket (RFC 6455) inside the admin TLS connection. admin.c
 * has checked the client's address and the token (Bearer or the session
 * cookie) before we see the request; here the upgrade is checked, the
 * 101 written by hand, and the connection taken from evhttp: its
 * bufferevent gets our callbacks, and evhttp_connection_free() (which
 * frees the bufferevent, the SSL and the socket) ends it. libevent 2.1
 * has no WebSocket server of its own.
 *
 * Each frame is text: {"id":ID,"event":EVENT}, EVENT the event as the
 * sinks got it and ID its row in the store's events table (null with
 * "store off"). Ids only grow, so "?after=ID" resumes: the rows after
 * ID are replayed from the store in chunks, each once the client has
 * read most of the previous one, then the feed goes live. While a
 * client replays, new events are not queued for it: they are in the
 * store and a later chunk reads them (one process, one connection: a
 * chunk sees the rows of the open transaction too), so there is neither
 * gap nor duplicate. More than FEED_REPLAY_MAX rows after ID: the
 * newest FEED_REPLAY_MAX are replayed, after a control frame
 * {"control":"truncated",...} that says which were skipped.
 *
 * webui never waits for a client: each has at most FEED_QUEUE_MAX bytes
 * queued; an event past that closes it with 1008 and the client is
 * freed once that close is written or FEED_CLOSE_SEC later. What a
 * client sends: pings are answered, a close is echoed, any data frame
 * closes the feed with 1003, a broken frame with 1002.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>

#include "common/log.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

#define FEED_QUEUE_MAX		((size_t)1024 * 1024)	/* per client */
#define FEED_LOWAT		((size_t)64 * 1024)	/* replay refills */
#define FEED_CLIENTS_MAX	32
#define FEED_REPLAY_MAX		10000
#define FEED_REPLAY_CHUNK	256	/* rows a query */
#define FEED_CLOSE_SEC		2	/* for a close frame to leave */
#define FEED_WRITE_SEC		30	/* output stuck that long: dropped */
#define FEED_IN_MAX		4096	/* client bytes held */
#define FEED_PREFIX_MAX		64	/* {"id":N,"event": */
#define FEED_CONTROL_MAX	256

enum feed_state {
	FEED_REPLAY = 1,
	FEED_LIVE,
	FEED_CLOSING
};

struct feed_client {
	TAILQ_ENTRY(feed_client) fc_entry;
	struct feed		*fc_feed;
	struct evhttp_connection *fc_evcon;	/* owns fc_bev */
	struct bufferevent	*fc_bev;
	int64_t			 fc_last;	/* replay: last id sent */
	int			 fc_state;	/* enum feed_state */
};

struct feed {
	struct webui		*fd_wu;
	TAILQ_HEAD(feed_clients, feed_client) fd_clients;
	size_t			 fd_n;
	uint64_t		 fd_dropped;
	struct webui_rl		 fd_rl;
};

static void	feed_read_cb(struct bufferevent *, void *);
static void	feed_write_cb(struct bufferevent *, void *);
static void	feed_event_cb(struct bufferevent *, short, void *);

int
admin_feed_init(struct webui *wu)
{
	struct feed *fd;

	if ((fd = calloc(1, sizeof(*fd))) == NULL)
		return (-1);
	fd->fd_wu = wu;
	TAILQ_INIT(&fd->fd_clients);
	wu->wu_feed = fd;
	return (0);
}

static void
feed_client_free(struct feed_client *fc)
{
	TAILQ_REMOVE(&fc->fc_feed->fd_clients, fc, fc_entry);
	fc->fc_feed->fd_n--;
	bufferevent_setcb(fc->fc_bev, NULL, NULL, NULL, NULL);
	evhttp_connection_free(fc->fc_evcon);	/* the bev, SSL, socket */
	free(fc);
}

void
admin_feed_free(struct webui *wu)
{
	struct feed		*fd = wu->wu_feed;
	struct feed_client	*fc, *next;

	if (fd == NULL)
		return;
	for (fc = TAILQ_FIRST(&fd->fd_clients); fc != NULL; fc = next) {
		next = TAILQ_NEXT(fc, fc_entry);
		feed_client_free(fc);
	}
	free(fd);
	wu->wu_feed = NULL;
}

size_t
admin_feed_clients(const struct webui *wu)
{
	return (wu->wu_feed != NULL ? wu->wu_feed->fd_n : 0);
}

static int
feed_frame(struct feed_client *fc, int op, const void *p, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(fc->fc_bev);
	uint8_t		 head[ADMIN_WS_HEAD_MAX];
	size_t		 n = admin_ws_head(head, op, len);

	if (evbuffer_add(out, head, n) == -1 ||
	    (len > 0 && evbuffer_add(out, p, len) == -1))
		return (-1);
	return (0);
}

/* A close frame, then nothing but its leaving (or FEED_CLOSE_SEC);
 * the client is freed from a callback, never here. */
static void
feed_close(struct feed_client *fc, int code, const char *reason)
{
	struct evbuffer	*out = bufferevent_get_output(fc->fc_bev);
	struct timeval	 tv = { FEED_CLOSE_SEC, 0 };
	uint8_t		 head[ADMIN_WS_HEAD_MAX + 2];
	size_t		 n = MIN(strlen(reason), ADMIN_WS_CONTROL_MAX - 2), h;

	if (fc->fc_state == FEED_CLOSING)
		return;
	fc->fc_state = FEED_CLOSING;
	h = admin_ws_head(head, ADMIN_WS_OP_CLOSE, n + 2);
	head[h++] = (uint8_t)(code >> 8);
	head[h++] = (uint8_t)code;
	/* out of memory: nothing leaves, the timeout frees it */
	if (evbuffer_add(out, head, h) == 0)
		(void)evbuffer_add(out, reason, n);
	bufferevent_disable(fc->fc_bev, EV_READ);
	bufferevent_setwatermark(fc->fc_bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(fc->fc_bev, NULL, &tv);
}

static void	feed_control(struct feed_client *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

static void
feed_control(struct feed_client *fc, const char *fmt, ...)
{
	char	 buf[FEED_CONTROL_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)feed_frame(fc, ADMIN_WS_OP_TEXT, buf, (size_t)n);
}

/* {"id":ID,"event":EVENT}; -1 when the client's queue is full (it is
 * being closed). */
static int
feed_send(struct feed_client *fc, int64_t id, const char *text, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(fc->fc_bev);
	struct feed	*fd = fc->fc_feed;
	char		 pre[FEED_PREFIX_MAX];
	uint8_t		 head[ADMIN_WS_HEAD_MAX];
	size_t		 n, h;
	int		 pn;

	pn = id > 0 ? snprintf(pre, sizeof(pre), "{\"id\":%" PRId64
	    ",\"event\":", id) : snprintf(pre, sizeof(pre),
	    "{\"id\":null,\"event\":");
	if (pn <= 0 || (size_t)pn >= sizeof(pre))
		return (-1);
	n = (size_t)pn + len + 1;
	if (evbuffer_get_length(out) + n + ADMIN_WS_HEAD_MAX >
	    FEED_QUEUE_MAX) {
		fd->fd_dropped++;
		if (webui_rl_ok(&fd->fd_rl, WEBUI_LOG_USEC))
			log_warnx("admin feed: a client reads too slowly, "
			    "closed (%llu so far)",
			    (unsigned long long)fd->fd_dropped);
		feed_close(fc, ADMIN_WS_POLICY, "too slow: the feed's queue "
		    "is full");
		return (-1);
	}
	h = admin_ws_head(head, ADMIN_WS_OP_TEXT, n);
	if (evbuffer_add(out, head, h) == -1 ||
	    evbuffer_add(out, pre, (size_t)pn) == -1 ||
	    evbuffer_add(out, text, len) == -1 ||
	    evbuffer_add(out, "}", 1) == -1) {
		feed_close(fc, ADMIN_WS_TRY_LATER, "out of memory");
		return (-1);
	}
	return (0);
}

void
admin_feed_event(struct webui *wu, int64_t id, const char *text, size_t len)
{
	struct feed_client *fc, *next;

	if (wu->wu_feed == NULL || id == 0)
		return;
	for (fc = TAILQ_FIRST(&wu->wu_feed->fd_clients); fc != NULL;
	    fc = next) {
		next = TAILQ_NEXT(fc, fc_entry);
		if (fc->fc_state == FEED_LIVE)
			(void)feed_send(fc, id, text, len);
	}
}

static sqlite3 *
feed_db(struct feed_client *fc)
{
	struct webui *wu = fc->fc_feed->fd_wu;

	return (wu->wu_store != NULL ? store_db(wu->wu_store) : NULL);
}

/*
 * Rows after fc_last until the output passes FEED_LOWAT or none is
 * left; then live. Runs on connect and from the write callback.
 */
static void
feed_replay(struct feed_client *fc)
{
	struct evbuffer	*out = bufferevent_get_output(fc->fc_bev);
	sqlite3		*db = feed_db(fc);
	sqlite3_stmt	*q = NULL;
	int		 rows, rc = SQLITE_DONE, more;

	while (fc->fc_state == FEED_REPLAY &&
	    evbuffer_get_length(out) < FEED_LOWAT) {
		if (db == NULL || sqlite3_prepare_v2(db, "SELECT id, json "
		    "FROM events WHERE id > ?1 ORDER BY id LIMIT ?2", -1, &q,
		    NULL) != SQLITE_OK) {
			feed_close(fc, ADMIN_WS_TRY_LATER, "the flow store "
			    "cannot be read");
			return;
		}
		sqlite3_bind_int64(q, 1, fc->fc_last);
		sqlite3_bind_int(q, 2, FEED_REPLAY_CHUNK);
		rows = 0;
		/* a row at a time up to FEED_LOWAT: a chunk of large
		 * events must not fill the queue a reading client has */
		while (evbuffer_get_length(out) < FEED_LOWAT &&
		    (rc = sqlite3_step(q)) == SQLITE_ROW) {
			rows++;
			fc->fc_last = sqlite3_column_int64(q, 0);
			if (feed_send(fc, fc->fc_last, (const char *)
			    sqlite3_column_text(q, 1), (size_t)
			    sqlite3_column_bytes(q, 1)) == -1)
				break;
		}
		more = rows == FEED_REPLAY_CHUNK || rc == SQLITE_ROW;
		sqlite3_finalize(q);
		q = NULL;
		if (fc->fc_state != FEED_REPLAY)
			return;
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			feed_close(fc, ADMIN_WS_TRY_LATER, "the flow store "
			    "cannot be read");
			return;
		}
		if (!more) {
			fc->fc_state = FEED_LIVE;
			feed_control(fc, "{\"control\":\"live\",\"after\":%"
			    PRId64 "}", fc->fc_last);
		}
	}
}

/* More than FEED_REPLAY_MAX rows after "after": start at the newest
 * FEED_REPLAY_MAX, and say which were skipped. */
static void
feed_replay_start(struct feed_client *fc, int64_t after)
{
	sqlite3		*db = feed_db(fc);
	sqlite3_stmt	*q;
	int64_t		 from = after;

	fc->fc_state = FEED_REPLAY;
	if (db != NULL && sqlite3_prepare_v2(db, "SELECT id FROM events "
	    "WHERE id > ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2", -1, &q,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, after);
		sqlite3_bind_int(q, 2, FEED_REPLAY_MAX);
		if (sqlite3_step(q) == SQLITE_ROW)
			from = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	if (from != after)
		feed_control(fc, "{\"control\":\"truncated\",\"after\":%"
		    PRId64 ",\"skipped_to\":%" PRId64 ",\"max\":%d}", after,
		    from, FEED_REPLAY_MAX);
	fc->fc_last = from;
	feed_replay(fc);
}

static void
feed_write_cb(struct bufferevent *bev, void *arg)
{
	struct feed_client *fc = arg;

	if (fc->fc_state == FEED_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			feed_client_free(fc);
		return;
	}
	if (fc->fc_state == FEED_REPLAY)
		feed_replay(fc);
}

static void
feed_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct feed_client *fc = arg;

	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) != 0 && fc->fc_state != FEED_CLOSING)
		log_info("admin feed: a client's output stuck for %d s, "
		    "dropped", FEED_WRITE_SEC);
	feed_client_free(fc);	/* EOF, error, timeout */
}

/* One control frame whose head (hlen bytes) is in the input; 0 to go
 * on reading, -1 when the client is closing or gone. */
static int
feed_control_in(struct feed_client *fc, const struct admin_ws_frame *f,
    size_t hlen)
{
	struct evbuffer	*in = bufferevent_get_input(fc->fc_bev);
	uint8_t		 p[ADMIN_WS_CONTROL_MAX];
	size_t		 n = (size_t)f->wf_len;

	evbuffer_drain(in, hlen);
	if (evbuffer_remove(in, p, n) != (int)n)
		return (-1);
	admin_ws_unmask(p, n, f->wf_mask);
	switch (f->wf_opcode) {
	case ADMIN_WS_OP_PING:
		(void)feed_frame(fc, ADMIN_WS_OP_PONG, p, n);
		return (0);
	case ADMIN_WS_OP_PONG:
		return (0);
	case ADMIN_WS_OP_CLOSE:
		feed_close(fc, n >= 2 ? p[0] << 8 | p[1] : ADMIN_WS_NORMAL,
		    "");
		return (-1);
	default:
		feed_close(fc, ADMIN_WS_PROTOCOL, "unknown opcode");
		return (-1);
	}
}

/* What a client sends: frames, each parsed whole before it is acted on;
 * the input is bounded by the read watermark (FEED_IN_MAX). */
static void
feed_read_cb(struct bufferevent *bev, void *arg)
{
	struct feed_client	*fc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct admin_ws_frame	 f;
	const uint8_t		*p;
	size_t			 len;
	int			 h;

	while (fc->fc_state != FEED_CLOSING &&
	    (len = evbuffer_get_length(in)) > 0) {
		p = evbuffer_pullup(in, (ssize_t)MIN(len, ADMIN_WS_HEAD_MAX +
		    sizeof(f.wf_mask)));
		if ((h = admin_ws_parse(p, MIN(len, ADMIN_WS_HEAD_MAX +
		    sizeof(f.wf_mask)), &f)) == 0)
			return;
		if (h == -1) {
			feed_close(fc, ADMIN_WS_PROTOCOL, "bad frame");
			return;
		}
		if ((f.wf_opcode & ADMIN_WS_CONTROL) == 0) {
			feed_close(fc, ADMIN_WS_UNSUPPORTED, "the feed takes "
			    "no messages");
			return;
		}
		if (len < (size_t)h + f.wf_len)
			return;
		if (feed_control_in(fc, &f, (size_t)h) == -1)
			return;
	}
}

/* "after=ID"; anything else is refused. */
static int
feed_query_one(void *arg, const char *key, const char *val, char *err,
    size_t errsz)
{
	int64_t	*after = arg;
	size_t	 i;

	if (strcmp(key, "after") != 0) {
		snprintf(err, errsz, "unknown parameter \"%.*s\"",
		    ADMIN_SHOW_MAX, key);
		return (-1);
	}
	*after = 0;
	for (i = 0; val[i] != '\0'; i++) {
		if (!isdigit((unsigned char)val[i]) || i >= ADMIN_ID_DIGITS) {
			snprintf(err, errsz, "after: not an event id");
			return (-1);
		}
		*after = *after * 10 + (val[i] - '0');
	}
	return (0);
}

/* A comma-separated header names tok (case-insensitive). */
static int
feed_has_token(const char *hdr, const char *tok)
{
	size_t	 n = strlen(tok), l;

	while (hdr != NULL && *hdr != '\0') {
		hdr += strspn(hdr, " \t,");
		l = strcspn(hdr, ",");
		while (l > 0 && (hdr[l - 1] == ' ' || hdr[l - 1] == '\t'))
			l--;
		if (l == n && strncasecmp(hdr, tok, n) == 0)
			return (1);
		hdr += strcspn(hdr, ",");
	}
	return (0);
}

/* A browser's page of another site must not use the session cookie:
 * an Origin, when there is one, is this host. */
static int
feed_origin_ok(struct evkeyvalq *in)
{
	static const char scheme[] = "https://";
	const char	*o = evhttp_find_header(in, "Origin");
	const char	*host = evhttp_find_header(in, "Host");

	if (o == NULL)
		return (1);
	return (host != NULL && strncasecmp(o, scheme, sizeof(scheme) - 1) ==
	    0 && strcasecmp(o + sizeof(scheme) - 1, host) == 0);
}

/* The checks of an upgrade; 0, or -1 with the answer sent. */
static int
feed_check(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri, int64_t *after, char *accept, size_t asz)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const char	*v = evhttp_find_header(in, "Sec-WebSocket-Version");
	const char	*q = evhttp_uri_get_query(uri);
	char		 err[ADMIN_ERR_MAX];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    !feed_has_token(evhttp_find_header(in, "Upgrade"), "websocket") ||
	    !feed_has_token(evhttp_find_header(in, "Connection"), "upgrade") ||
	    v == NULL || strcmp(v, "13") != 0) {
		evhttp_add_header(oh, "Upgrade", "websocket");
		evhttp_add_header(oh, "Sec-WebSocket-Version", "13");
		admin_json_error(req, ADMIN_HTTP_UPGRADE, "Upgrade Required",
		    "the feed is a WebSocket (version 13): GET with Upgrade");
		return (-1);
	}
	if (admin_ws_accept(evhttp_find_header(in, "Sec-WebSocket-Key"),
	    accept, asz) == -1) {
		admin_json_error(req, HTTP_BADREQUEST, "Bad Request",
		    "bad Sec-WebSocket-Key");
		return (-1);
	}
	if (!feed_origin_ok(in)) {
		admin_json_error(req, ADMIN_HTTP_FORBIDDEN, "Forbidden",
		    "a page of another origin");
		return (-1);
	}
	*after = -1;
	if (q != NULL && admin_pairs(q, strlen(q), feed_query_one, after,
	    err, sizeof(err)) == -1) {
		admin_json_error(req, HTTP_BADREQUEST, "Bad Request", err);
		return (-1);
	}
	if (wu->wu_feed == NULL || wu->wu_feed->fd_n >= FEED_CLIENTS_MAX) {
		admin_json_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "too many feed clients");
		return (-1);
	}
	return (0);
}

void
admin_feed_open(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct feed_client	*fc;
	struct timeval		 wt = { FEED_WRITE_SEC, 0 };
	char			 accept[ADMIN_WS_ACCEPT_LEN + 1];
	int64_t			 after;

	if (feed_check(wu, req, uri, &after, accept, sizeof(accept)) == -1)
		return;
	if (evcon == NULL || (fc = calloc(1, sizeof(*fc))) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	/* From here the connection is ours; evhttp never answers req. */
	fc->fc_feed = wu->wu_feed;
	fc->fc_evcon = evcon;
	fc->fc_bev = evhttp_connection_get_bufferevent(evcon);
	fc->fc_state = FEED_LIVE;
	TAILQ_INSERT_TAIL(&wu->wu_feed->fd_clients, fc, fc_entry);
	wu->wu_feed->fd_n++;
	bufferevent_setcb(fc->fc_bev, feed_read_cb, feed_write_cb,
	    feed_event_cb, fc);
	bufferevent_set_timeouts(fc->fc_bev, NULL, &wt);
	bufferevent_setwatermark(fc->fc_bev, EV_READ, 0, FEED_IN_MAX);
	bufferevent_setwatermark(fc->fc_bev, EV_WRITE, FEED_LOWAT, 0);
	evbuffer_add_printf(bufferevent_get_output(fc->fc_bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Cache-Control: no-store\r\n\r\n", accept);
	bufferevent_enable(fc->fc_bev, EV_READ | EV_WRITE);
	if (after >= 0 && feed_db(fc) == NULL)
		feed_control(fc, "{\"control\":\"no_store\"}");
	else if (after >= 0)
		feed_replay_start(fc, after);
	/* bytes the client sent behind its request head */
	if (evbuffer_get_length(bufferevent_get_input(fc->fc_bev)) > 0)
		feed_read_cb(fc->fc_bev, fc);
}
