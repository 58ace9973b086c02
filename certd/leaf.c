/*
 * Leaf certificates: the leaf key and the signing of one certificate for a
 * checked request. Runs inside certd's sandbox (seccomp allows getrandom,
 * which key generation and ECDSA signatures need, and nothing that opens a
 * file); tzset() ran before it, so gmtime_r reads no zone file.
 *
 * One leaf key (ECDSA P-256) serves every leaf of a certd lifetime until
 * an admin rotates it: the workers get it once (IMSG_LEAF_KEY) and only
 * certificates travel afterwards. Its generation number tells a worker
 * which key a certificate was signed for.
 *
 * A leaf: v3, a random positive 128-bit serial never given before, issuer
 * the CA's subject, subject CN from the request, validity the
 * intersection of [now - 1 h, now + 397 days], the upstream certificate's
 * and the CA's, and the extensions a TLS server certificate needs:
 * subjectAltName (every name), basicConstraints CA:FALSE and keyUsage
 * digitalSignature (both critical), extendedKeyUsage serverAuth, subject
 * and authority key identifiers. keyUsage has no keyEncipherment: an EC key
 * cannot encipher, and TLS 1.2's RSA key exchange does not apply to it.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "certd/certd.h"
#include "common/log.h"
#include "common/util.h"

/* Seconds since the epoch of an ASN1_TIME, computed without the libc
 * time zone machinery. */
static int
leaf_asn1_time(const ASN1_TIME *t, int64_t *out)
{
	ASN1_TIME	*epoch;
	int		 days, secs, ok;

	if ((epoch = ASN1_TIME_set(NULL, 0)) == NULL)
		return (-1);
	ok = ASN1_TIME_diff(&days, &secs, epoch, t);
	ASN1_TIME_free(epoch);
	if (!ok)
		return (-1);
	*out = (int64_t)days * CERTD_DAY_SEC + secs;
	return (0);
}

static void
leaf_key_free(struct certd_leafkey *lf)
{
	EVP_PKEY_free(lf->lf_key);
	if (lf->lf_der != NULL)
		OPENSSL_clear_free(lf->lf_der, lf->lf_derlen);
	memset(lf, 0, sizeof(*lf));
}

/* A new P-256 key, its PKCS#8 DER for the workers and the SHA-256 of its
 * public key for the log. */
static int
leaf_key_make(struct certd_leafkey *lf, uint32_t gen)
{
	PKCS8_PRIV_KEY_INFO	*p8 = NULL;
	uint8_t			*spki = NULL, md[32];
	int			 n, m = 0;

	memset(lf, 0, sizeof(*lf));
	lf->lf_gen = gen;
	if ((lf->lf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    CERTD_LEAF_CURVE)) == NULL ||
	    (p8 = EVP_PKEY2PKCS8(lf->lf_key)) == NULL ||
	    (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &lf->lf_der)) <= 0)
		goto fail;
	lf->lf_derlen = (size_t)n;
	if (lf->lf_derlen > IPC_DER_MAX ||
	    (m = i2d_PUBKEY(lf->lf_key, &spki)) <= 0 ||
	    !EVP_Digest(spki, (size_t)m, md, NULL, EVP_sha256(), NULL))
		goto fail;
	util_hex(md, sizeof(md), lf->lf_fp, sizeof(lf->lf_fp));
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_free(spki);
	return (0);
fail:
	log_warnx("leaf key: %s", certd_sslerr());
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_free(spki);
	leaf_key_free(lf);
	return (-1);
}

/* The CA's own serial is taken too: it shares the issuer name. */
static int
leaf_take_ca_serial(struct certd_issuer *is)
{
	uint8_t	 b[CERTD_SERIAL_BYTES];
	BIGNUM	*bn;
	int	 rv = 0;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(is->is_ca->ca_cert),
	    NULL);
	if (bn == NULL)
		return (-1);
	/* A longer serial can never equal one of ours. */
	if (BN_num_bytes(bn) <= CERTD_SERIAL_BYTES &&
	    BN_bn2binpad(bn, b, sizeof(b)) == (int)sizeof(b) &&
	    certd_serials_add(&is->is_serials, b) == -1)
		rv = -1;
	BN_free(bn);
	return (rv);
}

int
certd_issuer_init(struct certd_issuer *is, const struct certd_ca *ca)
{
	uint32_t gen;

	memset(is, 0, sizeof(*is));
	is->is_ca = ca;
	if (leaf_asn1_time(X509_get0_notBefore(ca->ca_cert),
	    &is->is_ca_not_before) == -1 ||
	    leaf_asn1_time(X509_get0_notAfter(ca->ca_cert),
	    &is->is_ca_not_after) == -1) {
		log_warnx("CA certificate: cannot read its validity");
		return (-1);
	}
	if (leaf_take_ca_serial(is) == -1) {
		log_warnx("CA certificate: cannot read its serial");
		goto fail;
	}
	if (RAND_bytes((unsigned char *)&gen, sizeof(gen)) != 1) {
		log_warnx("leaf key generation: %s", certd_sslerr());
		goto fail;
	}
	if (leaf_key_make(&is->is_leaf, gen != 0 ? gen : 1) == -1)
		goto fail;
	return (0);
fail:
	certd_issuer_free(is);
	return (-1);
}

int
certd_issuer_rotate(struct certd_issuer *is)
{
	struct certd_leafkey	lf;
	uint32_t		gen = is->is_leaf.lf_gen + 1;

	if (leaf_key_make(&lf, gen != 0 ? gen : 1) == -1)
		return (-1);
	leaf_key_free(&is->is_leaf);
	is->is_leaf = lf;
	return (0);
}

void
certd_issuer_free(struct certd_issuer *is)
{
	leaf_key_free(&is->is_leaf);
	certd_serials_free(&is->is_serials);
	memset(is, 0, sizeof(*is));
}

/*
 * The intersection of [now - backdate, now + 397 days], the upstream's
 * validity and the CA's. Refused when it is empty or already over: such a
 * certificate could only make the client fail with a wrong reason.
 */
static int
leaf_validity(const struct certd_issuer *is, const struct cert_req *rq,
    time_t now, int64_t *nbp, int64_t *nap, char *why, size_t whysz)
{
	int64_t nb, na, unb, una;

	unb = rq->cq_not_before > INT64_MAX ? INT64_MAX :
	    (int64_t)rq->cq_not_before;
	una = rq->cq_not_after > INT64_MAX ? INT64_MAX :
	    (int64_t)rq->cq_not_after;
	nb = MAX((int64_t)now - CERTD_LEAF_BACKDATE_SEC, unb);
	nb = MAX(nb, is->is_ca_not_before);
	na = MIN((int64_t)now + (int64_t)CERTD_LEAF_MAX_DAYS * CERTD_DAY_SEC,
	    una);
	na = MIN(na, is->is_ca_not_after);
	if (nb >= na || na <= (int64_t)now) {
		snprintf(why, whysz, "no validity left: upstream %lld..%lld, "
		    "CA %lld..%lld, now %lld", (long long)unb, (long long)una,
		    (long long)is->is_ca_not_before,
		    (long long)is->is_ca_not_after, (long long)now);
		return (-1);
	}
	*nbp = nb;
	*nap = na;
	return (0);
}

/* A random positive serial of CERTD_SERIAL_BYTES never given before. */
static int
leaf_set_serial(struct certd_issuer *is, X509 *x)
{
	uint8_t	 b[CERTD_SERIAL_BYTES];
	BIGNUM	*bn;
	int	 i, rv, added = 0;

	for (i = 0; i < CERTD_SERIAL_TRIES && added == 0; i++) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return (-1);
		/* Positive, and a non-zero first byte: always 16 bytes. */
		b[0] &= 0x7f;
		b[0] |= 0x01;
		if ((added = certd_serials_add(&is->is_serials, b)) == -1)
			return (-1);
	}
	if (added == 0 || (bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return (-1);
	rv = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : -1;
	BN_free(bn);
	return (rv);
}

static int
leaf_add_conf(X509V3_CTX *ctx, X509 *x, int nid, const char *value)
{
	X509_EXTENSION	*ext;
	int		 rv;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return (-1);
	rv = X509_add_ext(x, ext, -1) ? 0 : -1;
	X509_EXTENSION_free(ext);
	return (rv);
}

/* Subject and extensions; the public key must be set already (the subject
 * key identifier hashes it). */
static int
leaf_names(const struct certd_issuer *is, X509 *x, const struct cert_req *rq)
{
	X509V3_CTX	 ctx;
	GENERAL_NAMES	*gens;
	const char	*cn = certd_req_cn(rq);
	int		 rv;

	if (cn != NULL && !X509_NAME_add_entry_by_txt(
	    X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		return (-1);
	if ((gens = certd_req_names(rq)) == NULL)
		return (-1);
	rv = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, cn == NULL,
	    X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
	GENERAL_NAMES_free(gens);
	if (rv == -1)
		return (-1);
	/* The CA as issuer: the authority key id is its subject key id
	 * (issuer and serial when it has none). */
	X509V3_set_ctx(&ctx, is->is_ca->ca_cert, x, NULL, NULL, 0);
	if (leaf_add_conf(&ctx, x, NID_basic_constraints,
	    "critical,CA:FALSE") == -1 ||
	    leaf_add_conf(&ctx, x, NID_key_usage,
	    "critical,digitalSignature") == -1 ||
	    leaf_add_conf(&ctx, x, NID_ext_key_usage, "serverAuth") == -1 ||
	    leaf_add_conf(&ctx, x, NID_subject_key_identifier, "hash") == -1 ||
	    leaf_add_conf(&ctx, x, NID_authority_key_identifier,
	    "keyid,issuer") == -1)
		return (-1);
	return (0);
}

/* EdDSA signs the message itself: no digest to name. */
static const EVP_MD *
leaf_md(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);

	return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL :
	    EVP_sha256());
}

int
certd_leaf_issue(struct certd_issuer *is, const struct cert_req *rq,
    time_t now, uint8_t **der, size_t *derlen, int64_t *not_after,
    char *why, size_t whysz)
{
	X509	*x = NULL;
	int64_t	 nb, na;
	int	 n;

	*der = NULL;
	if (certd_req_check(rq, why, whysz) == -1 ||
	    leaf_validity(is, rq, now, &nb, &na, why, whysz) == -1)
		return (-1);
	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    leaf_set_serial(is, x) == -1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL ||
	    !X509_set_issuer_name(x,
	    X509_get_subject_name(is->is_ca->ca_cert)) ||
	    !X509_set_pubkey(x, is->is_leaf.lf_key) ||
	    leaf_names(is, x, rq) == -1 ||
	    X509_sign(x, is->is_ca->ca_key, leaf_md(is->is_ca->ca_key)) <= 0 ||
	    (n = i2d_X509(x, der)) <= 0) {
		snprintf(why, whysz, "cannot make the certificate: %s",
		    certd_sslerr());
		X509_free(x);
		return (-1);
	}
	X509_free(x);
	if ((size_t)n > IPC_DER_MAX) {
		snprintf(why, whysz, "the certificate takes %d bytes, more "
		    "than the %d a message carries", n, IPC_DER_MAX);
		OPENSSL_free(*der);
		*der = NULL;
		return (-1);
	}
	*derlen = (size_t)n;
	*not_after = na;
	is->is_issued++;
	return (0);
}
