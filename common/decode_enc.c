/*
 * Content-encodings for the decoder chain (decode.h): gzip (and x-gzip),
 * deflate, br and zstd undone into a dbuf that stops at its limit, so a
 * decompression bomb costs its limit in memory and the work of making
 * that much output, no more.
 *
 * One driver for the four: a codec's step takes what input is left and
 * a piece of output room, and says whether the stream ended, needs more
 * input (then the body ended early: truncated when the caller has only
 * a prefix of it, a failure otherwise) or can go on. Input is fed in
 * ENC_FEED_MAX pieces at most (zlib counts in 32 bits).
 *
 * The libraries' own memory: zlib's window is 32 KiB; brotli's is at
 * most 16 MiB by its format (the large-window extension stays off);
 * zstd's is limited to 2^ENC_ZSTD_WINDOW_LOG (RFC 9659: 8 MiB for the
 * "zstd" content-coding), so a frame that asks for more fails instead of
 * allocating up to zstd's default 128 MiB.
 *
 * Leniencies real servers need: "deflate" is zlib-wrapped (RFC 9110) but
 * some send raw deflate, told apart by the zlib header's check bits;
 * concatenated gzip members are decoded in turn; bytes after the end of
 * a gzip, deflate or brotli stream are ignored, as browsers do.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include "common/decode_int.h"
#include "common/util.h"

#define ENC_CHUNK		((size_t)64 * 1024)	/* output room asked at a time */
#define ENC_FEED_MAX		(1024 * 1024 * 1024)
#define ENC_ZSTD_WINDOW_LOG	23
#define ENC_ZLIB_WBITS		15
#define ENC_GZIP_WBITS		(ENC_ZLIB_WBITS + 16)

enum enc_step { ENC_MORE, ENC_END, ENC_NEED_INPUT, ENC_ERR };

enum enc_kind { ENC_GZIP, ENC_DEFLATE, ENC_BR, ENC_ZSTD };

static const struct {
	const char	*en_name;
	int		 en_kind;
} enc_names[] = {
	{ "gzip", ENC_GZIP },
	{ "x-gzip", ENC_GZIP },
	{ "deflate", ENC_DEFLATE },
	{ "br", ENC_BR },
	{ "zstd", ENC_ZSTD },
};

struct enc {
	int			 e_kind;
	z_stream		 e_z;
	BrotliDecoderState	*e_br;
	ZSTD_DCtx		*e_zstd;
	const uint8_t		*e_in;	/* what is left of the input */
	size_t			 e_inlen;
	char			*e_err;
	size_t			 e_errsz;
};

int
decode_enc_known(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(enc_names); i++)
		if (strcasecmp(name, enc_names[i].en_name) == 0)
			return enc_names[i].en_kind;
	return -1;
}

/* RFC 1950: CM 8, a window of at most 32 KiB, FCHECK. */
static int
enc_zlib_header(const uint8_t *p, size_t n)
{
	return n >= 2 && (p[0] & 0x0f) == Z_DEFLATED && (p[0] >> 4) <= 7 &&
	    ((unsigned)p[0] << 8 | p[1]) % 31 == 0;
}

static int
enc_zlib_step(struct enc *e, uint8_t *out, size_t avail, size_t *made)
{
	z_stream	*z = &e->e_z;
	size_t		 feed = MIN(e->e_inlen, (size_t)ENC_FEED_MAX);
	int		 rc;

	z->next_in = (Bytef *)(uintptr_t)e->e_in;
	z->avail_in = (uInt)feed;
	z->next_out = out;
	z->avail_out = (uInt)MIN(avail, (size_t)ENC_FEED_MAX);
	rc = inflate(z, Z_NO_FLUSH);
	*made = (size_t)(z->next_out - out);
	e->e_in += feed - z->avail_in;
	e->e_inlen -= feed - z->avail_in;
	switch (rc) {
	case Z_OK:
		return ENC_MORE;
	case Z_STREAM_END:
		/* another gzip member follows */
		if (e->e_kind == ENC_GZIP && e->e_inlen >= 2 &&
		    e->e_in[0] == 0x1f && e->e_in[1] == 0x8b &&
		    inflateReset(z) == Z_OK)
			return ENC_MORE;
		return ENC_END;
	case Z_BUF_ERROR:
		if (e->e_inlen == 0)
			return ENC_NEED_INPUT;
		break;
	case Z_NEED_DICT:
		snprintf(e->e_err, e->e_errsz, "needs a preset dictionary");
		return ENC_ERR;
	default:
		break;
	}
	snprintf(e->e_err, e->e_errsz, "%s", z->msg != NULL ? z->msg :
	    zError(rc));
	return ENC_ERR;
}

static int
enc_br_step(struct enc *e, uint8_t *out, size_t avail, size_t *made)
{
	size_t			 left = avail;
	BrotliDecoderResult	 r;

	r = BrotliDecoderDecompressStream(e->e_br, &e->e_inlen, &e->e_in,
	    &left, &out, NULL);
	*made = avail - left;
	switch (r) {
	case BROTLI_DECODER_RESULT_SUCCESS:
		return ENC_END;
	case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
		return ENC_MORE;
	case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
		return ENC_NEED_INPUT;
	default:
		snprintf(e->e_err, e->e_errsz, "%s", BrotliDecoderErrorString(
		    BrotliDecoderGetErrorCode(e->e_br)));
		return ENC_ERR;
	}
}

static int
enc_zstd_step(struct enc *e, uint8_t *out, size_t avail, size_t *made)
{
	ZSTD_outBuffer	 ob = { out, avail, 0 };
	ZSTD_inBuffer	 ib = { e->e_in, e->e_inlen, 0 };
	size_t		 r;

	r = ZSTD_decompressStream(e->e_zstd, &ob, &ib);
	*made = ob.pos;
	e->e_in += ib.pos;
	e->e_inlen -= ib.pos;
	if (ZSTD_isError(r)) {
		snprintf(e->e_err, e->e_errsz, "%s", ZSTD_getErrorName(r));
		return ENC_ERR;
	}
	if (r == 0)	/* a frame ended; others may follow */
		return e->e_inlen == 0 ? ENC_END : ENC_MORE;
	/* the output room was not filled: it waits for input */
	if (e->e_inlen == 0 && ob.pos < ob.size)
		return ENC_NEED_INPUT;
	return ENC_MORE;
}

static int
enc_step(struct enc *e, uint8_t *out, size_t avail, size_t *made)
{
	switch (e->e_kind) {
	case ENC_BR:
		return enc_br_step(e, out, avail, made);
	case ENC_ZSTD:
		return enc_zstd_step(e, out, avail, made);
	default:
		return enc_zlib_step(e, out, avail, made);
	}
}

static int
enc_open(struct enc *e)
{
	int wbits = ENC_ZLIB_WBITS;

	switch (e->e_kind) {
	case ENC_BR:
		return (e->e_br = BrotliDecoderCreateInstance(NULL, NULL,
		    NULL)) == NULL ? -1 : 0;
	case ENC_ZSTD:
		if ((e->e_zstd = ZSTD_createDCtx()) == NULL)
			return -1;
		return ZSTD_isError(ZSTD_DCtx_setParameter(e->e_zstd,
		    ZSTD_d_windowLogMax, ENC_ZSTD_WINDOW_LOG)) ? -1 : 0;
	case ENC_GZIP:
		wbits = ENC_GZIP_WBITS;
		break;
	default:
		if (!enc_zlib_header(e->e_in, e->e_inlen))
			wbits = -ENC_ZLIB_WBITS;	/* raw deflate */
		break;
	}
	return inflateInit2(&e->e_z, wbits) == Z_OK ? 0 : -1;
}

static void
enc_close(struct enc *e)
{
	switch (e->e_kind) {
	case ENC_BR:
		if (e->e_br != NULL)
			BrotliDecoderDestroyInstance(e->e_br);
		break;
	case ENC_ZSTD:
		ZSTD_freeDCtx(e->e_zstd);
		break;
	default:
		(void)inflateEnd(&e->e_z);
		break;
	}
}

/*
 * The output is full: one more step into a byte of scratch room tells
 * whether the stream would have ended there (the rest was a trailer) or
 * had more to give.
 */
static int
enc_full(struct enc *e)
{
	uint8_t	 scratch;
	size_t	 made = 0;

	return enc_step(e, &scratch, 1, &made) == ENC_END && made == 0 ?
	    DEC_OK : DEC_TRUNC;
}

static int
enc_drive(struct enc *e, int partial, struct dbuf *out)
{
	uint8_t	*room;
	size_t	 avail, made;

	for (;;) {
		if ((room = dbuf_room(out, ENC_CHUNK, &avail)) == NULL)
			return out->db_nomem ? DEC_NOMEM : enc_full(e);
		made = 0;
		switch (enc_step(e, room, avail, &made)) {
		case ENC_MORE:
			out->db_len += made;
			break;
		case ENC_END:
			out->db_len += made;
			return DEC_OK;
		case ENC_NEED_INPUT:
			out->db_len += made;
			if (partial)
				return DEC_TRUNC;
			snprintf(e->e_err, e->e_errsz, "unexpected end of data");
			return DEC_FAIL;
		default:
			return DEC_FAIL;
		}
	}
}

/* Undo one coding (not identity) of n bytes at p into out. */
int
decode_enc_run(const char *name, const uint8_t *p, size_t n, int partial,
    struct dbuf *out, char *err, size_t errsz)
{
	struct enc	 e;
	int		 rv;

	memset(&e, 0, sizeof(e));
	if ((e.e_kind = decode_enc_known(name)) == -1) {
		snprintf(err, errsz, "unknown coding");
		return DEC_FAIL;
	}
	e.e_in = p;
	e.e_inlen = n;
	e.e_err = err;
	e.e_errsz = errsz;
	if (enc_open(&e) == -1) {
		enc_close(&e);
		return DEC_NOMEM;
	}
	rv = enc_drive(&e, partial, out);
	enc_close(&e);
	return rv;
}
