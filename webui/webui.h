/*
 * webui: the public page of mitmd on its own listener, and the process
 * that owns what the workers' events become. The page: a short status
 * page and the CA certificate (never the key) that certd hands to master
 * and master forwards here, as PEM and as DER, served with libevent's
 * evhttp on the listening socket master opened. The events: each worker
 * has a channel here (IMSG_PEER); every IMSG_EVENT is checked
 * (evparse.c), written to the sinks master opened for us (sink.c: "events
 * file", "events socket") and into the SQLite flow store (store.c).
 * webui is chrooted in the store's directory and seccomp-confined.
 *
 *   main.c	process setup, sandbox, IPC with master and the workers
 *   http.c	evhttp: the pages
 *   page.c	routes, the public page, the iOS profile (pure)
 *   ua.c	the device of a User-Agent, "?os=" (pure, fuzzed)
 *   status.c	the status page and /metrics from master's snapshot (pure)
 *   ca.c	the CA certificate as served
 *   feed.c	worker channels; one event from arrival to sinks and store
 *   evparse.c	the strict JSON check of an event (pure, fuzzed)
 *   sink.c	file and socket sinks, bounded queues
 *   store.c	the flow store: schema, batched writes, retention
 *   admin*.c	the admin pages on their HTTPS listener (webui/admin.h)
 */
#ifndef MITMD_WEBUI_H
#define MITMD_WEBUI_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/mobileconfig.h"
#include "common/proto.h"

struct event;
struct event_base;
struct evbuffer;
struct evhttp;
struct evconnlistener;
struct feed;
struct ipc_chan;
struct ipc_msg;
struct sandbox_opts;
struct sink;
struct store;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct sqlite3 sqlite3;

#define WEBUI_MAX_HEADERS_SIZE	8192	/* bytes of a request head */
#define WEBUI_MAX_BODY_SIZE	1024	/* nothing here takes a body */
#define WEBUI_TIMEOUT_SEC	10	/* idle or slow connections */
#define WEBUI_NOFILE		1024	/* RLIMIT_NOFILE */
#define WEBUI_PAUSE_MSEC	500	/* accept pause at the fd limit */
#define WEBUI_STOP_SEC		2	/* for the workers' last events */
#define WEBUI_SHA256_LEN	32
#define WEBUI_FPR_MAX		(WEBUI_SHA256_LEN * 3)	/* "AB:..." + NUL */
#define WEBUI_DATE_MAX		64
#define WEBUI_NAME_MAX		MOBILECONFIG_NAME_MAX	/* the CA's */
#define WEBUI_PEM_FILENAME	"mitmd-ca.pem"
#define WEBUI_DER_FILENAME	"mitmd-ca.crt"
#define WEBUI_CER_FILENAME	MOBILECONFIG_CER_NAME	/* DER, for Windows */
#define WEBUI_MC_FILENAME	"mitmd-ca.mobileconfig"
#define WEBUI_UA_MAX		1024	/* User-Agent bytes looked at */
#define WEBUI_SINKS_MAX		8	/* file and socket sinks */
#define WEBUI_STORE_NAME	"flows.db"	/* in the store directory */
#define WEBUI_LEN_MAX		24	/* a Content-Length value */
#define WEBUI_SESSION_MAX	72	/* the admin session, hex, NUL */

/* The CA certificate as served; wc_pem is NULL until certd's arrives. */
struct webui_ca {
	char	*wc_pem;	/* re-encoded: the certificate alone, NUL-ended */
	size_t	 wc_pemlen;
	uint8_t	*wc_der;
	size_t	 wc_derlen;
	char	 wc_sha256[WEBUI_FPR_MAX];	/* of the DER */
	char	 wc_not_after[WEBUI_DATE_MAX];
	char	 wc_name[WEBUI_NAME_MAX];	/* subject CN */
	uint8_t	 wc_md[WEBUI_SHA256_LEN];	/* SHA-256 of the DER */
	int64_t	 wc_not_after_t;	/* the same, seconds since the epoch */
};

/* status.c: master's last IMSG_WEB_STATUS and what webui derives. */
struct webui_stat {
	struct web_status st_ws;
	int		 st_has;	/* a snapshot came */
	double		 st_fps;	/* connections a second, last window */
	uint64_t	 st_prev_total;
	uint64_t	 st_prev_usec;
	uint64_t	 st_requests;	/* webui's own, set before rendering */
	uint64_t	 st_events;
};

/* The device a page leads with (ua.c). */
enum webui_os {
	WEBUI_OS_UNKNOWN = 0,
	WEBUI_OS_IOS,
	WEBUI_OS_ANDROID,
	WEBUI_OS_WINDOWS,
	WEBUI_OS_MACOS,
	WEBUI_OS_LINUX,
	WEBUI_OS_MAX
};

enum webui_page {
	WEBUI_PAGE_NONE = 0,
	WEBUI_PAGE_INDEX,
	WEBUI_PAGE_PEM,
	WEBUI_PAGE_DER,		/* .crt, Android */
	WEBUI_PAGE_CER,		/* the same DER as .cer, Windows */
	WEBUI_PAGE_MOBILECONFIG,	/* iOS and iPadOS */
	WEBUI_PAGE_STATUS,
	WEBUI_PAGE_METRICS,
};

/* evparse.c: one event as webui reads it. */
#define WEV_SCHEMA_VERSION	1
#define WEV_TEXT_MAX		IPC_EVENT_MAX
#define WEV_SHORT_MAX		64	/* type, method, versions, ... */
#define WEV_TS_MAX		40
#define WEV_HOST_MAX		256
#define WEV_URL_MAX		2048	/* of a URL, in the flows table */
#define WEV_CIPHER_MAX		128

enum wev_type {
	WEV_NONE = 0,
	WEV_CONNECT_RECEIVED,
	WEV_CONNECT_DECISION,
	WEV_TLS_STARTED,
	WEV_TLS_SUCCEEDED,
	WEV_TLS_FAILED,
	WEV_REQUEST_HEADERS,
	WEV_REQUEST_BODY,
	WEV_RESPONSE_HEADERS,
	WEV_RESPONSE_BODY,
	WEV_WS_MESSAGE,
	WEV_WS_TURN_STARTED,
	WEV_WS_TURN_COMPLETED,
	WEV_SSE_EVENT,
	WEV_GRPC_MESSAGE,
	WEV_STREAM_CLOSED,
	WEV_MAX
};

/* Integers absent or null are -1, strings "", we_last -1. Strings are
 * cut to their buffers on a character boundary. */
struct wev {
	int	 we_type;	/* enum wev_type */
	int64_t	 we_v;
	int64_t	 we_flow;
	int64_t	 we_seq;
	int64_t	 we_port;
	int64_t	 we_rule;
	int64_t	 we_status;
	int64_t	 we_stream;
	int64_t	 we_offset;
	int64_t	 we_size;
	int64_t	 we_body_size;
	int64_t	 we_bytes_in;
	int64_t	 we_bytes_out;
	int	 we_last;
	char	 we_typename[WEV_SHORT_MAX];
	char	 we_ts[WEV_TS_MAX];
	char	 we_client[WEV_SHORT_MAX];
	char	 we_host[WEV_HOST_MAX];
	char	 we_protocol[WEV_SHORT_MAX];
	char	 we_method[WEV_SHORT_MAX];
	char	 we_url[WEV_URL_MAX];
	char	 we_action[WEV_SHORT_MAX];
	char	 we_rule_str[WEV_SHORT_MAX];	/* "default" */
	char	 we_side[WEV_SHORT_MAX];
	char	 we_tls_version[WEV_SHORT_MAX];
	char	 we_cipher[WEV_CIPHER_MAX];
	char	 we_failure[WEV_SHORT_MAX];	/* tls_failure_reason */
	char	 we_reason[WEV_SHORT_MAX];	/* stream_closed's */
	/* capture_b64: the member with its leading comma, and its value
	 * between the quotes; lengths 0 when there is none */
	size_t	 we_cap_off;
	size_t	 we_cap_len;
	size_t	 we_capv_off;
	size_t	 we_capv_len;
};

/* feed.c: the worker channels and what happens to one event. */
#define WEBUI_LOG_USEC		(10 * 1000000ULL) /* repeated warnings */
#define WEBUI_CAPTURE_MAX	(CONF_CAPTURE_MAX_KIB * 1024)

/* A warning that may repeat at traffic rate: at most one a period,
 * with the count of those not written. */
struct webui_rl {
	uint64_t rl_when;	/* monotonic usec of the last line */
	uint64_t rl_missed;
};

struct webui {
	struct event_base	*wu_base;
	struct evhttp		*wu_http;
	struct event		*wu_pause_ev;
	struct evconnlistener	*wu_ls[CONF_MAX_LISTENERS];
	size_t			 wu_nls;
	/* Listening sockets of the set being received (IMSG_CONF_END). */
	int			 wu_next_lfd[CONF_MAX_LISTENERS];
	uint32_t		 wu_next_lkind[CONF_MAX_LISTENERS];
	size_t			 wu_next_nl;
	struct webui_ca		 wu_ca;
	uint64_t		 wu_requests;
	struct webui_stat	 wu_stat;

	/* the configuration in force, and the set being received */
	struct conf_global	 wu_conf;
	struct conf_global	 wu_next_conf;
	int			 wu_next_has_global;

	/* events: a channel per worker, the sinks, the store */
	struct ipc_chan		*wu_peers[CONF_MAX_WORKERS];
	struct event		*wu_stop_ev;	/* set: stopping */
	struct sink		*wu_sinks[WEBUI_SINKS_MAX];
	size_t			 wu_nsinks;
	struct event		*wu_flush_ev;	/* sinks, after a batch */
	struct store		*wu_store;	/* NULL: no store */
	uint64_t		 wu_events;	/* accepted */
	uint64_t		 wu_bad_events;	/* refused */
	struct webui_rl		 wu_bad_rl;

	/* the admin pages (admin.h): their own evhttp, over TLS */
	struct evhttp		*wu_admin_http;
	SSL_CTX			*wu_admin_ctx;
	int			 wu_admin_has_cert;
	int			 wu_admin_unchained; /* certd's leaf, no CA yet */
	struct conf_admin	 wu_admin;
	char			 wu_admin_session[WEBUI_SESSION_MAX];
	struct feed		*wu_feed;	/* GET /api/feed (adminfeed.c) */
};

/* ca.c: parse certd's PEM; on failure the previous CA stays. */
int	webui_ca_set(struct webui_ca *, const char *pem, size_t len);
void	webui_ca_clear(struct webui_ca *);

/* status.c: pure. A snapshot from master: 0, or -1 (refused, the
 * previous one kept). */
int	webui_stat_update(struct webui_stat *, const struct web_status *);
int	webui_status_html(struct evbuffer *, const struct webui_stat *,
	    const struct webui_ca *);
int	webui_metrics(struct evbuffer *, const struct webui_stat *,
	    const struct webui_ca *);

/* ua.c: pure, fuzzed. */
enum webui_os webui_ua_os(const char *ua, size_t len);
const char *webui_os_key(enum webui_os);
int	webui_os_query(const char *query, size_t len, enum webui_os *);

/* page.c: pure. */
enum webui_page webui_route(const char *path);
int	webui_page_index(struct evbuffer *, const struct webui_ca *,
	    enum webui_os);
int	webui_page_mobileconfig(struct evbuffer *, const struct webui_ca *);
int	webui_html_text(struct evbuffer *, const char *);
int	webui_html_textn(struct evbuffer *, const char *, size_t, int multiline);

/* evparse.c: pure. 0, or -1 with *why. */
int	wev_parse(const char *, size_t, struct wev *, const char **why);
const char *wev_type_name(int);
/* Strict base64 into out; the byte count or -1. */
ssize_t	wev_b64_decode(const char *, size_t, uint8_t *out, size_t outsz);

/* feed.c */
int	webui_rl_ok(struct webui_rl *, uint64_t period);
/* IMSG_PEER from master: a worker's channel (takes the fd). */
void	webui_peer(struct webui *, struct ipc_msg *);
void	webui_peers_free(struct webui *);
void	webui_stop(struct webui *);
/* One event from a worker: check it, then the sinks and the store. 0 or
 * -1 (refused, counted and logged). */
int	webui_event(struct webui *, const char *, size_t);
/* An IMSG_EVENT: events a newline apart, each through webui_event(). */
void	webui_events(struct webui *, const char *, size_t);

/* sink.c: kind is enum conf_sink_kind; takes fd. */
int	sink_add(struct webui *, uint32_t kind, int fd);
/* One event line, without its newline, to every sink. */
void	sink_write(struct webui *, const char *, size_t);
/* Write what the file sinks queued (also the wu_flush_ev callback). */
void	sink_flush(struct webui *);
void	sink_free_all(struct webui *);
size_t	sink_subscribers(const struct webui *);

/* store.c: path of the database; NULL on failure (logged). */
struct store *store_open(struct event_base *, const char *path,
	    uint32_t keep_flows, uint32_t keep_days);
void	store_set_keep(struct store *, uint32_t keep_flows,
	    uint32_t keep_days);
/* One checked event: the text as the sinks got it, the captured bytes.
 * Its events row id; 0 when it was not stored (a duplicate, an error),
 * -1 with the store off. */
int64_t	store_event(struct store *, const struct wev *, const char *json,
	    size_t len, const uint8_t *cap, size_t caplen);
/* Commit what is pending now. */
void	store_commit(struct store *);
/* Run retention now (also on its timer); the flows deleted. */
uint64_t store_retain(struct store *);
void	store_close(struct store *);
/* The connection the admin pages read through. */
sqlite3	*store_db(struct store *);

/* http.c */
int	webui_http_init(struct webui *, struct event_base *);
/* Takes fd. */
int	webui_http_listen(struct webui *, int fd);
/* The same on another evhttp (the admin one); takes fd. */
int	webui_http_listen_on(struct webui *, struct evhttp *, int fd);

#endif
