/*
 * What a worker's certificate request means, and whether certd takes it.
 * A struct cert_req comes from a tlsworker, the least trusted process that
 * talks to certd: every field is checked here before anything else reads
 * it (certd_req_check), and only then turned into the subject CN and the
 * subjectAltName of a leaf (certd_req_cn, certd_req_names) or digested
 * for the cache (certd_req_digest).
 *
 * The rules are strict on purpose: a name certd would have to guess about
 * (an underscore, a partial wildcard, an IP address with a zone) refuses
 * the whole request, and the worker decides what to do without a leaf.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>

#include "certd/certd.h"
#include "common/util.h"

#define REQ_IP_MAX	16	/* bytes of an IPv6 address */

/*
 * A name as it may appear in a log line: printable ASCII, other bytes
 * (and quotes) shown as '?', cut at CERTD_NAME_LOG_MAX. The text comes
 * from a worker; syslog must not get its control characters.
 */
static const char *
req_vis(const char *s, size_t max, char *buf, size_t bufsz)
{
	size_t	i;

	for (i = 0; i < max && s[i] != '\0' && i + 1 < bufsz &&
	    i < CERTD_NAME_LOG_MAX; i++)
		buf[i] = s[i] >= ' ' && s[i] <= '~' && s[i] != '"' &&
		    s[i] != '\\' ? s[i] : '?';
	buf[i] = '\0';
	return (buf);
}

/* Letters, digits, hyphen; and underscore, which real certificates carry
 * (service names such as _dmarc) and clients accept in SANs. */
static int
req_ldh(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_');
}

/*
 * A DNS name: labels of letters, digits, underscores and inner hyphens,
 * 1 to 63 bytes
 * each, joined by single dots, at most 253 bytes, no final dot; the
 * leftmost label may be "*" alone (a wildcard, kept as the upstream has
 * it). NULL if fine, else what is wrong.
 */
static const char *
req_dns_bad(const char *name)
{
	const char	*p = name, *label;
	size_t		 len = strlen(name), n;

	if (len == 0)
		return ("empty DNS name");
	if (len > CERTD_DNS_NAME_MAX)
		return ("DNS name longer than 253 bytes");
	if (p[0] == '*') {
		if (p[1] != '.' || p[2] == '\0')
			return ("a wildcard must be a whole leftmost label "
			    "followed by a name");
		p += 2;
	}
	for (;;) {
		for (label = p; *p != '\0' && *p != '.'; p++) {
			if (*p == '*')
				return ("a wildcard is only a whole leftmost "
				    "label");
			if (!req_ldh(*p))
				return ("not a letter, digit, hyphen, "
				    "underscore or dot in a DNS name");
		}
		n = (size_t)(p - label);
		if (n == 0)
			return ("empty label in a DNS name");
		if (n > CERTD_DNS_LABEL_MAX)
			return ("DNS label longer than 63 bytes");
		if (label[0] == '-' || label[n - 1] == '-')
			return ("DNS label begins or ends with a hyphen");
		if (*p == '\0')
			return (NULL);
		p++;
	}
}

/* The address of an IP name into buf: 4 or 16 bytes, or 0 if not one. */
static size_t
req_ip_parse(const char *name, uint8_t buf[REQ_IP_MAX])
{
	if (inet_pton(AF_INET, name, buf) == 1)
		return (4);
	if (inet_pton(AF_INET6, name, buf) == 1)
		return (16);
	return (0);
}

static int
req_name_check(const struct cert_name *cn, uint32_t i, char *why,
    size_t whysz)
{
	char		 vis[CERTD_NAME_LOG_MAX + 1];
	uint8_t		 ip[REQ_IP_MAX];
	const char	*bad = NULL;

	if (memchr(cn->cn_name, '\0', sizeof(cn->cn_name)) == NULL) {
		snprintf(why, whysz, "name %u is not NUL-terminated", i);
		return (-1);
	}
	switch (cn->cn_type) {
	case CERT_NAME_DNS:
		bad = req_dns_bad(cn->cn_name);
		break;
	case CERT_NAME_IP:
		if (req_ip_parse(cn->cn_name, ip) == 0)
			bad = "not an IPv4 or IPv6 address";
		break;
	default:
		snprintf(why, whysz, "name %u has unknown type %u", i,
		    cn->cn_type);
		return (-1);
	}
	if (bad == NULL)
		return (0);
	snprintf(why, whysz, "name %u \"%s\": %s", i, req_vis(cn->cn_name,
	    sizeof(cn->cn_name), vis, sizeof(vis)), bad);
	return (-1);
}

/* The CN text: NUL-terminated, valid UTF-8, no control character. It may
 * be empty (the first name is used then). */
static int
req_cn_check(const char *cn, size_t sz, char *why, size_t whysz)
{
	const unsigned char	*p = (const unsigned char *)cn;
	unsigned long		 c;
	size_t			 len;
	int			 n;

	if (memchr(cn, '\0', sz) == NULL) {
		snprintf(why, whysz, "the CN is not NUL-terminated");
		return (-1);
	}
	for (len = strlen(cn); len > 0; p += n, len -= (size_t)n) {
		n = UTF8_getc(p, (int)len, &c);
		if (n <= 0 || c < 0x20 || (c >= 0x7f && c < 0xa0)) {
			snprintf(why, whysz, "the CN is not UTF-8 text");
			return (-1);
		}
	}
	return (0);
}

int
certd_req_check(const struct cert_req *rq, char *why, size_t whysz)
{
	uint32_t i;

	if (rq->cq_nnames == 0) {
		snprintf(why, whysz, "no name");
		return (-1);
	}
	if (rq->cq_nnames > CERT_MAX_NAMES) {
		snprintf(why, whysz, "%u names, more than %d", rq->cq_nnames,
		    CERT_MAX_NAMES);
		return (-1);
	}
	if (rq->cq_not_before >= rq->cq_not_after) {
		snprintf(why, whysz, "upstream validity is empty: notBefore "
		    "%llu, notAfter %llu", (unsigned long long)
		    rq->cq_not_before, (unsigned long long)rq->cq_not_after);
		return (-1);
	}
	if (req_cn_check(rq->cq_cn, sizeof(rq->cq_cn), why, whysz) == -1)
		return (-1);
	for (i = 0; i < rq->cq_nnames; i++)
		if (req_name_check(&rq->cq_names[i], i, why, whysz) == -1)
			return (-1);
	return (0);
}

const char *
certd_req_cn(const struct cert_req *rq)
{
	size_t n = strlen(rq->cq_cn);

	if (n > 0 && n <= CERTD_CN_MAX)
		return (rq->cq_cn);
	if (strlen(rq->cq_names[0].cn_name) <= CERTD_CN_MAX)
		return (rq->cq_names[0].cn_name);
	return (NULL);
}

/* Is name i the same as an earlier one? DNS names compare without case,
 * addresses by value ("::1" and "0:0::1" are one). */
static int
req_name_dup(const struct cert_req *rq, uint32_t i)
{
	const struct cert_name	*a = &rq->cq_names[i], *b;
	uint8_t			 ia[REQ_IP_MAX], ib[REQ_IP_MAX];
	size_t			 na = 0;
	uint32_t		 j;

	if (a->cn_type == CERT_NAME_IP)
		na = req_ip_parse(a->cn_name, ia);
	for (j = 0; j < i; j++) {
		b = &rq->cq_names[j];
		if (b->cn_type != a->cn_type)
			continue;
		if (a->cn_type == CERT_NAME_DNS &&
		    strcasecmp(a->cn_name, b->cn_name) == 0)
			return (1);
		if (a->cn_type == CERT_NAME_IP &&
		    req_ip_parse(b->cn_name, ib) == na &&
		    memcmp(ia, ib, na) == 0)
			return (1);
	}
	return (0);
}

static int
req_push_name(GENERAL_NAMES *gens, const struct cert_name *cn)
{
	GENERAL_NAME	*gn;
	ASN1_STRING	*s = NULL;
	uint8_t		 ip[REQ_IP_MAX];
	size_t		 n;

	if ((gn = GENERAL_NAME_new()) == NULL)
		return (-1);
	if (cn->cn_type == CERT_NAME_DNS) {
		if ((s = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(s, cn->cn_name, (int)strlen(cn->cn_name)))
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	} else {
		if ((n = req_ip_parse(cn->cn_name, ip)) == 0 ||
		    (s = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(s, ip, (int)n))
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
	}
	if (sk_GENERAL_NAME_push(gens, gn) == 0) {
		GENERAL_NAME_free(gn);	/* frees s too */
		return (-1);
	}
	return (0);
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gn);
	return (-1);
}

GENERAL_NAMES *
certd_req_names(const struct cert_req *rq)
{
	GENERAL_NAMES	*gens;
	uint32_t	 i;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return (NULL);
	for (i = 0; i < rq->cq_nnames; i++) {
		if (req_name_dup(rq, i))
			continue;
		if (req_push_name(gens, &rq->cq_names[i]) == -1) {
			GENERAL_NAMES_free(gens);
			return (NULL);
		}
	}
	return (gens);
}

/*
 * A canonical copy (every byte past a NUL and every unused name zeroed,
 * the padding zeroed) digested whole: the bytes a worker leaves behind
 * the strings never make two equal requests differ.
 */
int
certd_req_digest(const struct cert_req *rq, uint8_t out[32])
{
	static struct cert_req	c;	/* 8 KiB: off the stack */
	uint32_t		i, n = MIN(rq->cq_nnames, CERT_MAX_NAMES);

	memset(&c, 0, sizeof(c));
	c.cq_not_before = rq->cq_not_before;
	c.cq_not_after = rq->cq_not_after;
	memcpy(c.cq_key, rq->cq_key, sizeof(c.cq_key));
	c.cq_nnames = n;
	memcpy(c.cq_cn, rq->cq_cn, strnlen(rq->cq_cn, sizeof(c.cq_cn) - 1));
	for (i = 0; i < n; i++) {
		c.cq_names[i].cn_type = rq->cq_names[i].cn_type;
		memcpy(c.cq_names[i].cn_name, rq->cq_names[i].cn_name,
		    strnlen(rq->cq_names[i].cn_name,
		    sizeof(c.cq_names[i].cn_name) - 1));
	}
	return (EVP_Digest(&c, sizeof(c), out, NULL, EVP_sha256(), NULL) ?
	    0 : -1);
}
