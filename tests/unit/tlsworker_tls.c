/*
 * Unit test of the tlsworker's OpenSSL side and its leaf cache:
 *   tls.c	the leaf request built from an upstream certificate (SANs,
 *		wildcards, IPs, CN fallback, validity, key), the verify-result
 *		mapping, the failure taxonomy on a real handshake over memory
 *		BIOs (a client's unknown_ca alert teaches, its EOF does not),
 *		the prefix BIO
 *   leaf.c	the certd protocol over a socketpair (CA, leaf key, request
 *		by id, reply, retry on a key generation change, refusal,
 *		certd gone), the cache (hits, misses, LRU bound, flush on a
 *		new generation)
 * Certificates are made here with OpenSSL: a CA, a leaf key, upstreams.
 */
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "tests/unit/unit.h"
#include "tlsworker/leaf.h"
#include "tlsworker/tls.h"

#define T_DAY	86400L

static EVP_PKEY	*ca_key, *leaf_pkey, *other_key;
static X509	*ca_cert;

static EVP_PKEY *
t_key(void)
{
	return EVP_EC_gen("P-256");
}

/* A certificate for key, signed by signer (self-signed when NULL). */
static X509 *
t_cert(EVP_PKEY *key, const char *cn, const char *san, long from, long to,
    int ca)
{
	X509		*x = X509_new();
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	static long	 serial = 1;

	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(x) :
	    X509_get_subject_name(ca_cert));
	X509V3_set_ctx(&ctx, ca ? x : ca_cert, x, NULL, NULL, 0);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, ca ? key : ca_key, EVP_sha256());
	return x;
}

static int
has_name(const struct cert_req *rq, uint32_t type, const char *name)
{
	uint32_t i;

	for (i = 0; i < rq->cq_nnames; i++)
		if (rq->cq_names[i].cn_type == type &&
		    strcmp(rq->cq_names[i].cn_name, name) == 0)
			return 1;
	return 0;
}

static void
test_cert_req(void)
{
	struct cert_req	 rq, rq2;
	X509		*up, *nosan;
	EVP_PKEY	*k = t_key();
	time_t		 now = time(NULL);

	up = t_cert(k, "www.example.com", "DNS:www.example.com,"
	    "DNS:*.example.com,IP:192.0.2.7,IP:2001:db8::1,"
	    "email:a@example.com", -T_DAY, 30 * T_DAY, 0);
	CHECK(tls_cert_req(up, "api.example.com", 0, &rq) == 0,
	    "leaf request from an upstream certificate");
	CHECK(rq.cq_nnames == 5 && has_name(&rq, CERT_NAME_DNS,
	    "www.example.com") && has_name(&rq, CERT_NAME_DNS,
	    "*.example.com") && has_name(&rq, CERT_NAME_IP, "192.0.2.7") &&
	    has_name(&rq, CERT_NAME_IP, "2001:db8::1") &&
	    has_name(&rq, CERT_NAME_DNS, "api.example.com"),
	    "SANs (wildcard kept, IPs, no email) plus the SNI: %u names",
	    rq.cq_nnames);
	CHECK(strcmp(rq.cq_names[rq.cq_nnames - 1].cn_name,
	    "api.example.com") == 0, "the SNI comes last");
	CHECK(rq.cq_not_before <= (uint64_t)now - T_DAY + 5 &&
	    rq.cq_not_before >= (uint64_t)now - T_DAY - 5 &&
	    rq.cq_not_after >= (uint64_t)now + 30 * T_DAY - 5,
	    "validity copied");
	CHECK(strcmp(rq.cq_cn, "api.example.com") == 0, "CN is the target");
	CHECK(tls_cert_req(up, "www.example.com", 0, &rq2) == 0 &&
	    rq2.cq_nnames == 4, "an SNI among the SANs is not repeated");
	CHECK(memcmp(rq.cq_key, rq2.cq_key, 32) != 0,
	    "the key depends on the SNI");
	CHECK(tls_cert_req(up, "api.example.com", 0, &rq2) == 0 &&
	    memcmp(rq.cq_key, rq2.cq_key, 32) == 0, "and is stable");
	CHECK(tls_cert_req(up, "192.0.2.99", 1, &rq2) == 0 &&
	    has_name(&rq2, CERT_NAME_IP, "192.0.2.99"),
	    "an IP target is an IP name");

	nosan = t_cert(k, "legacy.example", NULL, -T_DAY, T_DAY, 0);
	CHECK(tls_cert_req(nosan, "legacy.example", 0, &rq) == 0 &&
	    rq.cq_nnames == 1 && has_name(&rq, CERT_NAME_DNS,
	    "legacy.example"), "no SAN: the CN");
	CHECK(tls_cert_req(NULL, "bad.example", 0, &rq) == 0 &&
	    rq.cq_nnames == 1 && rq.cq_not_before < (uint64_t)now &&
	    rq.cq_not_after > (uint64_t)now, "a failed upstream: the target "
	    "alone, valid now");
	CHECK(memcmp(rq.cq_key, rq2.cq_key, 32) != 0, "its own key");
	X509_free(up);
	X509_free(nosan);
	EVP_PKEY_free(k);
}

static void
test_verify_map(void)
{
	CHECK(tls_verify_reason(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) ==
	    TLSF_UNKNOWN_CA && tls_verify_reason(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) == TLSF_UNKNOWN_CA,
	    "unknown issuers: unknown_ca");
	CHECK(tls_verify_reason(X509_V_ERR_CERT_HAS_EXPIRED) ==
	    TLSF_CERT_VALIDATION && tls_verify_reason(
	    X509_V_ERR_HOSTNAME_MISMATCH) == TLSF_CERT_VALIDATION,
	    "expired, wrong host: cert_validation");
	CHECK(strcmp(tls_verify_summary(X509_V_ERR_CERT_HAS_EXPIRED),
	    "expired") == 0 && strcmp(tls_verify_summary(
	    X509_V_ERR_HOSTNAME_MISMATCH), "wrong host") == 0 &&
	    strstr(tls_verify_summary(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
	    "self-signed") != NULL && strcmp(tls_verify_summary(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), "unknown issuer")
	    == 0, "summaries for the 502 page");
}

/* Move what a wrote to b and back, once. */
static void
t_pump(SSL *a, SSL *b)
{
	char	 buf[16384];
	int	 n;

	while ((n = BIO_read(SSL_get_wbio(a), buf, sizeof(buf))) > 0)
		BIO_write(SSL_get_rbio(b), buf, n);
	while ((n = BIO_read(SSL_get_wbio(b), buf, sizeof(buf))) > 0)
		BIO_write(SSL_get_rbio(a), buf, n);
}

/* A server SSL from the worker's context with a leaf, a client SSL that
 * trusts trust (may be NULL: nothing), both on memory BIOs. */
static void
t_pair(SSL **srv, SSL **cli, X509 *trust)
{
	SSL_CTX	*cctx = SSL_CTX_new(TLS_client_method());
	X509	*leaf = t_cert(leaf_pkey, "test.example", "DNS:test.example",
		    -T_DAY, T_DAY, 0);

	if (trust != NULL)
		X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), trust);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	*cli = SSL_new(cctx);
	SSL_CTX_free(cctx);
	SSL_set_bio(*cli, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_connect_state(*cli);
	SSL_set_tlsext_host_name(*cli, "test.example");
	*srv = tls_client_side_new();
	SSL_use_certificate(*srv, leaf);
	SSL_use_PrivateKey(*srv, leaf_pkey);
	SSL_set_bio(*srv, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_accept_state(*srv);
	X509_free(leaf);
}

/* Run the handshake; the server's failure classified, or -1 if none. */
static int
t_handshake(SSL *srv, SSL *cli, int *alert, char *detail, size_t sz)
{
	int	 i, rs = 0, rc;

	for (i = 0; i < 10; i++) {
		rc = SSL_do_handshake(cli);
		t_pump(cli, srv);
		rs = SSL_do_handshake(srv);
		t_pump(cli, srv);
		if (rs == 1 && rc == 1)
			return -1;
		if (rs <= 0 && SSL_get_error(srv, rs) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(srv, rs) != SSL_ERROR_WANT_WRITE)
			break;
		if (rc <= 0 && SSL_get_error(cli, rc) == SSL_ERROR_SSL) {
			ERR_clear_error();
			t_pump(cli, srv);
			rs = SSL_do_handshake(srv);
			break;
		}
	}
	if (rs == 1)
		return -1;
	return (int)tls_classify(srv, rs, 1, alert, detail, sz);
}

static void
test_taxonomy(void)
{
	SSL	*srv, *cli;
	char	 detail[TLS_DETAIL_MAX];
	int	 alert = -1, r;

	t_pair(&srv, &cli, ca_cert);
	CHECK(t_handshake(srv, cli, &alert, detail, sizeof(detail)) == -1,
	    "a client that trusts the CA completes the handshake");
	SSL_free(srv);
	SSL_free(cli);

	t_pair(&srv, &cli, NULL);
	r = t_handshake(srv, cli, &alert, detail, sizeof(detail));
	CHECK(r == TLSF_UNKNOWN_CA && alert == 1, "a client without the CA: "
	    "unknown_ca with the alert (%d, %s)", r, detail);
	CHECK(strstr(detail, "unknown ca") != NULL, "raw detail: %s", detail);
	SSL_free(srv);
	SSL_free(cli);

	/* The client goes away after its hello: EOF, no alert. */
	t_pair(&srv, &cli, NULL);
	SSL_do_handshake(cli);
	t_pump(cli, srv);
	SSL_do_handshake(srv);
	BIO_set_mem_eof_return(SSL_get_rbio(srv), 0);
	r = SSL_do_handshake(srv);
	r = (int)tls_classify(srv, r, 1, &alert, detail, sizeof(detail));
	CHECK(r == TLSF_EOF_RESET && alert == 0, "EOF during the handshake: "
	    "eof_reset, inferred (%d, %s)", r, detail);
	SSL_free(srv);
	SSL_free(cli);

	/* Garbage instead of a hello. */
	t_pair(&srv, &cli, NULL);
	BIO_write(SSL_get_rbio(srv), "\x16\x03\x01\x00\x05hello", 10);
	r = SSL_do_handshake(srv);
	r = (int)tls_classify(srv, r, 1, &alert, detail, sizeof(detail));
	CHECK(r == TLSF_HANDSHAKE && alert == 0, "a broken hello: handshake "
	    "(%s)", detail);
	SSL_free(srv);
	SSL_free(cli);
}

static void
test_prefix_bio(void)
{
	struct evbuffer	*pfx = evbuffer_new();
	BIO		*b;
	char		 buf[64];
	int		 sp[2], n, fd = -1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	evbuffer_add(pfx, "hello ", 6);
	b = tls_prefix_bio(pfx, sp[0]);
	CHECK(write(sp[1], "world", 5) == 5, "socket written");
	n = BIO_read(b, buf, sizeof(buf));
	CHECK(n == 6 && memcmp(buf, "hello ", 6) == 0, "prefix first");
	n = BIO_read(b, buf, sizeof(buf));
	CHECK(n == 5 && memcmp(buf, "world", 5) == 0, "then the socket");
	CHECK(BIO_get_fd(b, &fd) == sp[0] && fd == sp[0],
	    "the fd shows through (libevent asks for it)");
	BIO_free_all(b);
	CHECK(write(sp[0], "x", 1) == 1, "the fd is not closed with the BIO");
	close(sp[0]);
	close(sp[1]);
}

/* --- leaf.c ---------------------------------------------------------- */

struct t_wait {
	int		 tw_called;
	struct leaf	*tw_leaf;
	const char	*tw_why;
};

static void
t_leaf_cb(void *arg, struct leaf *lf, const char *why)
{
	struct t_wait *w = arg;

	w->tw_called++;
	w->tw_leaf = lf;
	w->tw_why = why;
}

static struct ipc_msg	 t_msg;
static uint8_t		 t_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];

/* Deliver a message as certd would send it. */
static void
t_deliver(uint32_t type, uint32_t reqid, const void *hdr, size_t hlen,
    const void *blob, size_t blen)
{
	memset(&t_msg, 0, sizeof(t_msg));
	memcpy(t_buf, hdr, hlen);
	if (blen)
		memcpy(t_buf + hlen, blob, blen);
	t_msg.im_hdr.ih_type = type;
	t_msg.im_hdr.ih_len = (uint32_t)(hlen + blen);
	t_msg.im_hdr.ih_reqid = reqid;
	t_msg.im_fd = -1;
	t_msg.im_data = t_buf;
	leaf_certd_msg(NULL, &t_msg, NULL);
}

static void
t_send_key(EVP_PKEY *k, uint32_t gen)
{
	struct leaf_key	 lk = { gen, 0 };
	unsigned char	*der = NULL;
	int		 n = i2d_PrivateKey(k, &der);

	t_deliver(IMSG_LEAF_KEY, 0, &lk, sizeof(lk), der, (size_t)n);
	OPENSSL_free(der);
}

static void
t_send_rep(uint32_t reqid, int ok, uint32_t gen, EVP_PKEY *k)
{
	struct cert_rep	 rep = { ok, gen };
	unsigned char	*der = NULL;
	X509		*x = t_cert(k, "leaf", "DNS:leaf.example", -T_DAY, T_DAY,
			    0);
	int		 n = i2d_X509(x, &der);

	t_deliver(IMSG_CERT_REP, reqid, &rep, sizeof(rep), der, (size_t)n);
	OPENSSL_free(der);
	X509_free(x);
}

/* The next CERT_REQ the worker sent on the socketpair: its request id. */
static uint32_t
t_read_req(int fd, struct cert_req *rq)
{
	uint8_t		 buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];
	struct ipc_msg	 m;
	const char	*why;
	ssize_t		 n;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0 || ipc_decode(buf, (size_t)n, 0, &m, &why) == -1 ||
	    ipc_get_cert_req(&m, rq) == -1)
		return 0;
	return m.im_hdr.ih_reqid;
}

static void
t_req(struct cert_req *rq, int i)
{
	memset(rq, 0, sizeof(*rq));
	rq->cq_key[0] = (uint8_t)i;
	rq->cq_key[1] = (uint8_t)(i >> 8);
	rq->cq_nnames = 1;
	rq->cq_names[0].cn_type = CERT_NAME_DNS;
	snprintf(rq->cq_names[0].cn_name, sizeof(rq->cq_names[0].cn_name),
	    "h%d.example", i);
}

static void
test_leaf(void)
{
	struct event_base *base = event_base_new();
	struct cert_req	 rq, got;
	struct t_wait	 w;
	struct leaf	*lf;
	struct leaf_stats st;
	BIO		*pem = BIO_new(BIO_s_mem());
	char		*p;
	long		 plen;
	int		 sp[2], i, r;
	uint32_t	 id, id2;

	t_req(&rq, 1);
	CHECK(leaf_get(&rq, t_leaf_cb, &w, &lf) == LEAF_FAIL,
	    "no certd channel: fail at once");
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp);
	CHECK(leaf_peer(base, sp[0]) == 0, "certd channel");
	PEM_write_bio_X509(pem, ca_cert);
	plen = BIO_get_mem_data(pem, &p);
	t_deliver(IMSG_CA_CERT, 0, p, (size_t)plen, NULL, 0);
	CHECK(leaf_ca() != NULL && X509_cmp(leaf_ca(), ca_cert) == 0,
	    "CA certificate kept for the chain");
	t_send_key(leaf_pkey, 7);

	memset(&w, 0, sizeof(w));
	r = leaf_get(&rq, t_leaf_cb, &w, &lf);
	id = t_read_req(sp[1], &got);
	CHECK(r == LEAF_WAIT && id != 0 && memcmp(got.cq_key, rq.cq_key,
	    32) == 0, "a miss sends CERT_REQ (reqid %u)", id);
	t_send_rep(id + 1000, 1, 7, leaf_pkey);
	CHECK(w.tw_called == 0, "a reply to another request id is ignored");
	t_send_rep(id, 1, 7, leaf_pkey);
	CHECK(w.tw_called == 1 && w.tw_leaf != NULL && w.tw_why == NULL,
	    "the reply delivers the leaf");
	leaf_release(w.tw_leaf);
	CHECK(leaf_get(&rq, t_leaf_cb, &w, &lf) == LEAF_HIT && lf != NULL,
	    "then the cache has it");
	leaf_release(lf);

	/* A reply for an older key generation: asked again once. */
	t_req(&rq, 2);
	memset(&w, 0, sizeof(w));
	leaf_get(&rq, t_leaf_cb, &w, &lf);
	id = t_read_req(sp[1], &got);
	t_send_rep(id, 1, 6, leaf_pkey);
	id2 = t_read_req(sp[1], &got);
	CHECK(w.tw_called == 0 && id2 != 0 && id2 != id,
	    "generation mismatch: a new request");
	t_send_rep(id2, 1, 7, other_key);
	CHECK(w.tw_called == 1 && w.tw_leaf == NULL,
	    "a certificate for another key is refused: %s", w.tw_why);

	t_req(&rq, 3);
	memset(&w, 0, sizeof(w));
	leaf_get(&rq, t_leaf_cb, &w, &lf);
	id = t_read_req(sp[1], &got);
	t_send_rep(id, 0, 7, leaf_pkey);
	CHECK(w.tw_called == 1 && w.tw_leaf == NULL, "certd refused");

	/* Cancelled: the late reply goes nowhere. */
	memset(&w, 0, sizeof(w));
	leaf_get(&rq, t_leaf_cb, &w, &lf);
	id = t_read_req(sp[1], &got);
	leaf_cancel(&w);
	t_send_rep(id, 1, 7, leaf_pkey);
	CHECK(w.tw_called == 0, "cancelled request");

	/* Two waiters for one leaf: one request, both answered. */
	{
		struct t_wait w2;

		t_req(&rq, 4);
		memset(&w, 0, sizeof(w));
		memset(&w2, 0, sizeof(w2));
		leaf_get(&rq, t_leaf_cb, &w, &lf);
		leaf_get(&rq, t_leaf_cb, &w2, &lf);
		id = t_read_req(sp[1], &got);
		id2 = t_read_req(sp[1], &got);
		CHECK(id != 0 && id2 == 0, "the same leaf is asked for once");
		t_send_rep(id, 1, 7, leaf_pkey);
		CHECK(w.tw_leaf != NULL && w.tw_leaf == w2.tw_leaf,
		    "both waiters get it");
		leaf_release(w.tw_leaf);
		leaf_release(w2.tw_leaf);

		/* The first waiter leaves: the second takes the request. */
		t_req(&rq, 5);
		memset(&w, 0, sizeof(w));
		memset(&w2, 0, sizeof(w2));
		leaf_get(&rq, t_leaf_cb, &w, &lf);
		leaf_get(&rq, t_leaf_cb, &w2, &lf);
		id = t_read_req(sp[1], &got);
		leaf_cancel(&w);
		t_send_rep(id, 1, 7, leaf_pkey);
		CHECK(w.tw_called == 0 && w2.tw_called == 1 &&
		    w2.tw_leaf != NULL, "a cancelled first waiter hands over");
		leaf_release(w2.tw_leaf);
	}

	/* The LRU bound. */
	for (i = 10; i < 10 + LEAF_CACHE_MAX + 5; i++) {
		t_req(&rq, i);
		memset(&w, 0, sizeof(w));
		leaf_get(&rq, t_leaf_cb, &w, &lf);
		id = t_read_req(sp[1], &got);
		t_send_rep(id, 1, 7, leaf_pkey);
		leaf_release(w.tw_leaf);
	}
	leaf_stats(&st);
	CHECK(st.ls_cached == LEAF_CACHE_MAX, "cache bounded: %u",
	    st.ls_cached);
	t_req(&rq, 10);
	CHECK(leaf_get(&rq, t_leaf_cb, &w, &lf) == LEAF_WAIT,
	    "the least recently used went first");
	(void)t_read_req(sp[1], &got);
	leaf_cancel(&w);
	t_req(&rq, 10 + LEAF_CACHE_MAX + 4);
	CHECK(leaf_get(&rq, t_leaf_cb, &w, &lf) == LEAF_HIT,
	    "the most recent is there");
	leaf_release(lf);

	/* A new generation empties the cache. */
	t_send_key(other_key, 8);
	leaf_stats(&st);
	CHECK(st.ls_cached == 0 && st.ls_gen == 8, "new key: cache flushed");

	/* certd goes away: waiting requests fail at once. */
	memset(&w, 0, sizeof(w));
	CHECK(leaf_get(&rq, t_leaf_cb, &w, &lf) == LEAF_WAIT, "waiting");
	close(sp[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(w.tw_called == 1 && w.tw_leaf == NULL && w.tw_why != NULL &&
	    strcmp(w.tw_why, "certd unavailable") == 0,
	    "certd gone: the handshake fails (%s)", w.tw_why);
	leaf_stats(&st);
	CHECK(!st.ls_certd && st.ls_hits > 0 && st.ls_misses > 0,
	    "counters: %llu hits, %llu misses",
	    (unsigned long long)st.ls_hits, (unsigned long long)st.ls_misses);
	BIO_free(pem);
	event_base_free(base);
}

int
main(void)
{
	struct conf_global cg;

	memset(&cg, 0, sizeof(cg));
	cg.cg_tls_min = CONF_DEF_TLS_MIN;
	snprintf(cg.cg_ciphers, sizeof(cg.cg_ciphers), "%s", CONF_DEF_CIPHERS);
	snprintf(cg.cg_ca_file, sizeof(cg.cg_ca_file), "/nonexistent");
	ipc_set_role(ROLE_TLSWORKER);
	tls_init(&cg);
	ca_key = t_key();
	leaf_pkey = t_key();
	other_key = t_key();
	ca_cert = t_cert(ca_key, "unit CA", NULL, -T_DAY, 10 * T_DAY, 1);

	test_cert_req();
	test_verify_map();
	test_taxonomy();
	test_prefix_bio();
	test_leaf();

	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_pkey);
	EVP_PKEY_free(other_key);
	return unit_done();
}
