/*
 * libFuzzer target for the text/event-stream parser (tlsworker/sse.c).
 * The first byte picks the limits (small ones, so they are reached, or
 * the defaults), the second seeds the sizes of the feeds. The rest is
 * parsed three times: whole, one byte at a time, and in feeds of varying
 * size; all three must report the same callbacks (counted, and hashed
 * over every field). Nothing may crash, leak or read out of bounds,
 * every report must be within the limits, and the buffers within them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/sse.h"

#define FUZZ_LINE_MAX	32	/* small, so the limits are reached */
#define FUZZ_DATA_MAX	128
#define FUZZ_MAX_STEP	64	/* largest varying feed */
#define FUZZ_FNV_BASIS	14695981039346656037ULL
#define FUZZ_FNV_PRIME	1099511628211ULL
#define FUZZ_LCG_MUL	1103515245u
#define FUZZ_LCG_ADD	12345u

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_run {
	const struct sse_parser *fr_p;
	uint64_t	 fr_hash;
	size_t		 fr_calls;
};

static void
fuzz_hash(struct fuzz_run *r, const void *s, size_t n)
{
	const unsigned char	*b = s;
	size_t			 i;

	for (i = 0; i < n; i++) {
		r->fr_hash ^= b[i];
		r->fr_hash *= FUZZ_FNV_PRIME;
	}
	/* The length too, so "ab","c" differs from "a","bc". */
	for (i = 0; i < sizeof(n); i++) {
		r->fr_hash ^= (n >> (i * 8)) & 0xff;
		r->fr_hash *= FUZZ_FNV_PRIME;
	}
}

static void
fuzz_fn(void *arg, const struct sse_event *ev)
{
	struct fuzz_run		*r = arg;
	const struct sse_parser	*p = r->fr_p;

	r->fr_calls++;
	fuzz_hash(r, &ev->ev_kind, sizeof(ev->ev_kind));
	switch (ev->ev_kind) {
	case SSE_EV_MESSAGE:
		if (ev->ev_data_len > p->sp_data_max ||
		    ev->ev_type_len > p->sp_line_max ||
		    ev->ev_id_len > p->sp_line_max ||
		    ev->ev_type[ev->ev_type_len] != '\0' ||
		    ev->ev_data[ev->ev_data_len] != '\0' ||
		    ev->ev_id[ev->ev_id_len] != '\0' ||
		    memchr(ev->ev_id, '\0', ev->ev_id_len) != NULL ||
		    ev->ev_retry < -1 || ev->ev_retry > SSE_RETRY_MAX)
			abort();
		fuzz_hash(r, ev->ev_type, ev->ev_type_len);
		fuzz_hash(r, ev->ev_data, ev->ev_data_len);
		fuzz_hash(r, ev->ev_id, ev->ev_id_len);
		fuzz_hash(r, &ev->ev_retry, sizeof(ev->ev_retry));
		fuzz_hash(r, &ev->ev_comments, sizeof(ev->ev_comments));
		break;
	case SSE_EV_COMMENT:
		if (ev->ev_data_len >= p->sp_line_max)
			abort();
		fuzz_hash(r, ev->ev_data, ev->ev_data_len);
		break;
	case SSE_EV_ERROR:
		if (ev->ev_error == NULL)
			abort();
		fuzz_hash(r, ev->ev_error, strlen(ev->ev_error));
		break;
	default:
		abort();
	}
}

/* step 0: varying feeds of 1..FUZZ_MAX_STEP bytes drawn from seed. */
static void
fuzz_parse(const char *s, size_t len, size_t step, unsigned seed,
    size_t line_max, size_t data_max, struct fuzz_run *r, uint64_t *n)
{
	struct sse_parser	 p;
	size_t			 off = 0, k;

	memset(r, 0, sizeof(*r));
	r->fr_hash = FUZZ_FNV_BASIS;
	r->fr_p = &p;
	sse_init(&p, line_max, data_max);
	while (off < len) {
		if (step == 0) {
			seed = seed * FUZZ_LCG_MUL + FUZZ_LCG_ADD;
			k = (seed >> 16) % FUZZ_MAX_STEP + 1;
		} else
			k = step;
		if (k > len - off)
			k = len - off;
		sse_feed(&p, s + off, k, fuzz_fn, r);
		off += k;
		if (p.sp_line.sb_cap > p.sp_line_max + 1 ||
		    p.sp_data.sb_cap > p.sp_data_max + 2 ||
		    p.sp_type.sb_cap > p.sp_line_max + 1 ||
		    p.sp_id.sb_cap > p.sp_line_max + 1)
			abort();
	}
	if (p.sp_events + p.sp_comments + p.sp_errors != r->fr_calls)
		abort();
	*n = p.sp_events;
	sse_free(&p);
	r->fr_p = NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run	 whole, bytes, split;
	uint64_t	 nw, nb, ns;
	size_t		 lmax = FUZZ_LINE_MAX, dmax = FUZZ_DATA_MAX, len;
	const char	*s = (const char *)data + 2;

	if (size < 2)
		return 0;
	len = size - 2;
	/* Low bit: the default limits instead of small ones; the rest
	 * scales the small ones so each boundary gets its turn. */
	if (data[0] & 1)
		lmax = dmax = 0;
	else {
		lmax += data[0] >> 3;
		dmax += data[0] >> 1;
	}
	fuzz_parse(s, len, len ? len : 1, 0, lmax, dmax, &whole, &nw);
	fuzz_parse(s, len, 1, 0, lmax, dmax, &bytes, &nb);
	fuzz_parse(s, len, 0, data[1], lmax, dmax, &split, &ns);
	if (nw != nb || nw != ns || whole.fr_calls != bytes.fr_calls ||
	    whole.fr_calls != split.fr_calls ||
	    whole.fr_hash != bytes.fr_hash || whole.fr_hash != split.fr_hash)
		abort();
	return 0;
}
