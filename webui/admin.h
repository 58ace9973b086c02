/*
 * The admin pages of webui (issue 6): an HTTPS listener of its own,
 * opened by master, served by a second evhttp over bufferevent_openssl,
 * open to the clients "admin allow from" names (loopback by default) and
 * to requests that carry the admin token: "Authorization: Bearer TOKEN"
 * or the session cookie a login gives.
 *
 *   admin.c	the listener, TLS, who may ask, the routes
 *   adminreq.c	header, cookie, form and query parsing (pure, fuzzed)
 *   adminapi.c	the JSON API and HAR from the flow store
 *   adminpage.c	the HTML pages, the CSS and the script built in
 *   adminfeed.c	GET /api/feed: the live events over a WebSocket
 *   adminws.c	the RFC 6455 handshake and frame heads (pure)
 */
#ifndef MITMD_WEBUI_ADMIN_H
#define MITMD_WEBUI_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

struct event_base;
struct evbuffer;
struct evhttp_request;
struct evhttp_uri;
struct flowq;
struct webui;
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

#define ADMIN_COOKIE		"mitmd_admin"
#define ADMIN_SESSION_LEN	64	/* hex of a SHA-256 */
#define ADMIN_KEY_MAX		32	/* a query parameter's name */
#define ADMIN_ERR_MAX		256
#define ADMIN_SHOW_MAX		64	/* of a bad parameter, in a message */
#define ADMIN_ID_DIGITS		18	/* a flow id, below 2^63 */
#define ADMIN_HTTP_SEE_OTHER	303	/* evhttp names no such codes */
#define ADMIN_HTTP_UNAUTHORIZED	401
#define ADMIN_HTTP_FORBIDDEN	403
#define ADMIN_HTTP_UPGRADE	426

/* adminws.c: pure. */
#define ADMIN_WS_KEY_LEN	24	/* base64 of 16 bytes */
#define ADMIN_WS_KEY_RAW	16
#define ADMIN_WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */
#define ADMIN_WS_HEAD_MAX	10	/* a server frame's head */
#define ADMIN_WS_CONTROL_MAX	125	/* payload of a control frame */
#define ADMIN_WS_FIN		0x80
#define ADMIN_WS_RSV		0x70
#define ADMIN_WS_OPMASK		0x0f
#define ADMIN_WS_CONTROL	0x08	/* opcodes 8 to 15 */
#define ADMIN_WS_MASKBIT	0x80
#define ADMIN_WS_LEN16		126
#define ADMIN_WS_LEN64		127
#define ADMIN_WS_OP_CONT	0x0
#define ADMIN_WS_OP_TEXT	0x1
#define ADMIN_WS_OP_BINARY	0x2
#define ADMIN_WS_OP_CLOSE	0x8
#define ADMIN_WS_OP_PING	0x9
#define ADMIN_WS_OP_PONG	0xa
#define ADMIN_WS_NORMAL		1000	/* close codes */
#define ADMIN_WS_PROTOCOL	1002
#define ADMIN_WS_UNSUPPORTED	1003
#define ADMIN_WS_POLICY		1008
#define ADMIN_WS_TRY_LATER	1013

struct admin_ws_frame {
	int	 wf_fin;
	int	 wf_opcode;
	uint64_t wf_len;
	uint8_t	 wf_mask[4];
};

int	admin_ws_accept(const char *key, char *out, size_t outsz);
size_t	admin_ws_head(uint8_t *out, int opcode, uint64_t len);
int	admin_ws_parse(const uint8_t *, size_t, struct admin_ws_frame *);
void	admin_ws_unmask(uint8_t *, size_t, const uint8_t mask[4]);

/* adminfeed.c: the feed's clients. */
struct evhttp_connection;
int	admin_feed_init(struct webui *);
/* GET /api/feed, authorized: the upgrade, or an error answer. */
void	admin_feed_open(struct webui *, struct evhttp_request *,
	    const struct evhttp_uri *);
/* One event as the store got it: id its events row (-1: store off). */
void	admin_feed_event(struct webui *, int64_t id, const char *, size_t);
void	admin_feed_free(struct webui *);
size_t	admin_feed_clients(const struct webui *);

/* adminreq.c: pure. 1 when the request carries the secret, else 0. */
int	admin_secret_eq(const char *, size_t, const char *, size_t);
int	admin_bearer_ok(const char *hdr, const char *token);
int	admin_cookie_ok(const char *hdr, const char *session);
int	admin_session(const char *token, char *out, size_t outsz);
int	admin_urldecode(const char *, size_t, char *out, size_t outsz);
int	admin_pairs(const char *, size_t, int (*)(void *, const char *,
	    const char *, char *, size_t), void *, char *err, size_t errsz);
/* The flow filters of a query string (flowq_set's keys); -1 with err. */
int	admin_query(struct flowq *, const char *query, int64_t now_sec,
	    char *err, size_t errsz);
int	admin_form_token(const char *body, size_t len, char *out,
	    size_t outsz);
int	admin_flow_id(const char *path, const char *prefix, int64_t *id);

/* admin.c: the listener and the answers */
int	admin_init(struct webui *, struct event_base *);
int	admin_listen(struct webui *, int fd);	/* takes fd */
void	admin_set_conf(struct webui *, const struct conf_admin *);
void	admin_ca_changed(struct webui *);
void	admin_set_cert(struct webui *, uint32_t format, const uint8_t *cert,
	    size_t certlen, const uint8_t *key, size_t keylen);
void	admin_headers(struct evhttp_request *, const char *ctype);
void	admin_reply(struct evhttp_request *, int code, const char *reason,
	    const char *ctype, struct evbuffer *);
void	admin_text(struct evhttp_request *, int, const char *, const char *);
void	admin_json_error(struct evhttp_request *, int, const char *,
	    const char *);

/* adminapi.c: 0 when the path is one of its routes (answered), else -1. */
int	admin_api(struct webui *, struct evhttp_request *, const char *path,
	    const struct evhttp_uri *);
sqlite3	*admin_db(struct webui *, struct evhttp_request *);
int	admin_filters(struct evhttp_request *, const struct evhttp_uri *,
	    struct flowq *);

/* adminpage.c */
int	admin_page(struct webui *, struct evhttp_request *, const char *path,
	    const struct evhttp_uri *);
int	admin_page_static(struct evhttp_request *, const char *path);
void	admin_page_login(struct evhttp_request *, const char *msg);

/* admindetail.c: the page of one flow */
int	admin_detail(struct evbuffer *, sqlite3 *, int64_t id);
const char *admin_col(sqlite3_stmt *, int);	/* "" for NULL */

#endif
