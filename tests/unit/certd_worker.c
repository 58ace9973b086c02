/*
 * Unit test of certd's worker channels (certd/worker.c) over real
 * SOCK_SEQPACKET socketpairs and a real event loop: this process plays
 * certd's side (ipc role certd while the loop runs) and the worker's side
 * (role tlsworker while it reads synchronously). A new channel gets the CA
 * certificate and the leaf key; requests are answered under their own
 * request ids, in order, from the cache when they can; a rotation reaches
 * every worker; a new PEER replaces a slot; a malformed message, a
 * message a worker may not send, or EOF drops that worker alone.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "certd/certd.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define T_PATH_MAX	64
#define T_WAIT_MS	2000
#define T_BURST		8	/* requests sent before the loop runs (the
				 * socket queues about 10 datagrams) */

static uint8_t	t_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1]
    __attribute__((aligned(16)));
static struct certd t_cd;

static void
t_loop(void)
{
	int i;

	ipc_set_role(ROLE_CERTD);
	for (i = 0; i < 4; i++)
		event_base_loop(t_cd.cd_base, EVLOOP_NONBLOCK);
}

/* One message on the worker's end: 1, 0 at EOF, -1 nothing in time or
 * malformed. */
static int
t_recv(int fd, struct ipc_msg *m)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	const char	*why = "";
	int		 rv;

	if (poll(&pfd, 1, T_WAIT_MS) != 1)
		return (-1);
	ipc_set_role(ROLE_TLSWORKER);
	rv = ipc_recv_sync(fd, ROLE_CERTD, m, t_buf, sizeof(t_buf), &why);
	ipc_set_role(ROLE_CERTD);
	if (rv == -1)
		printf("# recv: %s\n", why);
	return (rv);
}

/* Nothing waiting on fd (without blocking). */
static int
t_quiet(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return (poll(&pfd, 1, 0) == 0);
}

static int
t_pair(int sp[2])
{
	return (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp));
}

/* Attach the certd end of a new pair to slot index; the worker's end
 * returned. */
static int
t_attach(uint32_t role, uint32_t index)
{
	struct ipc_peer	p = { role, index, 4000 + index, 0 };
	int		sp[2];

	if (t_pair(sp) == -1) {
		perror("socketpair");
		exit(2);
	}
	certd_worker_attach(&t_cd, &p, sp[0]);
	return (sp[1]);
}

/* The greeting of a new channel: the CA certificate, then the leaf key
 * of generation gen, its DER equal to certd's. */
static int
t_greeting(int fd, uint32_t gen)
{
	struct ipc_msg	 m;
	struct leaf_key	 lk;
	const char	*pem;
	const uint8_t	*der;
	size_t		 len;
	int		 ok;

	if (t_recv(fd, &m) != 1 || ipc_get_ca_cert(&m, &pem, &len) == -1 ||
	    len != t_cd.cd_ca.ca_pemlen ||
	    memcmp(pem, t_cd.cd_ca.ca_pem, len) != 0)
		return (0);
	if (t_recv(fd, &m) != 1 || ipc_get_blob(&m, IMSG_LEAF_KEY, &lk,
	    sizeof(lk), &der, &len) == -1)
		return (0);
	ok = lk.lk_gen == gen && len == t_cd.cd_issuer.is_leaf.lf_derlen &&
	    memcmp(der, t_cd.cd_issuer.is_leaf.lf_der, len) == 0;
	return (ok);
}

static void
t_req(struct cert_req *rq, const char *name, uint8_t key)
{
	memset(rq, 0, sizeof(*rq));
	rq->cq_not_before = 0;
	rq->cq_not_after = UINT64_MAX;
	memset(rq->cq_key, key, sizeof(rq->cq_key));
	rq->cq_nnames = 1;
	rq->cq_names[0].cn_type = CERT_NAME_DNS;
	snprintf(rq->cq_names[0].cn_name, sizeof(rq->cq_names[0].cn_name),
	    "%s", name);
}

static int
t_send_req(int fd, uint32_t reqid, const struct cert_req *rq)
{
	return (ipc_send_sync(fd, IMSG_CERT_REQ, reqid, -1, rq, sizeof(*rq)));
}

/* Read one CERT_REP: its reqid, crp fields and certificate (or NULL). */
static int
t_reply(int fd, uint32_t *reqid, struct cert_rep *rep, X509 **x)
{
	struct ipc_msg	 m;
	const uint8_t	*der, *p;
	size_t		 len;

	*x = NULL;
	if (t_recv(fd, &m) != 1 || ipc_get_blob(&m, IMSG_CERT_REP, rep,
	    sizeof(*rep), &der, &len) == -1)
		return (-1);
	*reqid = m.im_hdr.ih_reqid;
	if (len > 0) {
		p = der;
		*x = d2i_X509(NULL, &p, (long)len);
		if (*x == NULL || p != der + len)
			return (-1);
	}
	return (0);
}

static int
t_has_name(X509 *x, const char *name)
{
	return (x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1);
}

static void
t_ca(void)
{
	char	dir[T_PATH_MAX];
	int	fd;

	snprintf(dir, sizeof(dir), "/tmp/certd_worker.XXXXXX");
	if (mkdtemp(dir) == NULL ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 ||
	    certd_ca_load_or_create(fd, CA_KEY_ECDSA_P256, &t_cd.cd_ca) ==
	    -1 || certd_issuer_init(&t_cd.cd_issuer, &t_cd.cd_ca) == -1) {
		fprintf(stderr, "cannot make a CA\n");
		exit(2);
	}
	unlinkat(fd, CERTD_KEY_FILE, 0);
	unlinkat(fd, CERTD_CERT_FILE, 0);
	close(fd);
	rmdir(dir);
}

static void
t_requests(int w)
{
	struct cert_req	 rq;
	struct cert_rep	 rep;
	X509		*x, *y;
	uint32_t	 reqid, gen = t_cd.cd_issuer.is_leaf.lf_gen, i;
	int		 inorder = 1, allok = 1;

	t_req(&rq, "one.example", 1);
	CHECK(t_send_req(w, 77, &rq) == 0, "request sent");
	t_loop();
	CHECK(t_reply(w, &reqid, &rep, &x) == 0 && reqid == 77 &&
	    rep.crp_ok == 1 && rep.crp_keygen == gen && t_has_name(x,
	    "one.example"), "reply: same reqid, issued, for the name");
	CHECK(x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x),
	    t_cd.cd_issuer.is_leaf.lf_key) == 1, "reply: for the leaf key");
	t_send_req(w, 78, &rq);
	t_loop();
	CHECK(t_reply(w, &reqid, &rep, &y) == 0 && reqid == 78 &&
	    X509_cmp(x, y) == 0 && t_cd.cd_cache.cc_hits == 1 &&
	    t_cd.cd_issuer.is_issued == 1,
	    "the same request again: from the cache");
	X509_free(x);
	X509_free(y);

	/* A burst: every answer under its own id, in order. */
	for (i = 0; i < T_BURST; i++) {
		t_req(&rq, i % 2 ? "odd.example" : "even.example",
		    (uint8_t)(10 + i % 2));
		t_send_req(w, 1000 + i, &rq);
	}
	t_loop();
	for (i = 0; i < T_BURST; i++) {
		if (t_reply(w, &reqid, &rep, &x) == -1 || reqid != 1000 + i)
			inorder = 0;
		if (rep.crp_ok != 1 || !t_has_name(x, i % 2 ? "odd.example" :
		    "even.example"))
			allok = 0;
		X509_free(x);
	}
	CHECK(inorder && allok, "a burst of %d answered in order", T_BURST);
	CHECK(t_cd.cd_issuer.is_issued == 3 && t_cd.cd_cache.cc_hits ==
	    1 + T_BURST - 2, "the burst: 2 issued, %u hits",
	    (unsigned)t_cd.cd_cache.cc_hits);

	/* Refused: crp_ok 0 and no certificate; the channel stays. */
	t_req(&rq, "empty..label.example", 3);
	t_send_req(w, 5, &rq);
	t_loop();
	CHECK(t_reply(w, &reqid, &rep, &x) == 0 && reqid == 5 &&
	    rep.crp_ok == 0 && x == NULL && t_cd.cd_refused == 1,
	    "a bad name: refused, no DER");
	CHECK(t_cd.cd_workers[1].cw_chan != NULL,
	    "a refusal keeps the channel");
}

static void
t_drops(void)
{
	struct ipc_msg	m;
	struct ipc_hdr	h;
	uint8_t		raw[sizeof(h) + 10];
	int		w;

	/* A CERT_REQ of the wrong length. */
	w = t_attach(ROLE_TLSWORKER, 3);
	t_greeting(w, t_cd.cd_issuer.is_leaf.lf_gen);
	memset(raw, 0, sizeof(raw));
	h.ih_type = IMSG_CERT_REQ;
	h.ih_len = 10;
	h.ih_reqid = 1;
	h.ih_pid = 1;
	memcpy(raw, &h, sizeof(h));
	CHECK(send(w, raw, sizeof(raw), 0) == (ssize_t)sizeof(raw),
	    "a short CERT_REQ sent");
	t_loop();
	CHECK(t_cd.cd_workers[3].cw_chan == NULL && t_recv(w, &m) == 0,
	    "malformed: that worker's channel dropped (EOF)");
	close(w);

	/* A message a worker may not send certd. */
	w = t_attach(ROLE_TLSWORKER, 4);
	t_greeting(w, t_cd.cd_issuer.is_leaf.lf_gen);
	ipc_send_sync(w, IMSG_CA_ROTATE, 1, -1, NULL, 0);
	t_loop();
	CHECK(t_cd.cd_workers[4].cw_chan == NULL && t_recv(w, &m) == 0,
	    "CA_ROTATE from a worker: dropped");
	close(w);

	/* A header that lies about the length. */
	w = t_attach(ROLE_TLSWORKER, 5);
	t_greeting(w, t_cd.cd_issuer.is_leaf.lf_gen);
	h.ih_len = 5000;
	memcpy(raw, &h, sizeof(h));
	send(w, raw, sizeof(raw), 0);
	t_loop();
	CHECK(t_cd.cd_workers[5].cw_chan == NULL,
	    "a lying header: dropped");
	close(w);

	/* EOF. */
	w = t_attach(ROLE_TLSWORKER, 6);
	t_greeting(w, t_cd.cd_issuer.is_leaf.lf_gen);
	close(w);
	t_loop();
	CHECK(t_cd.cd_workers[6].cw_chan == NULL, "EOF: dropped");

	/* Not a worker, or out of range: refused, fd closed. */
	w = t_attach(ROLE_ACCEPTOR, 7);
	CHECK(t_cd.cd_workers[7].cw_chan == NULL && t_recv(w, &m) == 0,
	    "PEER of an acceptor refused");
	close(w);
	w = t_attach(ROLE_TLSWORKER, CONF_MAX_WORKERS);
	CHECK(t_recv(w, &m) == 0, "PEER index %d refused", CONF_MAX_WORKERS);
	close(w);
}

int
main(void)
{
	struct cert_req	 rq;
	struct cert_rep	 rep;
	struct ipc_msg	 m;
	X509		*x;
	uint32_t	 gen, reqid;
	int		 w1, w2, w1b;

	log_init("certd_worker", 1);
	ipc_set_role(ROLE_CERTD);
	certd_init(&t_cd, event_base_new());
	t_ca();
	gen = t_cd.cd_issuer.is_leaf.lf_gen;

	w1 = t_attach(ROLE_TLSWORKER, 1);
	CHECK(t_cd.cd_workers[1].cw_chan != NULL && t_greeting(w1, gen),
	    "worker 1: CA certificate, then leaf key generation %u", gen);
	w2 = t_attach(ROLE_TLSWORKER, 2);
	CHECK(t_greeting(w2, gen), "worker 2: the same greeting");
	t_requests(w1);

	/* Rotation: both workers get the new key, nothing else. */
	certd_rotate(&t_cd);
	CHECK(t_cd.cd_issuer.is_leaf.lf_gen != gen &&
	    t_recv(w1, &m) == 1 && m.im_hdr.ih_type == IMSG_LEAF_KEY &&
	    t_quiet(w1), "rotate: worker 1 gets the new key");
	CHECK(t_recv(w2, &m) == 1 && m.im_hdr.ih_type == IMSG_LEAF_KEY,
	    "rotate: worker 2 too");
	t_req(&rq, "one.example", 1);
	t_send_req(w2, 9, &rq);
	t_loop();
	CHECK(t_reply(w2, &reqid, &rep, &x) == 0 && reqid == 9 &&
	    rep.crp_keygen == t_cd.cd_issuer.is_leaf.lf_gen &&
	    EVP_PKEY_eq(X509_get0_pubkey(x), t_cd.cd_issuer.is_leaf.lf_key) ==
	    1, "rotate: a cached name signed anew for the new generation");
	X509_free(x);

	/* A respawned worker 1: its new channel replaces the old one. */
	w1b = t_attach(ROLE_TLSWORKER, 1);
	CHECK(t_recv(w1, &m) == 0, "replaced: the old channel closed");
	CHECK(t_greeting(w1b, t_cd.cd_issuer.is_leaf.lf_gen),
	    "replaced: the new one greeted");
	t_send_req(w1b, 10, &rq);
	t_loop();
	CHECK(t_reply(w1b, &reqid, &rep, &x) == 0 && reqid == 10 &&
	    rep.crp_ok == 1, "replaced: the new one served");
	X509_free(x);
	close(w1);

	t_drops();
	CHECK(t_cd.cd_workers[1].cw_chan != NULL &&
	    t_cd.cd_workers[2].cw_chan != NULL,
	    "the other workers keep their channels");
	t_send_req(w2, 11, &rq);
	t_loop();
	CHECK(t_reply(w2, &reqid, &rep, &x) == 0 && reqid == 11 &&
	    rep.crp_ok == 1, "and are served");
	X509_free(x);

	close(w1b);
	close(w2);
	certd_free(&t_cd);
	event_base_free(t_cd.cd_base);
	return (unit_done());
}
