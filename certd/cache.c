/*
 * certd's cache of signed leaves: at most cc_max entries, least recently
 * used evicted first, each dropped once its notAfter has passed. The key
 * is the worker's cq_key (SHA-256 of the upstream certificate and the
 * SNI) with the leaf key generation, so a rotation misses on everything
 * (and flushes anyway). A hash table finds an entry, a TAILQ keeps the
 * order of use. The worker chooses cq_key, so a hostile one could make
 * its entries share a bucket: at worst a lookup walks cc_max entries,
 * bounded and cheap beside a signature.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "certd/certd.h"

static size_t
cache_bucket(const uint8_t *key, uint32_t gen)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return ((size_t)(h ^ gen) & (CERTD_CACHE_BUCKETS - 1));
}

static void
cache_remove(struct certd_cache *cc, struct certd_cache_entry *ce)
{
	TAILQ_REMOVE(&cc->cc_lru, ce, ce_lru);
	LIST_REMOVE(ce, ce_hash);
	OPENSSL_free(ce->ce_der);
	free(ce);
	cc->cc_count--;
}

void
certd_cache_init(struct certd_cache *cc, size_t max)
{
	size_t i;

	memset(cc, 0, sizeof(*cc));
	TAILQ_INIT(&cc->cc_lru);
	for (i = 0; i < CERTD_CACHE_BUCKETS; i++)
		LIST_INIT(&cc->cc_buckets[i]);
	cc->cc_max = max;
}

static struct certd_cache_entry *
cache_find(struct certd_cache *cc, const uint8_t *key, uint32_t gen)
{
	struct certd_cache_entry *ce;

	LIST_FOREACH(ce, &cc->cc_buckets[cache_bucket(key, gen)], ce_hash)
		if (ce->ce_gen == gen &&
		    memcmp(ce->ce_key, key, sizeof(ce->ce_key)) == 0)
			return (ce);
	return (NULL);
}

const struct certd_cache_entry *
certd_cache_get(struct certd_cache *cc, const uint8_t *key, uint32_t gen,
    const uint8_t *digest, time_t now)
{
	struct certd_cache_entry *ce;

	if ((ce = cache_find(cc, key, gen)) != NULL &&
	    (ce->ce_not_after <= (int64_t)now ||
	    memcmp(ce->ce_digest, digest, sizeof(ce->ce_digest)) != 0)) {
		/* Expired, or another request under the same key. */
		cache_remove(cc, ce);
		ce = NULL;
	}
	if (ce == NULL) {
		cc->cc_misses++;
		return (NULL);
	}
	cc->cc_hits++;
	TAILQ_REMOVE(&cc->cc_lru, ce, ce_lru);
	TAILQ_INSERT_HEAD(&cc->cc_lru, ce, ce_lru);
	return (ce);
}

const struct certd_cache_entry *
certd_cache_put(struct certd_cache *cc, const uint8_t *key, uint32_t gen,
    const uint8_t *digest, uint8_t *der, size_t derlen, int64_t not_after)
{
	struct certd_cache_entry *ce;

	if ((ce = cache_find(cc, key, gen)) != NULL)
		cache_remove(cc, ce);
	if (cc->cc_max == 0 || (ce = calloc(1, sizeof(*ce))) == NULL) {
		OPENSSL_free(der);
		return (NULL);
	}
	/* One in, at most one out: the count never passes cc_max. */
	if (cc->cc_count >= cc->cc_max)
		cache_remove(cc, TAILQ_LAST(&cc->cc_lru, certd_cache_lru));
	memcpy(ce->ce_key, key, sizeof(ce->ce_key));
	memcpy(ce->ce_digest, digest, sizeof(ce->ce_digest));
	ce->ce_gen = gen;
	ce->ce_not_after = not_after;
	ce->ce_der = der;
	ce->ce_derlen = derlen;
	TAILQ_INSERT_HEAD(&cc->cc_lru, ce, ce_lru);
	LIST_INSERT_HEAD(&cc->cc_buckets[cache_bucket(key, gen)], ce,
	    ce_hash);
	cc->cc_count++;
	return (ce);
}

void
certd_cache_flush(struct certd_cache *cc)
{
	struct certd_cache_entry *ce, *next;

	for (ce = TAILQ_FIRST(&cc->cc_lru); ce != NULL; ce = next) {
		next = TAILQ_NEXT(ce, ce_lru);
		cache_remove(cc, ce);
	}
}
