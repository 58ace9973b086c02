/*
 * Unit test of the ClientHello parser (tlsworker/clienthello.c): hellos
 * built here field by field, whole, cut at every length, spread over
 * records down to one byte each, larger than 1 KiB (a post-quantum key
 * share), too large, and broken in each way the parser refuses; the
 * HTTP request-line sniffer.
 */
#include <stdint.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/clienthello.h"

#define T_BUF		(CH_MAX * 8)
#define T_PQ_SHARE	1216	/* X25519MLKEM768's client key share */

struct hb {
	uint8_t	 b[T_BUF];
	size_t	 n;
};

static void
put(struct hb *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
put8(struct hb *h, unsigned v)
{
	h->b[h->n++] = (uint8_t)v;
}

static void
put16(struct hb *h, unsigned v)
{
	put8(h, v >> 8);
	put8(h, v & 0xff);
}

/* Patch a 16-bit or 24-bit length at off to cover up to the end. */
static void
patch(struct hb *h, size_t off, int bytes)
{
	size_t	 n = h->n - off - (size_t)bytes;

	if (bytes == 3)
		h->b[off++] = (uint8_t)(n >> 16);
	h->b[off] = (uint8_t)(n >> 8);
	h->b[off + 1] = (uint8_t)n;
}

struct hello_opts {
	const char	*sni;		/* NULL: no server_name */
	const char	*sni2;		/* a second host_name */
	const char	*alpn[4];
	int		 tls13;
	size_t		 share;		/* bytes of an extra key share */
	int		 dup_ext;	/* supported_versions twice */
	int		 no_ext;
	int		 hs_type;	/* 0: ClientHello */
};

/* The handshake message alone (type, length, body). */
static void
hello_msg(struct hb *h, const struct hello_opts *o)
{
	size_t	 hs, ext, e, l;
	int	 i;

	put8(h, o->hs_type ? (unsigned)o->hs_type : 1);
	hs = h->n;
	put(h, "\0\0\0", 3);
	put16(h, 0x0303);
	for (i = 0; i < 32; i++)
		put8(h, (unsigned)i);
	put8(h, 32);
	for (i = 0; i < 32; i++)
		put8(h, 0xaa);
	put16(h, 4);
	put16(h, 0x1301);
	put16(h, 0xc02b);
	put8(h, 1);
	put8(h, 0);
	if (!o->no_ext) {
		ext = h->n;
		put16(h, 0);
		if (o->sni) {
			put16(h, 0);
			e = h->n;
			put16(h, 0);
			l = h->n;
			put16(h, 0);
			put8(h, 0);
			put16(h, (unsigned)strlen(o->sni));
			put(h, o->sni, strlen(o->sni));
			if (o->sni2) {
				put8(h, 0);
				put16(h, (unsigned)strlen(o->sni2));
				put(h, o->sni2, strlen(o->sni2));
			}
			patch(h, l, 2);
			patch(h, e, 2);
		}
		if (o->alpn[0]) {
			put16(h, 16);
			e = h->n;
			put16(h, 0);
			l = h->n;
			put16(h, 0);
			for (i = 0; i < 4 && o->alpn[i]; i++) {
				put8(h, (unsigned)strlen(o->alpn[i]));
				put(h, o->alpn[i], strlen(o->alpn[i]));
			}
			patch(h, l, 2);
			patch(h, e, 2);
		}
		if (o->tls13) {
			for (i = 0; i < (o->dup_ext ? 2 : 1); i++) {
				put16(h, 43);
				put16(h, 5);
				put8(h, 4);
				put16(h, 0x0304);
				put16(h, 0x0303);
			}
		}
		if (o->share) {
			put16(h, 51);
			e = h->n;
			put16(h, 0);
			l = h->n;
			put16(h, 0);
			put16(h, 0x11ec);
			put16(h, (unsigned)o->share);
			memset(h->b + h->n, 0x5a, o->share);
			h->n += o->share;
			patch(h, l, 2);
			patch(h, e, 2);
		}
		patch(h, ext, 2);
	}
	patch(h, hs, 3);
}

/* msg cut into records of at most frag bytes. */
static void
records(struct hb *out, const struct hb *msg, size_t frag)
{
	size_t	 off = 0, n;

	out->n = 0;
	while (off < msg->n) {
		n = msg->n - off < frag ? msg->n - off : frag;
		put8(out, 22);
		put16(out, 0x0301);
		put16(out, (unsigned)n);
		put(out, msg->b + off, n);
		off += n;
	}
}

static struct hb msg, rec;

static int
parse(const struct hello_opts *o, size_t frag, struct clienthello *ch)
{
	msg.n = 0;
	hello_msg(&msg, o);
	records(&rec, &msg, frag);
	return clienthello_parse(rec.b, rec.n, ch);
}

/* Every proper prefix must ask for more. */
static int
prefixes_need_more(void)
{
	struct clienthello ch;
	size_t		 k;

	for (k = 0; k < rec.n; k++)
		if (clienthello_parse(rec.b, k, &ch) != CH_NEED_MORE)
			return 0;
	return 1;
}

int
main(void)
{
	struct clienthello ch;
	struct hello_opts o;
	int		 r;

	memset(&o, 0, sizeof(o));
	o.sni = "WWW.Example.COM.";
	o.alpn[0] = "h2";
	o.alpn[1] = "http/1.1";
	o.tls13 = 1;
	r = parse(&o, 16384, &ch);
	CHECK(r == CH_OK && ch.ch_len == rec.n, "one record: OK, all used");
	CHECK(ch.ch_has_sni && strcmp(ch.ch_sni, "www.example.com") == 0,
	    "SNI lower-cased, trailing dot gone: %s", ch.ch_sni);
	CHECK(ch.ch_has_alpn && ch.ch_alpn_n == 2 && ch.ch_alpn_h2 &&
	    ch.ch_alpn_http11 && strcmp(ch.ch_alpn[1], "http/1.1") == 0,
	    "ALPN list");
	CHECK(ch.ch_has_versions && ch.ch_tls13, "supported_versions 1.3");
	CHECK(ch.ch_legacy_version == 0x0303, "legacy version");
	CHECK(prefixes_need_more(), "every prefix of one record: NEED_MORE");

	r = parse(&o, 1, &ch);
	CHECK(r == CH_OK && ch.ch_len == rec.n &&
	    strcmp(ch.ch_sni, "www.example.com") == 0,
	    "one byte a record: OK");
	CHECK(prefixes_need_more(), "every prefix of 1-byte records");

	o.share = T_PQ_SHARE;
	r = parse(&o, 700, &ch);
	CHECK(r == CH_OK && msg.n > 1024 && ch.ch_len == rec.n &&
	    ch.ch_has_sni, "a %zu-byte hello in %zu records", msg.n,
	    (msg.n + 699) / 700);
	CHECK(prefixes_need_more(), "every prefix of the large hello");

	o.share = CH_MAX;
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED, "hello over CH_MAX");
	o.share = 0;

	/* Bytes after the hello in its last record stay for the library. */
	msg.n = 0;
	hello_msg(&msg, &o);
	put(&msg, "\x0b\x00\x00\x00", 4);
	records(&rec, &msg, 16384);
	r = clienthello_parse(rec.b, rec.n, &ch);
	CHECK(r == CH_OK && ch.ch_len == rec.n, "trailing handshake bytes");

	/* Not TLS */
	CHECK(clienthello_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16,
	    &ch) == CH_NOT_TLS, "an HTTP request is not TLS");
	CHECK(clienthello_parse((const uint8_t *)"\x16\x02", 2, &ch) ==
	    CH_NOT_TLS, "record version 2.x is not TLS");
	CHECK(clienthello_parse((const uint8_t *)"\x16\x03\x09", 3, &ch) ==
	    CH_NOT_TLS, "record version 3.9 is not TLS");
	CHECK(clienthello_parse((const uint8_t *)"\x80\x2e\x01", 3, &ch) ==
	    CH_NOT_TLS, "an SSLv2 hello is not TLS");
	CHECK(clienthello_parse((const uint8_t *)"", 0, &ch) == CH_NEED_MORE,
	    "nothing yet");
	CHECK(clienthello_looks_http((const uint8_t *)"GET / HTTP/1.1", 14)
	    == 1, "GET looks like HTTP");
	CHECK(clienthello_looks_http((const uint8_t *)"M-SEARCH * HTTP", 15)
	    == 1, "M-SEARCH looks like HTTP");
	CHECK(clienthello_looks_http((const uint8_t *)"GE", 2) == -1,
	    "GE: not enough yet");
	CHECK(clienthello_looks_http((const uint8_t *)"get /", 5) == 0,
	    "lower case is not a method in use");
	CHECK(clienthello_looks_http((const uint8_t *)" GET", 4) == 0,
	    "leading space");
	CHECK(clienthello_looks_http((const uint8_t *)"\x01\x02", 2) == 0,
	    "binary");
	CHECK(clienthello_looks_http((const uint8_t *)
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ ", 27) == 0, "method too long");

	/* Malformed */
	(void)parse(&o, 16384, &ch);
	rec.b[3] = rec.b[4] = 0;
	CHECK(clienthello_parse(rec.b, rec.n, &ch) == CH_MALFORMED,
	    "zero-length record");
	(void)parse(&o, 100, &ch);
	rec.b[105] = 23;	/* second record: application data */
	CHECK(clienthello_parse(rec.b, rec.n, &ch) == CH_MALFORMED,
	    "another record type inside the hello");
	o.hs_type = 2;
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED, "a ServerHello");
	o.hs_type = 0;
	o.dup_ext = 1;
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED, "duplicate extension");
	o.dup_ext = 0;
	o.sni = "bad name.example";
	CHECK(parse(&o, 16384, &ch) == CH_OK && !ch.ch_has_sni &&
	    ch.ch_sni_ignored, "space in SNI: ignored");
	o.sni = "a..b";
	CHECK(parse(&o, 16384, &ch) == CH_OK && !ch.ch_has_sni &&
	    ch.ch_sni_ignored, "empty label in SNI: ignored");
	o.sni = "127.0.0.1:44379";
	CHECK(parse(&o, 16384, &ch) == CH_OK && !ch.ch_has_sni &&
	    ch.ch_sni_ignored, "host:port in SNI (Go's hey): ignored");
	o.sni = "127.0.0.1";
	CHECK(parse(&o, 16384, &ch) == CH_OK && ch.ch_has_sni &&
	    strcmp(ch.ch_sni, "127.0.0.1") == 0, "an IP in SNI is kept");
	o.sni = "";
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED, "empty SNI");
	o.sni = "bad name";
	o.sni2 = "two.example";
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED,
	    "two host_names, the first ignored");
	o.sni2 = NULL;
	o.sni = "one.example";
	o.sni2 = "two.example";
	CHECK(parse(&o, 16384, &ch) == CH_MALFORMED, "two host_names");
	o.sni2 = NULL;
	(void)parse(&o, 16384, &ch);
	rec.b[5 + 1 + 3 + 2 + 32] = 40;	/* session id longer than 32 */
	CHECK(clienthello_parse(rec.b, rec.n, &ch) == CH_MALFORMED,
	    "session id too long");
	(void)parse(&o, 16384, &ch);
	rec.b[3] = (uint8_t)((rec.n - 5 - 1) >> 8);	/* record one short */
	rec.b[4] = (uint8_t)(rec.n - 5 - 1);
	CHECK(clienthello_parse(rec.b, rec.n - 1, &ch) == CH_NEED_MORE ||
	    clienthello_parse(rec.b, rec.n - 1, &ch) == CH_MALFORMED,
	    "a record shorter than the hello: more or malformed");

	memset(&o, 0, sizeof(o));
	o.no_ext = 1;
	r = parse(&o, 16384, &ch);
	CHECK(r == CH_OK && !ch.ch_has_sni && !ch.ch_has_alpn,
	    "no extensions at all: OK, no SNI");
	memset(&o, 0, sizeof(o));
	o.alpn[0] = "x";
	o.alpn[1] = "\x01\x02";
	r = parse(&o, 16384, &ch);
	CHECK(r == CH_OK && ch.ch_alpn_n == 1 && !ch.ch_alpn_h2,
	    "unprintable ALPN names are not kept");
	return unit_done();
}
