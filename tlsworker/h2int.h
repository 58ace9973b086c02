/*
 * The insides of h2.c and h2h1.c, shared by those two only.
 */
#ifndef MITMD_TW_H2INT_H
#define MITMD_TW_H2INT_H

#include <sys/queue.h>

#include <nghttp2/nghttp2.h>

#include "tlsworker/events.h"
#include "tlsworker/grpc.h"
#include "tlsworker/http1.h"

/* Stream window we open to each peer: what a stream may hold in
 * memory before its reader takes it. */
#define H2_WINDOW	 (256 * 1024)
#define H2_CONN_WINDOW	 (4 * 1024 * 1024)
#define H2_NAME_MAX	 256	/* a field name turned to lower case */

struct evbuffer;
struct bufferevent;
struct wsobs;
struct sseobs;
struct conn;

/* Where the fields of a block are copied: a chunk holds many, so a block
 * costs an allocation or two, not two a field. */
struct h2chunk {
	struct h2chunk	*hc_next;
	size_t		 hc_used;
	size_t		 hc_size;
	uint8_t		 hc_data[];
};
#define H2_CHUNK	 4096

/* A header block being received or kept (trailers): names and values,
 * NUL-terminated, in the block's chunks. */
struct h2hdrs {
	struct h2chunk	*hb_mem;
	nghttp2_nv	*hb_nv;
	size_t		 hb_n;
	size_t		 hb_cap;
	size_t		 hb_bytes;	/* RFC 9113 6.5.2 size */
	int		 hb_over;	/* past the limit: not kept */
};

struct h2s {
	TAILQ_ENTRY(h2s) s_entry;
	TAILQ_ENTRY(h2s) s_h1q;
	struct h2c	*s_h;
	int32_t		 s_cid;		/* client side stream id */
	int32_t		 s_uid;		/* upstream stream id (HTTP/2) */
	int		 s_cl_open;	/* the client session holds it */
	int		 s_up_open;	/* the upstream holds it (HTTP/2
					 * session, or the HTTP/1 queue) */
	struct h2hdrs	 s_hdrs;	/* the block being received */
	struct h2hdrs	 s_req_trailers;
	struct h2hdrs	 s_resp_trailers;
	struct h2hdrs	 s_h1req;	/* the request head, waiting its
					 * turn on an HTTP/1.1 upstream */
	struct evbuffer	*s_req;		/* request body for the upstream */
	struct evbuffer	*s_resp;	/* response body for the client */
	int		 s_req_eof;
	int		 s_req_discard;	/* the upstream is done with the
					 * request: the rest is dropped, and
					 * the client told to stop */
	int		 s_resp_eof;
	int		 s_resp_submitted;
	int		 s_ended[2];	/* body end event sent */
	struct ev_xchg	 s_x;
	int		 s_grpc;
	struct grpc_parser s_gp[2];
	int		 s_xconnect;	/* extended CONNECT (RFC 8441) */
	int		 s_ws_want;	/* ... with :protocol websocket */
	struct wsobs	*s_ws;		/* its WebSocket, once answered 2xx */
	struct sseobs	*s_sse;		/* a text/event-stream response */
	/* HTTP/1.1 upstream (h2h1.c) */
	int		 s_in_h1q;
	int		 s_h1_head_sent;
	int		 s_h1_chunked;	/* request body sent chunked */
	int		 s_h1_req_done;
	int		 s_h1_head_req;	/* HEAD: no response body */
};

struct h2c {
	struct conn		*h_conn;
	nghttp2_session		*h_cs;		/* server, to the client */
	nghttp2_session		*h_us;		/* client, to an HTTP/2
						 * upstream; NULL for 1.1 */
	struct bufferevent	*h_ubev;
	int			 h_closing;	/* GOAWAY either way */
	int			 h_done;	/* closing after a flush */
	int			 h_up_dead;	/* the upstream is gone */
	TAILQ_HEAD(h2s_all, h2s) h_streams;
	uint32_t		 h_nstreams;
	/* HTTP/1.1 upstream: the streams in turn, the first one active */
	TAILQ_HEAD(h2s_h1q, h2s) h_h1q;
	struct http1_head	 h_h1resp;
	int			 h_h1_state;
	uint64_t		 h_h1_left;
	struct http1_chunked	 h_h1_ck;
	int			 h_h1_paused;	/* reading stopped */
	int			 h_h1_last;	/* no exchange after this */
	char			*h_h1_tbuf;	/* a chunked body's trailer
						 * lines, for the client */
	size_t			 h_h1_tlen;
};

struct h2grpc_arg {
	struct h2s	*ga_s;
	int		 ga_resp;
};

/* h2.c */
void	 h2_hdrs_clear(struct h2hdrs *);
void	 h2_hdrs_free(struct h2hdrs *);
int	 h2_hdrs_add(struct h2hdrs *, const uint8_t *, size_t,
	    const uint8_t *, size_t, size_t limit);
const nghttp2_nv *h2_hdrs_get(const struct h2hdrs *, const char *);
int	 h2_hdrs_from_http1(struct h2hdrs *, const struct http1_head *);
int	 h2_name_lower(char *, size_t, const char *, size_t);
int	 h2_conn_field(const char *);
int	 h2_status(const nghttp2_nv *);
void	 h2_hdrs_write_http1(struct evbuffer *, const struct h2hdrs *);
void	 h2_ev_head(struct ev_flow *, struct ev_xchg *, int status,
	    const struct h2hdrs *);
void	 h2_ev_tail(struct ev_flow *, struct ev_xchg *, int resp,
	    const struct h2hdrs *, const char *reset, const char *by);
void	 h2_ev_request(struct h2s *);
void	 h2_ev_response(struct h2s *, int status, const struct h2hdrs *);
void	 h2_ev_data(struct h2s *, int resp, const uint8_t *, size_t);
void	 h2_ev_end(struct h2s *, int resp, const struct h2hdrs *,
	    const char *reset, const char *by);
void	 h2s_free(struct h2s *);
void	 h2s_maybe_free(struct h2s *);
int	 h2_submit_response(struct h2s *, const struct h2hdrs *, int end);
void	 h2_resp_more(struct h2s *);
void	 h2_req_more(struct h2s *);
void	 h2_stream_fail(struct h2s *, int status, uint32_t code);
void	 h2_up_goaway(struct h2c *, int32_t, uint32_t);
void	 h2_up_gone(struct h2c *);
int	 h2_flush(struct h2c *);
/* The options of every session (window updates by hand), and what a
 * session to an upstream announces. */
nghttp2_option *h2_options(void);
int	 h2_up_settings(nghttp2_session *);
void	 h2_sse_check(struct h2s *, const struct h2hdrs *);

/* h2h1.c */
int	 h2h1_init(struct h2c *);
void	 h2h1_free(struct h2c *);
void	 h2h1_enqueue(struct h2c *, struct h2s *);
void	 h2h1_unqueue(struct h2c *, struct h2s *);
void	 h2h1_req_more(struct h2c *, struct h2s *);
void	 h2h1_resp_drained(struct h2c *, struct h2s *);
void	 h2h1_cancel(struct h2c *, struct h2s *);
void	 h2h1_read(struct h2c *);
void	 h2h1_eof(struct h2c *);

#endif
