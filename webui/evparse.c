/*
 * What webui believes of an event a worker sends (IMSG_EVENT): a strict
 * JSON check of the whole text and the top-level members the flow store
 * needs, decoded into fixed buffers. A worker parses network bytes and
 * may be compromised, so nothing it sends reaches a sink or the store
 * unless it is one valid JSON object, in UTF-8, on one line (no CR or
 * LF anywhere, not even as whitespace), with v 1, a known type, a
 * flow_id, a seq and a ts, and no member named twice among the known
 * ones. Pure functions, no libevent: the fuzz target drives them.
 *
 * RFC 8259 as written, with these limits: nesting depth WEV_DEPTH_MAX,
 * no lone UTF-16 surrogate in a \u escape, whitespace only space and tab.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "common/utf8.h"
#include "webui/webui.h"

#define WEV_DEPTH_MAX	8
#define WEV_KEY_MAX	32	/* longer keys are no member we know */

static const char *const wev_type_names[WEV_MAX] = {
	[WEV_CONNECT_RECEIVED] = "connect_received",
	[WEV_CONNECT_DECISION] = "connect_decision",
	[WEV_TLS_STARTED] = "tls_handshake_started",
	[WEV_TLS_SUCCEEDED] = "tls_handshake_succeeded",
	[WEV_TLS_FAILED] = "tls_handshake_failed",
	[WEV_REQUEST_HEADERS] = "request_headers",
	[WEV_REQUEST_BODY] = "request_body_chunk",
	[WEV_RESPONSE_HEADERS] = "response_headers",
	[WEV_RESPONSE_BODY] = "response_body_chunk",
	[WEV_WS_MESSAGE] = "ws_message",
	[WEV_WS_TURN_STARTED] = "ws_turn_started",
	[WEV_WS_TURN_COMPLETED] = "ws_turn_completed",
	[WEV_SSE_EVENT] = "sse_event",
	[WEV_GRPC_MESSAGE] = "grpc_message",
	[WEV_STREAM_CLOSED] = "stream_closed",
};

struct wev_parser {
	const unsigned char *jp_p;
	size_t		 jp_n;
	size_t		 jp_i;
	const char	*jp_why;
};

/* A member the store reads: where its value goes. */
enum wev_kind { K_STR, K_UINT, K_BOOL };
struct wev_field {
	const char	*wf_key;
	size_t		 wf_len;	/* strlen(wf_key) */
	size_t		 wf_off;	/* in struct wev */
	size_t		 wf_size;	/* K_STR: buffer size */
	int		 wf_kind;
	int		 wf_null;	/* null is allowed (stays unset) */
};

#define WF_STR(k, m, n)	{ k, sizeof(k) - 1, offsetof(struct wev, m), \
	sizeof(((struct wev *)0)->m), K_STR, n }
#define WF_UINT(k, m, n) { k, sizeof(k) - 1, offsetof(struct wev, m), 0, \
	K_UINT, n }
#define WF_BOOL(k, m)	{ k, sizeof(k) - 1, offsetof(struct wev, m), 0, \
	K_BOOL, 0 }

static const struct wev_field wev_fields[] = {
	WF_UINT("v", we_v, 0),
	WF_STR("type", we_typename, 0),
	WF_UINT("flow_id", we_flow, 0),
	WF_UINT("seq", we_seq, 0),
	WF_STR("ts", we_ts, 0),
	WF_STR("client_addr", we_client, 1),
	WF_STR("server_host", we_host, 1),
	WF_UINT("server_port", we_port, 1),
	WF_STR("protocol", we_protocol, 1),
	WF_STR("method", we_method, 1),
	WF_STR("url", we_url, 1),
	WF_STR("action", we_action, 1),
	WF_UINT("rule", we_rule, 1),	/* a number, or "default": below */
	WF_STR("side", we_side, 1),
	WF_STR("tls_version", we_tls_version, 1),
	WF_STR("cipher", we_cipher, 1),
	WF_STR("tls_failure_reason", we_failure, 1),
	WF_STR("reason", we_reason, 1),
	WF_UINT("status", we_status, 1),
	WF_UINT("stream", we_stream, 1),
	WF_UINT("offset", we_offset, 1),
	WF_UINT("size", we_size, 1),
	WF_BOOL("last", we_last),
	WF_UINT("body_size", we_body_size, 1),
	WF_UINT("bytes_in", we_bytes_in, 1),
	WF_UINT("bytes_out", we_bytes_out, 1),
};

/* Bits of we_have for fields we must see. */
#define WEV_NFIELDS	(sizeof(wev_fields) / sizeof(wev_fields[0]))

static int	wev_value(struct wev_parser *, int depth);

const char *
wev_type_name(int t)
{
	return t > 0 && t < WEV_MAX ? wev_type_names[t] : "unknown";
}

static int
wev_fail(struct wev_parser *jp, const char *why)
{
	if (jp->jp_why == NULL)
		jp->jp_why = why;
	return -1;
}

static void
wev_ws(struct wev_parser *jp)
{
	while (jp->jp_i < jp->jp_n && (jp->jp_p[jp->jp_i] == ' ' ||
	    jp->jp_p[jp->jp_i] == '\t'))
		jp->jp_i++;
}

static int
wev_peek(const struct wev_parser *jp)
{
	return jp->jp_i < jp->jp_n ? jp->jp_p[jp->jp_i] : -1;
}

static int
wev_hex4(struct wev_parser *jp, uint32_t *v)
{
	size_t	 k;
	int	 c, d;

	*v = 0;
	if (jp->jp_n - jp->jp_i < 4)
		return wev_fail(jp, "short \\u escape");
	for (k = 0; k < 4; k++) {
		c = jp->jp_p[jp->jp_i++];
		*v <<= 4;
		if ((d = util_hexval(c)) == -1)
			return wev_fail(jp, "bad \\u escape");
		*v |= (uint32_t)d;
	}
	return 0;
}

/* Append bytes to a decoded string; a character that does not fit is
 * left out with all after it (the buffer ends on a whole character). */
struct wev_out {
	char	*wo_buf;	/* NULL: validate only */
	size_t	 wo_size;
	size_t	 wo_len;
	int	 wo_full;
};

static void
wev_out(struct wev_out *o, const void *p, size_t n)
{
	if (o->wo_buf == NULL || o->wo_full)
		return;
	if (n >= o->wo_size - o->wo_len) {
		o->wo_full = 1;
		return;
	}
	memcpy(o->wo_buf + o->wo_len, p, n);
	o->wo_len += n;
	o->wo_buf[o->wo_len] = '\0';
}

static void
wev_out_cp(struct wev_out *o, uint32_t cp)
{
	unsigned char	 u[4];
	size_t		 n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	wev_out(o, u, n);
}

/* \uXXXX, the backslash and 'u' already read; a surrogate pair whole. */
static int
wev_unicode(struct wev_parser *jp, struct wev_out *o)
{
	uint32_t hi, lo;

	if (wev_hex4(jp, &hi) == -1)
		return -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return wev_fail(jp, "lone low surrogate");
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (jp->jp_n - jp->jp_i < 2 || jp->jp_p[jp->jp_i] != '\\' ||
		    jp->jp_p[jp->jp_i + 1] != 'u')
			return wev_fail(jp, "lone high surrogate");
		jp->jp_i += 2;
		if (wev_hex4(jp, &lo) == -1)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return wev_fail(jp, "bad surrogate pair");
		hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	}
	wev_out_cp(o, hi);
	return 0;
}

static int
wev_escape(struct wev_parser *jp, struct wev_out *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char	*q;
	int		 c;

	if (jp->jp_i >= jp->jp_n)
		return wev_fail(jp, "unterminated string");
	c = jp->jp_p[jp->jp_i++];
	if (c == 'u')
		return wev_unicode(jp, o);
	if (c == '\0' || (q = strchr(from, c)) == NULL)
		return wev_fail(jp, "bad escape");
	wev_out(o, &to[q - from], 1);
	return 0;
}

/* A string at jp_i (the opening quote); decoded into o if it has a
 * buffer. Raw control characters and invalid UTF-8 are refused. */
static int
wev_string(struct wev_parser *jp, struct wev_out *o)
{
	const unsigned char *p = jp->jp_p;
	size_t	 k;

	if (wev_peek(jp) != '"')
		return wev_fail(jp, "string expected");
	jp->jp_i++;
	for (;;) {
		if (jp->jp_i >= jp->jp_n)
			return wev_fail(jp, "unterminated string");
		if (p[jp->jp_i] == '"') {
			jp->jp_i++;
			return 0;
		}
		if (p[jp->jp_i] == '\\') {
			jp->jp_i++;
			if (wev_escape(jp, o) == -1)
				return -1;
			continue;
		}
		if (p[jp->jp_i] < 0x20)
			return wev_fail(jp, "control character in a string");
		/* a run of plain ASCII goes out in one copy */
		for (k = jp->jp_i; k < jp->jp_n && p[k] >= 0x20 && p[k] < 0x80 &&
		    p[k] != '"' && p[k] != '\\'; k++)
			;
		if (k > jp->jp_i) {
			wev_out(o, p + jp->jp_i, k - jp->jp_i);
			jp->jp_i = k;
			continue;
		}
		if ((k = utf8_seq_len(p + jp->jp_i, jp->jp_n - jp->jp_i)) == 0)
			return wev_fail(jp, "invalid UTF-8");
		wev_out(o, p + jp->jp_i, k);
		jp->jp_i += k;
	}
}

static int
wev_digits(struct wev_parser *jp)
{
	size_t start = jp->jp_i;

	while (jp->jp_i < jp->jp_n && jp->jp_p[jp->jp_i] >= '0' &&
	    jp->jp_p[jp->jp_i] <= '9')
		jp->jp_i++;
	return jp->jp_i > start ? 0 : wev_fail(jp, "digit expected");
}

/*
 * A number. *isuint says whether it is a plain non-negative integer (then
 * in *v, UINT64_MAX for any larger one).
 */
static int
wev_number(struct wev_parser *jp, uint64_t *v, int *isuint)
{
	uint64_t d;
	size_t	 start = jp->jp_i, i;
	int	 neg = 0, frac = 0;

	*v = 0;
	*isuint = 0;
	if (wev_peek(jp) == '-') {
		neg = 1;
		jp->jp_i++;
	}
	if (wev_peek(jp) == '0')
		jp->jp_i++;
	else if (wev_digits(jp) == -1)
		return -1;
	if (wev_peek(jp) == '.') {
		jp->jp_i++;
		frac = 1;
		if (wev_digits(jp) == -1)
			return -1;
	}
	if (wev_peek(jp) == 'e' || wev_peek(jp) == 'E') {
		jp->jp_i++;
		frac = 1;
		if (wev_peek(jp) == '+' || wev_peek(jp) == '-')
			jp->jp_i++;
		if (wev_digits(jp) == -1)
			return -1;
	}
	if (neg || frac)
		return 0;
	*isuint = 1;
	for (i = start; i < jp->jp_i; i++) {
		d = (uint64_t)(jp->jp_p[i] - '0');
		if (*v > (UINT64_MAX - d) / 10) {
			*v = UINT64_MAX;	/* saturates */
			return 0;
		}
		*v = *v * 10 + d;
	}
	return 0;
}

static int
wev_literal(struct wev_parser *jp, const char *lit)
{
	size_t n = strlen(lit);

	if (jp->jp_n - jp->jp_i < n || memcmp(jp->jp_p + jp->jp_i, lit, n))
		return wev_fail(jp, "bad literal");
	jp->jp_i += n;
	return 0;
}

static int
wev_array(struct wev_parser *jp, int depth)
{
	jp->jp_i++;	/* '[' */
	wev_ws(jp);
	if (wev_peek(jp) == ']') {
		jp->jp_i++;
		return 0;
	}
	for (;;) {
		if (wev_value(jp, depth) == -1)
			return -1;
		wev_ws(jp);
		if (wev_peek(jp) == ']') {
			jp->jp_i++;
			return 0;
		}
		if (wev_peek(jp) != ',')
			return wev_fail(jp, "',' or ']' expected");
		jp->jp_i++;
		wev_ws(jp);
	}
}

static int
wev_object(struct wev_parser *jp, int depth)
{
	struct wev_out none = { NULL, 0, 0, 0 };

	jp->jp_i++;	/* '{' */
	wev_ws(jp);
	if (wev_peek(jp) == '}') {
		jp->jp_i++;
		return 0;
	}
	for (;;) {
		if (wev_string(jp, &none) == -1)
			return -1;
		wev_ws(jp);
		if (wev_peek(jp) != ':')
			return wev_fail(jp, "':' expected");
		jp->jp_i++;
		wev_ws(jp);
		if (wev_value(jp, depth) == -1)
			return -1;
		wev_ws(jp);
		if (wev_peek(jp) == '}') {
			jp->jp_i++;
			return 0;
		}
		if (wev_peek(jp) != ',')
			return wev_fail(jp, "',' or '}' expected");
		jp->jp_i++;
		wev_ws(jp);
	}
}

/* Any value, checked and skipped. */
static int
wev_value(struct wev_parser *jp, int depth)
{
	struct wev_out	 none = { NULL, 0, 0, 0 };
	uint64_t	 v;
	int		 u, c = wev_peek(jp);

	if (depth >= WEV_DEPTH_MAX && (c == '{' || c == '['))
		return wev_fail(jp, "nested too deep");
	switch (c) {
	case '{':
		return wev_object(jp, depth + 1);
	case '[':
		return wev_array(jp, depth + 1);
	case '"':
		return wev_string(jp, &none);
	case 't':
		return wev_literal(jp, "true");
	case 'f':
		return wev_literal(jp, "false");
	case 'n':
		return wev_literal(jp, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return wev_number(jp, &v, &u);
		return wev_fail(jp, "value expected");
	}
}

/* The length and first byte first: most keys differ there (every
 * member of every event goes through here). */
static const struct wev_field *
wev_field(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < WEV_NFIELDS; i++)
		if (wev_fields[i].wf_len == len &&
		    wev_fields[i].wf_key[0] == key[0] &&
		    memcmp(wev_fields[i].wf_key, key, len) == 0)
			return &wev_fields[i];
	return NULL;
}

/* The value of a member we know, into struct wev. */
static int
wev_known(struct wev_parser *jp, const struct wev_field *f, struct wev *ev)
{
	char		*base = (char *)ev;
	struct wev_out	 o;
	uint64_t	 v;
	int		 isuint, c = wev_peek(jp);

	if (c == 'n' && f->wf_null)
		return wev_literal(jp, "null");
	if (f->wf_kind == K_STR) {
		o.wo_buf = base + f->wf_off;
		o.wo_size = f->wf_size;
		o.wo_len = 0;
		o.wo_full = 0;
		o.wo_buf[0] = '\0';
		return wev_string(jp, &o);
	}
	if (f->wf_kind == K_BOOL) {
		if (c == 't' || c == 'f') {
			*(int *)(void *)(base + f->wf_off) = c == 't';
			return wev_literal(jp, c == 't' ? "true" : "false");
		}
		return wev_fail(jp, "true or false expected");
	}
	/* "rule" is a number or the string "default" */
	if (c == '"' && f->wf_off == offsetof(struct wev, we_rule)) {
		o.wo_buf = ev->we_rule_str;
		o.wo_size = sizeof(ev->we_rule_str);
		o.wo_len = 0;
		o.wo_full = 0;
		return wev_string(jp, &o);
	}
	if (c != '-' && (c < '0' || c > '9'))
		return wev_fail(jp, "number expected");
	if (wev_number(jp, &v, &isuint) == -1)
		return -1;
	if (!isuint)
		return wev_fail(jp, "not a non-negative integer");
	*(int64_t *)(void *)(base + f->wf_off) = (int64_t)(v > INT64_MAX ?
	    INT64_MAX : v);
	return 0;
}

static void
wev_init(struct wev *ev)
{
	memset(ev, 0, sizeof(*ev));
	/* integers not seen stay -1 */
	ev->we_v = ev->we_flow = ev->we_seq = ev->we_port = ev->we_rule =
	    ev->we_status = ev->we_stream = ev->we_offset = ev->we_size =
	    ev->we_body_size = ev->we_bytes_in = ev->we_bytes_out = -1;
	ev->we_last = -1;
}

/* One top-level member; capture_b64 is remembered, not decoded. */
static int
wev_member(struct wev_parser *jp, struct wev *ev, size_t start,
    uint64_t *seen)
{
	char		 key[WEV_KEY_MAX];
	struct wev_out	 ko = { key, sizeof(key), 0, 0 };
	const struct wev_field *f;
	size_t		 vstart;

	key[0] = '\0';
	if (wev_string(jp, &ko) == -1)
		return -1;
	wev_ws(jp);
	if (wev_peek(jp) != ':')
		return wev_fail(jp, "':' expected");
	jp->jp_i++;
	wev_ws(jp);
	vstart = jp->jp_i;
	f = ko.wo_full ? NULL : wev_field(key, ko.wo_len);
	if (f != NULL) {
		if (*seen & (1ULL << (f - wev_fields)))
			return wev_fail(jp, "member given twice");
		*seen |= 1ULL << (f - wev_fields);
		return wev_known(jp, f, ev);
	}
	if (wev_value(jp, 1) == -1)
		return -1;
	if (!ko.wo_full && strcmp(key, "capture_b64") == 0) {
		/* Cut out of the text later with the comma before it, so
		 * it may not come first. */
		if (ev->we_cap_len != 0 || jp->jp_p[vstart] != '"' ||
		    jp->jp_p[start] != ',')
			return wev_fail(jp, "bad capture_b64");
		ev->we_cap_off = start;
		ev->we_cap_len = jp->jp_i - start;
		ev->we_capv_off = vstart + 1;
		ev->we_capv_len = jp->jp_i - vstart - 2;
	}
	return 0;
}

static int
wev_members(struct wev_parser *jp, struct wev *ev)
{
	uint64_t seen = 0;
	size_t	 start;

	jp->jp_i++;	/* '{' */
	wev_ws(jp);
	if (wev_peek(jp) == '}')
		return wev_fail(jp, "empty object");
	for (start = jp->jp_i;;) {
		if (wev_member(jp, ev, start, &seen) == -1)
			return -1;
		wev_ws(jp);
		if (wev_peek(jp) == '}') {
			jp->jp_i++;
			return 0;
		}
		if (wev_peek(jp) != ',')
			return wev_fail(jp, "',' or '}' expected");
		start = jp->jp_i;	/* the member's span takes its comma */
		jp->jp_i++;
		wev_ws(jp);
	}
}

int
wev_parse(const char *buf, size_t len, struct wev *ev, const char **why)
{
	struct wev_parser jp = { (const unsigned char *)buf, len, 0, NULL };
	int	 t;

	wev_init(ev);
	if (len > WEV_TEXT_MAX) {
		*why = "event too long";
		return -1;
	}
	wev_ws(&jp);
	if (wev_peek(&jp) != '{' || wev_members(&jp, ev) == -1)
		goto bad;
	wev_ws(&jp);
	if (jp.jp_i != jp.jp_n)
		goto bad;
	if (ev->we_v != WEV_SCHEMA_VERSION) {
		*why = "not schema version 1";
		return -1;
	}
	if (ev->we_flow < 0 || ev->we_seq < 0 || ev->we_ts[0] == '\0') {
		*why = "flow_id, seq or ts missing";
		return -1;
	}
	for (t = 1; t < WEV_MAX; t++)
		if (strcmp(ev->we_typename, wev_type_names[t]) == 0)
			break;
	if (t == WEV_MAX) {
		*why = "unknown event type";
		return -1;
	}
	ev->we_type = t;
	return 0;
bad:
	*why = jp.jp_why != NULL ? jp.jp_why : "trailing bytes";
	return -1;
}

/* Strict base64 (RFC 4648, padding required); -1 on anything else. */
static int
wev_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t
wev_b64_decode(const char *s, size_t n, uint8_t *out, size_t outsz)
{
	size_t	 i, o = 0, k, pad;
	int	 v[4];

	if (n % 4 != 0 || n / 4 * 3 > outsz)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad != 0 || (v[k] = wev_b64val(
			    (unsigned char)s[i + k])) < 0)
				return -1;
		}
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)((v[2] & 0x3) << 6 | v[3]);
	}
	return (ssize_t)o;
}
