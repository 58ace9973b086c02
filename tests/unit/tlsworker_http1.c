/*
 * Unit test of the tlsworker's HTTP/1.x parsers (tlsworker/http1*.c):
 * CONNECT targets (names, IPv6, ports), absolute-form targets, header
 * syntax and limits, body framing and the smuggling cases, response heads,
 * the heads the proxy writes, and the chunked walker, each fed whole and
 * one byte at a time; requests inside a CONNECT tunnel (origin-form,
 * Host kept, forwarded as written).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/http1.h"

#define T_MAX_HEAD   65536
#define T_MAX_FIELDS 100

/* Feed s in pieces of step bytes (0: whole); returns the result and the
 * bytes used in total. */
static int
feed(struct http1_head *h, const char *s, size_t len, size_t step,
    size_t *total)
{
	size_t	 off = 0, n, used;
	int	 r = HTTP1_MORE;

	*total = 0;
	while (off < len) {
		n = step == 0 || len - off < step ? len - off : step;
		r = http1_head_parse(h, s + off, n, &used);
		*total += used;
		if (r != HTTP1_MORE)
			return r;
		off += n;
	}
	return r;
}

/* Parse a request whole and byte by byte; both must agree. The head
 * parsed whole stays in *h for the caller to look at. */
static int
req(struct http1_head *h, const char *s)
{
	struct http1_head	 b;
	size_t			 u1, u2;
	int			 r1, r2;

	http1_head_init(h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	r1 = feed(h, s, strlen(s), 0, &u1);
	http1_head_init(&b, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	r2 = feed(&b, s, strlen(s), 1, &u2);
	if (r1 != r2 || u1 != u2 || (r1 == HTTP1_ERROR &&
	    h->hh_status != b.hh_status) || (r1 == HTTP1_DONE &&
	    (strcmp(h->hh_host, b.hh_host) != 0 || h->hh_port != b.hh_port)))
		printf("# whole and bytewise differ for %s\n", s);
	http1_head_free(&b);
	if (r1 != r2)
		return -1;
	return r1;
}

/* The status a request gets: 0 for a complete valid head. */
static int
status(const char *s)
{
	struct http1_head	 h;
	int			 r, st;

	r = req(&h, s);
	st = r == HTTP1_DONE ? 0 : r == HTTP1_ERROR ? h.hh_status : -1;
	http1_head_free(&h);
	return st;
}

static int
connect_ok(const char *target, const char *host, unsigned port, int v6)
{
	struct http1_head	 h;
	char			 line[1024];
	int			 ok;

	snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
	    target, target);
	ok = req(&h, line) == HTTP1_DONE &&
	    h.hh_method_id == HTTP1_M_CONNECT && strcmp(h.hh_host, host) == 0 &&
	    h.hh_port == port && h.hh_host_v6 == v6;
	http1_head_free(&h);
	return ok;
}

static int
connect_status(const char *target)
{
	char	 line[1024];

	snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\n\r\n", target);
	return status(line);
}

static void
test_connect(void)
{
	struct http1_head h;
	const char	*s = "CONNECT example.com:443 HTTP/1.1\r\n"
	    "Host: example.com:443\r\n\r\n\x16\x03\x01";
	char		 big[400];
	size_t		 used;

	CHECK(connect_ok("example.com:443", "example.com", 443, 0),
	    "CONNECT host:port");
	CHECK(connect_ok("EXAMPLE.Com:8443", "example.com", 8443, 0),
	    "host lower-cased");
	CHECK(connect_ok("[2001:db8::1]:443", "2001:db8::1", 443, 1),
	    "CONNECT [v6]:port");
	CHECK(connect_ok("[::FFFF:10.0.0.1]:443", "::ffff:10.0.0.1", 443, 1),
	    "CONNECT v4-mapped v6");
	CHECK(connect_ok("10.1.2.3:22", "10.1.2.3", 22, 0), "CONNECT v4");
	CHECK(connect_ok("a_b.example.:1", "a_b.example.", 1, 0),
	    "underscore, trailing dot, port 1");
	CHECK(connect_ok("x:65535", "x", 65535, 0), "port 65535");

	http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	CHECK(http1_head_parse(&h, s, strlen(s), &used) == HTTP1_DONE &&
	    used == strlen(s) - 3, "bytes after the head are not used");
	http1_head_free(&h);

	CHECK(connect_status("example.com") == 400, "no port");
	CHECK(connect_status("example.com:") == 400, "empty port");
	CHECK(connect_status("example.com:0") == 400, "port 0");
	CHECK(connect_status("example.com:65536") == 400, "port 65536");
	CHECK(connect_status("example.com:99999999") == 400, "port long");
	CHECK(connect_status("example.com:-1") == 400, "port -1");
	CHECK(connect_status("example.com:+443") == 400, "port +443");
	CHECK(connect_status("example.com:44a") == 400, "port not numeric");
	CHECK(connect_status("example.com:443:1") == 400, "two colons");
	CHECK(connect_status(":443") == 400, "empty host");
	CHECK(connect_status("[]:443") == 400, "empty v6");
	CHECK(connect_status("[2001:db8::1]443") == 400, "v6 no colon");
	CHECK(connect_status("[2001:db8::1]") == 400, "v6 no port");
	CHECK(connect_status("[2001:db8::g]:443") == 400, "bad v6");
	CHECK(connect_status("[fe80::1%eth0]:443") == 400, "zone id");
	CHECK(connect_status("2001:db8::1:443") == 400, "v6 unbracketed");
	CHECK(connect_status("[10.0.0.1]:443") == 400, "v4 in brackets");
	CHECK(connect_status("user@example.com:443") == 400, "userinfo");
	CHECK(connect_status("exa%41mple.com:443") == 400, "percent");
	CHECK(connect_status("a..b:443") == 400, "empty label");
	CHECK(connect_status(".a:443") == 400, "leading dot");
	CHECK(connect_status("http://a:443") == 400, "URL as authority");
	memset(big, 'a', 64);
	strcpy(big + 64, ".com:443");
	CHECK(connect_status(big) == 400, "label of 64");
	memset(big, 'a', sizeof(big));
	for (int i = 63; i < 300; i += 64)
		big[i] = '.';
	strcpy(big + 256, ":443");
	CHECK(connect_status(big) == 400, "name of 256");

	CHECK(status("CONNECT  a:1 HTTP/1.1\r\n\r\n") == 400, "double space");
	CHECK(status("CONNECT a:1 HTTP/1.1 \r\n\r\n") == 400, "trailing space");
	CHECK(status("CONNECT a:1\r\n\r\n") == 400, "no version");
	CHECK(status("CONNECT a:1 HTTP/2.0\r\n\r\n") == 505, "HTTP/2.0");
	CHECK(status("CONNECT a:1 HTTP/1.2\r\n\r\n") == 505, "HTTP/1.2");
	CHECK(status("CONNECT a:1 http/1.1\r\n\r\n") == 400, "lower-case version");
	CHECK(status("CONNECT a:1 HTTP/1.10\r\n\r\n") == 400, "HTTP/1.10");
	CHECK(status("connect a:1 HTTP/1.1\r\n\r\n") == 400,
	    "method is case-sensitive");
	CHECK(status("CONN(ECT a:1 HTTP/1.1\r\n\r\n") == 400, "bad method");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n") ==
	    400, "CONNECT with a body");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 0,
	    "CONNECT with Content-Length 0");
	CHECK(status("\r\n\r\nCONNECT a:1 HTTP/1.1\r\n\r\n") == 0,
	    "blank lines before the request line");
	CHECK(status("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nCONNECT a:1 HTTP/1.1"
	    "\r\n\r\n") == 400, "too many blank lines");
}

static void
test_fields(void)
{
	static const char nul[] = "CONNECT a:1 HTTP/1.1\r\nX: a\0b\r\n\r\n";
	struct http1_head h;
	const struct http1_field *f;
	char		*s;
	size_t		 i, n, used;
	int		 r;

	CHECK(req(&h, "CONNECT a:1 HTTP/1.1\r\nX-A:  v a l \t\r\nX-B:\r\n\r\n")
	    == HTTP1_DONE && (f = http1_field(&h, "x-a")) != NULL &&
	    strcmp(http1_str(&h, f->hf_value), "v a l") == 0 &&
	    (f = http1_field(&h, "X-B")) != NULL && f->hf_value.hs_len == 0,
	    "values trimmed, empty value");
	http1_head_free(&h);
	CHECK(status("CONNECT a:1 HTTP/1.1\nHost: a\n\n") == 0, "lone LF");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nHost : a\r\n\r\n") == 400,
	    "space before colon");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nHost\t: a\r\n\r\n") == 400,
	    "tab before colon");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\n: a\r\n\r\n") == 400,
	    "empty name");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nNoColon\r\n\r\n") == 400,
	    "no colon");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nX: a\r\n b\r\n\r\n") == 400,
	    "obs-fold");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nX: a\rb\r\n\r\n") == 400,
	    "bare CR in value");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\r\n\r\n") == 400,
	    "CR CR LF");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nX: a\x01\r\n\r\n") == 400,
	    "control character");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nX: a\x7f\r\n\r\n") == 400, "DEL");
	CHECK(status("CONNECT a:1 HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n") == 0,
	    "obs-text in value");
	http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	r = http1_head_parse(&h, nul, sizeof(nul) - 1, &used);
	CHECK(r == HTTP1_ERROR && h.hh_status == 400, "NUL in value");
	http1_head_free(&h);

	/* Header count: exactly the limit passes, one more is 431. */
	if ((s = malloc(T_MAX_HEAD + 8)) == NULL)
		return;
	for (int extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(s, "CONNECT a:1 HTTP/1.1\r\n");
		for (i = 0; i < T_MAX_FIELDS + (size_t)extra; i++)
			n += (size_t)sprintf(s + n, "X-%zu: v\r\n", i);
		strcpy(s + n, "\r\n");
		CHECK(status(s) == (extra ? 431 : 0), "%d fields",
		    T_MAX_FIELDS + extra);
	}
	/* Head size: max_head bytes in all pass, one more is 431, and the
	 * answer comes before the head ends. */
	for (int extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(s, "CONNECT a:1 HTTP/1.1\r\nX: ");
		memset(s + n, 'a', T_MAX_HEAD - n - 4 + (size_t)extra);
		memcpy(s + T_MAX_HEAD - 4 + extra, "\r\n\r\n", 4);
		http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
		r = feed(&h, s, T_MAX_HEAD + (size_t)extra, 0, &used);
		CHECK(extra ? r == HTTP1_ERROR && h.hh_status == 431 :
		    r == HTTP1_DONE, "head of %d bytes", T_MAX_HEAD + extra);
		http1_head_free(&h);
	}
	http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	memset(s, 'A', T_MAX_HEAD);
	r = http1_head_parse(&h, s, T_MAX_HEAD, &used);
	CHECK(r == HTTP1_MORE, "a max-size line without end: more");
	r = http1_head_parse(&h, "A", 1, &used);
	CHECK(r == HTTP1_ERROR && h.hh_status == 431, "one byte over: 431");
	http1_head_free(&h);
	free(s);
}

static int
abs_ok(const char *line, const char *host, unsigned port, const char *path)
{
	struct http1_head	 h;
	int			 ok;

	ok = req(&h, line) == HTTP1_DONE && strcmp(h.hh_host, host) == 0 &&
	    h.hh_port == port && strcmp(http1_str(&h, h.hh_path), path) == 0;
	http1_head_free(&h);
	return ok;
}

static void
test_absolute(void)
{
	CHECK(abs_ok("GET http://example.com/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
	    "example.com", 80, "/p?q=1"), "absolute-form");
	CHECK(abs_ok("GET http://example.com HTTP/1.1\r\n\r\n", "example.com",
	    80, ""), "no path");
	CHECK(abs_ok("GET http://example.com?x HTTP/1.1\r\n\r\n",
	    "example.com", 80, "?x"), "query without path");
	CHECK(abs_ok("POST HTTP://Example.COM:8080/x HTTP/1.0\r\n\r\n",
	    "example.com", 8080, "/x"), "scheme case, port");
	CHECK(abs_ok("GET http://[::1]:8080/ HTTP/1.1\r\n\r\n", "::1", 8080,
	    "/"), "v6 literal");
	CHECK(abs_ok("HEAD http://1.2.3.4/ HTTP/1.1\r\n\r\n", "1.2.3.4", 80,
	    "/"), "v4 literal");
	CHECK(status("GET https://example.com/ HTTP/1.1\r\n\r\n") == 501,
	    "https:// is 501");
	CHECK(status("GET ftp://example.com/ HTTP/1.1\r\n\r\n") == 501,
	    "ftp:// is 501");
	CHECK(status("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n") == 400,
	    "origin-form");
	CHECK(status("OPTIONS * HTTP/1.1\r\n\r\n") == 400, "asterisk-form");
	CHECK(status("GET example.com HTTP/1.1\r\n\r\n") == 400, "no scheme");
	CHECK(status("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n") ==
	    400, "userinfo");
	CHECK(status("GET http:///x HTTP/1.1\r\n\r\n") == 400, "empty host");
	CHECK(status("GET http://a:/x HTTP/1.1\r\n\r\n") == 400, "empty port");
	CHECK(status("GET http://a:0/x HTTP/1.1\r\n\r\n") == 400, "port 0");
	CHECK(status("GET http://a/x#f HTTP/1.1\r\n\r\n") == 400, "fragment");
	CHECK(status("GET http://a/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	    == 400, "two Host fields");
}

static int
framing(const char *s, int *fr, uint64_t *clen)
{
	struct http1_head	 h;
	int			 r;

	r = req(&h, s);
	*fr = h.hh_framing;
	*clen = h.hh_clen;
	r = r == HTTP1_DONE ? 0 : r == HTTP1_ERROR ? h.hh_status : -1;
	http1_head_free(&h);
	return r;
}

#define POST "POST http://a/ HTTP/1.1\r\n"
#define POST10 "POST http://a/ HTTP/1.0\r\n"

static void
test_framing(void)
{
	int		 fr;
	uint64_t	 cl;

	CHECK(framing(POST "\r\n", &fr, &cl) == 0 && fr == HTTP1_BODY_NONE,
	    "no body");
	CHECK(framing(POST "Content-Length: 10\r\n\r\n", &fr, &cl) == 0 &&
	    fr == HTTP1_BODY_LENGTH && cl == 10, "Content-Length");
	CHECK(framing(POST "Content-Length: 0\r\n\r\n", &fr, &cl) == 0 &&
	    fr == HTTP1_BODY_NONE, "Content-Length 0");
	CHECK(framing(POST "Content-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
	    &fr, &cl) == 0 && cl == 7, "equal repeated lengths");
	CHECK(framing(POST "Content-Length: 7\r\nContent-Length: 8\r\n\r\n",
	    &fr, &cl) == 400, "differing lengths");
	CHECK(framing(POST "Content-Length: 7, 8\r\n\r\n", &fr, &cl) == 400,
	    "differing list");
	CHECK(framing(POST "Content-Length: -1\r\n\r\n", &fr, &cl) == 400,
	    "negative length");
	CHECK(framing(POST "Content-Length: +1\r\n\r\n", &fr, &cl) == 400,
	    "signed length");
	CHECK(framing(POST "Content-Length: 0x10\r\n\r\n", &fr, &cl) == 400,
	    "hex length");
	CHECK(framing(POST "Content-Length: 1 0\r\n\r\n", &fr, &cl) == 400,
	    "space in length");
	CHECK(framing(POST "Content-Length:\r\n\r\n", &fr, &cl) == 400,
	    "empty length");
	CHECK(framing(POST "Content-Length: 99999999999999999999999\r\n\r\n",
	    &fr, &cl) == 400, "length overflow");
	CHECK(framing(POST "Content-Length: 4611686018427387904\r\n\r\n",
	    &fr, &cl) == 0 && cl == HTTP1_CLEN_MAX, "length at the cap");
	CHECK(framing(POST "Content-Length: 4611686018427387905\r\n\r\n",
	    &fr, &cl) == 400, "length over the cap");
	CHECK(framing(POST "Transfer-Encoding: chunked\r\n\r\n", &fr, &cl)
	    == 0 && fr == HTTP1_BODY_CHUNKED, "chunked");
	CHECK(framing(POST "Transfer-Encoding:  Chunked \r\n\r\n", &fr, &cl)
	    == 0 && fr == HTTP1_BODY_CHUNKED, "Chunked, spaces");
	/* The smuggling pairs: CL.TE and TE.CL are refused, whatever order. */
	CHECK(framing(POST "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", &fr, &cl) == 400, "CL then TE");
	CHECK(framing(POST "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"
	    "\r\n", &fr, &cl) == 400, "TE then CL");
	CHECK(framing(POST "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"
	    "\r\n", &fr, &cl) == 400, "TE and CL 0");
	CHECK(framing(POST10 "Transfer-Encoding: chunked\r\n\r\n", &fr, &cl)
	    == 400, "TE in HTTP/1.0");
	CHECK(framing(POST "Transfer-Encoding: gzip\r\n\r\n", &fr, &cl) == 400,
	    "final coding not chunked");
	CHECK(framing(POST "Transfer-Encoding: chunked, gzip\r\n\r\n", &fr,
	    &cl) == 400, "chunked not last");
	CHECK(framing(POST "Transfer-Encoding: gzip, chunked\r\n\r\n", &fr,
	    &cl) == 501, "gzip, chunked: 501");
	CHECK(framing(POST "Transfer-Encoding: chunked, chunked\r\n\r\n", &fr,
	    &cl) == 400, "chunked twice");
	CHECK(framing(POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
	    "identity\r\n\r\n", &fr, &cl) == 400, "two TE fields");
	CHECK(framing(POST "Transfer-Encoding: xchunked\r\n\r\n", &fr, &cl) ==
	    400, "xchunked");
	CHECK(framing(POST "Transfer-Encoding:\r\n\r\n", &fr, &cl) == 400,
	    "empty TE");
	CHECK(framing(POST "Transfer-Encoding : chunked\r\n\r\n", &fr, &cl) ==
	    400, "TE with space before colon");
	CHECK(framing(POST "Transfer-Encoding: chunked\r\n\tgzip\r\n\r\n", &fr,
	    &cl) == 400, "TE folded");
}

static int
resp(const char *s, int req_head, struct http1_head *h)
{
	size_t	 used;
	int	 r;

	http1_head_init(h, HTTP1_RESPONSE, T_MAX_HEAD, T_MAX_FIELDS);
	h->hh_req_head = req_head;
	r = feed(h, s, strlen(s), 1, &used);
	return r;
}

static void
test_response(void)
{
	struct http1_head h;

	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, &h) ==
	    HTTP1_DONE && h.hh_code == 200 && h.hh_framing ==
	    HTTP1_BODY_LENGTH && h.hh_clen == 5 && http1_keepalive(&h) &&
	    strcmp(http1_str(&h, h.hh_reason), "OK") == 0, "200 with length");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200\r\n\r\n", 0, &h) == HTTP1_DONE &&
	    h.hh_framing == HTTP1_BODY_CLOSE && h.hh_reason.hs_len == 0,
	    "no reason, close-delimited");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, &h) ==
	    HTTP1_DONE && h.hh_framing == HTTP1_BODY_NONE, "HEAD: no body");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0,
	    &h) == HTTP1_DONE && h.hh_framing == HTTP1_BODY_NONE, "204");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n", 0, &h) == HTTP1_DONE &&
	    h.hh_framing == HTTP1_BODY_NONE, "304");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 100 Continue\r\n\r\n", 0, &h) == HTTP1_DONE &&
	    h.hh_code == 100 && h.hh_framing == HTTP1_BODY_NONE, "100");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
	    &h) == HTTP1_DONE && h.hh_framing == HTTP1_BODY_CHUNKED,
	    "chunked response");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0,
	    &h) == HTTP1_DONE && h.hh_framing == HTTP1_BODY_CLOSE,
	    "TE not chunked: until close");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n", 0, &h) == HTTP1_ERROR,
	    "TE and CL in a response");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
	    &h) == HTTP1_ERROR, "TE in an HTTP/1.0 response");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &h) == HTTP1_DONE &&
	    http1_keepalive(&h), "1.0 keep-alive");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n", 0, &h) ==
	    HTTP1_DONE && !http1_keepalive(&h), "Connection: close");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 99 X\r\n\r\n", 0, &h) == HTTP1_ERROR, "code 99");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 2000 X\r\n\r\n", 0, &h) == HTTP1_ERROR,
	    "code 2000");
	http1_head_free(&h);
	CHECK(resp("HTTP/2 200 OK\r\n\r\n", 0, &h) == HTTP1_ERROR, "HTTP/2");
	http1_head_free(&h);
	CHECK(resp("\r\nHTTP/1.1 200 OK\r\n\r\n", 0, &h) == HTTP1_ERROR,
	    "blank line before a status line");
	http1_head_free(&h);
	CHECK(resp("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 0, &h) ==
	    HTTP1_ERROR, "bad field in a response");
	http1_head_free(&h);
}

static void
test_build(void)
{
	struct http1_head h;
	char		*s;
	size_t		 len;
	int		 r;

	r = req(&h, "GET http://example.com/p HTTP/1.1\r\n"
	    "Host: evil.example\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
	    "Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\n"
	    "Proxy-Authorization: Basic eDp5\r\nTE: trailers\r\nTrailer: X\r\n"
	    "Upgrade: h2c\r\nX-Keep: yes\r\n\r\n");
	s = http1_build_request(&h, &len);
	CHECK(r == HTTP1_DONE && s != NULL && strcmp(s, "GET /p HTTP/1.1\r\n"
	    "Host: example.com\r\nX-Keep: yes\r\n\r\n") == 0 &&
	    len == strlen(s) && !http1_keepalive(&h),
	    "hop-by-hop removed, Host from target");
	free(s);
	http1_head_free(&h);

	r = req(&h, "GET http://[::1]:8080 HTTP/1.0\r\n\r\n");
	s = http1_build_request(&h, &len);
	CHECK(r == HTTP1_DONE && s != NULL && strcmp(s, "GET / HTTP/1.0\r\n"
	    "Host: [::1]:8080\r\nConnection: keep-alive\r\n\r\n") == 0 &&
	    !http1_keepalive(&h), "1.0, v6 Host with port, path /");
	free(s);
	http1_head_free(&h);

	resp("HTTP/1.0 200 Fine\r\nKeep-Alive: x\r\nContent-Length: 2\r\n\r\n",
	    0, &h);
	s = http1_build_response(&h, 0, 1, &len);
	CHECK(s != NULL && strcmp(s, "HTTP/1.1 200 Fine\r\nContent-Length: 2"
	    "\r\nConnection: close\r\n\r\n") == 0, "response, closing");
	free(s);
	s = http1_build_response(&h, 1, 0, &len);
	CHECK(s != NULL && strcmp(s, "HTTP/1.1 200 Fine\r\nContent-Length: 2"
	    "\r\nConnection: keep-alive\r\n\r\n") == 0,
	    "response, kept for a 1.0 client");
	free(s);
	s = http1_build_response(&h, 1, 1, &len);
	CHECK(s != NULL && strcmp(s, "HTTP/1.1 200 Fine\r\nContent-Length: 2"
	    "\r\n\r\n") == 0, "response, kept for a 1.1 client");
	free(s);
	http1_head_free(&h);
	resp("HTTP/1.1 100 Continue\r\n\r\n", 0, &h);
	s = http1_build_response(&h, 0, 1, &len);
	CHECK(s != NULL && strcmp(s, "HTTP/1.1 100 Continue\r\n\r\n") == 0,
	    "interim response has no Connection");
	free(s);
	http1_head_free(&h);
}

struct collect {
	char	 buf[4096];
	size_t	 len;
};

static void
collect(void *arg, const char *p, size_t n)
{
	struct collect *c = arg;

	if (c->len + n <= sizeof(c->buf)) {
		memcpy(c->buf + c->len, p, n);
		c->len += n;
	}
}

/* Walk s whole (step 0) or in steps: the result, bytes used, the data. */
static int
chunked(const char *s, size_t len, size_t step, size_t *total,
    struct collect *c)
{
	struct http1_chunked ck;
	size_t		 off = 0, n, used;
	int		 r = HTTP1_MORE;

	http1_chunked_init(&ck);
	memset(c, 0, sizeof(*c));
	*total = 0;
	while (off < len) {
		n = step == 0 || len - off < step ? len - off : step;
		r = http1_chunked_feed(&ck, s + off, n, &used, collect, c);
		*total += used;
		if (r != HTTP1_MORE)
			return r;
		off += n;
	}
	return r;
}

static int
chunk_ok(const char *s, const char *data)
{
	struct collect	 c;
	size_t		 used, step;
	int		 ok = 1;

	/* Whole, then byte by byte, then in threes: same result. */
	for (step = 0; step <= 3; step += step == 0 ? 1 : 2) {
		if (chunked(s, strlen(s), step, &used, &c) != HTTP1_DONE ||
		    c.len != strlen(data) || memcmp(c.buf, data, c.len) != 0)
			ok = 0;
	}
	return ok;
}

static int
chunk_bad(const char *s)
{
	struct collect	 c;
	size_t		 used;

	return chunked(s, strlen(s), 0, &used, &c) == HTTP1_ERROR &&
	    chunked(s, strlen(s), 1, &used, &c) == HTTP1_ERROR;
}

static void
test_chunked(void)
{
	struct collect	 c;
	const char	*s = "5\r\nhello\r\n0\r\n\r\nGET /next";
	size_t		 used;

	CHECK(chunk_ok("5\r\nhello\r\n0\r\n\r\n", "hello"), "one chunk");
	CHECK(chunk_ok("0\r\n\r\n", ""), "empty body");
	CHECK(chunk_ok("5;a=b\r\nhello\r\n6 ; x=\"y z\"\r\n world\r\n"
	    "0;last\r\n\r\n", "hello world"), "extensions");
	CHECK(chunk_ok("A\r\n0123456789\r\n0\r\nX-T: 1\r\nY:\r\n\r\n",
	    "0123456789"), "upper-case hex, trailers");
	CHECK(chunk_ok("00003\r\nabc\r\n0\r\n\r\n", "abc"), "leading zeros");
	CHECK(chunked(s, strlen(s), 0, &used, &c) == HTTP1_DONE &&
	    used == strlen(s) - 9, "stops at the end of the body");
	CHECK(chunked(s, strlen(s), 1, &used, &c) == HTTP1_DONE &&
	    used == strlen(s) - 9, "bytewise: stops at the end");
	CHECK(chunked("5\r\nhel", 6, 0, &used, &c) == HTTP1_MORE &&
	    used == 6 && c.len == 3, "partial chunk: more");
	CHECK(chunked("fffffffffffffff\r\n", 17, 0, &used, &c) == HTTP1_MORE,
	    "15 hex digits accepted");

	CHECK(chunk_bad("5\nhello\r\n0\r\n\r\n"), "lone LF after size");
	CHECK(chunk_bad("5\r\nhello\n0\r\n\r\n"), "lone LF after data");
	CHECK(chunk_bad("5\r\nhelloX\r\n0\r\n\r\n"), "data overrun");
	CHECK(chunk_bad("5\r\nhello\r\n0\r\n\n"), "lone LF at the end");
	CHECK(chunk_bad("-5\r\nhello\r\n"), "negative size");
	CHECK(chunk_bad("+5\r\nhello\r\n"), "signed size");
	CHECK(chunk_bad("0x5\r\nhello\r\n"), "0x prefix");
	CHECK(chunk_bad("g\r\n"), "not hex");
	CHECK(chunk_bad("\r\n"), "empty size");
	CHECK(chunk_bad(" 5\r\nhello\r\n"), "space before size");
	CHECK(chunk_bad("5 \r\nhello\r\n"), "space after size, no extension");
	CHECK(chunk_bad("ffffffffffffffff\r\n"), "size over the cap");
	CHECK(chunk_bad("00000000000000001\r\n"), "17 digits");
	CHECK(chunk_bad("5;a\x01\r\nhello\r\n"), "control in extension");
	CHECK(chunk_bad("0\r\nX: 1\r\n y\r\n\r\n"), "folded trailer");
	CHECK(chunk_bad("0\r\nX 1\r\n\r\n"), "trailer without colon");
	CHECK(chunk_bad("0\r\n: 1\r\n\r\n"), "trailer without name");
}

/* The trailer section's bytes through ck_tfn, whole and bytewise: the
 * field lines with their CRLFs, not the final one, no data bytes. */
static void
test_chunked_trailers(void)
{
	static const char s[] = "3\r\nabc\r\n0\r\nX-A: 1\r\nY:  two \r\n"
	    "\r\nNEXT";
	static const char want[] = "X-A: 1\r\nY:  two \r\n";
	struct http1_chunked ck;
	struct collect	 data, tr;
	size_t		 off, used, n, step;
	int		 r, ok = 1;

	for (step = 0; step <= 1; step++) {
		http1_chunked_init(&ck);
		memset(&data, 0, sizeof(data));
		memset(&tr, 0, sizeof(tr));
		ck.ck_tfn = collect;
		ck.ck_targ = &tr;
		r = HTTP1_MORE;
		for (off = 0; off < sizeof(s) - 1 && r == HTTP1_MORE;
		    off += used) {
			n = step ? 1 : sizeof(s) - 1 - off;
			r = http1_chunked_feed(&ck, s + off, n, &used,
			    collect, &data);
		}
		if (r != HTTP1_DONE || data.len != 3 ||
		    tr.len != sizeof(want) - 1 ||
		    memcmp(tr.buf, want, tr.len) != 0)
			ok = 0;
	}
	CHECK(ok, "trailer lines reported, whole and bytewise");
}

/* A request inside a tunnel: the status (0 valid), and the head as it is
 * forwarded in *out (malloc'd) when valid. */
static int
origin_req(const char *s, char **out)
{
	struct http1_head	 h;
	size_t			 used, len;
	int			 r, st;

	http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	h.hh_origin = 1;
	r = http1_head_parse(&h, s, strlen(s), &used);
	st = r == HTTP1_DONE ? 0 : r == HTTP1_ERROR ? h.hh_status : -1;
	if (out != NULL)
		*out = st == 0 ? http1_build_request(&h, &len) : NULL;
	http1_head_free(&h);
	return st;
}

static void
test_origin(void)
{
	struct http1_head	 h;
	char			*b = NULL;
	size_t			 used;

	CHECK(origin_req("GET /a?b=c HTTP/1.1\r\nHost: x.example\r\n"
	    "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Connection: "
	    "keep-alive\r\nAccept: */*\r\n\r\n", &b) == 0 && b != NULL &&
	    strcmp(b, "GET /a?b=c HTTP/1.1\r\nHost: x.example\r\n"
	    "Accept: */*\r\n\r\n") == 0,
	    "origin-form: target and Host kept, hop-by-hop dropped: %s", b);
	free(b);
	CHECK(origin_req("GET / HTTP/1.0\r\n\r\n", &b) == 0 &&
	    strcmp(b, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	    == 0, "HTTP/1.0 without Host: asked to keep alive");
	free(b);
	CHECK(origin_req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", NULL) ==
	    0, "OPTIONS *");
	CHECK(origin_req("GET * HTTP/1.1\r\nHost: a\r\n\r\n", NULL) == 400,
	    "* is for OPTIONS only");
	CHECK(origin_req("GET https://a.example/x HTTP/1.1\r\nHost: "
	    "a.example\r\n\r\n", &b) == 0 && strncmp(b,
	    "GET https://a.example/x HTTP/1.1\r\n", 34) == 0,
	    "absolute-form forwarded as written");
	free(b);
	CHECK(origin_req("GET / HTTP/1.1\r\n\r\n", NULL) == 400,
	    "HTTP/1.1 without Host");
	CHECK(origin_req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    NULL) == 400, "two Host fields");
	CHECK(origin_req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
	    NULL) == 400, "CONNECT inside a tunnel");
	CHECK(origin_req("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", NULL) ==
	    400, "a relative target");
	CHECK(origin_req("\x16\x03\x01 x HTTP/1.1\r\n\r\n", NULL) == 400,
	    "TLS bytes are no method");
	CHECK(origin_req("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r"
	    "\nTransfer-Encoding: chunked\r\n\r\n", NULL) == 400,
	    "smuggling refused inside a tunnel too");
	/* hh_origin survives a reset: the next request on the connection. */
	http1_head_init(&h, HTTP1_REQUEST, T_MAX_HEAD, T_MAX_FIELDS);
	h.hh_origin = 1;
	http1_head_reset(&h);
	CHECK(h.hh_origin == 1 && http1_head_parse(&h, "GET / HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", 27, &used) == HTTP1_DONE,
	    "origin mode kept across a reset");
	http1_head_free(&h);
	/* And a proxy request is still refused in origin-form. */
	CHECK(status("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400,
	    "the proxy itself still wants absolute-form");
}

int
main(void)
{
	test_connect();
	test_fields();
	test_absolute();
	test_framing();
	test_response();
	test_build();
	test_chunked();
	test_chunked_trailers();
	test_origin();
	CHECK(strcmp(http1_reason(431), "Request Header Fields Too Large") == 0,
	    "reason 431");
	return unit_done();
}
