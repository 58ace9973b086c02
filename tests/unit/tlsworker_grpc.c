/*
 * Unit tests of the gRPC message framing parser and its header helpers
 * (tlsworker/grpc.c): whole and split input down to every byte boundary,
 * zero-length and compressed messages, the malformed and truncated cases
 * with their texts, status names, percent-decoding and content-types.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/grpc.h"

#define REC_MAX_MSGS	8
#define REC_MAX_BYTES	256

/* What the callbacks saw, to compare against expected values. */
struct rec {
	unsigned	 r_starts;
	unsigned	 r_ends;
	unsigned	 r_errors;
	unsigned	 r_pieces;
	int		 r_bad_order;	/* data outside start..end, or a gap */
	int		 r_open;
	uint32_t	 r_next_off;	/* expected offset of the next piece */
	uint32_t	 r_len[REC_MAX_MSGS];
	int		 r_comp[REC_MAX_MSGS];
	uint64_t	 r_at[REC_MAX_MSGS];
	uint8_t		 r_data[REC_MAX_BYTES]; /* all message bytes, joined */
	size_t		 r_ndata;
	struct grpc_error r_err;
};

static void
rec_start(void *arg, const struct grpc_message *m)
{
	struct rec	*r = arg;

	if (r->r_open || m->gm_index != r->r_starts)
		r->r_bad_order = 1;
	if (r->r_starts < REC_MAX_MSGS) {
		r->r_len[r->r_starts] = m->gm_len;
		r->r_comp[r->r_starts] = m->gm_compressed;
		r->r_at[r->r_starts] = m->gm_offset;
	}
	r->r_starts++;
	r->r_open = 1;
	r->r_next_off = 0;
}

static void
rec_data(void *arg, const struct grpc_message *m, const uint8_t *p,
    size_t n, uint32_t off)
{
	struct rec	*r = arg;

	(void)m;
	if (!r->r_open || off != r->r_next_off || n == 0 ||
	    off + n > m->gm_len)
		r->r_bad_order = 1;
	r->r_next_off = off + (uint32_t)n;
	r->r_pieces++;
	if (r->r_ndata + n <= REC_MAX_BYTES) {
		memcpy(r->r_data + r->r_ndata, p, n);
		r->r_ndata += n;
	} else
		r->r_bad_order = 1;
}

static void
rec_end(void *arg, const struct grpc_message *m)
{
	struct rec	*r = arg;

	if (!r->r_open || r->r_next_off != m->gm_len)
		r->r_bad_order = 1;
	r->r_open = 0;
	r->r_ends++;
}

static void
rec_error(void *arg, const struct grpc_error *e)
{
	struct rec	*r = arg;

	r->r_errors++;
	r->r_err = *e;
}

static const struct grpc_callbacks rec_cb = {
	rec_start, rec_data, rec_end, rec_error,
};

/* Feed buf in pieces of step bytes (0: all at once); the last result. */
static int
feed_steps(struct grpc_parser *p, struct rec *r, const uint8_t *buf,
    size_t len, size_t step)
{
	size_t	 off = 0, n;
	int	 res = GRPC_OK;

	if (step == 0)
		step = len;
	do {
		n = len - off < step ? len - off : step;
		res = grpc_feed(p, buf + off, n, &rec_cb, r);
		off += n;
	} while (off < len);
	return res;
}

/* Feed buf as two pieces split at cut. */
static int
feed_split(struct grpc_parser *p, struct rec *r, const uint8_t *buf,
    size_t len, size_t cut)
{
	(void)grpc_feed(p, buf, cut, &rec_cb, r);
	return grpc_feed(p, buf + cut, len - cut, &rec_cb, r);
}

static void
test_one(void)
{
	static const uint8_t in[] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
	struct grpc_parser p;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	ok(p.gp_msg_max == GRPC_MSG_MAX_DEFAULT, "default limit 4 MiB");
	CHECK(grpc_feed(&p, in, sizeof(in), &rec_cb, &r) == GRPC_OK,
	    "one message: OK");
	CHECK(r.r_starts == 1 && r.r_ends == 1 && r.r_errors == 0,
	    "one message: 1 start, 1 end, no error");
	CHECK(r.r_len[0] == 3 && r.r_comp[0] == 0 && r.r_at[0] == 0,
	    "one message: length 3, uncompressed, at 0");
	CHECK(r.r_pieces == 1 && r.r_ndata == 3 &&
	    memcmp(r.r_data, "abc", 3) == 0, "one message: bytes \"abc\"");
	CHECK(p.gp_messages == 1 && p.gp_bytes == 3 && p.gp_total == 8,
	    "one message: counters 1/3/8");
	CHECK(grpc_end(&p) == GRPC_END_CLEAN && p.gp_error.ge_kind ==
	    GRPC_E_NONE, "one message: clean end");
	CHECK(!r.r_bad_order, "one message: callbacks in order");
}

/* Three messages: "hi", an empty one, and a compressed "xyz". */
static const uint8_t three[] = {
	0, 0, 0, 0, 2, 'h', 'i',
	0, 0, 0, 0, 0,
	1, 0, 0, 0, 3, 'x', 'y', 'z',
};

static void
check_three(const struct grpc_parser *p, const struct rec *r,
    const char *how)
{
	CHECK(r->r_starts == 3 && r->r_ends == 3 && r->r_errors == 0,
	    "%s: 3 starts, 3 ends, no error", how);
	CHECK(r->r_len[0] == 2 && r->r_len[1] == 0 && r->r_len[2] == 3,
	    "%s: lengths 2, 0, 3", how);
	CHECK(r->r_comp[0] == 0 && r->r_comp[1] == 0 && r->r_comp[2] == 1,
	    "%s: flags 0, 0, 1", how);
	CHECK(r->r_at[0] == 0 && r->r_at[1] == 7 && r->r_at[2] == 12,
	    "%s: offsets 0, 7, 12", how);
	CHECK(r->r_ndata == 5 && memcmp(r->r_data, "hixyz", 5) == 0,
	    "%s: bytes \"hixyz\"", how);
	CHECK(p->gp_messages == 3 && p->gp_bytes == 5 &&
	    p->gp_total == sizeof(three), "%s: counters 3/5/20", how);
	CHECK(!r->r_bad_order, "%s: callbacks in order", how);
}

static void
test_several(void)
{
	struct grpc_parser p;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, three, sizeof(three), &rec_cb, &r) == GRPC_OK,
	    "three in one chunk: OK");
	check_three(&p, &r, "three in one chunk");
	CHECK(r.r_pieces == 2, "three in one chunk: 2 data pieces");
	CHECK(grpc_end(&p) == GRPC_END_CLEAN, "three in one chunk: clean end");

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(feed_steps(&p, &r, three, sizeof(three), 1) == GRPC_OK,
	    "three byte by byte: OK");
	check_three(&p, &r, "three byte by byte");
	CHECK(r.r_pieces == 5, "three byte by byte: 5 one-byte pieces");
	CHECK(grpc_end(&p) == GRPC_END_CLEAN, "three byte by byte: clean end");
}

/* Every two-piece split of the three messages gives the same result. */
static void
test_every_split(void)
{
	struct grpc_parser p;
	struct rec	 r;
	size_t		 cut, step;
	int		 good = 0, total = 0, res;

	for (cut = 0; cut <= sizeof(three); cut++) {
		memset(&r, 0, sizeof(r));
		grpc_init(&p, NULL);
		res = feed_split(&p, &r, three, sizeof(three), cut);
		total++;
		if (res == GRPC_OK && r.r_starts == 3 && r.r_ends == 3 &&
		    r.r_len[0] == 2 && r.r_len[1] == 0 && r.r_len[2] == 3 &&
		    r.r_comp[2] == 1 && r.r_at[1] == 7 && r.r_at[2] == 12 &&
		    r.r_ndata == 5 && memcmp(r.r_data, "hixyz", 5) == 0 &&
		    !r.r_bad_order && r.r_errors == 0 &&
		    grpc_end(&p) == GRPC_END_CLEAN)
			good++;
		else
			printf("# split at %zu differs\n", cut);
	}
	CHECK(good == total && total == 21,
	    "every split point 0..20: %d of %d agree", good, total);

	/* Pieces of every size, 1..len. */
	good = total = 0;
	for (step = 1; step <= sizeof(three); step++) {
		memset(&r, 0, sizeof(r));
		grpc_init(&p, NULL);
		res = feed_steps(&p, &r, three, sizeof(three), step);
		total++;
		if (res == GRPC_OK && r.r_starts == 3 && r.r_ends == 3 &&
		    r.r_ndata == 5 && memcmp(r.r_data, "hixyz", 5) == 0 &&
		    !r.r_bad_order && grpc_end(&p) == GRPC_END_CLEAN)
			good++;
	}
	CHECK(good == total && total == 20,
	    "every piece size 1..20: %d of %d agree", good, total);
}

static void
test_zero_length(void)
{
	static const uint8_t in[] = { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
	struct grpc_parser p;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, in, sizeof(in), &rec_cb, &r) == GRPC_OK,
	    "two empty messages: OK");
	CHECK(r.r_starts == 2 && r.r_ends == 2 && r.r_pieces == 0,
	    "two empty messages: 2 starts, 2 ends, no data");
	CHECK(r.r_comp[0] == 0 && r.r_comp[1] == 1 && r.r_at[1] == 5,
	    "two empty messages: second compressed at 5");
	CHECK(grpc_end(&p) == GRPC_END_CLEAN, "two empty messages: clean end");

	/* Nothing at all is a clean end too. */
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, in, 0, NULL, NULL) == GRPC_OK &&
	    grpc_end(&p) == GRPC_END_CLEAN, "no bytes: clean end");
}

static void
test_bad_flag(void)
{
	static const uint8_t in[] = {
		0, 0, 0, 0, 1, 'a',		/* one good message */
		2, 0xff, 0xff, 0xff, 0xff,	/* flag 2 (length bad too) */
		0, 0, 0, 0, 0,			/* not interpreted */
	};
	struct grpc_parser p;
	struct rec	 r;
	char		 buf[GRPC_ERROR_TEXT_MAX];
	size_t		 cut;
	int		 good = 0;

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, in, sizeof(in), &rec_cb, &r) == GRPC_ERROR,
	    "bad flag: ERROR");
	CHECK(r.r_starts == 1 && r.r_ends == 1 && r.r_errors == 1,
	    "bad flag: the message before it, then one error");
	CHECK(r.r_err.ge_kind == GRPC_E_FLAG && r.r_err.ge_flag == 2 &&
	    r.r_err.ge_offset == 6, "bad flag: kind FLAG, 0x02, offset 6");
	grpc_error_text(&p.gp_error, buf, sizeof(buf));
	CHECK(strcmp(buf, "bad compressed flag 0x02 at offset 6") == 0,
	    "bad flag text: \"%s\"", buf);
	CHECK(p.gp_total == sizeof(in), "bad flag: every byte counted");

	/* Reported once; later feeds are ignored but counted. */
	CHECK(grpc_feed(&p, in, sizeof(in), &rec_cb, &r) == GRPC_ERROR &&
	    r.r_errors == 1 && r.r_starts == 1 &&
	    p.gp_total == 2 * sizeof(in), "bad flag: reported only once");
	CHECK(grpc_end(&p) == GRPC_END_MALFORMED &&
	    p.gp_error.ge_kind == GRPC_E_FLAG,
	    "bad flag: end says MALFORMED, error kept");

	/* Known as soon as the flag byte arrives, at any split. */
	for (cut = 0; cut <= sizeof(in); cut++) {
		memset(&r, 0, sizeof(r));
		grpc_init(&p, NULL);
		(void)grpc_feed(&p, in, cut, &rec_cb, &r);
		if (r.r_errors == (cut > 6 ? 1U : 0U) &&
		    grpc_feed(&p, in + cut, sizeof(in) - cut, &rec_cb, &r) ==
		    GRPC_ERROR && r.r_errors == 1 && r.r_err.ge_offset == 6 &&
		    r.r_ends == 1 && p.gp_total == sizeof(in))
			good++;
	}
	CHECK(good == (int)sizeof(in) + 1,
	    "bad flag at every split: %d of %zu", good, sizeof(in) + 1);

	grpc_init(&p, NULL);
	memset(&r, 0, sizeof(r));
	CHECK(grpc_feed(&p, (const uint8_t *)"\x80", 1, &rec_cb, &r) ==
	    GRPC_ERROR && r.r_err.ge_flag == 0x80 && r.r_err.ge_offset == 0,
	    "flag 0x80 alone: ERROR at offset 0");
	grpc_error_text(&p.gp_error, buf, sizeof(buf));
	CHECK(strcmp(buf, "bad compressed flag 0x80 at offset 0") == 0,
	    "flag 0x80 text: \"%s\"", buf);
}

static void
test_too_large(void)
{
	/* 4 MiB + 1 */
	static const uint8_t big[] = { 0, 0, 0x40, 0, 1, 'x' };
	/* exactly 4 MiB: accepted, the message stays open */
	static const uint8_t max[] = { 1, 0, 0x40, 0, 0, 'x' };
	static const uint8_t small[] = {
		0, 0, 0, 0, 4, 'a', 'b', 'c', 'd',
		0, 0, 0, 0, 5, 'e',
	};
	struct grpc_limits lim = { 4 };
	struct grpc_parser p;
	struct rec	 r;
	char		 buf[GRPC_ERROR_TEXT_MAX];

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, big, sizeof(big), &rec_cb, &r) == GRPC_ERROR &&
	    r.r_errors == 1 && r.r_starts == 0,
	    "4 MiB + 1: ERROR, no message started");
	CHECK(r.r_err.ge_kind == GRPC_E_TOO_LARGE && r.r_err.ge_len ==
	    GRPC_MSG_MAX_DEFAULT + 1 && r.r_err.ge_offset == 0,
	    "4 MiB + 1: kind TOO_LARGE, length 4194305, offset 0");
	grpc_error_text(&p.gp_error, buf, sizeof(buf));
	CHECK(strcmp(buf, "message larger than the limit: 4194305 bytes, "
	    "limit 4194304, at offset 0") == 0, "too large text: \"%s\"", buf);

	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(grpc_feed(&p, max, sizeof(max), &rec_cb, &r) == GRPC_OK &&
	    r.r_starts == 1 && r.r_len[0] == GRPC_MSG_MAX_DEFAULT &&
	    r.r_comp[0] == 1 && r.r_ndata == 1,
	    "exactly 4 MiB: accepted, compressed, 1 byte seen");

	/* A configured limit of 4: "abcd" passes, the 5-byte one fails. */
	memset(&r, 0, sizeof(r));
	grpc_init(&p, &lim);
	CHECK(feed_steps(&p, &r, small, sizeof(small), 1) == GRPC_ERROR &&
	    r.r_ends == 1 && r.r_errors == 1 && r.r_err.ge_len == 5 &&
	    r.r_err.ge_limit == 4 && r.r_err.ge_offset == 9,
	    "limit 4: one message, then too large at offset 9");
	CHECK(grpc_end(&p) == GRPC_END_MALFORMED, "limit 4: end MALFORMED");
}

static void
test_truncated(void)
{
	static const uint8_t in[] = {
		0, 0, 0, 0, 1, 'a',
		0, 0, 0, 0, 8, '1', '2', '3',
	};
	struct grpc_parser p;
	struct rec	 r;
	char		 buf[GRPC_ERROR_TEXT_MAX];

	/* Ends after 3 of the second prefix's 5 bytes. */
	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	(void)grpc_feed(&p, in, 9, &rec_cb, &r);
	CHECK(grpc_end(&p) == GRPC_END_IN_PREFIX &&
	    p.gp_error.ge_kind == GRPC_E_TRUNC_PREFIX &&
	    p.gp_error.ge_have == 3 && p.gp_error.ge_offset == 6,
	    "end in a prefix: IN_PREFIX, 3 bytes, at 6");
	grpc_error_text(&p.gp_error, buf, sizeof(buf));
	CHECK(strcmp(buf, "truncated message prefix: 3 of 5 bytes at "
	    "offset 6") == 0, "prefix text: \"%s\"", buf);
	CHECK(r.r_errors == 0, "end in a prefix: no error callback");

	/* Ends after 3 of the second message's 8 bytes. */
	memset(&r, 0, sizeof(r));
	grpc_init(&p, NULL);
	CHECK(feed_steps(&p, &r, in, sizeof(in), 4) == GRPC_OK,
	    "end in a message: feeding OK");
	CHECK(grpc_end(&p) == GRPC_END_IN_MESSAGE &&
	    p.gp_error.ge_kind == GRPC_E_TRUNC_MESSAGE &&
	    p.gp_error.ge_have == 3 && p.gp_error.ge_len == 8,
	    "end in a message: IN_MESSAGE, 3 of 8");
	grpc_error_text(&p.gp_error, buf, sizeof(buf));
	CHECK(strcmp(buf, "truncated message: 3 of 8 bytes at offset 6") == 0,
	    "message text: \"%s\"", buf);
	CHECK(grpc_end(&p) == GRPC_END_IN_MESSAGE,
	    "grpc_end may be called again");
	CHECK(r.r_starts == 2 && r.r_ends == 1,
	    "end in a message: 2 started, 1 completed");

	/* Right after a complete prefix, no body byte yet. */
	grpc_init(&p, NULL);
	(void)grpc_feed(&p, in + 6, 5, NULL, NULL);
	CHECK(grpc_end(&p) == GRPC_END_IN_MESSAGE && p.gp_error.ge_have == 0,
	    "end after a prefix: IN_MESSAGE, 0 of 8");

	/* A small buffer cuts the text without overflow. */
	CHECK(grpc_error_text(&p.gp_error, buf, 10) > 9 &&
	    strcmp(buf, "truncated") == 0, "text cut to 10 bytes: \"%s\"", buf);
}

static void
test_status(void)
{
	CHECK(grpc_status_parse("0", 1) == 0, "status \"0\" is 0");
	CHECK(grpc_status_parse("16", 2) == 16, "status \"16\" is 16");
	CHECK(grpc_status_parse("007", 3) == 7, "status \"007\" is 7");
	CHECK(grpc_status_parse("17", 2) == 17, "status \"17\" is 17");
	CHECK(grpc_status_parse("123456789", 9) == 123456789,
	    "status of 9 digits");
	CHECK(grpc_status_parse("1234567890", 10) == -1,
	    "status of 10 digits is malformed");
	CHECK(grpc_status_parse("", 0) == -1, "empty status is malformed");
	CHECK(grpc_status_parse("-1", 2) == -1, "\"-1\" is malformed");
	CHECK(grpc_status_parse(" 1", 2) == -1, "\" 1\" is malformed");
	CHECK(grpc_status_parse("1x", 2) == -1, "\"1x\" is malformed");
	CHECK(grpc_status_parse("14", 1) == 1, "the length is obeyed");

	CHECK(strcmp(grpc_status_name(GRPC_S_OK), "OK") == 0, "0 OK");
	CHECK(strcmp(grpc_status_name(1), "CANCELLED") == 0, "1 CANCELLED");
	CHECK(strcmp(grpc_status_name(2), "UNKNOWN") == 0, "2 UNKNOWN");
	CHECK(strcmp(grpc_status_name(4), "DEADLINE_EXCEEDED") == 0,
	    "4 DEADLINE_EXCEEDED");
	CHECK(strcmp(grpc_status_name(8), "RESOURCE_EXHAUSTED") == 0,
	    "8 RESOURCE_EXHAUSTED");
	CHECK(strcmp(grpc_status_name(12), "UNIMPLEMENTED") == 0,
	    "12 UNIMPLEMENTED");
	CHECK(strcmp(grpc_status_name(14), "UNAVAILABLE") == 0,
	    "14 UNAVAILABLE");
	CHECK(strcmp(grpc_status_name(GRPC_S_DATA_LOSS), "DATA_LOSS") == 0,
	    "15 DATA_LOSS");
	CHECK(strcmp(grpc_status_name(GRPC_S_UNAUTHENTICATED),
	    "UNAUTHENTICATED") == 0, "16 UNAUTHENTICATED");
	CHECK(strcmp(grpc_status_name(17), "unknown") == 0, "17 unknown");
	CHECK(strcmp(grpc_status_name(-1), "unknown") == 0, "-1 unknown");
}

/* Decode s into a buffer of size bytes; expect want (wlen) and flags. */
static void
pct(const char *s, size_t size, const char *want, size_t wlen, int flags)
{
	char	 out[64];
	size_t	 n = 99;
	int	 f;

	memset(out, 'Z', sizeof(out));
	f = grpc_percent_decode(s, strlen(s), out, size, &n);
	CHECK(f == flags && n == wlen && memcmp(out, want, wlen) == 0 &&
	    out[wlen] == '\0' && (size == sizeof(out) || out[size] == 'Z'),
	    "decode \"%s\" in %zu: %zu bytes, flags %d", s, size, wlen, f);
}

static void
test_percent(void)
{
	char	 out[4];
	size_t	 n = 99;

	pct("plain text", 64, "plain text", 10, 0);
	pct("a%20b", 64, "a b", 3, 0);
	pct("%E2%9C%93 done", 64, "\xe2\x9c\x93 done", 8, 0);
	pct("lower%e2%9c%93", 64, "lower\xe2\x9c\x93", 8, 0);
	pct("%25", 64, "%", 1, 0);
	pct("nul%00in", 64, "nul\0in", 6, 0);
	pct("%zz", 64, "%zz", 3, GRPC_PCT_MALFORMED);
	pct("%4g", 64, "%4g", 3, GRPC_PCT_MALFORMED);
	pct("100%", 64, "100%", 4, GRPC_PCT_MALFORMED);
	pct("ab%4", 64, "ab%4", 4, GRPC_PCT_MALFORMED);
	pct("%%41", 64, "%A", 2, GRPC_PCT_MALFORMED);
	pct("%", 64, "%", 1, GRPC_PCT_MALFORMED);
	pct("", 64, "", 0, 0);
	/* The bound: outsize - 1 bytes and a NUL. */
	pct("abcdef", 4, "abc", 3, GRPC_PCT_TRUNCATED);
	pct("%41%42%43%44", 4, "ABC", 3, GRPC_PCT_TRUNCATED);
	pct("abc", 4, "abc", 3, 0);
	pct("%zzabc", 3, "%z", 2, GRPC_PCT_MALFORMED | GRPC_PCT_TRUNCATED);
	pct("x", 1, "", 0, GRPC_PCT_TRUNCATED);

	CHECK(grpc_percent_decode("abc", 3, out, 0, &n) ==
	    GRPC_PCT_TRUNCATED && n == 0, "size 0: nothing written");
	CHECK(grpc_percent_decode("a%41", 4, out, sizeof(out), NULL) == 0 &&
	    strcmp(out, "aA") == 0, "outlen may be NULL");
}

static void
ct(const char *s, int want, const char *sub)
{
	const char	*sp = NULL;
	size_t		 sl = 99;
	int		 r;

	r = grpc_content_type(s, strlen(s), &sp, &sl);
	CHECK(r == want && (!want || (sl == strlen(sub) &&
	    memcmp(sp, sub, sl) == 0)), "content-type \"%s\": %s%s%s%s", s,
	    want ? "accepted" : "refused", want ? ", subtype \"" : "",
	    want ? sub : "", want ? "\"" : "");
}

static void
test_content_type(void)
{
	ct("application/grpc", 1, "");
	ct("application/grpc+proto", 1, "proto");
	ct("application/grpc+json", 1, "json");
	ct("application/grpc;charset=utf-8", 1, "");
	ct("application/grpc+proto;x=y", 1, "proto");
	ct("APPLICATION/GRPC", 1, "");
	ct("Application/gRPC+Proto", 1, "Proto");
	ct("application/grpc+", 1, "");
	ct("application/grpc-web", 0, NULL);
	ct("application/grpc-web+proto", 0, NULL);
	ct("application/grpcx", 0, NULL);
	ct("application/grp", 0, NULL);
	ct("application/json", 0, NULL);
	ct("application/grpc ", 0, NULL);
	ct(" application/grpc", 0, NULL);
	ct("", 0, NULL);
	CHECK(grpc_content_type("application/grpc+proto", 16, NULL, NULL) == 1,
	    "the length is obeyed, sub may be NULL");
	CHECK(grpc_content_type("application/gr\0c", 16, NULL, NULL) == 0,
	    "a NUL inside is refused");
}

int
main(void)
{
	test_one();
	test_several();
	test_every_split();
	test_zero_length();
	test_bad_flag();
	test_too_large();
	test_truncated();
	test_status();
	test_percent();
	test_content_type();
	return unit_done();
}
