/*
 * CONNECT with action intercept, from the "200" to the first request:
 *
 *   HELLO	read the client's first bytes (kept, not consumed: they go
 *		into the prefix BIO of the client SSL, or upstream in a
 *		raw relay) until the ClientHello is complete. Not TLS but an
 *		HTTP request line: plain HTTP to the fixed upstream. Neither,
 *		or the upstream speaking first: a raw relay (protocol tcp).
 *   UP		TLS to upstream with the client's SNI (else the CONNECT host
 *		when it is a name), ALPN http/1.1 when the client offered
 *		ALPN, verification by the trust store and the name.
 *   LEAF	the leaf for the upstream certificate's names, from the
 *		worker's cache or from certd (the handshake waits, nothing
 *		blocks; LEAF_WAIT_SEC at most).
 *   CLIENT	TLS to the client with the leaf, the CA as its chain.
 *
 * then both sides become bufferevent_openssl and fwd.c relays HTTP/1.1.
 * The handshakes are driven here with SSL_do_handshake from libevent
 * events, each step under an absolute deadline (TMO_TLS): cg_connect_tmo
 * upstream, cg_header_tmo for the client.
 *
 * An upstream whose certificate fails verification (or whose handshake
 * fails) is closed at once; the client still gets a TLS connection, with
 * a leaf naming the target alone, and its first request a 502 page that
 * says why. Every failure is an event (tls_handshake_failed) and an
 * IMSG_TLS_FAIL to master, which counts them and teaches passthrough.
 *
 * Ownership: struct icpt belongs to the conn (cn_icpt) and holds the
 * upstream fd and SSL and the client SSL until they pass to
 * bufferevents; intercept_free() releases what is still held.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/child.h"
#include "common/log.h"
#include "common/util.h"
#include "tlsworker/clienthello.h"
#include "tlsworker/h2.h"
#include "tlsworker/leaf.h"
#include "tlsworker/tls.h"
#include "tlsworker/tlsworker.h"

#define IC_OK		"HTTP/1.1 200 Connection established\r\n\r\n"
#define IC_INPUT_MAX	((size_t)8 * CH_MAX)	/* bytes buffered for a hello: a
					 * hello cut in tiny records */
#define IC_ALPN_OFFER	"\x08" TLS_ALPN_HTTP11
#define IC_ALPN_OFFER_H2 "\x02" TLS_ALPN_H2 "\x08" TLS_ALPN_HTTP11
#define IC_PAGE_MAX	2048
#define IC_H2_PREFACE	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define IC_CIPHER_MAX	64

enum icpt_phase {
	IC_HELLO = 1,
	IC_UP,
	IC_LEAF,
	IC_CLIENT,
};

struct icpt {
	struct conn		*ic_conn;
	int			 ic_phase;
	int			 ic_ufd;	/* upstream socket, owned */
	struct bufferevent	*ic_pooled;	/* or a pooled upstream, owned */
	SSL			*ic_ussl;	/* upstream TLS, owned */
	SSL			*ic_cssl;	/* client TLS, owned */
	struct event		*ic_uev;	/* upstream fd readiness */
	struct event		*ic_cev;	/* client fd readiness */
	struct evbuffer		*ic_prefix;	/* the client's first bytes */
	int			 ic_hello_started;
	struct clienthello	 ic_ch;
	char			 ic_name[CERT_NAME_MAX + 1]; /* SNI or host */
	int			 ic_name_ip;
	/* the upstream failed: the 502 page says why */
	int			 ic_upfail;
	int			 ic_noconn;	/* reverse: no upstream at all,
						 * ic_status says which */
	int			 ic_status;
	uint32_t		 ic_upreason;
	long			 ic_verr;	/* X509_V_OK when not a verify
						 * failure */
	char			 ic_detail[TLS_DETAIL_MAX];
};

static void	icpt_hello_begin(struct conn *);
static void	icpt_hello_read(struct bufferevent *, void *);
static void	icpt_hello_event(struct bufferevent *, short, void *);
static void	icpt_hello_flushed(struct bufferevent *, void *);
static void	icpt_up_early(evutil_socket_t, short, void *);
static void	icpt_hello_ok(struct conn *);
static void	icpt_plain(struct conn *);
static void	icpt_raw(struct conn *);
static void	icpt_h2c(struct conn *);
static void	icpt_up_start(struct icpt *);
static void	icpt_pooled_leaf(struct icpt *);
static int	icpt_pool_h2(const struct icpt *);
static void	icpt_pool_connected(struct conn *, int, int, const char *);
static void	icpt_up_step(struct icpt *);
static long	icpt_validity(X509 *);
static void	icpt_up_done(struct icpt *);
static void	icpt_up_failed(struct icpt *, uint32_t, long, const char *);
static void	icpt_leaf(struct icpt *, X509 *);
static void	icpt_leaf_cb(void *, struct leaf *, const char *);
static void	icpt_client_start(struct icpt *, struct leaf *);
static void	icpt_client_step(struct icpt *);
static int	icpt_up_h2(const struct icpt *);
static int	icpt_rh2(const struct conn *);
static void	icpt_client_done(struct icpt *);
static void	icpt_client_failed(struct conn *, uint32_t, int, const char *);
static void	icpt_io(evutil_socket_t, short, void *);

/* IMSG_TLS_FAIL: master counts it and may learn a passthrough. */
static void
icpt_report(struct conn *cn, int side, uint32_t reason, int alert)
{
	struct tls_fail	 tf;
	struct ipc_chan	*m;

	if (tw_env.tw_child == NULL || (m = tw_env.tw_child->ch_master) == NULL)
		return;
	memset(&tf, 0, sizeof(tf));
	tf.tf_client = cn->cn_meta.cm_client;
	tf.tf_side = (uint32_t)side;
	tf.tf_reason = reason;
	tf.tf_alert = alert ? 1 : 0;
	/* The CONNECT host: what the passthrough table is matched on. */
	util_strlcpy(tf.tf_host, cn->cn_host, sizeof(tf.tf_host));
	if (ipc_send_tls_fail(m, 0, -1, &tf) == -1)
		log_warnx("conn=%llu: cannot report the TLS failure",
		    (unsigned long long)cn->cn_meta.cm_id);
}

/* The interception state of cn, reading the client's hello; fd is the
 * upstream (-1: none). NULL when out of memory (cn is closed then). */
static struct icpt *
icpt_new(struct conn *cn, int fd)
{
	struct icpt	*ic;

	if ((ic = calloc(1, sizeof(*ic))) == NULL) {
		if (fd != -1)
			close(fd);
		conn_respond(cn, 503, "mitmd: out of memory");
		return NULL;
	}
	/* From here on conn_close() releases ic and the fd. */
	ic->ic_conn = cn;
	ic->ic_phase = IC_HELLO;
	ic->ic_ufd = fd;
	cn->cn_icpt = ic;
	/* A reverse listener's client starts TLS at once; through CONNECT
	 * it waits for the "200". */
	if ((ic->ic_prefix = evbuffer_new()) == NULL || (fd != -1 &&
	    (ic->ic_uev = event_new(tw_env.tw_base, fd, EV_READ,
	    icpt_up_early, cn)) == NULL) || (!cn->cn_reverse &&
	    evbuffer_add(bufferevent_get_output(cn->cn_bev), IC_OK,
	    strlen(IC_OK)) == -1)) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return NULL;
	}
	cn->cn_state = CONN_HELLO;
	return ic;
}

/* tunnel.c: upstream is connected, the decision is intercept. */
void
intercept_start(struct conn *cn, int fd)
{
	struct icpt	*ic;

	if ((ic = icpt_new(cn, fd)) == NULL)
		return;
	/* TLS is client-first: an upstream that talks before the client
	 * does (SMTP, SSH banners) is no TLS server, relay it raw. */
	event_add(ic->ic_uev, NULL);
	icpt_hello_begin(cn);
}

void
intercept_start_pooled(struct conn *cn, struct bufferevent *ubev)
{
	struct icpt	*ic;

	if ((ic = icpt_new(cn, -1)) == NULL) {
		bufferevent_free(ubev);
		return;
	}
	ic->ic_pooled = ubev;
	icpt_hello_begin(cn);
}

void
intercept_start_failed(struct conn *cn, int status, const char *why)
{
	struct icpt	*ic;

	if ((ic = icpt_new(cn, -1)) == NULL)
		return;
	ic->ic_upfail = 1;
	ic->ic_noconn = 1;
	ic->ic_status = status;
	ic->ic_verr = X509_V_OK;
	util_strlcpy(ic->ic_detail, why, sizeof(ic->ic_detail));
	icpt_hello_begin(cn);
}

static void
icpt_hello_begin(struct conn *cn)
{
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	bufferevent_setwatermark(cn->cn_bev, EV_WRITE, 0, 0);
	bufferevent_setcb(cn->cn_bev, icpt_hello_read, NULL, icpt_hello_event,
	    cn);
	conn_enable_rw(cn->cn_bev);
	if (evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) > 0)
		icpt_hello_read(cn->cn_bev, cn);
}

void
intercept_free(struct icpt *ic)
{
	struct conn	*cn = ic->ic_conn;

	leaf_cancel(cn);
	if (ic->ic_uev != NULL)
		event_free(ic->ic_uev);
	if (ic->ic_cev != NULL)
		event_free(ic->ic_cev);
	SSL_free(ic->ic_ussl);
	SSL_free(ic->ic_cssl);
	if (ic->ic_ufd != -1)
		close(ic->ic_ufd);
	if (ic->ic_pooled != NULL)
		bufferevent_free(ic->ic_pooled);
	if (ic->ic_prefix != NULL)
		evbuffer_free(ic->ic_prefix);
	if (cn->cn_icpt == ic)
		cn->cn_icpt = NULL;
	free(ic);
}

static void
icpt_hello_read(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;
	struct icpt	*ic = cn->cn_icpt;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 len = evbuffer_get_length(in);
	const uint8_t	*p;
	int		 r;

	if (len == 0)
		return;
	conn_touch(cn);
	if (!ic->ic_hello_started) {
		/* The first byte is in: the rest of the hello comes within
		 * the header timeout, not the idle one. */
		ic->ic_hello_started = 1;
		conn_timer(cn, TMO_TLS, tw_env.tw_conf.cg_header_tmo);
	}
	if ((p = evbuffer_pullup(in, (ev_ssize_t)MIN(len, IC_INPUT_MAX))) ==
	    NULL) {
		conn_why(cn, "error");
		conn_close(cn);
		return;
	}
	r = clienthello_parse(p, MIN(len, IC_INPUT_MAX), &ic->ic_ch);
	if (r == CH_NEED_MORE && len >= IC_INPUT_MAX) {
		r = CH_MALFORMED;
		ic->ic_ch.ch_error = "ClientHello too large";
	}
	switch (r) {
	case CH_NEED_MORE:
		return;
	case CH_OK:
		icpt_hello_ok(cn);
		return;
	case CH_MALFORMED:
		log_info("conn=%llu: %s: malformed ClientHello: %s",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target,
		    ic->ic_ch.ch_error);
		icpt_client_failed(cn, TLSF_HANDSHAKE, 0, ic->ic_ch.ch_error);
		return;
	}
	/* HTTP/2 with prior knowledge (h2c): the preface, whole */
	if (tw_env.tw_conf.cg_http2 && !cn->cn_reverse &&
	    memcmp(p, IC_H2_PREFACE, MIN(len, sizeof(IC_H2_PREFACE) - 1)) ==
	    0) {
		if (len >= sizeof(IC_H2_PREFACE) - 1)
			icpt_h2c(cn);
		return;
	}
	switch (clienthello_looks_http(p, len)) {
	case 1:
		icpt_plain(cn);
		break;
	case 0:
		icpt_raw(cn);
		break;
	}
}

static void
icpt_hello_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*cn = arg;

	(void)bev;
	conn_why(cn, what & BEV_EVENT_ERROR ? "error" : "client_eof");
	if (cn->cn_icpt->ic_hello_started)
		icpt_client_failed(cn, TLSF_EOF_RESET, 0,
		    "connection closed in the ClientHello");
	else
		conn_close(cn);
}

static void
icpt_up_early(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*cn = arg;

	(void)fd;
	(void)what;
	log_debug("conn=%llu: %s speaks first: relaying raw",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target);
	icpt_raw(cn);
}

/* Bytes that are neither TLS nor HTTP: splice them both ways. */
static void
icpt_raw(struct conn *cn)
{
	struct icpt	*ic = cn->cn_icpt;
	int		 fd = ic->ic_ufd;

	ic->ic_ufd = -1;
	intercept_free(ic);
	cn->cn_ev.ef_protocol = "tcp";
	cn->cn_state = CONN_TUNNEL;
	tunnel_relay(cn, fd);
}

/* The upstream socket as a plain bufferevent, the interception state
 * gone: for HTTP in clear on the tunnel. NULL when out of memory (cn is
 * answered then). */
static struct bufferevent *
icpt_plain_upstream(struct conn *cn)
{
	struct icpt		*ic = cn->cn_icpt;
	struct bufferevent	*ubev;

	ubev = bufferevent_socket_new(tw_env.tw_base, ic->ic_ufd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (ubev == NULL) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return NULL;
	}
	ic->ic_ufd = -1;
	intercept_free(ic);
	cn->cn_fixed = 1;
	return ubev;
}

/* The HTTP/2 preface on the tunnel: h2c with prior knowledge, to an
 * upstream taken to speak it too. */
static void
icpt_h2c(struct conn *cn)
{
	struct bufferevent *ubev;

	if ((ubev = icpt_plain_upstream(cn)) != NULL)
		(void)h2_start(cn, ubev, 1);
}

/* A request line on the tunnel: plain HTTP to the CONNECT target. */
static void
icpt_plain(struct conn *cn)
{
	struct bufferevent *ubev;

	if (cn->cn_reverse) {
		conn_respond(cn, 400, "mitmd: this listener speaks TLS, "
		    "not plain HTTP: use https://");
		return;
	}
	if ((ubev = icpt_plain_upstream(cn)) == NULL)
		return;
	if (fwd_fixed(cn, ubev) == -1) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	cn->cn_ev.ef_protocol = "http/1.1";
	conn_head_begin(cn);
}

static void
icpt_hello_ok(struct conn *cn)
{
	struct icpt	*ic = cn->cn_icpt;
	struct addr	 a;

	bufferevent_disable(cn->cn_bev, EV_READ);
	if (ic->ic_uev != NULL)
		event_del(ic->ic_uev);
	/* The "200" must be out before the bufferevent goes. */
	if (evbuffer_get_length(bufferevent_get_output(cn->cn_bev)) > 0) {
		bufferevent_setcb(cn->cn_bev, NULL, icpt_hello_flushed,
		    icpt_hello_event, cn);
		return;
	}
	if (evbuffer_add_buffer(ic->ic_prefix,
	    bufferevent_get_input(cn->cn_bev)) == -1) {
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	bufferevent_free(cn->cn_bev);
	cn->cn_bev = NULL;
	/* A reverse listener's upstream has the configured name, whatever
	 * the client's SNI says. */
	util_strlcpy(ic->ic_name, ic->ic_ch.ch_has_sni && !cn->cn_reverse ?
	    ic->ic_ch.ch_sni : cn->cn_host, sizeof(ic->ic_name));
	ic->ic_name_ip = addr_parse_ip(ic->ic_name, &a) == 0;
	cn->cn_ev.ef_protocol = "tls";
	if (ic->ic_noconn)
		icpt_leaf(ic, NULL);
	else if (icpt_pool_h2(ic))
		upstream_start(&cn->cn_up, cn, cn->cn_host, cn->cn_port,
		    icpt_pool_connected);
	else if (ic->ic_pooled != NULL)
		icpt_pooled_leaf(ic);
	else
		icpt_up_start(ic);
}

/* No upstream handshake: the pooled connection's certificate (verified,
 * if verification is on, when it was made). */
static void
icpt_pooled_leaf(struct icpt *ic)
{
	struct conn *cn = ic->ic_conn;

	log_debug("conn=%llu: %s: pooled upstream",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target);
	icpt_leaf(ic, SSL_get0_peer_certificate(
	    bufferevent_openssl_get_ssl(ic->ic_pooled)));
}

/*
 * A client that offers h2, and a pooled connection that speaks HTTP/1.1
 * (pooled ones all do): a new connection may get h2 from the upstream,
 * and the client with it. Taking the pooled one would give every h2
 * client HTTP/1.1 for as long as the pool holds one.
 */
static int
icpt_pool_h2(const struct icpt *ic)
{
	return ic->ic_pooled != NULL && tw_env.tw_conf.cg_http2 &&
	    ic->ic_ch.ch_has_alpn && ic->ic_ch.ch_alpn_h2 &&
	    !tls_alpn_is_h2(bufferevent_openssl_get_ssl(ic->ic_pooled));
}

/* The new connection of icpt_pool_h2(): the pooled one goes back to the
 * pool, or serves when the new one could not be made. */
static void
icpt_pool_connected(struct conn *cn, int fd, int err, const char *why)
{
	struct icpt *ic = cn->cn_icpt;

	if (err != UP_OK) {
		log_debug("conn=%llu: %s: %s; the pooled connection serves",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target, why);
		icpt_pooled_leaf(ic);
		return;
	}
	pool_put(cn->cn_meta.cm_listener, ic->ic_pooled);
	ic->ic_pooled = NULL;
	ic->ic_ufd = fd;
	icpt_up_start(ic);
}

static void
icpt_hello_flushed(struct bufferevent *bev, void *arg)
{
	(void)bev;
	icpt_hello_ok(arg);
}

/* Wait for fd to become ready as SSL_get_error said. */
static int
icpt_wait(struct icpt *ic, struct event **evp, int fd, int err)
{
	short	 what = err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;

	/* One event per socket for the whole handshake, not one a step;
	 * it is never pending here (it fired, or was deleted). */
	if (*evp == NULL)
		*evp = event_new(tw_env.tw_base, fd, what, icpt_io, ic);
	else if (event_assign(*evp, tw_env.tw_base, fd, what, icpt_io,
	    ic) == -1)
		return -1;
	if (*evp == NULL || event_add(*evp, NULL) == -1)
		return -1;
	return 0;
}

static void
icpt_io(evutil_socket_t fd, short what, void *arg)
{
	struct icpt	*ic = arg;

	(void)fd;
	(void)what;
	if (ic->ic_phase == IC_UP)
		icpt_up_step(ic);
	else if (ic->ic_phase == IC_CLIENT)
		icpt_client_step(ic);
}

static void
icpt_up_start(struct icpt *ic)
{
	struct conn	*cn = ic->ic_conn;
	SSL		*ssl;
	int		 ok;

	ic->ic_phase = IC_UP;
	cn->cn_state = CONN_TLS;
	conn_timer(cn, TMO_TLS, tw_env.tw_conf.cg_connect_tmo);
	ev_tls_started(&cn->cn_ev, TLS_SIDE_UPSTREAM, ic->ic_name_ip ? NULL :
	    ic->ic_name);
	if ((ssl = ic->ic_ussl = tls_upstream_new()) == NULL) {
		icpt_up_failed(ic, TLSF_OTHER, X509_V_OK, "out of memory");
		return;
	}
	ok = SSL_set_fd(ssl, ic->ic_ufd);
	/* RFC 6066: no IP literal in SNI. */
	if (ok && !ic->ic_name_ip)
		ok = SSL_set_tlsext_host_name(ssl, ic->ic_name);
	if (ok && tw_env.tw_conf.cg_verify)
		ok = ic->ic_name_ip ? X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), ic->ic_name) :
		    SSL_set1_host(ssl, ic->ic_name);
	/* What the client offered of h2 and http/1.1, and http/1.1 always
	 * (an HTTP/2 client can be served by an HTTP/1.1 upstream); a
	 * client without ALPN gets none upstream either. */
	if (ok && ((ic->ic_ch.ch_has_alpn && ic->ic_ch.ch_alpn_h2) ||
	    icpt_rh2(cn)) && tw_env.tw_conf.cg_http2)
		ok = SSL_set_alpn_protos(ssl, (const unsigned char *)
		    IC_ALPN_OFFER_H2, sizeof(IC_ALPN_OFFER_H2) - 1) == 0;
	else if (ok && ic->ic_ch.ch_has_alpn)
		ok = SSL_set_alpn_protos(ssl, (const unsigned char *)
		    IC_ALPN_OFFER, sizeof(IC_ALPN_OFFER) - 1) == 0;
	if (!ok) {
		ERR_clear_error();
		icpt_up_failed(ic, TLSF_OTHER, X509_V_OK,
		    "cannot set up the upstream TLS connection");
		return;
	}
	/* Resume the last session with this upstream, name and trust. */
	tls_sess_upstream(ssl, cn->cn_host, cn->cn_port, ic->ic_name_ip ?
	    NULL : ic->ic_name, tw_env.tw_conf.cg_verify);
	SSL_set_connect_state(ssl);
	icpt_up_step(ic);
}

/*
 * One step of a handshake on ssl: 1 done, 0 waiting on fd (the event in
 * *evp), -1 failed with *reason, *alert and detail filled.
 */
static int
icpt_handshake(struct icpt *ic, SSL *ssl, struct event **evp, int fd,
    int client_side, uint32_t *reason, int *alert, char *detail,
    size_t detailsz)
{
	int	 r, err;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(ssl)) == 1)
		return 1;
	err = SSL_get_error(ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		if (icpt_wait(ic, evp, fd, err) == 0)
			return 0;
		*reason = TLSF_OTHER;
		*alert = 0;
		util_strlcpy(detail, "out of memory", detailsz);
		return -1;
	}
	*reason = tls_classify(ssl, r, client_side, alert, detail, detailsz);
	return -1;
}

static void
icpt_up_step(struct icpt *ic)
{
	char		 detail[TLS_DETAIL_MAX];
	uint32_t	 reason;
	int		 alert;

	switch (icpt_handshake(ic, ic->ic_ussl, &ic->ic_uev, ic->ic_ufd, 0,
	    &reason, &alert, detail, sizeof(detail))) {
	case 1:
		icpt_up_done(ic);
		break;
	case -1:
		icpt_up_failed(ic, reason, X509_V_OK, detail);
		break;
	}
}

/* Is now within the certificate's validity? A verify error if not. */
static long
icpt_validity(X509 *x)
{
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
		return X509_V_ERR_CERT_NOT_YET_VALID;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		return X509_V_ERR_CERT_HAS_EXPIRED;
	return X509_V_OK;
}

static void
icpt_up_done(struct icpt *ic)
{
	struct conn	*cn = ic->ic_conn;
	X509		*up = SSL_get0_peer_certificate(ic->ic_ussl);
	long		 v = SSL_get_verify_result(ic->ic_ussl);
	char		 alpn[IC_CIPHER_MAX];

	if (tw_env.tw_conf.cg_verify && up == NULL) {
		icpt_up_failed(ic, TLSF_CERT_VALIDATION, X509_V_OK,
		    "no certificate");
		return;
	}
	if (tw_env.tw_conf.cg_verify && v != X509_V_OK) {
		icpt_up_failed(ic, tls_verify_reason(v), v,
		    X509_verify_cert_error_string(v));
		return;
	}
	if (up == NULL) {	/* verify off, anonymous upstream */
		icpt_up_failed(ic, TLSF_HANDSHAKE, X509_V_OK,
		    "no certificate");
		return;
	}
	/* Even unverified, a leaf lies within the upstream's validity
	 * (certd refuses otherwise): outside it, the 502 page says so. */
	if ((v = icpt_validity(up)) != X509_V_OK) {
		icpt_up_failed(ic, TLSF_CERT_VALIDATION, v,
		    X509_verify_cert_error_string(v));
		return;
	}
	ev_tls_succeeded(&cn->cn_ev, TLS_SIDE_UPSTREAM,
	    tls_version_str(ic->ic_ussl), SSL_get_cipher_name(ic->ic_ussl),
	    tls_alpn_str(ic->ic_ussl, alpn, sizeof(alpn)));
	if (ic->ic_uev != NULL) {
		event_free(ic->ic_uev);
		ic->ic_uev = NULL;
	}
	icpt_leaf(ic, up);
}

/*
 * The upstream is of no use: close it now (nothing went to it but the
 * handshake) and give the client a TLS connection that explains.
 */
static void
icpt_up_failed(struct icpt *ic, uint32_t reason, long verr,
    const char *detail)
{
	struct conn	*cn = ic->ic_conn;

	ic->ic_upfail = 1;
	ic->ic_upreason = reason;
	ic->ic_verr = verr;
	util_strlcpy(ic->ic_detail, detail, sizeof(ic->ic_detail));
	log_info("conn=%llu: %s: upstream TLS %s: %s",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target,
	    tls_failure_name(reason), detail);
	ev_tls_failed(&cn->cn_ev, TLS_SIDE_UPSTREAM, reason, detail);
	icpt_report(cn, TLS_SIDE_UPSTREAM, reason, 0);
	conn_why(cn, "tls_failed");
	if (ic->ic_uev != NULL) {
		event_free(ic->ic_uev);
		ic->ic_uev = NULL;
	}
	SSL_free(ic->ic_ussl);
	ic->ic_ussl = NULL;
	close(ic->ic_ufd);
	ic->ic_ufd = -1;
	icpt_leaf(ic, NULL);
}

/* certd is not there, did not answer or refused: nothing to show the
 * client. why is also the event's detail. */
static void
icpt_certd_failed(struct conn *cn, const char *why)
{
	log_warnx("conn=%llu: %s: no leaf certificate: %s",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target, why);
	icpt_client_failed(cn, TLSF_OTHER, 0, why);
}

static void
icpt_leaf(struct icpt *ic, X509 *up)
{
	struct conn	*cn = ic->ic_conn;
	struct cert_req	*rq;
	struct leaf	*lf;
	int		 r;

	ic->ic_phase = IC_LEAF;
	if ((rq = malloc(sizeof(*rq))) == NULL ||
	    tls_cert_req(up, ic->ic_name, ic->ic_name_ip, rq) == -1) {
		free(rq);
		ERR_clear_error();
		icpt_client_failed(cn, TLSF_OTHER, 0,
		    "cannot build the leaf request");
		return;
	}
	r = leaf_get(rq, icpt_leaf_cb, cn, &lf);
	free(rq);
	switch (r) {
	case LEAF_HIT:
		icpt_client_start(ic, lf);
		break;
	case LEAF_WAIT:
		conn_timer(cn, TMO_TLS, LEAF_WAIT_SEC);
		break;
	default:
		icpt_certd_failed(cn, "certd unavailable");
		break;
	}
}

static void
icpt_leaf_cb(void *arg, struct leaf *lf, const char *why)
{
	struct conn	*cn = arg;

	if (lf == NULL) {
		icpt_certd_failed(cn, why);
		return;
	}
	icpt_client_start(cn->cn_icpt, lf);
}

static void
icpt_client_start(struct icpt *ic, struct leaf *lf)
{
	struct conn	*cn = ic->ic_conn;
	SSL		*ssl;
	BIO		*rb, *wb;
	X509		*ca = leaf_ca();
	int		 ok;

	ic->ic_phase = IC_CLIENT;
	conn_timer(cn, TMO_TLS, tw_env.tw_conf.cg_header_tmo);
	ev_tls_started(&cn->cn_ev, TLS_SIDE_CLIENT, ic->ic_ch.ch_has_sni ?
	    ic->ic_ch.ch_sni : NULL);
	ssl = ic->ic_cssl = tls_client_side_new();
	/* The SSL takes its own references to the leaf and its key. */
	ok = ssl != NULL && SSL_use_certificate(ssl, lf->lf_cert) == 1 &&
	    SSL_use_PrivateKey(ssl, lf->lf_pkey) == 1 &&
	    (ca == NULL || SSL_add1_chain_cert(ssl, ca) == 1);
	leaf_release(lf);
	rb = ok ? tls_prefix_bio(ic->ic_prefix, cn->cn_fd) : NULL;
	if (rb != NULL)
		ic->ic_prefix = NULL;	/* the BIO owns it */
	wb = rb != NULL ? BIO_new_socket(cn->cn_fd, BIO_NOCLOSE) : NULL;
	if (wb == NULL) {
		BIO_free_all(rb);
		ERR_clear_error();
		icpt_client_failed(cn, TLSF_OTHER, 0,
		    "cannot set up the client TLS connection");
		return;
	}
	SSL_set_bio(ssl, rb, wb);
	SSL_set_accept_state(ssl);
	tls_want_h2(ssl, icpt_up_h2(ic) ? 1 : h2_choose(ic->ic_ch.ch_alpn_h2,
	    ic->ic_ch.ch_alpn_http11, 0));
	icpt_client_step(ic);
}

/* A reverse listener that speaks HTTP/2 to its upstream whatever the
 * client speaks. */
static int
icpt_rh2(const struct conn *cn)
{
	return cn->cn_reverse && cn->cn_meta.cm_listener < CONF_MAX_LISTENERS &&
	    tw_env.tw_reverse[cn->cn_meta.cm_listener].cl_rh2;
}

/* The upstream chose h2 (and the client may get it). */
static int
icpt_up_h2(const struct icpt *ic)
{
	const SSL *ssl = ic->ic_ussl;

	if (ic->ic_upfail || !tw_env.tw_conf.cg_http2)
		return 0;
	if (ic->ic_pooled != NULL)
		ssl = bufferevent_openssl_get_ssl(ic->ic_pooled);
	return ssl != NULL && tls_alpn_is_h2(ssl);
}

static void
icpt_client_step(struct icpt *ic)
{
	char		 detail[TLS_DETAIL_MAX];
	uint32_t	 reason;
	int		 alert;

	switch (icpt_handshake(ic, ic->ic_cssl, &ic->ic_cev,
	    ic->ic_conn->cn_fd, 1, &reason, &alert, detail, sizeof(detail))) {
	case 1:
		icpt_client_done(ic);
		break;
	case -1:
		icpt_client_failed(ic->ic_conn, reason, alert, detail);
		break;
	}
}

static void
icpt_client_failed(struct conn *cn, uint32_t reason, int alert,
    const char *detail)
{
	log_info("conn=%llu: client %s: %s TLS %s: %s%s",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_client,
	    cn->cn_target, tls_failure_name(reason), detail,
	    alert ? " (the client does not trust our certificate)" : "");
	ev_tls_failed(&cn->cn_ev, TLS_SIDE_CLIENT, reason, detail);
	icpt_report(cn, TLS_SIDE_CLIENT, reason, alert);
	conn_why(cn, "tls_failed");
	conn_close(cn);
}

/* The 502 page for an upstream that failed; the names in it passed the
 * hostname checks of the CONNECT parser, the detail is OpenSSL's. */
static char *
icpt_fail_page(struct icpt *ic)
{
	struct conn	*cn = ic->ic_conn;
	char		*page;
	const char	*what;
	char		 detail[TLS_DETAIL_MAX];
	size_t		 i;

	if ((page = malloc(IC_PAGE_MAX)) == NULL)
		return NULL;
	for (i = 0; i < sizeof(detail) - 1 && ic->ic_detail[i] != '\0'; i++)
		detail[i] = strchr("<>&\"'", ic->ic_detail[i]) ? ' ' :
		    ic->ic_detail[i];
	detail[i] = '\0';
	if (ic->ic_noconn) {
		snprintf(page, IC_PAGE_MAX, "<!DOCTYPE html>\n<html><head>"
		    "<meta charset=\"utf-8\"><title>%d %s</title></head>\n"
		    "<body><h1>%d %s</h1>\n<p>mitmd could not connect to "
		    "<b>%s</b>: %s.</p>\n</body></html>\n", ic->ic_status,
		    http1_reason(ic->ic_status), ic->ic_status,
		    http1_reason(ic->ic_status), cn->cn_target, detail);
		return page;
	}
	what = ic->ic_verr != X509_V_OK ? tls_verify_summary(ic->ic_verr) :
	    tls_failure_name(ic->ic_upreason);
	snprintf(page, IC_PAGE_MAX, "<!DOCTYPE html>\n<html><head>"
	    "<meta charset=\"utf-8\"><title>502 Bad Gateway</title></head>\n"
	    "<body><h1>502 Bad Gateway</h1>\n<p>mitmd could not establish a "
	    "trusted TLS connection to <b>%s</b>: <b>%s</b>.</p>\n"
	    "<p>%s: %s</p>\n</body></html>\n", cn->cn_target, what,
	    ic->ic_verr != X509_V_OK ? "Certificate verification failed" :
	    "TLS handshake failed", detail);
	return page;
}

static void
icpt_client_done(struct icpt *ic)
{
	struct conn		*cn = ic->ic_conn;
	struct bufferevent	*cb, *ub = NULL;
	char			 alpn[IC_CIPHER_MAX];
	int			 up_h2;

	ev_tls_succeeded(&cn->cn_ev, TLS_SIDE_CLIENT,
	    tls_version_str(ic->ic_cssl), SSL_get_cipher_name(ic->ic_cssl),
	    tls_alpn_str(ic->ic_cssl, alpn, sizeof(alpn)));
	cn->cn_fail_status = ic->ic_noconn ? ic->ic_status : 502;
	up_h2 = icpt_up_h2(ic);
	if (ic->ic_upfail && (cn->cn_fail_page = icpt_fail_page(ic)) == NULL) {
		conn_why(cn, "error");
		conn_close(cn);
		return;
	}
	/* From here on the bufferevents own the SSLs and close the fds;
	 * libevent frees the SSL itself when it cannot make one. */
	cn->cn_ssl = ic->ic_cssl;
	ic->ic_cssl = NULL;
	cb = bufferevent_openssl_socket_new(tw_env.tw_base, cn->cn_fd,
	    cn->cn_ssl, BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
	if (cb == NULL) {
		cn->cn_ssl = NULL;
		conn_close(cn);
		return;
	}
	cn->cn_fd_owned = 0;
	cn->cn_bev = cb;
	bufferevent_openssl_set_allow_dirty_shutdown(cb, 1);
	bufferevent_setwatermark(cb, EV_READ, 0, TW_HIGH_WM);
	if (ic->ic_pooled != NULL) {
		ub = ic->ic_pooled;
		ic->ic_pooled = NULL;
	} else if (!ic->ic_upfail) {
		ub = bufferevent_openssl_socket_new(tw_env.tw_base, ic->ic_ufd,
		    ic->ic_ussl, BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
		ic->ic_ussl = NULL;
		if (ub == NULL) {
			conn_close(cn);
			return;
		}
		ic->ic_ufd = -1;
		bufferevent_openssl_set_allow_dirty_shutdown(ub, 1);
	}
	intercept_free(ic);
	if (tls_alpn_is_h2(cn->cn_ssl)) {
		/* without an upstream, its streams get the page */
		cn->cn_fixed = 1;
		(void)h2_start(cn, ub, up_h2);
		return;
	}
	if (ub != NULL && up_h2) {
		/* an HTTP/1.1 client, the upstream chose h2 ("http2" on a
		 * reverse listener): translated */
		(void)h1h2_start(cn, ub);
		return;
	}
	if (ub != NULL && fwd_fixed(cn, ub) == -1) {
		conn_close(cn);
		return;
	}
	cn->cn_fixed = 1;
	cn->cn_ev.ef_protocol = "http/1.1";
	conn_head_begin(cn);
}

/* conn.c: the TMO_TLS deadline of the phase in progress passed. */
void
intercept_timeout(struct conn *cn)
{
	struct icpt	*ic = cn->cn_icpt;

	conn_why(cn, "timeout");
	if (ic == NULL) {
		conn_close(cn);
		return;
	}
	switch (ic->ic_phase) {
	case IC_UP:
		icpt_up_failed(ic, TLSF_TIMEOUT, X509_V_OK,
		    "upstream handshake timed out");
		break;
	case IC_LEAF:
		leaf_cancel(cn);
		log_warnx("conn=%llu: %s: certd did not answer within %d s",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target,
		    LEAF_WAIT_SEC);
		icpt_certd_failed(cn, "certd unavailable");
		break;
	case IC_HELLO:
		icpt_client_failed(cn, TLSF_TIMEOUT, 0,
		    "ClientHello not received in time");
		break;
	default:
		icpt_client_failed(cn, TLSF_TIMEOUT, 0,
		    "client handshake timed out");
		break;
	}
}
