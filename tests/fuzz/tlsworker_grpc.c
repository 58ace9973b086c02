/*
 * libFuzzer target for the gRPC message framing parser and its header
 * helpers (tlsworker/grpc.c). The first byte picks the message limit (a
 * small one, so "too large" is reached), the second seeds random splits;
 * the rest is the stream. It is fed whole, byte by byte and in random
 * pieces, and the three must agree on everything observed: messages
 * started and completed, their flags, lengths and offsets, a running hash
 * of their bytes, the error and how the stream ended. The callbacks check
 * that pieces are contiguous and inside their message. The same bytes go
 * through the percent decoder (a small and a large output buffer must
 * agree) and the content-type and status helpers. Nothing may crash,
 * read out of bounds or leak.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/grpc.h"

#define FUZZ_HDR	2	/* limit byte, seed byte */
#define FUZZ_MAX_STEP	16	/* largest random piece */
#define FUZZ_PCT_SMALL	32	/* the small output buffer's largest size */
#define FNV_OFFSET	UINT64_C(14695981039346656037)
#define FNV_PRIME	UINT64_C(1099511628211)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fsum {
	uint64_t	 fs_starts;
	uint64_t	 fs_ends;
	uint64_t	 fs_bytes;
	uint64_t	 fs_hash;
	uint64_t	 fs_errors;
	int		 fs_open;
	uint32_t	 fs_next;	/* expected offset of the next piece */
};

static void
mix(struct fsum *s, uint64_t v)
{
	int	 i;

	for (i = 0; i < 8; i++) {
		s->fs_hash ^= (v >> (i * 8)) & 0xff;
		s->fs_hash *= FNV_PRIME;
	}
}

static void
f_start(void *arg, const struct grpc_message *m)
{
	struct fsum	*s = arg;

	if (s->fs_open || m->gm_index != s->fs_starts ||
	    m->gm_compressed > 1)
		abort();
	s->fs_open = 1;
	s->fs_next = 0;
	s->fs_starts++;
	mix(s, m->gm_len);
	mix(s, m->gm_offset << 1 | (uint64_t)m->gm_compressed);
}

static void
f_data(void *arg, const struct grpc_message *m, const uint8_t *p, size_t n,
    uint32_t off)
{
	struct fsum	*s = arg;
	size_t		 i;

	if (!s->fs_open || n == 0 || off != s->fs_next ||
	    (uint64_t)off + n > m->gm_len)
		abort();
	s->fs_next = off + (uint32_t)n;
	s->fs_bytes += n;
	for (i = 0; i < n; i++) {
		s->fs_hash ^= p[i];
		s->fs_hash *= FNV_PRIME;
	}
}

static void
f_end(void *arg, const struct grpc_message *m)
{
	struct fsum	*s = arg;

	if (!s->fs_open || s->fs_next != m->gm_len)
		abort();
	s->fs_open = 0;
	s->fs_ends++;
	mix(s, m->gm_index);
}

static void
f_error(void *arg, const struct grpc_error *e)
{
	struct fsum	*s = arg;

	s->fs_errors++;
	mix(s, (uint64_t)e->ge_kind << 8 | e->ge_flag);
	mix(s, e->ge_offset);
	mix(s, e->ge_len);
}

static const struct grpc_callbacks fuzz_cb = {
	f_start, f_data, f_end, f_error,
};

/* Feed the stream; step 0 means random pieces from the seed. */
static void
run(const uint8_t *d, size_t len, uint32_t limit, size_t step,
    uint32_t seed, struct fsum *s, struct grpc_parser *p)
{
	struct grpc_limits lim = { limit };
	char		 text[GRPC_ERROR_TEXT_MAX];
	size_t		 off = 0, n;
	int		 end;

	memset(s, 0, sizeof(*s));
	s->fs_hash = FNV_OFFSET;
	grpc_init(p, &lim);
	while (off < len) {
		if (step == 0) {
			seed = seed * 1103515245 + 12345;
			n = (seed >> 16) % (FUZZ_MAX_STEP + 1); /* 0 too */
		} else
			n = step;
		if (n > len - off)
			n = len - off;
		(void)grpc_feed(p, d + off, n, &fuzz_cb, s);
		off += n;
	}
	if (p->gp_total != len || s->fs_errors > 1 ||
	    (s->fs_errors == 1) != (p->gp_error.ge_kind != GRPC_E_NONE) ||
	    p->gp_messages != s->fs_ends)
		abort();
	end = grpc_end(p);
	if ((end == GRPC_END_CLEAN) != (p->gp_error.ge_kind == GRPC_E_NONE) ||
	    (end == GRPC_END_IN_MESSAGE) != s->fs_open)
		abort();
	if (grpc_error_text(&p->gp_error, text, sizeof(text)) < 0 ||
	    strlen(text) >= sizeof(text))
		abort();
	mix(s, (uint64_t)end);
	mix(s, p->gp_error.ge_have);
}

static void
fuzz_stream(const uint8_t *d, size_t len, uint32_t limit, uint32_t seed)
{
	struct grpc_parser pw, pb, pr;
	struct fsum	 whole, bytes, rnd;

	run(d, len, limit, len ? len : 1, 0, &whole, &pw);
	run(d, len, limit, 1, 0, &bytes, &pb);
	run(d, len, limit, 0, seed, &rnd, &pr);
	if (memcmp(&whole, &bytes, sizeof(whole)) != 0 ||
	    memcmp(&whole, &rnd, sizeof(whole)) != 0 ||
	    pw.gp_bytes != pb.gp_bytes || pw.gp_bytes != pr.gp_bytes ||
	    pw.gp_error.ge_kind != pb.gp_error.ge_kind ||
	    pw.gp_error.ge_offset != pr.gp_error.ge_offset)
		abort();
}

/* A small and a large output buffer agree up to the small one's end. */
static void
fuzz_percent(const char *s, size_t len, size_t small)
{
	char	*big, tiny[FUZZ_PCT_SMALL];
	size_t	 nb, nt;
	int	 fb, ft;

	if ((big = malloc(len + 1)) == NULL)
		return;
	fb = grpc_percent_decode(s, len, big, len + 1, &nb);
	ft = grpc_percent_decode(s, len, tiny, small, &nt);
	if ((fb & GRPC_PCT_TRUNCATED) || nb > len || big[nb] != '\0' ||
	    (small > 0 && (nt >= small || tiny[nt] != '\0')) ||
	    nt > nb || memcmp(big, tiny, nt) != 0 ||
	    ((ft & GRPC_PCT_TRUNCATED) != 0) != (nt < nb) ||
	    ((fb & GRPC_PCT_MALFORMED) == 0 && (ft & GRPC_PCT_MALFORMED)))
		abort();
	/* Without a '%', the output is the input. */
	if (memchr(s, '%', len) == NULL && (nb != len ||
	    memcmp(big, s, len) != 0 || fb != 0))
		abort();
	free(big);
}

static void
fuzz_headers(const char *s, size_t len)
{
	static const char ct[] = "application/grpc";
	const char	*sub;
	size_t		 i, sublen, ctlen = sizeof(ct) - 1;
	int		 code, want;

	want = len >= ctlen;
	for (i = 0; want && i < ctlen; i++)
		want = tolower((unsigned char)s[i]) == ct[i];
	want = want && (len == ctlen || s[ctlen] == '+' || s[ctlen] == ';');
	if (grpc_content_type(s, len, &sub, &sublen) != want ||
	    (want && (sub < s || sub + sublen > s + len)))
		abort();
	code = grpc_status_parse(s, len);
	if (grpc_status_name(code) == NULL)
		abort();
	for (i = 0; code >= 0 && i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*d = data + FUZZ_HDR;
	size_t		 len;
	uint32_t	 limit;

	if (size < FUZZ_HDR)
		return 0;
	len = size - FUZZ_HDR;
	/* 0 keeps the default; otherwise a limit of 1..255 bytes. */
	limit = data[0];
	fuzz_stream(d, len, limit, data[1]);
	fuzz_percent((const char *)d, len, data[1] % (FUZZ_PCT_SMALL + 1));
	fuzz_headers((const char *)d, len);
	return 0;
}
