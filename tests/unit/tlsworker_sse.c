/*
 * Unit test of the text/event-stream parser (tlsworker/sse.c): the
 * examples of the WHATWG event stream section, the field rules (data
 * joined by LF, one space stripped, a field without a colon, id kept
 * across events and refused with a NUL, retry digits only, unknown
 * fields), the three line ends and a CRLF split across feeds, the BOM,
 * the limits with their resync, and the buffers given back. Every stream
 * is parsed whole, one byte at a time, at every two-way split and in
 * steps of 2..8 bytes; all must give the same callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/sse.h"

#define T_MAX_STEP	8
#define T_LINE		16	/* small limits for the limit cases */
#define T_DATA		32
/* "data:" and this many bytes make a line of SSE_LINE_MAX */
#define T_BIG_VALUE	((size_t)SSE_LINE_MAX - 5)

/* The callbacks of one parse as text: M type "data" "id" retry comments;
 * C "text"; E why; with \n \r \0 and other controls escaped. */
struct rec {
	char	*r_log;
	size_t	 r_len;
	size_t	 r_cap;
};

struct counts {
	size_t	 c_events;
	size_t	 c_errors;
	size_t	 c_bytes;	/* data bytes of the events */
};

static void
rec_raw(struct rec *r, const char *s, size_t n)
{
	char	*nl;

	if (r->r_len + n + 1 > r->r_cap) {
		r->r_cap = (r->r_len + n + 1) * 2;
		if ((nl = realloc(r->r_log, r->r_cap)) == NULL)
			abort();
		r->r_log = nl;
	}
	memcpy(r->r_log + r->r_len, s, n);
	r->r_len += n;
	r->r_log[r->r_len] = '\0';
}

static void
rec_esc(struct rec *r, const char *s, size_t n)
{
	char	 esc[8];
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			rec_raw(r, "\\n", 2);
		else if (c == '\r')
			rec_raw(r, "\\r", 2);
		else if (c == '\0')
			rec_raw(r, "\\0", 2);
		else if (c < ' ' || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			rec_raw(r, esc, strlen(esc));
		} else
			rec_raw(r, s + i, 1);
	}
}

static void
rec_str(struct rec *r, const char *s, size_t n)
{
	rec_raw(r, "\"", 1);
	rec_esc(r, s, n);
	rec_raw(r, "\"", 1);
}

static void
rec_fn(void *arg, const struct sse_event *ev)
{
	struct rec	*r = arg;
	char		 num[64];

	switch (ev->ev_kind) {
	case SSE_EV_MESSAGE:
		rec_raw(r, "M ", 2);
		rec_esc(r, ev->ev_type, ev->ev_type_len);
		rec_raw(r, " ", 1);
		rec_str(r, ev->ev_data, ev->ev_data_len);
		rec_raw(r, " ", 1);
		rec_str(r, ev->ev_id, ev->ev_id_len);
		snprintf(num, sizeof(num), " %lld %u;", (long long)ev->ev_retry,
		    ev->ev_comments);
		rec_raw(r, num, strlen(num));
		/* The promised NULs after type, data and id. */
		if (ev->ev_type[ev->ev_type_len] != '\0' ||
		    ev->ev_data[ev->ev_data_len] != '\0' ||
		    ev->ev_id[ev->ev_id_len] != '\0')
			rec_raw(r, "(no NUL)", 8);
		break;
	case SSE_EV_COMMENT:
		rec_raw(r, "C ", 2);
		rec_str(r, ev->ev_data, ev->ev_data_len);
		rec_raw(r, ";", 1);
		break;
	case SSE_EV_ERROR:
		rec_raw(r, "E ", 2);
		rec_raw(r, ev->ev_error, strlen(ev->ev_error));
		rec_raw(r, ";", 1);
		break;
	default:
		rec_raw(r, "?;", 2);
		break;
	}
}

/* Parse s in pieces: cut1 and cut2 (offsets) if step is 0, else steps.
 * Returns the log, malloc'd; the parser stays in *p for a look. */
static char *
parse(struct sse_parser *p, const char *s, size_t len, size_t step,
    size_t cut1, size_t cut2, size_t line_max, size_t data_max)
{
	struct rec	 r = { NULL, 0, 0 };
	size_t		 off = 0, n;

	rec_raw(&r, "", 0);
	sse_init(p, line_max, data_max);
	if (step == 0) {
		sse_feed(p, s, cut1, rec_fn, &r);
		sse_feed(p, s + cut1, cut2 - cut1, rec_fn, &r);
		sse_feed(p, s + cut2, len - cut2, rec_fn, &r);
		return r.r_log;
	}
	while (off < len) {
		n = len - off < step ? len - off : step;
		sse_feed(p, s + off, n, rec_fn, &r);
		off += n;
	}
	return r.r_log;
}

static char *
parse_free(const char *s, size_t len, size_t step, size_t cut1,
    size_t cut2, size_t lmax, size_t dmax)
{
	struct sse_parser	 p;
	char			*log;

	log = parse(&p, s, len, step, cut1, cut2, lmax, dmax);
	sse_free(&p);
	return log;
}

/* Every way of feeding s gives want: whole, at every two-way split (or
 * with all3 every three-way split), in steps of 1..T_MAX_STEP bytes. The
 * first difference is printed. */
static void
expect_n(const char *name, const char *s, size_t len, size_t lmax,
    size_t dmax, int all3, const char *want)
{
	char	*log, how[64] = "whole";
	size_t	 i, j;
	int	 same;

	log = parse_free(s, len, 0, 0, 0, lmax, dmax);
	same = strcmp(log, want) == 0;
	for (i = 0; same && i <= len; i++)
		for (j = all3 ? i : len; same && j <= len; j++) {
			free(log);
			log = parse_free(s, len, 0, i, j, lmax, dmax);
			same = strcmp(log, want) == 0;
			snprintf(how, sizeof(how), "cut %zu %zu", i, j);
		}
	for (i = 1; same && i <= T_MAX_STEP; i++) {
		free(log);
		log = parse_free(s, len, i, 0, 0, lmax, dmax);
		same = strcmp(log, want) == 0;
		snprintf(how, sizeof(how), "step %zu", i);
	}
	CHECK(same, "%s", name);
	if (!same)
		printf("# %s: got  %s\n# want %s\n", how, log, want);
	free(log);
}

/* A literal with NULs of its own, or to be split three ways. */
#define EXPECT_LIT(name, lit, all3, want) \
	expect_n((name), (lit), sizeof(lit) - 1, 0, 0, (all3), (want))

static void
expect(const char *name, const char *s, const char *want)
{
	expect_n(name, s, strlen(s), 0, 0, 0, want);
}

static void
expect_lim(const char *name, const char *s, const char *want)
{
	expect_n(name, s, strlen(s), T_LINE, T_DATA, 0, want);
}

static void
count_fn(void *arg, const struct sse_event *ev)
{
	struct counts	*c = arg;

	if (ev->ev_kind == SSE_EV_MESSAGE) {
		c->c_events++;
		c->c_bytes += ev->ev_data_len;
	} else if (ev->ev_kind == SSE_EV_ERROR)
		c->c_errors++;
}

static void
test_spec_examples(void)
{
	/* The stock-ticker example. */
	expect("spec: three data lines joined by LF",
	    "data: YHOO\ndata: +2\ndata: 10\n\n",
	    "M message \"YHOO\\n+2\\n10\" \"\" -1 0;");
	/* Comment, id, an "id" line without colon resets the id, the last
	 * event has no blank line after it and is never dispatched. */
	EXPECT_LIT("spec: comment, ids, unterminated last event",
	    ": test stream\n\ndata: first event\nid: 1\n\n"
	    "data:second event\nid\n\ndata:  third event\n", 1,
	    "C \" test stream\";M message \"first event\" \"1\" -1 0;"
	    "M message \"second event\" \"\" -1 0;");
	expect("spec: data without colon, an empty and a two-line event",
	    "data\n\ndata\ndata\n\ndata:",
	    "M message \"\" \"\" -1 0;M message \"\\n\" \"\" -1 0;");
	expect("spec: one space after the colon is dropped",
	    "data:test\n\ndata: test\n\n",
	    "M message \"test\" \"\" -1 0;M message \"test\" \"\" -1 0;");
	expect("spec: event types, reset after each event",
	    "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\n"
	    "data: 113411\n\n",
	    "M add \"73857293\" \"\" -1 0;M remove \"2153\" \"\" -1 0;"
	    "M message \"113411\" \"\" -1 0;");
}

static void
test_fields(void)
{
	expect("only one space is dropped, a tab is not",
	    "data:  two\ndata:\tt\n\n",
	    "M message \" two\\n\\x09t\" \"\" -1 0;");
	expect("a colon in the value stays", "data: a:b: c\n\n",
	    "M message \"a:b: c\" \"\" -1 0;");
	expect("unknown, misspelt and spaced field names are ignored",
	    "foo: bar\nData: x\ndata : y\n data: z\nevent\n\n",
	    "");
	expect("an empty event field means message",
	    "event: x\nevent:\ndata: d\n\n", "M message \"d\" \"\" -1 0;");
	expect("id persists across events and a blank line",
	    "id: 7\ndata: a\n\n\ndata: b\n\nid:\ndata: c\n\n",
	    "M message \"a\" \"7\" -1 0;M message \"b\" \"7\" -1 0;"
	    "M message \"c\" \"\" -1 0;");
	EXPECT_LIT("an id with a NUL is ignored, the old id stays",
	    "id: 7\ndata: a\n\nid: 8\0x\ndata: b\n\n", 0,
	    "M message \"a\" \"7\" -1 0;M message \"b\" \"7\" -1 0;");
	EXPECT_LIT("NULs in data and type are kept",
	    "event: t\0u\ndata: a\0b\n\n", 0,
	    "M t\\0u \"a\\0b\" \"\" -1 0;");
	expect("an event without data is not dispatched, its type goes",
	    "event: foo\nid: 3\nretry: 5\n\ndata: x\n\n",
	    "M message \"x\" \"3\" -1 0;");
	expect("comments are reported and counted per event",
	    ":\n: ping\n:a:b\n\ndata: x\n:c\n\n",
	    "C \"\";C \" ping\";C \"a:b\";C \"c\";"
	    "M message \"x\" \"\" -1 1;");
	expect("a stream that ends before the empty line dispatches "
	    "nothing", "data: x\nevent: y\n", "");
}

static void
test_retry(void)
{
	struct sse_parser	 p;
	char			*log;
	const char		*s;

	s = "retry: 1500\ndata: a\n\nretry: 15a0\ndata: b\n\n"
	    "retry: -1\nretry:\nretry: 1.5\nretry:  7\nretry: 99999999999\n"
	    "data: c\n\nretry:0\ndata: d\n\n";
	expect("retry: digits only, per event, else ignored", s,
	    "M message \"a\" \"\" 1500 0;M message \"b\" \"\" -1 0;"
	    "M message \"c\" \"\" -1 0;M message \"d\" \"\" 0 0;");
	s = "retry: 1500\ndata: a\n\nretry: 15a0\nretry: -1\nretry:\n"
	    "retry: 99999999999\ndata: b\n\n";
	log = parse(&p, s, strlen(s), 1, 0, 0, 0, 0);
	CHECK(p.sp_retry == 1500 && p.sp_events == 2, "a bad retry keeps "
	    "the stream's 1500 (%lld)", (long long)p.sp_retry);
	free(log);
	sse_free(&p);
	log = parse(&p, "retry: 2147483647\n\n", 19, 0, 19, 19, 0, 0);
	CHECK(p.sp_retry == SSE_RETRY_MAX && strcmp(log, "") == 0,
	    "retry without data: taken, nothing dispatched (%lld)",
	    (long long)p.sp_retry);
	free(log);
	sse_free(&p);
	log = parse(&p, "retry: 2147483648\n", 18, 1, 0, 0, 0, 0);
	CHECK(p.sp_retry == -1, "retry past SSE_RETRY_MAX is ignored");
	free(log);
	sse_free(&p);
}

static void
test_line_ends(void)
{
	const char	*two = "M message \"a\\nb\" \"\" -1 0;";
	struct sse_parser p;
	struct rec	 r = { NULL, 0, 0 };

	expect("CRLF", "data: a\r\ndata: b\r\n\r\n", two);
	expect("CR", "data: a\rdata: b\r\r", two);
	expect("LF", "data: a\ndata: b\n\n", two);
	expect("mixed line ends", "data: a\r\ndata: b\n\r", two);
	expect("LF CR is two line ends, CR CR too",
	    "data: a\n\rdata: b\r\rdata: c\n\n",
	    "M message \"a\" \"\" -1 0;M message \"b\" \"\" -1 0;"
	    "M message \"c\" \"\" -1 0;");
	expect("CR LF LF: an empty line after the CRLF",
	    "data: a\r\n\ndata: b\r\n\r\n",
	    "M message \"a\" \"\" -1 0;M message \"b\" \"\" -1 0;");

	/* The CR of a CRLF at the end of one feed, the LF in the next. */
	rec_raw(&r, "", 0);
	sse_init(&p, 0, 0);
	sse_feed(&p, "data: a\r", 8, rec_fn, &r);
	sse_feed(&p, "\ndata: b\r", 9, rec_fn, &r);
	CHECK(strcmp(r.r_log, "") == 0 && p.sp_cr == 1 &&
	    p.sp_data.sb_len == 4, "CRLF split: two lines, a CR pending");
	sse_feed(&p, "\n\r", 2, rec_fn, &r);
	CHECK(strcmp(r.r_log, two) == 0 && p.sp_cr == 1, "a lone CR ends "
	    "the empty line at once (%s)", r.r_log);
	sse_feed(&p, "\n", 1, rec_fn, &r);
	CHECK(strcmp(r.r_log, two) == 0 && p.sp_cr == 0,
	    "its LF is taken as part of it");
	sse_feed(&p, "\ndata: c\n\n", 10, rec_fn, &r);
	CHECK(p.sp_events == 2, "an LF after a completed CRLF is a line");
	free(r.r_log);
	sse_free(&p);
}

static void
test_bom(void)
{
	expect("a leading BOM is skipped", "\xef\xbb\xbf" "data: x\n\n",
	    "M message \"x\" \"\" -1 0;");
	expect("a second BOM is text (field name)",
	    "\xef\xbb\xbf\xef\xbb\xbf" "data: x\n\ndata: y\n\n",
	    "M message \"y\" \"\" -1 0;");
	expect("a partial BOM is text",
	    "\xef\xbb" "data: x\n\ndata: y\n\n",
	    "M message \"y\" \"\" -1 0;");
	expect("a partial BOM then a line end",
	    "\xef\xbb\n\ndata: y\n\n", "M message \"y\" \"\" -1 0;");
	expect("a BOM inside a value is kept",
	    "data: \xef\xbb\xbf" "x\n\n",
	    "M message \"\\xef\\xbb\\xbfx\" \"\" -1 0;");
	expect("a BOM alone, then a comment", "\xef\xbb\xbf:c\n",
	    "C \"c\";");
}

static void
test_limits(void)
{
	struct sse_parser	 p;
	char			*log;
	const char		*s;

	sse_init(&p, 0, 0);
	CHECK(p.sp_line_max == SSE_LINE_MAX && p.sp_data_max ==
	    SSE_DATA_MAX && p.sp_retry == -1, "defaults");
	sse_free(&p);
	sse_init(&p, (size_t)SSE_LIMIT_CEIL * 4, 1);
	CHECK(p.sp_line_max == SSE_LIMIT_CEIL && p.sp_data_max == 1,
	    "limits are clamped to SSE_LIMIT_CEIL");
	sse_free(&p);

	expect_lim("a line of exactly the limit",
	    "data: 0123456789\n\n",
	    "M message \"0123456789\" \"\" -1 0;");
	expect_lim("a long line: one error, skip to the empty line",
	    "id: 1\ndata: 0123456789a\ndata: 0123456789ab\nid: 2\n:c\n"
	    "data: x\n\ndata: ok\n\n",
	    "E line too long;M message \"ok\" \"1\" -1 0;");
	expect_lim("a long line right before the empty line",
	    "data: a\ndata: 0123456789abcdef\r\n\r\ndata: ok\r\n\r\n",
	    "E line too long;M message \"ok\" \"\" -1 0;");
	expect_lim("a long comment is too long as well",
	    ": 0123456789abcdefg\n\ndata: ok\n\n",
	    "E line too long;M message \"ok\" \"\" -1 0;");
	expect_lim("a long line without end: reported once",
	    "data: 0123456789abcdefghijklmnopqrstuvwxyz",
	    "E line too long;");
	expect_lim("two bad events: two errors",
	    "xxxxxxxxxxxxxxxxx\n\nxxxxxxxxxxxxxxxxx\n\ndata: ok\n\n",
	    "E line too long;E line too long;M message \"ok\" \"\" -1 0;");
	expect_lim("data of exactly the limit",
	    "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n",
	    "M message \"0123456789\\n0123456789\\n0123456789\" \"\" -1 0;");
	expect_lim("data past the limit: one error, the next event works",
	    "event: big\ndata: 0123456789\ndata: 0123456789\n"
	    "data: 0123456789\ndata\ndata: more\n\ndata: ok\n\n",
	    "E event too large;M message \"ok\" \"\" -1 0;");

	s = "xxxxxxxxxxxxxxxxx\n\ndata: 0123456789\ndata: 0123456789\n"
	    "data: 0123456789\ndata: x\n";
	log = parse(&p, s, strlen(s), 3, 0, 0, T_LINE, T_DATA);
	CHECK(p.sp_errors == 2 && p.sp_error != NULL &&
	    strcmp(p.sp_error, "event too large") == 0 && p.sp_skip == 1 &&
	    p.sp_data.sb_len == 0, "errors counted, the last one kept, "
	    "skipping with the data dropped");
	free(log);
	sse_free(&p);
}

/* The default limits with real sizes, counted rather than logged. */
static void
test_default_limits(void)
{
	struct sse_parser	 p;
	struct counts		 c;
	char			*line;
	size_t			 n = 5 + T_BIG_VALUE + 1, i;

	if ((line = malloc(n + 1)) == NULL)
		abort();
	memcpy(line, "data:", 5);
	memset(line + 5, 'x', T_BIG_VALUE);
	line[n - 1] = '\n';

	memset(&c, 0, sizeof(c));
	sse_init(&p, 0, 0);
	sse_feed(&p, line, n, count_fn, &c);
	sse_feed(&p, "\n", 1, count_fn, &c);
	CHECK(c.c_events == 1 && c.c_errors == 0 && c.c_bytes ==
	    T_BIG_VALUE, "a line of SSE_LINE_MAX bytes is taken");
	/* One byte more, fed a byte at a time through the line buffer. */
	line[n - 1] = 'x';
	for (i = 0; i < n; i++)
		sse_feed(&p, line + i, 1, count_fn, &c);
	sse_feed(&p, "\n\n", 2, count_fn, &c);
	CHECK(c.c_events == 1 && c.c_errors == 1 && p.sp_line.sb_cap <=
	    SSE_KEEP, "SSE_LINE_MAX + 1 is too long, the buffer given back");
	line[n - 1] = '\n';

	/* 16 lines of 65531 bytes fit in 1 MiB, 17 do not. */
	for (i = 0; i < 16; i++)
		sse_feed(&p, line, n, count_fn, &c);
	CHECK(p.sp_data.sb_len == 16 * (T_BIG_VALUE + 1),
	    "16 big data lines held (%zu)", p.sp_data.sb_len);
	sse_feed(&p, "\n", 1, count_fn, &c);
	CHECK(c.c_events == 2 && c.c_bytes == 17 * T_BIG_VALUE + 15 &&
	    p.sp_data.sb_cap <= SSE_KEEP,
	    "a 1 MiB event is dispatched, then its buffer given back");
	for (i = 0; i < 17; i++)
		sse_feed(&p, line, n, count_fn, &c);
	sse_feed(&p, "\ndata: a\n\n", 10, count_fn, &c);
	CHECK(c.c_events == 3 && c.c_errors == 2 && c.c_bytes ==
	    17 * T_BIG_VALUE + 16, "17 lines: event too large, then resync");
	sse_free(&p);
	CHECK(p.sp_line.sb_buf == NULL && p.sp_data.sb_buf == NULL &&
	    p.sp_type.sb_buf == NULL && p.sp_id.sb_buf == NULL,
	    "sse_free releases every buffer");
	free(line);
}

/* A multi-event stream split into three feeds at every pair of byte
 * boundaries, and feeds without a callback. */
static void
test_splits(void)
{
	static const char s[] =
	    "\xef\xbb\xbf: hi\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n"
	    "id: x\r\n\r\nretry: 30\rdata:3\r\rdata\n:c\nfoo\n\n";
	struct sse_parser	 p;

	expect_n("a multi-event stream at every 3-way split", s,
	    sizeof(s) - 1, 0, 0, 1,
	    "C \" hi\";M a \"1\\n2\" \"x\" -1 1;M message \"3\" \"x\" 30 0;"
	    "C \"c\";M message \"\" \"x\" -1 1;");
	expect_n("the same with small limits", s, sizeof(s) - 1, T_LINE,
	    T_DATA, 1,
	    "C \" hi\";M a \"1\\n2\" \"x\" -1 1;M message \"3\" \"x\" 30 0;"
	    "C \"c\";M message \"\" \"x\" -1 1;");
	sse_init(&p, 0, 0);
	sse_feed(&p, s, sizeof(s) - 1, NULL, NULL);
	sse_feed(&p, NULL, 0, NULL, NULL);
	CHECK(p.sp_events == 3 && p.sp_comments == 2 && p.sp_errors == 0 &&
	    p.sp_retry == 30, "no callback: counted all the same");
	sse_free(&p);
	sse_init(&p, 0, 0);
	CHECK(p.sp_events == 0 && p.sp_id.sb_buf == NULL,
	    "sse_init again after sse_free");
	sse_free(&p);
}

int
main(void)
{
	test_spec_examples();
	test_fields();
	test_retry();
	test_line_ends();
	test_bom();
	test_limits();
	test_default_limits();
	test_splits();
	return unit_done();
}
