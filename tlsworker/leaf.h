/*
 * Leaf certificates on a tlsworker: the channel to certd (IMSG_PEER with
 * ip_role ROLE_CERTD), the CA certificate and the leaf key certd sends on
 * it, the requests in flight keyed by request id, and a bounded LRU cache
 * of the leaves certd signed, keyed by the upstream certificate's hash and
 * the SNI (cert_req.cq_key) under the current key generation.
 *
 * Asynchronous and never blocking: leaf_get() answers at once from the
 * cache, or sends IMSG_CERT_REQ and calls back when IMSG_CERT_REP with
 * that request id arrives (or certd goes away). The caller bounds the
 * wait with its own timer and then calls leaf_cancel(). Cached leaves go
 * on serving while certd is down; a new key generation empties the cache.
 */
#ifndef MITMD_TW_LEAF_H
#define MITMD_TW_LEAF_H

#include <sys/queue.h>

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/proto.h"

struct event_base;
struct ipc_chan;
struct ipc_msg;

#define LEAF_CACHE_MAX	1024	/* leaves a worker keeps */
#define LEAF_BUCKETS	1024	/* hash buckets of the cache */
#define LEAF_PENDING_MAX 4096	/* requests in flight to certd */
#define LEAF_WAIT_SEC	5	/* how long a handshake waits for certd */

/* A leaf and its key; shared by the cache and the connections using it. */
struct leaf {
	uint8_t			 lf_key[32];
	uint32_t		 lf_gen;
	X509			*lf_cert;
	EVP_PKEY		*lf_pkey;
	int			 lf_refs;
	int			 lf_cached;
	TAILQ_ENTRY(leaf)	 lf_lru;
	LIST_ENTRY(leaf)	 lf_hash;
};

enum leaf_result {
	LEAF_HIT = 0,	/* *out is set, the caller holds a reference */
	LEAF_WAIT,	/* the callback comes later */
	LEAF_FAIL,	/* certd absent or the request could not go out */
};

/* leaf NULL: why says what failed. The callee owns the reference. */
typedef void leaf_cb(void *arg, struct leaf *, const char *why);

/* IMSG_PEER from master with the certd channel's fd: replaces the old
 * one (a respawned certd). 0, or -1 with the fd left to the caller. */
int	 leaf_peer(struct event_base *, int fd);
/* The messages certd sends, also driven by the unit test. */
void	 leaf_certd_msg(struct ipc_chan *, struct ipc_msg *, void *);
/* certd went away: fail every request in flight. */
void	 leaf_certd_gone(void);

int	 leaf_get(const struct cert_req *rq, leaf_cb *cb, void *arg,
	    struct leaf **out);
/* Forget the request made for arg, if any; its callback never comes. */
void	 leaf_cancel(void *arg);
void	 leaf_release(struct leaf *);
/* The CA certificate for the chain, or NULL before certd sent it. */
X509	*leaf_ca(void);

struct leaf_stats {
	uint64_t ls_hits;
	uint64_t ls_misses;
	uint64_t ls_failed;
	uint32_t ls_cached;
	uint32_t ls_pending;
	uint32_t ls_gen;
	int	 ls_certd;	/* a channel is open */
};
void	 leaf_stats(struct leaf_stats *);

#endif
