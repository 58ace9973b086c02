/*
 * The admin listener of webui: HTTPS on the socket master opened for
 * "admin listen on", with a second evhttp whose connections are
 * bufferevent_openssl ones (evhttp_set_bevcb), TLS 1.2 and later with
 * the cipher list of "tls ciphers". The certificate comes from master
 * (IMSG_ADMIN_CERT): the configured PEM, or a leaf of the mitmd CA that
 * certd issued; until one comes every handshake fails (the context has
 * no certificate), so nothing is ever served in clear.
 *
 * Every request: from an address "admin allow from" names (loopback by
 * default), else 403; with the token (Bearer) or the session cookie
 * that POST /login sets, else 401 (the API) or the login page. Then the
 * routes of adminapi.c and adminpage.c; anything else 404.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

#define ADMIN_METHODS	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | \
	EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |	      \
	EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)
#define ADMIN_FORM_MAX	WEBUI_MAX_BODY_SIZE	/* the login form */

static const struct {
	const char *name;
	const char *value;
} admin_safety[] = {
	{ "Strict-Transport-Security", "max-age=31536000" },
	{ "Content-Security-Policy", "default-src 'none'; style-src 'self'; "
	    "script-src 'self'; img-src 'self'; connect-src 'self'; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "X-Frame-Options", "DENY" },
	{ "Cache-Control", "no-store" },
};

static struct bufferevent *admin_bevcb(struct event_base *, void *);
static void	admin_request(struct evhttp_request *, void *);

/* A context without a certificate yet: handshakes fail until one comes. */
static SSL_CTX *
admin_ctx_new(const struct webui *wu)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return (NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, wu->wu_conf.cg_ciphers[0] != '\0' ?
	    wu->wu_conf.cg_ciphers : CONF_DEF_CIPHERS)) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return (ctx);
}

int
admin_init(struct webui *wu, struct event_base *base)
{
	if ((wu->wu_admin_http = evhttp_new(base)) == NULL ||
	    (wu->wu_admin_ctx = admin_ctx_new(wu)) == NULL ||
	    admin_feed_init(wu) == -1)
		return (-1);
	evhttp_set_max_headers_size(wu->wu_admin_http, WEBUI_MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(wu->wu_admin_http, ADMIN_FORM_MAX);
	evhttp_set_timeout(wu->wu_admin_http, WEBUI_TIMEOUT_SEC);
	evhttp_set_allowed_methods(wu->wu_admin_http, ADMIN_METHODS);
	evhttp_set_bevcb(wu->wu_admin_http, admin_bevcb, wu);
	evhttp_set_gencb(wu->wu_admin_http, admin_request, wu);
	return (0);
}

/*
 * Each connection a TLS server one. evhttp would fall back to a plain
 * bufferevent if this returned NULL: out of memory here ends webui
 * (master respawns it) rather than serve the admin pages in clear.
 */
static struct bufferevent *
admin_bevcb(struct event_base *base, void *arg)
{
	struct webui		*wu = arg;
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(wu->wu_admin_ctx)) == NULL ||
	    (bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("admin listener: out of memory for a TLS connection");
	return (bev);
}

static int
admin_ctx_pem(SSL_CTX *ctx, const uint8_t *cert, size_t certlen,
    const uint8_t *key, size_t keylen)
{
	BIO	 *b;
	X509	 *x = NULL;
	EVP_PKEY *pk = NULL;
	int	  ok = 0;

	if ((b = BIO_new_mem_buf(cert, (int)certlen)) == NULL)
		return (-1);
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL &&
	    SSL_CTX_use_certificate(ctx, x) == 1) {
		X509 *ca;

		ok = 1;
		/* The rest of the file: the chain, in order. */
		while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!SSL_CTX_add0_chain_cert(ctx, ca)) {
				X509_free(ca);
				ok = 0;
			}
		ERR_clear_error();	/* the end of the file */
	}
	BIO_free(b);
	X509_free(x);
	if (!ok || (b = BIO_new_mem_buf(key, (int)keylen)) == NULL)
		return (-1);
	pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	ok = pk != NULL && SSL_CTX_use_PrivateKey(ctx, pk) == 1;
	EVP_PKEY_free(pk);
	return (ok ? 0 : -1);
}

static int
admin_ctx_der(SSL_CTX *ctx, const uint8_t *cert, size_t certlen,
    const uint8_t *key, size_t keylen)
{
	const unsigned char	*p;
	EVP_PKEY		*pk;
	int			 ok;

	if (SSL_CTX_use_certificate_ASN1(ctx, (int)certlen, cert) != 1)
		return (-1);
	p = key;
	if ((pk = d2i_AutoPrivateKey(NULL, &p, (long)keylen)) == NULL)
		return (-1);
	ok = SSL_CTX_use_PrivateKey(ctx, pk) == 1;
	EVP_PKEY_free(pk);
	return (ok ? 0 : -1);
}

/*
 * The CA certificate after certd's leaf, as a worker sends it: 0 when
 * added. A webui that master has just started may get the leaf before
 * the CA certificate; admin_ca_changed() then adds it. Only the leaf's
 * issuer goes in: after a rotation the new CA comes before the new leaf.
 */
static int
admin_chain_ca(const struct webui *wu, SSL_CTX *ctx)
{
	const unsigned char	*p = wu->wu_ca.wc_der;
	X509			*ca, *leaf;

	if (p == NULL || (leaf = SSL_CTX_get0_certificate(ctx)) == NULL ||
	    (ca = d2i_X509(NULL, &p, (long)wu->wu_ca.wc_derlen)) == NULL)
		return (-1);
	if (X509_check_issued(ca, leaf) != X509_V_OK ||
	    !SSL_CTX_add0_chain_cert(ctx, ca)) {
		X509_free(ca);
		return (-1);
	}
	return (0);
}

/* A CA certificate came: the chain of a leaf that came before it. New
 * connections send it; open ones keep what they had. */
void
admin_ca_changed(struct webui *wu)
{
	if (wu->wu_admin_ctx != NULL && wu->wu_admin_unchained &&
	    admin_chain_ca(wu, wu->wu_admin_ctx) == 0) {
		wu->wu_admin_unchained = 0;
		log_info("admin listener: the CA certificate follows certd's "
		    "leaf");
	}
}

/* IMSG_ADMIN_CERT: a new context with it; on failure the old one stays
 * and the reason is logged. */
void
admin_set_cert(struct webui *wu, uint32_t format, const uint8_t *cert,
    size_t certlen, const uint8_t *key, size_t keylen)
{
	SSL_CTX		*ctx;
	unsigned long	 e;
	int		 rv;

	if ((ctx = admin_ctx_new(wu)) == NULL) {
		log_warnx("admin listener: cannot make a TLS context");
		return;
	}
	rv = format == ADMIN_CERT_PEM ? admin_ctx_pem(ctx, cert, certlen, key,
	    keylen) : admin_ctx_der(ctx, cert, certlen, key, keylen);
	if (rv == 0 && SSL_CTX_check_private_key(ctx) != 1)
		rv = -1;
	if (rv == -1) {
		e = ERR_peek_last_error();
		log_warnx("admin certificate from master: %s; %s",
		    format == ADMIN_CERT_PEM ? "the configured certificate or "
		    "key cannot be used" : "certd's leaf cannot be used",
		    e != 0 ? ERR_reason_error_string(e) : "unknown reason");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return;
	}
	wu->wu_admin_unchained = format == ADMIN_CERT_DER &&
	    admin_chain_ca(wu, ctx) == -1;
	ERR_clear_error();
	SSL_CTX_free(wu->wu_admin_ctx);	/* open connections keep theirs */
	wu->wu_admin_ctx = ctx;
	wu->wu_admin_has_cert = 1;
	log_info("admin listener: %s certificate in use", format ==
	    ADMIN_CERT_PEM ? "the configured" : "certd's");
}

/* IMSG_CONF_ADMIN: the clients and the token (and the session a login
 * gives, derived from it). */
void
admin_set_conf(struct webui *wu, const struct conf_admin *ca)
{
	wu->wu_admin = *ca;
	wu->wu_admin.cad_token[sizeof(wu->wu_admin.cad_token) - 1] = '\0';
	if (wu->wu_admin.cad_nallow > CONF_ADMIN_ALLOW_MAX)
		wu->wu_admin.cad_nallow = CONF_ADMIN_ALLOW_MAX;
	if (strlen(wu->wu_admin.cad_token) < CONF_ADMIN_TOKEN_MIN ||
	    strlen(wu->wu_admin.cad_token) > CONF_ADMIN_TOKEN_MAX ||
	    admin_session(wu->wu_admin.cad_token, wu->wu_admin_session,
	    sizeof(wu->wu_admin_session)) == -1) {
		/* No token: nobody gets in. */
		log_warnx("admin listener: no usable token from master; every "
		    "request is refused");
		memset(wu->wu_admin.cad_token, 0,
		    sizeof(wu->wu_admin.cad_token));
		wu->wu_admin_session[0] = '\0';
	}
}

/* Takes fd. */
int
admin_listen(struct webui *wu, int fd)
{
	return (webui_http_listen_on(wu, wu->wu_admin_http, fd));
}

void
admin_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t	 i;

	for (i = 0; i < nitems(admin_safety); i++)
		evhttp_add_header(h, admin_safety[i].name,
		    admin_safety[i].value);
	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
}

/* A complete answer; the body of a HEAD is left out (evhttp sends what
 * it is given), its Content-Length kept. */
void
admin_reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, struct evbuffer *b)
{
	char	 clen[WEBUI_LEN_MAX];

	admin_headers(req, ctype);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(clen, sizeof(clen), "%zu", b != NULL ?
		    evbuffer_get_length(b) : 0);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", clen);
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, b);
}

void
admin_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(b, text, strlen(text));
	admin_reply(req, code, reason, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

/* A JSON error: {"error": "..."}. */
void
admin_json_error(struct evhttp_request *req, int code, const char *reason,
    const char *msg)
{
	struct evbuffer *b;
	const char	*p;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\": \"");
	for (p = msg; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			evbuffer_add_printf(b, "\\u%04x", (unsigned char)*p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add_printf(b, "\"}\n");
	admin_reply(req, code, reason, "application/json", b);
	evbuffer_free(b);
}

static int
admin_client_ok(const struct webui *wu, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr	 *sa;
	struct addr		  a;
	uint32_t		  i;

	if (evcon == NULL || (sa = evhttp_connection_get_addr(evcon)) ==
	    NULL || addr_from_sa(&a, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) == -1)
		return (0);
	if (wu->wu_admin.cad_nallow == 0)
		return (addr_is_loopback(&a));
	for (i = 0; i < wu->wu_admin.cad_nallow; i++)
		if (cidr_match(&wu->wu_admin.cad_allow[i], &a))
			return (1);
	return (0);
}

static int
admin_authorized(const struct webui *wu, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);

	if (wu->wu_admin.cad_token[0] == '\0')
		return (0);
	return (admin_bearer_ok(evhttp_find_header(in, "Authorization"),
	    wu->wu_admin.cad_token) || admin_cookie_ok(evhttp_find_header(in,
	    "Cookie"), wu->wu_admin_session));
}

/* POST /login: the form's token, compared in constant time; a session
 * cookie and back to the list, or the login page again with 401. */
static void
admin_login(struct webui *wu, struct evhttp_request *req)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char		 token[CONF_ADMIN_TOKEN_MAX + 8];
	char		 cookie[ADMIN_SESSION_LEN + 128];
	size_t		 len = evbuffer_get_length(in);
	const char	*body;

	body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (admin_form_token(body, len, token, sizeof(token)) == -1 ||
	    wu->wu_admin.cad_token[0] == '\0' ||
	    !admin_secret_eq(token, strlen(token), wu->wu_admin.cad_token,
	    strlen(wu->wu_admin.cad_token))) {
		explicit_bzero(token, sizeof(token));
		admin_page_login(req, "That is not the admin token.");
		return;
	}
	explicit_bzero(token, sizeof(token));
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; Secure; "
	    "SameSite=Strict", ADMIN_COOKIE, wu->wu_admin_session);
	evhttp_add_header(h, "Set-Cookie", cookie);
	evhttp_add_header(h, "Location", "/");
	admin_text(req, ADMIN_HTTP_SEE_OTHER, "See Other", "Signed in.\n");
}

static void
admin_logout(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Set-Cookie", ADMIN_COOKIE "=; Path=/; Max-Age=0; "
	    "HttpOnly; Secure; SameSite=Strict");
	evhttp_add_header(h, "Location", "/login");
	admin_text(req, ADMIN_HTTP_SEE_OTHER, "See Other", "Signed out.\n");
}

static int
admin_is_api(const char *path)
{
	return (strncmp(path, "/api/", 5) == 0 ||
	    strcmp(path, "/flows.har") == 0);
}

static void
admin_unauthorized(struct evhttp_request *req, const char *path)
{
	if (admin_is_api(path)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"mitmd admin\"");
		admin_json_error(req, ADMIN_HTTP_UNAUTHORIZED, "Unauthorized",
		    "the admin token is needed: Authorization: Bearer TOKEN "
		    "(mitmctl token prints it)");
		return;
	}
	admin_page_login(req, NULL);
}

static void
admin_request(struct evhttp_request *req, void *arg)
{
	struct webui	*wu = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char	*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	wu->wu_requests++;
	if (!admin_client_ok(wu, req)) {
		admin_text(req, ADMIN_HTTP_FORBIDDEN, "Forbidden", "This address may "
		    "not use the admin pages (admin allow from).\n");
		return;
	}
	if (path == NULL || path[0] != '/') {
		admin_text(req, HTTP_BADREQUEST, "Bad Request",
		    "Bad request target.\n");
		return;
	}
	if (strcmp(path, "/login") == 0 && cmd == EVHTTP_REQ_POST) {
		admin_login(wu, req);
		return;
	}
	if (strcmp(path, "/logout") == 0 && cmd == EVHTTP_REQ_POST) {
		admin_logout(req);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		admin_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "GET and HEAD here; POST for /login and /logout.\n");
		return;
	}
	/* The login page, its style and script need no token. */
	if (admin_page_static(req, path) == 0)
		return;
	if (strcmp(path, "/login") == 0) {
		admin_page_login(req, NULL);
		return;
	}
	if (!admin_authorized(wu, req)) {
		admin_unauthorized(req, path);
		return;
	}
	if (strcmp(path, "/api/feed") == 0) {
		admin_feed_open(wu, req, uri);
		return;
	}
	if (admin_api(wu, req, path, uri) == 0 ||
	    admin_page(wu, req, path, uri) == 0)
		return;
	if (admin_is_api(path))
		admin_json_error(req, HTTP_NOTFOUND, "Not Found", "no such "
		    "resource");
	else
		admin_text(req, HTTP_NOTFOUND, "Not Found", "Not found.\n");
}
