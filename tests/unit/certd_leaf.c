/*
 * Unit test of certd's leaf issuance (certd/leaf.c, req.c, serial.c,
 * cache.c and the request path of worker.c), checked with OpenSSL's own
 * verifier: a leaf for a DNS name, a wildcard, an IPv4 and an IPv6
 * address under an ECDSA and an RSA CA; issuer, SANs, extensions, the
 * leaf key; validity clamped to now, to the upstream's and to the CA's;
 * unique serials; every malformed request refused; the cache's hits,
 * misses, expiry and LRU order; a rotation that changes the key and
 * empties the cache.
 */
#include <arpa/inet.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certd/certd.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define T_PATH_MAX	512
#define T_DAY		86400
#define T_HOUR		3600
#define T_MANY		300	/* certificates for the serial check */
#define T_SET_MANY	5000	/* serials for the set check */

static char	t_dir[T_PATH_MAX];

static int
t_newdir(void)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/certd_leaf.XXXXXX");
	if (mkdtemp(t_dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return (open(t_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

static void
t_rmdir(void)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(t_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(t_dir);
}

/* A CA made by certd itself in a scratch directory. */
static void
t_ca(uint32_t keytype, struct certd_ca *ca)
{
	int fd = t_newdir();

	if (certd_ca_load_or_create(fd, keytype, ca) == -1) {
		fprintf(stderr, "cannot create a CA\n");
		exit(2);
	}
	close(fd);
	t_rmdir();
}

/* A CA valid from nb to na only, made here (certd's CA lasts 10 years). */
static void
t_short_ca(time_t nb, time_t na, struct certd_ca *ca)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	X509_NAME	*nm;
	X509		*x;

	memset(ca, 0, sizeof(*ca));
	ca->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	x = X509_new();
	nm = X509_get_subject_name(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), na);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"short CA", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, ca->ca_key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier,
	    "hash");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, ca->ca_key, EVP_sha256());
	ca->ca_cert = x;
}

static void
t_req(struct cert_req *rq, time_t nb, time_t na, const char *cn, int n,
    ...)
{
	va_list	ap;
	int	i;

	memset(rq, 0, sizeof(*rq));
	rq->cq_not_before = (uint64_t)nb;
	rq->cq_not_after = (uint64_t)na;
	memset(rq->cq_key, 0x5a, sizeof(rq->cq_key));
	snprintf(rq->cq_cn, sizeof(rq->cq_cn), "%s", cn);
	rq->cq_nnames = (uint32_t)n;
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		rq->cq_names[i].cn_type = va_arg(ap, uint32_t);
		snprintf(rq->cq_names[i].cn_name,
		    sizeof(rq->cq_names[i].cn_name), "%s",
		    va_arg(ap, const char *));
	}
	va_end(ap);
}

static X509 *
t_issue(struct certd_issuer *is, const struct cert_req *rq, time_t now)
{
	const uint8_t	*p;
	uint8_t		*der;
	size_t		 len;
	int64_t		 na;
	char		 why[CERTD_WHY_MAX];
	X509		*x;

	if (certd_leaf_issue(is, rq, now, &der, &len, &na, why,
	    sizeof(why)) == -1) {
		printf("# refused: %s\n", why);
		return (NULL);
	}
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	OPENSSL_free(der);
	return (x);
}

/* X509_verify_cert against the CA alone, for a host or an address. */
static int
t_verify(X509 *leaf, X509 *ca, const char *host, const char *ip)
{
	X509_STORE	*st = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int		 rv;

	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
	if (host != NULL)
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	if (ip != NULL)
		X509_VERIFY_PARAM_set1_ip_asc(vp, ip);
	rv = X509_verify_cert(ctx);
	if (rv != 1)
		printf("# verify %s: %s\n", host ? host : ip,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(
		    ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return (rv == 1);
}

/* The SANs as "DNS:x,IP:y" in order. */
static void
t_sans(X509 *x, char *out, size_t outsz)
{
	GENERAL_NAMES	*gens;
	GENERAL_NAME	*gn;
	char		 ip[INET6_ADDRSTRLEN];
	const unsigned char *d;
	int		 i, len;
	size_t		 o = 0;

	out[0] = '\0';
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type == GEN_DNS) {
			o += (size_t)snprintf(out + o, outsz - o, "%sDNS:%s",
			    i ? "," : "", (const char *)ASN1_STRING_get0_data(
			    gn->d.dNSName));
		} else if (gn->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(gn->d.iPAddress);
			len = ASN1_STRING_length(gn->d.iPAddress);
			inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip,
			    sizeof(ip));
			o += (size_t)snprintf(out + o, outsz - o, "%sIP:%s",
			    i ? "," : "", ip);
		}
		if (o >= outsz)
			break;
	}
	GENERAL_NAMES_free(gens);
}

static int
t_cn(X509 *x, char *out, size_t outsz)
{
	return (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, out, (int)outsz));
}

static int
t_ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return (i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i)));
}

static int
t_times(X509 *x, time_t nb, time_t na)
{
	return (ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), nb) == 0 &&
	    ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), na) == 0);
}

/* Everything a leaf from this issuer must have, whatever its names. */
static void
t_leaf_common(struct certd_issuer *is, X509 *x, const char *what)
{
	const ASN1_OCTET_STRING	*aki, *ski;
	const ASN1_INTEGER	*sn;
	BIGNUM			*bn;

	CHECK(X509_get_version(x) == X509_VERSION_3, "%s: v3", what);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(is->is_ca->ca_cert)) == 0,
	    "%s: issuer is the CA's subject", what);
	CHECK(X509_check_ca(x) == 0 && t_ext_critical(x,
	    NID_basic_constraints), "%s: basicConstraints CA:FALSE critical",
	    what);
	CHECK((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE &&
	    t_ext_critical(x, NID_key_usage),
	    "%s: keyUsage digitalSignature critical", what);
	CHECK(X509_get_extended_key_usage(x) == XKU_SSL_SERVER,
	    "%s: extendedKeyUsage serverAuth", what);
	ski = X509_get0_subject_key_id(x);
	aki = X509_get0_authority_key_id(x);
	CHECK(ski != NULL && aki != NULL && ASN1_OCTET_STRING_cmp(aki,
	    X509_get0_subject_key_id(is->is_ca->ca_cert)) == 0,
	    "%s: key identifiers, the authority's the CA's", what);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), is->is_leaf.lf_key) == 1,
	    "%s: public key is the leaf key", what);
	sn = X509_get0_serialNumber(x);
	bn = ASN1_INTEGER_to_BN(sn, NULL);
	CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bytes(bn) ==
	    CERTD_SERIAL_BYTES, "%s: serial positive, 128 bits", what);
	BN_free(bn);
}

static void
t_names(struct certd_issuer *is, time_t now, const char *ca)
{
	struct cert_req	 rq;
	X509		*x;
	char		 s[1024], what[64];

	snprintf(what, sizeof(what), "%s CA, DNS", ca);
	t_req(&rq, now - 30 * T_DAY, now + 60 * T_DAY, "www.example.com", 3,
	    CERT_NAME_DNS, "www.example.com", CERT_NAME_DNS, "example.com",
	    CERT_NAME_DNS, "WWW.Example.COM");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL, "%s: issued", what);
	if (x != NULL) {
		t_leaf_common(is, x, what);
		t_sans(x, s, sizeof(s));
		CHECK(strcmp(s, "DNS:www.example.com,DNS:example.com") == 0,
		    "%s: SANs in order, duplicate left out (%s)", what, s);
		CHECK(t_cn(x, s, sizeof(s)) > 0 && strcmp(s,
		    "www.example.com") == 0, "%s: subject CN", what);
		CHECK(!t_ext_critical(x, NID_subject_alt_name),
		    "%s: SAN not critical beside a CN", what);
		CHECK(t_verify(x, is->is_ca->ca_cert, "www.example.com",
		    NULL) && t_verify(x, is->is_ca->ca_cert, "example.com",
		    NULL), "%s: verifies for both names", what);
		CHECK(!t_verify(x, is->is_ca->ca_cert, "other.example.com",
		    NULL), "%s: not for another name", what);
		X509_free(x);
	}

	snprintf(what, sizeof(what), "%s CA, wildcard", ca);
	t_req(&rq, now - T_DAY, now + T_DAY, "", 2, CERT_NAME_DNS,
	    "*.example.org", CERT_NAME_DNS, "a.example.org");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL, "%s: issued", what);
	if (x != NULL) {
		t_leaf_common(is, x, what);
		t_sans(x, s, sizeof(s));
		CHECK(strcmp(s, "DNS:*.example.org,DNS:a.example.org") == 0,
		    "%s: wildcard kept (%s)", what, s);
		CHECK(t_cn(x, s, sizeof(s)) > 0 && strcmp(s,
		    "*.example.org") == 0, "%s: CN is the first name", what);
		CHECK(t_verify(x, is->is_ca->ca_cert, "b.example.org", NULL),
		    "%s: verifies for a host under it", what);
		CHECK(!t_verify(x, is->is_ca->ca_cert, "x.y.example.org",
		    NULL), "%s: not two labels down", what);
		X509_free(x);
	}

	snprintf(what, sizeof(what), "%s CA, IPv4", ca);
	t_req(&rq, now - T_DAY, now + T_DAY, "", 1, CERT_NAME_IP,
	    "192.0.2.7");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL, "%s: issued", what);
	if (x != NULL) {
		t_leaf_common(is, x, what);
		t_sans(x, s, sizeof(s));
		CHECK(strcmp(s, "IP:192.0.2.7") == 0, "%s: IP SAN (%s)", what,
		    s);
		CHECK(t_verify(x, is->is_ca->ca_cert, NULL, "192.0.2.7") &&
		    !t_verify(x, is->is_ca->ca_cert, NULL, "192.0.2.8"),
		    "%s: verifies for that address only", what);
		X509_free(x);
	}

	snprintf(what, sizeof(what), "%s CA, IPv6 and DNS", ca);
	t_req(&rq, now - T_DAY, now + T_DAY, "v6 origin", 4, CERT_NAME_IP,
	    "2001:db8::1", CERT_NAME_DNS, "v6.example.net", CERT_NAME_IP,
	    "2001:db8:0:0::1", CERT_NAME_IP, "::ffff:192.0.2.1");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL, "%s: issued", what);
	if (x != NULL) {
		t_leaf_common(is, x, what);
		t_sans(x, s, sizeof(s));
		CHECK(strcmp(s, "IP:2001:db8::1,DNS:v6.example.net,"
		    "IP:::ffff:192.0.2.1") == 0, "%s: SANs, the same address "
		    "written twice kept once (%s)", what, s);
		CHECK(t_cn(x, s, sizeof(s)) > 0 && strcmp(s, "v6 origin") == 0,
		    "%s: CN from cq_cn", what);
		CHECK(t_verify(x, is->is_ca->ca_cert, NULL, "2001:db8::1") &&
		    t_verify(x, is->is_ca->ca_cert, "v6.example.net", NULL),
		    "%s: verifies for the address and the name", what);
		X509_free(x);
	}
}

static void
t_validity(struct certd_issuer *is, time_t now)
{
	struct certd_ca		 sca;
	struct certd_issuer	 sis;
	struct cert_req		 rq;
	X509			*x;
	uint8_t			*der;
	size_t			 len;
	int64_t			 na;
	char			 why[CERTD_WHY_MAX];
	time_t			 max = now + CERTD_LEAF_MAX_DAYS * T_DAY;

	t_req(&rq, now - 1000 * T_DAY, now + 1000 * T_DAY, "", 1,
	    CERT_NAME_DNS, "long.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_times(x, now - T_HOUR, max),
	    "validity: a long upstream clamped to [now - 1h, now + 397d]");
	X509_free(x);

	t_req(&rq, now - 5 * T_DAY, now + 20 * T_DAY, "", 1, CERT_NAME_DNS,
	    "short.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_times(x, now - T_HOUR, now + 20 * T_DAY),
	    "validity: ends with the upstream's");
	X509_free(x);

	t_req(&rq, now + T_DAY, now + 2 * T_DAY, "", 1, CERT_NAME_DNS,
	    "future.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_times(x, now + T_DAY, now + 2 * T_DAY),
	    "validity: a not-yet-valid upstream's kept");
	X509_free(x);

	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "any.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_times(x, now - T_HOUR, max),
	    "validity: 0..UINT64_MAX is now's window");
	X509_free(x);

	t_req(&rq, now - 10 * T_DAY, now - 2 * T_HOUR, "", 1, CERT_NAME_DNS,
	    "expired.example");
	CHECK(certd_leaf_issue(is, &rq, now, &der, &len, &na, why,
	    sizeof(why)) == -1 && der == NULL && strstr(why, "validity"),
	    "validity: an expired upstream refused (%s)", why);
	t_req(&rq, now - 10 * T_DAY, now - 10, "", 1, CERT_NAME_DNS,
	    "justexpired.example");
	CHECK(certd_leaf_issue(is, &rq, now, &der, &len, &na, why,
	    sizeof(why)) == -1, "validity: expired within the backdating "
	    "hour refused");

	/* A CA that ends in ten days, and one expired. */
	t_short_ca(now - 100 * T_DAY, now + 10 * T_DAY, &sca);
	CHECK(certd_issuer_init(&sis, &sca) == 0, "short CA: issuer");
	t_req(&rq, now - T_DAY, now + 100 * T_DAY, "", 1, CERT_NAME_DNS,
	    "ca.example");
	x = t_issue(&sis, &rq, now);
	CHECK(x != NULL && t_times(x, now - T_HOUR, now + 10 * T_DAY),
	    "validity: clamped to the CA's notAfter");
	CHECK(x != NULL && t_verify(x, sca.ca_cert, "ca.example", NULL),
	    "validity: verifies under the short CA");
	X509_free(x);
	certd_issuer_free(&sis);
	certd_ca_free(&sca);

	t_short_ca(now - 100 * T_DAY, now - T_DAY, &sca);
	CHECK(certd_issuer_init(&sis, &sca) == 0, "expired CA: issuer");
	CHECK(certd_leaf_issue(&sis, &rq, now, &der, &len, &na, why,
	    sizeof(why)) == -1, "validity: nothing under an expired CA");
	certd_issuer_free(&sis);
	certd_ca_free(&sca);

	t_short_ca(now + 2 * T_DAY, now + 100 * T_DAY, &sca);
	CHECK(certd_issuer_init(&sis, &sca) == 0, "future CA: issuer");
	x = t_issue(&sis, &rq, now);
	CHECK(x != NULL && t_times(x, now + 2 * T_DAY, now + 100 * T_DAY),
	    "validity: starts with the CA's notBefore");
	X509_free(x);
	certd_issuer_free(&sis);
	certd_ca_free(&sca);
}

/* Names long enough that no CN fits. */
static void
t_cn_fallback(struct certd_issuer *is, time_t now)
{
	struct cert_req	 rq;
	X509		*x;
	char		 lbl[CERTD_DNS_LABEL_MAX + 1], lng[CERT_NAME_MAX];
	char		 cn[CERTD_CN_MAX + 2], s[256];

	memset(lbl, 'a', CERTD_DNS_LABEL_MAX);
	lbl[CERTD_DNS_LABEL_MAX] = '\0';
	snprintf(lng, sizeof(lng), "%s.%s.example", lbl, lbl);
	memset(cn, 'c', CERTD_CN_MAX + 1);
	cn[CERTD_CN_MAX + 1] = '\0';

	t_req(&rq, 0, UINT64_MAX, cn, 2, CERT_NAME_DNS, "fits.example",
	    CERT_NAME_DNS, lng);
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_cn(x, s, sizeof(s)) > 0 &&
	    strcmp(s, "fits.example") == 0,
	    "CN: a 65-byte cq_cn gives way to the first name");
	X509_free(x);

	t_req(&rq, 0, UINT64_MAX, "", 2, CERT_NAME_DNS, lng, CERT_NAME_DNS,
	    "fits.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && X509_NAME_entry_count(X509_get_subject_name(x)) ==
	    0 && t_ext_critical(x, NID_subject_alt_name),
	    "CN: none fits, empty subject and a critical SAN");
	CHECK(x != NULL && t_verify(x, is->is_ca->ca_cert, lng, NULL),
	    "CN: such a leaf still verifies");
	X509_free(x);

	t_req(&rq, 0, UINT64_MAX, "Bücher GmbH", 1, CERT_NAME_DNS,
	    "xn--bcher-kva.example");
	x = t_issue(is, &rq, now);
	CHECK(x != NULL && t_cn(x, s, sizeof(s)) > 0,
	    "CN: UTF-8 text taken");
	X509_free(x);
}

struct t_bad {
	const char	*tb_what;
	uint32_t	 tb_type;
	const char	*tb_name;
};

static const struct t_bad t_bad_names[] = {
	{ "space", CERT_NAME_DNS, "a b.example" },
	{ "space", CERT_NAME_DNS, "a b.example" },
	{ "final dot", CERT_NAME_DNS, "example.com." },
	{ "leading dot", CERT_NAME_DNS, ".example.com" },
	{ "double dot", CERT_NAME_DNS, "a..example" },
	{ "empty", CERT_NAME_DNS, "" },
	{ "leading hyphen", CERT_NAME_DNS, "-a.example" },
	{ "trailing hyphen", CERT_NAME_DNS, "a-.example" },
	{ "bare wildcard", CERT_NAME_DNS, "*" },
	{ "wildcard and dot", CERT_NAME_DNS, "*." },
	{ "inner wildcard", CERT_NAME_DNS, "a.*.example" },
	{ "partial wildcard", CERT_NAME_DNS, "w*.example" },
	{ "two wildcards", CERT_NAME_DNS, "*.*.example" },
	{ "label of 64", CERT_NAME_DNS,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".example" },
	{ "non-ASCII", CERT_NAME_DNS, "b\xc3\xbc" "cher.example" },
	{ "control", CERT_NAME_DNS, "a\nb.example" },
	{ "short IPv4", CERT_NAME_IP, "1.2.3" },
	{ "long IPv4", CERT_NAME_IP, "1.2.3.4.5" },
	{ "IPv4 octet", CERT_NAME_IP, "1.2.3.256" },
	{ "IPv6 zone", CERT_NAME_IP, "fe80::1%eth0" },
	{ "IP as name", CERT_NAME_IP, "example.com" },
	{ "empty IP", CERT_NAME_IP, "" },
	{ "type 0", 0, "example.com" },
	{ "type 3", 3, "example.com" },
};

static void
t_refuse(struct certd_issuer *is, const struct cert_req *rq, time_t now,
    const char *what)
{
	uint8_t	*der = (uint8_t *)"x";
	size_t	 len;
	int64_t	 na;
	char	 why[CERTD_WHY_MAX] = "";
	uint64_t issued = is->is_issued;
	size_t	 i;
	int	 printable = 1;

	CHECK(certd_leaf_issue(is, rq, now, &der, &len, &na, why,
	    sizeof(why)) == -1 && der == NULL && why[0] != '\0' &&
	    is->is_issued == issued, "refused: %s (%s)", what, why);
	for (i = 0; why[i] != '\0'; i++)
		if (why[i] < ' ' || why[i] > '~')
			printable = 0;
	CHECK(printable, "refused: %s: the reason is printable", what);
}

static void
t_refusals(struct certd_issuer *is, time_t now)
{
	struct cert_req	rq;
	char		what[96], lng[CERTD_DNS_NAME_MAX + 3];
	size_t		i;

	for (i = 0; i < nitems(t_bad_names); i++) {
		t_req(&rq, 0, UINT64_MAX, "", 2, CERT_NAME_DNS, "ok.example",
		    t_bad_names[i].tb_type, t_bad_names[i].tb_name);
		snprintf(what, sizeof(what), "name: %s",
		    t_bad_names[i].tb_what);
		t_refuse(is, &rq, now, what);
	}
	/* 254 bytes in labels of 62 and dots. */
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	for (i = 62; i < sizeof(lng) - 1; i += 63)
		lng[i] = '.';
	lng[CERTD_DNS_NAME_MAX + 1] = '\0';
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, lng);
	t_refuse(is, &rq, now, "name: 254 bytes");
	lng[CERTD_DNS_NAME_MAX] = '\0';
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, lng);
	CHECK(certd_req_check(&rq, what, sizeof(what)) == 0,
	    "name: 253 bytes taken");

	t_req(&rq, 0, UINT64_MAX, "", 0);
	t_refuse(is, &rq, now, "no name");
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "a.example");
	rq.cq_nnames = CERT_MAX_NAMES + 1;
	t_refuse(is, &rq, now, "33 names");
	rq.cq_nnames = UINT32_MAX;
	t_refuse(is, &rq, now, "2^32-1 names");
	t_req(&rq, 100, 100, "", 1, CERT_NAME_DNS, "a.example");
	t_refuse(is, &rq, now, "notBefore == notAfter");
	t_req(&rq, now + 5, now - 5, "", 1, CERT_NAME_DNS, "a.example");
	t_refuse(is, &rq, now, "notBefore > notAfter");
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "a.example");
	memset(rq.cq_names[0].cn_name, 'a', sizeof(rq.cq_names[0].cn_name));
	t_refuse(is, &rq, now, "name without NUL");
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "a.example");
	memset(rq.cq_cn, 'c', sizeof(rq.cq_cn));
	t_refuse(is, &rq, now, "CN without NUL");
	t_req(&rq, 0, UINT64_MAX, "a\x01" "b", 1, CERT_NAME_DNS, "a.example");
	t_refuse(is, &rq, now, "CN with a control character");
	t_req(&rq, 0, UINT64_MAX, "a\xff" "b", 1, CERT_NAME_DNS, "a.example");
	t_refuse(is, &rq, now, "CN not UTF-8");
	t_req(&rq, 0, UINT64_MAX, "a\xc2\x85" "b", 1, CERT_NAME_DNS,
	    "a.example");
	t_refuse(is, &rq, now, "CN with a C1 control");

	/* The last of 32 names counts as much as the first. */
	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "a.example");
	for (i = 1; i < CERT_MAX_NAMES; i++) {
		rq.cq_names[i].cn_type = CERT_NAME_DNS;
		snprintf(rq.cq_names[i].cn_name, sizeof(rq.cq_names[i].cn_name),
		    "n%zu.example", i);
	}
	rq.cq_nnames = CERT_MAX_NAMES;
	CHECK(certd_req_check(&rq, what, sizeof(what)) == 0,
	    "32 names taken");
	snprintf(rq.cq_names[CERT_MAX_NAMES - 1].cn_name,
	    sizeof(rq.cq_names[0].cn_name), "bad..name.example");
	t_refuse(is, &rq, now, "the 32nd name bad");
	/* Garbage past the count is never read. */
	rq.cq_nnames = CERT_MAX_NAMES - 1;
	CHECK(certd_req_check(&rq, what, sizeof(what)) == 0,
	    "names past cq_nnames ignored");
}

static void
t_serials(struct certd_issuer *is, time_t now)
{
	struct certd_serials	 ss;
	struct cert_req		 rq;
	ASN1_INTEGER		*sn[T_MANY];
	uint8_t			 b[CERTD_SERIAL_BYTES];
	X509			*x;
	int			 i, j, dup = 0, n = 0, added = 0;

	t_req(&rq, 0, UINT64_MAX, "", 1, CERT_NAME_DNS, "same.example");
	for (i = 0; i < T_MANY; i++) {
		if ((x = t_issue(is, &rq, now)) == NULL)
			break;
		sn[n++] = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
		X509_free(x);
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (ASN1_INTEGER_cmp(sn[i], sn[j]) == 0)
				dup++;
	CHECK(n == T_MANY && dup == 0, "%d leaves for one name, %d serials "
	    "alike", n, dup);
	for (i = 0; i < n; i++)
		ASN1_INTEGER_free(sn[i]);
	CHECK(is->is_serials.ss_count >= (size_t)T_MANY,
	    "every serial recorded (%zu)", is->is_serials.ss_count);

	memset(&ss, 0, sizeof(ss));
	memset(b, 0, sizeof(b));
	CHECK(certd_serials_add(&ss, b) == 0, "serial set: zero never taken");
	for (i = 0; i < T_SET_MANY; i++) {
		b[0] = 1;
		b[CERTD_SERIAL_BYTES - 1] = (uint8_t)i;
		b[CERTD_SERIAL_BYTES - 2] = (uint8_t)(i >> 8);
		added += certd_serials_add(&ss, b);
	}
	CHECK(added == T_SET_MANY && ss.ss_count == T_SET_MANY,
	    "serial set: %d added through growth", added);
	b[CERTD_SERIAL_BYTES - 1] = 7;
	b[CERTD_SERIAL_BYTES - 2] = 0;
	CHECK(certd_serials_add(&ss, b) == 0 && ss.ss_count == T_SET_MANY,
	    "serial set: a serial given twice is refused");
	certd_serials_free(&ss);
}

static void
t_cache(void)
{
	struct certd_cache	 cc;
	uint8_t			 k[4][CERTD_KEYID_BYTES], dg[32], dg2[32];
	int			 i;

	certd_cache_init(&cc, 3);
	memset(dg, 1, sizeof(dg));
	memset(dg2, 2, sizeof(dg2));
	for (i = 0; i < 4; i++)
		memset(k[i], 'a' + i, sizeof(k[i]));
	for (i = 0; i < 3; i++)
		certd_cache_put(&cc, k[i], 1, dg, OPENSSL_malloc(10), 10, 1000);
	CHECK(certd_cache_get(&cc, k[0], 1, dg, 10) != NULL,
	    "cache: a hit");
	CHECK(certd_cache_get(&cc, k[0], 2, dg, 10) == NULL,
	    "cache: another generation misses");
	certd_cache_put(&cc, k[3], 1, dg, OPENSSL_malloc(10), 10, 1000);
	CHECK(cc.cc_count == 3 && certd_cache_get(&cc, k[1], 1, dg, 10) ==
	    NULL && certd_cache_get(&cc, k[0], 1, dg, 10) != NULL &&
	    certd_cache_get(&cc, k[2], 1, dg, 10) != NULL,
	    "cache: the least recently used evicted, not the oldest");
	CHECK(certd_cache_get(&cc, k[2], 1, dg2, 10) == NULL &&
	    cc.cc_count == 2, "cache: same key, another request: dropped");
	CHECK(certd_cache_get(&cc, k[3], 1, dg, 999) != NULL &&
	    certd_cache_get(&cc, k[3], 1, dg, 1000) == NULL &&
	    cc.cc_count == 1, "cache: expired at notAfter");
	CHECK(cc.cc_hits == 4 && cc.cc_misses == 4,
	    "cache: counted %llu hits, %llu misses",
	    (unsigned long long)cc.cc_hits, (unsigned long long)cc.cc_misses);
	certd_cache_flush(&cc);
	CHECK(cc.cc_count == 0 && TAILQ_EMPTY(&cc.cc_lru), "cache: flushed");
	certd_cache_init(&cc, 0);
	CHECK(certd_cache_put(&cc, k[0], 1, dg, OPENSSL_malloc(10), 10,
	    1000) == NULL, "cache: size 0 keeps nothing");
}

static X509 *
t_answer(struct certd *cd, const struct cert_req *rq, struct cert_rep *rep,
    const uint8_t **derp)
{
	const uint8_t	*der, *p;
	size_t		 len;

	certd_answer(cd, rq, 0, 1, rep, &der, &len);
	if (derp != NULL)
		*derp = der;
	if (der == NULL)
		return (NULL);
	p = der;
	return (d2i_X509(NULL, &p, (long)len));
}

/* The request path of a running certd: cache, refusals, rotation. */
static void
t_process(time_t now)
{
	static struct certd	 cd;
	struct cert_req		 a, b;
	struct cert_rep		 rep;
	struct ipc_status	 st;
	const uint8_t		*d1, *d2;
	EVP_PKEY		*old;
	X509			*x, *y;
	uint32_t		 gen;
	char			 fp[CERTD_FP_HEX];

	certd_init(&cd, NULL);
	t_ca(CA_KEY_ECDSA_P256, &cd.cd_ca);
	CHECK(certd_issuer_init(&cd.cd_issuer, &cd.cd_ca) == 0 &&
	    cd.cd_issuer.is_leaf.lf_gen != 0, "process: leaf key generation "
	    "%u", cd.cd_issuer.is_leaf.lf_gen);
	t_req(&a, now - T_DAY, now + 90 * T_DAY, "", 1, CERT_NAME_DNS,
	    "a.example");
	t_req(&b, now - T_DAY, now + 90 * T_DAY, "", 1, CERT_NAME_DNS,
	    "b.example");
	memset(b.cq_key, 0xb0, sizeof(b.cq_key));
	gen = cd.cd_issuer.is_leaf.lf_gen;

	x = t_answer(&cd, &a, &rep, &d1);
	CHECK(x != NULL && rep.crp_ok == 1 && rep.crp_keygen == gen &&
	    cd.cd_cache.cc_misses == 1 && cd.cd_issuer.is_issued == 1,
	    "process: first request issued, a miss");
	y = t_answer(&cd, &a, &rep, &d2);
	CHECK(y != NULL && X509_cmp(x, y) == 0 && d1 == d2 &&
	    cd.cd_cache.cc_hits == 1 && cd.cd_issuer.is_issued == 1,
	    "process: the same request, a hit, the same certificate");
	X509_free(y);
	/* Garbage behind the strings changes nothing. */
	memset(a.cq_names[0].cn_name + strlen("a.example") + 1, 'z', 10);
	a.cq_pad = 99;
	y = t_answer(&cd, &a, &rep, NULL);
	CHECK(y != NULL && X509_cmp(x, y) == 0 && cd.cd_cache.cc_hits == 2,
	    "process: bytes past a NUL do not make another request");
	X509_free(y);
	y = t_answer(&cd, &b, &rep, NULL);
	CHECK(y != NULL && X509_cmp(x, y) != 0 && cd.cd_cache.cc_misses == 2 &&
	    cd.cd_issuer.is_issued == 2, "process: another key, a miss");
	X509_free(y);
	/* The same cq_key asking for another name: never the cached one. */
	snprintf(b.cq_names[0].cn_name, sizeof(b.cq_names[0].cn_name),
	    "c.example");
	y = t_answer(&cd, &b, &rep, NULL);
	CHECK(y != NULL && t_verify(y, cd.cd_ca.ca_cert, "c.example", NULL) &&
	    cd.cd_issuer.is_issued == 3 && cd.cd_cache.cc_count == 2,
	    "process: same cq_key, other names: issued anew, replaced");
	X509_free(y);

	b.cq_nnames = 0;
	y = t_answer(&cd, &b, &rep, &d2);
	CHECK(y == NULL && d2 == NULL && rep.crp_ok == 0 &&
	    rep.crp_keygen == gen && cd.cd_refused == 1 &&
	    cd.cd_cache.cc_misses == 3, "process: refused, not a miss");

	certd_status(&cd, &st);
	CHECK(st.st_total == 3, "process: status counts %llu issued",
	    (unsigned long long)st.st_total);

	old = cd.cd_issuer.is_leaf.lf_key;
	EVP_PKEY_up_ref(old);
	memcpy(fp, cd.cd_issuer.is_leaf.lf_fp, sizeof(fp));
	certd_rotate(&cd);
	CHECK(cd.cd_issuer.is_leaf.lf_gen == gen + 1 ||
	    (gen == UINT32_MAX && cd.cd_issuer.is_leaf.lf_gen == 1),
	    "rotate: generation + 1");
	CHECK(EVP_PKEY_eq(old, cd.cd_issuer.is_leaf.lf_key) != 1 &&
	    strcmp(fp, cd.cd_issuer.is_leaf.lf_fp) != 0,
	    "rotate: a new key, a new fingerprint");
	CHECK(cd.cd_cache.cc_count == 0, "rotate: cache flushed");
	y = t_answer(&cd, &a, &rep, NULL);
	CHECK(y != NULL && rep.crp_keygen == cd.cd_issuer.is_leaf.lf_gen &&
	    EVP_PKEY_eq(X509_get0_pubkey(y), cd.cd_issuer.is_leaf.lf_key) ==
	    1 && X509_cmp(x, y) != 0 && cd.cd_issuer.is_issued == 4,
	    "rotate: the same request gets a leaf for the new key");
	CHECK(y != NULL && t_verify(y, cd.cd_ca.ca_cert, "a.example", NULL),
	    "rotate: and it verifies");
	X509_free(y);
	EVP_PKEY_free(old);
	X509_free(x);
	certd_free(&cd);
}

static void
t_leaf_key(struct certd_issuer *is)
{
	PKCS8_PRIV_KEY_INFO	*p8;
	EVP_PKEY		*k = NULL;
	const uint8_t		*p = is->is_leaf.lf_der;
	char			 grp[32];
	size_t			 n;

	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)is->is_leaf.lf_derlen);
	if (p8 != NULL)
		k = EVP_PKCS82PKEY(p8);
	CHECK(k != NULL && p == is->is_leaf.lf_der + is->is_leaf.lf_derlen,
	    "leaf key: PKCS#8 DER, %zu bytes", is->is_leaf.lf_derlen);
	CHECK(k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_group_name(k, grp, sizeof(grp), &n) == 1 &&
	    strcmp(grp, "prime256v1") == 0, "leaf key: ECDSA P-256");
	CHECK(k != NULL && EVP_PKEY_eq(k, is->is_leaf.lf_key) == 1,
	    "leaf key: the DER is the issuer's key");
	/* What the worker decodes it with (tlsworker/leaf.c). */
	EVP_PKEY_free(k);
	p = is->is_leaf.lf_der;
	k = d2i_AutoPrivateKey(NULL, &p, (long)is->is_leaf.lf_derlen);
	CHECK(k != NULL && EVP_PKEY_eq(k, is->is_leaf.lf_key) == 1,
	    "leaf key: d2i_AutoPrivateKey reads it");
	CHECK(strlen(is->is_leaf.lf_fp) == 64, "leaf key: fingerprint %s",
	    is->is_leaf.lf_fp);
	CHECK(EVP_PKEY_eq(is->is_leaf.lf_key, is->is_ca->ca_key) != 1,
	    "leaf key: not the CA key");
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(p8);
}

int
main(void)
{
	struct certd_ca		ec, rsa;
	struct certd_issuer	is;
	time_t			now = time(NULL);

	log_init("certd_leaf", 1);
	t_ca(CA_KEY_ECDSA_P256, &ec);
	t_ca(CA_KEY_RSA_3072, &rsa);

	CHECK(certd_issuer_init(&is, &ec) == 0, "ECDSA CA: issuer");
	t_leaf_key(&is);
	t_names(&is, now, "ECDSA");
	t_validity(&is, now);
	t_cn_fallback(&is, now);
	t_refusals(&is, now);
	t_serials(&is, now);
	certd_issuer_free(&is);

	CHECK(certd_issuer_init(&is, &rsa) == 0, "RSA CA: issuer");
	t_names(&is, now, "RSA");
	certd_issuer_free(&is);

	t_cache();
	t_process(now);
	certd_ca_free(&ec);
	certd_ca_free(&rsa);
	return (unit_done());
}
