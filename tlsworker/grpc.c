/*
 * gRPC message framing on one direction of one HTTP/2 stream: the prefix
 * state machine, the stream's end, and the helpers for the grpc-status,
 * grpc-message and content-type values. Everything here runs on bytes
 * from the network, observes only, allocates nothing, and is fuzzed
 * (tests/fuzz/tlsworker_grpc.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "tlsworker/grpc.h"

enum grpc_state {
	GS_PREFIX = 0,	/* reading the 5-byte prefix */
	GS_BODY,	/* reading gp_msg.gm_len bytes */
	GS_BROKEN,	/* malformed: only counting */
};

#define GRPC_FLAG_MAX	1	/* Compressed-Flag: 0 or 1 */
#define GRPC_CT		"application/grpc"
#define GRPC_CT_LEN	(sizeof(GRPC_CT) - 1)
#define GRPC_PCT_LEN	3	/* "%XX" */

static const char *const grpc_status_names[GRPC_STATUS_MAX + 1] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

static int	grpc_fail(struct grpc_parser *, int, const char *,
		    const struct grpc_callbacks *, void *);
static int	grpc_prefix(struct grpc_parser *, const uint8_t *, size_t,
		    size_t *, const struct grpc_callbacks *, void *);
static size_t	grpc_body(struct grpc_parser *, const uint8_t *, size_t,
		    const struct grpc_callbacks *, void *);
static void	grpc_complete(struct grpc_parser *,
		    const struct grpc_callbacks *, void *);

void
grpc_init(struct grpc_parser *p, const struct grpc_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->gp_msg_max = lim != NULL && lim->gl_msg_max != 0 ?
	    lim->gl_msg_max : GRPC_MSG_MAX_DEFAULT;
	p->gp_state = GS_PREFIX;
}

/* Record the error, report it once, and stop interpreting the stream. */
static int
grpc_fail(struct grpc_parser *p, int kind, const char *why,
    const struct grpc_callbacks *cb, void *arg)
{
	struct grpc_error *e = &p->gp_error;

	e->ge_kind = kind;
	e->ge_reason = why;
	e->ge_offset = p->gp_poff;
	p->gp_state = GS_BROKEN;
	if (cb != NULL && cb->gcb_error != NULL)
		cb->gcb_error(arg, e);
	return GRPC_ERROR;
}

static void
grpc_complete(struct grpc_parser *p, const struct grpc_callbacks *cb,
    void *arg)
{
	if (cb != NULL && cb->gcb_end != NULL)
		cb->gcb_end(arg, &p->gp_msg);
	p->gp_messages++;
	p->gp_bytes += p->gp_msg.gm_len;
	p->gp_state = GS_PREFIX;
	p->gp_plen = 0;
}

/*
 * Take prefix bytes; *used says how many. The flag is judged as soon as
 * it arrives, the length once all four of its bytes are in.
 */
static int
grpc_prefix(struct grpc_parser *p, const uint8_t *data, size_t len,
    size_t *used, const struct grpc_callbacks *cb, void *arg)
{
	const uint8_t	*b = p->gp_prefix;
	size_t		 n = GRPC_PREFIX_LEN - p->gp_plen;
	uint32_t	 mlen;

	if (p->gp_plen == 0)
		p->gp_poff = p->gp_total;
	if (n > len)
		n = len;
	memcpy(p->gp_prefix + p->gp_plen, data, n);
	p->gp_plen += n;
	*used = n;
	if (b[0] > GRPC_FLAG_MAX) {
		p->gp_error.ge_flag = b[0];
		return grpc_fail(p, GRPC_E_FLAG, "bad compressed flag", cb,
		    arg);
	}
	if (p->gp_plen < GRPC_PREFIX_LEN)
		return GRPC_OK;
	mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 8 | (uint32_t)b[4];
	if (mlen > p->gp_msg_max) {
		p->gp_error.ge_len = mlen;
		p->gp_error.ge_limit = p->gp_msg_max;
		return grpc_fail(p, GRPC_E_TOO_LARGE,
		    "message larger than the limit", cb, arg);
	}
	p->gp_msg.gm_compressed = b[0];
	p->gp_msg.gm_len = mlen;
	p->gp_msg.gm_offset = p->gp_poff;
	p->gp_msg.gm_index = p->gp_messages;
	p->gp_off = 0;
	p->gp_state = GS_BODY;
	if (cb != NULL && cb->gcb_start != NULL)
		cb->gcb_start(arg, &p->gp_msg);
	if (mlen == 0)
		grpc_complete(p, cb, arg);
	return GRPC_OK;
}

/* Pass on message bytes; the number taken. */
static size_t
grpc_body(struct grpc_parser *p, const uint8_t *data, size_t len,
    const struct grpc_callbacks *cb, void *arg)
{
	size_t	 n = p->gp_msg.gm_len - p->gp_off;

	if (n > len)
		n = len;
	if (cb != NULL && cb->gcb_data != NULL)
		cb->gcb_data(arg, &p->gp_msg, data, n, p->gp_off);
	p->gp_off += (uint32_t)n;
	if (p->gp_off == p->gp_msg.gm_len)
		grpc_complete(p, cb, arg);
	return n;
}

int
grpc_feed(struct grpc_parser *p, const uint8_t *data, size_t len,
    const struct grpc_callbacks *cb, void *arg)
{
	size_t	 off = 0, n;

	while (off < len && p->gp_state != GS_BROKEN) {
		if (p->gp_state == GS_PREFIX) {
			/* A failure counts the prefix bytes taken. */
			(void)grpc_prefix(p, data + off, len - off, &n, cb,
			    arg);
		} else
			n = grpc_body(p, data + off, len - off, cb, arg);
		off += n;
		p->gp_total += n;
	}
	if (p->gp_state == GS_BROKEN) {
		/* The rest still flows past; only count it. */
		p->gp_total += len - off;
		return GRPC_ERROR;
	}
	return GRPC_OK;
}

int
grpc_end(struct grpc_parser *p)
{
	struct grpc_error *e = &p->gp_error;

	switch (p->gp_state) {
	case GS_BROKEN:
		return GRPC_END_MALFORMED;
	case GS_BODY:
		e->ge_kind = GRPC_E_TRUNC_MESSAGE;
		e->ge_reason = "truncated message";
		e->ge_offset = p->gp_msg.gm_offset;
		e->ge_len = p->gp_msg.gm_len;
		e->ge_have = p->gp_off;
		return GRPC_END_IN_MESSAGE;
	default:
		if (p->gp_plen == 0)
			return GRPC_END_CLEAN;
		e->ge_kind = GRPC_E_TRUNC_PREFIX;
		e->ge_reason = "truncated message prefix";
		e->ge_offset = p->gp_poff;
		e->ge_have = (uint32_t)p->gp_plen;
		return GRPC_END_IN_PREFIX;
	}
}

int
grpc_error_text(const struct grpc_error *e, char *buf, size_t size)
{
	switch (e->ge_kind) {
	case GRPC_E_FLAG:
		return snprintf(buf, size, "%s 0x%02x at offset %" PRIu64,
		    e->ge_reason, e->ge_flag, e->ge_offset);
	case GRPC_E_TOO_LARGE:
		return snprintf(buf, size, "%s: %" PRIu32 " bytes, limit %"
		    PRIu32 ", at offset %" PRIu64, e->ge_reason, e->ge_len,
		    e->ge_limit, e->ge_offset);
	case GRPC_E_TRUNC_PREFIX:
		return snprintf(buf, size, "%s: %" PRIu32 " of %d bytes at "
		    "offset %" PRIu64, e->ge_reason, e->ge_have,
		    GRPC_PREFIX_LEN, e->ge_offset);
	case GRPC_E_TRUNC_MESSAGE:
		return snprintf(buf, size, "%s: %" PRIu32 " of %" PRIu32
		    " bytes at offset %" PRIu64, e->ge_reason, e->ge_have,
		    e->ge_len, e->ge_offset);
	default:
		return snprintf(buf, size, "no error");
	}
}

int
grpc_status_parse(const char *s, size_t len)
{
	int	 code = 0;
	size_t	 i;

	if (len == 0 || len > GRPC_STATUS_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		code = code * 10 + (s[i] - '0');
	}
	return code;
}

const char *
grpc_status_name(int code)
{
	if (code < 0 || code > GRPC_STATUS_MAX)
		return "unknown";
	return grpc_status_names[code];
}

int
grpc_percent_decode(const char *in, size_t len, char *out, size_t outsize,
    size_t *outlen)
{
	size_t	 i = 0, o = 0;
	int	 flags = 0, hi, lo;

	while (i < len) {
		/* Keep room for the NUL; every step writes one byte. */
		if (o + 1 >= outsize) {
			flags |= GRPC_PCT_TRUNCATED;
			break;
		}
		if (in[i] != '%') {
			out[o++] = in[i++];
			continue;
		}
		hi = i + 1 < len ? util_hexval((unsigned char)in[i + 1]) : -1;
		lo = i + 2 < len ? util_hexval((unsigned char)in[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			/* As sent; what follows the '%' is read anew. */
			flags |= GRPC_PCT_MALFORMED;
			out[o++] = in[i++];
			continue;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += GRPC_PCT_LEN;
	}
	if (outsize > 0)
		out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return flags;
}

int
grpc_content_type(const char *s, size_t len, const char **sub,
    size_t *sublen)
{
	const char	*semi;
	size_t		 n;

	if (len < GRPC_CT_LEN || strncasecmp(s, GRPC_CT, GRPC_CT_LEN) != 0)
		return 0;
	if (len > GRPC_CT_LEN && s[GRPC_CT_LEN] != '+' &&
	    s[GRPC_CT_LEN] != ';')
		return 0;
	if (sub == NULL || sublen == NULL)
		return 1;
	*sub = s + len;
	*sublen = 0;
	if (len > GRPC_CT_LEN && s[GRPC_CT_LEN] == '+') {
		*sub = s + GRPC_CT_LEN + 1;
		n = len - GRPC_CT_LEN - 1;
		if ((semi = memchr(*sub, ';', n)) != NULL)
			n = (size_t)(semi - *sub);
		*sublen = n;
	}
	return 1;
}
