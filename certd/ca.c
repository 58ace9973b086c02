/*
 * The CA of certd: load ca.key and ca.pem from the CA directory, or create
 * both. Runs once at start, after chroot and the uid change (the directory
 * fd master passed reaches outside the chroot; it is 0700 and certd's
 * user's, so only certd reads it) and before seccomp, which then forbids
 * every file call.
 *
 * Creation is crash-safe: both files are written under temporary names,
 * flushed, then renamed, the certificate first and the key last. The key
 * is the commit point: a ca.pem without ca.key is the trace of an
 * interrupted creation and is replaced; a ca.key is never replaced, even
 * without its ca.pem (the admin decides what to do with it).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certd/certd.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/proto.h"

#define CA_ERRBUF 256

typedef int ca_writer_fn(BIO *, void *);

/* The most recent OpenSSL error, for a log line; clears the queue. */
const char *
certd_sslerr(void)
{
	static char	buf[CA_ERRBUF];
	unsigned long	e;

	e = ERR_peek_last_error();
	if (e == 0)
		return ("unknown OpenSSL error");
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return (buf);
}

/* 1 if name exists in dirfd (not followed if a symlink), 0 if not, -1. */
static int
ca_exists(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return (1);
	if (errno == ENOENT)
		return (0);
	log_warn("CA directory: %s", name);
	return (-1);
}

/*
 * Read a whole regular file of at most CERTD_FILE_MAX bytes, NUL-terminated.
 * The buffer of a key is cleansed by the caller before it is freed.
 */
static char *
ca_read_file(int dirfd, const char *name, size_t *lenp, int secret)
{
	struct stat st;
	char	*buf = NULL;
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY);
	if (fd == -1) {
		log_warn("CA directory: cannot open %s", name);
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CERTD_FILE_MAX) {
		log_warnx("CA directory: %s is not a regular file of at "
		    "most %d bytes", name, CERTD_FILE_MAX);
		goto fail;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warnx("CA directory: %s is readable by others "
		    "(mode %04o); it should be 0600", name,
		    (unsigned)(st.st_mode & 07777));
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warnx("CA directory: short read of %s", name);
			goto fail;
		}
		off += (size_t)n;
	}
	buf[off] = '\0';
	*lenp = off;
	close(fd);
	return (buf);
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return (NULL);
}

/* An encrypted key cannot be used unattended: refuse to prompt. */
static int
ca_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return (-1);
}

/* The certificate alone, as PEM, whatever else ca.pem held. */
static int
ca_encode_pem(struct certd_ca *ca)
{
	BIO	*b;
	char	*p;
	long	 n;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return (-1);
	if (!PEM_write_bio_X509(b, ca->ca_cert) ||
	    (n = BIO_get_mem_data(b, &p)) <= 0 || n > IPC_PEM_MAX ||
	    (ca->ca_pem = malloc((size_t)n + 1)) == NULL) {
		log_warnx("CA certificate: cannot encode it in at most %d "
		    "bytes of PEM", IPC_PEM_MAX);
		BIO_free(b);
		return (-1);
	}
	memcpy(ca->ca_pem, p, (size_t)n);
	ca->ca_pem[n] = '\0';
	ca->ca_pemlen = (size_t)n;
	BIO_free(b);
	return (0);
}

/* Does the pair make a usable CA? Hard errors return -1. */
static int
ca_check(struct certd_ca *ca)
{
	if (X509_check_private_key(ca->ca_cert, ca->ca_key) != 1) {
		ERR_clear_error();
		log_warnx("CA directory: %s does not belong to the "
		    "certificate in %s; restore the matching pair, or move "
		    "both away to have a new CA created", CERTD_KEY_FILE,
		    CERTD_CERT_FILE);
		return (-1);
	}
	if (X509_check_ca(ca->ca_cert) == 0) {
		log_warnx("CA directory: the certificate in %s is not a CA "
		    "certificate (no basicConstraints CA:TRUE)",
		    CERTD_CERT_FILE);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notAfter(ca->ca_cert)) < 0)
		log_warnx("CA directory: the certificate in %s has expired; "
		    "clients will reject every intercepted connection",
		    CERTD_CERT_FILE);
	else if (X509_cmp_current_time(X509_get0_notBefore(ca->ca_cert)) > 0)
		log_warnx("CA directory: the certificate in %s is not valid "
		    "yet; check the clock", CERTD_CERT_FILE);
	return (0);
}

static int
ca_load(int dirfd, uint32_t keytype, struct certd_ca *ca)
{
	BIO	*b = NULL;
	char	*kbuf = NULL, *cbuf = NULL;
	size_t	 klen = 0, clen = 0;
	int	 rv = -1;

	if ((kbuf = ca_read_file(dirfd, CERTD_KEY_FILE, &klen, 1)) == NULL ||
	    (cbuf = ca_read_file(dirfd, CERTD_CERT_FILE, &clen, 0)) == NULL)
		goto done;
	if ((b = BIO_new_mem_buf(kbuf, (int)klen)) == NULL)
		goto done;
	ca->ca_key = PEM_read_bio_PrivateKey(b, NULL, ca_no_passphrase, NULL);
	BIO_free(b);
	if (ca->ca_key == NULL) {
		log_warnx("CA directory: %s: no unencrypted private key in "
		    "PEM (%s)", CERTD_KEY_FILE, certd_sslerr());
		goto done;
	}
	if ((b = BIO_new_mem_buf(cbuf, (int)clen)) == NULL)
		goto done;
	ca->ca_cert = PEM_read_bio_X509(b, NULL, ca_no_passphrase, NULL);
	BIO_free(b);
	if (ca->ca_cert == NULL) {
		log_warnx("CA directory: %s: no certificate in PEM (%s)",
		    CERTD_CERT_FILE, certd_sslerr());
		goto done;
	}
	if (ca_check(ca) == -1 || ca_encode_pem(ca) == -1)
		goto done;
	if ((keytype == CA_KEY_RSA_3072) != (EVP_PKEY_get_base_id(ca->ca_key)
	    == EVP_PKEY_RSA))
		log_info("the existing CA key is %s; \"ca key\" applies only "
		    "when a new CA is created", EVP_PKEY_get0_type_name(
		    ca->ca_key));
	rv = 0;
done:
	if (kbuf != NULL) {
		OPENSSL_cleanse(kbuf, klen);
		free(kbuf);
	}
	free(cbuf);
	if (rv == -1)
		certd_ca_free(ca);
	return (rv);
}

static EVP_PKEY *
ca_keygen(uint32_t keytype)
{
	EVP_PKEY *k;

	if (keytype == CA_KEY_RSA_3072)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CERTD_RSA_BITS);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		log_warnx("CA key generation: %s", certd_sslerr());
	return (k);
}

/* "mitmd CA <hostname>", or a random id when the host has no usable
 * name; printable ASCII only, within the CN's 64 characters. */
static void
ca_common_name(char *cn, size_t cnsz)
{
	unsigned char rnd[CERTD_RANDOM_ID_BYTES];
	char	 host[CERTD_CN_MAX + 1];
	size_t	 i, len;

	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) == -1)
		host[0] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] <= ' ' || host[i] > '~')
			host[i] = '-';
	len = strlen(host);
	if (len == 0 || strcmp(host, "localhost") == 0 ||
	    strcmp(host, "(none)") == 0) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			memset(rnd, 0, sizeof(rnd));
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(host + 2 * i, sizeof(host) - 2 * i, "%02x",
			    rnd[i]);
	}
	snprintf(cn, cnsz, "%s%.*s", CERTD_CN_PREFIX,
	    (int)(CERTD_CN_MAX - strlen(CERTD_CN_PREFIX)), host);
}

static int
ca_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 rv;

	/* Self-signed: the certificate is its own issuer, so the key
	 * identifiers come from its own public key. */
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return (-1);
	rv = X509_add_ext(x, ext, -1) ? 0 : -1;
	X509_EXTENSION_free(ext);
	return (rv);
}

/* A random positive serial of CERTD_SERIAL_BYTES, never zero. */
static int
ca_set_serial(X509 *x)
{
	unsigned char	 b[CERTD_SERIAL_BYTES];
	BIGNUM		*bn;
	int		 rv;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return (-1);
	b[0] &= 0x7f;
	b[0] |= 0x01;
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return (-1);
	rv = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : -1;
	BN_free(bn);
	return (rv);
}

static X509 *
ca_selfsign(EVP_PKEY *key)
{
	X509		*x;
	X509_NAME	*nm;
	char		 cn[CERTD_CN_MAX + 1];

	if ((x = X509_new()) == NULL)
		return (NULL);
	ca_common_name(cn, sizeof(cn));
	nm = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) || ca_set_serial(x) == -1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -CERTD_CA_BACKDATE_SEC) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), CERTD_CA_VALID_DAYS, 0,
	    NULL) ||
	    !X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8,
	    (const unsigned char *)CERTD_ORG, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, nm) || !X509_set_pubkey(x, key))
		goto fail;
	/* The subject key id first: the authority key id copies it. */
	if (ca_add_ext(x, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") == -1 ||
	    ca_add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign") == -1 ||
	    ca_add_ext(x, NID_subject_key_identifier, "hash") == -1 ||
	    ca_add_ext(x, NID_authority_key_identifier, "keyid:always") == -1)
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	return (x);
fail:
	log_warnx("CA certificate: %s", certd_sslerr());
	X509_free(x);
	return (NULL);
}

static int
ca_write_key(BIO *b, void *arg)
{
	/* The one place the key is serialised: into its own file. */
	return (PEM_write_bio_PrivateKey(b, arg, NULL, NULL, 0, NULL, NULL));
}

static int
ca_write_cert(BIO *b, void *arg)
{
	return (PEM_write_bio_X509(b, arg));
}

/* Write a new file under a temporary name, flushed to disk. */
static int
ca_write_tmp(int dirfd, const char *tmp, mode_t mode, ca_writer_fn *fn,
    void *arg)
{
	BIO	*b;
	int	 fd, ok;

	/* A temporary file is the leftover of an interrupted creation. */
	if (unlinkat(dirfd, tmp, 0) == -1 && errno != ENOENT) {
		log_warn("CA directory: cannot remove %s", tmp);
		return (-1);
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd == -1) {
		log_warn("CA directory: cannot create %s", tmp);
		return (-1);
	}
	/* An unbuffered fd BIO: nothing of a key lingers in a buffer. */
	if ((b = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL) {
		close(fd);
		return (-1);
	}
	ok = fn(b, arg) && BIO_flush(b) == 1;
	BIO_free(b);
	if (!ok || fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		log_warnx("CA directory: cannot write %s", tmp);
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * Move the new key in place, never over an existing one, whatever appeared
 * meanwhile: rename without replace, or link and unlink on a file system
 * without RENAME_NOREPLACE (both fail with EEXIST).
 */
static int
ca_commit_key(int dirfd)
{
	if (renameat2(dirfd, CERTD_KEY_TMP, dirfd, CERTD_KEY_FILE,
	    RENAME_NOREPLACE) == 0)
		return (0);
	if (errno == EINVAL &&
	    linkat(dirfd, CERTD_KEY_TMP, dirfd, CERTD_KEY_FILE, 0) == 0) {
		unlinkat(dirfd, CERTD_KEY_TMP, 0);
		return (0);
	}
	log_warn("CA directory: cannot move the new key to %s",
	    CERTD_KEY_FILE);
	return (-1);
}

static int
ca_create(int dirfd, uint32_t keytype, struct certd_ca *ca)
{
	if ((ca->ca_key = ca_keygen(keytype)) == NULL ||
	    (ca->ca_cert = ca_selfsign(ca->ca_key)) == NULL)
		goto fail;
	if (ca_write_tmp(dirfd, CERTD_CERT_TMP, CERTD_CERT_MODE,
	    ca_write_cert, ca->ca_cert) == -1 ||
	    ca_write_tmp(dirfd, CERTD_KEY_TMP, CERTD_KEY_MODE,
	    ca_write_key, ca->ca_key) == -1)
		goto fail;
	/* Certificate first: the key's rename commits the new CA. */
	if (renameat(dirfd, CERTD_CERT_TMP, dirfd, CERTD_CERT_FILE) == -1) {
		log_warn("CA directory: rename to %s", CERTD_CERT_FILE);
		goto fail;
	}
	if (ca_commit_key(dirfd) == -1)
		goto fail;
	if (fsync(dirfd) == -1)
		log_warn("CA directory: fsync");
	if (ca_encode_pem(ca) == -1)
		goto fail;
	ca->ca_created = 1;
	return (0);
fail:
	unlinkat(dirfd, CERTD_CERT_TMP, 0);
	unlinkat(dirfd, CERTD_KEY_TMP, 0);
	certd_ca_free(ca);
	return (-1);
}

int
certd_ca_load_or_create(int dirfd, uint32_t keytype, struct certd_ca *ca)
{
	struct stat st;
	int	 key, cert;

	memset(ca, 0, sizeof(*ca));
	if (fstat(dirfd, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("CA directory: not a directory");
		return (-1);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warnx("CA directory: mode %04o lets others in; it should "
		    "be 0700", (unsigned)(st.st_mode & 07777));
	if ((key = ca_exists(dirfd, CERTD_KEY_FILE)) == -1 ||
	    (cert = ca_exists(dirfd, CERTD_CERT_FILE)) == -1)
		return (-1);
	if (key && !cert) {
		log_warnx("CA directory: %s exists without %s; the key is "
		    "never replaced: restore %s, or move %s away to have a "
		    "new CA created", CERTD_KEY_FILE, CERTD_CERT_FILE,
		    CERTD_CERT_FILE, CERTD_KEY_FILE);
		return (-1);
	}
	if (key)
		return (ca_load(dirfd, keytype, ca));
	if (cert)
		log_warnx("CA directory: %s without %s, the trace of an "
		    "interrupted creation: creating a new CA", CERTD_CERT_FILE,
		    CERTD_KEY_FILE);
	return (ca_create(dirfd, keytype, ca));
}

void
certd_ca_free(struct certd_ca *ca)
{
	EVP_PKEY_free(ca->ca_key);
	X509_free(ca->ca_cert);
	free(ca->ca_pem);
	memset(ca, 0, sizeof(*ca));
}
