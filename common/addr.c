/*
 * Socket addresses and CIDR blocks (common/addr.h). Master parses them from
 * the config, the acceptor matches client addresses against the ACL and the
 * tlsworker matches IP-literal targets against CIDR host patterns, so this
 * file must not allocate, open files or log: it runs inside every sandbox.
 *
 * An IPv4 address seen through a dual-stack IPv6 socket arrives as an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d). cidr_match treats both forms as
 * the same host, so neither an ACL nor a block rule can be sidestepped by
 * writing one form instead of the other.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"

#define ADDR_V4_LEN	  4
#define ADDR_V6_LEN	  16
#define ADDR_V4_BITS	  32
#define ADDR_V6_BITS	  128
#define ADDR_MAPPED_OFF	  12 /* where the IPv4 part of ::ffff:a.b.c.d starts */
#define CIDR_PREFIX_DIGITS 3  /* "128" */

static const uint8_t addr_mapped_prefix[ADDR_MAPPED_OFF] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

int
addr_from_sa(struct addr *a, const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;

	memset(a, 0, sizeof(*a));
	if (sa == NULL)
		return (-1);
	if (sa->sa_family == AF_INET && len >= sizeof(*sin)) {
		sin = (const struct sockaddr_in *)sa;
		a->a_family = AF_INET;
		a->a_port = ntohs(sin->sin_port);
		memcpy(a->a_ip, &sin->sin_addr, ADDR_V4_LEN);
		return (0);
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)sa;
		a->a_family = AF_INET6;
		a->a_port = ntohs(sin6->sin6_port);
		memcpy(a->a_ip, &sin6->sin6_addr, ADDR_V6_LEN);
		return (0);
	}
	a->a_family = AF_UNSPEC;
	return (-1);
}

socklen_t
addr_to_sa(const struct addr *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in  *sin;
	struct sockaddr_in6 *sin6;

	memset(ss, 0, sizeof(*ss));
	switch (a->a_family) {
	case AF_INET:
		sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->a_port);
		memcpy(&sin->sin_addr, a->a_ip, ADDR_V4_LEN);
		return (sizeof(*sin));
	case AF_INET6:
		sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->a_port);
		memcpy(&sin6->sin6_addr, a->a_ip, ADDR_V6_LEN);
		return (sizeof(*sin6));
	}
	return (0);
}

const char *
addr_str(const struct addr *a, int with_port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return (buf);
	if ((a->a_family != AF_INET && a->a_family != AF_INET6) ||
	    inet_ntop(a->a_family, a->a_ip, ip, sizeof(ip)) == NULL) {
		snprintf(buf, len, "?");
		return (buf);
	}
	if (!with_port)
		snprintf(buf, len, "%s", ip);
	else if (a->a_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->a_port);
	else
		snprintf(buf, len, "%s:%u", ip, (unsigned)a->a_port);
	return (buf);
}

int
addr_parse_ip(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	/* inet_pton refuses the odd IPv4 forms inet_aton takes ("1.2.3",
	 * "0x7f.1", octal), so a target can only be an IP one way. */
	if (inet_pton(AF_INET, s, a->a_ip) == 1) {
		a->a_family = AF_INET;
		return (0);
	}
	if (inet_pton(AF_INET6, s, a->a_ip) == 1) {
		a->a_family = AF_INET6;
		return (0);
	}
	memset(a, 0, sizeof(*a));
	a->a_family = AF_UNSPEC;
	return (-1);
}

static unsigned
cidr_bits(uint16_t family)
{
	return (family == AF_INET ? ADDR_V4_BITS : ADDR_V6_BITS);
}

/* Clear every bit past the prefix so equal blocks compare equal. */
static void
cidr_mask(struct cidr *c)
{
	unsigned i, bits = cidr_bits(c->c_family);

	for (i = c->c_prefix; i < bits; i++)
		c->c_ip[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	for (i = bits / 8; i < sizeof(c->c_ip); i++)
		c->c_ip[i] = 0;
}

int
cidr_parse(const char *s, struct cidr *c)
{
	char	     ip[INET6_ADDRSTRLEN];
	const char  *slash, *p;
	struct addr  a;
	size_t	     iplen;
	unsigned     prefix = 0;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	iplen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (iplen == 0 || iplen >= sizeof(ip))
		return (-1);
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (addr_parse_ip(ip, &a) == -1)
		return (-1);
	c->c_family = a.a_family;
	memcpy(c->c_ip, a.a_ip, sizeof(c->c_ip));
	if (slash == NULL) {
		c->c_prefix = (uint8_t)cidr_bits(c->c_family);
		return (0);
	}
	/* Decimal digits only: no sign, no spaces, no leading garbage. */
	p = slash + 1;
	if (*p == '\0' || strlen(p) > CIDR_PREFIX_DIGITS)
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > cidr_bits(c->c_family))
		goto bad;
	c->c_prefix = (uint8_t)prefix;
	cidr_mask(c);
	return (0);
bad:
	memset(c, 0, sizeof(*c));
	return (-1);
}

static int
cidr_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, rest = prefix % 8;
	uint8_t	 mask;

	if (memcmp(a, b, bytes) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (uint8_t)(0xff00u >> rest);
	return ((a[bytes] & mask) == (b[bytes] & mask));
}

int
cidr_match(const struct cidr *c, const struct addr *a)
{
	uint8_t ip[ADDR_V6_LEN];

	if (c->c_family == AF_INET) {
		if (a->a_family == AF_INET)
			return (cidr_prefix_eq(c->c_ip, a->a_ip, c->c_prefix));
		if (a->a_family == AF_INET6 && memcmp(a->a_ip,
		    addr_mapped_prefix, ADDR_MAPPED_OFF) == 0)
			return (cidr_prefix_eq(c->c_ip,
			    a->a_ip + ADDR_MAPPED_OFF, c->c_prefix));
		return (0);
	}
	if (c->c_family == AF_INET6) {
		if (a->a_family == AF_INET6)
			return (cidr_prefix_eq(c->c_ip, a->a_ip, c->c_prefix));
		if (a->a_family == AF_INET) {
			/* Compare the mapped form: ::ffff:0:0/96 and ::/0
			 * hold every IPv4 address, as they do on a dual-stack
			 * socket. */
			memcpy(ip, addr_mapped_prefix, ADDR_MAPPED_OFF);
			memcpy(ip + ADDR_MAPPED_OFF, a->a_ip, ADDR_V4_LEN);
			return (cidr_prefix_eq(c->c_ip, ip, c->c_prefix));
		}
	}
	return (0);
}

const char *
cidr_str(const struct cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return (buf);
	if ((c->c_family != AF_INET && c->c_family != AF_INET6) ||
	    inet_ntop(c->c_family, c->c_ip, ip, sizeof(ip)) == NULL)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s/%u", ip, (unsigned)c->c_prefix);
	return (buf);
}

int
addr_is_loopback(const struct addr *a)
{
	static const char *const blocks[] = { "127.0.0.0/8", "::1/128" };
	struct cidr	 c;
	size_t		 i;

	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		if (cidr_parse(blocks[i], &c) == 0 && cidr_match(&c, a))
			return (1);
	return (0);
}
