/*
 * JSON for the decoder chain (decode.h): the check and re-format of a
 * JSON payload, the anti-hijacking prefixes, and the JSON strings and
 * base64 every stage writes its output with.
 *
 * The payload is checked against RFC 8259 and written back compact (no
 * whitespace) or indented, by our own recursive descent rather than
 * through a library's tree: numbers, string escapes, member order and
 * repeated keys stay exactly as the server sent them (a tree re-serialised
 * would print 0.1 as 0.10000000000000001, and refuse integers past 64
 * bits and 1e400, which are valid JSON), the work is one pass over the
 * input, and memory is the output's alone, bounded by its dbuf. The
 * nesting depth is bounded by the caller's limit (at most
 * DECODE_DEPTH_CAP, which bounds the recursion).
 */
#include <stdio.h>
#include <string.h>

#include "common/decode_int.h"
#include "common/utf8.h"
#include "common/util.h"

#define JF_INDENT	2	/* spaces a level, when pretty */

struct jfmt {
	const uint8_t	*jf_p;
	size_t		 jf_n;
	size_t		 jf_i;
	uint32_t	 jf_max_depth;
	int		 jf_pretty;
	struct dbuf	*jf_out;
	const char	*jf_why;	/* the first error */
	size_t		 jf_at;		/* its offset */
};

/* The prefixes that keep a JSON response from running as a script
 * (Angular's and Google's ")]}'", Facebook's "for(;;);", ...); the
 * longer of two that share a start comes first. */
static const char *const json_prefixes[] = {
	")]}',", ")]}'", "for(;;);", "while(1);", "{}&&",
};

size_t
decode_json_prefix(const uint8_t *p, size_t n)
{
	size_t	 i, k;

	for (i = 0; i < nitems(json_prefixes); i++) {
		k = strlen(json_prefixes[i]);
		if (n < k || memcmp(p, json_prefixes[i], k) != 0)
			continue;
		/* ")]}'" is often followed by a newline: part of it */
		if (k < n && p[k] == '\n')
			k++;
		else if (k + 1 < n && p[k] == '\r' && p[k + 1] == '\n')
			k += 2;
		return k;
	}
	return 0;
}

static int
jf_fail(struct jfmt *jf, const char *why)
{
	if (jf->jf_why == NULL) {
		jf->jf_why = why;
		jf->jf_at = jf->jf_i;
	}
	return -1;
}

static int
jf_put(struct jfmt *jf, const void *p, size_t n)
{
	if (dbuf_put(jf->jf_out, p, n) == -1)
		return jf_fail(jf, "output too large");
	return 0;
}

static int
jf_peek(const struct jfmt *jf)
{
	return jf->jf_i < jf->jf_n ? jf->jf_p[jf->jf_i] : -1;
}

static void
jf_ws(struct jfmt *jf)
{
	int c;

	while ((c = jf_peek(jf)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		jf->jf_i++;
}

/* A newline and the indentation of a level, when pretty. */
static int
jf_newline(struct jfmt *jf, uint32_t depth)
{
	static const char spaces[] = "                                ";
	size_t	 left = (size_t)depth * JF_INDENT, k;

	if (!jf->jf_pretty)
		return 0;
	if (jf_put(jf, "\n", 1) == -1)
		return -1;
	while (left > 0) {
		k = MIN(left, sizeof(spaces) - 1);
		if (jf_put(jf, spaces, k) == -1)
			return -1;
		left -= k;
	}
	return 0;
}

static int
jf_escape(struct jfmt *jf)
{
	size_t	 k;
	int	 c;

	jf->jf_i++;	/* the backslash */
	if ((c = jf_peek(jf)) == -1)
		return jf_fail(jf, "unterminated string");
	jf->jf_i++;
	if (c != 'u')
		return strchr("\"\\/bfnrt", c) != NULL && c != '\0' ? 0 :
		    jf_fail(jf, "bad escape");
	for (k = 0; k < 4; k++, jf->jf_i++)
		if (jf->jf_i >= jf->jf_n ||
		    util_hexval(jf->jf_p[jf->jf_i]) == -1)
			return jf_fail(jf, "bad \\u escape");
	return 0;
}

/* A string, checked and copied as it is (escapes too). */
static int
jf_string(struct jfmt *jf)
{
	size_t	 start = jf->jf_i, k;
	uint8_t	 c;

	jf->jf_i++;	/* '"' */
	for (;;) {
		if (jf->jf_i >= jf->jf_n)
			return jf_fail(jf, "unterminated string");
		c = jf->jf_p[jf->jf_i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (jf_escape(jf) == -1)
				return -1;
			continue;
		}
		if (c < 0x20)
			return jf_fail(jf, "control character in a string");
		if ((k = utf8_seq_len(jf->jf_p + jf->jf_i,
		    jf->jf_n - jf->jf_i)) == 0)
			return jf_fail(jf, "invalid UTF-8");
		jf->jf_i += k;
	}
	jf->jf_i++;
	return jf_put(jf, jf->jf_p + start, jf->jf_i - start);
}

static int
jf_digits(struct jfmt *jf)
{
	size_t	 start = jf->jf_i;
	int	 c;

	while ((c = jf_peek(jf)) >= '0' && c <= '9')
		jf->jf_i++;
	return jf->jf_i > start ? 0 : jf_fail(jf, "digit expected");
}

/* A number, checked against the grammar and copied as it is. */
static int
jf_number(struct jfmt *jf)
{
	size_t	 start = jf->jf_i;

	if (jf_peek(jf) == '-')
		jf->jf_i++;
	if (jf_peek(jf) == '0')
		jf->jf_i++;
	else if (jf_digits(jf) == -1)
		return -1;
	if (jf_peek(jf) == '.') {
		jf->jf_i++;
		if (jf_digits(jf) == -1)
			return -1;
	}
	if (jf_peek(jf) == 'e' || jf_peek(jf) == 'E') {
		jf->jf_i++;
		if (jf_peek(jf) == '+' || jf_peek(jf) == '-')
			jf->jf_i++;
		if (jf_digits(jf) == -1)
			return -1;
	}
	return jf_put(jf, jf->jf_p + start, jf->jf_i - start);
}

static int
jf_literal(struct jfmt *jf, const char *lit)
{
	size_t n = strlen(lit);

	if (jf->jf_n - jf->jf_i < n || memcmp(jf->jf_p + jf->jf_i, lit, n))
		return jf_fail(jf, "bad literal");
	jf->jf_i += n;
	return jf_put(jf, lit, n);
}

static int	jf_value(struct jfmt *, uint32_t depth);

/* An object's member: "key": value. */
static int
jf_member(struct jfmt *jf, uint32_t depth)
{
	if (jf_peek(jf) != '"')
		return jf_fail(jf, "string expected");
	if (jf_string(jf) == -1)
		return -1;
	jf_ws(jf);
	if (jf_peek(jf) != ':')
		return jf_fail(jf, "':' expected");
	jf->jf_i++;
	if (jf_put(jf, ": ", jf->jf_pretty ? 2 : 1) == -1)
		return -1;
	jf_ws(jf);
	return jf_value(jf, depth);
}

/* An array or an object, the opening bracket at jf_i. */
static int
jf_container(struct jfmt *jf, uint32_t depth)
{
	int	 obj = jf_peek(jf) == '{', close = obj ? '}' : ']';
	uint8_t	 cl = (uint8_t)close;

	if (depth >= jf->jf_max_depth)
		return jf_fail(jf, "nested too deep");
	if (jf_put(jf, jf->jf_p + jf->jf_i, 1) == -1)
		return -1;
	jf->jf_i++;
	jf_ws(jf);
	if (jf_peek(jf) == close) {
		jf->jf_i++;
		return jf_put(jf, &cl, 1);
	}
	for (;;) {
		if (jf_newline(jf, depth + 1) == -1 ||
		    (obj ? jf_member(jf, depth + 1) :
		    jf_value(jf, depth + 1)) == -1)
			return -1;
		jf_ws(jf);
		if (jf_peek(jf) == close)
			break;
		if (jf_peek(jf) != ',')
			return jf_fail(jf, obj ? "',' or '}' expected" :
			    "',' or ']' expected");
		jf->jf_i++;
		if (jf_put(jf, ",", 1) == -1)
			return -1;
		jf_ws(jf);
	}
	jf->jf_i++;
	if (jf_newline(jf, depth) == -1)
		return -1;
	return jf_put(jf, &cl, 1);
}

static int
jf_value(struct jfmt *jf, uint32_t depth)
{
	int c = jf_peek(jf);

	switch (c) {
	case '{':
	case '[':
		return jf_container(jf, depth);
	case '"':
		return jf_string(jf);
	case 't':
		return jf_literal(jf, "true");
	case 'f':
		return jf_literal(jf, "false");
	case 'n':
		return jf_literal(jf, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return jf_number(jf);
		return jf_fail(jf, c == -1 ? "unexpected end" :
		    "value expected");
	}
}

int
decode_json_format(const uint8_t *p, size_t n, uint32_t max_depth,
    int pretty, struct dbuf *out, char *err, size_t errsz)
{
	struct jfmt jf;

	memset(&jf, 0, sizeof(jf));
	jf.jf_p = p;
	jf.jf_n = n;
	jf.jf_max_depth = MIN(max_depth, DECODE_DEPTH_CAP);
	jf.jf_pretty = pretty;
	jf.jf_out = out;
	jf_ws(&jf);
	if (jf_value(&jf, 0) == 0) {
		jf_ws(&jf);
		if (jf.jf_i == jf.jf_n)
			return (DEC_OK);
		(void)jf_fail(&jf, "trailing bytes");
	}
	if (out->db_nomem)
		return (DEC_NOMEM);
	if (out->db_full)
		snprintf(err, errsz, "output past %zu bytes", out->db_max);
	else if (strcmp(jf.jf_why, "nested too deep") == 0)
		snprintf(err, errsz, "nested deeper than %u at byte %zu",
		    jf.jf_max_depth, jf.jf_at);
	else
		snprintf(err, errsz, "%s at byte %zu", jf.jf_why, jf.jf_at);
	return (DEC_FAIL);
}

/* \uXXXX of a byte below 0x20. */
static int
json_ctl(struct dbuf *b, uint8_t c)
{
	char	 e[7] = "\\u00";

	switch (c) {
	case '\n':
		return dbuf_put(b, "\\n", 2);
	case '\r':
		return dbuf_put(b, "\\r", 2);
	case '\t':
		return dbuf_put(b, "\\t", 2);
	default:
		util_hex(&c, 1, e + 4, 3);
		return dbuf_put(b, e, 6);
	}
}

int
decode_json_str(struct dbuf *b, const uint8_t *p, size_t n)
{
	size_t	 i = 0, run, k;

	if (dbuf_put(b, "\"", 1) == -1)
		return -1;
	while (i < n) {
		/* a run of bytes that go as they are */
		for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		    p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > i && dbuf_put(b, p + i, run - i) == -1)
			return -1;
		if ((i = run) >= n)
			break;
		if (p[i] == '"' || p[i] == '\\') {
			if (dbuf_put(b, p[i] == '"' ? "\\\"" : "\\\\", 2) == -1)
				return -1;
			i++;
		} else if (p[i] < 0x20) {
			if (json_ctl(b, p[i++]) == -1)
				return -1;
		} else if ((k = utf8_seq_len(p + i, n - i)) != 0) {
			if (dbuf_put(b, p + i, k) == -1)
				return -1;
			i += k;
		} else {
			if (dbuf_put(b, "\\ufffd", 6) == -1)
				return -1;
			i++;
		}
	}
	return dbuf_put(b, "\"", 1);
}

/* RFC 4648 base64 with padding, in quotes. */
int
decode_b64(struct dbuf *b, const uint8_t *p, size_t n)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char	 q[4];
	uint32_t v;
	size_t	 i;

	if (dbuf_put(b, "\"", 1) == -1)
		return -1;
	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = al[v >> 18];
		q[1] = al[(v >> 12) & 0x3f];
		q[2] = i + 1 < n ? al[(v >> 6) & 0x3f] : '=';
		q[3] = i + 2 < n ? al[v & 0x3f] : '=';
		if (dbuf_put(b, q, 4) == -1)
			return -1;
	}
	return dbuf_put(b, "\"", 1);
}
