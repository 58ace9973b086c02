/*
 * An HTTP/1.1 client in front of an HTTP/2 upstream (a reverse listener
 * with "http2", whose upstream chose h2): each request the client sends
 * becomes a stream on one nghttp2 client session, one at a time, as
 * HTTP/1.1 has them; the response comes back as HTTP/1.1, chunked unless
 * the upstream gave its length, its trailers in the last chunk.
 *
 * The client's request is read by conn.c (the head) and here (the body,
 * by its framing, into the stream's buffer); the upstream's window opens
 * as the body leaves, the client's reading stops while TW_HIGH_WM bytes
 * wait. Response bytes are consumed on the session only once the client
 * bufferevent has room for them, so a slow client holds the upstream
 * back at the stream window.
 *
 * nghttp2 callbacks only record what is to happen to the client
 * connection (x_after); it happens once nghttp2 has returned, so that no
 * callback frees the session it runs in.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/h2.h"
#include "tlsworker/h2int.h"
#include "tlsworker/tlsworker.h"

#define H1H2_CHUNK_HDR	24	/* "%zx\r\n" */
#define H1H2_URL_SCHEME	"://"

enum h1h2_after {
	X_NONE = 0,
	X_NEXT,		/* the exchange is over: the next request head */
	X_CLOSE,	/* flush what the client has, then close */
	X_ABORT,	/* close now: the response is cut short */
	X_FAIL,		/* no response began: a 502 */
};

struct h1h2 {
	struct conn		*x_conn;
	nghttp2_session		*x_us;
	struct bufferevent	*x_ubev;
	int32_t			 x_sid;		/* the exchange's stream, or -1 */
	int			 x_after;	/* enum h1h2_after */
	int			 x_goaway;	/* no new stream upstream */
	int			 x_dead;	/* the upstream is gone */

	/* the request body, client to upstream */
	struct evbuffer		*x_req;
	int			 x_req_framing;
	uint64_t		 x_req_left;
	struct http1_chunked	 x_req_ck;
	int			 x_req_eof;
	int			 x_req_paused;
	int			 x_keep;	/* the client keeps the
						 * connection */
	int			 x_head;	/* a HEAD request */

	/* the response, upstream to client */
	struct h2hdrs		 x_hdrs;
	int			 x_resp_started;
	int			 x_resp_chunked;
	int			 x_resp_body;	/* it may have one */
	int			 x_resp_done;
	size_t			 x_unconsumed;	/* written, not yet consumed */
};

static void	h1h2_client_read(struct bufferevent *, void *);
static void	h1h2_client_write(struct bufferevent *, void *);
static void	h1h2_client_event(struct bufferevent *, short, void *);
static void	h1h2_up_read(struct bufferevent *, void *);
static void	h1h2_up_write(struct bufferevent *, void *);
static void	h1h2_up_event(struct bufferevent *, short, void *);
static void	h1h2_step(struct h1h2 *);

/* The request head as HTTP/2 fields: the pseudo-fields from the request
 * line and Host, then the others in lower case. */
static int
h1h2_fields(struct h1h2 *x, struct h2hdrs *hb)
{
	struct conn		 *cn = x->x_conn;
	const struct http1_head	 *h = &cn->cn_req;
	const struct http1_field *host;
	const char		 *t = http1_str(h, h->hh_target), *p;
	size_t			  tl = h->hh_target.hs_len;
	char			  auth[TW_TARGET_MAX];
	const char		 *a;
	size_t			  al;

	/* an absolute-form target keeps its path and authority */
	if ((p = strstr(t, H1H2_URL_SCHEME)) != NULL && t[0] != '/') {
		a = p + sizeof(H1H2_URL_SCHEME) - 1;
		p = strchr(a, '/');
		al = p != NULL ? (size_t)(p - a) : strlen(a);
		t = p != NULL ? p : "/";
		tl = strlen(t);
	} else if ((host = http1_field(h, "host")) != NULL) {
		a = http1_str(h, host->hf_value);
		al = host->hf_value.hs_len;
	} else {
		al = (size_t)snprintf(auth, sizeof(auth), "%s:%u",
		    cn->cn_host, (unsigned)cn->cn_port);
		a = auth;
		al = MIN(al, sizeof(auth) - 1);
	}
	if (h2_hdrs_add(hb, (const uint8_t *)":method", 7, (const uint8_t *)
	    http1_str(h, h->hh_method), h->hh_method.hs_len, SIZE_MAX) == -1 ||
	    h2_hdrs_add(hb, (const uint8_t *)":scheme", 7,
	    (const uint8_t *)"https", 5, SIZE_MAX) == -1 ||
	    h2_hdrs_add(hb, (const uint8_t *)":authority", 10,
	    (const uint8_t *)a, al, SIZE_MAX) == -1 ||
	    h2_hdrs_add(hb, (const uint8_t *)":path", 5, (const uint8_t *)t,
	    tl, SIZE_MAX) == -1)
		return -1;
	return h2_hdrs_from_http1(hb, h);
}

/* --- the request body ------------------------------------------------- */

static ssize_t
h1h2_req_source(nghttp2_session *sess, int32_t id, uint8_t *buf,
    size_t len, uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h1h2	*x = arg;
	int		 n;

	(void)sess;
	(void)id;
	(void)src;
	if ((n = evbuffer_remove(x->x_req, buf, len)) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	conn_count_in(x->x_conn, (uint64_t)n);
	if (x->x_req_paused && evbuffer_get_length(x->x_req) < TW_LOW_WM) {
		x->x_req_paused = 0;
		bufferevent_enable(x->x_conn->cn_bev, EV_READ);
	}
	if (evbuffer_get_length(x->x_req) > 0)
		return n;
	if (!x->x_req_eof)
		return n > 0 ? n : NGHTTP2_ERR_DEFERRED;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

static void
h1h2_req_span(void *arg, const char *p, size_t n)
{
	struct h1h2 *x = arg;

	evbuffer_add(x->x_req, p, n);
	ev_body_chunk(&x->x_conn->cn_ev, 0, p, n, 0);
}

/* Body bytes from the client, by the request's framing; -1 when it is
 * malformed. */
static int
h1h2_req_body(struct h1h2 *x)
{
	struct evbuffer		*in = bufferevent_get_input(x->x_conn->cn_bev);
	struct evbuffer_iovec	 v;
	size_t			 n, used;
	int			 r;

	while (!x->x_req_eof && evbuffer_get_length(in) > 0 &&
	    evbuffer_get_length(x->x_req) < TW_HIGH_WM) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (x->x_req_framing == HTTP1_BODY_CHUNKED) {
			r = http1_chunked_feed(&x->x_req_ck, v.iov_base,
			    v.iov_len, &used, h1h2_req_span, x);
			evbuffer_drain(in, used);
			if (r == HTTP1_ERROR)
				return -1;
			if (r == HTTP1_DONE)
				x->x_req_eof = 1;
			continue;
		}
		n = (size_t)MIN((uint64_t)v.iov_len, x->x_req_left);
		h1h2_req_span(x, v.iov_base, n);
		evbuffer_drain(in, n);
		if ((x->x_req_left -= n) == 0)
			x->x_req_eof = 1;
	}
	if (x->x_req_eof) {
		ev_body_chunk(&x->x_conn->cn_ev, 0, NULL, 0, 1);
		bufferevent_disable(x->x_conn->cn_bev, EV_READ);
	} else if (evbuffer_get_length(x->x_req) >= TW_HIGH_WM) {
		x->x_req_paused = 1;
		bufferevent_disable(x->x_conn->cn_bev, EV_READ);
	}
	if (x->x_sid > 0)
		nghttp2_session_resume_data(x->x_us, x->x_sid);
	return 0;
}

/* conn.c: a request head is complete (fwd_request). */
void
h1h2_request(struct conn *cn)
{
	struct h1h2		*x = cn->cn_h1h2;
	struct http1_head	*h = &cn->cn_req;
	struct h2hdrs		 hb;
	nghttp2_data_provider	 dp;
	int32_t			 sid;

	if (x->x_dead || x->x_goaway) {
		/* the client retries on a new connection */
		conn_why(cn, "upstream_eof");
		conn_close(cn);
		return;
	}
	cn->cn_nreq++;
	ev_request_headers(&cn->cn_ev, h);
	memset(&hb, 0, sizeof(hb));
	if (h1h2_fields(x, &hb) == -1) {
		h2_hdrs_free(&hb);
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	x->x_keep = http1_keepalive(h);
	x->x_head = h->hh_method_id == HTTP1_M_HEAD;
	x->x_req_framing = h->hh_framing;
	x->x_req_left = h->hh_clen;
	x->x_req_eof = h->hh_framing == HTTP1_BODY_NONE ||
	    (h->hh_framing == HTTP1_BODY_LENGTH && h->hh_clen == 0);
	http1_chunked_init(&x->x_req_ck);
	x->x_resp_started = x->x_resp_chunked = x->x_resp_done = 0;
	x->x_after = X_NONE;
	dp.source.ptr = x;
	dp.read_callback = h1h2_req_source;
	sid = nghttp2_submit_request(x->x_us, NULL, hb.hb_nv, hb.hb_n,
	    x->x_req_eof ? NULL : &dp, x);
	h2_hdrs_free(&hb);
	if (sid < 0) {
		conn_respond(cn, 502, "mitmd: the upstream takes no request: "
		    "%s", nghttp2_strerror(sid));
		return;
	}
	x->x_sid = sid;
	cn->cn_state = CONN_FORWARD;
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	bufferevent_setcb(cn->cn_bev, h1h2_client_read, h1h2_client_write,
	    h1h2_client_event, x);
	bufferevent_setwatermark(cn->cn_bev, EV_WRITE, TW_LOW_WM, 0);
	if (x->x_req_eof) {
		/* a pipelined request waits in the buffer for its turn */
		bufferevent_disable(cn->cn_bev, EV_READ);
		ev_body_chunk(&cn->cn_ev, 0, NULL, 0, 1);
	} else {
		bufferevent_enable(cn->cn_bev, EV_READ);
		if (h1h2_req_body(x) == -1) {
			conn_why(cn, "error");
			conn_close(cn);
			return;
		}
	}
	h1h2_step(x);
}

/* --- the response ------------------------------------------------------ */

static void
h1h2_write_head(struct h1h2 *x, int status, int end)
{
	struct conn	*cn = x->x_conn;
	struct evbuffer	*out = bufferevent_get_output(cn->cn_bev);
	int		 has_len = h2_hdrs_get(&x->x_hdrs, "content-length") !=
			    NULL;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    http1_reason(status));
	h2_hdrs_write_http1(out, &x->x_hdrs);
	x->x_resp_body = !x->x_head && status != 204 && status != 304 &&
	    status >= 200;
	x->x_resp_chunked = x->x_resp_body && !has_len && !end;
	if (x->x_resp_chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	else if (x->x_resp_body && !has_len)
		evbuffer_add_printf(out, "Content-Length: 0\r\n");
	if (status >= 200 && !x->x_keep)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add(out, "\r\n", 2);
	if (status < 200)
		return;
	x->x_resp_started = 1;
	h2_ev_head(&cn->cn_ev, &cn->cn_ev.ef_x, status, &x->x_hdrs);
}

/* The response ended (END_STREAM): its trailers, if any, in the last
 * chunk. */
static void
h1h2_resp_end(struct h1h2 *x, const struct h2hdrs *tr)
{
	struct conn	*cn = x->x_conn;
	struct evbuffer	*out = bufferevent_get_output(cn->cn_bev);

	if (x->x_resp_done)
		return;
	x->x_resp_done = 1;
	if (x->x_resp_chunked) {
		evbuffer_add(out, "0\r\n", 3);
		h2_hdrs_write_http1(out, tr);
		evbuffer_add(out, "\r\n", 2);
	}
	h2_ev_tail(&cn->cn_ev, &cn->cn_ev.ef_x, 1, tr, NULL, NULL);
	/* the next request, unless this one's body is still coming (an
	 * early answer: the connection cannot be used again) */
	x->x_after = x->x_keep && x->x_req_eof && !x->x_goaway ? X_NEXT :
	    X_CLOSE;
}

/* --- nghttp2 callbacks ------------------------------------------------- */

static int
h1h2_cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *fr,
    void *arg)
{
	struct h1h2 *x = arg;

	(void)sess;
	if (fr->hd.type == NGHTTP2_HEADERS && fr->hd.stream_id == x->x_sid)
		h2_hdrs_clear(&x->x_hdrs);
	return 0;
}

static int
h1h2_cb_header(nghttp2_session *sess, const nghttp2_frame *fr,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *arg)
{
	struct h1h2 *x = arg;

	(void)sess;
	(void)flags;
	if (fr->hd.type != NGHTTP2_HEADERS || fr->hd.stream_id != x->x_sid)
		return 0;
	return h2_hdrs_add(&x->x_hdrs, name, nlen, value, vlen,
	    tw_env.tw_conf.cg_h2_header_list) == -1 ?
	    NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int
h1h2_cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *fr,
    void *arg)
{
	struct h1h2		*x = arg;
	int			 status = 0, end;

	(void)sess;
	if (fr->hd.type == NGHTTP2_GOAWAY) {
		x->x_goaway = 1;
		if (x->x_sid < 0)
			x->x_after = X_CLOSE;
		return 0;
	}
	if (fr->hd.stream_id != x->x_sid || x->x_sid < 0)
		return 0;
	end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	if (fr->hd.type == NGHTTP2_HEADERS && !x->x_resp_started) {
		status = h2_status(h2_hdrs_get(&x->x_hdrs, ":status"));
		if (x->x_hdrs.hb_over || status < 100 || status == 101) {
			nghttp2_submit_rst_stream(x->x_us, NGHTTP2_FLAG_NONE,
			    x->x_sid, NGHTTP2_PROTOCOL_ERROR);
			x->x_after = X_FAIL;
			return 0;
		}
		h1h2_write_head(x, status, end);
		if (end && x->x_resp_started)
			h1h2_resp_end(x, NULL);
	} else if (fr->hd.type == NGHTTP2_HEADERS)
		h1h2_resp_end(x, &x->x_hdrs);	/* trailers */
	else if (fr->hd.type == NGHTTP2_DATA && end)
		h1h2_resp_end(x, NULL);
	return 0;
}

static int
h1h2_cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h1h2	*x = arg;
	struct conn	*cn = x->x_conn;
	struct evbuffer	*out = bufferevent_get_output(cn->cn_bev);
	char		 hdr[H1H2_CHUNK_HDR];
	int		 n;

	(void)flags;
	if (id != x->x_sid || !x->x_resp_body) {
		nghttp2_session_consume(sess, id, len);
		return 0;
	}
	conn_touch(cn);
	if (x->x_resp_chunked) {
		n = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
		evbuffer_add(out, hdr, (size_t)n);
	}
	evbuffer_add(out, data, len);
	if (x->x_resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	conn_count_out(cn, len);
	ev_body_chunk(&cn->cn_ev, 1, data, len, 0);
	/* the window opens again once the client has room */
	if (evbuffer_get_length(out) < TW_HIGH_WM)
		nghttp2_session_consume(sess, id, len);
	else
		x->x_unconsumed += len;
	return 0;
}

static int
h1h2_cb_stream_close(nghttp2_session *sess, int32_t id, uint32_t code,
    void *arg)
{
	struct h1h2 *x = arg;

	(void)sess;
	if (id != x->x_sid)
		return 0;
	x->x_sid = -1;
	if (x->x_resp_done)
		return 0;
	log_debug("conn=%llu: upstream stream %d closed: %s",
	    (unsigned long long)x->x_conn->cn_meta.cm_id, id,
	    nghttp2_http2_strerror(code));
	h2_ev_tail(&x->x_conn->cn_ev, &x->x_conn->cn_ev.ef_x, 1, NULL,
	    nghttp2_http2_strerror(code), "server");
	x->x_after = x->x_resp_started ? X_ABORT : X_FAIL;
	return 0;
}

/* --- I/O ---------------------------------------------------------------- */

/* Frames to the upstream, then what the callbacks decided for the
 * client. */
static void
h1h2_step(struct h1h2 *x)
{
	struct conn	*cn = x->x_conn;
	const uint8_t	*p;
	ssize_t		 n;
	int		 after;

	while (!x->x_dead && evbuffer_get_length(bufferevent_get_output(
	    x->x_ubev)) < TW_HIGH_WM && (n = nghttp2_session_mem_send(
	    x->x_us, &p)) != 0) {
		if (n < 0 || bufferevent_write(x->x_ubev, p, (size_t)n) ==
		    -1) {
			x->x_dead = 1;
			if (x->x_after == X_NONE)
				x->x_after = x->x_resp_started ? X_ABORT :
				    X_FAIL;
		}
	}
	after = x->x_after;
	x->x_after = X_NONE;
	switch (after) {
	case X_NEXT:
		cn->cn_kept = 1;
		conn_head_begin(cn);
		break;
	case X_CLOSE:
		conn_why(cn, "closed");
		conn_close_after_flush(cn);
		break;
	case X_ABORT:
		conn_why(cn, "upstream_eof");
		conn_close(cn);
		break;
	case X_FAIL:
		conn_why(cn, "error");
		conn_respond(cn, 502, "mitmd: the HTTP/2 upstream gave no "
		    "response");
		break;
	}
}

static void
h1h2_client_read(struct bufferevent *bev, void *arg)
{
	struct h1h2 *x = arg;

	(void)bev;
	conn_touch(x->x_conn);
	if (h1h2_req_body(x) == -1) {
		conn_why(x->x_conn, "error");
		conn_respond(x->x_conn, 400, "mitmd: malformed chunked "
		    "request body");
		return;
	}
	h1h2_step(x);
}

static void
h1h2_client_write(struct bufferevent *bev, void *arg)
{
	struct h1h2 *x = arg;

	(void)bev;
	if (x->x_unconsumed > 0 && x->x_sid > 0) {
		nghttp2_session_consume(x->x_us, x->x_sid, x->x_unconsumed);
		x->x_unconsumed = 0;
		h1h2_step(x);
	}
}

static void
h1h2_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct h1h2 *x = arg;

	(void)bev;
	conn_why(x->x_conn, what & BEV_EVENT_ERROR ? "error" : "client_eof");
	conn_close(x->x_conn);
}

/* What the upstream sent, through the session; no step. */
static void
h1h2_recv(struct h1h2 *x, struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	while (!x->x_dead && evbuffer_peek(in, -1, NULL, &v, 1) > 0 &&
	    v.iov_len > 0) {
		n = nghttp2_session_mem_recv(x->x_us, v.iov_base, v.iov_len);
		if (n < 0) {
			log_info("conn=%llu: %s: HTTP/2 upstream error: %s",
			    (unsigned long long)x->x_conn->cn_meta.cm_id,
			    x->x_conn->cn_target, nghttp2_strerror((int)n));
			x->x_dead = 1;
			if (x->x_after == X_NONE)
				x->x_after = x->x_sid < 0 ? X_CLOSE :
				    x->x_resp_started ? X_ABORT : X_FAIL;
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
}

static void
h1h2_up_read(struct bufferevent *bev, void *arg)
{
	struct h1h2 *x = arg;

	conn_touch(x->x_conn);
	h1h2_recv(x, bev);
	h1h2_step(x);
}

static void
h1h2_up_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h1h2_step(arg);
}

static void
h1h2_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct h1h2 *x = arg;

	(void)what;
	/* what came before the end first: a response may be in it */
	h1h2_recv(x, bev);
	x->x_dead = 1;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (x->x_after == X_NONE && x->x_sid > 0 && !x->x_resp_done)
		x->x_after = x->x_resp_started ? X_ABORT : X_FAIL;
	else if (x->x_after == X_NONE && x->x_conn->cn_state == CONN_HEAD) {
		/* between two exchanges: the client retries elsewhere */
		conn_why(x->x_conn, "upstream_eof");
		x->x_after = X_CLOSE;
	}
	h1h2_step(x);
}

/* --- setup -------------------------------------------------------------- */

static nghttp2_session_callbacks *
h1h2_callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (cb != NULL || nghttp2_session_callbacks_new(&cb) != 0)
		return cb;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h1h2_cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h1h2_cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h1h2_cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h1h2_cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h1h2_cb_stream_close);
	return cb;
}

int
h1h2_start(struct conn *cn, struct bufferevent *ubev)
{
	nghttp2_session_callbacks *cb = h1h2_callbacks();
	nghttp2_option		  *opt = h2_options();
	struct h1h2		  *x;

	if (cb == NULL || opt == NULL || (x = calloc(1, sizeof(*x))) == NULL) {
		bufferevent_free(ubev);
		conn_close(cn);
		return -1;
	}
	x->x_conn = cn;
	x->x_ubev = ubev;
	x->x_sid = -1;
	cn->cn_h1h2 = x;
	if (nghttp2_session_client_new2(&x->x_us, cb, x, opt) != 0 ||
	    (x->x_req = evbuffer_new()) == NULL ||
	    h2_up_settings(x->x_us) == -1) {
		conn_close(cn);
		return -1;
	}
	bufferevent_setcb(ubev, h1h2_up_read, h1h2_up_write, h1h2_up_event,
	    x);
	bufferevent_setwatermark(ubev, EV_WRITE, TW_LOW_WM, 0);
	bufferevent_setwatermark(ubev, EV_READ, 0, 0);
	if (conn_enable_rw(ubev) == -1) {
		conn_close(cn);
		return -1;
	}
	cn->cn_fixed = 1;
	cn->cn_ev.ef_protocol = "http/1.1";
	h1h2_step(x);
	conn_head_begin(cn);
	return 0;
}

void
h1h2_free(struct h1h2 *x)
{
	if (x->x_us != NULL)
		nghttp2_session_del(x->x_us);
	if (x->x_ubev != NULL)
		bufferevent_free(x->x_ubev);
	if (x->x_req != NULL)
		evbuffer_free(x->x_req);
	h2_hdrs_free(&x->x_hdrs);
	free(x);
}
