/*
 * The client ACL of the acceptor: the CIDR blocks of "allow from" lines.
 * master always sends the effective list (the default ranges when the
 * config has none), so an empty list here refuses everybody. IPv4-mapped
 * IPv6 clients (a dual-stack listener) match IPv4 blocks in cidr_match().
 */
#include <string.h>

#include "acceptor/acceptor.h"

void
acceptor_acl_clear(struct acceptor_acl *acl)
{
	memset(acl, 0, sizeof(*acl));
}

/* -1 when the list is full; master's parser enforces the same limit. */
int
acceptor_acl_add(struct acceptor_acl *acl, const struct conf_allow *ca)
{
	if (acl->aa_n >= CONF_MAX_ALLOW)
		return (-1);
	acl->aa_cidr[acl->aa_n] = ca->ca_cidr;
	acl->aa_line[acl->aa_n] = ca->ca_line;
	acl->aa_n++;
	return (0);
}

int
acceptor_acl_allows(const struct acceptor_acl *acl, const struct addr *a)
{
	size_t i;

	for (i = 0; i < acl->aa_n; i++)
		if (cidr_match(&acl->aa_cidr[i], a))
			return (1);
	return (0);
}
