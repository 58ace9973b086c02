/*
 * Unit test of the WebSocket frame parser (tlsworker/ws.c): the examples
 * of RFC 6455 section 5.7, a ping between fragments, close codes, the
 * masking rule per direction, reserved opcodes and RSV bits, control
 * frame limits, 64-bit lengths, non-minimal lengths, the observation
 * limit, and the same callbacks whatever the split of the input (whole,
 * byte by byte, cut at every boundary and every pair of boundaries).
 *
 * Each run is recorded as a compact log compared with the expected one:
 *   F<op>[f][r<rsv>][m][n]:<len>;	frame header (fin, rsv, masked,
 *					non-minimal length)
 *   P<bytes>;				payload, first T_SHOW bytes of a
 *					frame, '.' for unprintable bytes
 *   M<op>:<len>#<frames>[c][o];	message complete (compressed,
 *					oversize)
 *   C<op>[:<code>:<reason>];		control frame complete
 *   N<note>;  E<error>;		note, error
 *   =ERR				a feed returned WS_ERROR
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/ws.h"

#define T_LOG		8192
#define T_PAY		(128 * 1024)
#define T_SHOW		32	/* payload bytes of a frame put in the log */
#define T_BUF		(T_PAY + 64)

struct rec {
	char		 log[T_LOG];
	size_t		 len;
	int		 in_payload;
	uint8_t		 pay[T_PAY];	/* all payload bytes, in order */
	size_t		 npay;
	uint64_t	 next_off;	/* expected offset of the next piece */
	int		 bad;		/* a piece out of order or too long */
};

static uint8_t	 t_in[T_BUF];
static size_t	 t_len;

static void	logf_(struct rec *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
logf_(struct rec *r, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (r->len >= sizeof(r->log) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len += (size_t)n;
	if (r->len >= sizeof(r->log))
		r->len = sizeof(r->log) - 1;
}

/* Close a payload entry before any other event. */
static void
end_payload(struct rec *r)
{
	if (r->in_payload)
		logf_(r, ";");
	r->in_payload = 0;
}

static void
cb_frame(void *arg, const struct ws_frame *f)
{
	struct rec	*r = arg;

	end_payload(r);
	logf_(r, "F%x%s", f->wf_opcode, f->wf_fin ? "f" : "");
	if (f->wf_rsv)
		logf_(r, "r%d", f->wf_rsv);
	logf_(r, "%s%s:%llu;", f->wf_masked ? "m" : "",
	    f->wf_nonminimal ? "n" : "", (unsigned long long)f->wf_len);
	r->next_off = 0;
}

static void
cb_payload(void *arg, const struct ws_frame *f, const uint8_t *p, size_t n,
    uint64_t off)
{
	struct rec	*r = arg;
	size_t		 i;

	if (off != r->next_off || n == 0 || off + n > f->wf_len)
		r->bad = 1;
	r->next_off = off + n;
	if (!r->in_payload)
		logf_(r, "P");
	r->in_payload = 1;
	for (i = 0; i < n; i++) {
		if (off + i < T_SHOW)
			logf_(r, "%c", p[i] >= 0x20 && p[i] < 0x7f ? p[i] :
			    '.');
		if (r->npay < sizeof(r->pay))
			r->pay[r->npay++] = p[i];
	}
}

static void
cb_message(void *arg, const struct ws_message *m)
{
	struct rec	*r = arg;

	end_payload(r);
	logf_(r, "M%x:%llu#%u%s%s;", m->wm_opcode,
	    (unsigned long long)m->wm_len, m->wm_frames,
	    m->wm_compressed ? "c" : "", m->wm_oversize ? "o" : "");
}

static void
cb_control(void *arg, const struct ws_control *c)
{
	struct rec	*r = arg;

	end_payload(r);
	if (c->wc_opcode == WS_OP_CLOSE)
		logf_(r, "C%x:%d:%.*s;", c->wc_opcode, c->wc_code,
		    (int)c->wc_reason_len, (const char *)c->wc_reason);
	else
		logf_(r, "C%x;", c->wc_opcode);
}

static void
cb_note(void *arg, const char *what)
{
	struct rec	*r = arg;

	end_payload(r);
	logf_(r, "N%s;", what);
}

static void
cb_error(void *arg, const char *why)
{
	struct rec	*r = arg;

	end_payload(r);
	logf_(r, "E%s;", why);
}

static const struct ws_callbacks t_cb = {
	cb_frame, cb_payload, cb_message, cb_control, cb_note, cb_error,
};

static struct rec	 t_rec, t_rec2;

/*
 * Feed in[0..n) cut at the offsets in cuts[] (ascending, ncuts of them),
 * or in pieces of step bytes when step is non-zero.
 */
static void
feed(struct rec *r, int dir, unsigned flags, uint64_t max,
    const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
    size_t step)
{
	struct ws_parser	 p;
	struct ws_limits	 lim = { max };
	size_t			 off = 0, end, c = 0;
	int			 err = 0;

	memset(r, 0, sizeof(*r));
	ws_init(&p, dir, flags, &lim);
	while (off < n) {
		if (step)
			end = n - off < step ? n : off + step;
		else
			end = cuts != NULL && c < ncuts ? cuts[c++] : n;
		if (ws_feed(&p, in + off, end - off, &t_cb, r) != WS_OK)
			err = 1;
		off = end;
	}
	end_payload(r);
	if (err)
		logf_(r, "=ERR");
}

/* The whole buffer and byte by byte must give the expected log. */
static void
run(const char *name, int dir, unsigned flags, uint64_t max,
    const char *want)
{
	feed(&t_rec, dir, flags, max, t_in, t_len, NULL, 0, 0);
	feed(&t_rec2, dir, flags, max, t_in, t_len, NULL, 0, 1);
	CHECK(strcmp(t_rec.log, want) == 0 && !t_rec.bad, "%s: %s", name,
	    t_rec.log);
	if (strcmp(t_rec.log, want) != 0)
		printf("#   want %s\n", want);
	CHECK(strcmp(t_rec2.log, t_rec.log) == 0 && !t_rec2.bad &&
	    t_rec2.npay == t_rec.npay &&
	    memcmp(t_rec2.pay, t_rec.pay, t_rec.npay) == 0,
	    "%s: byte by byte the same", name);
}

static void
put(const void *p, size_t n)
{
	memcpy(t_in + t_len, p, n);
	t_len += n;
}

static void
put8(unsigned v)
{
	t_in[t_len++] = (uint8_t)v;
}

/* A frame: b0 is FIN/RSV/opcode; masked with key when key != NULL. */
static void
frame(unsigned b0, const void *data, size_t len, const uint8_t *key)
{
	const uint8_t	*d = data;
	unsigned	 m = key != NULL ? 0x80 : 0;
	size_t		 i;
	int		 k;

	put8(b0);
	if (len < 126)
		put8(m | (unsigned)len);
	else if (len < 65536) {
		put8(m | 126);
		put8((unsigned)(len >> 8));
		put8((unsigned)len & 0xff);
	} else {
		put8(m | 127);
		for (k = 7; k >= 0; k--)
			put8((unsigned)((uint64_t)len >> (8 * k)) & 0xff);
	}
	if (key != NULL)
		put(key, 4);
	for (i = 0; i < len; i++)
		put8(d[i] ^ (key != NULL ? key[i & 3] : 0));
}

static void
reset(void)
{
	t_len = 0;
}

static const uint8_t t_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void
test_rfc_examples(void)
{
	static const uint8_t hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	static const uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80,
	    0x02, 0x6c, 0x6f };
	static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	static const uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t b256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const uint8_t b64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00,
	    0x00 };
	uint8_t		 copy[sizeof(masked)];
	char		 want[256];
	size_t		 i;
	int		 same;

	reset();
	put(hello, sizeof(hello));
	run("5.7 unmasked Hello", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1f:5;PHello;M1:5#1;");

	reset();
	put(masked, sizeof(masked));
	memcpy(copy, masked, sizeof(copy));
	run("5.7 masked Hello", WS_CLIENT_TO_SERVER, 0, 0,
	    "F1fm:5;PHello;M1:5#1;");
	CHECK(memcmp(t_in, copy, sizeof(copy)) == 0,
	    "the masked input is not changed");
	CHECK(t_rec.npay == 5 && memcmp(t_rec.pay, "Hello", 5) == 0,
	    "unmasked payload is Hello");

	reset();
	put(frag, sizeof(frag));
	run("5.7 fragmented Hel+lo", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1:3;PHel;F0f:2;Plo;M1:5#2;");

	reset();
	put(ping, sizeof(ping));
	run("5.7 ping Hello", WS_SERVER_TO_CLIENT, 0, 0,
	    "F9f:5;PHello;C9;");
	reset();
	put(pong, sizeof(pong));
	run("5.7 masked pong Hello", WS_CLIENT_TO_SERVER, 0, 0,
	    "Fafm:5;PHello;Ca;");

	/* 256 bytes with a 16-bit length, 64 KiB with a 64-bit length. */
	reset();
	put(b256, sizeof(b256));
	for (i = 0; i < 256; i++)
		put8((unsigned)i);
	snprintf(want, sizeof(want), "F2f:256;P%.32s;M2:256#1;",
	    "................................ !\"#$%&'()*+,-./0123456789");
	run("5.7 256-byte binary", WS_SERVER_TO_CLIENT, 0, 0, want);
	same = t_rec.npay == 256;
	for (i = 0; same && i < 256; i++)
		same = t_rec.pay[i] == i;
	ok(same, "256-byte payload as sent");

	reset();
	put(b64k, sizeof(b64k));
	for (i = 0; i < 65536; i++)
		put8((unsigned)(i * 7) & 0xff);
	run("5.7 64 KiB binary", WS_SERVER_TO_CLIENT, 0, 0,
	    "F2f:65536;P.....#*18?FMT[bipw~.............;"
	    "M2:65536#1;");
	same = t_rec.npay == 65536;
	for (i = 0; same && i < 65536; i++)
		same = t_rec.pay[i] == ((i * 7) & 0xff);
	ok(same, "64 KiB payload as sent");

	/* The same 64 KiB masked: unmasked across WS_UNMASK_CHUNK pieces. */
	reset();
	{
		static uint8_t big[65536];

		for (i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 7);
		frame(0x82, big, sizeof(big), t_key);
		feed(&t_rec, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, NULL, 0,
		    0);
		CHECK(t_rec.npay == sizeof(big) &&
		    memcmp(t_rec.pay, big, sizeof(big)) == 0 && !t_rec.bad,
		    "64 KiB masked: unmasked payload as sent");
		feed(&t_rec2, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, NULL, 0,
		    1000);
		CHECK(t_rec2.npay == sizeof(big) &&
		    memcmp(t_rec2.pay, big, sizeof(big)) == 0 &&
		    strcmp(t_rec.log, t_rec2.log) == 0 && !t_rec2.bad,
		    "64 KiB masked in 1000-byte feeds: the same");
	}
}

static void
test_fragments(void)
{
	reset();
	frame(0x01, "Hel", 3, NULL);
	frame(0x89, "x", 1, NULL);
	frame(0x80, "lo", 2, NULL);
	run("ping between fragments", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1:3;PHel;F9f:1;Px;C9;F0f:2;Plo;M1:5#2;");

	reset();
	frame(0x02, "ab", 2, t_key);
	frame(0x00, "", 0, t_key);
	frame(0x8a, "", 0, t_key);
	frame(0x88, "\x03\xe8", 2, t_key);
	run("pong and close between fragments", WS_CLIENT_TO_SERVER, 0, 0,
	    "F2m:2;Pab;F0m:0;Fafm:0;Ca;F8fm:2;P..;C8:1000:;");

	reset();
	frame(0x81, "", 0, NULL);
	frame(0x82, "z", 1, NULL);
	run("empty text then binary", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1f:0;M1:0#1;F2f:1;Pz;M2:1#1;");

	reset();
	frame(0x80, "x", 1, NULL);
	run("continuation without a message", WS_SERVER_TO_CLIENT, 0, 0,
	    "Econtinuation frame without a message;=ERR");

	reset();
	frame(0x01, "a", 1, NULL);
	frame(0x81, "b", 1, NULL);
	run("text inside an open message", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1:1;Pa;Edata frame inside an unfinished message;=ERR");

	reset();
	frame(0x01, "a", 1, NULL);
	frame(0x02, "b", 1, NULL);
	run("binary inside an open message", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1:1;Pa;Edata frame inside an unfinished message;=ERR");
}

static void
close_frame(unsigned code, const char *reason)
{
	uint8_t	 b[WS_CONTROL_MAX];
	size_t	 n = strlen(reason), i;

	b[0] = (uint8_t)(code >> 8);
	b[1] = (uint8_t)code;
	for (i = 0; i < n; i++)
		b[2 + i] = (uint8_t)reason[i];
	frame(0x88, b, n + 2, t_key);
}

static void
test_close(void)
{
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1011,
	    1014, 3000, 4000, 4999 };
	static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015,
	    5000, 65535 };
	char		 want[128], name[64];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		reset();
		close_frame(good[i], "bye");
		snprintf(want, sizeof(want), "F8fm:5;P%c%cbye;C8:%u:bye;",
		    good[i] >> 8 >= 0x20 && good[i] >> 8 < 0x7f ?
		    good[i] >> 8 : '.', (good[i] & 0xff) >= 0x20 &&
		    (good[i] & 0xff) < 0x7f ? good[i] & 0xff : '.', good[i]);
		snprintf(name, sizeof(name), "close code %u", good[i]);
		run(name, WS_CLIENT_TO_SERVER, 0, 0, want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		close_frame(bad[i], "");
		feed(&t_rec, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, NULL, 0,
		    0);
		CHECK(strstr(t_rec.log,
		    "Eclose code not allowed on the wire;=ERR") != NULL &&
		    strstr(t_rec.log, "C8") == NULL,
		    "close code %u refused: %s", bad[i], t_rec.log);
	}

	reset();
	frame(0x88, "", 0, NULL);
	run("empty close reports 1005", WS_SERVER_TO_CLIENT, 0, 0,
	    "F8f:0;C8:1005:;");
	reset();
	frame(0x88, "\x03", 1, NULL);
	run("close with 1 byte", WS_SERVER_TO_CLIENT, 0, 0,
	    "Eclose frame with a 1-byte payload;=ERR");
	reset();
	close_frame(1000, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	feed(&t_rec, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, NULL, 0, 0);
	CHECK(strstr(t_rec.log, "C8:1000:\xc3\xa9\xe2\x82\xac"
	    "\xf0\x9f\x98\x80;") != NULL, "close reason in UTF-8 passes");
	reset();
	close_frame(1000, "a\xff");
	run("close reason 0xff", WS_CLIENT_TO_SERVER, 0, 0,
	    "F8fm:4;P..a.;Eclose reason is not UTF-8;=ERR");
	reset();
	close_frame(1000, "\xc0\x80");
	run("close reason overlong NUL", WS_CLIENT_TO_SERVER, 0, 0,
	    "F8fm:4;P....;Eclose reason is not UTF-8;=ERR");
	reset();
	close_frame(1000, "\xed\xa0\x80");
	run("close reason surrogate", WS_CLIENT_TO_SERVER, 0, 0,
	    "F8fm:5;P.....;Eclose reason is not UTF-8;=ERR");
	reset();
	close_frame(1000, "\xe2\x82");
	run("close reason cut mid-character", WS_CLIENT_TO_SERVER, 0, 0,
	    "F8fm:4;P....;Eclose reason is not UTF-8;=ERR");

	reset();
	close_frame(1000, "");
	frame(0x81, "x", 1, t_key);
	run("a frame after close", WS_CLIENT_TO_SERVER, 0, 0,
	    "F8fm:2;P..;C8:1000:;Ebytes after a close frame;=ERR");
}

static void
test_mask_direction(void)
{
	reset();
	frame(0x81, "Hello", 5, NULL);
	run("unmasked client frame", WS_CLIENT_TO_SERVER, 0, 0,
	    "Eunmasked client-to-server frame (RFC 6455 5.1);=ERR");
	reset();
	frame(0x81, "Hello", 5, t_key);
	run("masked server frame", WS_SERVER_TO_CLIENT, 0, 0,
	    "Emasked server-to-client frame (RFC 6455 5.1);=ERR");
	reset();
	frame(0x89, "", 0, NULL);
	run("unmasked client ping", WS_CLIENT_TO_SERVER, 0, 0,
	    "Eunmasked client-to-server frame (RFC 6455 5.1);=ERR");
}

static void
test_opcodes_rsv(void)
{
	static const unsigned reserved[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd,
	    0xe, 0xf };
	size_t		 i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		reset();
		frame(0x80 | reserved[i], "", 0, NULL);
		feed(&t_rec, WS_SERVER_TO_CLIENT, 0, 0, t_in, t_len, NULL, 0,
		    0);
		CHECK(strcmp(t_rec.log, "Ereserved opcode;=ERR") == 0,
		    "opcode 0x%x is reserved", reserved[i]);
	}

	reset();
	frame(0xc1, "x", 1, NULL);
	run("RSV1 without deflate", WS_SERVER_TO_CLIENT, 0, 0,
	    "ERSV1 set without a negotiated extension;=ERR");
	reset();
	frame(0xa1, "x", 1, NULL);
	run("RSV2 without extension", WS_SERVER_TO_CLIENT, 0, 0,
	    "ERSV2 or RSV3 set without a negotiated extension;=ERR");
	reset();
	frame(0x91, "x", 1, NULL);
	run("RSV3 with deflate", WS_SERVER_TO_CLIENT, WS_F_DEFLATE, 0,
	    "ERSV2 or RSV3 set without a negotiated extension;=ERR");

	reset();
	frame(0x41, "ab", 2, NULL);
	frame(0x80, "c", 1, NULL);
	frame(0x82, "d", 1, NULL);
	run("deflate: RSV1 marks a compressed message", WS_SERVER_TO_CLIENT,
	    WS_F_DEFLATE, 0,
	    "F1r4:2;Pab;F0f:1;Pc;M1:3#2c;F2f:1;Pd;M2:1#1;");
	reset();
	frame(0x41, "ab", 2, NULL);
	frame(0xc0, "c", 1, NULL);
	run("deflate: RSV1 on a continuation", WS_SERVER_TO_CLIENT,
	    WS_F_DEFLATE, 0,
	    "F1r4:2;Pab;ERSV1 on a continuation or control frame;=ERR");
	reset();
	frame(0xc9, "", 0, NULL);
	run("deflate: RSV1 on a ping", WS_SERVER_TO_CLIENT, WS_F_DEFLATE, 0,
	    "ERSV1 on a continuation or control frame;=ERR");
}

static void
test_control_limits(void)
{
	static const uint8_t big_ping[] = { 0x89, 0x7e, 0x00, 0x7e };
	static const uint8_t ext_ping[] = { 0x89, 0x7e, 0x00, 0x03, 'a', 'b',
	    'c' };
	static const uint8_t top[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0,
	    1 };
	static const uint8_t huge[] = { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 'a' };
	static const uint8_t nonmin[] = { 0x81, 0x7e, 0x00, 0x05, 'H', 'e',
	    'l', 'l', 'o', 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x01, '!' };
	uint8_t		 b[WS_CONTROL_MAX + 1];

	memset(b, 'p', sizeof(b));
	reset();
	frame(0x89, b, WS_CONTROL_MAX, NULL);
	run("ping of 125 bytes", WS_SERVER_TO_CLIENT, 0, 0,
	    "F9f:125;Ppppppppppppppppppppppppppppppppp;C9;");
	reset();
	put(big_ping, sizeof(big_ping));
	run("ping of 126 bytes", WS_SERVER_TO_CLIENT, 0, 0,
	    "Econtrol frame longer than 125 bytes;=ERR");
	reset();
	put(ext_ping, sizeof(ext_ping));
	run("ping with a 16-bit length of 3", WS_SERVER_TO_CLIENT, 0, 0,
	    "F9fn:3;Nnon-minimal payload length encoding;Pabc;C9;");
	reset();
	frame(0x09, "", 0, NULL);
	run("fragmented ping", WS_SERVER_TO_CLIENT, 0, 0,
	    "Efragmented control frame;=ERR");
	reset();
	frame(0x08, "", 0, NULL);
	run("fragmented close", WS_SERVER_TO_CLIENT, 0, 0,
	    "Efragmented control frame;=ERR");

	reset();
	put(top, sizeof(top));
	run("64-bit length with the top bit", WS_SERVER_TO_CLIENT, 0, 0,
	    "E64-bit payload length with the top bit set;=ERR");
	reset();
	put(huge, sizeof(huge));
	run("largest 64-bit length", WS_SERVER_TO_CLIENT, 0, 0,
	    "F2f:9223372036854775807;"
	    "Nmessage too large for inspection;");

	/* Noted once per stream, however many frames do it. */
	reset();
	put(nonmin, sizeof(nonmin));
	put(nonmin, sizeof(nonmin));
	run("non-minimal lengths accepted", WS_SERVER_TO_CLIENT, 0, 0,
	    "F1fn:5;Nnon-minimal payload length encoding;PHello;M1:5#1;"
	    "F2fn:1;P!;M2:1#1;F1fn:5;PHello;M1:5#1;F2fn:1;P!;M2:1#1;");
}

static void
test_limit(void)
{
	reset();
	frame(0x01, "abcdef", 6, t_key);
	frame(0x89, "p", 1, t_key);
	frame(0x00, "ghijkl", 6, t_key);
	frame(0x80, "mn", 2, t_key);
	frame(0x82, "0123456789", 10, t_key);
	frame(0x81, "0123456789x", 11, t_key);
	frame(0x81, "ok", 2, t_key);
	run("message limit of 10 bytes", WS_CLIENT_TO_SERVER, 0, 10,
	    "F1m:6;Pabcdef;F9fm:1;Pp;C9;"
	    "F0m:6;Nmessage too large for inspection;"
	    "F0fm:2;M1:14#3o;"
	    "F2fm:10;P0123456789;M2:10#1;"
	    "F1fm:11;Nmessage too large for inspection;M1:11#1o;"
	    "F1fm:2;Pok;M1:2#1;");

	reset();
	frame(0x82, "abc", 3, NULL);
	feed(&t_rec, WS_SERVER_TO_CLIENT, 0, 0, t_in, t_len, NULL, 0, 0);
	CHECK(strcmp(t_rec.log, "F2f:3;Pabc;M2:3#1;") == 0,
	    "a limit of 0 is the default: %s", t_rec.log);
}

/* A stream with every kind of event, cut at every boundary and pair. */
static void
test_splits(void)
{
	struct rec	*whole = &t_rec, *cut = &t_rec2;
	size_t		 i, j, cuts[2], bad1 = 0, bad2 = 0, tried = 0;
	uint8_t		 b[300];

	memset(b, 'B', sizeof(b));
	reset();
	frame(0x01, "Hel", 3, t_key);
	frame(0x89, "ping", 4, t_key);
	frame(0x80, "lo", 2, t_key);
	frame(0x82, b, sizeof(b), t_key);
	frame(0x02, "", 0, t_key);
	frame(0x8a, "", 0, t_key);
	frame(0x80, "end", 3, t_key);
	close_frame(1001, "away");
	feed(whole, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, NULL, 0, 0);
	ok(strcmp(whole->log, "F1m:3;PHel;F9fm:4;Pping;C9;F0fm:2;Plo;"
	    "M1:5#2;F2fm:300;PBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB;M2:300#1;"
	    "F2m:0;Fafm:0;Ca;F0fm:3;Pend;M2:3#2;F8fm:6;P..away;"
	    "C8:1001:away;") == 0, "multi-message stream, whole");

	for (i = 0; i <= t_len; i++) {
		cuts[0] = i;
		feed(cut, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, cuts, 1, 0);
		if (strcmp(cut->log, whole->log) != 0 || cut->bad ||
		    cut->npay != whole->npay ||
		    memcmp(cut->pay, whole->pay, whole->npay) != 0)
			bad1++;
	}
	CHECK(bad1 == 0, "split at each of %zu boundaries: %zu differ",
	    t_len + 1, bad1);

	for (i = 0; i <= t_len; i += 3)
		for (j = i; j <= t_len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			tried++;
			feed(cut, WS_CLIENT_TO_SERVER, 0, 0, t_in, t_len, cuts,
			    2, 0);
			if (strcmp(cut->log, whole->log) != 0 || cut->bad)
				bad2++;
		}
	CHECK(bad2 == 0, "split at %zu pairs of boundaries: %zu differ",
	    tried, bad2);

	/* An error stops everything, whatever comes after it. */
	reset();
	frame(0x81, "a", 1, NULL);
	frame(0x83, "", 0, NULL);
	frame(0x81, "b", 1, NULL);
	for (i = 0, bad1 = 0; i <= t_len; i++) {
		cuts[0] = i;
		feed(cut, WS_SERVER_TO_CLIENT, 0, 0, t_in, t_len, cuts, 1, 0);
		if (strcmp(cut->log, "F1f:1;Pa;M1:1#1;Ereserved opcode;=ERR")
		    != 0)
			bad1++;
	}
	CHECK(bad1 == 0, "error then more frames, every split: %zu differ",
	    bad1);
}

static void
test_api(void)
{
	struct ws_parser	 p;
	static const uint8_t	 close[] = { 0x88, 0x02, 0x03, 0xe8 };
	static const uint8_t	 bad[] = { 0x83, 0x00 };

	ws_init(&p, WS_SERVER_TO_CLIENT, 0, NULL);
	ok(p.wp_msg_max == WS_MSG_MAX_DEFAULT, "NULL limits: 16 MiB");
	ok(ws_feed(&p, close, sizeof(close), NULL, NULL) == WS_OK &&
	    ws_closed(&p), "no callbacks: close seen");
	ok(ws_feed(&p, close, 1, NULL, NULL) == WS_ERROR &&
	    strcmp(p.wp_error, "bytes after a close frame") == 0,
	    "a byte after close is an error");
	ws_init(&p, WS_SERVER_TO_CLIENT, 0, NULL);
	ok(ws_feed(&p, bad, sizeof(bad), NULL, NULL) == WS_ERROR &&
	    ws_feed(&p, close, sizeof(close), &t_cb, &t_rec) == WS_ERROR &&
	    p.wp_total == 2, "after an error, nothing more is parsed");
	ok(ws_feed(&p, NULL, 0, NULL, NULL) == WS_ERROR, "empty feed after "
	    "an error");
	ws_init(&p, WS_SERVER_TO_CLIENT, 0, NULL);
	ok(ws_feed(&p, NULL, 0, NULL, NULL) == WS_OK, "empty feed");
	ok(ws_close_code_valid(1000) && !ws_close_code_valid(1005) &&
	    ws_close_code_valid(4999) && !ws_close_code_valid(5000),
	    "ws_close_code_valid");
	ok(strcmp(ws_opcode_name(WS_OP_PONG), "pong") == 0 &&
	    strcmp(ws_opcode_name(3), "reserved") == 0, "ws_opcode_name");
}

int
main(void)
{
	test_rfc_examples();
	test_fragments();
	test_close();
	test_mask_direction();
	test_opcodes_rsv();
	test_control_limits();
	test_limit();
	test_splits();
	test_api();
	return unit_done();
}
