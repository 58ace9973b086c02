/*
 * certd: the only process that reads the CA key. It loads the CA from the
 * directory master hands it as an fd (<state>/ca, 0700, owned by certd's
 * user) or creates one there, keeps the key in memory, and signs leaf
 * certificates for the tlsworkers on request (leaf.c), behind an LRU cache
 * (cache.c), over one channel per worker (worker.c).
 *
 * Nothing in certd serialises the CA's private key except the one write of
 * a new key file in ca.c; no IPC message is ever built from it. What goes
 * out: the CA certificate, the leaf key (a separate ECDSA P-256 key, the
 * workers' to use) and the leaf certificates.
 */
#ifndef MITMD_CERTD_H
#define MITMD_CERTD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/proto.h"

#define CERTD_KEY_FILE		"ca.key"
#define CERTD_CERT_FILE		"ca.pem"
#define CERTD_KEY_TMP		"ca.key.new"
#define CERTD_CERT_TMP		"ca.pem.new"
#define CERTD_FILE_MAX		65536	/* bytes of ca.key or ca.pem read */
#define CERTD_KEY_MODE		0600
#define CERTD_CERT_MODE		0644
#define CERTD_CA_VALID_DAYS	3650	/* ten years */
#define CERTD_CA_BACKDATE_SEC	3600	/* clients with a slow clock */
#define CERTD_SERIAL_BYTES	16	/* 128 bits, top bit clear */
#define CERTD_RSA_BITS		3072
#define CERTD_CN_MAX		64	/* ub-common-name */
#define CERTD_CN_PREFIX		"mitmd CA "
#define CERTD_ORG		"mitmd"
#define CERTD_RANDOM_ID_BYTES	4	/* CN suffix without a hostname */
#define CERTD_SUBJECT_MAX	256	/* a subject name in a log line */

/* Leaf certificates. */
#define CERTD_LEAF_CURVE	"P-256"
#define CERTD_LEAF_BACKDATE_SEC	3600	/* clients with a slow clock */
#define CERTD_LEAF_MAX_DAYS	397	/* under the 398 days browsers take */
#define CERTD_DAY_SEC		86400
#define CERTD_DNS_NAME_MAX	253	/* RFC 1035, without the final dot */
#define CERTD_DNS_LABEL_MAX	63
#define CERTD_SERIAL_TRIES	8	/* draws before giving up on a serial */
#define CERTD_SERIALS_INIT	1024	/* first size of the serial set */
#define CERTD_WHY_MAX		160	/* a refusal reason */
#define CERTD_NAME_LOG_MAX	80	/* bytes of a name quoted in a reason */
#define CERTD_FP_HEX		(2 * 32 + 1)	/* SHA-256 in hex, NUL */
#define CERTD_KEYID_BYTES	32	/* cq_key: SHA-256 */

/* The cache. */
#define CERTD_CACHE_MAX		4096	/* certificates kept */
#define CERTD_CACHE_BUCKETS	8192	/* a power of two */

/* Refusal lines logged per second at most; the rest are counted. */
#define CERTD_REFUSE_LOG_BURST	10

struct certd_ca {
	EVP_PKEY *ca_key;
	X509	 *ca_cert;
	char	 *ca_pem;	/* the certificate alone, re-encoded */
	size_t	  ca_pemlen;
	int	  ca_created;	/* made by this run */
};

/*
 * Load the CA from dirfd, or create it when the directory holds no key.
 * keytype is an enum conf_ca_key and only matters for a new CA. Errors are
 * logged with log_warnx, naming the file and what to do; -1 then. Never
 * replaces an existing key. Runs after chroot (dirfd reaches outside it)
 * and before seccomp.
 */
int	certd_ca_load_or_create(int dirfd, uint32_t keytype, struct certd_ca *);
void	certd_ca_free(struct certd_ca *);

/*
 * The serials of every certificate signed in this lifetime (and the CA's
 * own), so none is ever given twice: an open-addressing set of the
 * CERTD_SERIAL_BYTES random bytes, never zero, grown by doubling. It
 * costs 2 * CERTD_SERIAL_BYTES bytes or less per certificate issued.
 */
struct certd_serials {
	uint8_t	(*ss_slots)[CERTD_SERIAL_BYTES];
	size_t	  ss_size;	/* slots, a power of two */
	size_t	  ss_count;
};

/* 1 added, 0 already there, -1 out of memory. */
int	certd_serials_add(struct certd_serials *,
	    const uint8_t[CERTD_SERIAL_BYTES]);
void	certd_serials_free(struct certd_serials *);

/* The leaf key and its generation, as sent to the workers. */
struct certd_leafkey {
	EVP_PKEY *lf_key;
	uint8_t	 *lf_der;	/* PKCS#8 DER, cleansed when freed */
	size_t	  lf_derlen;
	uint32_t  lf_gen;
	char	  lf_fp[CERTD_FP_HEX];	/* SHA-256 of the public key */
};

/* Everything leaf issuance needs; the CA is borrowed, not owned. */
struct certd_issuer {
	const struct certd_ca	*is_ca;
	int64_t			 is_ca_not_before;	/* seconds */
	int64_t			 is_ca_not_after;
	struct certd_leafkey	 is_leaf;
	struct certd_serials	 is_serials;
	uint64_t		 is_issued;
};

/*
 * Start issuing for ca: reads its validity, records its serial and makes
 * the first leaf key. The first generation is random (never 0), so that a
 * respawned certd never reuses the number of a key the workers may still
 * hold; each rotation adds one. -1 with a log line on failure.
 */
int	certd_issuer_init(struct certd_issuer *, const struct certd_ca *);
/* A new leaf key, generation + 1; on failure the old key stays, -1. */
int	certd_issuer_rotate(struct certd_issuer *);
void	certd_issuer_free(struct certd_issuer *);

/*
 * Check a request from a worker field by field: 0, or -1 with the reason
 * in why (printable, names quoted with their non-printable bytes escaped).
 */
int	certd_req_check(const struct cert_req *, char *why, size_t whysz);
/* The subject CN a checked request gets: cq_cn, else the first name,
 * whichever fits CERTD_CN_MAX first; NULL when none does (the subject is
 * then empty and the SAN extension critical, RFC 5280 4.2.1.6). */
const char *certd_req_cn(const struct cert_req *);
/* The SANs of a checked request, in its order, duplicates left out. */
GENERAL_NAMES *certd_req_names(const struct cert_req *);
/* A digest of what a request asks for (names, CN, validity, key): two
 * requests with the same digest get the same certificate. */
int	certd_req_digest(const struct cert_req *, uint8_t out[32]);
/*
 * Check the request and sign a leaf for it at time now with the current
 * leaf key. 0: *der (OPENSSL_malloc'd, the caller frees it) and its
 * notAfter; -1: refused, the reason in why.
 */
int	certd_leaf_issue(struct certd_issuer *, const struct cert_req *,
	    time_t now, uint8_t **der, size_t *derlen, int64_t *not_after,
	    char *why, size_t whysz);

/*
 * The LRU cache of signed leaves, keyed by the worker's cq_key and the key
 * generation. An entry also holds the digest of the request it answered:
 * a request with the same cq_key that asks for something else (a worker
 * bug) misses and replaces it, so a cached answer always fits its request.
 */
struct certd_cache_entry {
	TAILQ_ENTRY(certd_cache_entry) ce_lru;	/* most recent first */
	LIST_ENTRY(certd_cache_entry)  ce_hash;
	uint8_t		 ce_key[CERTD_KEYID_BYTES];
	uint8_t		 ce_digest[32];
	uint32_t	 ce_gen;
	int64_t		 ce_not_after;
	uint8_t		*ce_der;
	size_t		 ce_derlen;
};

struct certd_cache {
	TAILQ_HEAD(certd_cache_lru, certd_cache_entry) cc_lru;
	LIST_HEAD(certd_cache_bucket, certd_cache_entry)
			 cc_buckets[CERTD_CACHE_BUCKETS];
	size_t		 cc_count;
	size_t		 cc_max;
	uint64_t	 cc_hits;
	uint64_t	 cc_misses;
};

void	certd_cache_init(struct certd_cache *, size_t max);
/* The entry for (key, gen) fitting digest and not expired at now, made the
 * most recent; counts a hit or a miss. */
const struct certd_cache_entry *certd_cache_get(struct certd_cache *,
	    const uint8_t *key, uint32_t gen, const uint8_t *digest,
	    time_t now);
/* Insert, evicting the least recently used past cc_max. Takes der (an
 * OPENSSL_malloc'd buffer) whatever the outcome; NULL if out of memory. */
const struct certd_cache_entry *certd_cache_put(struct certd_cache *,
	    const uint8_t *key, uint32_t gen, const uint8_t *digest,
	    uint8_t *der, size_t derlen, int64_t not_after);
void	certd_cache_flush(struct certd_cache *);

struct event_base;
struct ipc_chan;

/* The process: its CA, issuer, cache and one channel per worker slot. */
struct certd;

struct certd_worker {
	struct certd	*cw_cd;
	struct ipc_chan	*cw_chan;	/* NULL: no worker in this slot */
	uint32_t	 cw_index;
	uint32_t	 cw_pid;
};

struct certd {
	struct event_base	*cd_base;
	struct conf_global	 cd_global;
	struct conf_global	 cd_next_global;
	struct certd_ca		 cd_ca;
	struct certd_issuer	 cd_issuer;
	struct certd_cache	 cd_cache;
	struct certd_worker	 cd_workers[CONF_MAX_WORKERS];
	uint64_t		 cd_refused;
	uint64_t		 cd_logged_total;	/* status last logged */
	uint64_t		 cd_log_sec;	/* refusal log window */
	uint32_t		 cd_log_count;
	uint32_t		 cd_log_dropped;
};

/* Set up the slots; the CA and the issuer are the caller's to fill. */
void	certd_init(struct certd *, struct event_base *);
/* IMSG_PEER from master: a worker's channel (takes fd), replacing the
 * slot's old one; the CA certificate and the leaf key go out at once. */
void	certd_worker_attach(struct certd *, const struct ipc_peer *, int fd);
void	certd_worker_drop(struct certd_worker *, const char *why);
/* IMSG_CA_ROTATE: a new leaf key to every worker, the cache flushed. */
void	certd_rotate(struct certd *);
/* The answer to one request, as certd_worker's dispatch sends it: fills
 * rep and points der at the certificate (in the cache) when issued. */
void	certd_answer(struct certd *, const struct cert_req *, uint32_t index,
	    uint32_t reqid, struct cert_rep *rep, const uint8_t **der,
	    size_t *derlen);
void	certd_status(struct certd *, struct ipc_status *);
/* Every channel closed, the cache, issuer and CA freed. */
void	certd_free(struct certd *);

/* ca.c: the most recent OpenSSL error as text, for a log line; clears
 * OpenSSL's error queue. */
const char *certd_sslerr(void);

#endif
