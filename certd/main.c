/*
 * mitmd-certd: the only process that reads the CA key. Started by master
 * with its channel on fd 3 and the CA directory as the fd of IMSG_SETUP.
 * Order matters here: OpenSSL reads its configuration before the chroot;
 * the CA is loaded or created after the uid change (the directory belongs
 * to certd's user) but before seccomp (which allows no file call), and the
 * first leaf key is made there too; then the certificate, never the key,
 * goes to master, and the event loop serves master (peers, rotation,
 * status) and the workers' certificate requests (worker.c).
 */
#include <sys/prctl.h>

#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "certd/certd.h"
#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

/*
 * certd needs nothing beyond the base list: no sockets, no files. Leaf
 * keys and signatures need getrandom, which the base list has.
 */
static const struct sandbox_call *const certd_calls = NULL;
static const size_t certd_ncalls = 0;

static void
certd_conf(struct ipc_msg *m, void *arg)
{
	struct certd *cd = arg;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
		if (ipc_get_conf_global(m, &cd->cd_next_global) == -1)
			fatalx("bad IMSG_CONF_GLOBAL");
		break;
	case IMSG_CONF_END:
		/* A reload may change the key type: it applies to the next
		 * CA created, not to the one loaded. */
		cd->cd_global = cd->cd_next_global;
		break;
	default:
		log_warnx("unexpected %s in a configuration set",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

/* IMSG_PEER: a worker's channel; the IPC layer closes the fd unless
 * taken. */
static void
certd_peer(struct certd *cd, struct ipc_msg *m)
{
	struct ipc_peer p;

	if (ipc_get_peer(m, &p) == -1) {
		log_warnx("bad IMSG_PEER");
		return;
	}
	certd_worker_attach(cd, &p, m->im_fd);
	m->im_fd = -1;
}

/*
 * master's one request: the admin listener's leaf (master/admin.c). The
 * leaf key goes with it, as to a worker; the CA key never leaves.
 */
static void
certd_master_req(struct certd *cd, struct ipc_chan *chan, struct ipc_msg *m)
{
	const struct certd_leafkey *lf = &cd->cd_issuer.is_leaf;
	struct cert_req	 rq;
	struct cert_rep	 rep;
	struct leaf_key	 lk;
	const uint8_t	*der;
	size_t		 derlen;

	if (ipc_get_cert_req(m, &rq) == -1)
		return;
	certd_answer(cd, &rq, 0, m->im_hdr.ih_reqid, &rep, &der, &derlen);
	memset(&lk, 0, sizeof(lk));
	lk.lk_gen = lf->lf_gen;
	if (ipc_send_blob(chan, IMSG_LEAF_KEY, 0, &lk, sizeof(lk), lf->lf_der,
	    lf->lf_derlen) == -1 || ipc_send_blob(chan, IMSG_CERT_REP,
	    m->im_hdr.ih_reqid, &rep, sizeof(rep), der, derlen) == -1)
		log_warn("cannot answer master's certificate request");
}

static void
certd_dispatch(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct certd *cd = arg;
	struct ipc_status st;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
	case IMSG_CONF_END:
		certd_conf(m, cd);
		break;
	case IMSG_PEER:
		certd_peer(cd, m);
		break;
	case IMSG_CA_ROTATE:
		certd_rotate(cd);
		break;
	case IMSG_CERT_REQ:
		certd_master_req(cd, chan, m);
		break;
	case IMSG_STATUS_REQ:
		certd_status(cd, &st);
		ipc_send_status(chan, m->im_hdr.ih_reqid, -1, &st);
		break;
	case IMSG_SHUTDOWN:
		/* Requests are answered as they come: nothing is in flight,
		 * leave now. */
		certd_free(cd);
		ipc_chan_flush(chan);
		exit(0);
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

#ifdef MITMD_TESTHOOKS
/*
 * Test builds only: SIGUSR1 makes certd answer a fixed request through
 * the whole request path (checks, cache, signature) inside its sandbox,
 * so the integration tests see issuance under the real seccomp filter
 * and chroot before a worker can ask for a leaf. A release build has no
 * such handler.
 */
static void
certd_testhook_probe(evutil_socket_t sig, short ev, void *arg)
{
	struct certd	*cd = arg;
	struct cert_req	 rq;
	struct cert_rep	 rep;
	const uint8_t	*der;
	size_t		 len;

	(void)sig;
	(void)ev;
	memset(&rq, 0, sizeof(rq));
	rq.cq_not_after = UINT64_MAX;
	memset(rq.cq_key, 0x7e, sizeof(rq.cq_key));
	rq.cq_nnames = 2;
	rq.cq_names[0].cn_type = CERT_NAME_DNS;
	util_strlcpy(rq.cq_names[0].cn_name, "probe.test",
	    sizeof(rq.cq_names[0].cn_name));
	rq.cq_names[1].cn_type = CERT_NAME_IP;
	util_strlcpy(rq.cq_names[1].cn_name, "192.0.2.1",
	    sizeof(rq.cq_names[1].cn_name));
	certd_answer(cd, &rq, 0, 0, &rep, &der, &len);
	log_info("test hook: probe leaf %s, %zu bytes, generation %u; cache "
	    "%llu hits, %llu misses; %llu issued", rep.crp_ok ? "issued" :
	    "refused", len, rep.crp_keygen,
	    (unsigned long long)cd->cd_cache.cc_hits,
	    (unsigned long long)cd->cd_cache.cc_misses,
	    (unsigned long long)cd->cd_issuer.is_issued);
}
#endif

int
main(int argc, char *argv[])
{
	static struct certd cd;	/* large: off the stack */
	struct child	   ch;
	struct sandbox_opts so;
	struct event_base *base;
	char		   subject[CERTD_SUBJECT_MAX];
	int		   dirfd;
#ifdef MITMD_TESTHOOKS
	struct event	  *probe;
#endif

	(void)argc;
	(void)argv;
	child_init(&ch, ROLE_CERTD, "certd");
	certd_init(&cd, NULL);
	if ((dirfd = ch.ch_setup_fd) == -1)
		fatalx("no CA directory from master");
	ch.ch_setup_fd = -1;
	child_read_conf(&ch, certd_conf, &cd);

	/* While files can be opened: openssl.cnf and its providers. certd
	 * needs libcrypto only, not libssl. */
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL))
		fatalx("OpenSSL initialisation failed");
	/* The time zone, read once now: glibc's gmtime_r (certificate
	 * times) would open /etc/localtime inside the sandbox later. */
	tzset();
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	cd.cd_base = base;

	child_sandbox_opts(&ch, &so);
	so.so_calls = certd_calls;
	so.so_ncalls = certd_ncalls;
	/* The key lives in this process: no core, no ptrace by our uid. */
	so.so_dumpable = 0;
	ch.ch_sandbox |= sandbox_drop(&so);

	/*
	 * After the uid change: the directory is certd's user's alone. Not
	 * dumpable before the key is read (a uid change implies it; a run
	 * without root does not change uids); sandbox_confine sets it too.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	if (certd_ca_load_or_create(dirfd, cd.cd_global.cg_ca_key,
	    &cd.cd_ca) == -1) {
		log_warnx("no usable CA, exiting");
		exit(1);
	}
	close(dirfd);
	X509_NAME_oneline(X509_get_subject_name(cd.cd_ca.ca_cert), subject,
	    sizeof(subject));
	log_info("CA %s: %s", cd.cd_ca.ca_created ? "created" : "loaded",
	    subject);
	/* The first leaf key, while the RNG may still seed from anywhere
	 * (rotations later use getrandom alone). */
	if (certd_issuer_init(&cd.cd_issuer, &cd.cd_ca) == -1) {
		log_warnx("cannot issue leaf certificates, exiting");
		exit(1);
	}
	log_info("leaf key generation %u: ECDSA %s, public key sha256 %s",
	    cd.cd_issuer.is_leaf.lf_gen, CERTD_LEAF_CURVE,
	    cd.cd_issuer.is_leaf.lf_fp);

#ifdef MITMD_TESTHOOKS
	/* Added before seccomp: libevent installs the handler now. */
	if ((probe = evsignal_new(base, SIGUSR1, certd_testhook_probe,
	    &cd)) == NULL || evsignal_add(probe, NULL) == -1)
		fatalx("test hook: SIGUSR1");
#endif
	ch.ch_sandbox |= sandbox_confine(&so);
	child_ready(&ch, base, certd_dispatch, &cd);
	/* The certificate alone, re-encoded from the parsed X509. */
	if (ipc_send_ca_cert(ch.ch_master, cd.cd_ca.ca_pem,
	    cd.cd_ca.ca_pemlen) == -1)
		fatal("send CA certificate");
	event_base_dispatch(base);
	return (0);
}
