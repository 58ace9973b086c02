/*
 * WebSocket frame parsing for observation (RFC 6455 section 5): the
 * header state machine, payload unmasking into a bounded buffer, message
 * and control frame bookkeeping, close frame checks. The input is never
 * written to; see ws.h for how the worker feeds it.
 */
#include <limits.h>
#include <string.h>

#include "common/utf8.h"
#include "tlsworker/ws.h"

enum ws_state {
	WS_S_HEADER = 0,	/* collecting wp_hdr */
	WS_S_PAYLOAD,		/* wp_frame.wf_len - wp_off bytes left */
	WS_S_CLOSED,		/* a close frame ended the stream */
	WS_S_ERROR,
};

#define WS_BASE_LEN	2	/* FIN/RSV/opcode, MASK/length */
#define WS_LEN16	126	/* 7-bit length: a 16-bit length follows */
#define WS_LEN64	127	/* 7-bit length: a 64-bit length follows */
#define WS_LEN16_MIN	126	/* smallest length needing the 16-bit form */
#define WS_LEN64_MIN	65536	/* smallest length needing the 64-bit form */
#define WS_CLOSE_CODE_LEN 2
#define WS_CLOSE_MIN	1000	/* codes below are never used (7.4.2) */
#define WS_CLOSE_LIMIT	5000	/* codes from here on are undefined */

static int	ws_fail(struct ws_parser *, const struct ws_callbacks *,
		    void *, const char *);
static void	ws_note(const struct ws_callbacks *, void *, const char *);
static size_t	ws_header_bytes(struct ws_parser *, const uint8_t *,
		    size_t);
static int	ws_header(struct ws_parser *, const struct ws_callbacks *,
		    void *);
static const char *ws_check_base(const struct ws_parser *);
static const char *ws_check_length(struct ws_parser *);
static int	ws_frame_start(struct ws_parser *,
		    const struct ws_callbacks *, void *);
static size_t	ws_payload(struct ws_parser *, const uint8_t *, size_t,
		    const struct ws_callbacks *, void *);
static int	ws_frame_end(struct ws_parser *, const struct ws_callbacks *,
		    void *);
static int	ws_control_end(struct ws_parser *,
		    const struct ws_callbacks *, void *);
static int	ws_utf8_valid(const uint8_t *, size_t);

static int
ws_is_control(int op)
{
	return (op & 0x8) != 0;
}

const char *
ws_opcode_name(int op)
{
	switch (op) {
	case WS_OP_CONT:
		return "continuation";
	case WS_OP_TEXT:
		return "text";
	case WS_OP_BINARY:
		return "binary";
	case WS_OP_CLOSE:
		return "close";
	case WS_OP_PING:
		return "ping";
	case WS_OP_PONG:
		return "pong";
	default:
		return "reserved";
	}
}

/*
 * RFC 6455 7.4: below 1000 is never used; 1004 is reserved; 1005, 1006
 * and 1015 are for reporting only and must not be sent; nothing is defined
 * from 5000 on. 1016-2999 are left to future extensions (1012-1014 were
 * registered after the RFC), so they pass.
 */
int
ws_close_code_valid(unsigned code)
{
	if (code < WS_CLOSE_MIN || code >= WS_CLOSE_LIMIT)
		return 0;
	return code != 1004 && code != WS_CLOSE_NO_STATUS && code != 1006 &&
	    code != 1015;
}

void
ws_init(struct ws_parser *p, int direction, unsigned flags,
    const struct ws_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->wp_dir = direction;
	p->wp_flags = flags;
	p->wp_msg_max = lim != NULL && lim->wl_msg_max != 0 ?
	    lim->wl_msg_max : WS_MSG_MAX_DEFAULT;
	p->wp_state = WS_S_HEADER;
	p->wp_hneed = WS_BASE_LEN;
}

int
ws_closed(const struct ws_parser *p)
{
	return p->wp_state == WS_S_CLOSED;
}

static int
ws_fail(struct ws_parser *p, const struct ws_callbacks *cb, void *arg,
    const char *why)
{
	p->wp_state = WS_S_ERROR;
	p->wp_error = why;
	if (cb != NULL && cb->wcb_error != NULL)
		cb->wcb_error(arg, why);
	return WS_ERROR;
}

static void
ws_note(const struct ws_callbacks *cb, void *arg, const char *what)
{
	if (cb != NULL && cb->wcb_note != NULL)
		cb->wcb_note(arg, what);
}

int
ws_feed(struct ws_parser *p, const uint8_t *data, size_t len,
    const struct ws_callbacks *cb, void *arg)
{
	size_t	 off = 0, n;

	while (off < len) {
		switch (p->wp_state) {
		case WS_S_HEADER:
			n = ws_header_bytes(p, data + off, len - off);
			off += n;
			p->wp_total += n;
			if (p->wp_hlen == p->wp_hneed &&
			    ws_header(p, cb, arg) == WS_ERROR)
				return WS_ERROR;
			break;
		case WS_S_PAYLOAD:
			n = ws_payload(p, data + off, len - off, cb, arg);
			off += n;
			p->wp_total += n;
			if (p->wp_off == p->wp_frame.wf_len &&
			    ws_frame_end(p, cb, arg) == WS_ERROR)
				return WS_ERROR;
			break;
		case WS_S_CLOSED:
			return ws_fail(p, cb, arg, "bytes after a close frame");
		default:
			return WS_ERROR;
		}
	}
	return p->wp_state == WS_S_ERROR ? WS_ERROR : WS_OK;
}

/* Take header bytes up to what the frame's header needs so far. */
static size_t
ws_header_bytes(struct ws_parser *p, const uint8_t *data, size_t len)
{
	size_t	 n = p->wp_hneed - p->wp_hlen;

	if (n > len)
		n = len;
	memcpy(p->wp_hdr + p->wp_hlen, data, n);
	p->wp_hlen += n;
	return n;
}

/*
 * wp_hneed header bytes are in. After the first two the base header is
 * checked and the full header size known; once that is in, the frame
 * starts. The checks run at the same byte whatever the chunking, so the
 * callbacks do not depend on how the stream was split.
 */
static int
ws_header(struct ws_parser *p, const struct ws_callbacks *cb, void *arg)
{
	const char	*why;
	uint8_t		 len7;
	size_t		 need;

	if (p->wp_hlen == WS_BASE_LEN) {
		if ((why = ws_check_base(p)) != NULL)
			return ws_fail(p, cb, arg, why);
		len7 = p->wp_hdr[1] & 0x7f;
		need = WS_BASE_LEN;
		if (len7 == WS_LEN16)
			need += 2;
		else if (len7 == WS_LEN64)
			need += 8;
		if (p->wp_hdr[1] & 0x80)
			need += WS_MASK_LEN;
		p->wp_hneed = need;
		if (need > WS_BASE_LEN)
			return WS_OK;
	}
	if ((why = ws_check_length(p)) != NULL)
		return ws_fail(p, cb, arg, why);
	return ws_frame_start(p, cb, arg);
}

/* What the first two bytes alone can tell. NULL if they are fine. */
static const char *
ws_check_base(const struct ws_parser *p)
{
	int	 op = p->wp_hdr[0] & 0x0f;
	int	 fin = (p->wp_hdr[0] & 0x80) != 0;
	int	 rsv = (p->wp_hdr[0] >> 4) & 0x7;
	int	 masked = (p->wp_hdr[1] & 0x80) != 0;

	if (op > WS_OP_BINARY && op != WS_OP_CLOSE && op != WS_OP_PING &&
	    op != WS_OP_PONG)
		return "reserved opcode";
	if (rsv & (WS_RSV2 | WS_RSV3))
		return "RSV2 or RSV3 set without a negotiated extension";
	if (rsv & WS_RSV1) {
		if (!(p->wp_flags & WS_F_DEFLATE))
			return "RSV1 set without a negotiated extension";
		/* RFC 7692 6: only on the first frame of a data message. */
		if (op == WS_OP_CONT || ws_is_control(op))
			return "RSV1 on a continuation or control frame";
	}
	if (ws_is_control(op) && !fin)
		return "fragmented control frame";
	if (p->wp_dir == WS_CLIENT_TO_SERVER && !masked)
		return "unmasked client-to-server frame (RFC 6455 5.1)";
	if (p->wp_dir == WS_SERVER_TO_CLIENT && masked)
		return "masked server-to-client frame (RFC 6455 5.1)";
	if (op == WS_OP_CONT && !p->wp_msg_open)
		return "continuation frame without a message";
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->wp_msg_open)
		return "data frame inside an unfinished message";
	return NULL;
}

/* The whole header is in: decode it into wp_frame and check the length. */
static const char *
ws_check_length(struct ws_parser *p)
{
	struct ws_frame	*f = &p->wp_frame;
	const uint8_t	*h = p->wp_hdr;
	uint8_t		 len7 = h[1] & 0x7f;
	size_t		 at = WS_BASE_LEN;
	int		 i;

	memset(f, 0, sizeof(*f));
	f->wf_opcode = h[0] & 0x0f;
	f->wf_fin = (h[0] & 0x80) != 0;
	f->wf_rsv = (h[0] >> 4) & 0x7;
	f->wf_masked = (h[1] & 0x80) != 0;
	if (len7 == WS_LEN16) {
		f->wf_len = (uint64_t)h[2] << 8 | h[3];
		f->wf_nonminimal = f->wf_len < WS_LEN16_MIN;
		at += 2;
	} else if (len7 == WS_LEN64) {
		if (h[2] & 0x80)
			return "64-bit payload length with the top bit set";
		for (i = 0; i < 8; i++)
			f->wf_len = f->wf_len << 8 | h[at + i];
		f->wf_nonminimal = f->wf_len < WS_LEN64_MIN;
		at += 8;
	} else
		f->wf_len = len7;
	if (f->wf_masked)
		memcpy(f->wf_key, h + at, WS_MASK_LEN);
	if (ws_is_control(f->wf_opcode) && f->wf_len > WS_CONTROL_MAX)
		return "control frame longer than 125 bytes";
	if (f->wf_opcode == WS_OP_CLOSE && f->wf_len == 1)
		return "close frame with a 1-byte payload";
	return NULL;
}

/* Account the frame to its message, report it, and expect its payload. */
static int
ws_frame_start(struct ws_parser *p, const struct ws_callbacks *cb,
    void *arg)
{
	struct ws_frame		*f = &p->wp_frame;
	struct ws_message	*m = &p->wp_msg;
	int			 toobig = 0;

	if (ws_is_control(f->wf_opcode))
		f->wf_msg_opcode = f->wf_opcode;
	else {
		if (f->wf_opcode != WS_OP_CONT) {
			memset(m, 0, sizeof(*m));
			m->wm_opcode = f->wf_opcode;
			m->wm_compressed = (f->wf_rsv & WS_RSV1) != 0;
			p->wp_msg_open = 1;
		}
		f->wf_msg_opcode = m->wm_opcode;
		f->wf_msg_off = m->wm_len;
		if (!m->wm_oversize && (m->wm_len > p->wp_msg_max ||
		    f->wf_len > p->wp_msg_max - m->wm_len))
			m->wm_oversize = toobig = 1;
		m->wm_len = UINT64_MAX - m->wm_len < f->wf_len ? UINT64_MAX :
		    m->wm_len + f->wf_len;
		if (m->wm_frames < UINT_MAX)
			m->wm_frames++;
	}
	p->wp_off = 0;
	p->wp_state = WS_S_PAYLOAD;
	if (cb != NULL && cb->wcb_frame != NULL)
		cb->wcb_frame(arg, f);
	if (f->wf_nonminimal && !p->wp_noted_nonminimal) {
		p->wp_noted_nonminimal = 1;
		ws_note(cb, arg, "non-minimal payload length encoding");
	}
	if (toobig)
		ws_note(cb, arg, "message too large for inspection");
	if (f->wf_len == 0)
		return ws_frame_end(p, cb, arg);
	return WS_OK;
}

/*
 * Take payload bytes of the current frame. A masked frame is unmasked
 * into a bounded buffer on the stack, the input stays as it is; control
 * payload is also kept for ws_control_end. The payload of a message past
 * the observation limit is skipped.
 */
static size_t
ws_payload(struct ws_parser *p, const uint8_t *data, size_t len,
    const struct ws_callbacks *cb, void *arg)
{
	struct ws_frame	*f = &p->wp_frame;
	uint8_t		 buf[WS_UNMASK_CHUNK];
	const uint8_t	*piece;
	uint64_t	 left = f->wf_len - p->wp_off;
	size_t		 n, done = 0, i;
	int		 control = ws_is_control(f->wf_opcode);
	int		 show = control || !p->wp_msg.wm_oversize;

	if (len > left)
		len = (size_t)left;
	if (!control && (!show || cb == NULL || cb->wcb_payload == NULL)) {
		p->wp_off += len;
		return len;
	}
	while (done < len) {
		n = len - done;
		piece = data + done;
		if (f->wf_masked) {
			if (n > sizeof(buf))
				n = sizeof(buf);
			for (i = 0; i < n; i++)
				buf[i] = piece[i] ^
				    f->wf_key[(p->wp_off + i) & 3];
			piece = buf;
		}
		/* wf_len <= WS_CONTROL_MAX was checked: this fits. */
		if (control)
			memcpy(p->wp_ctl + p->wp_off, piece, n);
		if (cb != NULL && cb->wcb_payload != NULL)
			cb->wcb_payload(arg, f, piece, n, p->wp_off);
		p->wp_off += n;
		done += n;
	}
	return len;
}

static int
ws_frame_end(struct ws_parser *p, const struct ws_callbacks *cb, void *arg)
{
	struct ws_frame	*f = &p->wp_frame;

	p->wp_state = WS_S_HEADER;
	p->wp_hlen = 0;
	p->wp_hneed = WS_BASE_LEN;
	if (ws_is_control(f->wf_opcode))
		return ws_control_end(p, cb, arg);
	if (f->wf_fin) {
		p->wp_msg_open = 0;
		if (cb != NULL && cb->wcb_message != NULL)
			cb->wcb_message(arg, &p->wp_msg);
	}
	return WS_OK;
}

static int
ws_control_end(struct ws_parser *p, const struct ws_callbacks *cb,
    void *arg)
{
	struct ws_control	 c;
	size_t			 len = (size_t)p->wp_frame.wf_len;

	memset(&c, 0, sizeof(c));
	c.wc_opcode = p->wp_frame.wf_opcode;
	c.wc_data = p->wp_ctl;
	c.wc_len = len;
	if (c.wc_opcode == WS_OP_CLOSE) {
		/* ws_check_length refused a 1-byte close payload. */
		c.wc_code = WS_CLOSE_NO_STATUS;
		if (len >= WS_CLOSE_CODE_LEN) {
			c.wc_code = p->wp_ctl[0] << 8 | p->wp_ctl[1];
			c.wc_reason = p->wp_ctl + WS_CLOSE_CODE_LEN;
			c.wc_reason_len = len - WS_CLOSE_CODE_LEN;
			if (!ws_close_code_valid((unsigned)c.wc_code))
				return ws_fail(p, cb, arg,
				    "close code not allowed on the wire");
			if (!ws_utf8_valid(c.wc_reason, c.wc_reason_len))
				return ws_fail(p, cb, arg,
				    "close reason is not UTF-8");
		}
		/* 5.5.1: the sender sends nothing after a close frame. */
		p->wp_state = WS_S_CLOSED;
	}
	if (cb != NULL && cb->wcb_control != NULL)
		cb->wcb_control(arg, &c);
	return WS_OK;
}

/* A close reason, at most 123 bytes, in well-formed UTF-8 (RFC 6455
 * 5.5.1); the same rules as the event encoder's (common/utf8.c). */
static int
ws_utf8_valid(const uint8_t *s, size_t len)
{
	size_t	 i = 0, n;

	while (i < len) {
		if ((n = utf8_seq_len(s + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}
