/*
 * The tlsworker's OpenSSL side, without libevent: the two SSL_CTXs (client
 * towards upstreams, server towards clients) built from the configuration,
 * the upstream trust store loaded before the sandbox, the failure taxonomy
 * of DESIGN.md from OpenSSL errors and verify results, the prefix BIO that
 * replays the ClientHello bytes the worker read itself, and the leaf
 * request certd gets for an upstream certificate.
 */
#ifndef MITMD_TW_TLS_H
#define MITMD_TW_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/conf.h"
#include "common/proto.h"

struct evbuffer;

#define TLS_DETAIL_MAX	  256	/* raw detail of a failure */
#define TLS_ALPN_HTTP11	  "http/1.1"
#define TLS_ALPN_H2	  "h2"
/* The leaf for an upstream that failed verification: its validity when
 * there is no upstream certificate to copy it from. */
#define TLS_FAIL_LEAF_BACK_SEC	 3600
#define TLS_FAIL_LEAF_VALID_SEC	 ((uint64_t)7 * 24 * 3600)

/* Before the sandbox: OpenSSL's configuration and the trust store from
 * cg_ca_file, then the contexts. Fatal only when OpenSSL cannot start. */
void	 tls_init(const struct conf_global *);
/* A configuration set applied (start or reload): rebuild the contexts
 * when the protocol minimum or the cipher list changed. Connections keep
 * the context they started with. */
void	 tls_conf(const struct conf_global *);
SSL	*tls_upstream_new(void);
SSL	*tls_client_side_new(void);

/* tlssess.c: session resumption. Set up a new context's side of it. */
void	 tls_sess_ctx(SSL_CTX *, int server);
/* Before an upstream handshake: file the sessions it yields under this
 * key, and offer the last one filed there. */
void	 tls_sess_upstream(SSL *, const char *addr, uint16_t port,
	    const char *name, int verify);
/* Forget every upstream session (the contexts were rebuilt). */
void	 tls_sess_flush(void);
void	 tls_sess_stats(uint64_t *hits, uint64_t *misses);
/* IMSG_TICKET_KEYS: the current key; the one before it still opens. */
void	 tls_ticket_keys(const struct ticket_keys *);

/* A failed handshake step (ret from SSL_do_handshake). client_side: the
 * SSL faces the client. Fills *alert (1 only for the client's alerts
 * that say it does not trust our certificate) and detail; clears the
 * OpenSSL error queue. */
uint32_t tls_classify(SSL *, int ret, int client_side, int *alert,
	    char *detail, size_t);
/* An upstream verify result: TLSF_UNKNOWN_CA or TLSF_CERT_VALIDATION. */
uint32_t tls_verify_reason(long);
/* A short phrase for the 502 page: "expired", "wrong host", ... */
const char *tls_verify_summary(long);
/* "TLSv1.3" and the like, "-" when none. */
const char *tls_version_str(const SSL *);
const char *tls_alpn_str(const SSL *, char *, size_t);
/* The client SSL answers h2 to a client that offers it (the choice of
 * h2_choose), else http/1.1. */
void	 tls_want_h2(SSL *, int);
int	 tls_alpn_is_h2(const SSL *);

/* A read BIO that serves the bytes of prefix first, then reads fd. It
 * owns prefix (NULL: just the socket) and never closes fd. */
BIO	*tls_prefix_bio(struct evbuffer *prefix, int fd);

/*
 * What certd needs to sign a leaf for this upstream certificate: its SAN
 * names (DNS and IP, the subject CN only when there is no SAN), its
 * validity, and the name the client asked for (SNI, else the CONNECT
 * host; target_ip: that host is an IP literal). cq_key is SHA-256 of the
 * certificate's DER then the name. With up == NULL (an upstream that
 * failed verification) the leaf names the target alone. 0 or -1.
 */
int	 tls_cert_req(X509 *up, const char *target, int target_ip,
	    struct cert_req *);

#endif
