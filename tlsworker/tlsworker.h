/*
 * The tlsworker's internals, shared by its files:
 *   main.c	process setup, sandbox, IPC with master and the acceptor
 *   worker.c	the configuration set, counters, drain
 *   conn.c	one client connection: head, decision, responses, close
 *   tunnel.c	CONNECT: upstream, "200", the splice relay
 *   upstream.c	resolve (evdns) and connect out with a deadline
 *   intercept.c	CONNECT with action intercept: ClientHello, upstream
 *		TLS, leaf, client TLS, then HTTP/1.1 through fwd.c
 *   h2.c	HTTP/2 with the client, nghttp2 both sides; h2h1.c its
 *		streams in turn on an HTTP/1.1 upstream; h1h2.c an
 *		HTTP/1.1 client before an HTTP/2 upstream
 *   fwd.c	HTTP/1.x exchanges: absolute-form plain HTTP, and the
 *		requests inside an intercepted tunnel (fixed upstream);
 *		the WebSocket relay after a 101
 *   wsobs.c, sseobs.c	WebSocket and server-sent events observers over
 *		relayed bytes, any transport (events); wsext.c the
 *		Sec-WebSocket-Extensions parser (fuzzed)
 *   tls.c	OpenSSL contexts, failure taxonomy, the leaf request
 *   leaf.c	certd channel and the leaf cache
 *   clienthello.c, http1*.c	parsers of untrusted bytes (fuzzed)
 *   policy.c	first-match rules, learned passthroughs
 *   events.c	events schema v1 to webui (events.h)
 *
 * One event loop, no threads: every function runs on the loop and none
 * blocks. A connection is freed only by conn_close(), and a callback that
 * calls it returns at once.
 */
#ifndef MITMD_TLSWORKER_H
#define MITMD_TLSWORKER_H

#include <sys/queue.h>

#include <stdint.h>

#include "common/conf.h"
#include "common/proto.h"
#include "tlsworker/events.h"
#include "tlsworker/http1.h"
#include "tlsworker/policy.h"

struct bufferevent;
struct event;
struct event_base;
struct evdns_base;
struct evbuffer;
struct evutil_addrinfo;
struct ipc_chan;
struct ipc_msg;
struct child;
struct conn;
struct ssl_st;

/* Buffers of the plain-HTTP path: stop reading one side when the other's
 * output passes HIGH, start again below LOW. */
#define TW_HIGH_WM	 ((size_t)256 * 1024)
#define TW_LOW_WM	 ((size_t)64 * 1024)
/* After an error response: how long and how much we read and discard so
 * that closing does not reset the connection under the response. */
#define TW_LINGER_SEC	 5
#define TW_LINGER_BYTES	 ((size_t)1024 * 1024)
/* fds one connection may hold: client, upstream, two pipes. */
#define TW_FDS_PER_CONN	 CONF_FDS_PER_CONN
#define TW_FDS_RESERVE	 CONF_FDS_RESERVE
#define TW_TARGET_MAX	 (HTTP1_HOST_MAX + sizeof("[]:65535"))
#define TW_USEC		 1000000ULL
/* The name mitmd answers itself with its public page (never resolved,
 * never sent upstream). */
#define TW_WEBUI_HOST	 "mitmd.cert"
/* worker.c: malloc_trim() after this many connections came or went */
#define TW_TRIM_CONNS	 256
#define TW_TRIM_SEC	 10
#define TW_TRIM_THRESHOLD (8 * 1024 * 1024)	/* heap top kept free */
#define TW_MMAP_THRESHOLD (1024 * 1024)	/* larger: mmap(2) */

struct tlsworker {
	struct event_base	*tw_base;
	struct evdns_base	*tw_dns;
	struct child		*tw_child;
	struct ipc_chan		*tw_acceptor;

	/* the configuration in force */
	struct conf_global	 tw_conf;
	struct conf_rule	*tw_rules;
	size_t			 tw_nrules;
	/* the set being received, applied at IMSG_CONF_END */
	struct conf_global	 tw_next_conf;
	int			 tw_next_has_global;
	struct conf_rule	*tw_next_rules;
	size_t			 tw_next_nrules;
	int			 tw_next_overflow;

	/* by listener id: where a reverse listener relays to (cl_kind
	 * LISTENER_REVERSE), zero for the others */
	struct conf_listener	 tw_reverse[CONF_MAX_LISTENERS];
	/* The webui listener, where "mitmd.cert" goes (an unspecified
	 * address made loopback); tw_webui_on 0 without one. */
	struct addr		 tw_webui;
	int			 tw_webui_on;

	int			 tw_draining;
	struct event		*tw_drain_ev;

	TAILQ_HEAD(conn_list, conn) tw_conns;
	uint32_t		 tw_open;
	uint64_t		 tw_total;
	uint64_t		 tw_bytes_in;	/* client -> upstream */
	uint64_t		 tw_bytes_out;	/* upstream -> client */
};

extern struct tlsworker tw_env;

/* upstream.c: resolve and connect, with one deadline for both. */
enum up_err {
	UP_OK = 0,
	UP_ERR_DNS,	/* 502 */
	UP_ERR_CONNECT,	/* 502 */
	UP_ERR_TIMEOUT,	/* 504 */
	UP_ERR_INTERNAL, /* 503: out of fds or memory */
};

/* Called once, never from inside upstream_start(); owns fd on success. */
typedef void upstream_cb(struct conn *, int fd, int err, const char *why);

struct up_ticket;

struct upstream {
	struct conn		*up_conn;
	upstream_cb		*up_cb;
	char			 up_host[HTTP1_HOST_MAX + 1];
	uint16_t		 up_port;
	int			 up_active;
	struct up_ticket	*up_ticket;	/* DNS in flight */
	struct evutil_addrinfo	*up_ai;		/* owned */
	int			 up_ai_own;	/* ours (a literal), not evdns' */
	struct evutil_addrinfo	*up_next;	/* next address to try */
	int			 up_nleft;	/* addresses not tried */
	int			 up_fd;		/* connect in progress */
	struct event		*up_wev;
	struct event		*up_timer;
	uint64_t		 up_deadline;	/* monotonic usec */
	int			 up_result;	/* set: deliver from the timer */
	int			 up_errno;	/* of the last failed attempt */
	int			 up_dns_sync;
	int			 up_dns_done;
	int			 up_dns_err;
};

void	 upstream_start(struct upstream *, struct conn *, const char *host,
	    uint16_t port, upstream_cb *);
/* Stop whatever is in flight and free it; safe to call twice. */
void	 upstream_cancel(struct upstream *);
int	 upstream_status(int err);

/* conn.c */
enum conn_state {
	CONN_HEAD = 1,	/* reading a request head */
	CONN_UPSTREAM,	/* CONNECT: resolving and connecting */
	CONN_TUNNEL,	/* splice relay */
	CONN_FORWARD,	/* plain-HTTP exchange */
	CONN_CLOSING,	/* last response going out */
	CONN_LINGER,	/* sent; reading and discarding until EOF */
	CONN_HELLO,	/* intercept: "200" sent, reading the ClientHello */
	CONN_TLS,	/* intercept: handshakes and the leaf */
};

enum conn_tmo {
	TMO_NONE = 0,
	TMO_HEADER,	/* absolute: the whole head within cg_header_tmo */
	TMO_IDLE,	/* since the last byte moved: cg_idle_tmo */
	TMO_CLOSE,	/* absolute: flush and linger */
	TMO_TLS,	/* absolute: one step of interception (intercept.c) */
};

struct relay;
struct fwd;
struct icpt;
struct h2c;
struct h1h2;

struct conn {
	TAILQ_ENTRY(conn)	 cn_entry;
	struct conn_meta	 cn_meta;
	int			 cn_fd;		/* client socket */
	int			 cn_fd_owned;	/* 0 once a TLS bev closes it */
	int			 cn_state;
	struct bufferevent	*cn_bev;	/* client; NULL in a tunnel and
						 * during the handshakes */
	struct ssl_st		*cn_ssl;	/* client TLS, owned by cn_bev */
	struct event		*cn_timer;
	int			 cn_tkind;	/* enum conn_tmo */
	uint64_t		 cn_tlen;	/* usec */
	uint64_t		 cn_last;	/* last activity, monotonic */
	uint64_t		 cn_start;
	size_t			 cn_discarded;	/* while lingering */
	struct http1_head	 cn_req;
	uint32_t		 cn_nreq;	/* requests decided */

	int			 cn_decided;
	struct policy_decision	 cn_pd;
	char			 cn_host[HTTP1_HOST_MAX + 1];
	int			 cn_host_v6;
	uint16_t		 cn_port;
	char			 cn_target[TW_TARGET_MAX];
	char			 cn_client[ADDR_STRLEN];
	uint64_t		 cn_bytes_in;
	uint64_t		 cn_bytes_out;

	struct upstream		 cn_up;		/* CONNECT */
	struct relay		*cn_relay;
	struct fwd		*cn_fwd;
	struct icpt		*cn_icpt;	/* interception being set up */
	struct h2c		*cn_h2;		/* HTTP/2 with the client */
	struct h1h2		*cn_h1h2;	/* HTTP/1.1 client, HTTP/2
						 * upstream */
	/* inside a CONNECT tunnel (intercepted TLS, or plain HTTP): every
	 * request goes to the CONNECT target, no policy per request */
	int			 cn_fixed;
	int			 cn_reverse;	/* from a reverse listener */
	int			 cn_kept;	/* waiting for the next request
						 * of a kept connection */
	char			*cn_fail_page;	/* upstream TLS failed: the 502
						 * page for the first request */
	int			 cn_fail_status; /* of that page */

	struct ev_flow		 cn_ev;
	int			 cn_ev_on;	/* connect_received sent */
	const char		*cn_why;	/* stream_closed reason */
};

void	 conn_handoff(const struct conn_meta *, int fd);
void	 conn_close(struct conn *);
/* A short text response, then close (after lingering). */
void	 conn_respond(struct conn *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Flush what the client bev holds, then close. */
void	 conn_close_after_flush(struct conn *);
/* Start (again) reading a request head: new connections, keep-alive. */
void	 conn_head_begin(struct conn *);
/* Decide the policy for the request in cn_req; logs the decision line.
 * Returns the action. */
uint32_t conn_decide(struct conn *);
int	 conn_is_webui(const char *host);
/* The connect_decision event and/or the audit line of cn_pd. */
void	 conn_announce(struct conn *, int event, int audit);
void	 conn_timer(struct conn *, int kind, uint32_t secs);
void	 conn_touch(struct conn *);
void	 conn_count_in(struct conn *, uint64_t);
void	 conn_count_out(struct conn *, uint64_t);
int	 conn_nodelay(int fd);
/* On shutdown: close connections idle between requests. */
void	 conn_drain_idle(void);
void	 conn_close_all(void);
int	 conn_enable_rw(struct bufferevent *);

/* A close reason for the stream_closed event, kept if one is set. */
void	 conn_why(struct conn *, const char *);
/* A response with a body of that type, then close after lingering. */
void	 conn_respond_body(struct conn *, int status, const char *type,
	    const char *body, size_t len);

/* tunnel.c */
void	 tunnel_start(struct conn *);
/* A reverse listener's client: straight to the upstream, intercepted. */
void	 tunnel_reverse(struct conn *, const struct conf_listener *);
/* The splice relay between the client and fd (owned now), with what the
 * client bev holds: input goes upstream, output to the client. */
void	 tunnel_relay(struct conn *, int fd);
void	 relay_free(struct relay *);

/* intercept.c */
void	 intercept_start(struct conn *, int fd);
/* A reverse listener could not reach its upstream: a TLS handshake all
 * the same, then a page with status (502, 504) that says why. */
void	 intercept_start_failed(struct conn *, int status, const char *why);
/* A reverse listener's client on an upstream from the pool (owned now). */
void	 intercept_start_pooled(struct conn *, struct bufferevent *);
void	 intercept_free(struct icpt *);
void	 intercept_timeout(struct conn *);

/* fwd.c */
void	 fwd_request(struct conn *);
/* Requests inside a tunnel go to this upstream (owned now); 0 or -1. */
int	 fwd_fixed(struct conn *, struct bufferevent *);
void	 fwd_free(struct fwd *);
/* The connection closes: the exchange's last events (a WebSocket turn
 * still open) before stream_closed. */
void	 fwd_end(struct fwd *);
/* The fixed upstream, taken from fw, when it sits between two exchanges
 * and may carry another (for pool_put); else NULL. */
struct bufferevent *fwd_take_idle(struct fwd *);

/* pool.c: idle upstream connections of reverse listeners */
/* Keep bev (between two exchanges, keep-alive) for the listener's next
 * client; it is freed instead when it cannot be kept. */
void	 pool_put(uint32_t listener, struct bufferevent *);
/* An idle upstream of that listener, or NULL; no callbacks set. */
struct bufferevent *pool_take(uint32_t listener);
void	 pool_flush(void);
size_t	 pool_idle(void);

/* worker.c */
void	 worker_init(struct child *, struct event_base *, struct evdns_base *);
void	 worker_conf_msg(struct ipc_msg *, void *);
void	 worker_status(struct ipc_chan *);
void	 worker_shutdown(void);
void	 worker_passthrough(struct ipc_msg *);
/* A connection ended: tell the acceptor, maybe finish draining. */
void	 worker_conn_closed(uint64_t id);

#endif
