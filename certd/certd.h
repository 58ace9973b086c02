/*
 * certd: the only process that reads the CA key. It loads the CA from the
 * directory master hands it as an fd (<state>/ca, 0700, owned by certd's
 * user) or creates one there, keeps the key in memory for leaf issuance,
 * and gives out the certificate alone.
 *
 * Nothing in certd serialises the private key except the one write of a
 * new key file in ca.c; no IPC message is ever built from it.
 */
#ifndef MITMD_CERTD_H
#define MITMD_CERTD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CERTD_KEY_FILE		"ca.key"
#define CERTD_CERT_FILE		"ca.pem"
#define CERTD_KEY_TMP		"ca.key.new"
#define CERTD_CERT_TMP		"ca.pem.new"
#define CERTD_FILE_MAX		65536	/* bytes of ca.key or ca.pem read */
#define CERTD_KEY_MODE		0600
#define CERTD_CERT_MODE		0644
#define CERTD_CA_VALID_DAYS	3650	/* ten years */
#define CERTD_CA_BACKDATE_SEC	3600	/* clients with a slow clock */
#define CERTD_SERIAL_BYTES	16	/* 128 bits, top bit clear */
#define CERTD_RSA_BITS		3072
#define CERTD_CN_MAX		64	/* ub-common-name */
#define CERTD_CN_PREFIX		"mitmd CA "
#define CERTD_ORG		"mitmd"
#define CERTD_RANDOM_ID_BYTES	4	/* CN suffix without a hostname */
#define CERTD_SUBJECT_MAX	256	/* a subject name in a log line */

struct certd_ca {
	EVP_PKEY *ca_key;
	X509	 *ca_cert;
	char	 *ca_pem;	/* the certificate alone, re-encoded */
	size_t	  ca_pemlen;
	int	  ca_created;	/* made by this run */
};

/*
 * Load the CA from dirfd, or create it when the directory holds no key.
 * keytype is an enum conf_ca_key and only matters for a new CA. Errors are
 * logged with log_warnx, naming the file and what to do; -1 then. Never
 * replaces an existing key. Runs after chroot (dirfd reaches outside it)
 * and before seccomp.
 */
int	certd_ca_load_or_create(int dirfd, uint32_t keytype, struct certd_ca *);
void	certd_ca_free(struct certd_ca *);

#endif
