/*
 * An HTTP/2 client in front of an HTTP/1.1 upstream: the client's
 * streams take turns on the one upstream connection the interception
 * made, in the order their requests completed. Each becomes an HTTP/1.1
 * request (Host from :authority, cookies joined, a body sent chunked
 * unless the client gave its length); the response head becomes an
 * HTTP/2 one without the connection-specific fields, its body is
 * unframed (length, chunked, or to the close) into the stream.
 *
 * An upstream that closes, or says "Connection: close", ends the turns:
 * the streams still waiting are refused (REFUSED_STREAM: the client may
 * retry them on a new connection) and a GOAWAY tells the client so.
 * Back-pressure: reading from the upstream stops while the active
 * stream holds TW_HIGH_WM bytes the client has not taken.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/h2.h"
#include "tlsworker/h2int.h"
#include "tlsworker/tlsworker.h"

enum h2h1_state {
	H1_HEAD = 0,	/* reading a response head */
	H1_BODY,	/* its body */
	H1_IDLE,	/* between exchanges */
};

#define H2H1_CHUNK_HDR	24	/* "%zx\r\n" */
#define H2H1_TRAILER_BUF (HTTP1_TRAILER_MAX + HTTP1_TRAILER_FIELDS + 2)

static void	h2h1_send_head(struct h2c *);
static void	h2h1_next(struct h2c *);

int
h2h1_init(struct h2c *h)
{
	http1_head_init(&h->h_h1resp, HTTP1_RESPONSE,
	    tw_env.tw_conf.cg_max_head, tw_env.tw_conf.cg_max_headers);
	h->h_h1_state = H1_IDLE;
	return 0;
}

void
h2h1_free(struct h2c *h)
{
	if (h->h_us == NULL)
		http1_head_free(&h->h_h1resp);
	free(h->h_h1_tbuf);
}

/* The walker's trailer bytes; it bounds the section (HTTP1_TRAILER_MAX
 * bytes, HTTP1_TRAILER_FIELDS lines), so the buffer has a fixed size. */
static void
h2h1_trailer_byte(void *arg, const char *p, size_t n)
{
	struct h2c *h = arg;

	if (h->h_h1_tbuf == NULL &&
	    (h->h_h1_tbuf = malloc(H2H1_TRAILER_BUF)) == NULL)
		return;
	if (h->h_h1_tlen + n <= H2H1_TRAILER_BUF) {
		memcpy(h->h_h1_tbuf + h->h_h1_tlen, p, n);
		h->h_h1_tlen += n;
	}
}

/* "name: value" CRLF lines as HTTP/2 trailers: names in lower case,
 * connection-specific ones left out, values without their blanks. */
static void
h2h1_trailers(struct h2c *h, struct h2hdrs *hb)
{
	const char	*p = h->h_h1_tbuf, *end = p + h->h_h1_tlen, *eol, *c;
	const char	*v, *ve;
	char		 name[H2_NAME_MAX];
	size_t		 nlen;

	while (p != NULL && p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if ((c = memchr(p, ':', (size_t)(ve - p))) != NULL &&
		    (nlen = (size_t)(c - p)) > 0 &&
		    h2_name_lower(name, sizeof(name), p, nlen) == 0) {
			for (v = c + 1; v < ve && (*v == ' ' || *v == '\t');
			    v++)
				;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (!h2_conn_field(name))
				(void)h2_hdrs_add(hb, (const uint8_t *)name,
				    nlen, (const uint8_t *)v, (size_t)(ve - v),
				    SIZE_MAX);
		}
		p = eol + 1;
	}
	h->h_h1_tlen = 0;
}

static struct h2s *
h2h1_active(struct h2c *h)
{
	return TAILQ_FIRST(&h->h_h1q);
}

void
h2h1_enqueue(struct h2c *h, struct h2s *s)
{
	if (h->h_up_dead || h->h_h1_last) {
		h2_stream_fail(s, 0, NGHTTP2_REFUSED_STREAM);
		return;
	}
	s->s_h1req = s->s_hdrs;
	memset(&s->s_hdrs, 0, sizeof(s->s_hdrs));
	TAILQ_INSERT_TAIL(&h->h_h1q, s, s_h1q);
	s->s_in_h1q = 1;
	s->s_up_open = 1;
	if (h2h1_active(h) == s)
		h2h1_send_head(h);
}

void
h2h1_unqueue(struct h2c *h, struct h2s *s)
{
	if (!s->s_in_h1q)
		return;
	TAILQ_REMOVE(&h->h_h1q, s, s_h1q);
	s->s_in_h1q = 0;
	s->s_up_open = 0;
}

static int
h2h1_is(const nghttp2_nv *nv, const char *name)
{
	size_t n = strlen(name);

	return nv->namelen == n && memcmp(nv->name, name, n) == 0;
}

/* Fields that HTTP/2 does not carry, or that this hop sets itself
 * (names arrive in lower case and NUL-terminated, h2_hdrs_add). */
static int
h2h1_skip_req(const nghttp2_nv *nv)
{
	return (nv->namelen > 0 && nv->name[0] == ':') ||
	    h2_conn_field((const char *)nv->name) || h2h1_is(nv, "cookie");
}

static void
h2h1_send_head(struct h2c *h)
{
	struct h2s		*s = h2h1_active(h);
	struct evbuffer		*out = bufferevent_get_output(h->h_ubev);
	const struct h2hdrs	*hb;
	const nghttp2_nv	*m, *p, *a, *nv;
	size_t			 i;
	int			 cookies = 0, has_len;

	if (s == NULL || s->s_h1_head_sent)
		return;
	hb = &s->s_h1req;
	m = h2_hdrs_get(hb, ":method");
	p = h2_hdrs_get(hb, ":path");
	a = h2_hdrs_get(hb, ":authority");
	if (a == NULL)
		a = h2_hdrs_get(hb, "host");
	if (m == NULL || p == NULL || a == NULL || h2_hdrs_get(hb,
	    ":protocol") != NULL || (m->valuelen == 7 && memcmp(m->value,
	    "CONNECT", 7) == 0)) {
		/* CONNECT and friends have no HTTP/1.1 form here */
		h2h1_unqueue(h, s);
		h2_stream_fail(s, 501, NGHTTP2_REFUSED_STREAM);
		h2s_maybe_free(s);
		h2h1_next(h);
		return;
	}
	s->s_h1_head_sent = 1;
	s->s_h1_head_req = m->valuelen == 4 && memcmp(m->value, "HEAD", 4) ==
	    0;
	has_len = h2_hdrs_get(hb, "content-length") != NULL;
	evbuffer_add_printf(out, "%.*s %.*s HTTP/1.1\r\nHost: %.*s\r\n",
	    (int)m->valuelen, m->value, (int)p->valuelen, p->value,
	    (int)a->valuelen, a->value);
	for (i = 0; i < hb->hb_n; i++) {
		nv = &hb->hb_nv[i];
		if (h2h1_is(nv, "cookie")) {
			/* RFC 9113 8.2.3: one field again for HTTP/1.1 */
			evbuffer_add_printf(out, "%s%.*s", cookies++ ?
			    "; " : "Cookie: ", (int)nv->valuelen, nv->value);
			continue;
		}
		if (h2h1_skip_req(nv))
			continue;
		evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)nv->namelen,
		    nv->name, (int)nv->valuelen, nv->value);
	}
	if (cookies)
		evbuffer_add(out, "\r\n", 2);
	if (!s->s_req_eof || evbuffer_get_length(s->s_req) > 0) {
		if (!has_len) {
			s->s_h1_chunked = 1;
			evbuffer_add_printf(out, "Transfer-Encoding: "
			    "chunked\r\n");
		}
	} else if (!has_len && m->valuelen >= 3 && (memcmp(m->value, "POST",
	    m->valuelen) == 0 || memcmp(m->value, "PUT", m->valuelen) == 0))
		evbuffer_add_printf(out, "Content-Length: 0\r\n");
	evbuffer_add(out, "\r\n", 2);
	h2_hdrs_free(&s->s_h1req);
	http1_head_reset(&h->h_h1resp);
	h->h_h1resp.hh_req_head = s->s_h1_head_req;
	h->h_h1_state = H1_HEAD;
	h2h1_req_more(h, s);
}

/* The request body of the active stream, as far as the upstream output
 * has room; its window goes back to the client as it leaves. */
void
h2h1_req_more(struct h2c *h, struct h2s *s)
{
	struct evbuffer	*out = bufferevent_get_output(h->h_ubev);
	char		 hdr[H2H1_CHUNK_HDR];
	size_t		 n, room;
	int		 len;

	if (h2h1_active(h) != s || !s->s_h1_head_sent || s->s_h1_req_done ||
	    h->h_up_dead)
		return;
	while ((n = evbuffer_get_length(s->s_req)) > 0 &&
	    evbuffer_get_length(out) < TW_HIGH_WM) {
		room = TW_HIGH_WM - evbuffer_get_length(out);
		n = MIN(n, room);
		if (s->s_h1_chunked) {
			len = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
			evbuffer_add(out, hdr, (size_t)len);
		}
		evbuffer_remove_buffer(s->s_req, out, n);
		if (s->s_h1_chunked)
			evbuffer_add(out, "\r\n", 2);
		conn_count_in(h->h_conn, n);
		if (s->s_cl_open)
			nghttp2_session_consume(h->h_cs, s->s_cid, n);
		else
			nghttp2_session_consume_connection(h->h_cs, n);
	}
	if (s->s_req_eof && evbuffer_get_length(s->s_req) == 0) {
		s->s_h1_req_done = 1;
		if (s->s_h1_chunked) {
			/* trailers ride in the last chunk */
			evbuffer_add(out, "0\r\n", 3);
			h2_hdrs_write_http1(out, &s->s_req_trailers);
			evbuffer_add(out, "\r\n", 2);
		}
	}
}

void
h2h1_resp_drained(struct h2c *h, struct h2s *s)
{
	if (h->h_h1_paused && h2h1_active(h) == s &&
	    evbuffer_get_length(s->s_resp) < TW_LOW_WM) {
		h->h_h1_paused = 0;
		bufferevent_enable(h->h_ubev, EV_READ);
		h2h1_read(h);
	}
}

/* The client reset s. Waiting: it leaves the queue. Active, with its
 * request all sent: its response is read and dropped. Active midway
 * through its request: the upstream connection cannot be used again. */
void
h2h1_cancel(struct h2c *h, struct h2s *s)
{
	if (!s->s_in_h1q)
		return;
	if (h2h1_active(h) != s || !s->s_h1_head_sent) {
		h2h1_unqueue(h, s);
		return;
	}
	if (!s->s_h1_req_done)
		h->h_h1_last = 1;	/* h2h1_done ends the turns */
}

/* The response head as HTTP/2 fields: :status, then the others
 * (h2_hdrs_from_http1). */
static int
h2h1_resp_fields(struct h2c *h, struct h2hdrs *hb)
{
	char st[12];

	snprintf(st, sizeof(st), "%03d", h->h_h1resp.hh_code);
	if (h2_hdrs_add(hb, (const uint8_t *)":status", 7,
	    (const uint8_t *)st, 3, SIZE_MAX) == -1)
		return -1;
	return h2_hdrs_from_http1(hb, &h->h_h1resp);
}

/* The active exchange is over (both ways, or as far as it will go). */
static void
h2h1_done(struct h2c *h, struct h2s *s)
{
	int last = h->h_h1_last || h->h_h1resp.hh_conn_close ||
	    !s->s_h1_req_done;

	h2h1_unqueue(h, s);
	h->h_h1_state = H1_IDLE;
	if (!s->s_resp_eof) {
		if (h->h_h1_tlen > 0 && s->s_cl_open)
			h2h1_trailers(h, &s->s_resp_trailers);
		s->s_resp_eof = 1;
		h2_ev_end(s, 1, &s->s_resp_trailers, NULL, NULL);
		h2_resp_more(s);
	}
	h2s_maybe_free(s);
	if (last) {
		h->h_h1_last = 1;
		h2_up_gone(h);
		return;
	}
	h2h1_next(h);
}

static void
h2h1_next(struct h2c *h)
{
	if (h2h1_active(h) != NULL)
		h2h1_send_head(h);
}

struct h2h1_span {
	struct h2s	*sp_s;
	int		 sp_drop;
};

static void
h2h1_span(void *arg, const char *p, size_t n)
{
	struct h2h1_span *sp = arg;

	if (sp->sp_drop || n == 0)
		return;
	evbuffer_add(sp->sp_s->s_resp, p, n);
	h2_ev_data(sp->sp_s, 1, (const uint8_t *)p, n);
}

/* Body bytes of the active response; 1 when the body is complete. */
static int
h2h1_body(struct h2c *h, struct h2s *s, struct evbuffer *in, int *bad)
{
	struct h2h1_span	 sp = { s, !s->s_cl_open };
	struct evbuffer_iovec	 v;
	size_t			 n, used;
	int			 r;

	while (evbuffer_get_length(in) > 0 && !h->h_h1_paused) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = v.iov_len;
		switch (h->h_h1resp.hh_framing) {
		case HTTP1_BODY_LENGTH:
			n = (size_t)MIN((uint64_t)n, h->h_h1_left);
			h2h1_span(&sp, v.iov_base, n);
			evbuffer_drain(in, n);
			h->h_h1_left -= n;
			if (h->h_h1_left == 0)
				return 1;
			break;
		case HTTP1_BODY_CHUNKED:
			r = http1_chunked_feed(&h->h_h1_ck, v.iov_base, n,
			    &used, h2h1_span, &sp);
			evbuffer_drain(in, used);
			if (r == HTTP1_DONE)
				return 1;
			if (r == HTTP1_ERROR) {
				*bad = 1;
				return 0;
			}
			break;
		default:	/* to the close */
			h2h1_span(&sp, v.iov_base, n);
			evbuffer_drain(in, n);
			break;
		}
		if (s->s_cl_open)
			h2_resp_more(s);
		if (evbuffer_get_length(s->s_resp) >= TW_HIGH_WM) {
			h->h_h1_paused = 1;
			bufferevent_disable(h->h_ubev, EV_READ);
		}
	}
	if (s->s_cl_open)
		h2_resp_more(s);
	return 0;
}

/* A response head is complete. */
static int
h2h1_head_done(struct h2c *h, struct h2s *s)
{
	struct http1_head	*r = &h->h_h1resp;
	struct h2hdrs		 hb;
	int			 end;

	if (r->hh_code == 101 || r->hh_code < 100) {
		log_info("conn=%llu: stream %d: upstream answered %d to an "
		    "HTTP/2 request", (unsigned long long)
		    h->h_conn->cn_meta.cm_id, s->s_cid, r->hh_code);
		return -1;
	}
	memset(&hb, 0, sizeof(hb));
	if (h2h1_resp_fields(h, &hb) == -1) {
		h2_hdrs_free(&hb);
		return -1;
	}
	if (r->hh_code < 200) {
		if (s->s_cl_open)
			nghttp2_submit_headers(h->h_cs, NGHTTP2_FLAG_NONE,
			    s->s_cid, NULL, hb.hb_nv, hb.hb_n, NULL);
		h2_hdrs_free(&hb);
		http1_head_reset(r);
		r->hh_req_head = s->s_h1_head_req;
		return 0;
	}
	end = r->hh_framing == HTTP1_BODY_NONE || (r->hh_framing ==
	    HTTP1_BODY_LENGTH && r->hh_clen == 0);
	h2_ev_response(s, r->hh_code, &hb);
	h2_sse_check(s, &hb);
	s->s_resp_eof = end;
	if (s->s_cl_open && h2_submit_response(s, &hb, end) == -1)
		h2_stream_fail(s, 0, NGHTTP2_INTERNAL_ERROR);
	h2_hdrs_free(&hb);
	if (end) {
		h2_ev_end(s, 1, NULL, NULL, NULL);
		h2h1_done(h, s);
		return 1;
	}
	h->h_h1_state = H1_BODY;
	h->h_h1_left = r->hh_clen;
	http1_chunked_init(&h->h_h1_ck);
	h->h_h1_ck.ck_tfn = h2h1_trailer_byte;
	h->h_h1_ck.ck_targ = h;
	h->h_h1_tlen = 0;
	return 0;
}

void
h2h1_read(struct h2c *h)
{
	struct evbuffer		*in = bufferevent_get_input(h->h_ubev);
	struct evbuffer_iovec	 v;
	struct h2s		*s;
	size_t			 used;
	int			 r, bad = 0;

	while (!h->h_up_dead && !h->h_h1_paused &&
	    evbuffer_get_length(in) > 0) {
		if ((s = h2h1_active(h)) == NULL || !s->s_h1_head_sent) {
			log_info("conn=%llu: upstream sent bytes nobody asked "
			    "for", (unsigned long long)h->h_conn->cn_meta.cm_id);
			h->h_h1_last = 1;
			h2_up_gone(h);
			return;
		}
		if (h->h_h1_state == H1_HEAD) {
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			r = http1_head_parse(&h->h_h1resp, v.iov_base,
			    v.iov_len, &used);
			evbuffer_drain(in, used);
			if (r == HTTP1_ERROR || (r == HTTP1_DONE &&
			    h2h1_head_done(h, s) == -1)) {
				log_info("conn=%llu: stream %d: bad response "
				    "from the upstream: %s", (unsigned long long)
				    h->h_conn->cn_meta.cm_id, s->s_cid,
				    h->h_h1resp.hh_error ? h->h_h1resp.hh_error :
				    "unusable");
				h->h_h1_last = 1;
				h2_up_gone(h);
				return;
			}
			continue;
		}
		if (h->h_h1_state != H1_BODY)
			break;
		if (h2h1_body(h, s, in, &bad)) {
			h2h1_done(h, s);
			continue;
		}
		if (bad) {
			h->h_h1_last = 1;
			h2_up_gone(h);
			return;
		}
	}
	(void)h2_flush(h);
}

/* The upstream closed: the end of a body read to the close, or of the
 * turns. */
void
h2h1_eof(struct h2c *h)
{
	struct h2s *s = h2h1_active(h);

	h2h1_read(h);
	if (h->h_done || h->h_up_dead)
		return;
	if (s != NULL && h2h1_active(h) == s && h->h_h1_state == H1_BODY &&
	    h->h_h1resp.hh_framing == HTTP1_BODY_CLOSE &&
	    evbuffer_get_length(bufferevent_get_input(h->h_ubev)) == 0) {
		h->h_h1_last = 1;
		h2h1_done(h, s);
		return;
	}
	h->h_h1_last = 1;
	h2_up_gone(h);
}
