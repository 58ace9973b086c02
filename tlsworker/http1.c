/*
 * HTTP/1.x head parsing: the incremental line reader, the request and
 * status lines, header fields, and what the tlsworker derives from a
 * complete head (target host and port, body framing, Connection tokens).
 * Everything here runs on bytes from the network and is fuzzed
 * (tests/fuzz/tlsworker_http1.c); nothing here allocates more than the
 * configured head limit allows.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsworker/http1.h"

enum head_state {
	HS_START = 0,	/* request or status line */
	HS_FIELDS,
	HS_DONE,
	HS_ERROR,
};

#define HTTP1_VERSION_LEN 8	/* "HTTP/1.1" */
#define HTTP1_CODE_LEN	  3
#define HTTP1_CODE_MIN	  100

static int	head_fail(struct http1_head *, int, const char *);
static int	head_grow(struct http1_head *, size_t);
static int	head_line(struct http1_head *, char *, size_t);
static int	head_start_line(struct http1_head *, char *, size_t);
static int	head_request_line(struct http1_head *, char *, size_t);
static int	head_status_line(struct http1_head *, char *, size_t);
static int	head_field(struct http1_head *, char *, size_t);
static int	head_finish(struct http1_head *);
static int	head_target(struct http1_head *);
static int	head_absolute(struct http1_head *, const char *, size_t);
static int	head_origin(struct http1_head *, const char *, size_t,
		    size_t);
static int	head_framing(struct http1_head *);
static int	head_request_framing(struct http1_head *, int, int, int);
static int	head_response_framing(struct http1_head *, int, int, int);
static int	head_clen(struct http1_head *, int *);
static int	head_te(struct http1_head *, int *, int *);
static void	head_connection(struct http1_head *);
static int	parse_version(const char *, size_t, int *);
static int	list_next(const char **, const char *, const char **,
		    size_t *);

int
http1_is_tchar(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP, HTAB and obs-text: what a field value may hold. */
int
http1_is_vchar(int c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

void
http1_head_init(struct http1_head *h, int kind, size_t max_head,
    size_t max_fields)
{
	memset(h, 0, sizeof(*h));
	h->hh_kind = kind;
	h->hh_max_head = max_head;
	h->hh_max_fields = max_fields;
}

void
http1_head_reset(struct http1_head *h)
{
	char			*buf = h->hh_buf;
	size_t			 cap = h->hh_cap;
	struct http1_field	*f = h->hh_fields;
	size_t			 fcap = h->hh_fieldcap;
	int			 origin = h->hh_origin;

	/* A kept connection keeps a small buffer, not its largest head. */
	if (cap > HTTP1_HEAD_KEEP) {
		free(buf);
		buf = NULL;
		cap = 0;
	}
	http1_head_init(h, h->hh_kind, h->hh_max_head, h->hh_max_fields);
	h->hh_buf = buf;
	h->hh_cap = cap;
	h->hh_fields = f;
	h->hh_fieldcap = fcap;
	h->hh_origin = origin;
}

void
http1_head_free(struct http1_head *h)
{
	free(h->hh_buf);
	free(h->hh_fields);
	h->hh_buf = NULL;
	h->hh_fields = NULL;
	h->hh_cap = h->hh_fieldcap = 0;
}

static int
head_fail(struct http1_head *h, int status, const char *why)
{
	h->hh_state = HS_ERROR;
	h->hh_status = status;
	h->hh_error = why;
	return HTTP1_ERROR;
}

/* Make room for need more bytes; the cap stays within the head limit. */
static int
head_grow(struct http1_head *h, size_t need)
{
	size_t	 ncap;
	char	*nbuf;

	if (h->hh_len + need <= h->hh_cap)
		return 0;
	ncap = h->hh_cap ? h->hh_cap : HTTP1_HEAD_MIN_ALLOC;
	while (ncap < h->hh_len + need)
		ncap *= 2;
	if (ncap > h->hh_max_head + 1)
		ncap = h->hh_max_head + 1;
	if ((nbuf = realloc(h->hh_buf, ncap)) == NULL)
		return -1;
	h->hh_buf = nbuf;
	h->hh_cap = ncap;
	return 0;
}

int
http1_head_parse(struct http1_head *h, const char *data, size_t len,
    size_t *used)
{
	const char	*nl;
	size_t		 off = 0, n, room;
	char		*line;
	int		 r;

	*used = 0;
	if (h->hh_state == HS_ERROR)
		return HTTP1_ERROR;
	if (h->hh_state == HS_DONE)
		return HTTP1_DONE;
	while (off < len) {
		nl = memchr(data + off, '\n', len - off);
		n = nl ? (size_t)(nl - (data + off)) + 1 : len - off;
		room = h->hh_max_head - h->hh_total;
		if (n > room) {
			*used = off;
			return head_fail(h, 431, "request head too large");
		}
		if (head_grow(h, n) == -1) {
			*used = off;
			return head_fail(h, 500, "out of memory");
		}
		memcpy(h->hh_buf + h->hh_len, data + off, n);
		h->hh_len += n;
		h->hh_total += n;
		off += n;
		if (nl == NULL)
			break;
		/* A whole line: strip the LF (and CR) and NUL-terminate it. */
		line = h->hh_buf + h->hh_line;
		n = h->hh_len - h->hh_line - 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		h->hh_line = h->hh_len;
		r = head_line(h, line, n);
		if (r != HTTP1_MORE) {
			*used = off;
			return r;
		}
	}
	*used = off;
	return HTTP1_MORE;
}

static int
head_line(struct http1_head *h, char *line, size_t len)
{
	/* A CR is legal only right before the LF; a lone one is how
	 * smuggling attempts hide a line end from one parser. */
	if (memchr(line, '\r', len) != NULL)
		return head_fail(h, 400, "bare CR in head");
	if (memchr(line, '\0', len) != NULL)
		return head_fail(h, 400, "NUL in head");
	if (h->hh_state == HS_START)
		return head_start_line(h, line, len);
	if (len == 0)
		return head_finish(h);
	if (line[0] == ' ' || line[0] == '\t')
		return head_fail(h, 400, "obsolete line folding");
	return head_field(h, line, len);
}

static int
head_start_line(struct http1_head *h, char *line, size_t len)
{
	if (len == 0) {
		/* RFC 9112 2.2: a server may skip blank lines before a
		 * request line; bounded, they count into the head limit. */
		if (h->hh_kind == HTTP1_REQUEST &&
		    ++h->hh_empty <= HTTP1_MAX_EMPTY)
			return HTTP1_MORE;
		return head_fail(h, 400, "empty line before start line");
	}
	h->hh_state = HS_FIELDS;
	if (h->hh_kind == HTTP1_REQUEST)
		return head_request_line(h, line, len);
	return head_status_line(h, line, len);
}

/* 0 for HTTP/1.0 and 1.1; otherwise the status to answer. */
static int
parse_version(const char *s, size_t len, int *minor)
{
	if (len != HTTP1_VERSION_LEN || strncmp(s, "HTTP/", 5) != 0 ||
	    s[6] != '.' || s[5] < '0' || s[5] > '9' || s[7] < '0' ||
	    s[7] > '9')
		return 400;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return 505;
	*minor = s[7] - '0';
	return 0;
}

static int
head_request_line(struct http1_head *h, char *line, size_t len)
{
	char	*sp1, *sp2, *p;
	size_t	 i, tlen;
	int	 st;

	if ((sp1 = memchr(line, ' ', len)) == NULL || sp1 == line)
		return head_fail(h, 400, "malformed request line");
	for (p = line; p < sp1; p++)
		if (!http1_is_tchar((unsigned char)*p))
			return head_fail(h, 400, "bad method");
	tlen = len - (size_t)(sp1 + 1 - line);
	if ((sp2 = memchr(sp1 + 1, ' ', tlen)) == NULL || sp2 == sp1 + 1)
		return head_fail(h, 400, "malformed request line");
	for (p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return head_fail(h, 400, "bad request target");
	i = (size_t)(sp2 + 1 - line);
	if ((st = parse_version(sp2 + 1, len - i, &h->hh_minor)) != 0)
		return head_fail(h, st, st == 505 ?
		    "HTTP version not supported" : "bad HTTP version");
	*sp1 = *sp2 = '\0';
	h->hh_method.hs_off = (uint32_t)(line - h->hh_buf);
	h->hh_method.hs_len = (uint32_t)(sp1 - line);
	h->hh_target.hs_off = (uint32_t)(sp1 + 1 - h->hh_buf);
	h->hh_target.hs_len = (uint32_t)(sp2 - sp1 - 1);
	if (strcmp(line, "CONNECT") == 0)
		h->hh_method_id = HTTP1_M_CONNECT;
	else if (strcmp(line, "HEAD") == 0)
		h->hh_method_id = HTTP1_M_HEAD;
	return HTTP1_MORE;
}

static int
head_status_line(struct http1_head *h, char *line, size_t len)
{
	char	*p;
	size_t	 i;
	int	 code = 0;

	if (len < HTTP1_VERSION_LEN + 1 + HTTP1_CODE_LEN ||
	    line[HTTP1_VERSION_LEN] != ' ' ||
	    parse_version(line, HTTP1_VERSION_LEN, &h->hh_minor) != 0)
		return head_fail(h, 502, "bad status line");
	p = line + HTTP1_VERSION_LEN + 1;
	for (i = 0; i < HTTP1_CODE_LEN; i++) {
		if (p[i] < '0' || p[i] > '9')
			return head_fail(h, 502, "bad status code");
		code = code * 10 + (p[i] - '0');
	}
	if (code < HTTP1_CODE_MIN)
		return head_fail(h, 502, "bad status code");
	h->hh_code = code;
	p += HTTP1_CODE_LEN;
	/* "HTTP/1.1 200" without a reason is common enough to accept. */
	if (*p != '\0' && *p != ' ')
		return head_fail(h, 502, "bad status line");
	if (*p == ' ')
		p++;
	h->hh_reason.hs_off = (uint32_t)(p - h->hh_buf);
	h->hh_reason.hs_len = (uint32_t)(line + len - p);
	for (; *p != '\0'; p++)
		if (!http1_is_vchar((unsigned char)*p))
			return head_fail(h, 502, "bad reason phrase");
	return HTTP1_MORE;
}

static int
head_field(struct http1_head *h, char *line, size_t len)
{
	struct http1_field	*f;
	char			*colon, *v, *end, *p;
	size_t			 ncap;

	if ((colon = memchr(line, ':', len)) == NULL || colon == line)
		return head_fail(h, 400, "malformed header field");
	/* Token characters only: this also refuses "Name :" whose space
	 * other parsers would strip (RFC 9112 5.1). */
	for (p = line; p < colon; p++)
		if (!http1_is_tchar((unsigned char)*p))
			return head_fail(h, 400, "bad header field name");
	end = line + len;
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (p = v; p < end; p++)
		if (!http1_is_vchar((unsigned char)*p))
			return head_fail(h, 400, "bad header field value");
	if (h->hh_nfields >= h->hh_max_fields)
		return head_fail(h, 431, "too many header fields");
	if (h->hh_nfields == h->hh_fieldcap) {
		ncap = h->hh_fieldcap ? h->hh_fieldcap * 2 : 16;
		if (ncap > h->hh_max_fields)
			ncap = h->hh_max_fields;
		f = reallocarray(h->hh_fields, ncap, sizeof(*f));
		if (f == NULL)
			return head_fail(h, 500, "out of memory");
		h->hh_fields = f;
		h->hh_fieldcap = ncap;
	}
	*colon = '\0';
	*end = '\0';
	f = &h->hh_fields[h->hh_nfields++];
	f->hf_name.hs_off = (uint32_t)(line - h->hh_buf);
	f->hf_name.hs_len = (uint32_t)(colon - line);
	f->hf_value.hs_off = (uint32_t)(v - h->hh_buf);
	f->hf_value.hs_len = (uint32_t)(end - v);
	return HTTP1_MORE;
}

static int
head_finish(struct http1_head *h)
{
	int	 r;

	if (h->hh_kind == HTTP1_REQUEST && (r = head_target(h)) != HTTP1_MORE)
		return r;
	if ((r = head_framing(h)) != HTTP1_MORE)
		return r;
	head_connection(h);
	h->hh_state = HS_DONE;
	return HTTP1_DONE;
}

static int
head_target(struct http1_head *h)
{
	const char	*t = http1_str(h, h->hh_target);
	size_t		 tlen = h->hh_target.hs_len, i, nhost = 0;

	for (i = 0; i < h->hh_nfields; i++)
		if (strcasecmp(http1_str(h, h->hh_fields[i].hf_name),
		    "Host") == 0)
			nhost++;
	if (nhost > 1)
		return head_fail(h, 400, "more than one Host field");
	if (h->hh_origin)
		return head_origin(h, t, tlen, nhost);
	if (h->hh_method_id == HTTP1_M_CONNECT) {
		if (http1_parse_authority(t, tlen, h->hh_host,
		    sizeof(h->hh_host), &h->hh_host_v6, &h->hh_port, 0) == -1)
			return head_fail(h, 400, "bad CONNECT target: "
			    "want host:port or [v6]:port");
		return HTTP1_MORE;
	}
	return head_absolute(h, t, tlen);
}

/*
 * A request inside a CONNECT tunnel goes to the tunnel's target whatever
 * it says: origin-form ("/path"), "*" for OPTIONS, or an absolute-form
 * target, all forwarded as they are. RFC 9112 3.2: an HTTP/1.1 request
 * without Host is refused.
 */
static int
head_origin(struct http1_head *h, const char *t, size_t tlen, size_t nhost)
{
	if (h->hh_method_id == HTTP1_M_CONNECT)
		return head_fail(h, 400, "CONNECT inside a tunnel");
	if (h->hh_minor >= 1 && nhost == 0)
		return head_fail(h, 400, "no Host field");
	if (tlen > 0 && t[0] == '/')
		return HTTP1_MORE;
	if (tlen == 1 && t[0] == '*' &&
	    strcmp(http1_str(h, h->hh_method), "OPTIONS") == 0)
		return HTTP1_MORE;
	if (strncasecmp(t, "http://", 7) == 0 ||
	    strncasecmp(t, "https://", 8) == 0)
		return HTTP1_MORE;
	return head_fail(h, 400, "bad request target");
}

static int
head_absolute(struct http1_head *h, const char *t, size_t tlen)
{
	const char	*auth, *end;
	size_t		 slen;

	if (tlen > 0 && (t[0] == '/' || t[0] == '*'))
		return head_fail(h, 400, "a proxy needs an absolute-form "
		    "target (http://host/path)");
	if ((end = strstr(t, "://")) == NULL)
		return head_fail(h, 400, "bad request target");
	slen = (size_t)(end - t);
	if (slen == 5 && strncasecmp(t, "https", slen) == 0)
		return head_fail(h, 501, "https:// targets are not "
		    "supported: use CONNECT");
	if (slen != 4 || strncasecmp(t, "http", slen) != 0)
		return head_fail(h, 501, "only http:// targets are supported");
	auth = end + 3;
	end = auth + strcspn(auth, "/?#");
	if (strchr(end, '#') != NULL)
		return head_fail(h, 400, "fragment in request target");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return head_fail(h, 400, "userinfo in request target");
	if (http1_parse_authority(auth, (size_t)(end - auth), h->hh_host,
	    sizeof(h->hh_host), &h->hh_host_v6, &h->hh_port,
	    HTTP1_PORT_HTTP) == -1)
		return head_fail(h, 400, "bad host in request target");
	h->hh_path.hs_off = (uint32_t)(end - h->hh_buf);
	h->hh_path.hs_len = (uint32_t)(t + tlen - end);
	return HTTP1_MORE;
}

/*
 * The next element of a comma-separated list, whitespace trimmed; empty
 * elements are skipped as RFC 9110 5.6.1 asks. 0 at the end.
 */
static int
list_next(const char **pp, const char *end, const char **elem, size_t *len)
{
	const char	*p = *pp, *e;

	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p >= end) {
			*pp = p;
			return 0;
		}
		e = p;
		while (e < end && *e != ',')
			e++;
		*pp = e;
		*elem = p;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*len = (size_t)(e - p);
		return 1;
	}
}

static int
field_is(const struct http1_head *h, const struct http1_field *f,
    const char *name)
{
	return strcasecmp(http1_str(h, f->hf_name), name) == 0;
}

/* 1 Content-Length present and valid, 0 absent, -1 invalid. */
static int
head_clen(struct http1_head *h, int *present)
{
	const struct http1_field *f;
	const char	*p, *end, *e;
	size_t		 i, elen, k;
	uint64_t	 v;
	int		 seen = 0;

	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		if (!field_is(h, f, "Content-Length"))
			continue;
		p = http1_str(h, f->hf_value);
		end = p + f->hf_value.hs_len;
		if (p == end)
			return -1;
		while (list_next(&p, end, &e, &elen)) {
			v = 0;
			for (k = 0; k < elen; k++) {
				if (e[k] < '0' || e[k] > '9')
					return -1;
				v = v * 10 + (uint64_t)(e[k] - '0');
				if (v > HTTP1_CLEN_MAX)
					return -1;
			}
			/* "5, 5" and two equal fields are one length;
			 * different values are an attack or a bug. */
			if (seen && v != h->hh_clen)
				return -1;
			h->hh_clen = v;
			seen = 1;
		}
		if (!seen)
			return -1;
	}
	*present = seen;
	return 0;
}

/* Transfer-Encoding: *present, and *chunked when exactly "chunked" is the
 * final coding and appears once. -1 on a malformed list. */
static int
head_te(struct http1_head *h, int *present, int *chunked)
{
	const struct http1_field *f;
	const char	*p, *end, *e;
	size_t		 i, elen, n = 0, nchunked = 0;
	int		 last = 0;

	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		if (!field_is(h, f, "Transfer-Encoding"))
			continue;
		*present = 1;
		p = http1_str(h, f->hf_value);
		end = p + f->hf_value.hs_len;
		while (list_next(&p, end, &e, &elen)) {
			n++;
			last = elen == 7 && strncasecmp(e, "chunked", 7) == 0;
			if (last)
				nchunked++;
		}
	}
	if (*present && n == 0)
		return -1;
	*chunked = last && nchunked == 1;
	if (nchunked > 0 && !*chunked)
		return -1;
	/* Only "chunked" alone is understood for requests; the caller
	 * tells codings before it apart by this count. */
	return (int)n;
}

static int
head_framing(struct http1_head *h)
{
	int	 clen = 0, te = 0, chunked = 0, ncodings;

	if (head_clen(h, &clen) == -1)
		return head_fail(h, h->hh_kind == HTTP1_REQUEST ? 400 : 502,
		    "bad Content-Length");
	if ((ncodings = head_te(h, &te, &chunked)) == -1)
		return head_fail(h, h->hh_kind == HTTP1_REQUEST ? 400 : 502,
		    "bad Transfer-Encoding");
	if (h->hh_kind == HTTP1_REQUEST)
		return head_request_framing(h, clen, te,
		    chunked ? ncodings : 0);
	return head_response_framing(h, clen, te, chunked);
}

/* chunked: the number of codings when chunked is the final one, else 0. */
static int
head_request_framing(struct http1_head *h, int clen, int te, int chunked)
{
	if (te) {
		/* RFC 9112 6.1 and 6.3: both framings, or chunked not the
		 * final coding, leave the body's end ambiguous. */
		if (clen)
			return head_fail(h, 400,
			    "Transfer-Encoding with Content-Length");
		if (h->hh_minor == 0)
			return head_fail(h, 400,
			    "Transfer-Encoding in an HTTP/1.0 request");
		if (!chunked)
			return head_fail(h, 400,
			    "chunked is not the final transfer coding");
		if (chunked > 1)
			return head_fail(h, 501,
			    "transfer coding not supported");
		h->hh_framing = HTTP1_BODY_CHUNKED;
	} else if (clen && h->hh_clen > 0)
		h->hh_framing = HTTP1_BODY_LENGTH;
	else
		h->hh_framing = HTTP1_BODY_NONE;
	if (h->hh_method_id == HTTP1_M_CONNECT &&
	    h->hh_framing != HTTP1_BODY_NONE)
		return head_fail(h, 400, "CONNECT with a body");
	return HTTP1_MORE;
}

static int
head_response_framing(struct http1_head *h, int clen, int te, int chunked)
{
	int	 c = h->hh_code;

	if (h->hh_req_head || c / 100 == 1 || c == 204 || c == 304) {
		h->hh_framing = HTTP1_BODY_NONE;
		return HTTP1_MORE;
	}
	if (te) {
		/* A proxy would have to drop the Content-Length; refusing
		 * the response keeps the ambiguity away from the client. */
		if (clen || h->hh_minor == 0)
			return head_fail(h, 502, "ambiguous response framing");
		h->hh_framing = chunked ? HTTP1_BODY_CHUNKED :
		    HTTP1_BODY_CLOSE;
	} else if (clen)
		h->hh_framing = h->hh_clen > 0 ? HTTP1_BODY_LENGTH :
		    HTTP1_BODY_NONE;
	else
		h->hh_framing = HTTP1_BODY_CLOSE;
	return HTTP1_MORE;
}

static void
head_connection(struct http1_head *h)
{
	const struct http1_field *f;
	const char	*p, *end, *e;
	size_t		 i, elen;

	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		if (!field_is(h, f, "Connection"))
			continue;
		p = http1_str(h, f->hf_value);
		end = p + f->hf_value.hs_len;
		while (list_next(&p, end, &e, &elen)) {
			if (elen == 5 && strncasecmp(e, "close", 5) == 0)
				h->hh_conn_close = 1;
			else if (elen == 10 &&
			    strncasecmp(e, "keep-alive", 10) == 0)
				h->hh_conn_keep = 1;
		}
	}
}

const char *
http1_str(const struct http1_head *h, struct http1_str s)
{
	if (h->hh_buf == NULL)
		return "";
	return h->hh_buf + s.hs_off;
}

const struct http1_field *
http1_field(const struct http1_head *h, const char *name)
{
	size_t	 i;

	for (i = 0; i < h->hh_nfields; i++)
		if (field_is(h, &h->hh_fields[i], name))
			return &h->hh_fields[i];
	return NULL;
}

int
http1_keepalive(const struct http1_head *h)
{
	if (h->hh_conn_close)
		return 0;
	return h->hh_minor >= 1 || h->hh_conn_keep;
}

/* Is elem (a list element) the token tok, up to a "/version" after it? */
static int
list_is(const char *elem, size_t len, const char *tok)
{
	size_t	 n = strlen(tok);

	return len >= n && strncasecmp(elem, tok, n) == 0 &&
	    (len == n || elem[n] == '/');
}

static int
field_lists(const struct http1_head *h, const char *name, const char *tok)
{
	const char	*p, *end, *e;
	size_t		 i, elen;

	for (i = 0; i < h->hh_nfields; i++) {
		if (!field_is(h, &h->hh_fields[i], name))
			continue;
		p = http1_str(h, h->hh_fields[i].hf_value);
		end = p + h->hh_fields[i].hf_value.hs_len;
		while (list_next(&p, end, &e, &elen))
			if (list_is(e, elen, tok))
				return 1;
	}
	return 0;
}

int
http1_upgrade_to(const struct http1_head *h, const char *proto)
{
	return field_lists(h, "Connection", "upgrade") &&
	    field_lists(h, "Upgrade", proto);
}

int
http1_field_is_hop(const struct http1_head *h, const struct http1_field *f)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authorization", "TE", "Trailer", "Upgrade",
	};
	const char	*name = http1_str(h, f->hf_name), *p, *end, *e;
	size_t		 i, elen, nlen = f->hf_name.hs_len;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	for (i = 0; i < h->hh_nfields; i++) {
		if (!field_is(h, &h->hh_fields[i], "Connection"))
			continue;
		p = http1_str(h, h->hh_fields[i].hf_value);
		end = p + h->hh_fields[i].hf_value.hs_len;
		while (list_next(&p, end, &e, &elen))
			if (elen == nlen && strncasecmp(e, name, nlen) == 0)
				return 1;
	}
	return 0;
}
