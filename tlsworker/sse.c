/*
 * text/event-stream parsing (tlsworker/sse.h): a line splitter that
 * carries a CR across feeds, the field rules of the WHATWG event stream
 * interpretation, dispatch on an empty line, and the limits with their
 * resync to the next empty line. A line wholly inside one feed is parsed
 * where it lies; only a line split across feeds is copied, into a buffer
 * capped by the line limit. Runs on bytes from the network and is fuzzed
 * (tests/fuzz/tlsworker_sse.c).
 */
#include <stdlib.h>
#include <string.h>

#include "tlsworker/sse.h"

static const unsigned char sse_bom_bytes[] = { 0xef, 0xbb, 0xbf };
#define SSE_BOM_LEN	sizeof(sse_bom_bytes)
#define SSE_RETRY_BASE	10

static int	buf_reserve(struct sse_buf *, size_t, size_t);
static int	buf_set(struct sse_buf *, const char *, size_t, size_t);
static int	buf_add(struct sse_buf *, const char *, size_t, size_t);
static void	buf_trim(struct sse_buf *);
static void	buf_free(struct sse_buf *);
static size_t	sse_bom(struct sse_parser *, const char *, size_t);
static void	sse_text(struct sse_parser *, const char *, size_t);
static size_t	sse_eol(const char *, size_t);
static int	sse_part(struct sse_parser *, const char *, size_t);
static void	sse_skip_end(struct sse_parser *);
static void	sse_line(struct sse_parser *, const char *, size_t);
static void	sse_field(struct sse_parser *, const char *, size_t,
		    const char *, size_t);
static int	sse_field_is(const char *, size_t, const char *);
static void	sse_data(struct sse_parser *, const char *, size_t);
static void	sse_retry(struct sse_parser *, const char *, size_t);
static void	sse_comment(struct sse_parser *, const char *, size_t);
static void	sse_dispatch(struct sse_parser *);
static void	sse_reset_event(struct sse_parser *);
static void	sse_fail(struct sse_parser *, const char *);
static void	sse_emit(struct sse_parser *, const struct sse_event *);

/* Room for total bytes and a NUL; the capacity stays within max + 1. */
static int
buf_reserve(struct sse_buf *b, size_t total, size_t max)
{
	size_t	 ncap;
	char	*nbuf;

	if (total + 1 <= b->sb_cap)
		return 0;
	if (total > max)
		return -1;
	ncap = b->sb_cap ? b->sb_cap : SSE_MIN_ALLOC;
	while (ncap < total + 1)
		ncap *= 2;
	if (ncap > max + 1)
		ncap = max + 1;
	if ((nbuf = realloc(b->sb_buf, ncap)) == NULL)
		return -1;
	b->sb_buf = nbuf;
	b->sb_cap = ncap;
	return 0;
}

/* Replace the contents; on failure the old ones stay. */
static int
buf_set(struct sse_buf *b, const char *s, size_t n, size_t max)
{
	if (buf_reserve(b, n, max) == -1)
		return -1;
	memcpy(b->sb_buf, s, n);
	b->sb_len = n;
	b->sb_buf[n] = '\0';
	return 0;
}

static int
buf_add(struct sse_buf *b, const char *s, size_t n, size_t max)
{
	if (buf_reserve(b, b->sb_len + n, max) == -1)
		return -1;
	memcpy(b->sb_buf + b->sb_len, s, n);
	b->sb_len += n;
	b->sb_buf[b->sb_len] = '\0';
	return 0;
}

/* Empty the buffer; one that grew large is given back. */
static void
buf_trim(struct sse_buf *b)
{
	if (b->sb_cap > SSE_KEEP)
		buf_free(b);
	b->sb_len = 0;
	if (b->sb_buf != NULL)
		b->sb_buf[0] = '\0';
}

static void
buf_free(struct sse_buf *b)
{
	free(b->sb_buf);
	b->sb_buf = NULL;
	b->sb_len = b->sb_cap = 0;
}

void
sse_init(struct sse_parser *p, size_t line_max, size_t data_max)
{
	memset(p, 0, sizeof(*p));
	p->sp_line_max = line_max ? line_max : SSE_LINE_MAX;
	p->sp_data_max = data_max ? data_max : SSE_DATA_MAX;
	if (p->sp_line_max > SSE_LIMIT_CEIL)
		p->sp_line_max = SSE_LIMIT_CEIL;
	if (p->sp_data_max > SSE_LIMIT_CEIL)
		p->sp_data_max = SSE_LIMIT_CEIL;
	p->sp_ev_retry = -1;
	p->sp_retry = -1;
}

void
sse_free(struct sse_parser *p)
{
	buf_free(&p->sp_line);
	buf_free(&p->sp_data);
	buf_free(&p->sp_type);
	buf_free(&p->sp_id);
}

void
sse_feed(struct sse_parser *p, const char *data, size_t len,
    sse_event_fn *fn, void *arg)
{
	size_t	 off = 0;

	p->sp_fn = fn;
	p->sp_arg = arg;
	if (!p->sp_bom_done)
		off = sse_bom(p, data, len);
	sse_text(p, data + off, len - off);
	p->sp_fn = NULL;
	p->sp_arg = NULL;
}

/*
 * Skip one BOM at the start of the stream, which may come a byte at a
 * time. Returns the bytes taken; held-back bytes that turn out not to be
 * a BOM go through as text (they hold no line end).
 */
static size_t
sse_bom(struct sse_parser *p, const char *data, size_t len)
{
	size_t	 off = 0, held;

	while (off < len && p->sp_bom < SSE_BOM_LEN) {
		if ((unsigned char)data[off] != sse_bom_bytes[p->sp_bom]) {
			held = p->sp_bom;
			p->sp_bom_done = 1;
			sse_text(p, (const char *)sse_bom_bytes, held);
			return off;
		}
		p->sp_bom++;
		off++;
	}
	if (p->sp_bom == SSE_BOM_LEN)
		p->sp_bom_done = 1;
	return off;
}

/* Split the stream into lines; CRLF, LF and CR each end one. */
static void
sse_text(struct sse_parser *p, const char *s, size_t len)
{
	size_t	 off = 0, n;

	while (off < len) {
		/* The LF of a CRLF whose CR ended the previous line, maybe
		 * in the previous feed. */
		if (p->sp_cr) {
			p->sp_cr = 0;
			if (s[off] == '\n') {
				off++;
				continue;
			}
		}
		n = sse_eol(s + off, len - off);
		if (off + n == len) {
			/* No line end yet: keep the start of the line. */
			(void)sse_part(p, s + off, n);
			break;
		}
		p->sp_cr = s[off + n] == '\r';
		if (!p->sp_skip && p->sp_line.sb_len == 0 &&
		    n <= p->sp_line_max)
			sse_line(p, s + off, n);
		else if (sse_part(p, s + off, n) == 0) {
			sse_line(p, p->sp_line.sb_buf, p->sp_line.sb_len);
			buf_trim(&p->sp_line);
		} else
			sse_skip_end(p);
		off += n + 1;
	}
}

static size_t
sse_eol(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (s[i] == '\n' || s[i] == '\r')
			break;
	return i;
}

/*
 * Append part of a line to the line buffer. -1 when the bytes are not
 * kept: skipping after an error, or this line just passed the limit
 * (which starts the skip).
 */
static int
sse_part(struct sse_parser *p, const char *s, size_t n)
{
	const char	*why = "line too long";

	if (p->sp_skip) {
		if (n > 0)
			p->sp_skip_text = 1;
		return -1;
	}
	if (n == 0)
		return 0;
	if (n <= p->sp_line_max - p->sp_line.sb_len) {
		if (buf_add(&p->sp_line, s, n, p->sp_line_max) == 0)
			return 0;
		why = "out of memory";
	}
	buf_trim(&p->sp_line);
	sse_fail(p, why);
	p->sp_skip_text = 1;
	return -1;
}

/* A line ended while skipping: an empty one is the event boundary. */
static void
sse_skip_end(struct sse_parser *p)
{
	if (!p->sp_skip_text)
		p->sp_skip = 0;
	p->sp_skip_text = 0;
}

/* One complete line, its end removed, within the line limit. */
static void
sse_line(struct sse_parser *p, const char *line, size_t n)
{
	const char	*colon, *v;
	size_t		 name_len, vlen;

	if (n == 0) {
		sse_dispatch(p);
		return;
	}
	if (line[0] == ':') {
		sse_comment(p, line + 1, n - 1);
		return;
	}
	if ((colon = memchr(line, ':', n)) == NULL) {
		sse_field(p, line, n, "", 0);
		return;
	}
	name_len = (size_t)(colon - line);
	v = colon + 1;
	vlen = n - name_len - 1;
	if (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	sse_field(p, line, name_len, v, vlen);
}

static void
sse_field(struct sse_parser *p, const char *name, size_t nlen,
    const char *v, size_t vlen)
{
	if (sse_field_is(name, nlen, "data"))
		sse_data(p, v, vlen);
	else if (sse_field_is(name, nlen, "event")) {
		if (buf_set(&p->sp_type, v, vlen, p->sp_line_max) == -1)
			sse_fail(p, "out of memory");
	} else if (sse_field_is(name, nlen, "id")) {
		/* An id with a NUL is ignored, the old one stays. */
		if (memchr(v, '\0', vlen) == NULL &&
		    buf_set(&p->sp_id, v, vlen, p->sp_line_max) == -1)
			sse_fail(p, "out of memory");
	} else if (sse_field_is(name, nlen, "retry"))
		sse_retry(p, v, vlen);
	/* Any other field is ignored. */
}

static int
sse_field_is(const char *name, size_t nlen, const char *known)
{
	return nlen == strlen(known) && memcmp(name, known, nlen) == 0;
}

/* The value and an LF; the last LF goes at dispatch, so the limit on
 * the buffer is one more than the limit on the data. */
static void
sse_data(struct sse_parser *p, const char *v, size_t vlen)
{
	size_t	 max = p->sp_data_max + 1;

	/* sb_len may be sp_data_max + 1 already: no subtraction. */
	if (p->sp_data.sb_len + vlen > p->sp_data_max) {
		sse_fail(p, "event too large");
		return;
	}
	if (buf_add(&p->sp_data, v, vlen, max) == -1 ||
	    buf_add(&p->sp_data, "\n", 1, max) == -1)
		sse_fail(p, "out of memory");
}

/* Only ASCII digits; empty or past SSE_RETRY_MAX is ignored too. */
static void
sse_retry(struct sse_parser *p, const char *v, size_t vlen)
{
	int64_t	 r = 0;
	size_t	 i;

	if (vlen == 0)
		return;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		r = r * SSE_RETRY_BASE + (v[i] - '0');
		if (r > SSE_RETRY_MAX)
			return;
	}
	p->sp_retry = r;
	p->sp_ev_retry = r;
}

static void
sse_comment(struct sse_parser *p, const char *text, size_t n)
{
	struct sse_event	 ev;

	p->sp_comments++;
	p->sp_ev_comments++;
	memset(&ev, 0, sizeof(ev));
	ev.ev_kind = SSE_EV_COMMENT;
	ev.ev_data = text;
	ev.ev_data_len = n;
	ev.ev_retry = -1;
	sse_emit(p, &ev);
}

/* An empty line: dispatch the event unless it has no data. */
static void
sse_dispatch(struct sse_parser *p)
{
	struct sse_event	 ev;

	if (p->sp_data.sb_len == 0) {
		sse_reset_event(p);
		return;
	}
	/* Every data line ends in LF; the last one is not part of it. */
	p->sp_data.sb_len--;
	p->sp_data.sb_buf[p->sp_data.sb_len] = '\0';
	memset(&ev, 0, sizeof(ev));
	ev.ev_kind = SSE_EV_MESSAGE;
	if (p->sp_type.sb_len > 0) {
		ev.ev_type = p->sp_type.sb_buf;
		ev.ev_type_len = p->sp_type.sb_len;
	} else {
		ev.ev_type = SSE_TYPE_DEFAULT;
		ev.ev_type_len = strlen(SSE_TYPE_DEFAULT);
	}
	ev.ev_data = p->sp_data.sb_buf;
	ev.ev_data_len = p->sp_data.sb_len;
	ev.ev_id = p->sp_id.sb_buf != NULL ? p->sp_id.sb_buf : "";
	ev.ev_id_len = p->sp_id.sb_len;
	ev.ev_retry = p->sp_ev_retry;
	ev.ev_comments = p->sp_ev_comments;
	p->sp_events++;
	sse_emit(p, &ev);
	sse_reset_event(p);
}

/* Forget the event being built; the last event id stays. */
static void
sse_reset_event(struct sse_parser *p)
{
	buf_trim(&p->sp_data);
	buf_trim(&p->sp_type);
	p->sp_ev_retry = -1;
	p->sp_ev_comments = 0;
}

/*
 * Report a limit once, drop the event and skip to the next empty line.
 * The line buffer is the caller's: a line being parsed may live in it.
 */
static void
sse_fail(struct sse_parser *p, const char *why)
{
	struct sse_event	 ev;

	p->sp_errors++;
	p->sp_error = why;
	p->sp_skip = 1;
	p->sp_skip_text = 0;
	sse_reset_event(p);
	memset(&ev, 0, sizeof(ev));
	ev.ev_kind = SSE_EV_ERROR;
	ev.ev_retry = -1;
	ev.ev_error = why;
	sse_emit(p, &ev);
}

static void
sse_emit(struct sse_parser *p, const struct sse_event *ev)
{
	if (p->sp_fn != NULL)
		p->sp_fn(p->sp_arg, ev);
}
