/*
 * The rest of the HTTP/1.x toolkit around the head parser: authority
 * (host and port) parsing for CONNECT and absolute-form targets, the heads
 * the proxy writes when it forwards a plain-HTTP exchange, the chunked
 * transfer-coding walker, and reason phrases. Like http1.c, everything
 * here sees untrusted bytes and is covered by the fuzz target.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "tlsworker/http1.h"

#define HTTP1_LABEL_MAX	 63	/* bytes of one DNS label */
#define HTTP1_PORT_DIGITS 5
#define HTTP1_PORT_MAX	 65535
#define HTTP1_V6_MAX	 INET6_ADDRSTRLEN
#define HTTP1_BUILD_MIN	 512	/* first allocation of a built head */

static int	authority_v6(const char *, size_t, char *, size_t,
		    const char **);
static int	authority_name(const char *, size_t, char *, size_t);
static int	authority_port(const char *, size_t, uint16_t *);

/* The port after the colon: 1 to 5 digits, 1..65535. */
static int
authority_port(const char *p, size_t len, uint16_t *port)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (len == 0 || len > HTTP1_PORT_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > HTTP1_PORT_MAX)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "[v6]" at the start of s; *rest points past the bracket. */
static int
authority_v6(const char *s, size_t len, char *host, size_t hostsz,
    const char **rest)
{
	const char	*close;
	char		 tmp[HTTP1_V6_MAX];
	struct in6_addr	 in6;
	size_t		 n;

	if ((close = memchr(s, ']', len)) == NULL)
		return -1;
	n = (size_t)(close - s - 1);
	if (n == 0 || n >= sizeof(tmp) || n >= hostsz)
		return -1;
	memcpy(tmp, s + 1, n);
	tmp[n] = '\0';
	/* inet_pton refuses zone ids ("%eth0"), which is what we want. */
	if (inet_pton(AF_INET6, tmp, &in6) != 1)
		return -1;
	for (size_t i = 0; i <= n; i++)
		host[i] = (char)tolower((unsigned char)tmp[i]);
	*rest = close + 1;
	return 0;
}

/* A DNS name or an IPv4 literal: letters, digits, '-', '_' and dots
 * between non-empty labels, one trailing dot allowed. Lower-cased. */
static int
authority_name(const char *s, size_t len, char *host, size_t hostsz)
{
	size_t	 i, label = 0;
	int	 c;

	if (len == 0 || len > HTTP1_HOST_MAX || len >= hostsz)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > HTTP1_LABEL_MAX)
				return -1;
		} else
			return -1;
		host[i] = (char)tolower(c);
	}
	host[len] = '\0';
	return 0;
}

int
http1_parse_authority(const char *s, size_t len, char *host, size_t hostsz,
    int *is_v6, uint16_t *port, uint16_t port_default)
{
	const char	*rest, *colon, *end = s + len;

	*is_v6 = 0;
	if (len == 0 || hostsz == 0)
		return -1;
	if (s[0] == '[') {
		if (authority_v6(s, len, host, hostsz, &rest) == -1)
			return -1;
		*is_v6 = 1;
	} else {
		colon = memchr(s, ':', len);
		rest = colon ? colon : end;
		if (authority_name(s, (size_t)(rest - s), host, hostsz) == -1)
			return -1;
	}
	if (rest == end) {
		if (port_default == 0)
			return -1;
		*port = port_default;
		return 0;
	}
	if (*rest != ':')
		return -1;
	return authority_port(rest + 1, (size_t)(end - rest - 1), port);
}

int
http1_hostport(const struct http1_head *h, char *buf, size_t sz)
{
	int	 n;

	n = snprintf(buf, sz, h->hh_host_v6 ? "[%s]:%u" : "%s:%u",
	    h->hh_host, (unsigned)h->hh_port);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* A growing string for the heads the proxy writes. */
struct sbuf {
	char	*sb_buf;
	size_t	 sb_len;
	size_t	 sb_cap;
	int	 sb_err;
};

static void
sb_add(struct sbuf *sb, const char *s, size_t n)
{
	size_t	 ncap;
	char	*nb;

	if (sb->sb_err)
		return;
	if (sb->sb_len + n + 1 > sb->sb_cap) {
		ncap = sb->sb_cap ? sb->sb_cap : HTTP1_BUILD_MIN;
		while (ncap < sb->sb_len + n + 1)
			ncap *= 2;
		if ((nb = realloc(sb->sb_buf, ncap)) == NULL) {
			sb->sb_err = 1;
			return;
		}
		sb->sb_buf = nb;
		sb->sb_cap = ncap;
	}
	memcpy(sb->sb_buf + sb->sb_len, s, n);
	sb->sb_len += n;
	sb->sb_buf[sb->sb_len] = '\0';
}

static void
sb_str(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

static char *
sb_finish(struct sbuf *sb, size_t *len)
{
	if (sb->sb_err) {
		free(sb->sb_buf);
		return NULL;
	}
	*len = sb->sb_len;
	return sb->sb_buf;
}

/* Copy the end-to-end fields, skipping hop-by-hop ones and skip_name. */
static void
sb_fields(struct sbuf *sb, const struct http1_head *h, const char *skip)
{
	const struct http1_field *f;
	size_t	 i;

	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		/* A WebSocket handshake needs its Upgrade on the next hop
		 * too (RFC 9110 7.8: a proxy may pass it on). */
		if (http1_field_is_hop(h, f) && !(h->hh_keep_upgrade &&
		    strcasecmp(http1_str(h, f->hf_name), "Upgrade") == 0))
			continue;
		if (skip && strcasecmp(http1_str(h, f->hf_name), skip) == 0)
			continue;
		sb_add(sb, http1_str(h, f->hf_name), f->hf_name.hs_len);
		sb_add(sb, ": ", 2);
		sb_add(sb, http1_str(h, f->hf_value), f->hf_value.hs_len);
		sb_add(sb, "\r\n", 2);
	}
	if (h->hh_keep_upgrade)
		sb_str(sb, "Connection: Upgrade\r\n");
}

/* Inside a tunnel: the target as the client wrote it, its Host kept. */
static char *
build_request_origin(const struct http1_head *h, size_t *len)
{
	struct sbuf	 sb = { 0 };

	sb_add(&sb, http1_str(h, h->hh_method), h->hh_method.hs_len);
	sb_add(&sb, " ", 1);
	sb_add(&sb, http1_str(h, h->hh_target), h->hh_target.hs_len);
	sb_str(&sb, h->hh_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	sb_fields(&sb, h, NULL);
	if (h->hh_minor == 0)
		sb_str(&sb, "Connection: keep-alive\r\n");
	sb_add(&sb, "\r\n", 2);
	return sb_finish(&sb, len);
}

char *
http1_build_request(const struct http1_head *h, size_t *len)
{
	struct sbuf	 sb = { 0 };
	char		 port[sizeof(":65535")];
	const char	*path = http1_str(h, h->hh_path);

	if (h->hh_origin)
		return build_request_origin(h, len);
	sb_add(&sb, http1_str(h, h->hh_method), h->hh_method.hs_len);
	sb_add(&sb, " ", 1);
	if (h->hh_path.hs_len == 0 || path[0] != '/')
		sb_add(&sb, "/", 1);
	sb_add(&sb, path, h->hh_path.hs_len);
	sb_str(&sb, h->hh_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	/* RFC 9112 3.2.2: the target's authority replaces any Host the
	 * client sent, so the origin and the policy see the same host. */
	sb_str(&sb, "Host: ");
	if (h->hh_host_v6)
		sb_add(&sb, "[", 1);
	sb_str(&sb, h->hh_host);
	if (h->hh_host_v6)
		sb_add(&sb, "]", 1);
	if (h->hh_port != HTTP1_PORT_HTTP) {
		snprintf(port, sizeof(port), ":%u", (unsigned)h->hh_port);
		sb_str(&sb, port);
	}
	sb_add(&sb, "\r\n", 2);
	sb_fields(&sb, h, "Host");
	/* An HTTP/1.0 origin closes after each response unless asked. */
	if (h->hh_minor == 0)
		sb_str(&sb, "Connection: keep-alive\r\n");
	sb_add(&sb, "\r\n", 2);
	return sb_finish(&sb, len);
}

char *
http1_build_response(const struct http1_head *h, int keep_alive,
    int client_minor, size_t *len)
{
	struct sbuf	 sb = { 0 };
	char		 code[sizeof("HTTP/1.1 999 ")];

	snprintf(code, sizeof(code), "HTTP/1.1 %03d ", h->hh_code);
	sb_str(&sb, code);
	sb_add(&sb, http1_str(h, h->hh_reason), h->hh_reason.hs_len);
	sb_add(&sb, "\r\n", 2);
	sb_fields(&sb, h, NULL);
	if (h->hh_code / 100 != 1) {
		if (!keep_alive)
			sb_str(&sb, "Connection: close\r\n");
		else if (client_minor == 0)
			sb_str(&sb, "Connection: keep-alive\r\n");
	}
	sb_add(&sb, "\r\n", 2);
	return sb_finish(&sb, len);
}

/*
 * Chunked transfer coding (RFC 9112 7.1). The relay forwards the bytes
 * unchanged, so this walker is strict where parsers disagree: CRLF only
 * (no lone LF), hex sizes without sign or whitespace inside, bounded size
 * lines and trailer sections.
 */
enum chunk_state {
	CK_SIZE = 0,	/* first hex digit */
	CK_SIZE_MORE,	/* more digits, ';', BWS or CR */
	CK_SIZE_BWS,	/* whitespace after the size: only ';' follows */
	CK_EXT,		/* extensions up to CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER,	/* start of a trailer line, or the final CRLF */
	CK_TNAME,
	CK_TVALUE,
	CK_TRAILER_LF,
	CK_END_LF,
	CK_DONE,
	CK_ERROR,
};

void
http1_chunked_init(struct http1_chunked *ck)
{
	memset(ck, 0, sizeof(*ck));
}

static int
ck_fail(struct http1_chunked *ck, const char *why)
{
	ck->ck_state = CK_ERROR;
	ck->ck_error = why;
	return HTTP1_ERROR;
}

/* One byte of a chunk-size line. */
static int
ck_size_byte(struct http1_chunked *ck, int c)
{
	int	 d = util_hexval(c);

	if (++ck->ck_line > HTTP1_CHUNK_LINE_MAX)
		return ck_fail(ck, "chunk size line too long");
	switch (ck->ck_state) {
	case CK_SIZE:
	case CK_SIZE_MORE:
		if (d >= 0) {
			if (++ck->ck_digits > HTTP1_CHUNK_DIGITS ||
			    ck->ck_left > (HTTP1_CLEN_MAX >> 4))
				return ck_fail(ck, "chunk size too large");
			ck->ck_left = (ck->ck_left << 4) | (uint64_t)d;
			ck->ck_state = CK_SIZE_MORE;
			return HTTP1_MORE;
		}
		if (ck->ck_state == CK_SIZE)
			return ck_fail(ck, "bad chunk size");
		/* FALLTHROUGH */
	case CK_SIZE_BWS:
		if (c == ';')
			ck->ck_state = CK_EXT;
		else if (c == ' ' || c == '\t')
			ck->ck_state = CK_SIZE_BWS;
		else if (c == '\r' && ck->ck_state == CK_SIZE_MORE)
			ck->ck_state = CK_SIZE_LF;
		else
			return ck_fail(ck, "bad chunk size line");
		return HTTP1_MORE;
	case CK_EXT:
		if (c == '\r')
			ck->ck_state = CK_SIZE_LF;
		else if (!http1_is_vchar(c))
			return ck_fail(ck, "bad chunk extension");
		return HTTP1_MORE;
	}
	return ck_fail(ck, "chunk state");
}

/* One byte of the trailer section (fields after the last chunk). */
static int
ck_trailer_byte(struct http1_chunked *ck, int c)
{
	if (++ck->ck_trailer > HTTP1_TRAILER_MAX)
		return ck_fail(ck, "trailer section too large");
	switch (ck->ck_state) {
	case CK_TRAILER:
		if (c == '\r') {
			ck->ck_state = CK_END_LF;
			return HTTP1_MORE;
		}
		if (!http1_is_tchar(c))
			return ck_fail(ck, "bad trailer field");
		if (++ck->ck_tlines > HTTP1_TRAILER_FIELDS)
			return ck_fail(ck, "too many trailer fields");
		ck->ck_state = CK_TNAME;
		return HTTP1_MORE;
	case CK_TNAME:
		if (c == ':')
			ck->ck_state = CK_TVALUE;
		else if (!http1_is_tchar(c))
			return ck_fail(ck, "bad trailer field name");
		return HTTP1_MORE;
	case CK_TVALUE:
		if (c == '\r')
			ck->ck_state = CK_TRAILER_LF;
		else if (!http1_is_vchar(c))
			return ck_fail(ck, "bad trailer field value");
		return HTTP1_MORE;
	}
	return ck_fail(ck, "chunk state");
}

/* One byte that must be the LF of a CRLF. */
static int
ck_lf_byte(struct http1_chunked *ck, int c)
{
	if (c != '\n')
		return ck_fail(ck, "CR without LF in chunked body");
	switch (ck->ck_state) {
	case CK_SIZE_LF:
		ck->ck_state = ck->ck_left ? CK_DATA : CK_TRAILER;
		ck->ck_line = 0;
		ck->ck_digits = 0;
		return HTTP1_MORE;
	case CK_DATA_LF:
	case CK_TRAILER_LF:
		ck->ck_state = ck->ck_state == CK_DATA_LF ? CK_SIZE :
		    CK_TRAILER;
		return HTTP1_MORE;
	case CK_END_LF:
		ck->ck_state = CK_DONE;
		return HTTP1_DONE;
	}
	return ck_fail(ck, "chunk state");
}

int
http1_chunked_feed(struct http1_chunked *ck, const char *buf, size_t len,
    size_t *used, http1_data_fn *fn, void *arg)
{
	size_t	 off = 0, n;
	int	 r = HTTP1_MORE, c;

	*used = 0;
	if (ck->ck_state == CK_ERROR)
		return HTTP1_ERROR;
	while (off < len && r == HTTP1_MORE) {
		c = (unsigned char)buf[off];
		switch (ck->ck_state) {
		case CK_DATA:
			n = len - off;
			if (n > ck->ck_left)
				n = (size_t)ck->ck_left;
			if (fn != NULL)
				fn(arg, buf + off, n);
			ck->ck_left -= n;
			off += n;
			if (ck->ck_left == 0)
				ck->ck_state = CK_DATA_CR;
			continue;
		case CK_DATA_CR:
			if (c != '\r')
				r = ck_fail(ck, "chunk data overrun");
			else
				ck->ck_state = CK_DATA_LF;
			break;
		case CK_SIZE_LF:
		case CK_DATA_LF:
		case CK_TRAILER_LF:
		case CK_END_LF:
			if (ck->ck_tfn != NULL && ck->ck_state == CK_TRAILER_LF &&
			    c == '\n')
				ck->ck_tfn(ck->ck_targ, buf + off, 1);
			r = ck_lf_byte(ck, c);
			break;
		case CK_TRAILER:
		case CK_TNAME:
		case CK_TVALUE:
			r = ck_trailer_byte(ck, c);
			if (ck->ck_tfn != NULL && r == HTTP1_MORE &&
			    ck->ck_state != CK_END_LF)
				ck->ck_tfn(ck->ck_targ, buf + off, 1);
			break;
		case CK_DONE:
			*used = off;
			return HTTP1_DONE;
		case CK_ERROR:
			*used = off;
			return HTTP1_ERROR;
		default:
			r = ck_size_byte(ck, c);
			break;
		}
		if (r != HTTP1_ERROR)
			off++;
	}
	*used = off;
	if (r == HTTP1_MORE && ck->ck_state == CK_DONE)
		return HTTP1_DONE;
	return r;
}

const char *
http1_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}
