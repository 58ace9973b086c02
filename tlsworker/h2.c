/*
 * HTTP/2 through an intercepted connection, with nghttp2 on both sides:
 * a server session faces the client, and either a client session faces
 * an HTTP/2 upstream (streams map one to one) or the streams take turns
 * on an HTTP/1.1 upstream (h2h1.c translates).
 *
 * Flow control is the back-pressure. Both sessions run without automatic
 * WINDOW_UPDATE: bytes a peer sends on a stream sit in that stream's
 * buffer until the other side's session takes them (its data source
 * callback), and only then are they "consumed", which lets nghttp2 open
 * the sender's window again. A slow reader therefore stops its peer's
 * writer after H2_WINDOW bytes per stream and H2_CONN_WINDOW per
 * connection; nothing grows without bound. Frames nghttp2 produces go to
 * the bufferevent only while its output holds less than TW_HIGH_WM.
 *
 * Streams: RST_STREAM from either side is sent on to the other with the
 * same code; a GOAWAY from the upstream becomes one to the client (the
 * streams the upstream refused are refused to the client, which retries
 * them); a GOAWAY from the client ends the connection once its streams
 * are done. Trailers go through as trailers. The upstream may not push
 * (SETTINGS_ENABLE_PUSH 0), and we never push.
 *
 * Ownership: struct h2c belongs to the conn (cn_h2) and owns the upstream
 * bufferevent and the streams; a stream lives until both sessions have
 * closed it (each holds it as stream user data until then).
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/grpc.h"
#include "tlsworker/h2.h"
#include "tlsworker/h2int.h"
#include "tlsworker/tlsworker.h"
#include "tlsworker/sseobs.h"
#include "tlsworker/wsobs.h"

static int	h2_cb_begin_headers(nghttp2_session *, const nghttp2_frame *,
		    void *);
static int	h2_cb_header(nghttp2_session *, const nghttp2_frame *,
		    const uint8_t *, size_t, const uint8_t *, size_t, uint8_t,
		    void *);
static int	h2_cb_frame_recv(nghttp2_session *, const nghttp2_frame *,
		    void *);
static int	h2_cb_data_chunk(nghttp2_session *, uint8_t, int32_t,
		    const uint8_t *, size_t, void *);
static int	h2_cb_stream_close(nghttp2_session *, int32_t, uint32_t,
		    void *);
static int	h2_cb_invalid_frame(nghttp2_session *, const nghttp2_frame *,
		    int, void *);
static void	h2_client_read(struct bufferevent *, void *);
static void	h2_client_write(struct bufferevent *, void *);
static void	h2_client_event(struct bufferevent *, short, void *);
static void	h2_up_read(struct bufferevent *, void *);
static void	h2_up_write(struct bufferevent *, void *);
static void	h2_up_event(struct bufferevent *, short, void *);
static void	h2_close(struct h2c *);

int
h2_choose(int offered_h2, int offered_http11, int up_h2)
{
	if (!offered_h2 || !tw_env.tw_conf.cg_http2)
		return 0;
	/* Translation only where the client leaves no choice. */
	return up_h2 || !offered_http11;
}

/* --- header blocks ----------------------------------------------------- */

void
h2_hdrs_clear(struct h2hdrs *hb)
{
	struct h2chunk *c;

	while ((c = hb->hb_mem) != NULL) {
		hb->hb_mem = c->hc_next;
		free(c);
	}
	hb->hb_n = 0;
	hb->hb_bytes = 0;
	hb->hb_over = 0;
}

void
h2_hdrs_free(struct h2hdrs *hb)
{
	h2_hdrs_clear(hb);
	free(hb->hb_nv);
	hb->hb_nv = NULL;
	hb->hb_cap = 0;
}

/* Keep a copy of one field; over the limit, the block is only counted.
 * -1 when out of memory. */
int
h2_hdrs_add(struct h2hdrs *hb, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen, size_t limit)
{
	nghttp2_nv	*nv;
	struct h2chunk	*c = hb->hb_mem;
	uint8_t		*p;
	size_t		 cap, need = nlen + vlen + 2;

	/* RFC 9113 6.5.2: each field counts 32 bytes more than its text */
	hb->hb_bytes += nlen + vlen + 32;
	if (hb->hb_bytes > limit)
		hb->hb_over = 1;
	if (hb->hb_over)
		return 0;
	if (hb->hb_n == hb->hb_cap) {
		cap = hb->hb_cap ? hb->hb_cap * 2 : 16;
		if ((nv = reallocarray(hb->hb_nv, cap, sizeof(*nv))) == NULL)
			return -1;
		hb->hb_nv = nv;
		hb->hb_cap = cap;
	}
	if (c == NULL || c->hc_size - c->hc_used < need) {
		cap = MAX(need, (size_t)H2_CHUNK);
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return -1;
		c->hc_next = hb->hb_mem;
		c->hc_used = 0;
		c->hc_size = cap;
		hb->hb_mem = c;
	}
	p = c->hc_data + c->hc_used;
	c->hc_used += need;
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	nv = &hb->hb_nv[hb->hb_n++];
	nv->name = p;
	nv->namelen = nlen;
	nv->value = p + nlen + 1;
	nv->valuelen = vlen;
	nv->flags = NGHTTP2_NV_FLAG_NONE;
	return 0;
}

/* The value of a field (the first of that name), or NULL. */
const nghttp2_nv *
h2_hdrs_get(const struct h2hdrs *hb, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < hb->hb_n; i++)
		if (hb->hb_nv[i].namelen == n &&
		    memcmp(hb->hb_nv[i].name, name, n) == 0)
			return &hb->hb_nv[i];
	return NULL;
}

/* The regular fields of a block as event pairs (pseudo-fields left out),
 * malloc'd, their count in *np; NULL when no event is made (events off,
 * out of memory) or the block is empty. */
static struct ev_hdr *
h2_hdrs_ev(const struct h2hdrs *hb, size_t *np)
{
	struct ev_hdr	*out;
	size_t		 i, n = 0;

	*np = 0;
	if (hb == NULL || hb->hb_n == 0 || !ev_enabled() ||
	    (out = calloc(hb->hb_n, sizeof(*out))) == NULL)
		return NULL;
	for (i = 0; i < hb->hb_n; i++) {
		if (hb->hb_nv[i].namelen > 0 && hb->hb_nv[i].name[0] == ':')
			continue;
		out[n].eh_name = (const char *)hb->hb_nv[i].name;
		out[n].eh_nlen = hb->hb_nv[i].namelen;
		out[n].eh_value = (const char *)hb->hb_nv[i].value;
		out[n].eh_vlen = hb->hb_nv[i].valuelen;
		n++;
	}
	*np = n;
	return out;
}

/* ASCII lower case of src's n bytes in dst, NUL-terminated; -1 when it
 * does not fit. */
int
h2_name_lower(char *dst, size_t dsz, const char *src, size_t n)
{
	size_t i;

	if (n >= dsz)
		return -1;
	for (i = 0; i < n; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] | 0x20 :
		    src[i]);
	dst[n] = '\0';
	return 0;
}

/* RFC 9113 8.2.2: fields that do not cross between HTTP/1.1 and HTTP/2
 * (a lower-case name), Host too: :authority stands for it. */
int
h2_conn_field(const char *name)
{
	return strcmp(name, "connection") == 0 ||
	    strcmp(name, "keep-alive") == 0 ||
	    strcmp(name, "proxy-connection") == 0 ||
	    strcmp(name, "transfer-encoding") == 0 ||
	    strcmp(name, "upgrade") == 0 || strcmp(name, "te") == 0 ||
	    strcmp(name, "host") == 0;
}

/* The fields of an HTTP/1 head that go on in HTTP/2, in lower case:
 * not the hop-by-hop ones, not those of h2_conn_field. 0 or -1. */
int
h2_hdrs_from_http1(struct h2hdrs *hb, const struct http1_head *h)
{
	const struct http1_field *fl;
	char			  name[H2_NAME_MAX];
	size_t			  i;

	for (i = 0; i < h->hh_nfields; i++) {
		fl = &h->hh_fields[i];
		if (http1_field_is_hop(h, fl) || h2_name_lower(name,
		    sizeof(name), http1_str(h, fl->hf_name),
		    fl->hf_name.hs_len) == -1 || h2_conn_field(name))
			continue;
		if (h2_hdrs_add(hb, (const uint8_t *)name, fl->hf_name.hs_len,
		    (const uint8_t *)http1_str(h, fl->hf_value),
		    fl->hf_value.hs_len, SIZE_MAX) == -1)
			return -1;
	}
	return 0;
}

/* The regular fields of a block as HTTP/1.1 field lines. */
void
h2_hdrs_write_http1(struct evbuffer *out, const struct h2hdrs *hb)
{
	const nghttp2_nv	*nv;
	size_t			 i;

	for (i = 0; hb != NULL && i < hb->hb_n; i++) {
		nv = &hb->hb_nv[i];
		if (nv->namelen > 0 && nv->name[0] == ':')
			continue;
		evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)nv->namelen,
		    nv->name, (int)nv->valuelen, nv->value);
	}
}

/* A :status of three digits, else 0. */
int
h2_status(const nghttp2_nv *st)
{
	if (st == NULL || st->valuelen != 3 || !isdigit(st->value[0]) ||
	    !isdigit(st->value[1]) || !isdigit(st->value[2]))
		return 0;
	return (st->value[0] - '0') * 100 + (st->value[1] - '0') * 10 +
	    (st->value[2] - '0');
}

static void
h2_nv_str(const nghttp2_nv *nv, const char **s, size_t *n)
{
	*s = nv != NULL ? (const char *)nv->value : "";
	*n = nv != NULL ? nv->valuelen : 0;
}

/* --- events ------------------------------------------------------------ */

void
h2_ev_request(struct h2s *s)
{
	struct conn	*cn = s->s_h->h_conn;
	struct ev_hdr	*hv;
	const char	*m, *sc, *a, *p;
	size_t		 ml, sl, al, pl, n;
	const nghttp2_nv *ct, *proto;

	h2_nv_str(h2_hdrs_get(&s->s_hdrs, ":method"), &m, &ml);
	if ((proto = h2_hdrs_get(&s->s_hdrs, ":protocol")) != NULL) {
		s->s_xconnect = 1;
		s->s_ws_want = proto->valuelen == 9 && strncasecmp(
		    (const char *)proto->value, "websocket", 9) == 0;
	}
	h2_nv_str(h2_hdrs_get(&s->s_hdrs, ":scheme"), &sc, &sl);
	h2_nv_str(h2_hdrs_get(&s->s_hdrs, ":authority"), &a, &al);
	h2_nv_str(h2_hdrs_get(&s->s_hdrs, ":path"), &p, &pl);
	if ((ct = h2_hdrs_get(&s->s_hdrs, "content-type")) != NULL &&
	    grpc_content_type((const char *)ct->value, ct->valuelen, NULL,
	    NULL)) {
		s->s_grpc = 1;
		grpc_init(&s->s_gp[0], NULL);
		grpc_init(&s->s_gp[1], NULL);
	}
	cn->cn_nreq++;
	if (!ev_enabled())
		return;
	hv = h2_hdrs_ev(&s->s_hdrs, &n);
	ev_x_request_headers(&cn->cn_ev, &s->s_x, m, ml, sc, sl, a, al, p, pl,
	    hv, n);
	free(hv);
}

/* A response head of exchange x, from an HTTP/2 header block. */
void
h2_ev_head(struct ev_flow *f, struct ev_xchg *x, int status,
    const struct h2hdrs *hb)
{
	struct ev_hdr	*hv;
	size_t		 n;

	if (!ev_enabled())
		return;
	hv = h2_hdrs_ev(hb, &n);
	ev_x_response_headers(f, x, status, hv, n);
	free(hv);
}

/* The end of a body of exchange x: its trailers, or a reset. */
void
h2_ev_tail(struct ev_flow *f, struct ev_xchg *x, int resp,
    const struct h2hdrs *trailers, const char *reset, const char *by)
{
	struct ev_hdr	*hv;
	size_t		 n;

	if (!ev_enabled())
		return;
	hv = h2_hdrs_ev(trailers, &n);
	ev_x_body_end(f, x, resp, hv, n, reset, by);
	free(hv);
}

void
h2_ev_response(struct h2s *s, int status, const struct h2hdrs *hb)
{
	h2_ev_head(&s->s_h->h_conn->cn_ev, &s->s_x, status, hb);
}

static void
h2_grpc_start(void *arg, const struct grpc_message *m)
{
	struct h2grpc_arg	*ga = arg;
	struct ev_grpc_msg	 g;

	memset(&g, 0, sizeof(g));
	g.eg_response = ga->ga_resp;
	g.eg_index = m->gm_index;
	g.eg_compressed = m->gm_compressed;
	g.eg_len = m->gm_len;
	g.eg_offset = m->gm_offset;
	ev_grpc_message(&ga->ga_s->s_h->h_conn->cn_ev, ga->ga_s->s_x.ex_stream,
	    &g);
}

static const char *
h2_grpc_kind(int kind)
{
	switch (kind) {
	case GRPC_E_FLAG:
		return "bad_flag";
	case GRPC_E_TOO_LARGE:
		return "too_large";
	case GRPC_E_TRUNC_PREFIX:
		return "truncated_prefix";
	case GRPC_E_TRUNC_MESSAGE:
		return "truncated_message";
	default:
		return "malformed";
	}
}

static void
h2_grpc_error(void *arg, const struct grpc_error *ge)
{
	struct h2grpc_arg	*ga = arg;
	struct ev_grpc_msg	 g;
	char			 text[GRPC_ERROR_TEXT_MAX];

	grpc_error_text(ge, text, sizeof(text));
	memset(&g, 0, sizeof(g));
	g.eg_response = ga->ga_resp;
	g.eg_index = ga->ga_s->s_gp[ga->ga_resp].gp_messages;
	g.eg_offset = ge->ge_offset;
	g.eg_error = h2_grpc_kind(ge->ge_kind);
	g.eg_reason = text;
	ev_grpc_message(&ga->ga_s->s_h->h_conn->cn_ev, ga->ga_s->s_x.ex_stream,
	    &g);
}

static const struct grpc_callbacks h2_grpc_cb = {
	.gcb_start = h2_grpc_start,
	.gcb_error = h2_grpc_error,
};

/* Body bytes as they pass: the chunk events, and the messages inside. */
void
h2_ev_data(struct h2s *s, int resp, const uint8_t *p, size_t n)
{
	struct h2grpc_arg ga = { s, resp };

	if (s->s_ws != NULL) {
		/* WebSocket over HTTP/2: messages, not a body */
		wsobs_feed(s->s_ws, resp, p, n);
		return;
	}
	ev_x_body_chunk(&s->s_h->h_conn->cn_ev, &s->s_x, resp, p, n, 0);
	if (s->s_grpc && s->s_gp[resp].gp_error.ge_kind == GRPC_E_NONE)
		(void)grpc_feed(&s->s_gp[resp], p, n, &h2_grpc_cb, &ga);
	if (resp && s->s_sse != NULL)
		sseobs_feed(s->s_sse, p, n);
}

/* The end of a body: trailers, or a reset. */
void
h2_ev_end(struct h2s *s, int resp, const struct h2hdrs *trailers,
    const char *reset, const char *by)
{
	struct h2grpc_arg ga = { s, resp };

	if (s->s_ended[resp])
		return;
	s->s_ended[resp] = 1;
	if (s->s_ws != NULL && (resp || reset != NULL)) {
		wsobs_end(s->s_ws, reset != NULL ? "error" :
		    wsobs_closed(s->s_ws) ? "close" : "eof");
		return;
	}
	if (s->s_grpc && s->s_gp[resp].gp_error.ge_kind == GRPC_E_NONE &&
	    reset == NULL && grpc_end(&s->s_gp[resp]) != GRPC_END_CLEAN)
		h2_grpc_error(&ga, &s->s_gp[resp].gp_error);
	h2_ev_tail(&s->s_h->h_conn->cn_ev, &s->s_x, resp, trailers, reset, by);
}

/* A text/event-stream response without a content coding: its events are
 * reported as each completes (sseobs.c, as on HTTP/1). */
void
h2_sse_check(struct h2s *s, const struct h2hdrs *hb)
{
	const nghttp2_nv *ct, *ce;

	ct = h2_hdrs_get(hb, "content-type");
	ce = h2_hdrs_get(hb, "content-encoding");
	if (ct == NULL || !sseobs_is_event_stream((const char *)ct->value,
	    ct->valuelen) || (ce != NULL && !sseobs_coding_ok((const char *)
	    ce->value, ce->valuelen)))
		return;
	s->s_sse = sseobs_new(&s->s_h->h_conn->cn_ev, s->s_x.ex_stream);
}

/* An extended CONNECT for a WebSocket was answered 2xx: from here on
 * its DATA are WebSocket frames, observed with the extensions the
 * upstream accepted. */
static void
h2_ws_start(struct h2s *s, const struct h2hdrs *hb)
{
	const nghttp2_nv *ext;

	ext = h2_hdrs_get(hb, "sec-websocket-extensions");
	/* values are NUL-terminated (h2_hdrs_add) */
	s->s_ws = wsobs_new(tw_env.tw_base, &s->s_h->h_conn->cn_ev,
	    s->s_x.ex_stream, ext != NULL ? (const char *)ext->value : NULL,
	    (size_t)tw_env.tw_conf.cg_capture_max * 1024);
}

/* --- streams ----------------------------------------------------------- */

static struct h2s *
h2s_new(struct h2c *h, int32_t cid)
{
	struct h2s *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->s_req = evbuffer_new()) == NULL ||
	    (s->s_resp = evbuffer_new()) == NULL) {
		if (s->s_req != NULL)
			evbuffer_free(s->s_req);
		free(s);
		return NULL;
	}
	s->s_h = h;
	s->s_cid = cid;
	s->s_uid = -1;
	s->s_cl_open = 1;
	ev_x_init(&s->s_x, (uint32_t)cid);
	TAILQ_INSERT_TAIL(&h->h_streams, s, s_entry);
	h->h_nstreams++;
	return s;
}

void
h2s_free(struct h2s *s)
{
	struct h2c *h = s->s_h;

	sseobs_free(s->s_sse);
	if (s->s_ws != NULL) {
		wsobs_end(s->s_ws, "eof");
		wsobs_free(s->s_ws);
	}
	if (s->s_in_h1q)
		h2h1_unqueue(h, s);
	/* bytes nobody will send on: their share of the connection
	 * windows goes back to the peers that sent them */
	if (h->h_cs != NULL && evbuffer_get_length(s->s_req) > 0)
		nghttp2_session_consume_connection(h->h_cs,
		    evbuffer_get_length(s->s_req));
	if (h->h_us != NULL && evbuffer_get_length(s->s_resp) > 0)
		nghttp2_session_consume_connection(h->h_us,
		    evbuffer_get_length(s->s_resp));
	ev_x_free(&h->h_conn->cn_ev, &s->s_x);
	TAILQ_REMOVE(&h->h_streams, s, s_entry);
	h->h_nstreams--;
	h2_hdrs_free(&s->s_hdrs);
	h2_hdrs_free(&s->s_req_trailers);
	h2_hdrs_free(&s->s_resp_trailers);
	h2_hdrs_free(&s->s_h1req);
	evbuffer_free(s->s_req);
	evbuffer_free(s->s_resp);
	free(s);
}

/* Free s once neither session holds it. */
void
h2s_maybe_free(struct h2s *s)
{
	if (!s->s_cl_open && !s->s_up_open)
		h2s_free(s);
}

/* --- the data sources ------------------------------------------------ */

/*
 * A body for a session to send, from the stream's buffer: the response
 * to the client (resp) or the request to an HTTP/2 upstream. What leaves
 * is consumed on the session it came from, which opens that sender's
 * window again; at the end, trailers follow when there are any.
 */
static ssize_t
h2_body_read(struct h2c *h, struct h2s *s, int resp, uint8_t *buf,
    size_t len, uint32_t *flags)
{
	struct evbuffer	*b = resp ? s->s_resp : s->s_req;
	struct h2hdrs	*tr = resp ? &s->s_resp_trailers : &s->s_req_trailers;
	nghttp2_session	*from = resp ? h->h_us : h->h_cs;
	int32_t		 fid = resp ? s->s_uid : s->s_cid;
	int		 open = resp ? s->s_up_open : s->s_cl_open;
	int		 n;

	n = evbuffer_remove(b, buf, len);
	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (n > 0) {
		if (resp)
			conn_count_out(h->h_conn, (uint64_t)n);
		else
			conn_count_in(h->h_conn, (uint64_t)n);
		if (from == NULL)
			h2h1_resp_drained(h, s);	/* an HTTP/1.1 upstream */
		else if (open)
			nghttp2_session_consume(from, fid, (size_t)n);
		else
			nghttp2_session_consume_connection(from, (size_t)n);
	}
	if (evbuffer_get_length(b) > 0)
		return n;
	if (!(resp ? s->s_resp_eof : s->s_req_eof))
		return n > 0 ? n : NGHTTP2_ERR_DEFERRED;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (tr->hb_n > 0) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(resp ? h->h_cs : h->h_us, resp ?
		    s->s_cid : s->s_uid, tr->hb_nv, tr->hb_n) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return n;
}

static ssize_t
h2_resp_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	(void)sess;
	(void)id;
	return h2_body_read(arg, src->ptr, 1, buf, len, flags);
}

static ssize_t
h2_req_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	(void)sess;
	(void)id;
	return h2_body_read(arg, src->ptr, 0, buf, len, flags);
}

/* A response head from the upstream (either kind) for the client. */
int
h2_submit_response(struct h2s *s, const struct h2hdrs *hb, int end)
{
	struct h2c		*h = s->s_h;
	nghttp2_data_provider	 dp;

	if (!s->s_cl_open)
		return 0;
	dp.source.ptr = s;
	dp.read_callback = h2_resp_read;
	s->s_resp_submitted = 1;
	return nghttp2_submit_response(h->h_cs, s->s_cid, hb->hb_nv, hb->hb_n,
	    end ? NULL : &dp) == 0 ? 0 : -1;
}

/* More response bytes (or their end) for the client. */
void
h2_resp_more(struct h2s *s)
{
	if (s->s_cl_open && s->s_resp_submitted)
		nghttp2_session_resume_data(s->s_h->h_cs, s->s_cid);
}

/* A stream the upstream cannot serve: a short response when none began,
 * else a reset. */
void
h2_stream_fail(struct h2s *s, int status, uint32_t code)
{
	struct h2c	*h = s->s_h;
	struct h2hdrs	 hb;
	char		 st[12];

	if (!s->s_cl_open)
		return;
	if (s->s_resp_submitted || status == 0) {
		nghttp2_submit_rst_stream(h->h_cs, NGHTTP2_FLAG_NONE, s->s_cid,
		    code);
		return;
	}
	memset(&hb, 0, sizeof(hb));
	snprintf(st, sizeof(st), "%03d", status);
	if (h2_hdrs_add(&hb, (const uint8_t *)":status", 7,
	    (const uint8_t *)st, 3, SIZE_MAX) == 0)
		(void)h2_submit_response(s, &hb, 1);
	h2_ev_response(s, status, &hb);
	h2_ev_end(s, 1, NULL, NULL, NULL);
	s->s_resp_eof = 1;
	h2_hdrs_free(&hb);
}

/* No upstream (it failed, see intercept.c): each request gets the page
 * that says why, with its status, as HTTP/1.1 clients do. */
static void
h2_stream_page(struct h2s *s)
{
	struct conn	*cn = s->s_h->h_conn;
	struct h2hdrs	 hb;
	const char	*page = cn->cn_fail_page;
	size_t		 len = strlen(page);
	char		 st[12], cl[24];
	int		 ok;

	s->s_req_discard = 1;	/* a body is not waited for */
	memset(&hb, 0, sizeof(hb));
	snprintf(st, sizeof(st), "%03d", cn->cn_fail_status);
	snprintf(cl, sizeof(cl), "%zu", len);
	ok = h2_hdrs_add(&hb, (const uint8_t *)":status", 7,
	    (const uint8_t *)st, strlen(st), SIZE_MAX) == 0 &&
	    h2_hdrs_add(&hb, (const uint8_t *)"content-type", 12,
	    (const uint8_t *)"text/html; charset=utf-8", 24, SIZE_MAX) == 0 &&
	    h2_hdrs_add(&hb, (const uint8_t *)"content-length", 14,
	    (const uint8_t *)cl, strlen(cl), SIZE_MAX) == 0 &&
	    evbuffer_add(s->s_resp, page, len) == 0;
	if (!ok) {
		h2_hdrs_free(&hb);
		h2_stream_fail(s, 0, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	h2_ev_response(s, cn->cn_fail_status, &hb);
	h2_ev_data(s, 1, (const uint8_t *)page, len);
	s->s_resp_eof = 1;
	h2_ev_end(s, 1, NULL, NULL, NULL);
	if (h2_submit_response(s, &hb, 0) == -1)
		h2_stream_fail(s, 0, NGHTTP2_INTERNAL_ERROR);
	h2_hdrs_free(&hb);
}

/* The request head is complete: on to the upstream. */
static void
h2_request(struct h2s *s, int end)
{
	struct h2c		*h = s->s_h;
	nghttp2_data_provider	 dp;
	int32_t			 uid;

	s->s_req_eof = end;
	h2_ev_request(s);
	if (end)
		h2_ev_end(s, 0, NULL, NULL, NULL);
	if (h->h_ubev == NULL && h->h_conn->cn_fail_page != NULL) {
		h2_stream_page(s);
		return;
	}
	if (h->h_us == NULL) {
		h2h1_enqueue(h, s);
		return;
	}
	dp.source.ptr = s;
	dp.read_callback = h2_req_read;
	uid = nghttp2_submit_request(h->h_us, NULL, s->s_hdrs.hb_nv,
	    s->s_hdrs.hb_n, end ? NULL : &dp, s);
	h2_hdrs_clear(&s->s_hdrs);
	if (uid < 0) {
		log_debug("conn=%llu: stream %d: upstream refuses: %s",
		    (unsigned long long)h->h_conn->cn_meta.cm_id, s->s_cid,
		    nghttp2_strerror(uid));
		h2_stream_fail(s, 502, NGHTTP2_REFUSED_STREAM);
		return;
	}
	s->s_uid = uid;
	s->s_up_open = 1;
}

/* --- nghttp2 callbacks, both sessions --------------------------------- */

static int
h2_cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *fr,
    void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s;

	if (fr->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (sess == h->h_cs && fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
		if (h->h_closing || (s = h2s_new(h, fr->hd.stream_id)) ==
		    NULL) {
			nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE,
			    fr->hd.stream_id, NGHTTP2_REFUSED_STREAM);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		nghttp2_session_set_stream_user_data(sess, fr->hd.stream_id,
		    s);
		return 0;
	}
	if ((s = nghttp2_session_get_stream_user_data(sess,
	    fr->hd.stream_id)) != NULL)
		h2_hdrs_clear(&s->s_hdrs);
	return 0;
}

static int
h2_cb_header(nghttp2_session *sess, const nghttp2_frame *fr,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s;

	(void)flags;
	if (fr->hd.type != NGHTTP2_HEADERS || (s =
	    nghttp2_session_get_stream_user_data(sess, fr->hd.stream_id)) ==
	    NULL)
		return 0;
	if (h2_hdrs_add(&s->s_hdrs, name, nlen, value, vlen,
	    tw_env.tw_conf.cg_h2_header_list) == -1)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	(void)h;
	return 0;
}

/* A header block from the client: the request, or its trailers. */
static void
h2_client_headers(struct h2c *h, struct h2s *s, const nghttp2_frame *fr)
{
	int end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
		if (s->s_hdrs.hb_over) {
			log_info("conn=%llu: stream %d: request header list "
			    "over %u bytes: 431",
			    (unsigned long long)h->h_conn->cn_meta.cm_id,
			    s->s_cid, tw_env.tw_conf.cg_h2_header_list);
			h2_stream_fail(s, 431, NGHTTP2_REFUSED_STREAM);
			return;
		}
		h2_request(s, end);
		return;
	}
	/* trailers: the request body ends with them */
	h2_hdrs_free(&s->s_req_trailers);
	s->s_req_trailers = s->s_hdrs;
	memset(&s->s_hdrs, 0, sizeof(s->s_hdrs));
	s->s_req_eof = 1;
	h2_ev_end(s, 0, &s->s_req_trailers, NULL, NULL);
	h2_req_more(s);
}

/* More request bytes (or their end) for the upstream. */
void
h2_req_more(struct h2s *s)
{
	struct h2c *h = s->s_h;

	if (h->h_us == NULL)
		h2h1_req_more(h, s);
	else if (s->s_up_open)
		nghttp2_session_resume_data(h->h_us, s->s_uid);
}

/* A header block from the upstream: 1xx, the response, or trailers. */
static void
h2_up_headers(struct h2c *h, struct h2s *s, const nghttp2_frame *fr)
{
	const nghttp2_nv *st;
	int		  end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	int		  status;

	if (fr->headers.cat == NGHTTP2_HCAT_HEADERS && s->s_resp_submitted) {
		h2_hdrs_free(&s->s_resp_trailers);
		s->s_resp_trailers = s->s_hdrs;
		memset(&s->s_hdrs, 0, sizeof(s->s_hdrs));
		s->s_resp_eof = 1;
		h2_ev_end(s, 1, &s->s_resp_trailers, NULL, NULL);
		h2_resp_more(s);
		return;
	}
	st = h2_hdrs_get(&s->s_hdrs, ":status");
	status = h2_status(st);
	if (s->s_hdrs.hb_over) {
		log_info("conn=%llu: stream %d: response header list over %u "
		    "bytes: 502", (unsigned long long)h->h_conn->cn_meta.cm_id,
		    s->s_cid, tw_env.tw_conf.cg_h2_header_list);
		nghttp2_submit_rst_stream(h->h_us, NGHTTP2_FLAG_NONE, s->s_uid,
		    NGHTTP2_CANCEL);
		h2_stream_fail(s, 502, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	if (status >= 100 && status < 200) {
		/* informational: on to the client as it is */
		if (s->s_cl_open)
			nghttp2_submit_headers(h->h_cs, NGHTTP2_FLAG_NONE,
			    s->s_cid, NULL, s->s_hdrs.hb_nv, s->s_hdrs.hb_n,
			    NULL);
		return;
	}
	h2_ev_response(s, status, &s->s_hdrs);
	h2_sse_check(s, &s->s_hdrs);
	if (s->s_ws_want && status / 100 == 2)
		h2_ws_start(s, &s->s_hdrs);
	s->s_resp_eof = end;
	if (h2_submit_response(s, &s->s_hdrs, end) == -1)
		h2_stream_fail(s, 0, NGHTTP2_INTERNAL_ERROR);
	if (end)
		h2_ev_end(s, 1, NULL, NULL, NULL);
	h2_hdrs_clear(&s->s_hdrs);
}

static int
h2_cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *fr, void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s = NULL;
	int		 end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (fr->hd.stream_id != 0)
		s = nghttp2_session_get_stream_user_data(sess,
		    fr->hd.stream_id);
	switch (fr->hd.type) {
	case NGHTTP2_HEADERS:
		if (s == NULL)
			break;
		if (sess == h->h_cs)
			h2_client_headers(h, s, fr);
		else
			h2_up_headers(h, s, fr);
		break;
	case NGHTTP2_DATA:
		if (s == NULL || !end)
			break;
		if (sess == h->h_cs) {
			s->s_req_eof = 1;
			h2_ev_end(s, 0, NULL, NULL, NULL);
			h2_req_more(s);
		} else {
			s->s_resp_eof = 1;
			h2_ev_end(s, 1, NULL, NULL, NULL);
			h2_resp_more(s);
		}
		break;
	case NGHTTP2_GOAWAY:
		if (sess == h->h_us)
			h2_up_goaway(h, fr->goaway.last_stream_id,
			    fr->goaway.error_code);
		else
			h->h_closing = 1;	/* done when its streams are */
		break;
	default:
		break;
	}
	return 0;
}

static int
h2_cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s;

	(void)flags;
	conn_touch(h->h_conn);
	s = nghttp2_session_get_stream_user_data(sess, id);
	if (s == NULL) {
		/* nobody will take these: give the window back now */
		nghttp2_session_consume(sess, id, len);
		return 0;
	}
	if (sess == h->h_cs && s->s_req_discard) {
		nghttp2_session_consume(sess, id, len);
		return 0;
	}
	if (sess == h->h_cs) {
		if (evbuffer_add(s->s_req, data, len) == -1)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		h2_ev_data(s, 0, data, len);
		h2_req_more(s);
	} else {
		if (evbuffer_add(s->s_resp, data, len) == -1)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		h2_ev_data(s, 1, data, len);
		h2_resp_more(s);
	}
	return 0;
}

static const char *
h2_err_name(uint32_t code)
{
	return nghttp2_http2_strerror(code);
}

/*
 * RFC 9113 8.1: the upstream answered and closed the stream before the
 * request body had all come. What is still to come is dropped (its
 * window given back), and once the client has the whole response, a
 * RST_STREAM NO_ERROR tells it to stop sending.
 */
static void
h2_req_stop(struct h2c *h, struct h2s *s)
{
	size_t n = evbuffer_get_length(s->s_req);

	s->s_req_discard = 1;
	if (n > 0) {
		evbuffer_drain(s->s_req, n);
		if (s->s_cl_open)
			nghttp2_session_consume(h->h_cs, s->s_cid, n);
		else
			nghttp2_session_consume_connection(h->h_cs, n);
	}
	h2_ev_end(s, 0, NULL, "NO_ERROR", "server");
	if (!s->s_cl_open)
		return;
	if (!s->s_resp_eof) {
		/* the response was cut short as well */
		h2_ev_end(s, 1, NULL, "NO_ERROR", "server");
		nghttp2_submit_rst_stream(h->h_cs, NGHTTP2_FLAG_NONE, s->s_cid,
		    NGHTTP2_NO_ERROR);
	} else if (nghttp2_session_get_stream_local_close(h->h_cs, s->s_cid) ==
	    1)
		nghttp2_submit_rst_stream(h->h_cs, NGHTTP2_FLAG_NONE, s->s_cid,
		    NGHTTP2_NO_ERROR);
}

/* The response's last frame went to the client: stop its upload now if
 * the upstream wants no more of it. */
static int
h2_cb_frame_send(nghttp2_session *sess, const nghttp2_frame *fr, void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s;

	if (sess != h->h_cs || !(fr->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (fr->hd.type != NGHTTP2_DATA && fr->hd.type != NGHTTP2_HEADERS) ||
	    (s = nghttp2_session_get_stream_user_data(sess,
	    fr->hd.stream_id)) == NULL)
		return 0;
	if (s->s_req_discard && !s->s_req_eof)
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->s_cid,
		    NGHTTP2_NO_ERROR);
	return 0;
}

static int
h2_cb_stream_close(nghttp2_session *sess, int32_t id, uint32_t code,
    void *arg)
{
	struct h2c	*h = arg;
	struct h2s	*s;

	if ((s = nghttp2_session_get_stream_user_data(sess, id)) == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	if (sess == h->h_cs) {
		s->s_cl_open = 0;
		if (code != NGHTTP2_NO_ERROR) {
			h2_ev_end(s, 0, NULL, h2_err_name(code), "client");
			h2_ev_end(s, 1, NULL, h2_err_name(code), "client");
			if (h->h_us != NULL && s->s_up_open)
				nghttp2_submit_rst_stream(h->h_us,
				    NGHTTP2_FLAG_NONE, s->s_uid, code);
			else if (h->h_us == NULL)
				h2h1_cancel(h, s);
		} else if (!s->s_ended[1])
			/* we ended it: a response cut short */
			h2_ev_end(s, 1, NULL, "CANCEL", "proxy");
	} else {
		s->s_up_open = 0;
		if (code == NGHTTP2_NO_ERROR && !s->s_req_eof)
			h2_req_stop(h, s);
		if (code != NGHTTP2_NO_ERROR) {
			h2_ev_end(s, 0, NULL, h2_err_name(code), "server");
			h2_ev_end(s, 1, NULL, h2_err_name(code), "server");
			if (s->s_cl_open)
				nghttp2_submit_rst_stream(h->h_cs,
				    NGHTTP2_FLAG_NONE, s->s_cid, code);
		}
	}
	h2s_maybe_free(s);
	return 0;
}

static int
h2_cb_invalid_frame(nghttp2_session *sess, const nghttp2_frame *fr,
    int err, void *arg)
{
	struct h2c *h = arg;

	log_debug("conn=%llu: %s sent an invalid frame (type %u, stream %d): "
	    "%s", (unsigned long long)h->h_conn->cn_meta.cm_id,
	    sess == h->h_cs ? "client" : "upstream", fr->hd.type,
	    fr->hd.stream_id, nghttp2_strerror(err));
	return 0;
}

/* The upstream will take no new stream past last. */
void
h2_up_goaway(struct h2c *h, int32_t last, uint32_t code)
{
	(void)last;
	log_debug("conn=%llu: upstream GOAWAY (%s)",
	    (unsigned long long)h->h_conn->cn_meta.cm_id, h2_err_name(code));
	if (h->h_closing)
		return;
	h->h_closing = 1;
	/* the client's streams so far go on; nghttp2 refuses those the
	 * upstream dropped, and h2_cb_stream_close resets them */
	nghttp2_submit_goaway(h->h_cs, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->h_cs),
	    NGHTTP2_NO_ERROR, NULL, 0);
}

/* --- I/O --------------------------------------------------------------- */

static void
h2_end(struct h2c *h, const char *why)
{
	struct conn *cn = h->h_conn;

	conn_why(cn, why);
	conn_close(cn);
}

/* Frames to both peers while their outputs have room; the connection
 * ends when neither session has anything left to do. 0, or -1 when cn
 * was closed. */
int
h2_flush(struct h2c *h)
{
	struct conn	*cn = h->h_conn;
	const uint8_t	*p;
	ssize_t		 n;

	if (h->h_done)
		return -1;
	if (h->h_us != NULL) {
		while (evbuffer_get_length(bufferevent_get_output(h->h_ubev)) <
		    TW_HIGH_WM && (n = nghttp2_session_mem_send(h->h_us, &p)) !=
		    0) {
			if (n < 0 || bufferevent_write(h->h_ubev, p, (size_t)n)
			    == -1) {
				conn_why(cn, "error");
				h2_close(h);
				return -1;
			}
		}
	}
	while (evbuffer_get_length(bufferevent_get_output(cn->cn_bev)) <
	    TW_HIGH_WM && (n = nghttp2_session_mem_send(h->h_cs, &p)) != 0) {
		if (n < 0 || bufferevent_write(cn->cn_bev, p, (size_t)n) ==
		    -1) {
			conn_why(cn, "error");
			h2_close(h);
			return -1;
		}
	}
	if ((!nghttp2_session_want_read(h->h_cs) &&
	    !nghttp2_session_want_write(h->h_cs)) || (h->h_closing &&
	    h->h_nstreams == 0 && !nghttp2_session_want_write(h->h_cs))) {
		conn_why(cn, "closed");
		h2_close(h);
		return -1;
	}
	return 0;
}

/* Nothing more to do: what the client bev holds goes out, then the
 * connection closes; the upstream is done with at once. */
static void
h2_close(struct h2c *h)
{
	if (h->h_done)
		return;
	h->h_done = 1;
	if (h->h_ubev != NULL)
		bufferevent_disable(h->h_ubev, EV_READ | EV_WRITE);
	conn_close_after_flush(h->h_conn);
}

static int
h2_recv(struct h2c *h, nghttp2_session *sess, struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		n = nghttp2_session_mem_recv(sess, v.iov_base, v.iov_len);
		if (n < 0) {
			log_info("conn=%llu: %s: HTTP/2 %s error: %s",
			    (unsigned long long)h->h_conn->cn_meta.cm_id,
			    h->h_conn->cn_target, sess == h->h_cs ? "client" :
			    "upstream", nghttp2_strerror((int)n));
			return -1;
		}
		evbuffer_drain(in, (size_t)n);
	}
	return 0;
}

static void
h2_client_read(struct bufferevent *bev, void *arg)
{
	struct h2c *h = arg;

	if (h->h_done)
		return;
	conn_touch(h->h_conn);
	if (h2_recv(h, h->h_cs, bev) == -1) {
		/* nghttp2 has queued the GOAWAY that says why */
		conn_why(h->h_conn, "error");
		if (h2_flush(h) == 0)
			h2_close(h);
		return;
	}
	(void)h2_flush(h);
}

static void
h2_client_write(struct bufferevent *bev, void *arg)
{
	struct h2c *h = arg;

	(void)bev;
	if (!h->h_done)
		(void)h2_flush(h);
}

static void
h2_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct h2c *h = arg;

	(void)bev;
	(void)what;
	if (!h->h_done)
		h2_end(h, "client_eof");
}

static void
h2_up_read(struct bufferevent *bev, void *arg)
{
	struct h2c *h = arg;

	if (h->h_done)
		return;
	conn_touch(h->h_conn);
	if (h->h_us == NULL) {
		h2h1_read(h);
		return;
	}
	if (h2_recv(h, h->h_us, bev) == -1) {
		h2_up_gone(h);
		return;
	}
	(void)h2_flush(h);
}

static void
h2_up_write(struct bufferevent *bev, void *arg)
{
	struct h2c *h = arg;

	(void)bev;
	if (!h->h_done)
		(void)h2_flush(h);
}

/* The upstream connection is gone: every stream it carried fails. */
void
h2_up_gone(struct h2c *h)
{
	struct h2s *s, *tmp;

	if (h->h_us != NULL) {
		nghttp2_session_del(h->h_us);
		h->h_us = NULL;
	}
	h->h_up_dead = 1;
	for (s = TAILQ_FIRST(&h->h_streams); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, s_entry);
		if (s->s_in_h1q)
			h2h1_unqueue(h, s);
		else if (s->s_up_open)
			s->s_up_open = 0;
		else
			continue;
		/* a response not begun is a 502; one cut short, a reset */
		if (!s->s_resp_eof && !s->s_resp_submitted)
			h2_stream_fail(s, 502, NGHTTP2_INTERNAL_ERROR);
		else if (!s->s_resp_eof) {
			h2_ev_end(s, 1, NULL, "INTERNAL_ERROR", "server");
			h2_stream_fail(s, 0, NGHTTP2_INTERNAL_ERROR);
		}
		h2s_maybe_free(s);
	}
	if (!h->h_closing) {
		h->h_closing = 1;
		nghttp2_submit_goaway(h->h_cs, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(h->h_cs),
		    NGHTTP2_NO_ERROR, NULL, 0);
	}
	(void)h2_flush(h);
}

static void
h2_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct h2c *h = arg;

	(void)what;
	if (h->h_done)
		return;
	if (h->h_us == NULL && !h->h_up_dead) {
		h2h1_eof(h);
		return;
	}
	/* what came before the end first: a response may be in it */
	if (h->h_us != NULL &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		(void)h2_recv(h, h->h_us, bev);
	h2_up_gone(h);
}

/* --- setup ------------------------------------------------------------- */

static nghttp2_session_callbacks *
h2_callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (cb != NULL || nghttp2_session_callbacks_new(&cb) != 0)
		return cb;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2_cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    h2_cb_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb,
	    h2_cb_invalid_frame);
	return cb;
}

nghttp2_option *
h2_options(void)
{
	static nghttp2_option *opt;

	if (opt != NULL || nghttp2_option_new(&opt) != 0)
		return opt;
	/* consumed by hand: see the top of the file */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* the peer's limit applies to what we send, ours to what we get */
	nghttp2_option_set_max_send_header_block_length(opt,
	    CONF_H2_HEADER_LIST_MAX + 4096);
	return opt;
}

/* What a session to an upstream announces: no push, our windows, the
 * header list limit. 0 or -1. */
int
h2_up_settings(nghttp2_session *us)
{
	nghttp2_settings_entry e[3];

	e[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
	e[0].value = 0;
	e[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	e[1].value = H2_WINDOW;
	e[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	e[2].value = tw_env.tw_conf.cg_h2_header_list;
	return nghttp2_submit_settings(us, NGHTTP2_FLAG_NONE, e, 3) == 0 &&
	    nghttp2_session_set_local_window_size(us, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) == 0 ? 0 : -1;
}

int
h2_start(struct conn *cn, struct bufferevent *ubev, int up_h2)
{
	struct h2c		*h;
	nghttp2_session_callbacks *cb = h2_callbacks();
	nghttp2_option		*opt = h2_options();
	nghttp2_settings_entry	 cs[4];

	if (cb == NULL || opt == NULL || (h = calloc(1, sizeof(*h))) == NULL) {
		if (ubev != NULL)
			bufferevent_free(ubev);
		conn_close(cn);
		return -1;
	}
	h->h_conn = cn;
	h->h_ubev = ubev;
	h->h_up_dead = ubev == NULL;
	TAILQ_INIT(&h->h_streams);
	TAILQ_INIT(&h->h_h1q);
	cn->cn_h2 = h;
	if (nghttp2_session_server_new2(&h->h_cs, cb, h, opt) != 0 ||
	    (up_h2 && nghttp2_session_client_new2(&h->h_us, cb, h, opt) != 0) ||
	    (!up_h2 && h2h1_init(h) == -1)) {
		conn_close(cn);
		return -1;
	}
	cs[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	cs[0].value = tw_env.tw_conf.cg_h2_streams;
	cs[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	cs[1].value = H2_WINDOW;
	cs[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	cs[2].value = tw_env.tw_conf.cg_h2_header_list;
	/* RFC 8441 WebSockets, to an HTTP/2 upstream: it says whether it
	 * takes them by resetting the stream or not */
	cs[3].settings_id = NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL;
	cs[3].value = up_h2 ? 1 : 0;
	if (nghttp2_submit_settings(h->h_cs, NGHTTP2_FLAG_NONE, cs, 4) != 0 ||
	    nghttp2_session_set_local_window_size(h->h_cs, NGHTTP2_FLAG_NONE,
	    0, H2_CONN_WINDOW) != 0) {
		conn_close(cn);
		return -1;
	}
	if (h->h_us != NULL && h2_up_settings(h->h_us) == -1) {
		conn_close(cn);
		return -1;
	}
	cn->cn_state = CONN_FORWARD;
	cn->cn_ev.ef_protocol = "http2";
	bufferevent_setcb(cn->cn_bev, h2_client_read, h2_client_write,
	    h2_client_event, h);
	bufferevent_setwatermark(cn->cn_bev, EV_WRITE, TW_LOW_WM, 0);
	bufferevent_setwatermark(cn->cn_bev, EV_READ, 0, 0);
	if (ubev != NULL) {
		bufferevent_setcb(ubev, h2_up_read, h2_up_write, h2_up_event,
		    h);
		bufferevent_setwatermark(ubev, EV_WRITE, TW_LOW_WM, 0);
		bufferevent_setwatermark(ubev, EV_READ, 0, 0);
	}
	if (conn_enable_rw(cn->cn_bev) == -1 ||
	    (ubev != NULL && conn_enable_rw(ubev) ==
	    -1)) {
		conn_close(cn);
		return -1;
	}
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	if (h2_flush(h) == -1)
		return -1;
	/* what came with the handshake */
	if (evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) > 0)
		h2_client_read(cn->cn_bev, h);
	return 0;
}

void
h2_drain(struct h2c *h)
{
	if (h->h_done || h->h_closing)
		return;
	h->h_closing = 1;
	nghttp2_submit_goaway(h->h_cs, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->h_cs),
	    NGHTTP2_NO_ERROR, NULL, 0);
	(void)h2_flush(h);
}

void
h2_free(struct h2c *h)
{
	struct h2s *s, *tmp;

	for (s = TAILQ_FIRST(&h->h_streams); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, s_entry);
		h2s_free(s);
	}
	if (h->h_cs != NULL)
		nghttp2_session_del(h->h_cs);
	if (h->h_us != NULL)
		nghttp2_session_del(h->h_us);
	h2h1_free(h);
	if (h->h_ubev != NULL)
		bufferevent_free(h->h_ubev);
	free(h);
}
