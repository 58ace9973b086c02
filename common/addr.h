/*
 * Socket addresses and CIDR blocks: parse, print, match. Shared by master
 * (config), acceptor (client ACL) and tlsworker (policy on IP literals).
 */
#ifndef MITMD_ADDR_H
#define MITMD_ADDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[2001:db8::1]:443" at most, with the NUL. */
#define ADDR_STRLEN 64

/* A socket address small enough to copy into IPC payloads. */
struct addr {
	uint16_t a_family; /* AF_INET, AF_INET6 or AF_UNSPEC */
	uint16_t a_port;   /* host order */
	uint8_t	 a_ip[16]; /* network order; first 4 bytes for AF_INET */
};

struct cidr {
	uint16_t c_family;
	uint8_t	 c_prefix; /* 0..32 or 0..128 */
	uint8_t	 c_pad;
	uint8_t	 c_ip[16];
};

/* Fill an addr from a sockaddr; -1 for other families. */
int	 addr_from_sa(struct addr *, const struct sockaddr *, socklen_t);
/* Build a sockaddr_storage from an addr; returns its length. */
socklen_t addr_to_sa(const struct addr *, struct sockaddr_storage *);
/* "1.2.3.4:80" or "[::1]:80"; with_port 0 leaves the port out. */
const char *addr_str(const struct addr *, int with_port, char *, size_t);
/* Parse an IPv4 or IPv6 literal (no brackets, no port); -1 if not one. */
int	 addr_parse_ip(const char *, struct addr *);

/* Parse "10.0.0.0/8", "::1/128" or a bare address (full prefix). */
int	 cidr_parse(const char *, struct cidr *);
/* 1 if the address lies in the block. IPv4-mapped IPv6 addresses match
 * IPv4 blocks. */
int	 cidr_match(const struct cidr *, const struct addr *);
const char *cidr_str(const struct cidr *, char *, size_t);
/* 1 for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
int	 addr_is_loopback(const struct addr *);

#endif
