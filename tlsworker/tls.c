/*
 * OpenSSL for the tlsworker (see tls.h). The trust store is read once,
 * before the sandbox, from cg_ca_file: after chroot there is no file to
 * read, so a changed "upstream ca-file" needs a restart of the workers
 * (logged on reload). The contexts are rebuilt on reload from what needs
 * no file: protocol minimum and cipher list.
 *
 * Both contexts verify nothing on their own: the upstream context keeps
 * SSL_VERIFY_NONE so that the handshake completes and the worker can read
 * the verify result and the certificate afterwards (a failed upstream
 * gets a 502 page, not a reset), and the client side never asks the
 * client for a certificate.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/tls.h"

#define TLS_CN_MAX	64	/* ub-common-name */

struct tls_state {
	X509_STORE	*ts_store;
	SSL_CTX		*ts_up;		/* towards upstreams */
	SSL_CTX		*ts_cl;		/* towards clients */
	uint32_t	 ts_min;
	char		 ts_ciphers[CONF_CIPHERS_MAX];
	char		 ts_ca_file[CONF_PATH_MAX];
	BIO_METHOD	*ts_pfx;
};

static struct tls_state ts;

static int	tls_alpn_select(SSL *, const unsigned char **, unsigned char *,
		    const unsigned char *, unsigned int, void *);

static void
tls_log_errors(const char *what)
{
	unsigned long	 e;
	char		 buf[TLS_DETAIL_MAX];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("%s: %s", what, buf);
	}
}

void
tls_init(const struct conf_global *cg)
{
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OpenSSL initialisation failed");
	if ((ts.ts_store = X509_STORE_new()) == NULL)
		fatalx("X509_STORE_new");
	util_strlcpy(ts.ts_ca_file, cg->cg_ca_file, sizeof(ts.ts_ca_file));
	if (X509_STORE_load_file(ts.ts_store, cg->cg_ca_file) != 1) {
		/* Every upstream will fail verification: say why, once. */
		tls_log_errors(cg->cg_ca_file);
		log_warnx("%s: cannot load the upstream trust store; every "
		    "verified upstream will fail", cg->cg_ca_file);
	} else
		log_debug("%s: %d trust anchors", cg->cg_ca_file,
		    sk_X509_OBJECT_num(X509_STORE_get0_objects(ts.ts_store)));
	tls_conf(cg);
}

static SSL_CTX *
tls_ctx_new(int server, uint32_t min, const char *ciphers)
{
	SSL_CTX		*ctx;
	uint64_t	 opts;

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, (int)min) != 1) {
		log_warnx("TLS minimum version 0x%04x refused, using TLS 1.2",
		    min);
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_log_errors("ciphers");
		log_warnx("cipher list \"%s\" refused, using %s", ciphers,
		    CONF_DEF_CIPHERS);
		SSL_CTX_set_cipher_list(ctx, CONF_DEF_CIPHERS);
	}
	/* No renegotiation (a cheap DoS and a splicing hazard); an EOF
	 * without close_notify reads as EOF, which bufferevent_openssl of
	 * libevent 2.1 would otherwise report as an error under OpenSSL 3. */
	opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF;
	if (server)
		opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
	SSL_CTX_set_options(ctx, opts);
	/* Idle keep-alive connections give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
		SSL_CTX_set_dh_auto(ctx, 1);
	} else
		SSL_CTX_set1_cert_store(ctx, ts.ts_store);
	tls_sess_ctx(ctx, server);
	return ctx;
}

void
tls_conf(const struct conf_global *cg)
{
	SSL_CTX	*up, *cl;

	if (ts.ts_store == NULL)
		return;	/* the first set, before tls_init() */
	if (strcmp(cg->cg_ca_file, ts.ts_ca_file) != 0)
		log_warnx("upstream ca-file changed to %s: workers read it at "
		    "start only; restart mitmd to use it", cg->cg_ca_file);
	if (ts.ts_up != NULL && ts.ts_min == cg->cg_tls_min &&
	    strcmp(ts.ts_ciphers, cg->cg_ciphers) == 0)
		return;
	up = tls_ctx_new(0, cg->cg_tls_min, cg->cg_ciphers);
	cl = tls_ctx_new(1, cg->cg_tls_min, cg->cg_ciphers);
	if (up == NULL || cl == NULL) {
		tls_log_errors("SSL_CTX_new");
		SSL_CTX_free(up);
		SSL_CTX_free(cl);
		if (ts.ts_up == NULL)
			fatalx("cannot create the TLS contexts");
		return;	/* keep the ones in use */
	}
	SSL_CTX_free(ts.ts_up);
	SSL_CTX_free(ts.ts_cl);
	tls_sess_flush();
	ts.ts_up = up;
	ts.ts_cl = cl;
	ts.ts_min = cg->cg_tls_min;
	util_strlcpy(ts.ts_ciphers, cg->cg_ciphers, sizeof(ts.ts_ciphers));
}

SSL *
tls_upstream_new(void)
{
	return ts.ts_up ? SSL_new(ts.ts_up) : NULL;
}

SSL *
tls_client_side_new(void)
{
	return ts.ts_cl ? SSL_new(ts.ts_cl) : NULL;
}

/* The offered name, or NULL. */
static const unsigned char *
tls_alpn_find(const unsigned char *in, unsigned int inlen, const char *name)
{
	unsigned int	 i = 0, n, len = (unsigned int)strlen(name);

	while (i < inlen) {
		n = in[i++];
		if (n > inlen - i)
			break;
		if (n == len && memcmp(in + i, name, n) == 0)
			return in + i;
		i += n;
	}
	return NULL;
}

/* h2 when the interception chose it for this client (tls_want_h2), else
 * http/1.1; a client that offers neither gets no ALPN answer, which
 * leaves the protocol to its default. */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const unsigned char *p = NULL;

	(void)arg;
	if (SSL_get_app_data(ssl) != NULL &&
	    (p = tls_alpn_find(in, inlen, TLS_ALPN_H2)) != NULL) {
		*out = p;
		*outlen = sizeof(TLS_ALPN_H2) - 1;
		return SSL_TLSEXT_ERR_OK;
	}
	if ((p = tls_alpn_find(in, inlen, TLS_ALPN_HTTP11)) != NULL) {
		*out = p;
		*outlen = sizeof(TLS_ALPN_HTTP11) - 1;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

void
tls_want_h2(SSL *ssl, int on)
{
	static char h2[] = TLS_ALPN_H2;

	SSL_set_app_data(ssl, on ? h2 : NULL);
}

int
tls_alpn_is_h2(const SSL *ssl)
{
	const unsigned char	*p;
	unsigned int		 n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == sizeof(TLS_ALPN_H2) - 1 && memcmp(p, TLS_ALPN_H2, n) == 0;
}

/* The client's alerts that say "I do not trust this certificate": the
 * only failures that teach the passthrough table. */
static int
tls_distrust_alert(int reason)
{
	return reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
	    reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
	    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN;
}

static int
tls_cert_alert(int reason)
{
	return reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
	    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
	    reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE;
}

uint32_t
tls_classify(SSL *ssl, int ret, int client_side, int *alert, char *detail,
    size_t sz)
{
	unsigned long	 e;
	int		 err, reason, saved = errno;
	uint32_t	 f;

	*alert = 0;
	err = SSL_get_error(ssl, ret);
	e = ERR_peek_last_error();
	reason = ERR_GET_REASON(e);
	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		snprintf(detail, sz, "connection closed during the handshake");
		f = TLSF_EOF_RESET;
		break;
	case SSL_ERROR_SYSCALL:
		snprintf(detail, sz, "%s", saved != 0 ? strerror(saved) :
		    "connection closed during the handshake");
		f = TLSF_EOF_RESET;
		break;
	case SSL_ERROR_SSL:
		if (e != 0)
			ERR_error_string_n(e, detail, sz);
		else
			snprintf(detail, sz, "TLS protocol error");
		if (ERR_GET_LIB(e) == ERR_LIB_SYS ||
		    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			f = TLSF_EOF_RESET;
		else if (client_side && tls_distrust_alert(reason)) {
			f = TLSF_UNKNOWN_CA;
			*alert = 1;
		} else if (client_side && tls_cert_alert(reason))
			f = TLSF_CERT_VALIDATION;
		else
			f = TLSF_HANDSHAKE;
		break;
	default:
		snprintf(detail, sz, "SSL error %d", err);
		f = TLSF_OTHER;
		break;
	}
	ERR_clear_error();
	return f;
}

uint32_t
tls_verify_reason(long v)
{
	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return TLSF_UNKNOWN_CA;
	}
	return TLSF_CERT_VALIDATION;
}

const char *
tls_verify_summary(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "not yet valid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "wrong host";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "self-signed, unknown issuer";
	case X509_V_ERR_CERT_REVOKED:
		return "revoked";
	}
	if (tls_verify_reason(v) == TLSF_UNKNOWN_CA)
		return "unknown issuer";
	return "invalid";
}

const char *
tls_version_str(const SSL *ssl)
{
	return ssl ? SSL_get_version(ssl) : "-";
}

const char *
tls_alpn_str(const SSL *ssl, char *buf, size_t sz)
{
	const unsigned char	*p = NULL;
	unsigned int		 n = 0;

	SSL_get0_alpn_selected(ssl, &p, &n);
	if (p == NULL || n == 0 || n >= sz)
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* --- the prefix BIO: a filter in front of the client's socket BIO --- */

static int
pfx_read(BIO *b, char *out, int outl)
{
	struct evbuffer	*pfx = BIO_get_data(b);
	BIO		*next = BIO_next(b);
	int		 n;

	BIO_clear_retry_flags(b);
	if (out == NULL || outl <= 0)
		return 0;
	if (pfx != NULL && evbuffer_get_length(pfx) > 0)
		return evbuffer_remove(pfx, out, (size_t)outl);
	if (next == NULL)
		return 0;
	n = BIO_read(next, out, outl);
	BIO_copy_next_retry(b);
	return n;
}

static int
pfx_write(BIO *b, const char *in, int inl)
{
	BIO	*next = BIO_next(b);
	int	 n;

	BIO_clear_retry_flags(b);
	if (next == NULL)
		return 0;
	n = BIO_write(next, in, inl);
	BIO_copy_next_retry(b);
	return n;
}

static long
pfx_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct evbuffer	*pfx = BIO_get_data(b);
	BIO		*next = BIO_next(b);
	long		 n;

	if (cmd == BIO_CTRL_PENDING) {
		n = pfx ? (long)evbuffer_get_length(pfx) : 0;
		return n + (next ? BIO_ctrl(next, cmd, num, ptr) : 0);
	}
	return next ? BIO_ctrl(next, cmd, num, ptr) : 0;
}

static int
pfx_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
pfx_destroy(BIO *b)
{
	struct evbuffer	*pfx = BIO_get_data(b);

	if (pfx != NULL)
		evbuffer_free(pfx);
	BIO_set_data(b, NULL);
	return 1;
}

BIO *
tls_prefix_bio(struct evbuffer *prefix, int fd)
{
	BIO	*f, *s;

	if (ts.ts_pfx == NULL) {
		ts.ts_pfx = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
		    "mitmd prefix");
		if (ts.ts_pfx == NULL ||
		    !BIO_meth_set_read(ts.ts_pfx, pfx_read) ||
		    !BIO_meth_set_write(ts.ts_pfx, pfx_write) ||
		    !BIO_meth_set_ctrl(ts.ts_pfx, pfx_ctrl) ||
		    !BIO_meth_set_create(ts.ts_pfx, pfx_create) ||
		    !BIO_meth_set_destroy(ts.ts_pfx, pfx_destroy))
			return NULL;
	}
	if ((s = BIO_new_socket(fd, BIO_NOCLOSE)) == NULL)
		return NULL;
	if ((f = BIO_new(ts.ts_pfx)) == NULL) {
		BIO_free(s);
		return NULL;
	}
	BIO_set_data(f, prefix);
	return BIO_push(f, s);
}

/* --- the leaf request --- */

static int
tls_add_name(struct cert_req *rq, uint32_t type, const char *name)
{
	uint32_t i;

	if (name[0] == '\0' || strlen(name) > CERT_NAME_MAX)
		return 0;
	for (i = 0; i < rq->cq_nnames; i++)
		if (rq->cq_names[i].cn_type == type &&
		    strcasecmp(rq->cq_names[i].cn_name, name) == 0)
			return 0;
	if (rq->cq_nnames >= CERT_MAX_NAMES)
		return -1;
	rq->cq_names[rq->cq_nnames].cn_type = type;
	util_strlcpy(rq->cq_names[rq->cq_nnames].cn_name, name,
	    sizeof(rq->cq_names[0].cn_name));
	rq->cq_nnames++;
	return 0;
}

/* A DNS name as an upstream certificate may carry it: letters, digits,
 * '-', '_', dots and a leading "*." wildcard label. Others are dropped. */
static int
tls_dns_ok(const unsigned char *p, int n)
{
	int	 i;

	if (n <= 0 || n > CERT_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '-' || p[i] == '.' || p[i] == '_')
			continue;
		if (p[i] == '*' && i == 0 && n > 2 && p[1] == '.')
			continue;
		return 0;
	}
	return 1;
}

/* Keeps room for the target name, which comes last. */
static void
tls_req_sans(X509 *up, struct cert_req *rq, int *nsan)
{
	GENERAL_NAMES	*gens;
	GENERAL_NAME	*g;
	char		 name[CERT_NAME_MAX + 1];
	int		 i, n;

	*nsan = 0;
	gens = X509_get_ext_d2i(up, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (rq->cq_nnames >= CERT_MAX_NAMES - 1)
			break;
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			n = ASN1_STRING_length(g->d.dNSName);
			if (!tls_dns_ok(ASN1_STRING_get0_data(g->d.dNSName), n))
				continue;
			memcpy(name, ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)n);
			name[n] = '\0';
			(void)tls_add_name(rq, CERT_NAME_DNS, name);
			(*nsan)++;
		} else if (g->type == GEN_IPADD) {
			n = ASN1_STRING_length(g->d.iPAddress);
			if ((n != 4 && n != 16) || inet_ntop(n == 4 ? AF_INET :
			    AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress),
			    name, sizeof(name)) == NULL)
				continue;
			(void)tls_add_name(rq, CERT_NAME_IP, name);
			(*nsan)++;
		}
	}
	GENERAL_NAMES_free(gens);
}

static void
tls_req_cn(X509 *up, struct cert_req *rq)
{
	X509_NAME	*subj = X509_get_subject_name(up);
	ASN1_STRING	*s;
	unsigned char	*utf8 = NULL;
	int		 i, n;

	if (subj == NULL ||
	    (i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1)) < 0)
		return;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
	if ((n = ASN1_STRING_to_UTF8(&utf8, s)) < 0)
		return;
	if (tls_dns_ok(utf8, n))
		(void)tls_add_name(rq, CERT_NAME_DNS, (char *)utf8);
	OPENSSL_free(utf8);
}

static int
tls_req_time(const ASN1_TIME *t, uint64_t *out)
{
	struct tm	 tm;
	time_t		 s;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    (s = timegm(&tm)) == (time_t)-1 || s < 0)
		return -1;
	*out = (uint64_t)s;
	return 0;
}

static int
tls_req_key(X509 *up, const char *target, uint8_t key[32])
{
	EVP_MD_CTX	*md;
	unsigned char	*der = NULL;
	unsigned int	 n = 0;
	int		 len, ok;
	static const char fail_tag[] = "mitmd: upstream failed verification";

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if (up != NULL) {
		if ((len = i2d_X509(up, &der)) <= 0)
			ok = 0;
		else
			ok = ok && EVP_DigestUpdate(md, der, (size_t)len);
		OPENSSL_free(der);
	} else	/* never the hash of a real certificate */
		ok = ok && EVP_DigestUpdate(md, fail_tag, sizeof(fail_tag));
	ok = ok && EVP_DigestUpdate(md, target, strlen(target)) &&
	    EVP_DigestFinal_ex(md, key, &n) && n == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int
tls_cert_req(X509 *up, const char *target, int target_ip,
    struct cert_req *rq)
{
	int	 nsan = 0;
	uint64_t now = util_wall_usec() / 1000000;

	memset(rq, 0, sizeof(*rq));
	if (up != NULL) {
		tls_req_sans(up, rq, &nsan);
		if (nsan == 0)
			tls_req_cn(up, rq);
		if (tls_req_time(X509_get0_notBefore(up), &rq->cq_not_before)
		    == -1 || tls_req_time(X509_get0_notAfter(up),
		    &rq->cq_not_after) == -1)
			return -1;
	} else {
		rq->cq_not_before = now - TLS_FAIL_LEAF_BACK_SEC;
		rq->cq_not_after = now + TLS_FAIL_LEAF_VALID_SEC;
	}
	/* tls_req_sans kept a slot for it. */
	(void)tls_add_name(rq, target_ip ? CERT_NAME_IP : CERT_NAME_DNS,
	    target);
	if (rq->cq_nnames == 0)
		return -1;
	if (strlen(target) <= TLS_CN_MAX)
		util_strlcpy(rq->cq_cn, target, sizeof(rq->cq_cn));
	return tls_req_key(up, target, rq->cq_key);
}
