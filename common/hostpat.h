/*
 * Host patterns of policy rules: an exact name ("pinned.example"), a suffix
 * ("*.apple.com" matches a.apple.com and a.b.apple.com, not apple.com), "*"
 * for any host, or a CIDR that matches IP-literal targets only.
 * Names compare case-insensitively and ignore one trailing dot.
 */
#ifndef MITMD_HOSTPAT_H
#define MITMD_HOSTPAT_H

#include "common/addr.h"

#define HOSTPAT_MAXLEN 255 /* a DNS name's longest text form */

enum hostpat_kind {
	HOSTPAT_ANY = 1,
	HOSTPAT_EXACT,
	HOSTPAT_SUFFIX,
	HOSTPAT_CIDR,
};

struct hostpat {
	uint32_t    hp_kind;
	struct cidr hp_cidr;			/* HOSTPAT_CIDR */
	char	    hp_name[HOSTPAT_MAXLEN + 1]; /* lower case, no trailing dot;
						  * for SUFFIX without "*." */
};

/* Parse a pattern as written in the config; -1 with *errstr set. */
int	hostpat_parse(const char *, struct hostpat *, const char **errstr);
/* Does the target host (a name or an IP literal, no brackets) match? */
int	hostpat_match(const struct hostpat *, const char *host);
/* The pattern as written back by `mitmd -nv`. */
const char *hostpat_str(const struct hostpat *, char *, size_t);

#endif
