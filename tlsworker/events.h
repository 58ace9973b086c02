/*
 * Events, schema v1 (DESIGN.md; written down in mitmd-events(5)). The
 * worker's connection code calls one function per event at the point where
 * the thing happens; each function encodes the event once, as one JSON
 * object, and queues it for webui (IMSG_EVENT, several events a
 * message), which writes the sinks and the flow store. Nothing is encoded when no webui channel exists.
 *
 * Every event carries v, type, flow_id, seq (per flow, from 0, no gaps),
 * ts (RFC 3339 with microseconds), client_addr, server_host, server_port,
 * protocol. Ordering per flow: connect_received, connect_decision, then
 * tls_* (client side after the upstream side), then for each exchange
 * request_headers, request_body_chunk*, response_headers,
 * response_body_chunk*, and stream_closed last.
 *
 * Owner of the state: struct ev_flow lives inside the worker's connection
 * and dies with it; events.c keeps no pointer to it after a call returns,
 * except the digest contexts it owns (freed by ev_flow_free).
 */
#ifndef MITMD_TW_EVENTS_H
#define MITMD_TW_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/hostpat.h"

struct ipc_chan;
struct http1_head;
struct evp_md_ctx_st;

#define EV_SCHEMA_VERSION 1

/* One body being streamed: size and SHA-256 so far, and the capture. */
struct ev_body {
	uint64_t	 eb_len;
	struct evp_md_ctx_st *eb_md;
	uint32_t	 eb_capture_left;	/* bytes still to capture */
	/* coalescing: bytes of the body already in a chunk event, when
	 * the last one went (or the body began), and the captured bytes
	 * of the bytes not yet reported */
	uint64_t	 eb_sent;
	uint64_t	 eb_when;		/* monotonic usec */
	uint8_t		*eb_cap_buf;
	uint32_t	 eb_cap_len;
	uint32_t	 eb_cap_size;
};

/* One exchange (an HTTP/1 request and its response, an HTTP/2 stream):
 * its number in the events' "stream" and its two bodies (0 request, 1
 * response). HTTP/1 uses the one inside struct ev_flow; HTTP/2 has one
 * per stream (ev_x_init, ev_x_free). */
struct ev_xchg {
	uint32_t	 ex_stream;
	struct ev_body	 ex_body[2];
};

struct ev_flow {
	uint64_t	 ef_id;		/* the acceptor's connection id */
	uint32_t	 ef_seq;	/* seq of the next event */
	uint32_t	 ef_stream;	/* HTTP/1 exchanges on the connection */
	struct addr	 ef_client;
	char		 ef_client_str[ADDR_STRLEN];	/* "" when not known */
	char		 ef_host[HOSTPAT_MAXLEN + 1];
	uint16_t	 ef_port;
	const char	*ef_protocol;	/* "tcp", "tls", "http/1.1", "http2" */
	int		 ef_tls;	/* the client side speaks TLS: set by
					 * ev_tls_succeeded(TLS_SIDE_CLIENT) */
	struct ev_xchg	 ef_x;		/* the HTTP/1 exchange */
};

/* A header field for the HTTP/2 events (not NUL-terminated). */
struct ev_hdr {
	const char	*eh_name;
	size_t		 eh_nlen;
	const char	*eh_value;
	size_t		 eh_vlen;
};

/* The channel to webui; NULL turns every event off. Set by main.c. */
void	ev_set_sink(struct ipc_chan *);
/* Events are sent in batches, at the end of each pass of the event loop
 * (and at exit); this sends what waits now. */
void	ev_flush(void);
void	ev_exit_flush(void);
/* 0: nothing consumes events (conf cg_events): none is encoded, bodies
 * are neither hashed nor captured. On by default. */
void	ev_set_enabled(int);
/* Events are made (ev_set_enabled): callers skip building arguments
 * for nothing. */
int	ev_enabled(void);
/* Bytes of each body to capture (conf cg_capture_max KiB). */
void	ev_set_capture(uint32_t kib);

void	ev_flow_init(struct ev_flow *, uint64_t id, const struct addr *client);
void	ev_flow_free(struct ev_flow *);
void	ev_set_target(struct ev_flow *, const char *host, uint16_t port);

/* mode: "explicit" (a request head: method is its method) or "reverse"
 * (a reverse listener: no head, method NULL). */
void	ev_connect_received(struct ev_flow *, const char *method,
	    const char *mode);
/* rule_index: the 1-based config rule, 0 for the default, or
 * EV_RULE_PASSTHROUGH for a learned pinned-client passthrough. */
#define EV_RULE_PASSTHROUGH UINT32_MAX
#define EV_RULE_REVERSE	    (UINT32_MAX - 1)	/* a reverse listener */
void	ev_connect_decision(struct ev_flow *, const char *action,
	    uint32_t rule_index, uint32_t rule_line);
/* side: TLS_SIDE_CLIENT or TLS_SIDE_UPSTREAM (common/proto.h) */
void	ev_tls_started(struct ev_flow *, int side, const char *sni);
void	ev_tls_succeeded(struct ev_flow *, int side, const char *version,
	    const char *cipher, const char *alpn);
void	ev_tls_failed(struct ev_flow *, int side, uint32_t reason,
	    const char *detail);
/* A parsed request or response head (tlsworker/http1.h). */
void	ev_request_headers(struct ev_flow *, const struct http1_head *);
void	ev_response_headers(struct ev_flow *, const struct http1_head *);
/* Body bytes as they are forwarded, unchanged; last = 1 on the final
 * call of that body (may carry 0 bytes): it carries the total size and
 * the SHA-256 of the body. Calls are coalesced: a chunk event goes out
 * once EV_CHUNK_BYTES are waiting, at the first call EV_CHUNK_USEC after
 * the body's previous event, at the end of the body, and before the
 * flow's next head or its stream_closed (mitmd-events(5)). */
#define EV_CHUNK_BYTES	((uint64_t)1024 * 1024)
#define EV_CHUNK_USEC	1000000ULL
void	ev_body_chunk(struct ev_flow *, int response, const void *, size_t,
	    int last);
/* HTTP/2 and other multiplexed exchanges: x lives as long as its stream;
 * ev_x_free() reports the bytes still pending and frees it. */
void	ev_x_init(struct ev_xchg *, uint32_t stream);
void	ev_x_free(struct ev_flow *, struct ev_xchg *);
/* Pseudo-header fields as arguments, the others in hdrs. */
void	ev_x_request_headers(struct ev_flow *, struct ev_xchg *,
	    const char *method, size_t mlen, const char *scheme, size_t slen,
	    const char *authority, size_t alen, const char *path, size_t plen,
	    const struct ev_hdr *hdrs, size_t n);
void	ev_x_response_headers(struct ev_flow *, struct ev_xchg *, int status,
	    const struct ev_hdr *hdrs, size_t n);
void	ev_x_body_chunk(struct ev_flow *, struct ev_xchg *, int response,
	    const void *, size_t, int last);
/* The end of a body that has trailers (the last chunk event carries
 * them), or that was reset (reset: the error name, by "client",
 * "server" or "proxy"). */
void	ev_x_body_end(struct ev_flow *, struct ev_xchg *, int response,
	    const struct ev_hdr *trailers, size_t n, const char *reset,
	    const char *reset_by);

/* The direction of a message on a stream: "client" sent it (to the
 * server) or "server" did. */
#define EV_FROM(response) ((response) ? "server" : "client")

/* A WebSocket message or control frame, when it is complete. */
struct ev_ws_msg {
	int		 ew_response;	/* sent by the server */
	const char	*ew_opcode;	/* "text", "binary", "close", "ping",
					 * "pong" */
	uint64_t	 ew_len;	/* payload bytes (compressed ones for a
					 * compressed message) */
	int		 ew_compressed;	/* permessage-deflate */
	unsigned	 ew_frames;
	int		 ew_oversize;	/* past the observation limit */
	const void	*ew_head;	/* first payload bytes (capture), */
	size_t		 ew_headlen;	/* 0: none captured */
	int		 ew_close_code;	/* close: the code, else 0 */
	const char	*ew_reason;	/* close: UTF-8 reason */
	size_t		 ew_reason_len;
};
void	ev_ws_message(struct ev_flow *, uint32_t stream,
	    const struct ev_ws_msg *);
/* A turn: the messages one side sends until the other side answers.
 * start and end are wall-clock usec (util_wall_usec). */
struct ev_ws_turn {
	uint64_t	 et_turn;	/* from 1 on the connection */
	int		 et_response;	/* the server began it */
	uint64_t	 et_frames;
	uint64_t	 et_messages;
	uint64_t	 et_bytes;
	uint64_t	 et_start;
	uint64_t	 et_end;	/* completed only */
	const char	*et_reason;	/* completed only: "reply", "close",
					 * "error", "idle", "eof" */
};
void	ev_ws_turn_started(struct ev_flow *, uint32_t stream,
	    const struct ev_ws_turn *);
void	ev_ws_turn_completed(struct ev_flow *, uint32_t stream,
	    const struct ev_ws_turn *);
/* A server-sent event as it completes (tlsworker/sse.h); the data is
 * cut to the capture size, data_size is its whole length. */
void	ev_sse_event(struct ev_flow *, uint32_t stream, const char *type,
	    size_t tlen, const char *id, size_t idlen, int64_t retry,
	    const char *data, size_t dlen);
/* A gRPC message (its 5-byte prefix was read), or a malformed envelope
 * (error set: its kind and reason, offset of the prefix at fault). */
struct ev_grpc_msg {
	int		 eg_response;
	uint64_t	 eg_index;	/* messages before it in that direction */
	int		 eg_compressed;
	uint64_t	 eg_len;
	uint64_t	 eg_offset;
	const char	*eg_error;	/* NULL, or "bad_flag", "too_large",
					 * "truncated_prefix", ... */
	const char	*eg_reason;
};
void	ev_grpc_message(struct ev_flow *, uint32_t stream,
	    const struct ev_grpc_msg *);

/* Last event of a flow. reason: "closed", "client_eof", "upstream_eof",
 * "timeout", "error", "blocked", "tls_failed", "shutdown". */
void	ev_stream_closed(struct ev_flow *, const char *reason,
	    uint64_t bytes_in, uint64_t bytes_out);

#endif
