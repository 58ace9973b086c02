/*
 * The WebSocket observer (wsobs.h): two frame parsers, a bounded inflater
 * per direction for permessage-deflate, and the turns of the
 * conversation, reported as events. Owned by whoever relays the bytes
 * (fwd.c for HTTP/1.1); everything runs on the worker's loop.
 */
#define ZLIB_CONST

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/events.h"
#include "tlsworker/ws.h"
#include "tlsworker/wsext.h"
#include "tlsworker/wsobs.h"

/*
 * Inflated bytes per message, at most: a message that inflates past this
 * (a compression bomb: 16 MiB can expand a thousandfold) is not inflated
 * further. The window is lost then, and a sender that keeps its context
 * cannot be inflated any more on that connection.
 */
#define WSO_INFLATE_MAX	 ((uint64_t)64 << 20)
/* zlib's raw inflate refuses a window of 8 bits (deflate makes it 9,
 * RFC 7692 7.1.2.1 allows 8); a larger window reads any smaller one. */
#define WSO_BITS_MIN	 9
#define WSO_MSEC	 1000
#define WSO_USEC_MSEC	 1000

/* RFC 7692 7.2.2: the tail the sender removed from each message. */
static const uint8_t wso_tail[] = { 0x00, 0x00, 0xff, 0xff };

struct wso_dir {
	struct ws_parser wd_p;
	struct wsobs	*wd_obs;
	int		 wd_resp;	/* 1: what the server sends */
	int		 wd_dead;	/* protocol error: not parsed further */
	int		 wd_closed;	/* sent a close frame */
	uint64_t	 wd_msg_start;	/* wall usec of the message's first
					 * frame */
	uint8_t		*wd_cap;	/* wo_capture bytes, on first use */
	size_t		 wd_caplen;

	z_stream	 wd_z;
	int		 wd_z_init;
	int		 wd_z_lost;	/* no inflating on this direction */
	int		 wd_takeover;	/* the sender keeps its context */
	int		 wd_bits;
	int		 wd_msg_z;	/* inflating the open message */
	uint64_t	 wd_msg_out;	/* inflated bytes of that message */
};

struct wsobs {
	struct ev_flow	*wo_flow;
	uint32_t	 wo_stream;
	size_t		 wo_capture;
	int		 wo_off;	/* nothing is observed */
	int		 wo_ended;
	struct event	*wo_idle;
	struct timeval	 wo_idle_tv;
	struct wso_dir	 wo_dir[2];	/* by response */
	int		 wo_turn_open;
	struct ev_ws_turn wo_turn;
	uint64_t	 wo_turns;
};

static void	wso_frame(void *, const struct ws_frame *);
static void	wso_payload(void *, const struct ws_frame *, const uint8_t *,
		    size_t, uint64_t);
static void	wso_message(void *, const struct ws_message *);
static void	wso_control(void *, const struct ws_control *);
static void	wso_note(void *, const char *);
static void	wso_error(void *, const char *);
static void	wso_idle(evutil_socket_t, short, void *);
static void	wso_turn_end(struct wsobs *, const char *);

static const struct ws_callbacks wso_cb = {
	.wcb_frame = wso_frame,
	.wcb_payload = wso_payload,
	.wcb_message = wso_message,
	.wcb_control = wso_control,
	.wcb_note = wso_note,
	.wcb_error = wso_error,
};

static unsigned long long
wso_id(const struct wsobs *o)
{
	return (unsigned long long)o->wo_flow->ef_id;
}

/* The negotiated extensions; -1 when the connection is not observed. */
static int
wso_extensions(struct wsobs *o, const char *ext, struct wsext *x)
{
	wsext_init(x);
	if (ext == NULL || *ext == '\0')
		return 0;
	if (wsext_parse(x, ext, strlen(ext)) == -1) {
		log_info("conn=%llu: WebSocket extensions: %s: not observed",
		    wso_id(o), x->wx_error);
		return -1;
	}
	if (x->wx_other) {
		/* Its RSV bits and framing would read as errors. */
		log_info("conn=%llu: WebSocket extension other than "
		    "permessage-deflate: not observed", wso_id(o));
		return -1;
	}
	return 0;
}

struct wsobs *
wsobs_new(struct event_base *base, struct ev_flow *flow, uint32_t stream,
    const char *ext, size_t capture)
{
	struct wsobs	*o;
	struct wsext	 x;
	struct wso_dir	*d;
	int		 i, side;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->wo_flow = flow;
	o->wo_stream = stream;
	o->wo_capture = capture;
	o->wo_idle_tv.tv_sec = WSOBS_IDLE_SEC;
	if (base != NULL &&
	    (o->wo_idle = evtimer_new(base, wso_idle, o)) == NULL) {
		free(o);
		return NULL;
	}
	o->wo_off = wso_extensions(o, ext, &x) == -1;
	for (i = 0; i < 2; i++) {
		d = &o->wo_dir[i];
		side = i ? WSEXT_SERVER : WSEXT_CLIENT;
		d->wd_obs = o;
		d->wd_resp = i;
		ws_init(&d->wd_p, i ? WS_SERVER_TO_CLIENT : WS_CLIENT_TO_SERVER,
		    x.wx_deflate ? WS_F_DEFLATE : 0, NULL);
		d->wd_takeover = !x.wx_no_takeover[side];
		d->wd_bits = MAX(x.wx_window_bits[side], WSO_BITS_MIN);
	}
	return o;
}

void
wsobs_set_idle(struct wsobs *o, uint32_t msec)
{
	o->wo_idle_tv.tv_sec = (time_t)(msec / WSO_MSEC);
	o->wo_idle_tv.tv_usec = (suseconds_t)(msec % WSO_MSEC) * WSO_USEC_MSEC;
}

void
wsobs_free(struct wsobs *o)
{
	int	 i;

	if (o == NULL)
		return;
	if (o->wo_idle != NULL)
		event_free(o->wo_idle);
	for (i = 0; i < 2; i++) {
		if (o->wo_dir[i].wd_z_init)
			inflateEnd(&o->wo_dir[i].wd_z);
		free(o->wo_dir[i].wd_cap);
	}
	free(o);
}

void
wsobs_feed(struct wsobs *o, int response, const void *p, size_t n)
{
	struct wso_dir	*d;

	if (o == NULL || o->wo_off || o->wo_ended || n == 0)
		return;
	d = &o->wo_dir[response ? 1 : 0];
	if (!d->wd_dead)
		(void)ws_feed(&d->wd_p, p, n, &wso_cb, d);
}

void
wsobs_end(struct wsobs *o, const char *reason)
{
	if (o == NULL || o->wo_ended)
		return;
	wso_turn_end(o, reason);
	o->wo_ended = 1;
}

int
wsobs_closed(const struct wsobs *o)
{
	return o != NULL && o->wo_dir[0].wd_closed && o->wo_dir[1].wd_closed;
}

/* --- capture and inflate ------------------------------------------------ */

static void
wso_capture(struct wso_dir *d, const uint8_t *p, size_t n)
{
	size_t	 cap = d->wd_obs->wo_capture;

	if (n == 0 || d->wd_caplen >= cap)
		return;
	if (d->wd_cap == NULL && (d->wd_cap = malloc(cap)) == NULL)
		return;
	n = MIN(n, cap - d->wd_caplen);
	memcpy(d->wd_cap + d->wd_caplen, p, n);
	d->wd_caplen += n;
}

/* The first frame of a compressed message: the inflater ready for it. */
static void
wso_inflate_begin(struct wso_dir *d)
{
	d->wd_msg_z = 0;
	d->wd_msg_out = 0;
	if (d->wd_z_lost)
		return;
	if (!d->wd_z_init) {
		if (inflateInit2(&d->wd_z, -d->wd_bits) != Z_OK) {
			d->wd_z_lost = 1;
			return;
		}
		d->wd_z_init = 1;
	} else if (!d->wd_takeover && inflateReset(&d->wd_z) != Z_OK) {
		d->wd_z_lost = 1;
		return;
	}
	d->wd_msg_z = 1;
}

/* Inflating this message stops; with context takeover for good. */
static void
wso_inflate_stop(struct wso_dir *d, const char *why)
{
	d->wd_msg_z = 0;
	if (d->wd_takeover && !d->wd_z_lost) {
		d->wd_z_lost = 1;
		log_info("conn=%llu: WebSocket %s: %s, no more inflating",
		    wso_id(d->wd_obs), d->wd_resp ? "server" : "client", why);
	}
}

static void
wso_inflate(struct wso_dir *d, const uint8_t *p, size_t n)
{
	uint8_t		 out[WSOBS_INFLATE_BUF];
	z_stream	*z = &d->wd_z;
	size_t		 got;
	int		 r;

	z->next_in = p;
	z->avail_in = (uInt)n;	/* pieces come from one read */
	do {
		z->next_out = out;
		z->avail_out = sizeof(out);
		r = inflate(z, Z_SYNC_FLUSH);
		got = sizeof(out) - z->avail_out;
		wso_capture(d, out, got);
		d->wd_msg_out += got;
		if (r == Z_STREAM_END && inflateReset(z) == Z_OK)
			continue;	/* a final block; a new stream next */
		if (r == Z_BUF_ERROR)
			break;		/* nothing more to do with this */
		if (r != Z_OK) {
			wso_inflate_stop(d, "inflate failed");
			return;
		}
		if (d->wd_msg_out > WSO_INFLATE_MAX) {
			wso_inflate_stop(d, "message inflates too far");
			return;
		}
		/* Without takeover nothing past the capture matters. */
		if (!d->wd_takeover && d->wd_caplen >= d->wd_obs->wo_capture) {
			d->wd_msg_z = 0;
			return;
		}
	} while (z->avail_in > 0 || z->avail_out == 0);
}

/* --- the parser's callbacks --------------------------------------------- */

static void
wso_frame(void *arg, const struct ws_frame *f)
{
	struct wso_dir	*d = arg;

	if (f->wf_opcode != WS_OP_TEXT && f->wf_opcode != WS_OP_BINARY)
		return;	/* a continuation, or a control frame */
	d->wd_msg_start = util_wall_usec();
	d->wd_caplen = 0;
	if (f->wf_rsv & WS_RSV1)
		wso_inflate_begin(d);
	else
		d->wd_msg_z = 0;
}

static void
wso_payload(void *arg, const struct ws_frame *f, const uint8_t *p, size_t n,
    uint64_t off)
{
	struct wso_dir	*d = arg;

	(void)off;
	if (f->wf_opcode == WS_OP_CLOSE || f->wf_opcode == WS_OP_PING ||
	    f->wf_opcode == WS_OP_PONG)
		return;	/* wso_control has the whole payload */
	if (d->wd_p.wp_msg.wm_compressed) {
		if (d->wd_msg_z)
			wso_inflate(d, p, n);
	} else
		wso_capture(d, p, n);
}

/* A data message of one side: the turns, then its counts. */
static void
wso_turn_msg(struct wso_dir *d, const struct ws_message *m)
{
	struct wsobs		*o = d->wd_obs;
	struct ev_ws_turn	*t = &o->wo_turn;

	if (o->wo_turn_open && t->et_response != d->wd_resp)
		wso_turn_end(o, "reply");
	if (!o->wo_turn_open) {
		memset(t, 0, sizeof(*t));
		t->et_turn = ++o->wo_turns;
		t->et_response = d->wd_resp;
		t->et_start = d->wd_msg_start;
		o->wo_turn_open = 1;
		ev_ws_turn_started(o->wo_flow, o->wo_stream, t);
	}
	t->et_messages++;
	t->et_frames += m->wm_frames;
	t->et_bytes = UINT64_MAX - t->et_bytes < m->wm_len ? UINT64_MAX :
	    t->et_bytes + m->wm_len;
	if (o->wo_idle != NULL)
		evtimer_add(o->wo_idle, &o->wo_idle_tv);
}

static void
wso_turn_end(struct wsobs *o, const char *reason)
{
	if (o->wo_idle != NULL)
		evtimer_del(o->wo_idle);
	if (!o->wo_turn_open)
		return;
	o->wo_turn.et_end = util_wall_usec();
	o->wo_turn.et_reason = reason;
	o->wo_turn_open = 0;
	ev_ws_turn_completed(o->wo_flow, o->wo_stream, &o->wo_turn);
}

static void
wso_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	wso_turn_end(arg, "idle");
}

static void
wso_message(void *arg, const struct ws_message *m)
{
	struct wso_dir	*d = arg;
	struct wsobs	*o = d->wd_obs;
	struct ev_ws_msg em;

	/* Payload past the observation limit was not seen: the window is
	 * gone with it. */
	if (m->wm_compressed && m->wm_oversize)
		wso_inflate_stop(d, "message past the observation limit");
	if (d->wd_msg_z)
		wso_inflate(d, wso_tail, sizeof(wso_tail));
	d->wd_msg_z = 0;
	wso_turn_msg(d, m);
	memset(&em, 0, sizeof(em));
	em.ew_response = d->wd_resp;
	em.ew_opcode = ws_opcode_name(m->wm_opcode);
	em.ew_len = m->wm_len;
	em.ew_compressed = m->wm_compressed;
	em.ew_frames = m->wm_frames;
	em.ew_oversize = m->wm_oversize;
	em.ew_head = d->wd_cap;
	em.ew_headlen = d->wd_caplen;
	ev_ws_message(o->wo_flow, o->wo_stream, &em);
	d->wd_caplen = 0;
}

static void
wso_control(void *arg, const struct ws_control *c)
{
	struct wso_dir	*d = arg;
	struct wsobs	*o = d->wd_obs;
	struct ev_ws_msg em;

	memset(&em, 0, sizeof(em));
	em.ew_response = d->wd_resp;
	em.ew_opcode = ws_opcode_name(c->wc_opcode);
	em.ew_len = c->wc_len;
	em.ew_frames = 1;
	em.ew_head = c->wc_data;
	em.ew_headlen = MIN(c->wc_len, o->wo_capture);
	if (c->wc_opcode == WS_OP_CLOSE) {
		em.ew_close_code = c->wc_code;
		em.ew_reason = (const char *)c->wc_reason;
		em.ew_reason_len = c->wc_reason_len;
	}
	ev_ws_message(o->wo_flow, o->wo_stream, &em);
	if (c->wc_opcode == WS_OP_CLOSE) {
		d->wd_closed = 1;
		wso_turn_end(o, "close");
	}
}

static void
wso_note(void *arg, const char *what)
{
	struct wso_dir	*d = arg;

	log_debug("conn=%llu: WebSocket %s: %s", wso_id(d->wd_obs),
	    d->wd_resp ? "server" : "client", what);
}

/* Reported once: the parser says nothing more for this direction. */
static void
wso_error(void *arg, const char *why)
{
	struct wso_dir	*d = arg;

	d->wd_dead = 1;
	d->wd_msg_z = 0;
	log_info("conn=%llu: WebSocket %s: %s; relayed, no longer observed",
	    wso_id(d->wd_obs), d->wd_resp ? "server" : "client", why);
	wso_turn_end(d->wd_obs, "error");
}
