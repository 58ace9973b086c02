/*
 * certd's channels to the tlsworkers: master sends one IMSG_PEER per
 * worker slot (ip_index) with one end of a socketpair; a respawned worker
 * (or a respawned certd) brings a new one that replaces the slot's old
 * channel. On each new channel certd sends the CA certificate (so the
 * worker can send the chain) and the current leaf key, then answers
 * IMSG_CERT_REQ with IMSG_CERT_REP under the same request id, one by one
 * as they come: signing takes well under a millisecond for an EC CA and a
 * few for RSA, and nothing in certd waits on anything else.
 *
 * Trust: a worker is less privileged than certd. A message that fails the
 * IPC rules (wrong type, length) drops that worker's channel; a request
 * that is well-formed but asks for something certd will not sign gets a
 * refusal (crp_ok 0) and a rate-limited log line. certd never exits
 * because of a worker.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certd/certd.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

#define USEC_PER_SEC	1000000ULL

static void	certd_worker_dispatch(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	certd_worker_error(struct ipc_chan *, int, const char *,
		    void *);

void
certd_init(struct certd *cd, struct event_base *base)
{
	uint32_t i;

	memset(cd, 0, sizeof(*cd));
	cd->cd_base = base;
	for (i = 0; i < CONF_MAX_WORKERS; i++) {
		cd->cd_workers[i].cw_cd = cd;
		cd->cd_workers[i].cw_index = i;
	}
	certd_cache_init(&cd->cd_cache, CERTD_CACHE_MAX);
}

/* The current leaf key, to one worker. */
static int
certd_send_leaf_key(struct certd *cd, struct certd_worker *cw)
{
	const struct certd_leafkey	*lf = &cd->cd_issuer.is_leaf;
	struct leaf_key			 lk;

	memset(&lk, 0, sizeof(lk));
	lk.lk_gen = lf->lf_gen;
	return (ipc_send_blob(cw->cw_chan, IMSG_LEAF_KEY, 0, &lk, sizeof(lk),
	    lf->lf_der, lf->lf_derlen));
}

void
certd_worker_attach(struct certd *cd, const struct ipc_peer *p, int fd)
{
	struct certd_worker *cw;

	if (p->ip_role != ROLE_TLSWORKER || p->ip_index >= CONF_MAX_WORKERS) {
		log_warnx("PEER: not a worker slot (role %s, index %u)",
		    role_name(p->ip_role), p->ip_index);
		close(fd);
		return;
	}
	cw = &cd->cd_workers[p->ip_index];
	if (cw->cw_chan != NULL)
		certd_worker_drop(cw, "replaced by a new worker");
	cw->cw_chan = ipc_chan_new(cd->cd_base, fd, ROLE_TLSWORKER,
	    certd_worker_dispatch, certd_worker_error, cw);
	if (cw->cw_chan == NULL) {
		log_warn("worker %u: cannot make a channel", p->ip_index);
		close(fd);
		return;
	}
	cw->cw_pid = p->ip_pid;
	/* The certificate first: a worker may wait for both before it
	 * intercepts. */
	if (ipc_send_ca_cert(cw->cw_chan, cd->cd_ca.ca_pem,
	    cd->cd_ca.ca_pemlen) == -1 ||
	    certd_send_leaf_key(cd, cw) == -1) {
		certd_worker_drop(cw, "cannot send the CA certificate and "
		    "the leaf key");
		return;
	}
	log_debug("worker %u (pid %u): channel up, CA certificate and leaf "
	    "key generation %u sent", cw->cw_index, cw->cw_pid,
	    cd->cd_issuer.is_leaf.lf_gen);
}

void
certd_worker_drop(struct certd_worker *cw, const char *why)
{
	if (cw->cw_chan == NULL)
		return;
	log_debug("worker %u (pid %u): channel dropped: %s", cw->cw_index,
	    cw->cw_pid, why);
	ipc_chan_free(cw->cw_chan);
	cw->cw_chan = NULL;
	cw->cw_pid = 0;
}

/*
 * A refusal: counted, and logged CERTD_REFUSE_LOG_BURST times a second at
 * most (a broken worker must not flood syslog); the lines left out are
 * counted in the next one.
 */
static void
certd_refused(struct certd *cd, uint32_t index, uint32_t reqid,
    const char *why)
{
	uint64_t sec = util_now_usec() / USEC_PER_SEC;

	cd->cd_refused++;
	if (sec != cd->cd_log_sec) {
		cd->cd_log_sec = sec;
		cd->cd_log_count = 0;
	}
	if (cd->cd_log_count >= CERTD_REFUSE_LOG_BURST) {
		cd->cd_log_dropped++;
		return;
	}
	cd->cd_log_count++;
	if (cd->cd_log_dropped > 0)
		log_warnx("worker %u: request %u refused: %s (and %u more "
		    "refusals not logged)", index, reqid, why,
		    cd->cd_log_dropped);
	else
		log_warnx("worker %u: request %u refused: %s", index, reqid,
		    why);
	cd->cd_log_dropped = 0;
}

/* A miss: sign, and keep the result in the cache (which owns it). */
static const struct certd_cache_entry *
certd_issue(struct certd *cd, const struct cert_req *rq, uint32_t gen,
    const uint8_t *digest, time_t now, char *why, size_t whysz)
{
	const struct certd_cache_entry	*ce;
	uint8_t				*der;
	size_t				 len;
	int64_t				 not_after;

	if (certd_leaf_issue(&cd->cd_issuer, rq, now, &der, &len, &not_after,
	    why, whysz) == -1)
		return (NULL);
	if ((ce = certd_cache_put(&cd->cd_cache, rq->cq_key, gen, digest, der,
	    len, not_after)) == NULL)
		snprintf(why, whysz, "out of memory");
	return (ce);
}

void
certd_answer(struct certd *cd, const struct cert_req *rq, uint32_t index,
    uint32_t reqid, struct cert_rep *rep, const uint8_t **der,
    size_t *derlen)
{
	const struct certd_cache_entry	*ce;
	uint32_t			 gen = cd->cd_issuer.is_leaf.lf_gen;
	uint8_t				 digest[32];
	time_t				 now = time(NULL);
	char				 why[CERTD_WHY_MAX];

	memset(rep, 0, sizeof(*rep));
	rep->crp_keygen = gen;
	*der = NULL;
	*derlen = 0;
	/* Checked before the cache: a refusal is neither hit nor miss. */
	if (certd_req_check(rq, why, sizeof(why)) == -1) {
		certd_refused(cd, index, reqid, why);
		return;
	}
	if (certd_req_digest(rq, digest) == -1) {
		certd_refused(cd, index, reqid, "cannot digest the request");
		return;
	}
	if ((ce = certd_cache_get(&cd->cd_cache, rq->cq_key, gen, digest,
	    now)) == NULL && (ce = certd_issue(cd, rq, gen, digest, now, why,
	    sizeof(why))) == NULL) {
		certd_refused(cd, index, reqid, why);
		return;
	}
	rep->crp_ok = 1;
	*der = ce->ce_der;
	*derlen = ce->ce_derlen;
}

static void
certd_worker_dispatch(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct certd_worker	*cw = arg;
	struct cert_req		 rq;
	struct cert_rep		 rep;
	const uint8_t		*der;
	size_t			 derlen;

	/* The IPC rules let a worker send certd nothing else. */
	if (ipc_get_cert_req(m, &rq) == -1) {
		log_warnx("worker %u: unexpected %s", cw->cw_index,
		    imsg_name(m->im_hdr.ih_type));
		certd_worker_drop(cw, "protocol error");
		return;
	}
	certd_answer(cw->cw_cd, &rq, cw->cw_index, m->im_hdr.ih_reqid, &rep,
	    &der, &derlen);
	if (ipc_send_blob(chan, IMSG_CERT_REP, m->im_hdr.ih_reqid, &rep,
	    sizeof(rep), der, derlen) == -1) {
		/* Its queue is full or the socket broke: it does not read. */
		log_warn("worker %u: cannot answer request %u", cw->cw_index,
		    m->im_hdr.ih_reqid);
		certd_worker_drop(cw, "not reading");
	}
}

static void
certd_worker_error(struct ipc_chan *chan, int err, const char *why,
    void *arg)
{
	struct certd_worker *cw = arg;

	(void)chan;
	if (err == IPC_ERR_EOF) {
		certd_worker_drop(cw, "end of file");
		return;
	}
	log_warnx("worker %u (pid %u): %s; dropping its channel",
	    cw->cw_index, cw->cw_pid, why != NULL ? why : "channel error");
	certd_worker_drop(cw, err == IPC_ERR_MALFORMED ? "malformed message" :
	    "channel error");
}

void
certd_rotate(struct certd *cd)
{
	struct certd_leafkey	*lf = &cd->cd_issuer.is_leaf;
	size_t			 flushed = cd->cd_cache.cc_count;
	uint32_t		 i, sent = 0;

	if (certd_issuer_rotate(&cd->cd_issuer) == -1) {
		log_warnx("leaf key rotation failed; generation %u stays",
		    lf->lf_gen);
		return;
	}
	/* Nothing signed for the old key is handed out again. */
	certd_cache_flush(&cd->cd_cache);
	for (i = 0; i < CONF_MAX_WORKERS; i++) {
		struct certd_worker *cw = &cd->cd_workers[i];

		if (cw->cw_chan == NULL)
			continue;
		if (certd_send_leaf_key(cd, cw) == -1)
			certd_worker_drop(cw, "cannot send the leaf key");
		else
			sent++;
	}
	log_info("leaf key rotated: generation %u, ECDSA %s, public key "
	    "sha256 %s; %zu cached certificates flushed; sent to %u "
	    "workers", lf->lf_gen, CERTD_LEAF_CURVE, lf->lf_fp, flushed,
	    sent);
}

void
certd_status(struct certd *cd, struct ipc_status *st)
{
	const struct certd_cache *cc = &cd->cd_cache;

	memset(st, 0, sizeof(*st));
	st->st_total = cd->cd_issuer.is_issued;
	st->st_cache_hits = cc->cc_hits;
	st->st_cache_misses = cc->cc_misses;
	/* Logged when something moved, not every status period. */
	if (cd->cd_logged_total != cc->cc_hits + cc->cc_misses +
	    cd->cd_refused) {
		cd->cd_logged_total = cc->cc_hits + cc->cc_misses +
		    cd->cd_refused;
		log_debug("cache: %zu entries, %llu hits, %llu misses; %llu "
		    "issued, %llu refused", cc->cc_count,
		    (unsigned long long)cc->cc_hits,
		    (unsigned long long)cc->cc_misses,
		    (unsigned long long)cd->cd_issuer.is_issued,
		    (unsigned long long)cd->cd_refused);
	}
}

void
certd_free(struct certd *cd)
{
	uint32_t i;

	for (i = 0; i < CONF_MAX_WORKERS; i++)
		certd_worker_drop(&cd->cd_workers[i], "certd exits");
	certd_cache_flush(&cd->cd_cache);
	certd_issuer_free(&cd->cd_issuer);
	certd_ca_free(&cd->cd_ca);
}
