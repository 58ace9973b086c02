/*
 * libFuzzer target for what certd does with a worker's IMSG_CERT_REQ: any
 * bytes as the start of a struct cert_req (the rest zero), through the
 * whole request path of certd/worker.c (checks, digest, cache, issuance)
 * under one CA made at start. Nothing may crash or leak, and whatever is
 * issued is a certificate signed by the CA, for the leaf key, with at
 * least one SAN and not yet expired.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "certd/certd.h"
#include "common/log.h"

#define FUZZ_DIR_MAX		64
#define FUZZ_SERIALS_RESET	65536	/* issued before the set is emptied */

static struct certd fz_cd;

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	dir[FUZZ_DIR_MAX];
	int	fd;

	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	certd_init(&fz_cd, NULL);
	snprintf(dir, sizeof(dir), "/tmp/certd_req.XXXXXX");
	if (mkdtemp(dir) == NULL ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 ||
	    certd_ca_load_or_create(fd, CA_KEY_ECDSA_P256, &fz_cd.cd_ca) ==
	    -1 || certd_issuer_init(&fz_cd.cd_issuer, &fz_cd.cd_ca) == -1)
		abort();
	unlinkat(fd, CERTD_KEY_FILE, 0);
	unlinkat(fd, CERTD_CERT_FILE, 0);
	close(fd);
	rmdir(dir);
	return (0);
}

/* What an issued certificate must be. */
static void
check_leaf(const uint8_t *der, size_t len)
{
	const uint8_t	*p = der;
	X509		*x;
	GENERAL_NAMES	*gens;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len)
		abort();
	if (X509_verify(x, fz_cd.cd_ca.ca_key) != 1 ||
	    EVP_PKEY_eq(X509_get0_pubkey(x), fz_cd.cd_issuer.is_leaf.lf_key)
	    != 1 || X509_check_ca(x) != 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		abort();
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL || sk_GENERAL_NAME_num(gens) < 1)
		abort();
	GENERAL_NAMES_free(gens);
	X509_free(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cert_req	 rq;
	struct cert_rep	 rep;
	const uint8_t	*der;
	size_t		 derlen;

	memset(&rq, 0, sizeof(rq));
	memcpy(&rq, data, len < sizeof(rq) ? len : sizeof(rq));
	certd_answer(&fz_cd, &rq, 0, 1, &rep, &der, &derlen);
	if (rep.crp_ok != (der != NULL) ||
	    rep.crp_keygen != fz_cd.cd_issuer.is_leaf.lf_gen)
		abort();
	if (rep.crp_ok) {
		if (derlen == 0 || derlen > IPC_DER_MAX)
			abort();
		check_leaf(der, derlen);
	}
	if (fz_cd.cd_issuer.is_serials.ss_count > FUZZ_SERIALS_RESET)
		certd_serials_free(&fz_cd.cd_issuer.is_serials);
	return (0);
}
