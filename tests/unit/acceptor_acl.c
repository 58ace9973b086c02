/*
 * Unit test of the acceptor's client ACL (acceptor/acl.c): an empty list
 * refuses everybody, blocks of both families match, IPv4-mapped IPv6
 * clients match IPv4 blocks, the list has a fixed capacity.
 */
#include <stdio.h>
#include <string.h>

#include "acceptor/acceptor.h"
#include "tests/unit/unit.h"


static void
add(struct acceptor_acl *acl, const char *s)
{
	struct conf_allow ca;

	memset(&ca, 0, sizeof(ca));
	if (cidr_parse(s, &ca.ca_cidr) == -1) {
		printf("# cannot parse %s\n", s);
		t_fail++;
		return;
	}
	acceptor_acl_add(acl, &ca);
}

static int
allows(const struct acceptor_acl *acl, const char *ip)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	if (addr_parse_ip(ip, &a) == -1) {
		printf("# cannot parse %s\n", ip);
		return (-1);
	}
	return (acceptor_acl_allows(acl, &a));
}

int
main(void)
{
	struct acceptor_acl acl;
	struct conf_allow ca;
	size_t	 i;
	int	 full;

	acceptor_acl_clear(&acl);
	ok(allows(&acl, "127.0.0.1") == 0, "empty list refuses loopback");
	ok(allows(&acl, "::1") == 0, "empty list refuses ::1");

	add(&acl, "127.0.0.0/8");
	add(&acl, "10.0.0.0/8");
	add(&acl, "fd00::/8");
	ok(allows(&acl, "127.0.0.1") == 1, "v4 in block");
	ok(allows(&acl, "10.200.3.4") == 1, "v4 in second block");
	ok(allows(&acl, "11.0.0.1") == 0, "v4 outside");
	ok(allows(&acl, "fd12::1") == 1, "v6 in block");
	ok(allows(&acl, "2001:db8::1") == 0, "v6 outside");
	ok(allows(&acl, "::ffff:10.1.2.3") == 1, "v4-mapped v6 matches v4");
	ok(allows(&acl, "::ffff:8.8.8.8") == 0, "v4-mapped v6 outside");

	acceptor_acl_clear(&acl);
	add(&acl, "0.0.0.0/0");
	ok(allows(&acl, "8.8.8.8") == 1, "0/0 allows any v4");
	ok(allows(&acl, "2001:db8::1") == 0, "0/0 is v4 only");

	acceptor_acl_clear(&acl);
	memset(&ca, 0, sizeof(ca));
	cidr_parse("192.0.2.1", &ca.ca_cidr);
	full = 0;
	for (i = 0; i < CONF_MAX_ALLOW + 1; i++)
		if (acceptor_acl_add(&acl, &ca) == -1)
			full++;
	ok(full == 1 && acl.aa_n == CONF_MAX_ALLOW, "capacity enforced");
	ok(allows(&acl, "192.0.2.1") == 1, "bare address is a /32");
	ok(allows(&acl, "192.0.2.2") == 0, "bare address: neighbour refused");

	return (unit_done());
}
