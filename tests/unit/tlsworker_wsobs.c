/*
 * Unit test of the WebSocket observer (tlsworker/wsobs.c), reading its
 * events off a real IPC channel as webui would: permessage-deflate heads
 * with and without context takeover and with small windows, the capture
 * bound, bytes fed one at a time, turns ended by a reply, by the idle
 * timer and by a protocol error (reported once, the other direction
 * still observed), and an unknown extension that turns observation off.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "common/ipc.h"
#include "common/log.h"
#include "tests/unit/evsink.h"
#include "tests/unit/unit.h"
#include "tlsworker/events.h"
#include "tlsworker/wsobs.h"

#define T_BUF		(sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)
#define T_CAPTURE	1024
#define T_MAX_EVENTS	64
#define T_FRAME_MAX	(300 * 1024)
#define T_IDLE_MSEC	50
#define T_LOOPS		200	/* event loop passes while waiting */

/* the events of the last collect() */
static char		*evs[T_MAX_EVENTS];
static size_t		 nevs;

/* Every event sent since the last call, one string each. */
static void
collect(void)
{
	static uint8_t	 buf[T_BUF];
	ssize_t		 n;
	char		*p, *nl, *end;

	while (nevs > 0)
		free(evs[--nevs]);
	ev_flush();
	while ((n = recv(t_peer, buf, sizeof(buf), MSG_DONTWAIT)) >
	    (ssize_t)sizeof(struct ipc_hdr)) {
		p = (char *)buf + sizeof(struct ipc_hdr);
		end = (char *)buf + n;
		while (p < end && nevs < T_MAX_EVENTS) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				nl = end;
			evs[nevs++] = strndup(p, (size_t)(nl - p));
			p = nl + 1;
		}
	}
}

/* Does event i hold every needle given (NULL: none)? */
static int
ev_has(size_t i, const char *n1, const char *n2, const char *n3)
{
	const char *n[] = { n1, n2, n3 };
	size_t	 k;

	if (i >= nevs)
		return 0;
	for (k = 0; k < 3; k++)
		if (n[k] != NULL && strstr(evs[i], n[k]) == NULL) {
			printf("# event %zu lacks %s: %.400s\n", i, n[k],
			    evs[i]);
			return 0;
		}
	return 1;
}

/* "head_b64":"<base64 of the first len bytes of p>" */
static char *
head_member(const void *p, size_t len)
{
	static char	 out[T_CAPTURE * 2 + 32];
	size_t		 n;

	n = (size_t)snprintf(out, sizeof(out), "\"head_b64\":\"");
	n += (size_t)EVP_EncodeBlock((unsigned char *)out + n, p, (int)len);
	snprintf(out + n, sizeof(out) - n, "\"");
	return out;
}

/* One frame into out; its size. */
static size_t
frame(uint8_t *out, int fin, int rsv1, int op, int masked,
    const uint8_t *p, size_t len)
{
	static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
	size_t	 n = 0, i;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
	if (len < 126)
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | len);
	else if (len < 65536) {
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (masked)
		for (i = 0; i < 4; i++)
			out[n++] = key[i];
	for (i = 0; i < len; i++)
		out[n++] = masked ? p[i] ^ key[i & 3] : p[i];
	return n;
}

/* Deflate one message on z (RFC 7692 7.2.1: sync flush, tail cut). */
static size_t
deflate_msg(z_stream *z, const void *p, size_t len, uint8_t *out,
    size_t outsz)
{
	size_t	 n;

	z->next_in = (Bytef *)(uintptr_t)p;
	z->avail_in = (uInt)len;
	z->next_out = out;
	z->avail_out = (uInt)outsz;
	if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0)
		return 0;
	n = outsz - z->avail_out;
	return n >= 4 ? n - 4 : 0;
}

static uint8_t	 wire[T_FRAME_MAX], zbuf[T_FRAME_MAX];

static void
test_deflate(int takeover, int bits, int bytewise)
{
	struct ev_flow	 f;
	struct wsobs	*o;
	z_stream	 z;
	char		 ext[128], *big;
	size_t		 n, zn, i, k;
	const char	*text = "the same words, again and again and again";
	int		 ok1 = 1;

	snprintf(ext, sizeof(ext), "permessage-deflate; %s"
	    "client_max_window_bits=%d", takeover ? "" :
	    "client_no_context_takeover; ", bits);
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -(bits < 9 ? 9 :
	    bits), 8, Z_DEFAULT_STRATEGY);
	ev_flow_init(&f, 1, NULL);
	o = wsobs_new(NULL, &f, 3, ext, T_CAPTURE);
	/* big enough to pass the capture, compressible */
	big = malloc(200000);
	for (i = 0; i < 200000; i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	for (k = 0; k < 3; k++) {
		const char *m = k == 1 ? big : text;
		size_t	 mlen = k == 1 ? 200000 : strlen(text);

		if (!takeover)
			deflateReset(&z);
		zn = deflate_msg(&z, m, mlen, zbuf, sizeof(zbuf));
		n = frame(wire, 1, 1, 0x1, 1, zbuf, zn);
		if (bytewise)
			for (i = 0; i < n; i++)
				wsobs_feed(o, 0, wire + i, 1);
		else
			wsobs_feed(o, 0, wire, n);
		collect();
		/* the first message starts the turn */
		i = k == 0 ? 1 : 0;
		ok1 &= ev_has(i, "\"type\":\"ws_message\"",
		    "\"compressed\":true", head_member(m, mlen < T_CAPTURE ?
		    mlen : T_CAPTURE));
		ok1 &= ev_has(i, "\"stream\":3", "\"from\":\"client\"", NULL);
	}
	CHECK(ok1, "deflate takeover=%d bits=%d bytewise=%d: heads inflated "
	    "and cut to the capture", takeover, bits, bytewise);
	wsobs_end(o, "eof");
	collect();
	CHECK(nevs == 1 && ev_has(0, "ws_turn_completed", "\"messages\":3",
	    "\"reason\":\"eof\""), "the turn ends at eof");
	wsobs_free(o);
	ev_flow_free(&f);
	deflateEnd(&z);
	free(big);
}

static void
run_loop_until_events(void)
{
	int	 i;

	for (i = 0; i < T_LOOPS; i++) {
		event_base_loop(t_base, EVLOOP_ONCE);
		collect();
		if (nevs > 0)
			return;
	}
}

static void
test_turns(void)
{
	struct ev_flow	 f;
	struct wsobs	*o;
	size_t		 n;

	ev_flow_init(&f, 2, NULL);
	o = wsobs_new(t_base, &f, 1, "", T_CAPTURE);
	wsobs_set_idle(o, T_IDLE_MSEC);
	n = frame(wire, 0, 0, 0x2, 1, (const uint8_t *)"ab", 2);
	n += frame(wire + n, 1, 0, 0x9, 1, (const uint8_t *)"p", 1);
	n += frame(wire + n, 1, 0, 0x0, 1, (const uint8_t *)"cd", 2);
	wsobs_feed(o, 0, wire, n);
	collect();
	CHECK(nevs == 3 && ev_has(0, "\"opcode\":\"ping\"", NULL, NULL) &&
	    ev_has(1, "ws_turn_started", "\"turn\":1", "\"side\":\"client\"") &&
	    ev_has(2, "\"opcode\":\"binary\"", "\"frames\":2", head_member(
	    "abcd", 4)), "a ping between fragments; the message's turn");
	n = frame(wire, 1, 0, 0x1, 0, (const uint8_t *)"re", 2);
	wsobs_feed(o, 1, wire, n);
	collect();
	CHECK(nevs == 3 && ev_has(0, "ws_turn_completed", "\"reason\":"
	    "\"reply\"", "\"bytes\":4") && ev_has(0, "\"frames\":2",
	    "\"messages\":1", NULL) && ev_has(1, "ws_turn_started",
	    "\"turn\":2", "\"side\":\"server\"") && ev_has(2, "ws_message",
	    "\"from\":\"server\"", NULL), "a reply ends the turn");
	run_loop_until_events();
	CHECK(nevs == 1 && ev_has(0, "ws_turn_completed", "\"turn\":2",
	    "\"reason\":\"idle\""), "no message for the idle period");
	/* a masked frame from the server is a protocol error */
	n = frame(wire, 1, 0, 0x1, 0, (const uint8_t *)"x", 1);
	wsobs_feed(o, 1, wire, n);
	n = frame(wire, 1, 0, 0x1, 1, (const uint8_t *)"y", 1);
	wsobs_feed(o, 1, wire, n);
	wsobs_feed(o, 1, wire, n);
	collect();
	CHECK(nevs == 3 && ev_has(2, "ws_turn_completed", "\"turn\":3",
	    "\"reason\":\"error\""), "an error ends the turn, once");
	n = frame(wire, 1, 0, 0x8, 1, (const uint8_t *)"\x0f\xa0" "bye", 5);
	wsobs_feed(o, 0, wire, n);
	collect();
	CHECK(nevs == 1 && ev_has(0, "\"close_code\":4000",
	    "\"close_reason\":\"bye\"", "\"from\":\"client\""),
	    "the client is still observed after the server's error");
	CHECK(!wsobs_closed(o), "one close frame is not a clean close");
	wsobs_end(o, "eof");
	collect();
	CHECK(nevs == 0, "nothing open at the end");
	wsobs_free(o);
	ev_flow_free(&f);
}

static void
test_off(void)
{
	struct ev_flow	 f;
	struct wsobs	*o;
	size_t		 n;
	const char	*bad[] = { "x-foo", "permessage-deflate; bogus",
			    "permessage-deflate, permessage-deflate",
			    "permessage-deflate; server_max_window_bits=16" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev_flow_init(&f, 3, NULL);
		o = wsobs_new(t_base, &f, 1, bad[i], T_CAPTURE);
		n = frame(wire, 1, 0, 0x1, 1, (const uint8_t *)"hi", 2);
		wsobs_feed(o, 0, wire, n);
		wsobs_end(o, "eof");
		collect();
		CHECK(o != NULL && nevs == 0, "not observed: %s", bad[i]);
		wsobs_free(o);
		ev_flow_free(&f);
	}
}

int
main(void)
{
	if (t_evsink_open() == -1)
		return 2;
	ev_set_capture(T_CAPTURE / 1024);

	test_deflate(1, 15, 0);
	test_deflate(1, 10, 1);
	test_deflate(0, 8, 0);
	test_deflate(0, 12, 1);
	test_turns();
	test_off();

	collect();
	t_evsink_close();
	return unit_done();
}
