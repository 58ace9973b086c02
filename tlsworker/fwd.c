/*
 * HTTP/1.x exchanges, one at a time per client connection, in two modes.
 * Absolute-form plain HTTP ("GET http://host/path HTTP/1.1") on the
 * explicit proxy: each request is decided by the policy and goes to its
 * own host, in origin-form with Host taken from the target. Inside a
 * CONNECT tunnel (fw_fixed: intercepted TLS, or plain HTTP on a tunnel)
 * every request goes to the one upstream connection the CONNECT made,
 * target and Host as the client wrote them; the two bufferevents may be
 * TLS ones (bufferevent_openssl), which changes nothing here.
 *
 * In both modes hop-by-hop fields are removed; bodies stream both ways in
 * their own framing (Content-Length, chunked walked byte-exact, or until
 * close) and are reported to the events as they pass; the response head
 * comes back with a Connection field that says what the proxy does with
 * the client connection.
 *
 * Keep-alive: the client connection stays open when it asked for it
 * (HTTP/1.1 by default, HTTP/1.0 with "keep-alive") and the response has
 * a length; the upstream connection is kept for the next request to the
 * same host and port, and a request without a body that finds a kept
 * connection closed under it is retried once on a fresh one. A fixed
 * upstream is never replaced: when it closes, the client connection
 * closes too (after the response in progress), and the client reconnects.
 *
 * Back-pressure: a side stops reading while the other side's output is
 * above TW_HIGH_WM and starts again when it drains below TW_LOW_WM.
 *
 * WebSocket: a GET that asks to upgrade to "websocket" keeps its Upgrade
 * field and goes out with "Connection: Upgrade"; when the origin answers
 * 101 the head goes back the same way and the connection becomes a byte
 * relay both ways (fwd_ws_*), the bytes shown to a WebSocket observer
 * (wsobs.h) as they pass. Upgrade to anything else is not asked for: the
 * Upgrade field is dropped as hop-by-hop, and a 101 the client did not
 * ask us for is a bad response (502). When either side of the relay
 * closes, what is queued for the other goes out and the connection
 * closes. Server-sent events: a text/event-stream response body (not
 * content-coded) is shown, de-chunked, to an SSE observer (sseobs.h).
 * Neither changes a byte or holds one back.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/sseobs.h"
#include "tlsworker/h2.h"
#include "tlsworker/tlsworker.h"
#include "tlsworker/wsobs.h"

#define FWD_RECORD_MAX	16384	/* the plaintext of one TLS record */
#define FWD_WS		"websocket"
#define FWD_WS_EXT	"Sec-WebSocket-Extensions"
#define FWD_C2U		0	/* relay direction, as events' response */
#define FWD_U2C		1

enum fwd_move {
	FWD_MORE = 0,
	FWD_DONE,
	FWD_BAD,
};

/* A body span reported to the events (and to an SSE observer). */
struct fwd_span {
	struct conn	*fs_conn;
	int		 fs_resp;
	struct sseobs	*fs_sse;
};

typedef void fwd_bytes_fn(void *, const char *, size_t);

struct fwd {
	struct conn		*fw_conn;
	struct bufferevent	*fw_ubev;	/* upstream, closes its fd */
	int			 fw_fixed;	/* the CONNECT target, for good */
	char			 fw_uhost[HTTP1_HOST_MAX + 1];
	uint16_t		 fw_uport;
	struct upstream		 fw_up;
	int			 fw_busy;	/* an exchange is running */
	int			 fw_reused;	/* on a kept connection */
	int			 fw_retried;
	char			*fw_head;	/* request head as sent */
	size_t			 fw_headlen;
	int			 fw_cpaused;	/* client reading stopped */
	int			 fw_upaused;	/* upstream reading stopped */

	int			 fw_req_framing;
	int			 fw_req_done;
	uint64_t		 fw_req_left;
	struct http1_chunked	 fw_req_ck;

	struct http1_head	 fw_resp;
	int			 fw_resp_seen;	/* a byte of response came */
	int			 fw_resp_head;	/* final head forwarded */
	int			 fw_resp_done;
	uint64_t		 fw_resp_left;
	struct http1_chunked	 fw_resp_ck;

	int			 fw_client_keep;
	int			 fw_up_keep;
	int			 fw_used;	/* an exchange was started */

	int			 fw_ws_req;	/* the request asks for a
						 * WebSocket upgrade */
	int			 fw_upgraded;	/* 101: relaying bytes */
	int			 fw_closing;	/* relay: flushing, then close */
	struct wsobs		*fw_ws;		/* NULL: not observed */
	struct sseobs		*fw_sse;	/* the response is an event
						 * stream being observed */
};

static struct fwd *fwd_new(struct conn *);
static void	fwd_connected(struct conn *, int, int, const char *);
static void	fwd_send(struct fwd *);
static void	fwd_drop_upstream(struct fwd *);
static void	fwd_done(struct fwd *);
static int	fwd_move(struct conn *, int, struct evbuffer *,
		    struct evbuffer *, int, uint64_t *, struct http1_chunked *,
		    size_t *);
static int	fwd_resp_head(struct fwd *);
static void	fwd_client_read(struct bufferevent *, void *);
static void	fwd_client_write(struct bufferevent *, void *);
static void	fwd_client_event(struct bufferevent *, short, void *);
static void	fwd_up_read(struct bufferevent *, void *);
static void	fwd_up_write(struct bufferevent *, void *);
static void	fwd_up_event(struct bufferevent *, short, void *);
static void	fwd_up_idle_gone(struct fwd *);
static void	fwd_coalesce(struct evbuffer *);
static void	fwd_begin(struct conn *);
static void	fwd_each(struct evbuffer *, size_t, fwd_bytes_fn *, void *);
static int	fwd_upgrade(struct fwd *);
static void	fwd_ws_pump(struct fwd *, int);
static void	fwd_ws_read(struct bufferevent *, void *);
static void	fwd_ws_write(struct bufferevent *, void *);
static void	fwd_ws_event(struct bufferevent *, short, void *);

static struct fwd *
fwd_new(struct conn *cn)
{
	struct fwd	*fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL)
		return NULL;
	fw->fw_conn = cn;
	fw->fw_up.up_fd = -1;
	http1_head_init(&fw->fw_resp, HTTP1_RESPONSE,
	    tw_env.tw_conf.cg_max_head, tw_env.tw_conf.cg_max_headers);
	return fw;
}

void
fwd_free(struct fwd *fw)
{
	wsobs_free(fw->fw_ws);
	sseobs_free(fw->fw_sse);
	fwd_drop_upstream(fw);
	http1_head_free(&fw->fw_resp);
	free(fw->fw_head);
	if (fw->fw_conn->cn_fwd == fw)
		fw->fw_conn->cn_fwd = NULL;
	free(fw);
}

static void
fwd_drop_upstream(struct fwd *fw)
{
	upstream_cancel(&fw->fw_up);
	if (fw->fw_ubev != NULL)
		bufferevent_free(fw->fw_ubev);
	fw->fw_ubev = NULL;
	fw->fw_upaused = 0;
}

/* Prepare the exchange for the request in cn_req; 0 or -1. */
static int
fwd_prepare(struct fwd *fw)
{
	struct conn		*cn = fw->fw_conn;
	struct http1_head	*req = &cn->cn_req;

	/* RFC 6455 4.1: a GET, HTTP/1.1 at least, no body. */
	fw->fw_ws_req = req->hh_minor >= 1 && req->hh_framing ==
	    HTTP1_BODY_NONE && req->hh_method.hs_len == 3 &&
	    memcmp(http1_str(req, req->hh_method), "GET", 3) == 0 &&
	    http1_upgrade_to(req, FWD_WS);
	req->hh_keep_upgrade = fw->fw_ws_req;
	sseobs_free(fw->fw_sse);
	fw->fw_sse = NULL;
	free(fw->fw_head);
	if ((fw->fw_head = http1_build_request(req, &fw->fw_headlen)) == NULL)
		return -1;
	http1_head_reset(&fw->fw_resp);
	fw->fw_resp.hh_max_head = tw_env.tw_conf.cg_max_head;
	fw->fw_resp.hh_max_fields = tw_env.tw_conf.cg_max_headers;
	fw->fw_resp.hh_req_head = req->hh_method_id == HTTP1_M_HEAD;
	fw->fw_resp_seen = fw->fw_resp_head = fw->fw_resp_done = 0;
	fw->fw_retried = 0;
	fw->fw_req_framing = req->hh_framing;
	fw->fw_req_left = req->hh_clen;
	fw->fw_req_done = req->hh_framing == HTTP1_BODY_NONE;
	http1_chunked_init(&fw->fw_req_ck);
	fw->fw_client_keep = http1_keepalive(req) && !tw_env.tw_draining;
	fw->fw_up_keep = 0;
	fw->fw_used = 1;
	return 0;
}

struct bufferevent *
fwd_take_idle(struct fwd *fw)
{
	struct bufferevent	*bev = fw->fw_ubev;

	/* Fresh, or kept after a whole exchange that said keep-alive. */
	if (!fw->fw_fixed || bev == NULL || fw->fw_busy ||
	    (fw->fw_used && (!fw->fw_up_keep || !fw->fw_req_done ||
	    !fw->fw_resp_done)))
		return NULL;
	fw->fw_ubev = NULL;
	fw->fw_upaused = 0;
	return bev;
}

/* An exchange starts: its event, and the client's side set up for it.
 * The body stays in the client's socket until upstream is there. */
static void
fwd_begin(struct conn *cn)
{
	ev_request_headers(&cn->cn_ev, &cn->cn_req);
	cn->cn_state = CONN_FORWARD;
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	bufferevent_setcb(cn->cn_bev, fwd_client_read, fwd_client_write,
	    fwd_client_event, cn);
	bufferevent_setwatermark(cn->cn_bev, EV_WRITE, TW_LOW_WM, 0);
	bufferevent_disable(cn->cn_bev, EV_READ);
}

/* intercept.c: requests inside this tunnel go to ubev and nowhere else. */
int
fwd_fixed(struct conn *cn, struct bufferevent *ubev)
{
	struct fwd	*fw;

	if (cn->cn_fwd == NULL && (cn->cn_fwd = fwd_new(cn)) == NULL) {
		bufferevent_free(ubev);
		return -1;
	}
	fw = cn->cn_fwd;
	fwd_drop_upstream(fw);
	fw->fw_fixed = 1;
	fw->fw_ubev = ubev;
	bufferevent_setwatermark(ubev, EV_READ, 0, TW_HIGH_WM);
	bufferevent_setwatermark(ubev, EV_WRITE, TW_LOW_WM, 0);
	bufferevent_setcb(ubev, fwd_up_read, fwd_up_write, fwd_up_event, fw);
	/* Reading while idle shows an upstream that closes. */
	conn_enable_rw(ubev);
	return 0;
}

/* A request inside a tunnel: to the fixed upstream, no decision. */
static void
fwd_request_fixed(struct conn *cn)
{
	struct fwd	*fw = cn->cn_fwd;

	if (fw == NULL || fw->fw_ubev == NULL) {
		/* Upstream closed between two requests: closing makes the
		 * client retry on a new connection, a 502 would not. */
		log_debug("conn=%llu: upstream gone before the request",
		    (unsigned long long)cn->cn_meta.cm_id);
		conn_why(cn, "upstream_eof");
		conn_close(cn);
		return;
	}
	if (fwd_prepare(fw) == -1) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	cn->cn_nreq++;
	fwd_begin(cn);
	fw->fw_reused = 1;
	fwd_send(fw);
}

/* conn.c: a request head is complete. */
void
fwd_request(struct conn *cn)
{
	struct fwd	*fw;
	char		 rule[POLICY_RULE_STRLEN];

	if (cn->cn_h1h2 != NULL) {
		h1h2_request(cn);
		return;
	}
	if (cn->cn_fixed) {
		fwd_request_fixed(cn);
		return;
	}
	if (conn_decide(cn) == ACTION_BLOCK) {
		conn_why(cn, "blocked");
		conn_respond(cn, 403, "mitmd: access to %s is blocked by rule "
		    "%s (line %u)", cn->cn_target,
		    policy_rule_str(&cn->cn_pd, rule, sizeof(rule)),
		    cn->cn_pd.pd_line);
		return;
	}
	if (cn->cn_fwd == NULL && (cn->cn_fwd = fwd_new(cn)) == NULL) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	fw = cn->cn_fwd;
	if (fwd_prepare(fw) == -1) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	cn->cn_ev.ef_protocol = "http/1.1";
	fwd_begin(cn);
	if (fw->fw_ubev != NULL && fw->fw_uport == cn->cn_port &&
	    strcmp(fw->fw_uhost, cn->cn_host) == 0) {
		fw->fw_reused = 1;
		fwd_send(fw);
		return;
	}
	fwd_drop_upstream(fw);
	util_strlcpy(fw->fw_uhost, cn->cn_host, sizeof(fw->fw_uhost));
	fw->fw_uport = cn->cn_port;
	upstream_start(&fw->fw_up, cn, cn->cn_host, cn->cn_port,
	    fwd_connected);
}

static void
fwd_connected(struct conn *cn, int fd, int err, const char *why)
{
	struct fwd	*fw = cn->cn_fwd;

	if (err != UP_OK) {
		conn_why(cn, "error");
		log_info("conn=%llu: %s: %s",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target, why);
		conn_respond(cn, upstream_status(err), "mitmd: cannot connect "
		    "to %s: %s", cn->cn_target, why);
		return;
	}
	(void)conn_nodelay(fd);
	fw->fw_ubev = bufferevent_socket_new(tw_env.tw_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (fw->fw_ubev == NULL) {
		close(fd);
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	bufferevent_setwatermark(fw->fw_ubev, EV_READ, 0, TW_HIGH_WM);
	bufferevent_setwatermark(fw->fw_ubev, EV_WRITE, TW_LOW_WM, 0);
	bufferevent_setcb(fw->fw_ubev, fwd_up_read, fwd_up_write,
	    fwd_up_event, fw);
	conn_enable_rw(fw->fw_ubev);
	fw->fw_reused = 0;
	fwd_send(fw);
}

static void
fwd_send(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;

	if (evbuffer_add(bufferevent_get_output(fw->fw_ubev), fw->fw_head,
	    fw->fw_headlen) == -1) {
		fwd_drop_upstream(fw);
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	conn_count_in(cn, fw->fw_headlen);
	fw->fw_busy = 1;
	fw->fw_cpaused = 0;
	bufferevent_enable(fw->fw_ubev, EV_READ);
	/* Reading on also after the body: EOF from the client shows, and
	 * a pipelined request waits in the buffer (bounded by its mark). */
	bufferevent_enable(cn->cn_bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) > 0)
		fwd_client_read(cn->cn_bev, cn);
}

/*
 * A head and a small body sit in separate chains of out, and a TLS
 * bufferevent writes each chain as a record of its own, with a write(2)
 * each: join them when all of it fits one record.
 */
static void
fwd_coalesce(struct evbuffer *out)
{
	struct evbuffer_iovec v;
	size_t		 n = evbuffer_get_length(out);

	if (n > 0 && n <= FWD_RECORD_MAX &&
	    evbuffer_peek(out, -1, NULL, &v, 1) > 1)
		(void)evbuffer_pullup(out, -1);
}

static void
fwd_span_cb(void *arg, const char *p, size_t n)
{
	struct fwd_span	*fs = arg;

	ev_body_chunk(&fs->fs_conn->cn_ev, fs->fs_resp, p, n, 0);
	sseobs_feed(fs->fs_sse, p, n);
}

/* The first n bytes of in, in place, to fn piece by piece. */
static void
fwd_each(struct evbuffer *in, size_t n, fwd_bytes_fn *fn, void *arg)
{
	struct evbuffer_ptr	 ptr;
	struct evbuffer_iovec	 v;
	size_t			 k;

	if (n == 0 || evbuffer_ptr_set(in, &ptr, 0, EVBUFFER_PTR_SET) == -1)
		return;
	while (n > 0 && evbuffer_peek(in, (ev_ssize_t)n, &ptr, &v, 1) >= 1 &&
	    v.iov_len > 0) {
		k = MIN(v.iov_len, n);
		fn(arg, v.iov_base, k);
		n -= k;
		if (n > 0 && evbuffer_ptr_set(in, &ptr, k,
		    EVBUFFER_PTR_ADD) == -1)
			break;
	}
}


/*
 * Body bytes to the other side. A little, behind bytes already queued
 * (the head just written), is copied in after them, so that a small
 * response is one TLS record and one write(2), where moving its chain
 * would make two; anything else moves by chain, as it comes.
 */
#define FWD_COPY_MAX	4096

static size_t
fwd_bytes(struct evbuffer *in, struct evbuffer *out, size_t n)
{
	struct evbuffer_iovec	 v;
	ev_ssize_t		 got;

	if (n == 0 || n > FWD_COPY_MAX || evbuffer_get_length(out) == 0 ||
	    evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) != 1)
		return ((size_t)evbuffer_remove_buffer(in, out, n));
	if ((got = evbuffer_copyout(in, v.iov_base, n)) <= 0)
		return (0);
	v.iov_len = (size_t)got;
	if (evbuffer_commit_space(out, &v, 1) == -1)
		return (0);
	(void)evbuffer_drain(in, (size_t)got);
	return ((size_t)got);
}

/*
 * Move body bytes from in to out as the framing says, never past the
 * message's end, telling the events (resp: which body). *moved counts
 * them. FWD_DONE at the end of the body, after its last chunk event.
 */
static int
fwd_move(struct conn *cn, int resp, struct evbuffer *in,
    struct evbuffer *out, int framing, uint64_t *left,
    struct http1_chunked *ck, size_t *moved)
{
	struct fwd_span	 fs = { cn, resp, resp && cn->cn_fwd != NULL ?
			     cn->cn_fwd->fw_sse : NULL };
	struct evbuffer_iovec v;
	size_t		 n, used;
	int		 r = FWD_MORE;

	*moved = 0;
	switch (framing) {
	case HTTP1_BODY_NONE:
		return FWD_DONE;
	case HTTP1_BODY_LENGTH:
		n = evbuffer_get_length(in);
		if (n > *left)
			n = (size_t)*left;
		fwd_each(in, n, fwd_span_cb, &fs);
		*moved = fwd_bytes(in, out, n);
		*left -= *moved;
		r = *left == 0 ? FWD_DONE : FWD_MORE;
		break;
	case HTTP1_BODY_CLOSE:
		n = evbuffer_get_length(in);
		fwd_each(in, n, fwd_span_cb, &fs);
		*moved = fwd_bytes(in, out, n);
		return FWD_MORE;
	default:
		/* Chunked: the events get the data, not the framing. */
		while (r == FWD_MORE && evbuffer_peek(in, -1, NULL, &v, 1) == 1 &&
		    v.iov_len > 0) {
			r = http1_chunked_feed(ck, v.iov_base, v.iov_len,
			    &used, fwd_span_cb, &fs);
			*moved += fwd_bytes(in, out, used);
			r = r == HTTP1_DONE ? FWD_DONE : r == HTTP1_ERROR ?
			    FWD_BAD : FWD_MORE;
		}
		break;
	}
	if (r == FWD_DONE)
		ev_body_chunk(&cn->cn_ev, resp, NULL, 0, 1);
	return r;
}

static void
fwd_client_read(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;
	struct fwd	*fw = cn->cn_fwd;
	struct evbuffer	*out;
	size_t		 moved;
	int		 r;

	conn_touch(cn);
	if (fw->fw_req_done || fw->fw_ubev == NULL)
		return;	/* a pipelined request waits for its turn */
	out = bufferevent_get_output(fw->fw_ubev);
	r = fwd_move(cn, 0, bufferevent_get_input(bev), out,
	    fw->fw_req_framing, &fw->fw_req_left, &fw->fw_req_ck, &moved);
	conn_count_in(cn, moved);
	if (r == FWD_BAD) {
		log_info("conn=%llu: request body: %s",
		    (unsigned long long)cn->cn_meta.cm_id, fw->fw_req_ck.ck_error);
		conn_why(cn, "error");
		fwd_drop_upstream(fw);
		if (fw->fw_resp_head)
			conn_close(cn);
		else
			conn_respond(cn, 400, "mitmd: %s",
			    fw->fw_req_ck.ck_error);
		return;
	}
	if (r == FWD_DONE)
		fw->fw_req_done = 1;
	fwd_coalesce(out);
	if (!fw->fw_req_done && evbuffer_get_length(out) >= TW_HIGH_WM) {
		bufferevent_disable(bev, EV_READ);
		fw->fw_cpaused = 1;
	}
	if (fw->fw_req_done && fw->fw_resp_done)
		fwd_done(fw);
}

/* The client took our output down to TW_LOW_WM: upstream may go on. */
static void
fwd_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;
	struct fwd	*fw = cn->cn_fwd;

	(void)bev;
	conn_touch(cn);
	if (fw == NULL || !fw->fw_upaused || fw->fw_ubev == NULL)
		return;
	fw->fw_upaused = 0;
	bufferevent_enable(fw->fw_ubev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(fw->fw_ubev)) > 0)
		fwd_up_read(fw->fw_ubev, fw);
}

static void
fwd_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*cn = arg;
	struct fwd	*fw = cn->cn_fwd;

	(void)bev;
	/* A client may shut down its side once the request is out (an
	 * HTTP/1.0 habit): answer it, then close. Not in TLS: libevent
	 * stops writing at a close_notify, and the answer would wait for
	 * the idle timeout. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    fw->fw_req_done && cn->cn_ssl == NULL) {
		fw->fw_client_keep = 0;
		return;
	}
	conn_why(cn, what & BEV_EVENT_ERROR ? "error" : "client_eof");
	conn_close(cn);
}

static void
fwd_up_write(struct bufferevent *bev, void *arg)
{
	struct fwd	*fw = arg;
	struct conn	*cn = fw->fw_conn;

	(void)bev;
	conn_touch(cn);
	if (!fw->fw_cpaused || cn->cn_state != CONN_FORWARD)
		return;
	fw->fw_cpaused = 0;
	bufferevent_enable(cn->cn_bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) > 0)
		fwd_client_read(cn->cn_bev, cn);
}

/* Write a response head for the client; -1 on allocation failure. */
static int
fwd_write_head(struct fwd *fw, int keep)
{
	struct conn	*cn = fw->fw_conn;
	char		*h;
	size_t		 len;
	int		 rv;

	h = http1_build_response(&fw->fw_resp, keep, cn->cn_req.hh_minor,
	    &len);
	if (h == NULL)
		return -1;
	rv = evbuffer_add(bufferevent_get_output(cn->cn_bev), h, len);
	free(h);
	if (rv == 0)
		conn_count_out(cn, len);
	return rv;
}

/* A field's value and length, or NULL. */
static const char *
fwd_field(const struct http1_head *h, const char *name, size_t *len)
{
	const struct http1_field *f;

	if ((f = http1_field(h, name)) == NULL)
		return NULL;
	*len = f->hf_value.hs_len;
	return http1_str(h, f->hf_value);
}

/* A response with a text/event-stream body: its observer, unless the
 * body is content-coded (we would see compressed bytes). */
static void
fwd_sse_begin(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;
	const char	*v;
	size_t		 len = 0;

	if (fw->fw_resp.hh_framing == HTTP1_BODY_NONE ||
	    (v = fwd_field(&fw->fw_resp, "Content-Type", &len)) == NULL ||
	    !sseobs_is_event_stream(v, len))
		return;
	v = fwd_field(&fw->fw_resp, "Content-Encoding", &len);
	if (!sseobs_coding_ok(v, len)) {
		log_info("conn=%llu: %s: event stream with Content-Encoding "
		    "%.*s: not parsed", (unsigned long long)cn->cn_meta.cm_id,
		    cn->cn_target, (int)MIN(len, (size_t)64), v);
		return;
	}
	fw->fw_sse = sseobs_new(&cn->cn_ev, cn->cn_ev.ef_x.ex_stream);
}

/* A final response head: decide both connections' fate, forward it. */
static int
fwd_final_head(struct fwd *fw)
{
	const struct http1_head	*rh = &fw->fw_resp;

	fw->fw_up_keep = http1_keepalive(rh) &&
	    rh->hh_framing != HTTP1_BODY_CLOSE;
	/* A body still coming from the client when the answer is already
	 * there: the client is told to close, its rest is discarded. A
	 * fixed upstream that closes takes the client connection along. */
	if (!fw->fw_req_done || rh->hh_framing == HTTP1_BODY_CLOSE ||
	    (fw->fw_fixed && !fw->fw_up_keep))
		fw->fw_client_keep = 0;
	ev_response_headers(&fw->fw_conn->cn_ev, rh);
	fwd_sse_begin(fw);
	if (fwd_write_head(fw, fw->fw_client_keep) == -1)
		return -1;
	fw->fw_resp_head = 1;
	fw->fw_resp_left = rh->hh_clen;
	fw->fw_resp_done = rh->hh_framing == HTTP1_BODY_NONE;
	http1_chunked_init(&fw->fw_resp_ck);
	return 0;
}

/*
 * Parse the response head from upstream. Interim 1xx heads are passed to
 * an HTTP/1.1 client and parsing goes on. 1 when the final head is out,
 * 0 for more bytes, -1 when the conn was answered or closed.
 */
static int
fwd_resp_head(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;
	struct evbuffer	*in = bufferevent_get_input(fw->fw_ubev);
	struct evbuffer_iovec v;
	size_t		 used;
	int		 r, req_head = fw->fw_resp.hh_req_head;

	while (evbuffer_peek(in, -1, NULL, &v, 1) == 1 && v.iov_len > 0) {
		r = http1_head_parse(&fw->fw_resp, v.iov_base, v.iov_len,
		    &used);
		evbuffer_drain(in, used);
		if (r == HTTP1_MORE)
			continue;
		if (r == HTTP1_DONE && fw->fw_resp.hh_code == 101 &&
		    fw->fw_ws_req)
			return fwd_upgrade(fw) == -1 ? -1 : 1;
		if (r == HTTP1_ERROR || fw->fw_resp.hh_code == 101) {
			log_info("conn=%llu: %s: bad response: %s",
			    (unsigned long long)cn->cn_meta.cm_id,
			    cn->cn_target, r == HTTP1_ERROR ?
			    fw->fw_resp.hh_error : "unexpected 101");
			fwd_drop_upstream(fw);
			conn_respond(cn, 502, "mitmd: bad response from %s",
			    cn->cn_target);
			return -1;
		}
		if (fw->fw_resp.hh_code / 100 != 1)
			return fwd_final_head(fw) == -1 ? -1 : 1;
		/* RFC 9110 15.2: no 1xx to an HTTP/1.0 client. */
		if (cn->cn_req.hh_minor >= 1 && fwd_write_head(fw, 1) == -1)
			return -1;
		http1_head_reset(&fw->fw_resp);
		fw->fw_resp.hh_req_head = req_head;
	}
	return 0;
}

/* Response body bytes to the client; 0 or -1 when the conn closed. */
static int
fwd_resp_body(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;
	struct evbuffer	*out = bufferevent_get_output(cn->cn_bev);
	size_t		 moved;
	int		 r;

	r = fwd_move(cn, 1, bufferevent_get_input(fw->fw_ubev), out,
	    fw->fw_resp.hh_framing, &fw->fw_resp_left, &fw->fw_resp_ck,
	    &moved);
	conn_count_out(cn, moved);
	if (r == FWD_BAD) {
		/* Half a response is out: all we can do is stop. */
		log_info("conn=%llu: response body: %s",
		    (unsigned long long)cn->cn_meta.cm_id,
		    fw->fw_resp_ck.ck_error);
		conn_why(cn, "error");
		conn_close(cn);
		return -1;
	}
	if (r == FWD_DONE)
		fw->fw_resp_done = 1;
	else if (evbuffer_get_length(out) >= TW_HIGH_WM) {
		bufferevent_disable(fw->fw_ubev, EV_READ);
		fw->fw_upaused = 1;
	}
	return 0;
}

static void
fwd_up_read(struct bufferevent *bev, void *arg)
{
	struct fwd	*fw = arg;
	struct conn	*cn = fw->fw_conn;
	int		 r;

	if (!fw->fw_busy || cn->cn_state != CONN_FORWARD) {
		/* Bytes on an idle kept connection: not HTTP we can use. */
		fwd_up_idle_gone(fw);
		return;
	}
	conn_touch(cn);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		fw->fw_resp_seen = 1;
	if (!fw->fw_resp_head && (r = fwd_resp_head(fw)) != 1) {
		if (r == -1 && cn->cn_state == CONN_FORWARD)
			conn_close(cn);	/* out of memory */
		return;
	}
	if (fw->fw_upgraded) {
		/* Frames may have come right behind the 101. */
		fwd_ws_pump(fw, FWD_U2C);
		fwd_ws_pump(fw, FWD_C2U);
		return;
	}
	if (!fw->fw_resp_done && fwd_resp_body(fw) == -1)
		return;
	fwd_coalesce(bufferevent_get_output(cn->cn_bev));
	if (fw->fw_resp_done)
		fwd_done(fw);
}

/* Retry a body-less request once when a kept connection turns out to
 * have been closed by the origin before it answered. */
static int
fwd_retry(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;

	if (fw->fw_fixed || !fw->fw_reused || fw->fw_retried ||
	    fw->fw_resp_seen || fw->fw_req_framing != HTTP1_BODY_NONE)
		return 0;
	log_debug("conn=%llu: kept connection to %s closed, retrying",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target);
	fwd_drop_upstream(fw);
	fw->fw_retried = 1;
	fw->fw_busy = 0;
	upstream_start(&fw->fw_up, cn, fw->fw_uhost, fw->fw_uport,
	    fwd_connected);
	return 1;
}

static void
fwd_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct fwd	*fw = arg;
	struct conn	*cn = fw->fw_conn;

	(void)bev;
	if (!fw->fw_busy || cn->cn_state != CONN_FORWARD) {
		fwd_up_idle_gone(fw);	/* a kept connection went away */
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    fw->fw_resp_head && fw->fw_resp.hh_framing == HTTP1_BODY_CLOSE) {
		ev_body_chunk(&cn->cn_ev, 1, NULL, 0, 1);
		fw->fw_resp_done = 1;
		fw->fw_up_keep = 0;
		fw->fw_client_keep = 0;
		fwd_done(fw);
		return;
	}
	if (fwd_retry(fw))
		return;
	log_info("conn=%llu: %s closed the connection %s",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target,
	    fw->fw_resp_head ? "in the response body" : "before responding");
	conn_why(cn, "upstream_eof");
	fwd_drop_upstream(fw);
	if (fw->fw_resp_head)
		conn_close(cn);
	else
		conn_respond(cn, 502, "mitmd: %s closed the connection "
		    "before responding", cn->cn_target);
}

/* Both messages of the exchange are complete, or the response is and
 * the client connection closes anyway. */
static void
fwd_done(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;

	fw->fw_busy = 0;
	/* Bytes after the response would be read as the next one. */
	if (!fw->fw_req_done || !fw->fw_up_keep || fw->fw_ubev == NULL ||
	    evbuffer_get_length(bufferevent_get_input(fw->fw_ubev)) > 0)
		fwd_drop_upstream(fw);
	else if (fw->fw_upaused) {
		fw->fw_upaused = 0;
		bufferevent_enable(fw->fw_ubev, EV_READ);
	}
	if (fw->fw_client_keep && fw->fw_req_done) {
		/* Nothing of the exchange is needed while the connection
		 * waits for the next one. */
		http1_head_free(&fw->fw_resp);
		free(fw->fw_head);
		fw->fw_head = NULL;
		sseobs_free(fw->fw_sse);
		fw->fw_sse = NULL;
		cn->cn_kept = 1;
		conn_head_begin(cn);
	} else
		conn_close_after_flush(cn);
}

/*
 * The upstream connection closed, or sent bytes, between two exchanges.
 * A kept connection to some host is just dropped; a fixed one was the
 * whole point of the client connection, which closes with it unless a
 * response to it is still going out.
 */
static void
fwd_up_idle_gone(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;

	fwd_drop_upstream(fw);
	if (fw->fw_fixed && cn->cn_state == CONN_HEAD) {
		conn_why(cn, "upstream_eof");
		conn_close(cn);
	}
}

/* --- WebSocket: a byte relay after the 101 -------------------------------- */

/* One direction's bytes for the observer. */
struct fwd_wsfeed {
	struct wsobs	*wf_obs;
	int		 wf_dir;	/* FWD_C2U, FWD_U2C */
};

static void
fwd_ws_show(void *arg, const char *p, size_t n)
{
	const struct fwd_wsfeed *wf = arg;

	wsobs_feed(wf->wf_obs, wf->wf_dir, p, n);
}

/* The 101's Sec-WebSocket-Extensions fields, joined by ", " (RFC 9110
 * 5.3); "" for none, NULL when out of memory. */
static char *
fwd_ws_ext(const struct http1_head *h)
{
	const struct http1_field *f;
	size_t		 i, len = 0, n = 0;
	char		*s;

	for (i = 0; i < h->hh_nfields; i++)
		if (strcasecmp(http1_str(h, h->hh_fields[i].hf_name),
		    FWD_WS_EXT) == 0)
			len += h->hh_fields[i].hf_value.hs_len + 2;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		if (strcasecmp(http1_str(h, f->hf_name), FWD_WS_EXT) != 0)
			continue;
		if (n > 0) {
			memcpy(s + n, ", ", 2);
			n += 2;
		}
		memcpy(s + n, http1_str(h, f->hf_value), f->hf_value.hs_len);
		n += f->hf_value.hs_len;
	}
	s[n] = '\0';
	return s;
}

/*
 * The origin switched protocols for a WebSocket request: its 101 goes to
 * the client with the Upgrade kept, and from now on the connection is a
 * byte relay both ways. Neither connection carries another request.
 * Called from fwd_resp_head; 0, or -1 when out of memory.
 */
static int
fwd_upgrade(struct fwd *fw)
{
	struct conn	*cn = fw->fw_conn;
	char		*ext;

	fw->fw_resp.hh_keep_upgrade = 1;
	ev_response_headers(&cn->cn_ev, &fw->fw_resp);
	if (fwd_write_head(fw, 0) == -1)
		return -1;
	fw->fw_resp_head = fw->fw_resp_done = 1;
	fw->fw_upgraded = 1;
	fw->fw_client_keep = fw->fw_up_keep = 0;
	/* A 101 without "Upgrade: websocket" fails at the client (RFC 6455
	 * 4.1); its bytes are relayed, not read as frames. */
	if (http1_upgrade_to(&fw->fw_resp, FWD_WS) &&
	    (ext = fwd_ws_ext(&fw->fw_resp)) != NULL) {
		fw->fw_ws = wsobs_new(tw_env.tw_base, &cn->cn_ev,
		    cn->cn_ev.ef_x.ex_stream, ext,
		    (size_t)tw_env.tw_conf.cg_capture_max * 1024);
		free(ext);
	}
	log_debug("conn=%llu: %s: WebSocket%s",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target,
	    fw->fw_ws != NULL ? "" : ", not observed");
	fw->fw_cpaused = fw->fw_upaused = 0;
	bufferevent_setcb(cn->cn_bev, fwd_ws_read, fwd_ws_write,
	    fwd_ws_event, fw);
	bufferevent_setcb(fw->fw_ubev, fwd_ws_read, fwd_ws_write,
	    fwd_ws_event, fw);
	conn_enable_rw(cn->cn_bev);
	conn_enable_rw(fw->fw_ubev);
	return 0;
}

/*
 * What one side sent, to the other side's output and to the observer, at
 * once and whole. The source stops reading while the destination holds
 * TW_HIGH_WM or more (fwd_ws_write starts it again).
 */
static void
fwd_ws_pump(struct fwd *fw, int dir)
{
	struct conn		*cn = fw->fw_conn;
	struct bufferevent	*src, *dst;
	struct evbuffer		*in, *out;
	struct fwd_wsfeed	 wf = { fw->fw_ws, dir };
	size_t			 n;

	src = dir == FWD_U2C ? fw->fw_ubev : cn->cn_bev;
	dst = dir == FWD_U2C ? cn->cn_bev : fw->fw_ubev;
	if (src == NULL || dst == NULL || fw->fw_closing)
		return;
	in = bufferevent_get_input(src);
	out = bufferevent_get_output(dst);
	if ((n = evbuffer_get_length(in)) == 0)
		return;
	conn_touch(cn);
	if (fw->fw_ws != NULL)
		fwd_each(in, n, fwd_ws_show, &wf);
	/* Moving chains fails only on allocation; the bytes stay then,
	 * and the next read or the idle timeout deals with it. */
	if (evbuffer_add_buffer(out, in) == -1)
		return;
	if (dir == FWD_U2C)
		conn_count_out(cn, n);
	else
		conn_count_in(cn, n);
	fwd_coalesce(out);
	if (evbuffer_get_length(out) >= TW_HIGH_WM) {
		bufferevent_disable(src, EV_READ);
		if (dir == FWD_U2C)
			fw->fw_upaused = 1;
		else
			fw->fw_cpaused = 1;
	}
}

static void
fwd_ws_read(struct bufferevent *bev, void *arg)
{
	struct fwd	*fw = arg;

	fwd_ws_pump(fw, bev == fw->fw_ubev ? FWD_U2C : FWD_C2U);
}

/* bev's output went down to TW_LOW_WM (or, when closing, to nothing). */
static void
fwd_ws_write(struct bufferevent *bev, void *arg)
{
	struct fwd	*fw = arg;
	struct conn	*cn = fw->fw_conn;
	int		 dir = bev == fw->fw_ubev ? FWD_C2U : FWD_U2C;
	struct bufferevent *src = dir == FWD_U2C ? fw->fw_ubev : cn->cn_bev;
	int		*paused = dir == FWD_U2C ? &fw->fw_upaused :
			    &fw->fw_cpaused;

	conn_touch(cn);
	if (fw->fw_closing) {
		if (bev == fw->fw_ubev &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_close(cn);
		return;
	}
	if (!*paused)
		return;
	*paused = 0;
	bufferevent_enable(src, EV_READ);
	fwd_ws_pump(fw, dir);
}

/*
 * A side closed (or failed). EOF: what it sent is relayed, what waits
 * for the other side goes out, then the connection closes. Upstream
 * gone: the client gets the rest, a TLS close_notify and a linger
 * (conn_close_after_flush). Client gone: the upstream gets the rest
 * within TW_LINGER_SEC.
 */
static void
fwd_ws_event(struct bufferevent *bev, short what, void *arg)
{
	struct fwd	*fw = arg;
	struct conn	*cn = fw->fw_conn;
	int		 up = bev == fw->fw_ubev;

	if (fw->fw_closing || (what & BEV_EVENT_ERROR)) {
		log_debug("conn=%llu: WebSocket relay: %s %s",
		    (unsigned long long)cn->cn_meta.cm_id,
		    up ? "upstream" : "client",
		    what & BEV_EVENT_ERROR ? "error" : "closed");
		if (what & BEV_EVENT_ERROR)
			conn_why(cn, "error");
		wsobs_end(fw->fw_ws, "eof");
		conn_close(cn);
		return;
	}
	fwd_ws_pump(fw, up ? FWD_U2C : FWD_C2U);
	conn_why(cn, wsobs_closed(fw->fw_ws) ? "closed" :
	    up ? "upstream_eof" : "client_eof");
	wsobs_end(fw->fw_ws, "eof");
	if (up) {
		fwd_drop_upstream(fw);
		conn_close_after_flush(cn);
		return;
	}
	fw->fw_closing = 1;
	bufferevent_disable(cn->cn_bev, EV_READ);
	bufferevent_disable(fw->fw_ubev, EV_READ);
	conn_timer(cn, TMO_CLOSE, TW_LINGER_SEC);
	bufferevent_setwatermark(fw->fw_ubev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(fw->fw_ubev)) == 0)
		conn_close(cn);
}

/* conn.c, before the flow's stream_closed: the observers' last events. */
void
fwd_end(struct fwd *fw)
{
	wsobs_end(fw->fw_ws, "eof");
}
