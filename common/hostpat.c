/*
 * Host patterns of policy rules (common/hostpat.h). master parses them from
 * the config; the tlsworker matches every CONNECT and absolute-form target
 * against the rules it received, so hostpat_match runs in the sandbox on
 * untrusted input: no allocation, bounded work, and the target is only
 * compared, never trusted to be a valid name.
 *
 * A name pattern never matches an IP-literal target and an IP pattern never
 * matches a name: the worker has not resolved the name when the policy is
 * decided, and "*.example.com" must not catch "10.0.0.1" by accident.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/hostpat.h"

#define HOSTPAT_LABEL_MAX 63	 /* octets of one DNS label */
#define HOSTPAT_V4_BITS	  32	 /* the prefix of an exact address */
#define HOSTPAT_V6_BITS	  128
#define HOSTPAT_WILD	  "*."	 /* the prefix of a suffix pattern */
#define HOSTPAT_WILD_LEN  2

/* Letters, digits, '-' and '_' (seen in real names, e.g. SRV-style and
 * some CDN host names); '.' separates labels. */
static int
hostpat_namechar(int c)
{
	return (isascii(c) && (isalnum(c) || c == '-' || c == '_'));
}

/* Check a lower-cased name without a trailing dot. */
static int
hostpat_check_name(const char *name, const char **errstr)
{
	const char *p, *label = name;

	if (*name == '\0') {
		*errstr = "empty host name";
		return (-1);
	}
	for (p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label) {
				*errstr = "empty label in host name";
				return (-1);
			}
			if (p - label > HOSTPAT_LABEL_MAX) {
				*errstr = "label longer than 63 characters";
				return (-1);
			}
			if (*p == '\0')
				return (0);
			label = p + 1;
			continue;
		}
		if (*p == '*') {
			*errstr = "'*' may only stand alone or begin the "
			    "pattern as '*.'";
			return (-1);
		}
		if (!hostpat_namechar((unsigned char)*p)) {
			*errstr = "invalid character in host name";
			return (-1);
		}
	}
}

/* An IP literal, possibly an IPv6 one in brackets: an exact IP pattern. */
static int
hostpat_parse_ip(const char *s, struct hostpat *hp)
{
	char	    ip[HOSTPAT_MAXLEN + 1];
	size_t	    len = strlen(s);
	struct addr a;

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		memcpy(ip, s + 1, len - 2);
		ip[len - 2] = '\0';
		if (strchr(ip, ':') == NULL)
			return (-1);
	} else
		memcpy(ip, s, len + 1);
	if (addr_parse_ip(ip, &a) == -1)
		return (-1);
	hp->hp_kind = HOSTPAT_EXACT;
	/* A full-length block: hostpat_match compares addresses, so ::1 and
	 * 0::1 are the same pattern. */
	hp->hp_cidr.c_family = a.a_family;
	hp->hp_cidr.c_prefix = a.a_family == AF_INET ? HOSTPAT_V4_BITS :
	    HOSTPAT_V6_BITS;
	memcpy(hp->hp_cidr.c_ip, a.a_ip, sizeof(hp->hp_cidr.c_ip));
	cidr_str(&hp->hp_cidr, hp->hp_name, sizeof(hp->hp_name));
	*strchr(hp->hp_name, '/') = '\0';
	return (0);
}

static int
hostpat_parse_cidr(const char *s, struct hostpat *hp, const char **errstr)
{
	struct cidr exact;
	char	    ip[HOSTPAT_MAXLEN + 1];
	size_t	    len = strcspn(s, "/");

	if (cidr_parse(s, &hp->hp_cidr) == -1) {
		*errstr = "invalid CIDR block";
		return (-1);
	}
	/* cidr_parse drops the bits past the prefix; a pattern that had
	 * some is most likely a typo for another prefix length. */
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (cidr_parse(ip, &exact) == -1 || memcmp(exact.c_ip,
	    hp->hp_cidr.c_ip, sizeof(exact.c_ip)) != 0) {
		*errstr = "CIDR block has bits set past its prefix length";
		return (-1);
	}
	hp->hp_kind = HOSTPAT_CIDR;
	return (0);
}

int
hostpat_parse(const char *s, struct hostpat *hp, const char **errstr)
{
	char   name[HOSTPAT_MAXLEN + 1] = "";
	size_t len, i;

	memset(hp, 0, sizeof(*hp));
	*errstr = NULL;
	len = strlen(s);
	if (len == 0) {
		*errstr = "empty host pattern";
		return (-1);
	}
	if (len > HOSTPAT_MAXLEN) {
		*errstr = "host pattern longer than 255 characters";
		return (-1);
	}
	if (strchr(s, '/') != NULL)
		return (hostpat_parse_cidr(s, hp, errstr));

	for (i = 0; i <= len; i++)
		name[i] = (char)tolower((unsigned char)s[i]);
	/* One trailing dot is the root: "example.com." is "example.com";
	 * but "*." is a suffix pattern without its suffix. */
	if (len > 1 && name[len - 1] == '.' && strcmp(name, "*.") != 0)
		name[--len] = '\0';
	/* Before the name checks: "1.2.3.4." is the address, not a name
	 * that no IP-literal target could ever match. */
	if (hostpat_parse_ip(name, hp) == 0)
		return (0);
	memset(hp, 0, sizeof(*hp));
	if (strcmp(name, "*") == 0) {
		hp->hp_kind = HOSTPAT_ANY;
		return (0);
	}
	if (strncmp(name, HOSTPAT_WILD, HOSTPAT_WILD_LEN) == 0) {
		if (hostpat_check_name(name + HOSTPAT_WILD_LEN, errstr) == -1)
			goto bad;
		hp->hp_kind = HOSTPAT_SUFFIX;
		memcpy(hp->hp_name, name + HOSTPAT_WILD_LEN,
		    len - HOSTPAT_WILD_LEN + 1);
		return (0);
	}
	if (hostpat_check_name(name, errstr) == -1)
		goto bad;
	hp->hp_kind = HOSTPAT_EXACT;
	memcpy(hp->hp_name, name, len + 1);
	return (0);
bad:
	memset(hp, 0, sizeof(*hp));
	return (-1);
}

/* Case-insensitive compare of the target's tail against a lower-case
 * pattern name of plen bytes. */
static int
hostpat_tail_eq(const char *host, size_t hlen, const char *pat, size_t plen)
{
	size_t i;

	if (hlen < plen)
		return (0);
	host += hlen - plen;
	for (i = 0; i < plen; i++)
		if (tolower((unsigned char)host[i]) != pat[i])
			return (0);
	return (1);
}

int
hostpat_match(const struct hostpat *hp, const char *host)
{
	char	    name[HOSTPAT_MAXLEN + 1];
	struct addr a;
	size_t	    hlen, plen;
	int	    is_ip;

	if (host == NULL)
		return (0);
	hlen = strnlen(host, HOSTPAT_MAXLEN + 2);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0 || hlen > HOSTPAT_MAXLEN)
		return (hp->hp_kind == HOSTPAT_ANY);
	/* Without its trailing dot, so "1.2.3.4." is the address and not a
	 * name that would slip past an address rule. */
	memcpy(name, host, hlen);
	name[hlen] = '\0';
	is_ip = addr_parse_ip(name, &a) == 0;
	switch (hp->hp_kind) {
	case HOSTPAT_ANY:
		return (1);
	case HOSTPAT_CIDR:
		return (is_ip && cidr_match(&hp->hp_cidr, &a));
	case HOSTPAT_EXACT:
		if (hp->hp_cidr.c_family != AF_UNSPEC)
			return (is_ip && cidr_match(&hp->hp_cidr, &a));
		break;
	case HOSTPAT_SUFFIX:
		break;
	default:
		return (0);
	}
	if (is_ip)
		return (0);
	plen = strlen(hp->hp_name);
	if (hp->hp_kind == HOSTPAT_EXACT)
		return (hlen == plen &&
		    hostpat_tail_eq(name, hlen, hp->hp_name, plen));
	/* Strictly below the suffix: at least one label and a dot before. */
	return (hlen > plen + 1 && name[hlen - plen - 1] == '.' &&
	    hostpat_tail_eq(name, hlen, hp->hp_name, plen));
}

const char *
hostpat_str(const struct hostpat *hp, char *buf, size_t len)
{
	if (len == 0)
		return (buf);
	switch (hp->hp_kind) {
	case HOSTPAT_ANY:
		snprintf(buf, len, "*");
		break;
	case HOSTPAT_EXACT:
		snprintf(buf, len, "%s", hp->hp_name);
		break;
	case HOSTPAT_SUFFIX:
		snprintf(buf, len, "%s%s", HOSTPAT_WILD, hp->hp_name);
		break;
	case HOSTPAT_CIDR:
		cidr_str(&hp->hp_cidr, buf, len);
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
	return (buf);
}
