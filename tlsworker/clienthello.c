/*
 * The ClientHello parser (see clienthello.h): reassembles the handshake
 * message from its records into a bounded buffer, then walks the
 * ClientHello with a cursor that never reads past its span. Strict where
 * RFC 8446 and RFC 6066 are: zero-length or oversized records, records of
 * another type in the middle of the hello, duplicate extensions, lengths
 * that do not add up, two host_names are refused. A host_name whose
 * bytes are no DNS name is ignored rather than refused: clients in use
 * send "127.0.0.1:443" (Go's hey) and the connection is still good.
 */
#include <ctype.h>
#include <string.h>

#include "tlsworker/clienthello.h"

#define TLS_REC_HDR	  5	/* type, version, length */
#define TLS_REC_MAX	  16384	/* 2^14, RFC 8446 5.1 */
#define TLS_CT_HANDSHAKE  22
#define TLS_HS_HDR	  4	/* type, 24-bit length */
#define TLS_HS_CLIENTHELLO 1
#define TLS_MAJOR	  3
#define TLS_MINOR_MAX	  4	/* record versions 3.0 .. 3.4 */
#define TLS_RANDOM_LEN	  32
#define TLS_SESSID_MAX	  32
#define TLS_VERSION_13	  0x0304
#define EXT_SERVER_NAME	  0
#define EXT_ALPN	  16
#define EXT_SUPPORTED_VERSIONS 43
#define SNI_HOST_NAME	  0
#define HTTP_METHOD_MAX	  16	/* a request line's method token */

/* A bounded read cursor over one span of the message. */
struct cur {
	const uint8_t	*c_p;
	size_t		 c_left;
	int		 c_bad;
};

static int	ch_fail(struct clienthello *, int, const char *);
static int	ch_body(struct clienthello *, const uint8_t *, size_t);
static int	ch_extensions(struct clienthello *, struct cur *);
static int	ch_sni(struct clienthello *, struct cur *);
static int	ch_alpn(struct clienthello *, struct cur *);
static int	ch_versions(struct clienthello *, struct cur *);

static uint32_t
cur_get(struct cur *c, size_t n)
{
	uint32_t v = 0;
	size_t	 i;

	if (c->c_bad || c->c_left < n) {
		c->c_bad = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = (v << 8) | c->c_p[i];
	c->c_p += n;
	c->c_left -= n;
	return v;
}

/* A sub-cursor over the next n bytes, which this one skips. */
static struct cur
cur_sub(struct cur *c, size_t n)
{
	struct cur s = { NULL, 0, 1 };

	if (c->c_bad || c->c_left < n) {
		c->c_bad = 1;
		return s;
	}
	s.c_p = c->c_p;
	s.c_left = n;
	s.c_bad = 0;
	c->c_p += n;
	c->c_left -= n;
	return s;
}

static int
ch_fail(struct clienthello *ch, int r, const char *why)
{
	ch->ch_error = why;
	return r;
}

/* The record header at buf: NOT_TLS for the very first one (the tunnel
 * does not carry TLS), MALFORMED further on. */
static int
ch_record_ok(struct clienthello *ch, const uint8_t *buf, size_t avail,
    int first)
{
	int	 bad = first ? CH_NOT_TLS : CH_MALFORMED;

	if (avail >= 1 && buf[0] != TLS_CT_HANDSHAKE)
		return ch_fail(ch, bad, first ? "not a TLS handshake" :
		    "another record type inside the ClientHello");
	if (avail >= 2 && buf[1] != TLS_MAJOR)
		return ch_fail(ch, bad, "not a TLS record version");
	if (avail >= 3 && buf[2] > TLS_MINOR_MAX)
		return ch_fail(ch, bad, "not a TLS record version");
	return CH_NEED_MORE;
}

int
clienthello_parse(const uint8_t *buf, size_t len, struct clienthello *ch)
{
	uint8_t		 msg[CH_MAX];
	size_t		 off = 0, mlen = 0, rlen, take, hlen = 0;
	int		 r;

	memset(ch, 0, sizeof(*ch));
	for (;;) {
		r = ch_record_ok(ch, buf + off, len - off, off == 0);
		if (r != CH_NEED_MORE)
			return r;
		if (len - off < TLS_REC_HDR)
			return CH_NEED_MORE;
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rlen == 0 || rlen > TLS_REC_MAX)
			return ch_fail(ch, CH_MALFORMED, "bad record length");
		if (len - off - TLS_REC_HDR < rlen)
			return CH_NEED_MORE;
		/* Bytes past the hello in its last record (none from a
		 * real client) are left to the TLS library. */
		take = rlen;
		if (mlen >= TLS_HS_HDR && take > hlen + TLS_HS_HDR - mlen)
			take = hlen + TLS_HS_HDR - mlen;
		if (take > sizeof(msg) - mlen)
			return ch_fail(ch, CH_MALFORMED, "ClientHello too large");
		memcpy(msg + mlen, buf + off + TLS_REC_HDR, take);
		mlen += take;
		off += TLS_REC_HDR + rlen;
		if (mlen < TLS_HS_HDR)
			continue;
		if (msg[0] != TLS_HS_CLIENTHELLO)
			return ch_fail(ch, CH_MALFORMED,
			    "first handshake message is not a ClientHello");
		hlen = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
		if (hlen + TLS_HS_HDR > sizeof(msg))
			return ch_fail(ch, CH_MALFORMED, "ClientHello too large");
		if (mlen > hlen + TLS_HS_HDR)
			mlen = hlen + TLS_HS_HDR;
		if (mlen < hlen + TLS_HS_HDR)
			continue;
		ch->ch_len = off;
		return ch_body(ch, msg + TLS_HS_HDR, hlen);
	}
}

static int
ch_body(struct clienthello *ch, const uint8_t *p, size_t len)
{
	struct cur	 c = { p, len, 0 }, s;
	size_t		 n;

	ch->ch_legacy_version = (uint16_t)cur_get(&c, 2);
	if (!c.c_bad && ch->ch_legacy_version >> 8 != TLS_MAJOR)
		return ch_fail(ch, CH_MALFORMED, "bad ClientHello version");
	(void)cur_sub(&c, TLS_RANDOM_LEN);
	n = cur_get(&c, 1);
	if (n > TLS_SESSID_MAX)
		return ch_fail(ch, CH_MALFORMED, "session id too long");
	(void)cur_sub(&c, n);
	n = cur_get(&c, 2);
	if (!c.c_bad && (n < 2 || n % 2 != 0))
		return ch_fail(ch, CH_MALFORMED, "bad cipher suite list");
	(void)cur_sub(&c, n);
	n = cur_get(&c, 1);
	if (!c.c_bad && n < 1)
		return ch_fail(ch, CH_MALFORMED, "no compression method");
	(void)cur_sub(&c, n);
	if (c.c_bad)
		return ch_fail(ch, CH_MALFORMED, "truncated ClientHello");
	if (c.c_left == 0)
		return CH_OK;	/* no extensions (an old TLS 1.2 client) */
	n = cur_get(&c, 2);
	s = cur_sub(&c, n);
	if (c.c_bad || c.c_left != 0)
		return ch_fail(ch, CH_MALFORMED, "bad extensions length");
	return ch_extensions(ch, &s);
}

static int
ch_extensions(struct clienthello *ch, struct cur *c)
{
	uint16_t	 seen[CH_EXT_MAX];
	size_t		 nseen = 0, i;
	uint32_t	 type, n;
	struct cur	 e;
	int		 r = CH_OK;

	while (c->c_left > 0 && r == CH_OK) {
		type = cur_get(c, 2);
		n = cur_get(c, 2);
		e = cur_sub(c, n);
		if (c->c_bad)
			return ch_fail(ch, CH_MALFORMED, "truncated extension");
		if (nseen == CH_EXT_MAX)
			return ch_fail(ch, CH_MALFORMED, "too many extensions");
		for (i = 0; i < nseen; i++)
			if (seen[i] == type)
				return ch_fail(ch, CH_MALFORMED,
				    "duplicate extension");
		seen[nseen++] = (uint16_t)type;
		switch (type) {
		case EXT_SERVER_NAME:
			r = ch_sni(ch, &e);
			break;
		case EXT_ALPN:
			r = ch_alpn(ch, &e);
			break;
		case EXT_SUPPORTED_VERSIONS:
			r = ch_versions(ch, &e);
			break;
		}
	}
	return r;
}

/* A host_name: letters, digits, '-', '_' and dots between non-empty
 * labels, one trailing dot dropped; lower-cased into ch_sni. Anything
 * else is no name to connect to or to put in a certificate: ignored. */
static int
ch_host_name(struct clienthello *ch, const uint8_t *p, size_t n)
{
	size_t	 i, label = 0;

	if (n == 0)
		return ch_fail(ch, CH_MALFORMED, "empty server name");
	if (p[n - 1] == '.')
		n--;
	if (n == 0 || n > CH_SNI_MAX)
		goto ignore;
	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (label == 0)
				goto ignore;
			label = 0;
		} else if (isalnum(p[i]) || p[i] == '-' || p[i] == '_')
			label++;
		else
			goto ignore;
		ch->ch_sni[i] = (char)tolower(p[i]);
	}
	ch->ch_sni[n] = '\0';
	ch->ch_has_sni = 1;
	return CH_OK;
 ignore:
	ch->ch_sni[0] = '\0';
	ch->ch_sni_ignored = 1;
	return CH_OK;
}

static int
ch_sni(struct clienthello *ch, struct cur *e)
{
	struct cur	 list, name;
	uint32_t	 type, n;
	int		 r;

	n = cur_get(e, 2);
	list = cur_sub(e, n);
	if (e->c_bad || e->c_left != 0 || n == 0)
		return ch_fail(ch, CH_MALFORMED, "bad server_name extension");
	while (list.c_left > 0) {
		type = cur_get(&list, 1);
		n = cur_get(&list, 2);
		name = cur_sub(&list, n);
		if (list.c_bad)
			return ch_fail(ch, CH_MALFORMED,
			    "bad server_name extension");
		if (type != SNI_HOST_NAME)
			continue;
		if (ch->ch_has_sni || ch->ch_sni_ignored)
			return ch_fail(ch, CH_MALFORMED,
			    "more than one host_name");
		if ((r = ch_host_name(ch, name.c_p, name.c_left)) != CH_OK)
			return r;
	}
	return CH_OK;
}

static int
ch_alpn(struct clienthello *ch, struct cur *e)
{
	struct cur	 list, name;
	uint32_t	 n;
	size_t		 i;
	int		 printable;

	n = cur_get(e, 2);
	list = cur_sub(e, n);
	if (e->c_bad || e->c_left != 0 || n < 2)
		return ch_fail(ch, CH_MALFORMED, "bad ALPN extension");
	while (list.c_left > 0) {
		n = cur_get(&list, 1);
		name = cur_sub(&list, n);
		if (list.c_bad || n == 0)
			return ch_fail(ch, CH_MALFORMED, "bad ALPN name");
		if (n == 2 && memcmp(name.c_p, "h2", 2) == 0)
			ch->ch_alpn_h2 = 1;
		if (n == 8 && memcmp(name.c_p, "http/1.1", 8) == 0)
			ch->ch_alpn_http11 = 1;
		/* Names are opaque bytes; keep the printable ones for the
		 * logs and events. */
		printable = n <= CH_ALPN_NAME_MAX;
		for (i = 0; printable && i < n; i++)
			printable = name.c_p[i] > ' ' && name.c_p[i] < 0x7f;
		if (printable && ch->ch_alpn_n < CH_ALPN_MAX) {
			memcpy(ch->ch_alpn[ch->ch_alpn_n], name.c_p, n);
			ch->ch_alpn[ch->ch_alpn_n++][n] = '\0';
		}
	}
	ch->ch_has_alpn = 1;
	return CH_OK;
}

static int
ch_versions(struct clienthello *ch, struct cur *e)
{
	uint32_t	 n, v;

	n = cur_get(e, 1);
	if (e->c_bad || n < 2 || n % 2 != 0 || n != e->c_left)
		return ch_fail(ch, CH_MALFORMED,
		    "bad supported_versions extension");
	while (e->c_left > 0) {
		v = cur_get(e, 2);
		if (v == TLS_VERSION_13)
			ch->ch_tls13 = 1;
	}
	ch->ch_has_versions = 1;
	return CH_OK;
}

int
clienthello_looks_http(const uint8_t *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && i <= HTTP_METHOD_MAX; i++) {
		if (buf[i] == ' ')
			return i > 0;
		/* The tchar set of RFC 9110 5.6.2 in upper case, which
		 * every method in use is written in. */
		if (!(isupper(buf[i]) || buf[i] == '-' || buf[i] == '_'))
			return 0;
	}
	return i > HTTP_METHOD_MAX ? 0 : -1;
}
