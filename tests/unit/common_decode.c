/*
 * Unit tests of the decoder chain (common/decode.c and its stages): each
 * content-coding alone and stacked, unknown and corrupt codings, bombs
 * against the output limit, JSON behind each anti-hijacking prefix and
 * past the depth bound, msgpack (good, malformed, too deep, lengths that
 * lie), gRPC and SSE framing, the order of the stages, and that every
 * rendering is valid JSON.
 *
 * gzip, deflate and zstd fixtures are made here with zlib and libzstd
 * (both link compression too). libbrotlienc is not linked, so the
 * brotli fixtures are bytes, made once with a ten-line C program over
 * libbrotlienc: BrotliEncoderCompress(11, 22, BROTLI_MODE_GENERIC, ...)
 * of the text in each comment; the gzip inside BR_STACKED is Python's
 * gzip.compress(b'{"stacked":["gzip","br"]}', mtime=0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "common/decode.h"
#include "common/decode_int.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define T_BUF		4096
#define T_BOMB		(10 * 1000 * 1000)
#define T_MIB		(1024 * 1024)

/* br: {"codec":"br","ok":true} */
static const uint8_t BR_JSON[] = {
	0x8b, 0x0b, 0x80, 0x7b, 0x22, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x22, 0x3a,
	0x22, 0x62, 0x72, 0x22, 0x2c, 0x22, 0x6f, 0x6b, 0x22, 0x3a, 0x74, 0x72,
	0x75, 0x65, 0x7d, 0x03,
};
/* br(gzip({"stacked":["gzip","br"]})) */
static const uint8_t BR_STACKED[] = {
	0x0b, 0x16, 0x80, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x03, 0xab, 0x56, 0x2a, 0x2e, 0x49, 0x4c, 0xce, 0x4e, 0x4d, 0x51, 0xb2,
	0x8a, 0x56, 0x4a, 0xaf, 0xca, 0x2c, 0x50, 0xd2, 0x51, 0x4a, 0x2a, 0x52,
	0x8a, 0xad, 0x05, 0x00, 0x95, 0x2a, 0xa0, 0x21, 0x19, 0x00, 0x00, 0x00,
	0x03,
};
/* br: "mitmd " 200 times */
static const uint8_t BR_REPEAT[] = {
	0x1b, 0xaf, 0x04, 0xf8, 0x8d, 0x94, 0x6e, 0xde, 0xaa, 0x6c, 0x23, 0x03,
	0xa9, 0x34, 0xba, 0xb0, 0x2d, 0x0e, 0x40, 0x06, 0x1d,
};
/* br: 10,000,000 zero bytes */
static const uint8_t BR_BOMB[] = {
	0xcb, 0xff, 0xff, 0x3f, 0xf8, 0x27, 0x00, 0xe2, 0xb1, 0x40, 0x20, 0xf7,
	0xfe, 0x2f, 0xff, 0x2c, 0x31, 0xf0, 0x4f, 0x00, 0xc4, 0x61, 0x11, 0x80,
	0x8e, 0x23, 0x06,
};

static struct decode_limits	 lim;
static struct decode_result	 res;
static char			*out;	/* the last rendering */

/* Valid JSON: our own checker, on the rendering. */
static int
valid_json(const char *s)
{
	struct dbuf	 b;
	char		 err[DECODE_ERROR_MAX];
	int		 rv;

	dbuf_init(&b, strlen(s) * 2 + 16);
	rv = decode_json_format((const uint8_t *)s, strlen(s),
	    DECODE_DEPTH_CAP, 0, &b, err, sizeof(err));
	if (rv != DEC_OK)
		printf("# not JSON: %s: %s\n", err, s);
	dbuf_free(&b);
	return rv == DEC_OK;
}

/* Decode with lim, render into out; 0 when both worked and out is
 * valid JSON. */
static int
run(const char *ct, const char *ce, const void *p, size_t n)
{
	struct decode_input in;

	memset(&in, 0, sizeof(in));
	in.di_content_type = ct;
	in.di_content_encoding = ce;
	decode_result_free(&res);
	free(out);
	out = NULL;
	if (decode_body(&in, &lim, p, n, &res) == -1)
		return -1;
	if ((out = decode_render(&res, NULL)) == NULL)
		return -1;
	return valid_json(out) ? 0 : -1;
}

static int
body_is(const char *want)
{
	int ok = res.dr_len == strlen(want) &&
	    memcmp(res.dr_body, want, res.dr_len) == 0;

	if (!ok)
		printf("# body %.*s\n# want %s\n", (int)MIN(res.dr_len, 300),
		    res.dr_body, want);
	return ok;
}

static int
has(const char *frag)
{
	int ok = out != NULL && strstr(out, frag) != NULL;

	if (!ok)
		printf("# no %s in %.600s\n", frag, out ? out : "(null)");
	return ok;
}

static int
stage_is(size_t i, const char *stage, const char *codec, int okk)
{
	const struct decode_stage *s = &res.dr_stages[i];

	return i < res.dr_nstages && strcmp(s->ds_stage, stage) == 0 &&
	    strcmp(s->ds_codec, codec) == 0 && s->ds_ok == okk;
}

/* zlib with wbits: 15+16 gzip, 15 zlib, -15 raw deflate. */
static size_t
zpack(int wbits, const void *p, size_t n, uint8_t *dst, size_t dsz)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, wbits, 9, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return 0;
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = dst;
	z.avail_out = (uInt)dsz;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		return 0;
	}
	deflateEnd(&z);
	return z.total_out;
}

static void
test_codings(void)
{
	static const char json[] = "{\"a\": [1, 2.50, \"x\"]}";
	uint8_t	 z[T_BUF];
	size_t	 n;

	n = zpack(15 + 16, json, strlen(json), z, sizeof(z));
	CHECK(run("application/json", "gzip", z, n) == 0 &&
	    stage_is(0, "content-encoding", "gzip", 1) &&
	    stage_is(1, "payload", "json", 1) && res.dr_nstages == 2 &&
	    res.dr_kind == DECODE_KIND_JSON &&
	    body_is("{\"a\":[1,2.50,\"x\"]}"), "gzip alone, JSON compacted");
	CHECK(res.dr_stages[0].ds_in == n && res.dr_stages[0].ds_out ==
	    strlen(json) && has("\"in\":") && has("\"kind\":\"json\"") &&
	    has("\"body\":{\"a\":[1,2.50,\"x\"]}"), "bytes in and out");
	CHECK(run("application/json", "X-GZIP", z, n) == 0 &&
	    stage_is(0, "content-encoding", "X-GZIP", 1) &&
	    res.dr_kind == DECODE_KIND_JSON, "x-gzip, any case");
	n = zpack(15, json, strlen(json), z, sizeof(z));
	CHECK(run("application/json", "deflate", z, n) == 0 &&
	    stage_is(0, "content-encoding", "deflate", 1) &&
	    res.dr_kind == DECODE_KIND_JSON, "deflate, zlib-wrapped");
	n = zpack(-15, json, strlen(json), z, sizeof(z));
	CHECK(run("application/json", "deflate", z, n) == 0 &&
	    stage_is(0, "content-encoding", "deflate", 1) &&
	    res.dr_kind == DECODE_KIND_JSON, "deflate, raw");
	CHECK(run("application/json", "br", BR_JSON, sizeof(BR_JSON)) == 0 &&
	    stage_is(0, "content-encoding", "br", 1) &&
	    body_is("{\"codec\":\"br\",\"ok\":true}"), "br alone");
	CHECK(run("text/plain", "br", BR_REPEAT, sizeof(BR_REPEAT)) == 0 &&
	    res.dr_len == 1200 && res.dr_kind == DECODE_KIND_TEXT &&
	    memcmp(res.dr_body, "mitmd mitmd ", 12) == 0 && res.dr_nstages == 1,
	    "br with back-references, text kept raw");
	n = ZSTD_compress(z, sizeof(z), json, strlen(json), 3);
	CHECK(!ZSTD_isError(n) && run("application/json", "zstd", z, n) == 0 &&
	    stage_is(0, "content-encoding", "zstd", 1) &&
	    res.dr_kind == DECODE_KIND_JSON, "zstd alone");
	CHECK(run("application/json", " identity ,", json, strlen(json)) == 0 &&
	    stage_is(0, "content-encoding", "identity", 1) &&
	    res.dr_kind == DECODE_KIND_JSON, "identity, empty list elements");
	CHECK(run("text/plain", "", "plain", 5) == 0 && res.dr_nstages == 0 &&
	    res.dr_kind == DECODE_KIND_TEXT && body_is("plain"),
	    "no coding, text/plain: no stage");
}

static void
test_stacked(void)
{
	CHECK(run("application/json", "gzip, br", BR_STACKED,
	    sizeof(BR_STACKED)) == 0 && res.dr_nstages == 3 &&
	    stage_is(0, "content-encoding", "br", 1) &&
	    stage_is(1, "content-encoding", "gzip", 1) &&
	    stage_is(2, "payload", "json", 1) &&
	    body_is("{\"stacked\":[\"gzip\",\"br\"]}"),
	    "gzip, br: br undone first, then gzip, then JSON");
	CHECK(run("application/json", "br, gzip", BR_STACKED,
	    sizeof(BR_STACKED)) == 0 && res.dr_nstages == 1 &&
	    stage_is(0, "content-encoding", "gzip", 0) &&
	    strncmp(res.dr_stages[0].ds_error, "content-encoding gzip: ", 23)
	    == 0 && res.dr_len == sizeof(BR_STACKED) &&
	    memcmp(res.dr_body, BR_STACKED, sizeof(BR_STACKED)) == 0 &&
	    res.dr_kind == DECODE_KIND_BINARY && has("\"encoding\":\"base64\""),
	    "the wrong order fails at gzip, the bytes kept as received");
}

static void
test_unknown(void)
{
	static const char body[] = "opaque";
	uint8_t	 z[T_BUF];
	size_t	 n;

	CHECK(run("application/json", "compress", body, 6) == 0 &&
	    res.dr_nstages == 1 &&
	    stage_is(0, "content-encoding", "compress", 0) &&
	    strcmp(res.dr_stages[0].ds_error,
	    "content-encoding compress: unknown coding") == 0 &&
	    body_is(body) && res.dr_kind == DECODE_KIND_TEXT &&
	    has("\"ok\":false") && has("\"error\":\"content-encoding compress"),
	    "unknown coding: reported, raw kept");
	n = zpack(15 + 16, body, 6, z, sizeof(z));
	CHECK(run(NULL, "foo, gzip", z, n) == 0 && res.dr_nstages == 2 &&
	    stage_is(0, "content-encoding", "gzip", 1) &&
	    stage_is(1, "content-encoding", "foo", 0) && body_is(body),
	    "unknown after gzip: the bytes gzip made are kept");
	CHECK(run(NULL, "gzip, gzip, gzip, gzip, gzip", z, n) == 0 &&
	    res.dr_nstages == 1 && stage_is(0, "content-encoding", "list", 0) &&
	    res.dr_len == n, "more than four codings: refused");
}

static void
test_corrupt(void)
{
	char	 text[T_BUF];
	uint8_t	 z[T_BUF];
	size_t	 n, i;

	for (i = 0; i < sizeof(text) - 1; i++)
		text[i] = (char)('a' + (i * 7) % 26);
	text[sizeof(text) - 1] = '\0';
	n = zpack(15 + 16, text, strlen(text), z, sizeof(z));
	z[n / 2] ^= 0xff;
	z[n / 2 + 1] ^= 0x55;
	CHECK(run("text/plain", "gzip", z, n) == 0 &&
	    stage_is(0, "content-encoding", "gzip", 0) && res.dr_len == n &&
	    memcmp(res.dr_body, z, n) == 0 && res.dr_kind == DECODE_KIND_BINARY,
	    "corrupt gzip: failed, the compressed bytes kept (%s)",
	    res.dr_stages[0].ds_error);
	z[n / 2] ^= 0xff;
	z[n / 2 + 1] ^= 0x55;
	CHECK(run("text/plain", "gzip", z, n - 10) == 0 &&
	    stage_is(0, "content-encoding", "gzip", 0) &&
	    strstr(res.dr_stages[0].ds_error, "unexpected end") != NULL,
	    "gzip cut short, whole body: failed");
	{
		struct decode_input in = { "text/plain", "gzip", NULL, 1, 0 };

		decode_result_free(&res);
		CHECK(decode_body(&in, &lim, z, n / 2, &res) == 0 &&
		    res.dr_nstages == 1 && res.dr_stages[0].ds_ok &&
		    res.dr_stages[0].ds_truncated && res.dr_truncated &&
		    res.dr_len > 0 && memcmp(res.dr_body, text,
		    res.dr_len) == 0, "gzip cut short, a capture: the prefix, "
		    "truncated");
	}
	CHECK(run("text/plain", "gzip", "\x1f\x8b", 2) == 0 &&
	    stage_is(0, "content-encoding", "gzip", 0), "a gzip header alone");
	CHECK(run("text/plain", "gzip", "", 0) == 0 &&
	    stage_is(0, "content-encoding", "gzip", 1) && res.dr_len == 0,
	    "an empty body has nothing to undo");
}

static void
test_bombs(void)
{
	uint8_t	*zeros, *z;
	size_t	 n, zsz = T_BOMB / 100;

	zeros = calloc(1, T_BOMB);
	z = malloc(zsz);
	if (zeros == NULL || z == NULL)
		abort();
	lim.dl_max_out = T_MIB;
	n = zpack(15 + 16, zeros, T_BOMB, z, zsz);
	CHECK(n > 0 && n < 20000 && run("application/json", "gzip", z, n) == 0 &&
	    res.dr_nstages == 2 && stage_is(0, "content-encoding", "gzip", 1) &&
	    res.dr_stages[0].ds_truncated && res.dr_truncated &&
	    stage_is(1, "payload", "json", 0) &&
	    res.dr_stages[0].ds_out == T_MIB && res.dr_len == T_MIB &&
	    res.dr_kind == DECODE_KIND_BINARY && has("\"truncated\":true"),
	    "gzip bomb: %zu bytes stop at 1 MiB, truncated; not JSON, kept "
	    "binary", n);
	n = ZSTD_compress(z, zsz, zeros, T_BOMB, 19);
	CHECK(!ZSTD_isError(n) && run(NULL, "zstd", z, n) == 0 &&
	    res.dr_stages[0].ds_ok && res.dr_stages[0].ds_truncated &&
	    res.dr_len == T_MIB, "zstd bomb (%zu bytes) stops at 1 MiB", n);
	CHECK(run(NULL, "br", BR_BOMB, sizeof(BR_BOMB)) == 0 &&
	    res.dr_stages[0].ds_ok && res.dr_stages[0].ds_truncated &&
	    res.dr_len == T_MIB, "brotli bomb (%zu bytes) stops at 1 MiB",
	    sizeof(BR_BOMB));
	lim.dl_max_out = T_BOMB;
	n = zpack(15 + 16, zeros, T_BOMB, z, zsz);
	CHECK(run(NULL, "gzip", z, n) == 0 && res.dr_stages[0].ds_ok &&
	    !res.dr_stages[0].ds_truncated && res.dr_len == T_BOMB,
	    "output exactly at the limit is whole, not truncated");
	lim.dl_max_ratio = 100;
	CHECK(run(NULL, "gzip", z, n) == 0 && res.dr_stages[0].ds_truncated &&
	    res.dr_len == n * 100, "a ratio of 100 limits the output");
	decode_limits_default(&lim);
	free(zeros);
	free(z);
}

static void
test_json(void)
{
	static const char *const prefixed[] = {
		")]}'\n{\"p\":1}", ")]}',\n{\"p\":1}", ")]}'{\"p\":1}",
		")]}',{\"p\":1}", "for(;;);{\"p\":1}", "while(1);{\"p\":1}",
		"{}&&{\"p\":1}",
	};
	static const char nums[] = "[0.1, 1e400, 18446744073709551616, -0, "
	    "\"\\u00e9\\ud83d\\ude00\", {\"k\":1,\"k\":2}]";
	char	 deep[200];
	size_t	 i;

	for (i = 0; i < nitems(prefixed); i++)
		CHECK(run("application/json", NULL, prefixed[i],
		    strlen(prefixed[i])) == 0 && res.dr_sanitized &&
		    body_is("{\"p\":1}") && has("\"sanitized\":true"),
		    "prefix %zu stripped, sanitized", i);
	CHECK(run("application/x-javascript; charset=utf-8", NULL,
	    prefixed[4], strlen(prefixed[4])) == 0 && res.dr_sanitized &&
	    res.dr_kind == DECODE_KIND_JSON, "javascript behind a prefix: JSON");
	CHECK(run("text/javascript", NULL, "var a = 1;", 10) == 0 &&
	    !res.dr_sanitized && res.dr_kind == DECODE_KIND_TEXT &&
	    res.dr_nstages == 0, "javascript without one: text");
	CHECK(run("application/json", NULL, "{\"p\":1}", 7) == 0 &&
	    !res.dr_sanitized && has("\"sanitized\":false"), "no prefix");
	CHECK(run("application/json", NULL, nums, strlen(nums)) == 0 &&
	    body_is("[0.1,1e400,18446744073709551616,-0,"
	    "\"\\u00e9\\ud83d\\ude00\",{\"k\":1,\"k\":2}]"),
	    "numbers, escapes, repeated keys as sent");
	lim.dl_pretty = 1;
	CHECK(run("application/problem+json", NULL, "{\"a\":[1,{}],\"b\":[]}",
	    19) == 0 && body_is("{\n  \"a\": [\n    1,\n    {}\n  ],\n"
	    "  \"b\": []\n}"), "+json, pretty");
	lim.dl_pretty = 0;
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	CHECK(run("application/json", NULL, deep, 128) == 0 &&
	    res.dr_kind == DECODE_KIND_JSON, "64 levels: within the bound");
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	CHECK(run("application/json", NULL, deep, 130) == 0 &&
	    stage_is(0, "payload", "json", 0) && res.dr_kind ==
	    DECODE_KIND_TEXT && res.dr_len == 130 &&
	    strcmp(res.dr_stages[0].ds_error, "payload json: nested deeper "
	    "than 64 at byte 64") == 0, "65 levels: %s",
	    res.dr_stages[0].ds_error);
	CHECK(run("application/json", NULL, "{\"a\":tru}", 9) == 0 &&
	    stage_is(0, "payload", "json", 0) && body_is("{\"a\":tru}"),
	    "malformed JSON: failed, text kept");
	CHECK(run("application/json", NULL, "{\"a\":1} x", 9) == 0 &&
	    stage_is(0, "payload", "json", 0), "trailing bytes");
	CHECK(run("application/json", NULL, "\"\xff\"", 3) == 0 &&
	    stage_is(0, "payload", "json", 0) &&
	    res.dr_kind == DECODE_KIND_BINARY, "invalid UTF-8: binary kept");
	CHECK(run(NULL, NULL, " {\"guess\":true}", 15) == 0 &&
	    res.dr_kind == DECODE_KIND_JSON && stage_is(0, "payload", "json", 1),
	    "no content-type: a JSON guess");
	CHECK(run(NULL, NULL, "{not json", 9) == 0 && res.dr_nstages == 0 &&
	    res.dr_kind == DECODE_KIND_TEXT, "a wrong guess is no failure");
	CHECK(run(NULL, NULL, "\x00\x01\x02", 3) == 0 && res.dr_kind ==
	    DECODE_KIND_BINARY && has("\"body\":\"AAEC\""), "binary as base64");
}

static void
test_msgpack(void)
{
	/* {"a":[1,-2,true,nil,1.5,"s"],"b":bin"\x00\xff",
	 *  2:ext(5,"x"), "f":float32 0.25} */
	static const uint8_t mp[] = {
		0x84, 0xa1, 'a', 0x96, 0x01, 0xfe, 0xc3, 0xc0, 0xcb, 0x3f,
		0xf8, 0, 0, 0, 0, 0, 0, 0xa1, 's', 0xa1, 'b', 0xc4, 0x02,
		0x00, 0xff, 0x02, 0xd4, 0x05, 'x', 0xa1, 'f', 0xca, 0x3e,
		0x80, 0, 0,
	};
	uint8_t	 deep[40];

	CHECK(run("application/msgpack", NULL, mp, sizeof(mp)) == 0 &&
	    stage_is(0, "payload", "msgpack", 1) &&
	    body_is("{\"a\":[1,-2,true,null,1.5,\"s\"],\"b\":\"AP8=\","
	    "\"2\":{\"ext\":5,\"base64\":\"eA==\"},\"f\":0.25}"),
	    "msgpack to JSON");
	CHECK(run("application/x-msgpack", NULL, "\xd3\x80\0\0\0\0\0\0\0", 9)
	    == 0 && body_is("-9223372036854775808"), "INT64_MIN");
	CHECK(run("application/vnd.msgpack", NULL, "\xc1", 1) == 0 &&
	    stage_is(0, "payload", "msgpack", 0) &&
	    res.dr_kind == DECODE_KIND_BINARY, "0xc1: malformed (%s)",
	    res.dr_stages[0].ds_error);
	CHECK(run("application/msgpack", NULL, "\xa5" "abc", 4) == 0 &&
	    stage_is(0, "payload", "msgpack", 0), "a str cut short");
	CHECK(run("application/msgpack", NULL, "\x01\x02", 2) == 0 &&
	    stage_is(0, "payload", "msgpack", 0), "trailing bytes");
	memset(deep, 0x91, sizeof(deep));
	deep[32] = 0x00;
	CHECK(run("application/msgpack", NULL, deep, 33) == 0 &&
	    stage_is(0, "payload", "msgpack", 1), "32 levels: msgpack-c's most");
	deep[32] = 0x91;
	deep[33] = 0x00;
	CHECK(run("application/msgpack", NULL, deep, 34) == 0 &&
	    stage_is(0, "payload", "msgpack", 0) &&
	    strstr(res.dr_stages[0].ds_error, "nested deeper than 32") != NULL,
	    "33 levels: refused (%s)", res.dr_stages[0].ds_error);
	CHECK(run("application/msgpack", NULL, "\xdd\xff\xff\xff\xff\x01", 6)
	    == 0 && stage_is(0, "payload", "msgpack", 0) &&
	    strstr(res.dr_stages[0].ds_error, "4294967295 elements declared")
	    != NULL, "array32 of 2^32-1: refused before any allocation");
	CHECK(run("application/msgpack", NULL, "\xdf\xff\xff\xff\xff", 5) == 0
	    && stage_is(0, "payload", "msgpack", 0), "map32 of 2^32-1");
	CHECK(run("application/msgpack", NULL, "\xdb\xff\xff\xff\xffxy", 7) == 0
	    && stage_is(0, "payload", "msgpack", 0), "str32 of 2^32-1");
	CHECK(run("application/msgpack", NULL, "\xc6\x7f\xff\xff\xff", 5) == 0
	    && stage_is(0, "payload", "msgpack", 0), "bin32 of 2^31-1");
	lim.dl_max_objects = 4;
	CHECK(run("application/msgpack", NULL, "\x94\x01\x02\x03\x04", 5) == 0
	    && stage_is(0, "payload", "msgpack", 0) &&
	    strstr(res.dr_stages[0].ds_error, "more than 4 objects") != NULL,
	    "the object bound (%s)", res.dr_stages[0].ds_error);
	decode_limits_default(&lim);
	lim.dl_max_out = 8;
	CHECK(run("application/msgpack", NULL, "\xa9" "123456789", 10) == 0 &&
	    stage_is(0, "payload", "msgpack", 0) &&
	    strstr(res.dr_stages[0].ds_error, "output past 8") != NULL,
	    "the output bound");
	decode_limits_default(&lim);
}

/* A gRPC message: flag, 32-bit length, bytes. */
static size_t
grpc_msg(uint8_t *d, uint8_t flag, const void *p, size_t n)
{
	d[0] = flag;
	d[1] = (uint8_t)(n >> 24);
	d[2] = (uint8_t)(n >> 16);
	d[3] = (uint8_t)(n >> 8);
	d[4] = (uint8_t)n;
	memcpy(d + 5, p, n);
	return 5 + n;
}

static void
test_grpc(void)
{
	struct decode_input in;
	uint8_t	 b[T_BUF], z[T_BUF];
	size_t	 n, zn;

	n = grpc_msg(b, 0, "{\"id\":1}", 8);
	n += grpc_msg(b + n, 0, "{\"id\":2}", 8);
	CHECK(run("application/grpc+json", NULL, b, n) == 0 &&
	    res.dr_nstages == 2 && stage_is(0, "framing", "grpc", 1) &&
	    res.dr_stages[0].ds_parts == 2 && stage_is(1, "payload", "json", 1) &&
	    res.dr_framing != NULL && body_is("[{\"index\":0,\"compressed\":"
	    "false,\"length\":8,\"kind\":\"json\",\"body\":{\"id\":1}},"
	    "{\"index\":1,\"compressed\":false,\"length\":8,\"kind\":\"json\","
	    "\"body\":{\"id\":2}}]") && has("\"framing\":\"grpc\"") &&
	    has("\"parts\":2"), "gRPC: two JSON messages");
	CHECK(run("application/grpc", NULL, b, n - 3) == 0 &&
	    stage_is(0, "framing", "grpc", 1) && res.dr_stages[0].ds_truncated &&
	    res.dr_truncated && res.dr_stages[0].ds_parts == 2 &&
	    has("\"index\":1,\"compressed\":false,\"length\":8,"
	    "\"truncated\":true,\"kind\":\"text\",\"body\":\"{\\\"id\\\"\"}") &&
	    has("\"kind\":\"text\",\"body\":\"{\\\"id\\\":1}\""),
	    "gRPC: the second cut short, shown so far, truncated");
	CHECK(run("application/grpc", NULL, b, 3) == 0 &&
	    res.dr_stages[0].ds_truncated && res.dr_stages[0].ds_parts == 0 &&
	    body_is("[]"), "gRPC: a prefix cut short");
	b[13] = 7;
	CHECK(run("application/grpc", NULL, b, n) == 0 &&
	    stage_is(0, "framing", "grpc", 0) && res.dr_len == n &&
	    strcmp(res.dr_stages[0].ds_error, "framing grpc: bad flag 0x07 at "
	    "byte 13") == 0, "gRPC: a bad flag fails, raw kept");
	zn = zpack(15 + 16, "{\"z\":true}", 10, z, sizeof(z));
	n = grpc_msg(b, 1, z, zn);
	memset(&in, 0, sizeof(in));
	in.di_content_type = "application/grpc+json";
	in.di_grpc_encoding = "gzip";
	decode_result_free(&res);
	free(out);
	CHECK(decode_body(&in, &lim, b, n, &res) == 0 &&
	    (out = decode_render(&res, NULL)) != NULL && valid_json(out) &&
	    has("\"compressed\":true") && has("\"body\":{\"z\":true}"),
	    "gRPC: a compressed message, grpc-encoding gzip");
	n = grpc_msg(b, 0, "\x0a\x02hi", 4);
	n += grpc_msg(b + n, 0x80, "grpc-status: 0\r\n", 16);
	CHECK(run("application/grpc-web+proto", NULL, b, n) == 0 &&
	    res.dr_stages[0].ds_parts == 2 && has("\"trailers\":true") &&
	    has("\"kind\":\"binary\",\"encoding\":\"base64\",\"body\":\"CgJoaQ==\""),
	    "gRPC-Web: a message and its trailers");
}

static void
test_sse(void)
{
	static const char s1[] = "\xef\xbb\xbf: hello\n\nevent: tick\r\n"
	    "data: {\"n\":1}\r\nid: 7\r\n\r\ndata: one\rdata:two\r\rretry: 50\n"
	    "retry: x\ndata\n\ndata: cut";

	CHECK(run("text/event-stream; charset=utf-8", NULL, s1, strlen(s1)) ==
	    0 && stage_is(0, "framing", "sse", 1) &&
	    res.dr_stages[0].ds_parts == 4 && res.dr_stages[0].ds_truncated &&
	    body_is("[{\"index\":0,\"event\":\"tick\",\"id\":\"7\",\"kind\":"
	    "\"json\",\"body\":{\"n\":1}},{\"index\":1,\"kind\":\"text\","
	    "\"body\":\"one\\ntwo\"},{\"index\":2,\"retry\":50,\"kind\":\"text\","
	    "\"body\":\"\"},{\"index\":3,\"truncated\":true,\"kind\":\"text\","
	    "\"body\":\"cut\"}]"), "SSE: events, CR/LF/CRLF, BOM, comments, "
	    "retry, a last one cut");
	CHECK(run("text/event-stream", NULL, "data: a\n\n", 9) == 0 &&
	    !res.dr_stages[0].ds_truncated && res.dr_stages[0].ds_parts == 1,
	    "SSE: one whole event");
	lim.dl_max_parts = 2;
	CHECK(run("text/event-stream", NULL, "data:1\n\ndata:2\n\ndata:3\n\n",
	    24) == 0 && res.dr_stages[0].ds_parts == 2 &&
	    res.dr_stages[0].ds_truncated, "SSE: the parts bound");
	decode_limits_default(&lim);
}

static void
test_order(void)
{
	static const char sse[] = "data: {\"x\":[1]}\n\n";
	uint8_t	 b[T_BUF], z[T_BUF];
	size_t	 n, zn;
	struct decode_input in;

	n = grpc_msg(b, 0, "{\"id\":1}", 8);
	zn = zpack(15 + 16, b, n, z, sizeof(z));
	CHECK(run("application/grpc+json", "gzip", z, zn) == 0 &&
	    res.dr_nstages == 3 && stage_is(0, "content-encoding", "gzip", 1) &&
	    stage_is(1, "framing", "grpc", 1) &&
	    stage_is(2, "payload", "json", 1) &&
	    strstr(out, "\"stage\":\"content-encoding\"") <
	    strstr(out, "\"stage\":\"framing\"") &&
	    strstr(out, "\"stage\":\"framing\"") <
	    strstr(out, "\"stage\":\"payload\""),
	    "content-encoding, then framing, then payload");
	zn = ZSTD_compress(z, sizeof(z), sse, strlen(sse), 1);
	CHECK(run("text/event-stream", "zstd", z, zn) == 0 &&
	    stage_is(0, "content-encoding", "zstd", 1) &&
	    stage_is(1, "framing", "sse", 1) && has("\"body\":{\"x\":[1]}"),
	    "zstd'd SSE");
	memset(&in, 0, sizeof(in));
	in.di_content_encoding = "gzip";
	in.di_message = 1;
	decode_result_free(&res);
	CHECK(decode_body(&in, &lim, (const uint8_t *)"[1,2]", 5, &res) == 0 &&
	    res.dr_nstages == 1 && stage_is(0, "payload", "json", 1),
	    "a message goes straight to the payload");
	lim.dl_max_in = 4;
	CHECK(run("text/plain", NULL, "abcdefgh", 8) == 0 && body_is("abcd") &&
	    res.dr_truncated, "input past max_in is cut, truncated");
	decode_limits_default(&lim);
}

int
main(void)
{
	decode_limits_default(&lim);
	test_codings();
	test_stacked();
	test_unknown();
	test_corrupt();
	test_bombs();
	test_json();
	test_msgpack();
	test_grpc();
	test_sse();
	test_order();
	decode_result_free(&res);
	free(out);
	return unit_done();
}
