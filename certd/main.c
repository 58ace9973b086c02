/*
 * mitmd-certd: the only process that reads the CA key. Started by master
 * with its channel on fd 3 and the CA directory as the fd of IMSG_SETUP.
 * Order matters here: OpenSSL reads its configuration before the chroot;
 * the CA is loaded or created after the uid change (the directory belongs
 * to certd's user) but before seccomp (which allows no file call); then
 * the certificate, never the key, goes to master.
 * Leaf issuance (next issue) will use the key kept in cd_ca.
 */
#include <sys/prctl.h>

#include <seccomp.h>
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

struct certd {
	struct child		*cd_child;
	struct conf_global	 cd_global;
	struct conf_global	 cd_next_global;
	struct certd_ca		 cd_ca;
	uint64_t		 cd_issued;	/* leaf certificates signed */
};

/* certd needs nothing beyond the base list: no sockets, no files. */
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
	case IMSG_STATUS_REQ:
		memset(&st, 0, sizeof(st));
		st.st_total = cd->cd_issued;
		ipc_send_status(chan, m->im_hdr.ih_reqid, -1, &st);
		break;
	case IMSG_SHUTDOWN:
		/* Nothing in flight survives us: leave now. */
		certd_ca_free(&cd->cd_ca);
		ipc_chan_flush(chan);
		exit(0);
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

int
main(int argc, char *argv[])
{
	static struct certd cd;
	struct child	   ch;
	struct sandbox_opts so;
	struct event_base *base;
	char		   subject[CERTD_SUBJECT_MAX];
	int		   dirfd;

	(void)argc;
	(void)argv;
	child_init(&ch, ROLE_CERTD, "certd");
	cd.cd_child = &ch;
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

	ch.ch_sandbox |= sandbox_confine(&so);
	child_ready(&ch, base, certd_dispatch, &cd);
	/* The certificate alone, re-encoded from the parsed X509. */
	if (ipc_send_ca_cert(ch.ch_master, cd.cd_ca.ca_pem,
	    cd.cd_ca.ca_pemlen) == -1)
		fatal("send CA certificate");
	event_base_dispatch(base);
	return (0);
}
