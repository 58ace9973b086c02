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

struct ev_flow {
	uint64_t	 ef_id;		/* the acceptor's connection id */
	uint32_t	 ef_seq;	/* seq of the next event */
	uint32_t	 ef_stream;	/* exchange number on the connection */
	struct addr	 ef_client;
	char		 ef_client_str[ADDR_STRLEN];	/* "" when not known */
	char		 ef_host[HOSTPAT_MAXLEN + 1];
	uint16_t	 ef_port;
	const char	*ef_protocol;	/* "tcp", "tls", "http/1.1" */
	int		 ef_tls;	/* the client side speaks TLS: set by
					 * ev_tls_succeeded(TLS_SIDE_CLIENT) */
	/* per body being streamed: size and SHA-256 so far */
	uint64_t	 ef_body_len[2];	/* 0 request, 1 response */
	struct evp_md_ctx_st *ef_body_md[2];
	uint32_t	 ef_capture_left[2];	/* bytes still to capture */
	/* coalescing: bytes of the body already in a chunk event, when
	 * the last one went (or the body began), and the captured bytes
	 * of the bytes not yet reported */
	uint64_t	 ef_body_sent[2];
	uint64_t	 ef_body_when[2];	/* monotonic usec */
	uint8_t		*ef_cap_buf[2];
	uint32_t	 ef_cap_len[2];
	uint32_t	 ef_cap_size[2];
};

/* The channel to webui; NULL turns every event off. Set by main.c. */
void	ev_set_sink(struct ipc_chan *);
/* Events are sent in batches, at the end of each pass of the event loop
 * (and at exit); this sends what waits now. */
void	ev_flush(void);
/* 0: nothing consumes events (conf cg_events): none is encoded, bodies
 * are neither hashed nor captured. On by default. */
void	ev_set_enabled(int);
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
/* Last event of a flow. reason: "closed", "client_eof", "upstream_eof",
 * "timeout", "error", "blocked", "tls_failed", "shutdown". */
void	ev_stream_closed(struct ev_flow *, const char *reason,
	    uint64_t bytes_in, uint64_t bytes_out);

#endif
