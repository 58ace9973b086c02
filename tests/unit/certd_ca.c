/*
 * Unit test of certd's CA (certd/ca.c) in temporary directories: creation
 * with both key types and the extensions a CA needs, a reload that gives
 * the same certificate, and the refusals: a mismatched key, a key without
 * its certificate, garbage, an encrypted key. An existing key is never
 * replaced, and the PEM handed out never holds key material.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certd/certd.h"
#include "common/conf.h"
#include "tests/unit/unit.h"

#define T_PATH_MAX 512
#define T_BUF_MAX  65536


static int
newdir(char *path, size_t sz)
{
	snprintf(path, sz, "/tmp/certd_ca.XXXXXX");
	if (mkdtemp(path) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return (open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

static void
rmdir_all(const char *path)
{
	char	 p[T_PATH_MAX];
	DIR	*d;
	struct dirent *de;

	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static size_t
slurp(int dirfd, const char *name, char *buf, size_t sz)
{
	ssize_t	 n;
	int	 fd;

	if ((fd = openat(dirfd, name, O_RDONLY)) == -1)
		return (0);
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return ((size_t)n);
}

static void
spit(int dirfd, const char *name, const char *buf, size_t len)
{
	int fd;

	unlinkat(dirfd, name, 0);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, buf, len) != (ssize_t)len)
		perror(name);
	close(fd);
}

static mode_t
fmode(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, 0) == -1)
		return ((mode_t)-1);
	return (st.st_mode & 07777);
}

static int
only_two_files(const char *path)
{
	DIR	*d;
	struct dirent *de;
	int	 n = 0, bad = 0;

	if ((d = opendir(path)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (strcmp(de->d_name, CERTD_KEY_FILE) != 0 &&
		    strcmp(de->d_name, CERTD_CERT_FILE) != 0)
			bad++;
	}
	closedir(d);
	return (n == 2 && bad == 0);
}

static int
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return (i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i)));
}

/* The checks every created CA passes. */
static void
check_ca(struct certd_ca *ca, const char *what)
{
	char	 name[128], cn[CERTD_CN_MAX + 1];
	const ASN1_INTEGER *sn;
	BIGNUM	*bn;
	int	 days = 0, secs = 0;

	X509_check_purpose(ca->ca_cert, -1, 0);
	snprintf(name, sizeof(name), "%s: v3, CA:TRUE, pathlen 0", what);
	ok(X509_get_version(ca->ca_cert) == X509_VERSION_3 &&
	    (X509_get_extension_flags(ca->ca_cert) & EXFLAG_CA) &&
	    X509_get_pathlen(ca->ca_cert) == 0, name);
	snprintf(name, sizeof(name), "%s: basicConstraints, keyUsage "
	    "critical", what);
	ok(ext_critical(ca->ca_cert, NID_basic_constraints) &&
	    ext_critical(ca->ca_cert, NID_key_usage), name);
	snprintf(name, sizeof(name), "%s: keyUsage keyCertSign+cRLSign only",
	    what);
	ok(X509_get_key_usage(ca->ca_cert) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
	    name);
	snprintf(name, sizeof(name), "%s: subject key id", what);
	ok(X509_get0_subject_key_id(ca->ca_cert) != NULL, name);
	snprintf(name, sizeof(name), "%s: self-signed, verifies", what);
	ok(X509_verify(ca->ca_cert, ca->ca_key) == 1 &&
	    X509_check_issued(ca->ca_cert, ca->ca_cert) == X509_V_OK, name);

	sn = X509_get0_serialNumber(ca->ca_cert);
	bn = ASN1_INTEGER_to_BN(sn, NULL);
	snprintf(name, sizeof(name), "%s: serial positive, 121-128 bits",
	    what);
	ok(bn != NULL && !BN_is_negative(bn) && BN_num_bits(bn) > 120 &&
	    BN_num_bits(bn) <= 128, name);
	BN_free(bn);

	ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca->ca_cert),
	    X509_get0_notAfter(ca->ca_cert));
	snprintf(name, sizeof(name), "%s: valid about ten years", what);
	ok(days >= CERTD_CA_VALID_DAYS && days <= CERTD_CA_VALID_DAYS + 1,
	    name);
	snprintf(name, sizeof(name), "%s: backdated, valid now", what);
	ok(X509_cmp_current_time(X509_get0_notBefore(ca->ca_cert)) < 0 &&
	    X509_cmp_current_time(X509_get0_notAfter(ca->ca_cert)) > 0, name);

	X509_NAME_get_text_by_NID(X509_get_subject_name(ca->ca_cert),
	    NID_commonName, cn, sizeof(cn));
	snprintf(name, sizeof(name), "%s: CN \"%s\"", what, cn);
	ok(strncmp(cn, CERTD_CN_PREFIX, strlen(CERTD_CN_PREFIX)) == 0 &&
	    strlen(cn) > strlen(CERTD_CN_PREFIX), name);

	snprintf(name, sizeof(name), "%s: PEM is one certificate, no key",
	    what);
	ok(ca->ca_pem != NULL && strlen(ca->ca_pem) == ca->ca_pemlen &&
	    strstr(ca->ca_pem, "-----BEGIN CERTIFICATE-----") == ca->ca_pem &&
	    strstr(ca->ca_pem + 1, "-----BEGIN") == NULL &&
	    strstr(ca->ca_pem, "PRIVATE") == NULL, name);
}

int
main(void)
{
	static char	 buf[T_BUF_MAX], buf2[T_BUF_MAX];
	char		 ecpath[T_PATH_MAX], rsapath[T_PATH_MAX], path[T_PATH_MAX];
	struct certd_ca	 ca, ca2;
	X509		*saved;
	EVP_PKEY	*k;
	BIO		*b;
	char		*p;
	size_t		 n, n2;
	long		 len;
	int		 ec, rsa, d;

	/* ECDSA P-256, the default. */
	ec = newdir(ecpath, sizeof(ecpath));
	ok(certd_ca_load_or_create(ec, CA_KEY_ECDSA_P256, &ca) == 0 &&
	    ca.ca_created, "EC: created");
	ok(EVP_PKEY_get_base_id(ca.ca_key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(ca.ca_key) == 256, "EC: P-256 key");
	check_ca(&ca, "EC");
	ok(fmode(ec, CERTD_KEY_FILE) == CERTD_KEY_MODE, "EC: ca.key 0600");
	ok(fmode(ec, CERTD_CERT_FILE) == CERTD_CERT_MODE, "EC: ca.pem 0644");
	ok(only_two_files(ecpath), "EC: no temporary file left");
	saved = X509_dup(ca.ca_cert);
	certd_ca_free(&ca);

	ok(certd_ca_load_or_create(ec, CA_KEY_RSA_3072, &ca) == 0 &&
	    !ca.ca_created, "EC: reloaded (other key type set)");
	ok(ca.ca_cert != NULL && X509_cmp(ca.ca_cert, saved) == 0,
	    "EC: reload gives the same certificate");
	certd_ca_free(&ca);

	/* RSA 3072. */
	rsa = newdir(rsapath, sizeof(rsapath));
	ok(certd_ca_load_or_create(rsa, CA_KEY_RSA_3072, &ca) == 0 &&
	    ca.ca_created, "RSA: created");
	ok(EVP_PKEY_get_base_id(ca.ca_key) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bits(ca.ca_key) == CERTD_RSA_BITS, "RSA: 3072 bits");
	check_ca(&ca, "RSA");
	certd_ca_free(&ca);
	ok(certd_ca_load_or_create(rsa, CA_KEY_ECDSA_P256, &ca) == 0 &&
	    !ca.ca_created && EVP_PKEY_get_base_id(ca.ca_key) == EVP_PKEY_RSA,
	    "RSA: reloaded");
	certd_ca_free(&ca);

	/* A key that is not the certificate's: refused, left alone. */
	d = newdir(path, sizeof(path));
	n = slurp(rsa, CERTD_KEY_FILE, buf, sizeof(buf));
	spit(d, CERTD_KEY_FILE, buf, n);
	n2 = slurp(ec, CERTD_CERT_FILE, buf2, sizeof(buf2));
	spit(d, CERTD_CERT_FILE, buf2, n2);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca) == -1 &&
	    ca.ca_key == NULL && ca.ca_cert == NULL, "mismatched key refused");
	ok(slurp(d, CERTD_KEY_FILE, buf2, sizeof(buf2)) == n &&
	    memcmp(buf, buf2, n) == 0, "mismatched key not replaced");

	/* A key without its certificate: refused, never replaced. */
	unlinkat(d, CERTD_CERT_FILE, 0);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca) == -1,
	    "key without certificate refused");
	ok(slurp(d, CERTD_KEY_FILE, buf2, sizeof(buf2)) == n &&
	    memcmp(buf, buf2, n) == 0 && fmode(d, CERTD_CERT_FILE) ==
	    (mode_t)-1, "key without certificate untouched");

	/* Garbage in the key file. */
	spit(d, CERTD_KEY_FILE, "not a key\n", 10);
	n2 = slurp(ec, CERTD_CERT_FILE, buf2, sizeof(buf2));
	spit(d, CERTD_CERT_FILE, buf2, n2);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca) == -1,
	    "garbage key refused");

	/* An encrypted key: refused without prompting. */
	b = BIO_new_mem_buf(slurp(ec, CERTD_KEY_FILE, buf, sizeof(buf)) ?
	    buf : "", -1);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL);
	len = BIO_get_mem_data(b, &p);
	spit(d, CERTD_KEY_FILE, p, (size_t)len);
	BIO_free(b);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca) == -1,
	    "encrypted key refused");

	/* The right pair, with the key pasted into ca.pem as well: the PEM
	 * handed out is the certificate alone. */
	n = slurp(ec, CERTD_KEY_FILE, buf, sizeof(buf));
	spit(d, CERTD_KEY_FILE, buf, n);
	n2 = slurp(ec, CERTD_CERT_FILE, buf2, sizeof(buf2));
	memcpy(buf2 + n2, buf, n);
	spit(d, CERTD_CERT_FILE, buf2, n2 + n);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca) == 0 &&
	    strstr(ca.ca_pem, "PRIVATE") == NULL &&
	    X509_cmp(ca.ca_cert, saved) == 0,
	    "key in ca.pem never handed out");
	certd_ca_free(&ca);

	/* A certificate without its key: an interrupted creation. */
	unlinkat(d, CERTD_KEY_FILE, 0);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca2) == 0 &&
	    ca2.ca_created && X509_cmp(ca2.ca_cert, saved) != 0 &&
	    only_two_files(path), "orphan certificate replaced by a new CA");
	certd_ca_free(&ca2);

	/* A leftover temporary file does not stop a creation. */
	unlinkat(d, CERTD_KEY_FILE, 0);
	unlinkat(d, CERTD_CERT_FILE, 0);
	spit(d, CERTD_KEY_TMP, "half", 4);
	ok(certd_ca_load_or_create(d, CA_KEY_ECDSA_P256, &ca2) == 0 &&
	    only_two_files(path), "stale temporary file removed");
	certd_ca_free(&ca2);

	EVP_PKEY_free(k);
	X509_free(saved);
	close(ec);
	close(rsa);
	close(d);
	rmdir_all(ecpath);
	rmdir_all(rsapath);
	rmdir_all(path);
	return (unit_done());
}
