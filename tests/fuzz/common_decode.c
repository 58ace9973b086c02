/*
 * libFuzzer target for the decoder chain (common/decode.c and its
 * stages). The first byte picks the Content-Type, the second the
 * Content-Encoding, the third the switches: a partial body, a message
 * (payload only), pretty JSON, small limits (so every bound is reached),
 * the body compressed here first with the picked coding (so the stages
 * after it see real input), and a grpc-encoding. The rest is the body.
 *
 * Nothing may crash, leak or read out of bounds; and the result must
 * hold together: the rendering is valid JSON (by the chain's own
 * checker, which the unit test holds to RFC 8259), no stage made more
 * than its limit, a failed stage's error names its stage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "common/decode.h"
#include "common/decode_int.h"
#include "common/util.h"

#define FUZZ_HDR	3
#define FZ_PARTIAL	0x01
#define FZ_MESSAGE	0x02
#define FZ_PRETTY	0x04
#define FZ_SMALL	0x08
#define FZ_PACK		0x10
#define FZ_GRPC_SHIFT	5
#define FZ_SMALL_OUT	4096
#define FZ_PACK_MAX	(64 * 1024)	/* bodies compressed here */

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fz_types[] = {
	NULL, "application/json", "text/javascript", "application/msgpack",
	"application/grpc", "application/grpc+json", "application/grpc-web+json",
	"text/event-stream", "text/plain", "application/problem+json; q=1",
	"application/x-msgpack", "application/grpc+msgpack", "",
	"application/vnd.msgpack", "APPLICATION/GRPC-WEB", "text/json",
};
static const char *const fz_codings[] = {
	NULL, "gzip", "deflate", "br", "zstd", "identity", "gzip, br",
	"br, gzip", "x-gzip", "zstd, gzip", "compress", "gzip,,identity",
	"gzip, gzip, gzip, gzip, gzip", "", " br ", "deflate, zstd",
};
static const char *const fz_grpc[] = {
	NULL, "gzip", "deflate", "zstd", "identity", "snappy", NULL, "br",
};

/* The body compressed with the coding picked, when we can: else NULL. */
static uint8_t *
fz_pack(const char *ce, const uint8_t *p, size_t n, size_t *outn)
{
	uint8_t		*o;
	size_t		 cap = compressBound((uLong)n) + ZSTD_compressBound(n) + 64;
	z_stream	 z;
	int		 wbits;

	if (ce == NULL || n > FZ_PACK_MAX || (o = malloc(cap)) == NULL)
		return NULL;
	if (strcmp(ce, "zstd") == 0) {
		*outn = ZSTD_compress(o, cap, p, n, 1);
		if (!ZSTD_isError(*outn))
			return o;
	} else if (strcmp(ce, "gzip") == 0 || strcmp(ce, "deflate") == 0 ||
	    strcmp(ce, "x-gzip") == 0) {
		wbits = ce[0] == 'd' ? 15 : 31;
		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, 6, Z_DEFLATED, wbits, 8,
		    Z_DEFAULT_STRATEGY) == Z_OK) {
			z.next_in = (Bytef *)(uintptr_t)p;
			z.avail_in = (uInt)n;
			z.next_out = o;
			z.avail_out = (uInt)cap;
			if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
				*outn = z.total_out;
				deflateEnd(&z);
				return o;
			}
			deflateEnd(&z);
		}
	}
	free(o);
	return NULL;
}

static void
fz_check(const struct decode_result *r, const struct decode_limits *lim)
{
	struct dbuf	 b;
	char		 err[DECODE_ERROR_MAX], *s;
	size_t		 i, len, sl;

	if (r->dr_nstages > DECODE_STAGES_MAX ||
	    r->dr_len > MAX(lim->dl_max_in, lim->dl_max_out) ||
	    (r->dr_kind == DECODE_KIND_JSON && r->dr_body == NULL))
		abort();
	for (i = 0; i < r->dr_nstages; i++) {
		sl = strlen(r->dr_stages[i].ds_stage);
		if (r->dr_stages[i].ds_out > lim->dl_max_out ||
		    (!r->dr_stages[i].ds_ok &&
		    strncmp(r->dr_stages[i].ds_error, r->dr_stages[i].ds_stage,
		    sl) != 0))
			abort();
	}
	if ((s = decode_render(r, &len)) == NULL)
		abort();
	if (strlen(s) != len)
		abort();	/* a NUL inside the JSON text */
	dbuf_init(&b, len * 2 + 16);
	if (decode_json_format((const uint8_t *)s, len, DECODE_DEPTH_CAP, 0,
	    &b, err, sizeof(err)) != DEC_OK)
		abort();
	dbuf_free(&b);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decode_input	 in;
	struct decode_limits	 lim;
	struct decode_result	 r;
	const uint8_t		*body = data + FUZZ_HDR;
	uint8_t			*packed = NULL;
	size_t			 n, pn = 0;
	uint8_t			 fl;

	if (size < FUZZ_HDR)
		return 0;
	n = size - FUZZ_HDR;
	fl = data[2];
	memset(&in, 0, sizeof(in));
	in.di_content_type = fz_types[data[0] % nitems(fz_types)];
	in.di_content_encoding = fz_codings[data[1] % nitems(fz_codings)];
	in.di_grpc_encoding = fz_grpc[fl >> FZ_GRPC_SHIFT];
	in.di_partial = (fl & FZ_PARTIAL) != 0;
	in.di_message = (fl & FZ_MESSAGE) != 0;
	decode_limits_default(&lim);
	lim.dl_pretty = (fl & FZ_PRETTY) != 0;
	if (fl & FZ_SMALL) {
		lim.dl_max_in = FZ_SMALL_OUT;
		lim.dl_max_out = FZ_SMALL_OUT;
		lim.dl_max_ratio = 4;
		lim.dl_max_depth = 8;
		lim.dl_max_objects = 64;
		lim.dl_max_parts = 4;
	}
	if ((fl & FZ_PACK) &&
	    (packed = fz_pack(in.di_content_encoding, body, n, &pn)) != NULL) {
		body = packed;
		n = pn;
	}
	if (decode_body(&in, &lim, body, n, &r) == -1)
		abort();	/* no allocation here can fail */
	fz_check(&r, &lim);
	decode_result_free(&r);
	free(packed);
	return 0;
}
