/*
 * TLS failures as the workers report them (IMSG_TLS_FAIL): rolling
 * counters per host and reason for mitmctl status, and the learned
 * passthrough table of pinned clients (tls-passthrough), which master
 * owns so every worker applies the same decisions.
 *
 * Counters: per host, failures in the last hour in 12 buckets of 5
 * minutes; a failure leaves the count 55 to 60 minutes after it
 * happened. At most TLSSTAT_HOSTS_MAX hosts; a new host evicts the one
 * whose last failure is oldest.
 *
 * Learning: a client that aborts our handshake with an alert saying it
 * does not trust our certificate (tf_alert = 1, client side) is counted
 * per (client address, host), or per host with "for all". When the count
 * reaches cg_pt_after, the pair gets a passthrough until now + cg_pt_ttl:
 * audited, and sent to every worker (IMSG_PASSTHROUGH PT_ADD). A count
 * is forgotten after TLSSTAT_FORGET_SEC without a failure. A failure
 * without an alert (EOF, reset) is inferred, never teaches. Entries
 * expire on a timer here; workers check pt_expires themselves as well,
 * so a late timer never keeps a passthrough alive past its TTL.
 *
 * Lookups scan arrays, comparing a precomputed hash first: the tables
 * are small and bounded, and only failures reach this code. Times are
 * passed in (monotonic seconds for windows, wall-clock microseconds for
 * pt_expires, which workers compare with their own clock), so the tables
 * are tested without a clock (tests/unit/master_tlsstat.c).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

#define TLSSTAT_HOSTS_MAX    1024  /* hosts with counters */
#define TLSSTAT_BUCKET_SEC   300   /* one bucket: five minutes */
#define TLSSTAT_BUCKETS	     12	   /* the window: an hour */
#define TLSSTAT_LEARN_MAX    4096  /* (client, host) pairs being counted */
#define TLSSTAT_FORGET_SEC   3600  /* a count without failure this long */
#define TLSSTAT_PT_MAX	     1024  /* learned passthroughs */
#define TLSSTAT_TIMER_SEC    5	   /* expiry check */
#define TLSSTAT_HOSTSTAT_MAX 64	   /* hosts in mitmctl status */
#define TLSSTAT_USEC	     1000000ULL

struct tls_hoststat {
	char	 th_host[CERT_NAME_MAX + 1];
	uint64_t th_last;		     /* monotonic s of the last */
	uint32_t th_epoch[TLSSTAT_BUCKETS];  /* which 5 minutes it counts */
	uint32_t th_count[TLSSTAT_BUCKETS][TLSF_MAX];
};

struct tls_learn {
	uint64_t    tl_last;	/* monotonic s */
	uint32_t    tl_failures;
	struct addr tl_client;	/* AF_UNSPEC: every client ("for all") */
	char	    tl_host[CERT_NAME_MAX + 1];
};

static struct tls_hoststat tls_hosts[TLSSTAT_HOSTS_MAX];
static uint32_t		   tls_host_hash[TLSSTAT_HOSTS_MAX];
static size_t		   tls_nhosts;
static struct tls_learn	   tls_learns[TLSSTAT_LEARN_MAX];
static uint32_t		   tls_learn_hash[TLSSTAT_LEARN_MAX];
static size_t		   tls_nlearns;
/* In the order learned; pt_op is PT_ADD in every entry. */
static struct passthrough  tls_pts[TLSSTAT_PT_MAX];
static size_t		   tls_npts;
static uint64_t		   tls_fail_total[TLSF_MAX];	/* since start */
static int		   tls_pt_full_warned;
static struct event	  *tls_timer;

/*
 * The tables, without IPC or clocks.
 */

static uint32_t
tls_hash(const struct addr *a, const char *host)
{
	uint32_t h = UTIL_FNV_BASIS;

	if (a != NULL)
		h = util_fnv1a(h, a, sizeof(*a));
	return (util_fnv1a(h, host, strlen(host)));
}

static uint32_t
tls_epoch(uint64_t now)
{
	return ((uint32_t)(now / TLSSTAT_BUCKET_SEC));
}

/* The counters of host, created (evicting the stalest) if missing. */
static struct tls_hoststat *
tls_host_get(const char *host, uint64_t now)
{
	uint32_t h = tls_hash(NULL, host);
	size_t	 i, victim = 0;

	for (i = 0; i < tls_nhosts; i++)
		if (tls_host_hash[i] == h &&
		    strcmp(tls_hosts[i].th_host, host) == 0)
			return (&tls_hosts[i]);
	if (tls_nhosts < TLSSTAT_HOSTS_MAX)
		victim = tls_nhosts++;
	else
		for (i = 1; i < tls_nhosts; i++)
			if (tls_hosts[i].th_last < tls_hosts[victim].th_last)
				victim = i;
	memset(&tls_hosts[victim], 0, sizeof(tls_hosts[victim]));
	util_strlcpy(tls_hosts[victim].th_host, host,
	    sizeof(tls_hosts[victim].th_host));
	tls_host_hash[victim] = h;
	tls_hosts[victim].th_last = now;
	return (&tls_hosts[victim]);
}

static void
tls_host_count(const char *host, uint32_t reason, uint64_t now)
{
	struct tls_hoststat *th = tls_host_get(host, now);
	uint32_t	     e = tls_epoch(now);
	size_t		     b = e % TLSSTAT_BUCKETS;

	if (th->th_epoch[b] != e) {
		th->th_epoch[b] = e;
		memset(th->th_count[b], 0, sizeof(th->th_count[b]));
	}
	if (th->th_count[b][reason] < UINT32_MAX)
		th->th_count[b][reason]++;
	th->th_last = now;
}

/* The counts of the window ending now; returns their total. */
static uint64_t
tls_host_sum(const struct tls_hoststat *th, uint64_t now, uint32_t *out)
{
	uint32_t e = tls_epoch(now);
	uint64_t total = 0, v;
	size_t	 b, r;

	memset(out, 0, sizeof(uint32_t) * TLSF_MAX);
	for (b = 0; b < TLSSTAT_BUCKETS; b++) {
		if (th->th_epoch[b] > e || e - th->th_epoch[b] >=
		    TLSSTAT_BUCKETS)
			continue;
		for (r = 0; r < TLSF_MAX; r++) {
			v = (uint64_t)out[r] + th->th_count[b][r];
			out[r] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
			total += th->th_count[b][r];
		}
	}
	return (total);
}

static int
tls_addr_eq(const struct addr *a, const struct addr *b)
{
	return (a->a_family == b->a_family &&
	    memcmp(a->a_ip, b->a_ip, sizeof(a->a_ip)) == 0);
}

static struct passthrough *
tls_pt_find(const struct addr *client, const char *host)
{
	size_t i;

	for (i = 0; i < tls_npts; i++)
		if (tls_addr_eq(&tls_pts[i].pt_client, client) &&
		    strcmp(tls_pts[i].pt_host, host) == 0)
			return (&tls_pts[i]);
	return (NULL);
}

static void
tls_learn_remove(size_t i)
{
	tls_nlearns--;
	tls_learns[i] = tls_learns[tls_nlearns];
	tls_learn_hash[i] = tls_learn_hash[tls_nlearns];
}

/* Count one teaching failure; the failures so far, counting this one. A
 * count idle for TLSSTAT_FORGET_SEC starts again from 1. */
static uint32_t
tls_learn_count(const struct addr *client, const char *host, uint64_t now)
{
	struct tls_learn *tl;
	uint32_t	  h = tls_hash(client, host);
	size_t		  i, victim = 0;

	for (i = 0; i < tls_nlearns; i++) {
		tl = &tls_learns[i];
		if (tls_learn_hash[i] != h || !tls_addr_eq(&tl->tl_client,
		    client) || strcmp(tl->tl_host, host) != 0)
			continue;
		if (now - tl->tl_last >= TLSSTAT_FORGET_SEC)
			tl->tl_failures = 0;
		tl->tl_last = now;
		return (++tl->tl_failures);
	}
	if (tls_nlearns < TLSSTAT_LEARN_MAX)
		victim = tls_nlearns++;
	else
		for (i = 1; i < tls_nlearns; i++)
			if (tls_learns[i].tl_last < tls_learns[victim].tl_last)
				victim = i;
	tl = &tls_learns[victim];
	memset(tl, 0, sizeof(*tl));
	tl->tl_client = *client;
	util_strlcpy(tl->tl_host, host, sizeof(tl->tl_host));
	tl->tl_last = now;
	tl->tl_failures = 1;
	tls_learn_hash[victim] = h;
	return (1);
}

/* The count of a pair that was just learned (or cleared) starts over. */
static void
tls_learn_forget(const struct addr *client, const char *host)
{
	uint32_t h = tls_hash(client, host);
	size_t	 i;

	for (i = 0; i < tls_nlearns; i++)
		if (tls_learn_hash[i] == h &&
		    tls_addr_eq(&tls_learns[i].tl_client, client) &&
		    strcmp(tls_learns[i].tl_host, host) == 0) {
			tls_learn_remove(i);
			return;
		}
}

/* Counts idle for TLSSTAT_FORGET_SEC go, so the table holds live ones. */
static void
tls_learn_prune(uint64_t now)
{
	size_t i = 0;

	while (i < tls_nlearns)
		if (now - tls_learns[i].tl_last >= TLSSTAT_FORGET_SEC)
			tls_learn_remove(i);
		else
			i++;
}

/* "192.0.2.1" or "*" for every client. */
static const char *
tls_client_str(const struct addr *a, char *buf, size_t len)
{
	if (a->a_family == AF_UNSPEC)
		return ("*");
	return (addr_str(a, 0, buf, len));
}

/* Remove passthroughs expired at wall time now, auditing each; workers
 * drop theirs on their own. Returns how many went. */
static size_t
tls_pt_expire(uint64_t wall)
{
	char   cbuf[ADDR_STRLEN];
	size_t i = 0, n = 0;

	while (i < tls_npts) {
		if (tls_pts[i].pt_expires > wall) {
			i++;
			continue;
		}
		log_audit("passthrough expired client=%s host=%s",
		    tls_client_str(&tls_pts[i].pt_client, cbuf, sizeof(cbuf)),
		    tls_pts[i].pt_host);
		memmove(&tls_pts[i], &tls_pts[i + 1],
		    (tls_npts - i - 1) * sizeof(tls_pts[0]));
		tls_npts--;
		n++;
	}
	if (tls_npts < TLSSTAT_PT_MAX)
		tls_pt_full_warned = 0;
	return (n);
}

/* Add a learned passthrough; NULL when the table is full. */
static struct passthrough *
tls_pt_add(const struct addr *client, const char *host, uint32_t failures,
    uint64_t expires)
{
	struct passthrough *pt;

	if (tls_npts >= TLSSTAT_PT_MAX)
		return (NULL);
	pt = &tls_pts[tls_npts++];
	memset(pt, 0, sizeof(*pt));
	pt->pt_client = *client;
	pt->pt_expires = expires;
	pt->pt_op = PT_ADD;
	pt->pt_failures = failures;
	util_strlcpy(pt->pt_host, host, sizeof(pt->pt_host));
	return (pt);
}

static size_t
tls_pt_clear(void)
{
	size_t n = tls_npts;

	tls_npts = 0;
	tls_nlearns = 0;
	tls_pt_full_warned = 0;
	return (n);
}

/*
 * Checks on what a worker sent: it is less trusted than master, and the
 * host ends up in audit lines of key=value pairs.
 */

/* A host as a worker may report it: a DNS name or an IP literal,
 * lowercased in place. 0 or -1. */
static int
tls_host_clean(char *host)
{
	size_t i, len = strlen(host);

	if (len == 0)
		return (-1);
	for (i = 0; i < len; i++) {
		if (host[i] >= 'A' && host[i] <= 'Z')
			host[i] = (char)(host[i] - 'A' + 'a');
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-_:[]",
		    host[i]) == NULL)
			return (-1);
	}
	return (0);
}

/*
 * The glue: IPC, clocks, the timer.
 */

static uint64_t
tls_now(void)
{
	return (util_now_usec() / TLSSTAT_USEC);
}

static void
tls_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	(void)tls_pt_expire(util_wall_usec());
	tls_learn_prune(tls_now());
}

/* Lazily, on the first learned entry: master's event base exists by
 * then, and a mitmd that never learns runs no timer. */
static void
tls_timer_start(void)
{
	struct timeval tv = { TLSSTAT_TIMER_SEC, 0 };

	if (tls_timer != NULL || master->m_base == NULL)
		return;
	tls_timer = event_new(master->m_base, -1, EV_PERSIST, tls_timer_cb,
	    NULL);
	if (tls_timer == NULL || event_add(tls_timer, &tv) == -1)
		log_warnx("passthrough: no expiry timer; entries expire when "
		    "listed and in the workers");
}

/* The threshold is reached: learn, audit, tell every worker. */
static void
tls_learn(const struct addr *client, const char *host, uint32_t failures)
{
	const struct conf_global *g = &master->m_conf->mc_global;
	struct passthrough	 *pt;
	char			  cbuf[ADDR_STRLEN];

	tls_learn_forget(client, host);
	(void)tls_pt_expire(util_wall_usec());
	pt = tls_pt_add(client, host, failures, util_wall_usec() +
	    (uint64_t)g->cg_pt_ttl * TLSSTAT_USEC);
	if (pt == NULL) {
		if (!tls_pt_full_warned++)
			log_warnx("passthrough table full (%d entries): not "
			    "learning client=%s host=%s; see mitmctl "
			    "passthrough clear", TLSSTAT_PT_MAX,
			    tls_client_str(client, cbuf, sizeof(cbuf)), host);
		return;
	}
	log_audit("passthrough learned client=%s host=%s failures=%u ttl=%u",
	    tls_client_str(client, cbuf, sizeof(cbuf)), host, failures,
	    g->cg_pt_ttl);
	proc_broadcast(ROLE_TLSWORKER, IMSG_PASSTHROUGH, pt, sizeof(*pt));
	tls_timer_start();
}

/* A client-side failure: teaches when the client said so with an alert. */
static void
tls_on_client_fail(const struct tls_fail *tf, const char *cstr)
{
	const struct conf_global *g = &master->m_conf->mc_global;
	struct addr		  key;
	struct passthrough	 *pt;
	uint32_t		  n;

	if (!tf->tf_alert) {
		log_debug("tls failure client=%s host=%s reason=%s: no alert "
		    "(inferred), does not teach", cstr, tf->tf_host,
		    tls_failure_name(tf->tf_reason));
		return;
	}
	if (g->cg_pt_after == 0)
		return;
	memset(&key, 0, sizeof(key));
	if (!g->cg_pt_all) {
		key = tf->tf_client;
		key.a_port = 0;
	}
	/* Connections begun before the workers heard of it still fail. */
	if ((pt = tls_pt_find(&key, tf->tf_host)) != NULL &&
	    pt->pt_expires > util_wall_usec())
		return;
	n = tls_learn_count(&key, tf->tf_host, tls_now());
	log_debug("tls failure client=%s host=%s: pinned-client alert %u of "
	    "%u", cstr, tf->tf_host, n, g->cg_pt_after);
	if (n >= g->cg_pt_after)
		tls_learn(&key, tf->tf_host, n);
}

void
tlsstat_on_fail(struct proc *p, struct ipc_msg *m)
{
	struct tls_fail	tf;
	char		cbuf[ADDR_STRLEN];

	if (ipc_get_tls_fail(m, &tf) == -1)
		return;
	tf.tf_host[sizeof(tf.tf_host) - 1] = '\0';
	if ((tf.tf_side != TLS_SIDE_CLIENT && tf.tf_side != TLS_SIDE_UPSTREAM)
	    || tf.tf_reason >= TLSF_MAX || tls_host_clean(tf.tf_host) == -1 ||
	    (tf.tf_client.a_family != AF_INET &&
	    tf.tf_client.a_family != AF_INET6)) {
		log_warnx("tlsworker %u: malformed TLS failure report ignored",
		    p->p_index);
		return;
	}
	addr_str(&tf.tf_client, 0, cbuf, sizeof(cbuf));
	tls_fail_total[tf.tf_reason]++;
	tls_host_count(tf.tf_host, tf.tf_reason, tls_now());
	log_debug("tls failure: client=%s host=%s side=%s reason=%s%s", cbuf,
	    tf.tf_host, tf.tf_side == TLS_SIDE_CLIENT ? "client" : "upstream",
	    tls_failure_name(tf.tf_reason), tf.tf_alert ? " (alert)" : "");
	if (tf.tf_side == TLS_SIDE_CLIENT)
		tls_on_client_fail(&tf, cbuf);
}

/* For the status page: the failures since start by reason, and the
 * learned passthroughs in force. */
void
tlsstat_totals(uint64_t *fail, size_t nfail, uint32_t *npt)
{
	size_t r;

	for (r = 0; r < nfail && r < TLSF_MAX; r++)
		fail[r] = tls_fail_total[r];
	*npt = (uint32_t)tls_npts;
}

/* A (re)started worker learns what the others apply. */
void
tlsstat_sync_worker(struct ipc_chan *c)
{
	size_t i;

	(void)tls_pt_expire(util_wall_usec());
	for (i = 0; i < tls_npts; i++)
		ipc_send_passthrough(c, 0, -1, &tls_pts[i]);
}

static int
tls_hoststat_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	/* Each element: the total, then the index; most failures first. */
	if (x[0] != y[0])
		return (x[0] < y[0] ? 1 : -1);
	return (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* For mitmctl status, before its CTL_END: the hosts with failures in
 * the window, most first, TLSSTAT_HOSTSTAT_MAX at most. */
void
tlsstat_ctl_hoststats(struct ipc_chan *c, uint32_t reqid)
{
	static uint64_t	   order[TLSSTAT_HOSTS_MAX][2];
	struct ctl_hoststat hs;
	uint64_t	   now = tls_now();
	size_t		   i, n = 0;

	for (i = 0; i < tls_nhosts; i++) {
		order[n][0] = tls_host_sum(&tls_hosts[i], now, hs.hs_count);
		order[n][1] = i;
		if (order[n][0] > 0)
			n++;
	}
	qsort(order, n, sizeof(order[0]), tls_hoststat_cmp);
	for (i = 0; i < n && i < TLSSTAT_HOSTSTAT_MAX; i++) {
		memset(&hs, 0, sizeof(hs));
		util_strlcpy(hs.hs_host, tls_hosts[order[i][1]].th_host,
		    sizeof(hs.hs_host));
		(void)tls_host_sum(&tls_hosts[order[i][1]], now, hs.hs_count);
		ipc_send_ctl_hoststat(c, reqid, -1, &hs);
	}
}

void
tlsstat_ctl_list(struct ipc_chan *c, uint32_t reqid)
{
	size_t i;

	(void)tls_pt_expire(util_wall_usec());
	for (i = 0; i < tls_npts; i++)
		ipc_send_ctl_pt(c, reqid, -1, &tls_pts[i]);
	ipc_send_ctl_end(c, reqid);
}

/* Forget every passthrough and every count towards one, here and in
 * every worker. The host counters stay: they are statistics. */
void
tlsstat_ctl_clear(struct ipc_chan *c, uint32_t reqid)
{
	struct passthrough pt;
	char		   text[IPC_TEXT_MAX];
	size_t		   n = tls_pt_clear();

	memset(&pt, 0, sizeof(pt));
	pt.pt_op = PT_CLEAR_ALL;
	proc_broadcast(ROLE_TLSWORKER, IMSG_PASSTHROUGH, &pt, sizeof(pt));
	log_audit("passthrough cleared entries=%zu", n);
	snprintf(text, sizeof(text), "passthrough table cleared (%zu %s)", n,
	    n == 1 ? "entry" : "entries");
	ipc_send_ctl_result(c, reqid, 1, text);
}
