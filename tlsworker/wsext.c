/*
 * Sec-WebSocket-Extensions of a 101 response: which extensions the
 * server accepted and the permessage-deflate parameters (wsext.h).
 * Called by the WebSocket observer once per handshake, on the loop.
 */
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "tlsworker/http1.h"
#include "tlsworker/wsext.h"

#define WSEXT_DEFLATE	"permessage-deflate"

/* A cursor over the field value. */
struct wsx_cur {
	const char	*xc_p;
	const char	*xc_end;
};

/* One parameter: its name and its value (unquoted, cut to the buffer). */
struct wsx_param {
	const char	*xp_name;
	size_t		 xp_nlen;
	int		 xp_has_value;
	char		 xp_value[WSEXT_VALUE_MAX + 1];
	size_t		 xp_vlen;	/* may pass WSEXT_VALUE_MAX */
};

static int	wsx_fail(struct wsext *, const char *);
static void	wsx_ows(struct wsx_cur *);
static size_t	wsx_token(struct wsx_cur *, const char **);
static int	wsx_quoted(struct wsx_cur *, struct wsx_param *);
static int	wsx_param(struct wsx_cur *, struct wsx_param *);
static int	wsx_deflate_param(struct wsext *, const struct wsx_param *,
		    int *);
static int	wsx_bits(const struct wsx_param *);
static int	wsx_is(const char *, size_t, const char *);

void
wsext_init(struct wsext *x)
{
	memset(x, 0, sizeof(*x));
	x->wx_window_bits[WSEXT_CLIENT] = WSEXT_BITS_MAX;
	x->wx_window_bits[WSEXT_SERVER] = WSEXT_BITS_MAX;
}

static int
wsx_fail(struct wsext *x, const char *why)
{
	if (x->wx_error == NULL)
		x->wx_error = why;
	return -1;
}

static int
wsx_is(const char *s, size_t len, const char *name)
{
	return len == strlen(name) && strncasecmp(s, name, len) == 0;
}

static void
wsx_ows(struct wsx_cur *c)
{
	while (c->xc_p < c->xc_end && (*c->xc_p == ' ' || *c->xc_p == '\t'))
		c->xc_p++;
}

/* A token at the cursor; its length, 0 when there is none. */
static size_t
wsx_token(struct wsx_cur *c, const char **start)
{
	*start = c->xc_p;
	while (c->xc_p < c->xc_end && http1_is_tchar((unsigned char)*c->xc_p))
		c->xc_p++;
	return (size_t)(c->xc_p - *start);
}

/* A quoted-string (RFC 9110 5.6.4) at the cursor, unquoted into p. */
static int
wsx_quoted(struct wsx_cur *c, struct wsx_param *p)
{
	int	 ch;

	c->xc_p++;	/* the opening quote */
	while (c->xc_p < c->xc_end && *c->xc_p != '"') {
		ch = (unsigned char)*c->xc_p++;
		if (ch == '\\') {
			if (c->xc_p >= c->xc_end)
				return -1;
			ch = (unsigned char)*c->xc_p++;
		}
		if (ch != '\t' && ch != ' ' && !http1_is_vchar(ch))
			return -1;
		if (p->xp_vlen < WSEXT_VALUE_MAX)
			p->xp_value[p->xp_vlen] = (char)ch;
		p->xp_vlen++;
	}
	if (c->xc_p >= c->xc_end)
		return -1;
	c->xc_p++;	/* the closing quote */
	return 0;
}

/* "name [= value]" after a ';'. */
static int
wsx_param(struct wsx_cur *c, struct wsx_param *p)
{
	const char	*v;
	size_t		 n;

	memset(p, 0, sizeof(*p));
	wsx_ows(c);
	if ((p->xp_nlen = wsx_token(c, &p->xp_name)) == 0)
		return -1;
	wsx_ows(c);
	if (c->xc_p >= c->xc_end || *c->xc_p != '=')
		return 0;
	c->xc_p++;
	wsx_ows(c);
	p->xp_has_value = 1;
	if (c->xc_p < c->xc_end && *c->xc_p == '"') {
		if (wsx_quoted(c, p) == -1)
			return -1;
	} else {
		if ((n = wsx_token(c, &v)) == 0)
			return -1;
		memcpy(p->xp_value, v, MIN(n, (size_t)WSEXT_VALUE_MAX));
		p->xp_vlen = n;
	}
	p->xp_value[MIN(p->xp_vlen, (size_t)WSEXT_VALUE_MAX)] = '\0';
	wsx_ows(c);
	return 0;
}

/* 8 to 15, digits only, no leading zero (RFC 7692 7.1.2.1). */
static int
wsx_bits(const struct wsx_param *p)
{
	int	 v = 0;
	size_t	 i;

	if (!p->xp_has_value || p->xp_vlen == 0 || p->xp_vlen > 2 ||
	    p->xp_value[0] == '0')
		return -1;
	for (i = 0; i < p->xp_vlen; i++) {
		if (p->xp_value[i] < '0' || p->xp_value[i] > '9')
			return -1;
		v = v * 10 + (p->xp_value[i] - '0');
	}
	return v >= WSEXT_BITS_MIN && v <= WSEXT_BITS_MAX ? v : -1;
}

/* One parameter of permessage-deflate; seen: a bit per parameter. */
static int
wsx_deflate_param(struct wsext *x, const struct wsx_param *p, int *seen)
{
	static const char *const names[] = {
		"client_no_context_takeover", "server_no_context_takeover",
		"client_max_window_bits", "server_max_window_bits",
	};
	size_t	 i;
	int	 side, bits;

	for (i = 0; i < nitems(names); i++)
		if (wsx_is(p->xp_name, p->xp_nlen, names[i]))
			break;
	if (i == nitems(names))
		return wsx_fail(x, "unknown permessage-deflate parameter");
	if (*seen & (1 << i))
		return wsx_fail(x, "permessage-deflate parameter repeated");
	*seen |= 1 << i;
	side = i % 2 == 0 ? WSEXT_CLIENT : WSEXT_SERVER;
	if (i < 2) {
		if (p->xp_has_value)
			return wsx_fail(x, "no_context_takeover with a value");
		x->wx_no_takeover[side] = 1;
		return 0;
	}
	if ((bits = wsx_bits(p)) == -1)
		return wsx_fail(x, "bad max_window_bits");
	x->wx_window_bits[side] = bits;
	return 0;
}

int
wsext_parse(struct wsext *x, const char *s, size_t len)
{
	struct wsx_cur	 c = { s, s + len };
	struct wsx_param p;
	const char	*name;
	size_t		 nlen;
	int		 deflate, seen;

	if (x->wx_error != NULL)
		return -1;
	for (;;) {
		while (c.xc_p < c.xc_end && (*c.xc_p == ' ' ||
		    *c.xc_p == '\t' || *c.xc_p == ','))
			c.xc_p++;
		if (c.xc_p >= c.xc_end)
			return 0;
		if ((nlen = wsx_token(&c, &name)) == 0)
			return wsx_fail(x, "bad extension name");
		deflate = wsx_is(name, nlen, WSEXT_DEFLATE);
		if (deflate && x->wx_deflate)
			return wsx_fail(x, "permessage-deflate twice");
		if (deflate)
			x->wx_deflate = 1;
		else
			x->wx_other = 1;
		seen = 0;
		wsx_ows(&c);
		while (c.xc_p < c.xc_end && *c.xc_p == ';') {
			c.xc_p++;
			if (wsx_param(&c, &p) == -1)
				return wsx_fail(x, "bad extension parameter");
			if (deflate && wsx_deflate_param(x, &p, &seen) == -1)
				return -1;
		}
		if (c.xc_p < c.xc_end && *c.xc_p != ',')
			return wsx_fail(x, "bad extension list");
	}
}
