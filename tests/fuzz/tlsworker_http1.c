/*
 * libFuzzer target for the tlsworker's HTTP/1.x parsers: the first byte
 * picks the parser (request head, response head, chunked walker) and how
 * the rest is split into feeds; a complete head is also rebuilt the way
 * the proxy forwards it. Requests are parsed as the proxy's own (absolute
 * form) or as requests inside a CONNECT tunnel (origin form). Nothing may
 * crash, read out of bounds, leak, or report more bytes used than it was
 * given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/http1.h"

#define FUZZ_MAX_HEAD	8192	/* small, so the limits are reached */
#define FUZZ_MAX_FIELDS	32
#define FUZZ_MAX_STEP	32	/* largest split but "all at once" */

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_data(void *arg, const char *p, size_t n)
{
	size_t	*sum = arg;

	/* Touch the span so ASan sees a bad one. */
	if (n > 0)
		*sum += (unsigned char)p[0] + (unsigned char)p[n - 1];
}

static void
fuzz_head(const char *s, size_t len, size_t step, int kind, int req_head,
    int origin)
{
	struct http1_head h;
	size_t		 off = 0, n, used;
	char		*b;
	int		 r = HTTP1_MORE;

	http1_head_init(&h, kind, FUZZ_MAX_HEAD, FUZZ_MAX_FIELDS);
	h.hh_req_head = req_head;
	h.hh_origin = origin;
	while (off < len && r == HTTP1_MORE) {
		n = len - off < step ? len - off : step;
		r = http1_head_parse(&h, s + off, n, &used);
		if (used > n)
			abort();
		off += n;
	}
	if (r == HTTP1_DONE) {
		(void)http1_keepalive(&h);
		b = kind == HTTP1_REQUEST ? http1_build_request(&h, &n) :
		    http1_build_response(&h, req_head, step & 1, &n);
		if (b == NULL || strlen(b) != n)
			abort();
		free(b);
	} else if (r == HTTP1_ERROR && (h.hh_status == 0 ||
	    h.hh_error == NULL))
		abort();
	http1_head_free(&h);
}

static void
fuzz_chunked(const char *s, size_t len, size_t step)
{
	struct http1_chunked ck;
	size_t		 off = 0, n, used, sum = 0;
	int		 r = HTTP1_MORE;

	http1_chunked_init(&ck);
	while (off < len && r == HTTP1_MORE) {
		n = len - off < step ? len - off : step;
		r = http1_chunked_feed(&ck, s + off, n, &used, fuzz_data, &sum);
		if (used > n || (r == HTTP1_MORE && used != n))
			abort();
		off += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data + 1;
	size_t		 len, step;

	if (size < 1)
		return 0;
	len = size - 1;
	/* Low bits: the parser; high bits: the feed size (1..32, or all). */
	step = (size_t)(data[0] >> 2);
	step = step == 0 ? (len ? len : 1) : step % FUZZ_MAX_STEP + 1;
	switch (data[0] & 3) {
	case 0:
		/* The top bit: a request inside a tunnel (origin-form). */
		fuzz_head(s, len, step, HTTP1_REQUEST, 0, data[0] >> 7);
		break;
	case 1:
		fuzz_head(s, len, step, HTTP1_RESPONSE, 0, 0);
		break;
	case 2:
		fuzz_head(s, len, step, HTTP1_RESPONSE, 1, 0);
		break;
	default:
		fuzz_chunked(s, len, step);
		break;
	}
	return 0;
}
