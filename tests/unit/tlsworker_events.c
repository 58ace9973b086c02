/*
 * Unit test of the worker's event encoder (tlsworker/events.c): every
 * event is read back off a real IPC channel and must pass webui's strict
 * check (webui/evparse.c, compiled in here: the contract that matters is
 * that webui takes what workers send); seq counts from 0 without gaps;
 * untrusted header bytes are escaped as mitmd-events(5) says; an
 * oversized head is cut, never dropped; bodies carry their size, SHA-256
 * and captured bytes.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "common/ipc.h"
#include "common/log.h"
#include "tests/unit/evsink.h"
#include "tests/unit/unit.h"
#include "tlsworker/events.h"
#include "tlsworker/http1.h"

/* webui's parser, the same source the webui links */
#include "webui/evparse.c"

#define T_BUF	(sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)
#define T_HEAD_MAX	(1024 * 1024)

static char		 text[IPC_MAX_PAYLOAD + 1];
static size_t		 textlen;
static struct wev	 ev;
/* MITMD_EVENTS_DUMP=file: every event also goes there, a line each, for
 * a second opinion (python3 -c 'import json,sys; [json.loads(l) for l in
 * open(sys.argv[1])]' file). */
static FILE		*dump;

/*
 * The next event off the channel, checked by webui's parser; 0 or -1
 * (nothing came, or webui would refuse it). The worker batches: what it
 * queued goes now (ev_flush), and one message may hold several events,
 * a newline between two, handed out one by one.
 */
static int
next_event(void)
{
	static uint8_t	 buf[T_BUF];
	static size_t	 mlen, moff;	/* the message being handed out */
	struct ipc_hdr	 h;
	const char	*why = NULL, *p, *nl;
	ssize_t		 n;

	if (moff >= mlen) {
		ev_flush();
		n = recv(t_peer, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < (ssize_t)sizeof(h))
			return (-1);
		memcpy(&h, buf, sizeof(h));
		if (h.ih_type != IMSG_EVENT || h.ih_len != n - sizeof(h) ||
		    h.ih_len > IPC_EVENT_MAX)
			return (-1);
		mlen = sizeof(h) + h.ih_len;
		moff = sizeof(h);
	}
	p = (const char *)buf + moff;
	nl = memchr(p, '\n', mlen - moff);
	textlen = nl != NULL ? (size_t)(nl - p) : mlen - moff;
	moff += textlen + (nl != NULL ? 1 : 0);
	if (nl != NULL && moff >= mlen)
		return (-1);	/* a newline at the end: webui refuses "" */
	memcpy(text, p, textlen);
	text[textlen] = '\0';
	if (dump != NULL)
		fprintf(dump, "%s\n", text);
	if (wev_parse(text, textlen, &ev, &why) == -1) {
		printf("# refused (%s): %.300s\n", why, text);
		return (-1);
	}
	return (0);
}

/* Nothing queued, nothing sent, nothing left of the last message. */
static int
nothing_queued(void)
{
	char	 b[1];

	ev_flush();
	return (recv(t_peer, b, sizeof(b), MSG_DONTWAIT) == -1 &&
	    next_event() == -1);
}

static int
has(const char *needle)
{
	return (memmem(text, textlen, needle, strlen(needle)) != NULL);
}

static void
parse_head(struct http1_head *h, int kind, const char *s, size_t len)
{
	size_t used = 0;
	int	 r;

	http1_head_init(h, kind, T_HEAD_MAX, 10000);
	r = http1_head_parse(h, s, len, &used);
	if (r != HTTP1_DONE)
		printf("# head did not parse: %d %s\n", r,
		    h->hh_error ? h->hh_error : "");
}

static void
test_common(void)
{
	struct ev_flow	 f;
	struct addr	 a;

	memset(&a, 0, sizeof(a));
	addr_parse_ip("192.0.2.7", &a);
	a.a_port = 40001;
	ev_flow_init(&f, 1234567890123ULL, &a);
	ev_connect_received(&f, "CONNECT", "explicit");
	CHECK(next_event() == 0 && ev.we_type == WEV_CONNECT_RECEIVED,
	    "connect_received is valid");
	CHECK(ev.we_flow == 1234567890123LL && ev.we_seq == 0,
	    "flow_id and seq 0");
	CHECK(strcmp(ev.we_client, "192.0.2.7:40001") == 0 &&
	    ev.we_host[0] == '\0' && ev.we_port == -1,
	    "client_addr; no target yet: server_host and port null");
	CHECK(has("\"server_host\":null") && has("\"server_port\":null"),
	    "null written as null");
	CHECK(strcmp(ev.we_method, "CONNECT") == 0 &&
	    strcmp(ev.we_protocol, "tcp") == 0, "method, protocol tcp");
	CHECK(strlen(ev.we_ts) == 27 && ev.we_ts[10] == 'T' &&
	    ev.we_ts[19] == '.' && ev.we_ts[26] == 'Z', "ts %s", ev.we_ts);
	CHECK(strncmp(text, "{\"v\":1,\"type\":\"connect_received\",", 33)
	    == 0, "v and type first");

	ev_set_target(&f, "example.com", 443);
	ev_connect_decision(&f, "intercept", 0, 0);
	CHECK(next_event() == 0 && ev.we_seq == 1 &&
	    strcmp(ev.we_rule_str, "default") == 0 && has("\"line\":0") &&
	    strcmp(ev.we_action, "intercept") == 0,
	    "connect_decision, default rule, seq 1");
	ev_connect_decision(&f, "block", 3, 12);
	CHECK(next_event() == 0 && ev.we_rule == 3 && has("\"line\":12") &&
	    strcmp(ev.we_host, "example.com") == 0 && ev.we_port == 443,
	    "rule index and line; target set");
	ev_connect_decision(&f, "tunnel", EV_RULE_PASSTHROUGH, 0);
	CHECK(next_event() == 0 && strcmp(ev.we_rule_str, "passthrough") == 0
	    && strcmp(ev.we_action, "tunnel") == 0,
	    "a learned passthrough names itself as the rule");
	ev_tls_started(&f, TLS_SIDE_UPSTREAM, "example.com");
	CHECK(next_event() == 0 && strcmp(ev.we_side, "upstream") == 0 &&
	    has("\"sni\":\"example.com\""), "tls_handshake_started upstream");
	ev_tls_succeeded(&f, TLS_SIDE_CLIENT, "TLSv1.3",
	    "TLS_AES_128_GCM_SHA256", NULL);
	CHECK(next_event() == 0 && strcmp(ev.we_side, "client") == 0 &&
	    strcmp(ev.we_tls_version, "TLSv1.3") == 0 &&
	    strcmp(ev.we_cipher, "TLS_AES_128_GCM_SHA256") == 0 &&
	    has("\"alpn\":null"), "tls_handshake_succeeded client");
	ev_tls_failed(&f, TLS_SIDE_UPSTREAM, TLSF_CERT_VALIDATION,
	    "certificate has expired\n(10)");
	CHECK(next_event() == 0 && strcmp(ev.we_failure, "cert_validation")
	    == 0 && has("\"detail\":\"certificate has expired\\n(10)\""),
	    "tls_handshake_failed: reason name, detail escaped");
	ev_tls_failed(&f, TLS_SIDE_CLIENT, TLSF_OTHER, "a\x01\x7f\tb\\");
	CHECK(next_event() == 0 && has("\"detail\":\"a\\u0001\\u007f\\tb"
	    "\\\\\""), "control characters and DEL escaped");
	ev_stream_closed(&f, "tls_failed", 517, 0);
	CHECK(next_event() == 0 && ev.we_seq == 8 && ev.we_bytes_in == 517 &&
	    ev.we_bytes_out == 0 && strcmp(ev.we_reason, "tls_failed") == 0,
	    "stream_closed, seq 7: no gaps");
	ev_flow_free(&f);
}

static void
test_escaping(void)
{
	static const char req[] =
	    "GET http://h.test/a%20b?q=\"x\" HTTP/1.1\r\n"
	    "Host: h.test\r\n"
	    "X-Quote: a\"b\\c\r\n"
	    "X-Latin: caf\xe9 \xff\xfe end\r\n"
	    "X-Utf8: caf\xc3\xa9 \xf0\x9f\x98\x80\r\n"
	    "X-Overlong: \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80\r\n"
	    "\r\n";
	struct http1_head h;
	struct ev_flow	 f;

	ev_flow_init(&f, 2, NULL);
	ev_set_target(&f, "h.test", 80);
	f.ef_protocol = "http/1.1";
	parse_head(&h, HTTP1_REQUEST, req, sizeof(req) - 1);
	ev_request_headers(&f, &h);
	CHECK(next_event() == 0 && ev.we_type == WEV_REQUEST_HEADERS,
	    "request_headers with hostile bytes is valid");
	CHECK(has("\"client_addr\":null"), "no client: null");
	CHECK(has("\"stream\":1") && strcmp(ev.we_method, "GET") == 0,
	    "first exchange is stream 1");
	CHECK(strcmp(ev.we_url, "http://h.test/a%20b?q=\"x\"") == 0 &&
	    has("\"target\":\"http://h.test/a%20b?q=\\\"x\\\"\""),
	    "absolute-form target is the URL, quotes escaped");
	CHECK(has("[\"X-Quote\",\"a\\\"b\\\\c\"]"), "quote and backslash");
	CHECK(has("[\"X-Latin\",\"caf\\ufffd \\ufffd\\ufffd end\"]"),
	    "bytes that are not UTF-8 become U+FFFD, one each");
	CHECK(has("[\"X-Utf8\",\"caf\xc3\xa9 \xf0\x9f\x98\x80\"]"),
	    "valid UTF-8 kept as it is");
	CHECK(has("\"\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd"
	    "\\ufffd\\ufffd\"]"),
	    "overlong, surrogate and past-U+10FFFF forms replaced");
	CHECK(has("\"http_version\":\"HTTP/1.1\""), "http_version");
	CHECK(!has("truncated"), "not truncated");
	http1_head_free(&h);
	ev_flow_free(&f);
}

static void
test_response(void)
{
	static const char resp[] =
	    "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	struct http1_head h;
	struct ev_flow	 f;

	ev_flow_init(&f, 3, NULL);
	ev_set_target(&f, "2001:db8::1", 8443);
	parse_head(&h, HTTP1_RESPONSE, resp, sizeof(resp) - 1);
	ev_response_headers(&f, &h);
	CHECK(next_event() == 0 && ev.we_status == 404 &&
	    has("\"reason\":\"Not Found\"") &&
	    has("\"http_version\":\"HTTP/1.0\"") &&
	    has("\"headers\":[[\"Content-Length\",\"0\"]]") &&
	    has("\"server_host\":\"2001:db8::1\""),
	    "response_headers: status, reason, version, headers");
	CHECK(has("\"stream\":0"), "a response before any request: stream 0");
	http1_head_free(&h);
	ev_flow_free(&f);
}

static void
test_truncation(void)
{
	struct http1_head h;
	struct ev_flow	 f;
	char		*req, *p;
	size_t		 i, n = 300, vlen = 1000;

	req = malloc(n * (vlen + 32) + 100000);
	p = req;
	p += sprintf(p, "GET http://big.test/");
	memset(p, 'a', 70000);
	p += 70000;
	p += sprintf(p, " HTTP/1.1\r\nHost: big.test\r\n");
	for (i = 0; i < n; i++) {
		p += sprintf(p, "X-H%zu: ", i);
		memset(p, i % 2 ? '"' : 'v', vlen);	/* '"' doubles */
		p += vlen;
		p += sprintf(p, "\r\n");
	}
	p += sprintf(p, "\r\n");
	ev_flow_init(&f, 4, NULL);
	parse_head(&h, HTTP1_REQUEST, req, (size_t)(p - req));
	ev_request_headers(&f, &h);
	CHECK(next_event() == 0, "an oversized head still gives an event");
	CHECK(textlen <= IPC_EVENT_MAX, "within IPC_EVENT_MAX (%zu)", textlen);
	CHECK(has(",\"truncated\":true}"), "marked truncated");
	CHECK(has("\"headers\":[[\"Host\",\"big.test\"]"),
	    "the first headers kept, in order");
	CHECK(has("\"url\":\"http://big.test/aaaa"), "a long URL is cut");
	ev_body_chunk(&f, 0, "x", 1, 1);
	CHECK(next_event() == 0 && ev.we_seq == 1,
	    "the next event follows without a gap");
	http1_head_free(&h);
	ev_flow_free(&f);
	free(req);
}

static void
test_bodies(void)
{
	static const char hello[] = "hello world";
	static const char sha[] = "b94d27b9934d3e08a52e52d7da7dabfac484efe3"
	    "7a5380ee9088f7ace2efcde9";
	static uint8_t	 big[1500], back[2048];
	struct ev_flow	 f;
	ssize_t		 n;
	size_t		 i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	ev_set_capture(1);	/* 1 KiB */
	ev_flow_init(&f, 5, NULL);
	ev_set_target(&f, "b.test", 443);
	ev_body_chunk(&f, 1, hello, 5, 0);
	CHECK(nothing_queued(), "a small piece waits for more");
	ev_body_chunk(&f, 1, hello + 5, 6, 1);
	CHECK(next_event() == 0 && ev.we_type == WEV_RESPONSE_BODY &&
	    ev.we_offset == 0 && ev.we_size == 11 && ev.we_last == 1 &&
	    ev.we_body_size == 11 && has(sha),
	    "the pieces coalesced: one last chunk, size and SHA-256");
	CHECK(ev.we_cap_len != 0 && (n = wev_b64_decode(text +
	    ev.we_capv_off, ev.we_capv_len, back, sizeof(back))) == 11 &&
	    memcmp(back, hello, 11) == 0, "captured bytes of both pieces");
	ev_body_chunk(&f, 0, NULL, 0, 1);
	CHECK(next_event() == 0 && ev.we_type == WEV_REQUEST_BODY &&
	    ev.we_body_size == 0 && has("\"body_sha256\":\"e3b0c44298fc1c14"
	    "9afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"") &&
	    ev.we_cap_len == 0, "an empty body: SHA-256 of nothing");
	ev_body_chunk(&f, 1, big, sizeof(big), 0);
	ev_body_chunk(&f, 1, big, sizeof(big), 1);
	CHECK(next_event() == 0 && (n = wev_b64_decode(text +
	    ev.we_capv_off, ev.we_capv_len, back, sizeof(back))) == 1024 &&
	    memcmp(back, big, 1024) == 0 && ev.we_body_size == 3000 &&
	    ev.we_size == 3000,
	    "a new body: capture again, 1 KiB of it, then it stops");
	ev_set_capture(0);
	ev_body_chunk(&f, 1, hello, 5, 1);
	CHECK(next_event() == 0 && ev.we_cap_len == 0 &&
	    ev.we_body_size == 5, "capture off: no capture_b64");
	CHECK(ev.we_seq == 3, "seq 3");
	ev_flow_free(&f);
}

/* Pieces add up to EV_CHUNK_BYTES before a chunk event goes; what waits
 * goes before the flow's stream_closed. */
static void
test_coalescing(void)
{
	static uint8_t	 piece[16384], back[2048];
	struct ev_flow	 f;
	uint64_t	 i;
	ssize_t		 n;

	memset(piece, 'p', sizeof(piece));
	ev_set_capture(1);
	ev_flow_init(&f, 8, NULL);
	ev_set_target(&f, "c.test", 443);
	for (i = 0; i + sizeof(piece) < EV_CHUNK_BYTES; i += sizeof(piece))
		ev_body_chunk(&f, 1, piece, sizeof(piece), 0);
	CHECK(nothing_queued(), "below EV_CHUNK_BYTES: nothing yet");
	ev_body_chunk(&f, 1, piece, sizeof(piece), 0);
	CHECK(next_event() == 0 && ev.we_offset == 0 &&
	    ev.we_size == (int64_t)EV_CHUNK_BYTES && ev.we_last == 0 &&
	    (n = wev_b64_decode(text + ev.we_capv_off, ev.we_capv_len, back,
	    sizeof(back))) == 1024, "one chunk of EV_CHUNK_BYTES, not last, "
	    "with the capture");
	ev_body_chunk(&f, 1, piece, 100, 0);
	CHECK(nothing_queued(), "the next bytes wait");
	ev_stream_closed(&f, "upstream_eof", 1, 2);
	CHECK(next_event() == 0 && ev.we_type == WEV_RESPONSE_BODY &&
	    ev.we_offset == (int64_t)EV_CHUNK_BYTES && ev.we_size == 100 &&
	    ev.we_last == 0 && ev.we_cap_len == 0 && ev.we_seq == 1,
	    "what waited goes before stream_closed");
	CHECK(next_event() == 0 && ev.we_type == WEV_STREAM_CLOSED &&
	    ev.we_seq == 2, "then stream_closed");
	ev_set_capture(0);
	ev_flow_free(&f);
}

static void
test_origin_form(void)
{
	static const char req[] = "GET /p?x=1 HTTP/1.1\r\nHost: o\r\n\r\n";
	struct http1_head h;
	struct ev_flow	 f;

	ev_flow_init(&f, 6, NULL);
	ev_set_target(&f, "o.test", 443);
	/* inside a TLS tunnel: the scheme follows the client side */
	f.ef_tls = 1;
	/* the proxy parser refuses origin-form today: fake the result */
	parse_head(&h, HTTP1_REQUEST, "GET http://o/p?x=1 HTTP/1.1\r\n\r\n",
	    31);
	h.hh_target.hs_off = h.hh_path.hs_off;
	h.hh_target.hs_len = h.hh_path.hs_len;
	ev_request_headers(&f, &h);
	CHECK(next_event() == 0 && strcmp(ev.we_url, "https://o.test/p?x=1")
	    == 0, "origin-form on 443: https URL (%s)", ev.we_url);
	ev_set_target(&f, "2001:db8::1", 8443);
	ev_request_headers(&f, &h);
	CHECK(next_event() == 0 && strcmp(ev.we_url,
	    "https://[2001:db8::1]:8443/p?x=1") == 0 && ev.we_stream == 2,
	    "IPv6 host in brackets, port, stream 2 (%s)", ev.we_url);
	f.ef_tls = 0;
	ev_set_target(&f, "o.test", 8080);
	ev_request_headers(&f, &h);
	CHECK(next_event() == 0 && strcmp(ev.we_url,
	    "http://o.test:8080/p?x=1") == 0,
	    "clear HTTP in a tunnel: http URL (%s)", ev.we_url);
	(void)req;
	http1_head_free(&h);
	ev_flow_free(&f);
}

/* The events of one pass of the event loop go as one message, in order;
 * a batch past IPC_EVENT_MAX goes in several. */
static void
test_batch(void)
{
	static uint8_t	 buf[T_BUF];
	struct ev_flow	 f;
	ssize_t		 n;
	int		 i, lines, ok;

	ev_flow_init(&f, 9, NULL);
	ev_connect_received(&f, "CONNECT", "explicit");
	ev_connect_decision(&f, "tunnel", 0, 0);
	ev_stream_closed(&f, "closed", 1, 1);
	/* the deferred flush runs at the end of the loop's pass */
	event_base_loop(t_base, EVLOOP_NONBLOCK);
	n = recv(t_peer, buf, sizeof(buf), MSG_DONTWAIT);
	for (i = (int)sizeof(struct ipc_hdr), lines = 1; i < n; i++)
		lines += buf[i] == '\n';
	CHECK(n > 0 && lines == 3, "three events, one message (%d)", lines);
	CHECK(nothing_queued(), "and nothing more");
	ev_flow_free(&f);

	ev_flow_init(&f, 10, NULL);
	ev_set_target(&f, "batch.test", 443);
	for (i = 0; i < 200; i++)
		ev_tls_failed(&f, TLS_SIDE_CLIENT, TLSF_OTHER,
		    "0123456789012345678901234567890123456789012345678901234"
		    "5678901234567890123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789012345678901234"
		    "5678901234567890123456789012345678901234567890123456789");
	for (i = 0, ok = 1; i < 200 && ok; i++)
		ok = next_event() == 0 && ev.we_seq == i;
	CHECK(ok, "200 events past one message: all, in order (%d)", i);
	CHECK(nothing_queued(), "and nothing more");
	ev_flow_free(&f);
}

static void
test_no_sink(void)
{
	struct ev_flow f;

	ev_set_sink(NULL);
	ev_flow_init(&f, 7, NULL);
	ev_connect_received(&f, "CONNECT", "explicit");
	ev_body_chunk(&f, 0, "abc", 3, 1);
	CHECK(nothing_queued(), "no sink: nothing sent");
	ev_set_sink(t_chan);
	ev_stream_closed(&f, "closed", 0, 0);
	CHECK(next_event() == 0 && ev.we_seq == 2,
	    "events without a sink still take their seq (a visible gap)");
	ev_flow_free(&f);
	/* no consumer at all (store off, no sink): nothing is made */
	ev_set_enabled(0);
	ev_flow_init(&f, 11, NULL);
	ev_connect_received(&f, "CONNECT", "explicit");
	ev_body_chunk(&f, 1, "abc", 3, 1);
	ev_stream_closed(&f, "closed", 0, 0);
	CHECK(nothing_queued() && f.ef_x.ex_body[1].eb_md == NULL,
	    "events off: nothing encoded, no digest");
	ev_flow_free(&f);
	ev_set_enabled(1);
}

int
main(void)
{
	if (getenv("MITMD_EVENTS_DUMP") != NULL)
		dump = fopen(getenv("MITMD_EVENTS_DUMP"), "w");
	if (t_evsink_open() == -1)
		return (2);

	test_common();
	test_escaping();
	test_response();
	test_truncation();
	test_bodies();
	test_coalescing();
	test_origin_form();
	test_batch();
	test_no_sink();
	CHECK(nothing_queued(), "nothing left over");

	t_evsink_close();
	if (dump != NULL)
		fclose(dump);
	return (unit_done());
}
