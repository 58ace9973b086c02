/*
 * The decoder chain (decode.h): the order of the stages, which stage a
 * Content-Type picks, the result and its JSON rendering. The stages
 * themselves are in decode_enc.c, decode_frame.c, decode_json.c and
 * decode_msgpack.c.
 *
 * Ownership: the input is only read. Each stage writes a new buffer (a
 * dbuf bounded by the stage's output limit) and the previous one is
 * freed when the stage succeeds; the result owns the last one. A failure
 * keeps the bytes before the failed stage, so a stage never frees its
 * input before it is known to have worked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/decode_int.h"
#include "common/utf8.h"
#include "common/util.h"

#define CT_MAX		128	/* of a media type we tell apart */
#define CODINGS_BUF	256	/* of a Content-Encoding list we read */
#define PAYLOAD_RAW	2	/* payload_run(): not applied */

static const char *const payload_names[] = {
	[DECODE_P_RAW] = "raw",
	[DECODE_P_JSON] = "json",
	[DECODE_P_JSON_GUESS] = "json",
	[DECODE_P_MSGPACK] = "msgpack",
};

/* --- the bounded buffer ------------------------------------------------ */

void
dbuf_init(struct dbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->db_max = max;
}

void
dbuf_free(struct dbuf *b)
{
	free(b->db_p);
	b->db_p = NULL;
	b->db_len = b->db_cap = 0;
}

uint8_t *
dbuf_room(struct dbuf *b, size_t want, size_t *avail)
{
	size_t	 need, cap;
	uint8_t	*np;

	if (b->db_len >= b->db_max) {
		b->db_full = 1;
		return NULL;
	}
	need = b->db_len + MIN(MAX(want, 1), b->db_max - b->db_len);
	if (need > b->db_cap) {
		for (cap = MAX(b->db_cap, DBUF_MIN); cap < need &&
		    cap < b->db_max; cap = cap > SIZE_MAX / 2 ? SIZE_MAX :
		    cap * 2)
			;
		cap = MAX(MIN(cap, b->db_max), need);
		if ((np = realloc(b->db_p, cap)) == NULL) {
			b->db_nomem = 1;
			return NULL;
		}
		b->db_p = np;
		b->db_cap = cap;
	}
	*avail = b->db_cap - b->db_len;
	return b->db_p + b->db_len;
}

int
dbuf_put(struct dbuf *b, const void *p, size_t n)
{
	uint8_t	*room;
	size_t	 avail;

	if (n == 0)
		return 0;
	if (n > b->db_max - b->db_len) {
		b->db_full = 1;
		return -1;
	}
	if ((room = dbuf_room(b, n, &avail)) == NULL)
		return -1;
	memcpy(room, p, n);
	b->db_len += n;
	return 0;
}

int
dbuf_puts(struct dbuf *b, const char *s)
{
	return dbuf_put(b, s, strlen(s));
}

int
dbuf_u64(struct dbuf *b, uint64_t v)
{
	char	 d[20];
	size_t	 i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return dbuf_put(b, d + i, sizeof(d) - i);
}

uint8_t *
dbuf_take(struct dbuf *b, size_t *len)
{
	uint8_t	*p;
	size_t	 avail;

	/* a NUL past the end when the limit leaves room, for the caller
	 * that prints it; not counted */
	if (b->db_len < b->db_max && dbuf_room(b, 1, &avail) != NULL)
		b->db_p[b->db_len] = '\0';
	p = b->db_p;
	*len = b->db_len;
	b->db_p = NULL;
	b->db_len = b->db_cap = 0;
	return p;
}

/* --- what a Content-Type picks ----------------------------------------- */

enum framing { F_NONE, F_GRPC, F_GRPC_WEB, F_SSE };

struct ctype {
	int	 ct_framing;
	int	 ct_payload;
	int	 ct_js;		/* JavaScript: JSON only behind a prefix */
};

/* The media type, lower case, without parameters or spaces. */
static void
ct_media(const char *ct, char *buf, size_t sz)
{
	size_t	 i = 0;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; *ct != '\0' && *ct != ';' && *ct != ' ' && *ct != '\t' &&
	    i + 1 < sz; ct++)
		buf[i++] = (char)tolower((unsigned char)*ct);
	buf[i] = '\0';
}

static int
ct_suffix(const char *m, const char *suffix)
{
	size_t ml = strlen(m), sl = strlen(suffix);

	return ml > sl && strcmp(m + ml - sl, suffix) == 0;
}

static int
ct_is_json(const char *m)
{
	return strcmp(m, "application/json") == 0 ||
	    strcmp(m, "text/json") == 0 ||
	    strcmp(m, "application/x-json") == 0 || ct_suffix(m, "+json");
}

static void
ct_classify(const char *ct, struct ctype *c)
{
	char	 m[CT_MAX];

	memset(c, 0, sizeof(*c));
	if (ct == NULL || (ct_media(ct, m, sizeof(m)), m[0] == '\0')) {
		c->ct_payload = DECODE_P_JSON_GUESS;
		return;
	}
	if (strcmp(m, "application/grpc-web") == 0 ||
	    strncmp(m, "application/grpc-web+", 21) == 0)
		c->ct_framing = F_GRPC_WEB;
	else if (strcmp(m, "application/grpc") == 0 ||
	    strncmp(m, "application/grpc+", 17) == 0)
		c->ct_framing = F_GRPC;
	else if (strcmp(m, "text/event-stream") == 0) {
		c->ct_framing = F_SSE;
		c->ct_payload = DECODE_P_JSON_GUESS;
		return;
	}
	if (ct_is_json(m))
		c->ct_payload = DECODE_P_JSON;
	else if (strcmp(m, "application/msgpack") == 0 ||
	    strcmp(m, "application/x-msgpack") == 0 ||
	    strcmp(m, "application/vnd.msgpack") == 0 ||
	    ct_suffix(m, "+msgpack"))
		c->ct_payload = DECODE_P_MSGPACK;
	else if (strcmp(m, "text/javascript") == 0 ||
	    strcmp(m, "application/javascript") == 0 ||
	    strcmp(m, "application/x-javascript") == 0)
		c->ct_js = 1;
}

/* --- the payload stage ------------------------------------------------- */

int
decode_raw_kind(const uint8_t *p, size_t n)
{
	size_t	 i, k;

	for (i = 0; i < n; i += k) {
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r' && p[i] != '\f')
			return DECODE_KIND_BINARY;
		if ((k = utf8_seq_len(p + i, n - i)) == 0)
			return DECODE_KIND_BINARY;
	}
	return DECODE_KIND_TEXT;
}

/* Worth a guess: an object or an array, or behind a prefix. */
static int
json_likely(const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (decode_json_prefix(p, n) > 0)
		return 1;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	return i < n && (p[i] == '{' || p[i] == '[');
}

/*
 * One payload into out as JSON text: DEC_OK, DEC_FAIL (err says why),
 * DEC_NOMEM, or PAYLOAD_RAW when it is not for this stage (a guess that
 * was wrong, a type we keep raw).
 */
static int
payload_run(int payload, const uint8_t *p, size_t n,
    const struct decode_limits *lim, struct dbuf *out, int *sanitized,
    char *err, size_t errsz)
{
	struct dbuf	 pretty;
	size_t		 k;
	int		 rv;

	*sanitized = 0;
	if (payload == DECODE_P_RAW ||
	    (payload == DECODE_P_JSON_GUESS && !json_likely(p, n)))
		return PAYLOAD_RAW;
	if (payload == DECODE_P_MSGPACK) {
		if ((rv = decode_msgpack_json(p, n, lim, out, err, errsz)) !=
		    DEC_OK || !lim->dl_pretty)
			return rv;
		/* indented by the JSON stage's own rules */
		dbuf_init(&pretty, lim->dl_max_out);
		rv = decode_json_format(out->db_p, out->db_len, DECODE_DEPTH_CAP,
		    1, &pretty, err, errsz);
		dbuf_free(out);
		*out = pretty;
		return rv;
	}
	k = decode_json_prefix(p, n);
	rv = decode_json_format(p + k, n - k, lim->dl_max_depth,
	    lim->dl_pretty, out, err, errsz);
	if (rv == DEC_FAIL && payload == DECODE_P_JSON_GUESS) {
		out->db_len = 0;
		return PAYLOAD_RAW;
	}
	*sanitized = rv == DEC_OK && k > 0;
	return rv;
}

static int
raw_members(const uint8_t *p, size_t n, struct dbuf *out)
{
	if (decode_raw_kind(p, n) == DECODE_KIND_TEXT)
		return dbuf_puts(out, ",\"kind\":\"text\",\"body\":") == -1 ?
		    -1 : decode_json_str(out, p, n);
	return dbuf_puts(out, ",\"kind\":\"binary\",\"encoding\":\"base64\","
	    "\"body\":") == -1 ? -1 : decode_b64(out, p, n);
}

/* A framed message's payload members (see decode_int.h). */
int
decode_payload_members(int payload, const uint8_t *p, size_t n,
    int truncated, const struct decode_limits *lim, struct dbuf *out,
    int *failed, int *sanitized)
{
	struct dbuf	 j;
	char		 err[DECODE_ERROR_MAX], why[DECODE_ERROR_MAX * 2];
	int		 rv;

	(void)truncated;	/* a cut payload fails on its own */
	dbuf_init(&j, lim->dl_max_out);
	err[0] = '\0';
	rv = payload_run(payload, p, n, lim, &j, sanitized, err, sizeof(err));
	if (rv == DEC_OK)
		rv = dbuf_puts(out, ",\"kind\":\"json\",\"body\":") == -1 ||
		    dbuf_put(out, j.db_p, j.db_len) == -1 || (*sanitized &&
		    dbuf_puts(out, ",\"sanitized\":true") == -1) ? -1 : 0;
	else if (rv == DEC_FAIL) {
		*failed = 1;
		snprintf(why, sizeof(why), "payload %s: %s",
		    payload_names[payload], err);
		rv = dbuf_puts(out, ",\"error\":") == -1 ||
		    decode_json_str(out, (const uint8_t *)why, strlen(why)) ==
		    -1 ? -1 : raw_members(p, n, out);
	} else if (rv == PAYLOAD_RAW)
		rv = raw_members(p, n, out);
	else
		out->db_nomem = 1;
	dbuf_free(&j);
	return rv < 0 ? -1 : 0;
}

/* --- the chain --------------------------------------------------------- */

struct chain {
	struct decode_limits	 c_lim;
	struct decode_result	*c_res;
	const uint8_t		*c_cur;		/* the bytes so far */
	size_t			 c_len;
	uint8_t			*c_hold;	/* c_cur when owned, else NULL */
	int			 c_partial;	/* c_cur is a prefix */
};

void
decode_limits_default(struct decode_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->dl_max_in = DECODE_DEF_MAX_IN;
	l->dl_max_out = DECODE_DEF_MAX_OUT;
	l->dl_max_ratio = DECODE_DEF_MAX_RATIO;
	l->dl_max_depth = DECODE_DEF_MAX_DEPTH;
	l->dl_max_objects = DECODE_DEF_MAX_OBJECTS;
	l->dl_max_parts = DECODE_DEF_MAX_PARTS;
}

static struct decode_stage *
stage_add(struct chain *c, const char *stage, const char *codec, size_t in)
{
	struct decode_result	*r = c->c_res;
	struct decode_stage	*s;

	if (r->dr_nstages >= DECODE_STAGES_MAX)
		return NULL;	/* cannot happen: the codings are counted */
	s = &r->dr_stages[r->dr_nstages++];
	util_strlcpy(s->ds_stage, stage, sizeof(s->ds_stage));
	util_strlcpy(s->ds_codec, codec, sizeof(s->ds_codec));
	s->ds_ok = 1;
	s->ds_in = s->ds_out = in;
	return s;
}

static void
stage_fail(struct decode_stage *s, const char *why)
{
	char e[DECODE_ERROR_MAX];

	s->ds_ok = 0;
	s->ds_out = 0;
	/* through e: gcc cannot tell the members apart (-Wrestrict) */
	snprintf(e, sizeof(e), "%s %s: %s", s->ds_stage, s->ds_codec, why);
	memcpy(s->ds_error, e, sizeof(e));
}

/* What a stage with n bytes in may make. */
static size_t
stage_max(const struct chain *c, size_t n)
{
	size_t	 r;

	if (c->c_lim.dl_max_ratio == 0)
		return c->c_lim.dl_max_out;
	r = n > SIZE_MAX / c->c_lim.dl_max_ratio ? SIZE_MAX :
	    n * c->c_lim.dl_max_ratio;
	return MIN(c->c_lim.dl_max_out, MAX(r, (size_t)DECODE_RATIO_MIN_OUT));
}

/* A stage's output becomes the bytes so far. */
static void
chain_next(struct chain *c, struct dbuf *d, struct decode_stage *s, int rv)
{
	free(c->c_hold);
	c->c_hold = dbuf_take(d, &c->c_len);
	c->c_cur = c->c_hold;
	s->ds_out = c->c_len;
	if (rv == DEC_TRUNC) {
		s->ds_truncated = 1;
		c->c_partial = 1;
		c->c_res->dr_truncated = 1;
	}
}

/* The end of stage s, which ran into d with rv: 0 when d becomes the
 * bytes so far; when it failed, d is dropped and 1 (s failed with err)
 * or -1 (out of memory). */
static int
stage_end(struct chain *c, struct decode_stage *s, struct dbuf *d, int rv,
    const char *err)
{
	if (rv == DEC_NOMEM || rv == DEC_FAIL) {
		dbuf_free(d);
		if (rv == DEC_NOMEM)
			return -1;
		stage_fail(s, err);
		return 1;
	}
	chain_next(c, d, s, rv);
	return 0;
}

/* The bytes so far, kept raw, as the result. */
static int
chain_raw(struct chain *c)
{
	struct decode_result *r = c->c_res;

	r->dr_kind = decode_raw_kind(c->c_cur, c->c_len);
	if (c->c_hold == NULL) {
		/* the caller's bytes: copied, never kept */
		if ((c->c_hold = malloc(c->c_len + 1)) == NULL)
			return -1;
		if (c->c_len > 0 && c->c_cur != NULL)
			memcpy(c->c_hold, c->c_cur, c->c_len);
		c->c_hold[c->c_len] = '\0';
	}
	r->dr_body = c->c_hold;
	r->dr_len = c->c_len;
	c->c_hold = NULL;
	return 0;
}

/* Split a Content-Encoding list into its codings, in order; -1 when it
 * has more than DECODE_CODINGS_MAX or is too long to read. */
static int
codings_split(const char *list, char *buf, size_t sz,
    char *tok[DECODE_CODINGS_MAX])
{
	char	*p, *t, *e;
	int	 n = 0;

	if (util_strlcpy(buf, list, sz) >= sz)
		return -1;
	for (p = buf; (t = strsep(&p, ",")) != NULL;) {
		t += strspn(t, " \t");
		for (e = t + strlen(t); e > t && (e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (*t == '\0')
			continue;	/* empty list elements (RFC 9110 5.6.1) */
		if (n == DECODE_CODINGS_MAX)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/* Stage 1: 1 when a coding failed (the chain stops), 0 to go on, -1 out
 * of memory. */
static int
chain_codings(struct chain *c, const char *list)
{
	char			 buf[CODINGS_BUF], err[DECODE_ERROR_MAX];
	char			*tok[DECODE_CODINGS_MAX];
	struct decode_stage	*s;
	struct dbuf		 d;
	int			 n, rv;

	if ((n = codings_split(list, buf, sizeof(buf), tok)) == -1) {
		s = stage_add(c, "content-encoding", "list", c->c_len);
		stage_fail(s, "too many codings");
		return 1;
	}
	while (n-- > 0) {
		s = stage_add(c, "content-encoding", tok[n], c->c_len);
		if (strcasecmp(tok[n], "identity") == 0 || c->c_len == 0)
			continue;
		if (decode_enc_known(tok[n]) == -1) {
			stage_fail(s, "unknown coding");
			return 1;
		}
		dbuf_init(&d, stage_max(c, c->c_len));
		err[0] = '\0';
		rv = decode_enc_run(tok[n], c->c_cur, c->c_len, c->c_partial,
		    &d, err, sizeof(err));
		if ((rv = stage_end(c, s, &d, rv, err)) != 0)
			return rv;
	}
	return 0;
}

/* Stage 2 and the payloads of its messages: 1 when it failed, 0 when it
 * made the result, -1 out of memory. */
static int
chain_framing(struct chain *c, const struct ctype *ct,
    const struct decode_input *in)
{
	struct decode_frame	 f;
	struct decode_stage	*s;
	struct dbuf		 d;
	char			 err[DECODE_ERROR_MAX];
	int			 rv;

	memset(&f, 0, sizeof(f));
	f.df_payload = ct->ct_payload;
	f.df_web = ct->ct_framing == F_GRPC_WEB;
	f.df_grpc_encoding = in->di_grpc_encoding;
	f.df_partial = c->c_partial;
	s = stage_add(c, "framing", ct->ct_framing == F_SSE ? "sse" : "grpc",
	    c->c_len);
	dbuf_init(&d, c->c_lim.dl_max_out);
	err[0] = '\0';
	rv = ct->ct_framing == F_SSE ?
	    decode_sse(&f, c->c_cur, c->c_len, &c->c_lim, &d, err, sizeof(err)) :
	    decode_grpc(&f, c->c_cur, c->c_len, &c->c_lim, &d, err, sizeof(err));
	s->ds_parts = f.df_parts;
	if ((rv = stage_end(c, s, &d, rv, err)) != 0)
		return rv;
	c->c_res->dr_framing = ct->ct_framing == F_SSE ? "sse" : "grpc";
	c->c_res->dr_sanitized = f.df_sanitized;
	if (f.df_payload == DECODE_P_JSON || f.df_payload == DECODE_P_MSGPACK) {
		s = stage_add(c, "payload", payload_names[f.df_payload],
		    c->c_len);
		if (f.df_failed)
			stage_fail(s, "a message was kept raw");
	}
	return 0;
}

/* Stage 3 of an unframed body: 1 when it failed or was not for it (the
 * bytes stay raw), 0 when it made the result, -1 out of memory. */
static int
chain_payload(struct chain *c, int payload)
{
	struct decode_stage	*s;
	struct dbuf		 d;
	char			 err[DECODE_ERROR_MAX];
	int			 rv, sanitized;

	dbuf_init(&d, stage_max(c, c->c_len));
	err[0] = '\0';
	rv = payload_run(payload, c->c_cur, c->c_len, &c->c_lim, &d,
	    &sanitized, err, sizeof(err));
	if (rv == PAYLOAD_RAW) {
		dbuf_free(&d);
		return 1;
	}
	/* on -1 decode_body drops the whole result, this stage with it */
	s = stage_add(c, "payload", payload_names[payload], c->c_len);
	if ((rv = stage_end(c, s, &d, rv, err)) != 0)
		return rv;
	c->c_res->dr_sanitized = sanitized;
	return 0;
}

/* The result after the stage that makes JSON (rv of chain_framing or
 * chain_payload): that JSON, the bytes so far kept raw when the stage
 * failed, or -1 (out of memory). */
static int
chain_json(struct chain *c, int rv)
{
	if (rv == -1)
		return -1;
	if (rv == 1)
		return chain_raw(c);
	c->c_res->dr_kind = DECODE_KIND_JSON;
	c->c_res->dr_body = c->c_hold;
	c->c_res->dr_len = c->c_len;
	c->c_hold = NULL;
	return 0;
}

static int
chain_run(struct chain *c, const struct decode_input *in)
{
	struct ctype	 ct;
	int		 rv, payload;

	if (!in->di_message && in->di_content_encoding != NULL &&
	    (rv = chain_codings(c, in->di_content_encoding)) != 0)
		return rv == 1 ? chain_raw(c) : -1;
	ct_classify(in->di_content_type, &ct);
	if (in->di_message)
		ct.ct_framing = F_NONE;
	if (ct.ct_framing != F_NONE)
		return chain_json(c, chain_framing(c, &ct, in));
	payload = ct.ct_payload;
	if (ct.ct_js && decode_json_prefix(c->c_cur, c->c_len) > 0)
		payload = DECODE_P_JSON;
	return chain_json(c, chain_payload(c, payload));
}

int
decode_body(const struct decode_input *in, const struct decode_limits *lim,
    const uint8_t *p, size_t len, struct decode_result *res)
{
	static const struct decode_input none;
	struct chain	 c;
	int		 rv;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	if (lim != NULL)
		c.c_lim = *lim;
	else
		decode_limits_default(&c.c_lim);
	c.c_lim.dl_max_depth = MIN(c.c_lim.dl_max_depth, DECODE_DEPTH_CAP);
	if (in == NULL)
		in = &none;
	c.c_res = res;
	c.c_cur = p;
	c.c_len = MIN(len, c.c_lim.dl_max_in);
	c.c_partial = in->di_partial || len > c.c_lim.dl_max_in;
	res->dr_truncated = c.c_partial;
	rv = chain_run(&c, in);
	free(c.c_hold);
	if (rv == -1)
		decode_result_free(res);
	return rv;
}

void
decode_result_free(struct decode_result *res)
{
	free(res->dr_body);
	memset(res, 0, sizeof(*res));
}

/* --- the rendering ----------------------------------------------------- */

static const char *const kind_names[] = {
	[DECODE_KIND_TEXT] = "text",
	[DECODE_KIND_BINARY] = "binary",
	[DECODE_KIND_JSON] = "json",
};

static int
render_str(struct dbuf *b, const char *key, const char *s)
{
	return dbuf_puts(b, key) == -1 ? -1 :
	    decode_json_str(b, (const uint8_t *)s, strlen(s));
}

static int
render_stage(struct dbuf *b, const struct decode_stage *s)
{
	if (render_str(b, "{\"stage\":", s->ds_stage) == -1 ||
	    render_str(b, ",\"codec\":", s->ds_codec) == -1 ||
	    dbuf_puts(b, s->ds_ok ? ",\"ok\":true" : ",\"ok\":false") == -1 ||
	    dbuf_puts(b, s->ds_truncated ? ",\"truncated\":true" :
	    ",\"truncated\":false") == -1 ||
	    dbuf_puts(b, ",\"in\":") == -1 || dbuf_u64(b, s->ds_in) == -1 ||
	    dbuf_puts(b, ",\"out\":") == -1 || dbuf_u64(b, s->ds_out) == -1)
		return -1;
	if (strcmp(s->ds_stage, "framing") == 0 &&
	    (dbuf_puts(b, ",\"parts\":") == -1 ||
	    dbuf_u64(b, s->ds_parts) == -1))
		return -1;
	if (!s->ds_ok && render_str(b, ",\"error\":", s->ds_error) == -1)
		return -1;
	return dbuf_put(b, "}", 1);
}

static int
render_body(struct dbuf *b, const struct decode_result *r)
{
	if (dbuf_puts(b, ",\"body\":") == -1)
		return -1;
	switch (r->dr_kind) {
	case DECODE_KIND_JSON:
		return dbuf_put(b, r->dr_body, r->dr_len);
	case DECODE_KIND_BINARY:
		return decode_b64(b, r->dr_body, r->dr_len);
	default:
		return decode_json_str(b, r->dr_body, r->dr_len);
	}
}

char *
decode_render(const struct decode_result *r, size_t *lenp)
{
	struct dbuf	 b;
	size_t		 i, len;
	int		 k = r->dr_kind;

	dbuf_init(&b, SIZE_MAX / 2);
	if (dbuf_puts(&b, "{\"stages\":[") == -1)
		goto fail;
	for (i = 0; i < r->dr_nstages; i++)
		if ((i > 0 && dbuf_put(&b, ",", 1) == -1) ||
		    render_stage(&b, &r->dr_stages[i]) == -1)
			goto fail;
	if (k < DECODE_KIND_TEXT || k > DECODE_KIND_JSON)
		k = DECODE_KIND_BINARY;
	if (render_str(&b, "],\"kind\":", kind_names[k]) == -1 ||
	    (k == DECODE_KIND_BINARY &&
	    dbuf_puts(&b, ",\"encoding\":\"base64\"") == -1) ||
	    (r->dr_framing != NULL &&
	    render_str(&b, ",\"framing\":", r->dr_framing) == -1) ||
	    dbuf_puts(&b, r->dr_sanitized ? ",\"sanitized\":true" :
	    ",\"sanitized\":false") == -1 ||
	    dbuf_puts(&b, r->dr_truncated ? ",\"truncated\":true" :
	    ",\"truncated\":false") == -1 ||
	    render_body(&b, r) == -1 || dbuf_put(&b, "}", 1) == -1)
		goto fail;
	if (lenp == NULL)
		lenp = &len;
	return (char *)dbuf_take(&b, lenp);
fail:
	dbuf_free(&b);
	return NULL;
}
