/*
 * Framings for the decoder chain (decode.h), over a whole buffer: the
 * length-prefixed messages of gRPC (and gRPC-Web), the events of
 * text/event-stream. Each writes a JSON array of message objects, each
 * message's payload through the chain's payload stage. The streaming
 * parsers in tlsworker/ (grpc.c, sse.c) follow a live connection; these
 * are bounded walks over bytes already captured, in common/ so webui can
 * run them on what the store holds.
 *
 * Bytes that end inside a message or an event (a capture cut short, a
 * stream still open) end the walk: what is there is shown, marked
 * "truncated", and the stage is truncated, not failed; the messages
 * before it stay. More than max_parts messages: the rest is left out,
 * truncated as well. A gRPC flag byte that is not a flag fails the stage.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/decode_int.h"
#include "common/util.h"

#define GRPC_PREFIX	5		/* flag byte, 32-bit length */
#define GRPC_COMPRESSED	0x01
#define GRPC_WEB_TRAILER 0x80		/* gRPC-Web: a trailers frame */
#define SSE_BOM		"\xef\xbb\xbf"

/* The members of one message's payload; compressed gRPC messages are
 * inflated first when the caller knows their grpc-encoding. */
static int
frame_payload(struct decode_frame *f, int payload, const uint8_t *p,
    size_t n, int truncated, const struct decode_limits *lim,
    struct dbuf *out)
{
	int	 failed = 0, sanitized = 0, rv;

	rv = decode_payload_members(payload, p, n, truncated, lim, out,
	    &failed, &sanitized);
	f->df_failed |= failed;
	f->df_sanitized |= sanitized;
	return rv;
}

static int
grpc_inflated(struct decode_frame *f, const uint8_t *p, size_t n,
    int truncated, const struct decode_limits *lim, struct dbuf *out)
{
	struct dbuf	 d;
	char		 e[DECODE_ERROR_MAX], why[DECODE_ERROR_MAX * 2];
	int		 rv;

	dbuf_init(&d, lim->dl_max_out);
	e[0] = '\0';
	rv = decode_enc_run(f->df_grpc_encoding, p, n, truncated, &d, e,
	    sizeof(e));
	if (rv == DEC_NOMEM) {
		dbuf_free(&d);
		return -1;
	}
	if (rv == DEC_FAIL) {
		/* the message as it came, and why */
		f->df_failed = 1;
		snprintf(why, sizeof(why), "grpc-encoding %s: %s",
		    f->df_grpc_encoding, e);
		rv = dbuf_puts(out, ",\"error\":") == -1 ||
		    decode_json_str(out, (const uint8_t *)why, strlen(why)) ==
		    -1 ? -1 : frame_payload(f, DECODE_P_RAW, p, n, truncated,
		    lim, out);
	} else
		rv = frame_payload(f, f->df_payload, d.db_p, d.db_len,
		    rv == DEC_TRUNC, lim, out);
	dbuf_free(&d);
	return rv;
}

static int
grpc_message(struct decode_frame *f, size_t index, uint8_t flag,
    uint32_t len, const uint8_t *p, size_t n,
    const struct decode_limits *lim, struct dbuf *out)
{
	int	 truncated = n < len, comp = flag & GRPC_COMPRESSED;

	if ((index > 0 && dbuf_put(out, ",", 1) == -1) ||
	    dbuf_puts(out, "{\"index\":") == -1 || dbuf_u64(out, index) == -1 ||
	    dbuf_puts(out, comp ? ",\"compressed\":true" :
	    ",\"compressed\":false") == -1 ||
	    dbuf_puts(out, ",\"length\":") == -1 || dbuf_u64(out, len) == -1 ||
	    (truncated && dbuf_puts(out, ",\"truncated\":true") == -1) ||
	    ((flag & GRPC_WEB_TRAILER) &&
	    dbuf_puts(out, ",\"trailers\":true") == -1))
		return -1;
	if (flag & GRPC_WEB_TRAILER && !comp) {
		if (frame_payload(f, DECODE_P_RAW, p, n, truncated, lim,
		    out) == -1)
			return -1;
	} else if (comp && f->df_grpc_encoding != NULL &&
	    decode_enc_known(f->df_grpc_encoding) != -1) {
		if (grpc_inflated(f, p, n, truncated, lim, out) == -1)
			return -1;
	} else if (frame_payload(f, comp ? DECODE_P_RAW : f->df_payload, p,
	    n, truncated, lim, out) == -1)
		return -1;
	return dbuf_put(out, "}", 1);
}

int
decode_grpc(struct decode_frame *f, const uint8_t *p, size_t n,
    const struct decode_limits *lim, struct dbuf *out, char *err,
    size_t errsz)
{
	size_t	 off = 0, have;
	uint32_t len;
	uint8_t	 flag, ok = GRPC_COMPRESSED | (f->df_web ? GRPC_WEB_TRAILER : 0);
	int	 rv = DEC_OK;

	if (dbuf_put(out, "[", 1) == -1)
		goto full;
	while (off < n) {
		if (f->df_parts >= lim->dl_max_parts) {
			rv = DEC_TRUNC;
			break;
		}
		if ((flag = p[off]) & ~ok) {
			snprintf(err, errsz, "bad flag 0x%02x at byte %zu",
			    flag, off);
			return DEC_FAIL;
		}
		if (n - off < GRPC_PREFIX) {
			/* a prefix cut short: no message to show */
			rv = DEC_TRUNC;
			break;
		}
		len = (uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 |
		    (uint32_t)p[off + 3] << 8 | p[off + 4];
		have = MIN((size_t)len, n - off - GRPC_PREFIX);
		if (grpc_message(f, f->df_parts++, flag, len,
		    p + off + GRPC_PREFIX, have, lim, out) == -1)
			goto full;
		off += GRPC_PREFIX + have;
		if (have < len)
			rv = DEC_TRUNC;
	}
	if (dbuf_put(out, "]", 1) == 0)
		return rv;
full:
	if (out->db_nomem)
		return DEC_NOMEM;
	snprintf(err, errsz, "output past %zu bytes", out->db_max);
	return DEC_FAIL;
}

/* One SSE event being read. */
struct sse_ev {
	struct dbuf	 se_data;
	const uint8_t	*se_type;	/* into the input */
	size_t		 se_typelen;
	const uint8_t	*se_id;
	size_t		 se_idlen;
	int64_t		 se_retry;	/* -1: none */
	int		 se_fields;	/* seen since the last dispatch */
};

static void
sse_reset(struct sse_ev *e)
{
	e->se_data.db_len = 0;
	e->se_type = e->se_id = NULL;
	e->se_typelen = e->se_idlen = 0;
	e->se_retry = -1;
	e->se_fields = 0;
}

static int
sse_member(struct dbuf *out, const char *name, const uint8_t *p, size_t n)
{
	if (p == NULL)
		return 0;
	return dbuf_puts(out, name) == -1 ? -1 : decode_json_str(out, p, n);
}

static int
sse_emit(struct decode_frame *f, struct sse_ev *e, int truncated,
    const struct decode_limits *lim, struct dbuf *out)
{
	size_t	 dl = e->se_data.db_len;

	/* the last data line's newline is no part of the data */
	if (dl > 0)
		dl--;
	if ((f->df_parts > 0 && dbuf_put(out, ",", 1) == -1) ||
	    dbuf_puts(out, "{\"index\":") == -1 ||
	    dbuf_u64(out, f->df_parts) == -1 ||
	    sse_member(out, ",\"event\":", e->se_type, e->se_typelen) == -1 ||
	    sse_member(out, ",\"id\":", e->se_id, e->se_idlen) == -1 ||
	    (e->se_retry >= 0 && (dbuf_puts(out, ",\"retry\":") == -1 ||
	    dbuf_u64(out, (uint64_t)e->se_retry) == -1)) ||
	    (truncated && dbuf_puts(out, ",\"truncated\":true") == -1) ||
	    frame_payload(f, f->df_payload, e->se_data.db_p, dl, truncated,
	    lim, out) == -1 || dbuf_put(out, "}", 1) == -1)
		return -1;
	f->df_parts++;
	sse_reset(e);
	return 0;
}

/* retry: ASCII digits only, else ignored (WHATWG). */
static void
sse_retry(struct sse_ev *e, const uint8_t *v, size_t n)
{
	int64_t	 r = 0;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || r > INT32_MAX)
			return;
		r = r * 10 + (v[i] - '0');
	}
	if (n > 0)
		e->se_retry = r;
}

/* One line that is not empty: a comment, or a field and its value. */
static int
sse_line(struct sse_ev *e, const uint8_t *l, size_t n)
{
	const uint8_t	*colon = memchr(l, ':', n), *v;
	size_t		 fl, vl;

	if (colon == l)
		return 0;	/* a comment */
	fl = colon != NULL ? (size_t)(colon - l) : n;
	v = colon != NULL ? colon + 1 : l + n;
	vl = n - (size_t)(v - l);
	if (vl > 0 && v[0] == ' ')
		v++, vl--;
	e->se_fields = 1;
	if (fl == 4 && memcmp(l, "data", 4) == 0)
		return dbuf_put(&e->se_data, v, vl) == -1 ||
		    dbuf_put(&e->se_data, "\n", 1) == -1 ? -1 : 0;
	if (fl == 5 && memcmp(l, "event", 5) == 0) {
		e->se_type = v;
		e->se_typelen = vl;
	} else if (fl == 2 && memcmp(l, "id", 2) == 0) {
		if (memchr(v, '\0', vl) == NULL) {
			e->se_id = v;
			e->se_idlen = vl;
		}
	} else if (fl == 5 && memcmp(l, "retry", 5) == 0)
		sse_retry(e, v, vl);
	return 0;
}

/* The end of the line at p: its length, and *next past CR, LF or CRLF;
 * *next NULL when the bytes end first. */
static size_t
sse_eol(const uint8_t *p, size_t n, const uint8_t **next)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\n' || p[i] == '\r') {
			*next = p + i + 1 + (p[i] == '\r' && i + 1 < n &&
			    p[i + 1] == '\n');
			return i;
		}
	*next = NULL;
	return n;
}

static int
sse_walk(struct decode_frame *f, struct sse_ev *e, const uint8_t *p,
    size_t n, const struct decode_limits *lim, struct dbuf *out)
{
	const uint8_t	*end = p + n, *next;
	size_t		 l;

	while (p < end) {
		if (f->df_parts >= lim->dl_max_parts)
			return DEC_TRUNC;
		l = sse_eol(p, (size_t)(end - p), &next);
		if (next == NULL) {
			/* a last line without its end: kept, truncated */
			if (sse_line(e, p, l) == -1)
				return DEC_NOMEM;
			break;
		}
		if (l == 0 && e->se_fields) {
			if (sse_emit(f, e, 0, lim, out) == -1)
				return DEC_FAIL;
		} else if (l > 0 && sse_line(e, p, l) == -1)
			return DEC_NOMEM;
		p = next;
	}
	if (!e->se_fields)
		return DEC_OK;
	/* an event the bytes end in the middle of */
	return sse_emit(f, e, 1, lim, out) == -1 ? DEC_FAIL : DEC_TRUNC;
}

int
decode_sse(struct decode_frame *f, const uint8_t *p, size_t n,
    const struct decode_limits *lim, struct dbuf *out, char *err,
    size_t errsz)
{
	struct sse_ev	 e;
	int		 rv;

	memset(&e, 0, sizeof(e));
	/* an event's data is at most the input, and its newlines */
	dbuf_init(&e.se_data, n + 1);
	sse_reset(&e);
	if (n >= 3 && memcmp(p, SSE_BOM, 3) == 0)
		p += 3, n -= 3;
	if (dbuf_put(out, "[", 1) == -1)
		rv = DEC_FAIL;
	else
		rv = sse_walk(f, &e, p, n, lim, out);
	if (e.se_data.db_nomem)
		rv = DEC_NOMEM;
	dbuf_free(&e.se_data);
	if (rv >= 0 && dbuf_put(out, "]", 1) == 0)
		return rv;
	if (rv == DEC_NOMEM || out->db_nomem)
		return DEC_NOMEM;
	snprintf(err, errsz, "output past %zu bytes", out->db_max);
	return DEC_FAIL;
}
