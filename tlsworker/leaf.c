/*
 * The worker's side of leaf issuance (see leaf.h). certd is more
 * privileged than a worker, but its answers are still checked: the
 * certificate must parse and match the leaf key of its generation before
 * a client ever sees it. A reply to a request nobody waits for any more
 * (the client left, the wait timed out) is dropped by its request id.
 *
 * Connections that want the same leaf while a request for it is out
 * (a browser opens several connections to a new host at once) wait on
 * that request instead of sending their own: one entry per waiter, the
 * first holds the request id, and hands it to another waiter when it is
 * cancelled.
 */
#include <sys/queue.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "common/log.h"
#include "tlsworker/leaf.h"

struct leaf_req {
	TAILQ_ENTRY(leaf_req)	 lr_entry;
	uint32_t		 lr_reqid;	/* 0: waits on another's */
	int			 lr_retried;
	void			*lr_arg;
	leaf_cb			*lr_cb;
	struct cert_req		 lr_req;
};

struct leaf_env {
	int			 lv_init;
	struct ipc_chan		*lv_certd;
	X509			*lv_ca;
	EVP_PKEY		*lv_pkey;	/* leaf key of generation lv_gen */
	uint32_t		 lv_gen;
	TAILQ_HEAD(leaf_lru_head, leaf) lv_lru; /* most recent first */
	LIST_HEAD(leaf_bucket, leaf) lv_bucket[LEAF_BUCKETS];
	uint32_t		 lv_ncached;
	TAILQ_HEAD(leaf_req_head, leaf_req) lv_pending;
	uint32_t		 lv_npending;
	uint32_t		 lv_reqid;
	uint64_t		 lv_hits;
	uint64_t		 lv_misses;
	uint64_t		 lv_failed;
};

static struct leaf_env lv;

static void	leaf_certd_error(struct ipc_chan *, int, const char *, void *);

static void
leaf_init(void)
{
	size_t	 i;

	if (lv.lv_init)
		return;
	TAILQ_INIT(&lv.lv_lru);
	TAILQ_INIT(&lv.lv_pending);
	for (i = 0; i < LEAF_BUCKETS; i++)
		LIST_INIT(&lv.lv_bucket[i]);
	lv.lv_init = 1;
}

/* cq_key is a SHA-256: its first bytes are as good as any hash. */
static size_t
leaf_bucket(const uint8_t key[32])
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h % LEAF_BUCKETS;
}

void
leaf_release(struct leaf *lf)
{
	if (lf == NULL || --lf->lf_refs > 0)
		return;
	X509_free(lf->lf_cert);
	EVP_PKEY_free(lf->lf_pkey);
	free(lf);
}

static void
leaf_uncache(struct leaf *lf)
{
	TAILQ_REMOVE(&lv.lv_lru, lf, lf_lru);
	LIST_REMOVE(lf, lf_hash);
	lf->lf_cached = 0;
	lv.lv_ncached--;
	leaf_release(lf);
}

static void
leaf_flush(void)
{
	struct leaf	*lf, *next;

	for (lf = TAILQ_FIRST(&lv.lv_lru); lf != NULL; lf = next) {
		next = TAILQ_NEXT(lf, lf_lru);
		leaf_uncache(lf);
	}
}

static void
leaf_cache_add(struct leaf *lf)
{
	if (lv.lv_ncached >= LEAF_CACHE_MAX)
		leaf_uncache(TAILQ_LAST(&lv.lv_lru, leaf_lru_head));
	TAILQ_INSERT_HEAD(&lv.lv_lru, lf, lf_lru);
	LIST_INSERT_HEAD(&lv.lv_bucket[leaf_bucket(lf->lf_key)], lf, lf_hash);
	lf->lf_cached = 1;
	lf->lf_refs++;
	lv.lv_ncached++;
}

static struct leaf *
leaf_cache_find(const uint8_t key[32])
{
	struct leaf	*lf;

	for (lf = LIST_FIRST(&lv.lv_bucket[leaf_bucket(key)]); lf != NULL;
	    lf = LIST_NEXT(lf, lf_hash))
		if (lf->lf_gen == lv.lv_gen &&
		    memcmp(lf->lf_key, key, sizeof(lf->lf_key)) == 0)
			return lf;
	return NULL;
}

int
leaf_peer(struct event_base *base, int fd)
{
	struct ipc_chan	*c;

	leaf_init();
	c = ipc_chan_new(base, fd, ROLE_CERTD, leaf_certd_msg,
	    leaf_certd_error, NULL);
	if (c == NULL) {
		log_warn("certd channel");
		return -1;
	}
	/* Requests sent on the old channel get no answer now. */
	if (lv.lv_certd != NULL) {
		ipc_chan_free(lv.lv_certd);
		lv.lv_certd = NULL;
		leaf_certd_gone();
	}
	lv.lv_certd = c;
	log_debug("certd channel open");
	return 0;
}

static void
leaf_certd_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	(void)arg;
	if (err == IPC_ERR_EOF)
		log_info("certd channel closed");
	else
		log_warnx("certd channel: %s", why);
	if (c == lv.lv_certd)
		lv.lv_certd = NULL;
	ipc_chan_free(c);
	leaf_certd_gone();
}

void
leaf_certd_gone(void)
{
	struct leaf_req	*lr;

	leaf_init();
	while ((lr = TAILQ_FIRST(&lv.lv_pending)) != NULL) {
		TAILQ_REMOVE(&lv.lv_pending, lr, lr_entry);
		lv.lv_npending--;
		lv.lv_failed++;
		/* Out of the list first: the callback may cancel. */
		lr->lr_cb(lr->lr_arg, NULL, "certd unavailable");
		free(lr);
	}
}

static int
leaf_send(struct leaf_req *lr)
{
	if (lv.lv_certd == NULL)
		return -1;
	if (++lv.lv_reqid == 0)
		lv.lv_reqid = 1;
	lr->lr_reqid = lv.lv_reqid;
	return ipc_send_cert_req(lv.lv_certd, lr->lr_reqid, -1, &lr->lr_req);
}

/* The entry that holds the request for this key, or NULL. */
static struct leaf_req *
leaf_req_find(const uint8_t key[32])
{
	struct leaf_req	*lr;

	for (lr = TAILQ_FIRST(&lv.lv_pending); lr != NULL;
	    lr = TAILQ_NEXT(lr, lr_entry))
		if (lr->lr_reqid != 0 &&
		    memcmp(lr->lr_req.cq_key, key, sizeof(lr->lr_req.cq_key)) == 0)
			return lr;
	return NULL;
}

int
leaf_get(const struct cert_req *rq, leaf_cb *cb, void *arg, struct leaf **out)
{
	struct leaf_req	*lr;
	struct leaf	*lf;

	leaf_init();
	*out = NULL;
	if (lv.lv_pkey != NULL && (lf = leaf_cache_find(rq->cq_key)) != NULL) {
		lv.lv_hits++;
		TAILQ_REMOVE(&lv.lv_lru, lf, lf_lru);
		TAILQ_INSERT_HEAD(&lv.lv_lru, lf, lf_lru);
		lf->lf_refs++;
		*out = lf;
		return LEAF_HIT;
	}
	lv.lv_misses++;
	if (lv.lv_certd == NULL || lv.lv_npending >= LEAF_PENDING_MAX ||
	    (lr = calloc(1, sizeof(*lr))) == NULL) {
		lv.lv_failed++;
		return LEAF_FAIL;
	}
	lr->lr_req = *rq;
	lr->lr_cb = cb;
	lr->lr_arg = arg;
	if (leaf_req_find(rq->cq_key) == NULL && leaf_send(lr) == -1) {
		free(lr);
		lv.lv_failed++;
		return LEAF_FAIL;
	}
	TAILQ_INSERT_TAIL(&lv.lv_pending, lr, lr_entry);
	lv.lv_npending++;
	return LEAF_WAIT;
}

void
leaf_cancel(void *arg)
{
	struct leaf_req	*lr, *w;

	leaf_init();
	for (lr = TAILQ_FIRST(&lv.lv_pending); lr != NULL;
	    lr = TAILQ_NEXT(lr, lr_entry))
		if (lr->lr_arg == arg)
			break;
	if (lr == NULL)
		return;
	TAILQ_REMOVE(&lv.lv_pending, lr, lr_entry);
	lv.lv_npending--;
	/* Another waiter for the same leaf takes over the request. */
	for (w = TAILQ_FIRST(&lv.lv_pending); w != NULL && lr->lr_reqid != 0;
	    w = TAILQ_NEXT(w, lr_entry)) {
		if (w->lr_reqid == 0 && memcmp(w->lr_req.cq_key,
		    lr->lr_req.cq_key, sizeof(w->lr_req.cq_key)) == 0) {
			w->lr_reqid = lr->lr_reqid;
			w->lr_retried = lr->lr_retried;
			break;
		}
	}
	free(lr);
}

X509 *
leaf_ca(void)
{
	return lv.lv_ca;
}

void
leaf_stats(struct leaf_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->ls_hits = lv.lv_hits;
	st->ls_misses = lv.lv_misses;
	st->ls_failed = lv.lv_failed;
	st->ls_cached = lv.lv_ncached;
	st->ls_pending = lv.lv_npending;
	st->ls_gen = lv.lv_gen;
	st->ls_certd = lv.lv_certd != NULL;
}

static void
leaf_ca_cert(struct ipc_msg *m)
{
	const char	*pem;
	size_t		 len;
	BIO		*b;
	X509		*x = NULL;

	if (ipc_get_ca_cert(m, &pem, &len) == -1)
		return;
	if ((b = BIO_new_mem_buf(pem, (int)len)) != NULL) {
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (x == NULL) {
		ERR_clear_error();
		log_warnx("certd sent a CA certificate that does not parse");
		return;
	}
	X509_free(lv.lv_ca);
	lv.lv_ca = x;
	log_debug("CA certificate from certd");
}

static void
leaf_key(struct ipc_msg *m)
{
	struct leaf_key	 lk;
	const uint8_t	*der;
	size_t		 len;
	EVP_PKEY	*k;

	if (ipc_get_blob(m, IMSG_LEAF_KEY, &lk, sizeof(lk), &der, &len) == -1)
		return;
	if ((k = d2i_AutoPrivateKey(NULL, &der, (long)len)) == NULL) {
		ERR_clear_error();
		log_warnx("certd sent a leaf key that does not parse");
		return;
	}
	/* Leaves of another generation would not match the key. */
	if (lv.lv_pkey == NULL || lk.lk_gen != lv.lv_gen)
		leaf_flush();
	EVP_PKEY_free(lv.lv_pkey);
	lv.lv_pkey = k;
	lv.lv_gen = lk.lk_gen;
	log_debug("leaf key generation %u", lk.lk_gen);
}

/* The certificate of a reply, checked against the key in force. */
static struct leaf *
leaf_from_rep(const struct leaf_req *lr, const uint8_t *der, size_t len,
    const char **why)
{
	struct leaf	*lf;
	X509		*x;

	if ((x = d2i_X509(NULL, &der, (long)len)) == NULL) {
		*why = "certd sent a certificate that does not parse";
		ERR_clear_error();
		return NULL;
	}
	if (X509_check_private_key(x, lv.lv_pkey) != 1 ||
	    (lf = calloc(1, sizeof(*lf))) == NULL) {
		*why = "certd sent a certificate for another key";
		ERR_clear_error();
		X509_free(x);
		return NULL;
	}
	memcpy(lf->lf_key, lr->lr_req.cq_key, sizeof(lf->lf_key));
	lf->lf_gen = lv.lv_gen;
	lf->lf_cert = x;
	EVP_PKEY_up_ref(lv.lv_pkey);
	lf->lf_pkey = lv.lv_pkey;
	lf->lf_refs = 1;	/* the waiting connection's */
	return lf;
}

/* The answer for lr's key, to lr and every waiter on it. */
static void
leaf_deliver(struct leaf_req *lr, struct leaf *lf, const char *why)
{
	struct leaf_req_head	 done;
	struct leaf_req		*w, *next;

	/* Out of the list before any callback runs: a callback closes a
	 * connection, which cancels (finds nothing) and frees. */
	TAILQ_INIT(&done);
	TAILQ_INSERT_TAIL(&done, lr, lr_entry);
	for (w = TAILQ_FIRST(&lv.lv_pending); w != NULL; w = next) {
		next = TAILQ_NEXT(w, lr_entry);
		if (w->lr_reqid == 0 && memcmp(w->lr_req.cq_key,
		    lr->lr_req.cq_key, sizeof(w->lr_req.cq_key)) == 0) {
			TAILQ_REMOVE(&lv.lv_pending, w, lr_entry);
			lv.lv_npending--;
			TAILQ_INSERT_TAIL(&done, w, lr_entry);
		}
	}
	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, lr_entry);
		if (lf != NULL && w != lr)
			lf->lf_refs++;	/* each waiter holds one */
		else if (lf == NULL)
			lv.lv_failed++;
		w->lr_cb(w->lr_arg, lf, lf ? NULL : why);
		free(w);
	}
}

static void
leaf_rep(struct ipc_msg *m)
{
	struct cert_rep	 rep;
	struct leaf_req	*lr;
	struct leaf	*lf = NULL;
	const uint8_t	*der;
	size_t		 len;
	const char	*why = "certd refused the request";

	if (ipc_get_blob(m, IMSG_CERT_REP, &rep, sizeof(rep), &der,
	    &len) == -1)
		return;
	for (lr = TAILQ_FIRST(&lv.lv_pending); lr != NULL;
	    lr = TAILQ_NEXT(lr, lr_entry))
		if (lr->lr_reqid == m->im_hdr.ih_reqid)
			break;
	if (lr == NULL)
		return;	/* cancelled: nobody waits */
	TAILQ_REMOVE(&lv.lv_pending, lr, lr_entry);
	lv.lv_npending--;
	if (rep.crp_ok == 1 && (lv.lv_pkey == NULL ||
	    rep.crp_keygen != lv.lv_gen)) {
		/* Signed for a key we do not hold (a rotation crossed the
		 * request): ask once more. */
		why = "leaf key generation mismatch";
		if (!lr->lr_retried && leaf_send(lr) == 0) {
			lr->lr_retried = 1;
			TAILQ_INSERT_TAIL(&lv.lv_pending, lr, lr_entry);
			lv.lv_npending++;
			return;
		}
	} else if (rep.crp_ok == 1 && len > 0)
		lf = leaf_from_rep(lr, der, len, &why);
	if (lf != NULL)
		leaf_cache_add(lf);
	else
		log_warnx("leaf for %s: %s", lr->lr_req.cq_names[
		    lr->lr_req.cq_nnames - 1].cn_name, why);
	leaf_deliver(lr, lf, why);
}

void
leaf_certd_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	(void)c;
	(void)arg;
	leaf_init();
	switch (m->im_hdr.ih_type) {
	case IMSG_CA_CERT:
		leaf_ca_cert(m);
		break;
	case IMSG_LEAF_KEY:
		leaf_key(m);
		break;
	case IMSG_CERT_REP:
		leaf_rep(m);
		break;
	default:
		log_warnx("unexpected %s from certd",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}
