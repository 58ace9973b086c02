/*
 * Unit tests of master/tlsstat.c: the rolling failure counters per host,
 * pinned-client learning (only client-side alerts teach, the threshold,
 * per client or for all, forgetting, expiry), the passthrough table's
 * bound, and what goes to workers and to mitmctl. The file is included
 * whole so its static tables and helpers can be driven with chosen
 * times; master's process table is replaced by a stub of
 * proc_broadcast() that records what every worker would get.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master/tlsstat.c"
#include "tests/unit/unit.h"

#define LOGBUF_MAX  16384
#define BCAST_MAX   2048
#define RECV_BUF    (sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)

struct master *master;

static struct master	  t_master;
static struct mitmd_conf  t_conf;
static struct proc	  t_worker;
static char		  logbuf[LOGBUF_MAX];
static struct passthrough bcast[BCAST_MAX];
static size_t		  nbcast;
static uint8_t		  rbuf[RECV_BUF] __attribute__((aligned(16)));

/* The stub of master/proc.c: what every worker would receive. */
void
proc_broadcast(enum role r, uint32_t type, const void *data, size_t len)
{
	if (r == ROLE_TLSWORKER && type == IMSG_PASSTHROUGH &&
	    len == sizeof(struct passthrough) && nbcast < BCAST_MAX)
		memcpy(&bcast[nbcast++], data, len);
}

static void
log_capture(int prio, uint32_t flags, const char *msg)
{
	size_t len = strlen(logbuf);

	(void)prio;
	snprintf(logbuf + len, sizeof(logbuf) - len, "%s%s\n",
	    flags & LOG_F_AUDIT ? "AUDIT " : "", msg);
}

static void
reset(void)
{
	logbuf[0] = '\0';
	nbcast = 0;
	(void)tls_pt_clear();
	tls_nhosts = 0;
	t_conf.mc_global.cg_pt_after = 3;
	t_conf.mc_global.cg_pt_ttl = 3600;
	t_conf.mc_global.cg_pt_all = 0;
}

static struct addr
ip(const char *s)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	(void)addr_parse_ip(s, &a);
	return (a);
}

/* A report as a worker sends it, through the real receiver. */
static void
fail(const char *client, uint16_t port, const char *host, uint32_t side,
    uint32_t reason, uint32_t alert)
{
	struct tls_fail tf;
	struct ipc_msg	m;

	memset(&tf, 0, sizeof(tf));
	tf.tf_client = ip(client);
	tf.tf_client.a_port = port;
	tf.tf_side = side;
	tf.tf_reason = reason;
	tf.tf_alert = alert;
	util_strlcpy(tf.tf_host, host, sizeof(tf.tf_host));
	memset(&m, 0, sizeof(m));
	m.im_hdr.ih_type = IMSG_TLS_FAIL;
	m.im_hdr.ih_len = sizeof(tf);
	m.im_fd = -1;
	m.im_data = (const uint8_t *)&tf;
	tlsstat_on_fail(&t_worker, &m);
}

static void
pinned(const char *client, const char *host)
{
	fail(client, 40000, host, TLS_SIDE_CLIENT, TLSF_UNKNOWN_CA, 1);
}

static void
test_learning(void)
{
	struct addr c1 = ip("192.0.2.1"), any;
	uint64_t    before = util_wall_usec();

	reset();
	pinned("192.0.2.1", "Pinned.Example");
	pinned("192.0.2.1", "pinned.example");
	CHECK(tls_npts == 0 && nbcast == 0, "two alerts: nothing learned yet");
	pinned("192.0.2.1", "pinned.example");
	CHECK(tls_npts == 1 && nbcast == 1 && bcast[0].pt_op == PT_ADD &&
	    tls_addr_eq(&bcast[0].pt_client, &c1) &&
	    bcast[0].pt_client.a_port == 0 &&
	    strcmp(bcast[0].pt_host, "pinned.example") == 0 &&
	    bcast[0].pt_failures == 3, "third alert: learned, lowercased, "
	    "sent to the workers");
	CHECK(bcast[0].pt_expires >= before + 3600 * TLSSTAT_USEC &&
	    bcast[0].pt_expires <= util_wall_usec() + 3600 * TLSSTAT_USEC,
	    "expires after the ttl, wall clock");
	CHECK(strstr(logbuf, "AUDIT passthrough learned client=192.0.2.1 "
	    "host=pinned.example failures=3 ttl=3600\n") != NULL,
	    "learning is audited");
	pinned("192.0.2.1", "pinned.example");
	CHECK(tls_npts == 1 && nbcast == 1 && tls_nlearns == 0,
	    "an alert for a live passthrough counts nothing");

	pinned("192.0.2.2", "pinned.example");
	pinned("192.0.2.1", "other.example");
	CHECK(tls_npts == 1 && tls_nlearns == 2,
	    "counts are per client and host");

	reset();
	t_conf.mc_global.cg_pt_all = 1;
	t_conf.mc_global.cg_pt_after = 2;
	pinned("192.0.2.1", "pinned.example");
	pinned("2001:db8::1", "pinned.example");
	memset(&any, 0, sizeof(any));
	CHECK(tls_npts == 1 && nbcast == 1 &&
	    bcast[0].pt_client.a_family == AF_UNSPEC &&
	    strstr(logbuf, "passthrough learned client=* host=pinned.example "
	    "failures=2") != NULL, "for all: two clients teach one entry for "
	    "every client");

	reset();
	t_conf.mc_global.cg_pt_after = 1;
	fail("192.0.2.1", 1, "eof.example", TLS_SIDE_CLIENT, TLSF_EOF_RESET,
	    0);
	fail("192.0.2.1", 1, "eof.example", TLS_SIDE_CLIENT, TLSF_UNKNOWN_CA,
	    0);
	fail("192.0.2.1", 1, "up.example", TLS_SIDE_UPSTREAM,
	    TLSF_UNKNOWN_CA, 1);
	CHECK(tls_npts == 0 && tls_nlearns == 0 && nbcast == 0,
	    "no alert, or the upstream side: never teaches");
	CHECK(tls_nhosts == 2, "but every failure is counted per host");

	reset();
	t_conf.mc_global.cg_pt_after = 0;
	pinned("192.0.2.1", "a.example");
	CHECK(tls_npts == 0 && tls_nlearns == 0,
	    "tls-passthrough no: nothing learned");
}

static void
test_bad_reports(void)
{
	reset();
	fail("192.0.2.1", 1, "bad host.example", TLS_SIDE_CLIENT,
	    TLSF_UNKNOWN_CA, 1);
	fail("192.0.2.1", 1, "a=b", TLS_SIDE_CLIENT, TLSF_UNKNOWN_CA, 1);
	fail("192.0.2.1", 1, "", TLS_SIDE_CLIENT, TLSF_UNKNOWN_CA, 1);
	fail("192.0.2.1", 1, "ok.example", 7, TLSF_UNKNOWN_CA, 1);
	fail("192.0.2.1", 1, "ok.example", TLS_SIDE_CLIENT, TLSF_MAX, 1);
	fail("not an ip", 1, "ok.example", TLS_SIDE_CLIENT, TLSF_OTHER, 1);
	CHECK(tls_nhosts == 0 && tls_nlearns == 0 &&
	    strstr(logbuf, "tlsworker 3: malformed TLS failure report") !=
	    NULL, "a bad host, side, reason or address is refused");
	fail("192.0.2.1", 1, "[2001:db8::1]", TLS_SIDE_CLIENT, TLSF_OTHER, 0);
	fail("192.0.2.1", 1, "2001:db8::1", TLS_SIDE_CLIENT, TLSF_OTHER, 0);
	fail("192.0.2.1", 1, "a_b-c.example", TLS_SIDE_CLIENT, TLSF_OTHER, 0);
	CHECK(tls_nhosts == 3, "IP literals and names are taken");
}

static void
test_forget_and_expire(void)
{
	struct addr c = ip("198.51.100.7");
	uint64_t    t0 = 1000000;

	reset();
	CHECK(tls_learn_count(&c, "h", t0) == 1 &&
	    tls_learn_count(&c, "h", t0 + TLSSTAT_FORGET_SEC - 1) == 2,
	    "a count goes on within the hour");
	CHECK(tls_learn_count(&c, "h", t0 + 2 * TLSSTAT_FORGET_SEC) == 1,
	    "a count idle for an hour starts again");
	tls_learn_prune(t0 + 4 * TLSSTAT_FORGET_SEC);
	CHECK(tls_nlearns == 0, "idle counts are pruned");

	(void)tls_pt_add(&c, "a.example", 3, 5000);
	(void)tls_pt_add(&c, "b.example", 3, 9000);
	(void)tls_pt_add(&c, "c.example", 3, 5000);
	logbuf[0] = '\0';
	CHECK(tls_pt_expire(4999) == 0 && tls_npts == 3, "nothing expired yet");
	CHECK(tls_pt_expire(5000) == 2 && tls_npts == 1 &&
	    strcmp(tls_pts[0].pt_host, "b.example") == 0,
	    "expired entries go, the rest keeps its order");
	CHECK(strstr(logbuf, "AUDIT passthrough expired client=198.51.100.7 "
	    "host=a.example\n") != NULL && strstr(logbuf, "host=c.example") !=
	    NULL, "expiry is audited");
}

static void
test_bounds(void)
{
	struct addr c = ip("192.0.2.9");
	char	    host[64];
	size_t	    i;

	reset();
	for (i = 0; i < TLSSTAT_PT_MAX; i++) {
		snprintf(host, sizeof(host), "h%zu.example", i);
		(void)tls_pt_add(&c, host, 1, UINT64_MAX);
	}
	t_conf.mc_global.cg_pt_after = 1;
	pinned("192.0.2.9", "one-more.example");
	pinned("192.0.2.9", "and-another.example");
	CHECK(tls_npts == TLSSTAT_PT_MAX && nbcast == 0 &&
	    strstr(logbuf, "passthrough table full (1024 entries): not "
	    "learning client=192.0.2.9 host=one-more.example") != NULL &&
	    strstr(strstr(logbuf, "table full") + 1, "table full") == NULL,
	    "a full table learns nothing and warns once");

	reset();
	for (i = 0; i <= TLSSTAT_HOSTS_MAX; i++) {
		snprintf(host, sizeof(host), "h%zu.example", i);
		tls_host_count(host, TLSF_OTHER, 100 + i);
	}
	CHECK(tls_nhosts == TLSSTAT_HOSTS_MAX &&
	    strcmp(tls_hosts[0].th_host, "h1024.example") == 0,
	    "host 1025 evicts the stalest");

	reset();
	for (i = 0; i <= TLSSTAT_LEARN_MAX; i++) {
		snprintf(host, sizeof(host), "l%zu.example", i);
		(void)tls_learn_count(&c, host, 100 + i);
	}
	CHECK(tls_nlearns == TLSSTAT_LEARN_MAX &&
	    strcmp(tls_learns[0].tl_host, "l4096.example") == 0,
	    "count 4097 evicts the stalest");
}

static void
test_window(void)
{
	uint32_t c[TLSF_MAX];
	uint64_t t0 = 36000; /* on a bucket boundary */

	reset();
	tls_host_count("w.example", TLSF_UNKNOWN_CA, t0);
	tls_host_count("w.example", TLSF_UNKNOWN_CA, t0 + 299);
	tls_host_count("w.example", TLSF_TIMEOUT, t0 + 300);
	CHECK(tls_host_sum(&tls_hosts[0], t0 + 300, c) == 3 &&
	    c[TLSF_UNKNOWN_CA] == 2 && c[TLSF_TIMEOUT] == 1,
	    "counts by reason");
	CHECK(tls_host_sum(&tls_hosts[0], t0 + 3599, c) == 3,
	    "all counted 59 minutes later");
	CHECK(tls_host_sum(&tls_hosts[0], t0 + 3600, c) == 1 &&
	    c[TLSF_TIMEOUT] == 1, "the first bucket leaves after an hour");
	CHECK(tls_host_sum(&tls_hosts[0], t0 + 3900, c) == 0,
	    "all gone after an hour and five minutes");
	/* The same slot, reused an hour later, starts from zero. */
	tls_host_count("w.example", TLSF_OTHER, t0 + 3600);
	CHECK(tls_host_sum(&tls_hosts[0], t0 + 3600, c) == 2 &&
	    c[TLSF_UNKNOWN_CA] == 0 && c[TLSF_OTHER] == 1,
	    "a reused bucket is cleared");
}

/* The mitmctl side: a channel as master has it, read as mitmctl. */
static int
ctl_read(int fd, struct ipc_msg *m)
{
	const char *why = "";
	int	    rv;

	ipc_set_role(ROLE_CTL);
	rv = ipc_recv_sync(fd, ROLE_MASTER, m, rbuf, sizeof(rbuf), &why);
	ipc_set_role(ROLE_MASTER);
	if (rv != 1)
		printf("# recv: %d %s\n", rv, why);
	return (rv);
}

static void
test_ctl(void)
{
	struct ipc_chan	   *c;
	struct ipc_msg	    m;
	struct passthrough  pt;
	struct ctl_hoststat hs;
	char		    text[IPC_TEXT_MAX + 1], host[64];
	int		    sp[2], okr, n, good;
	size_t		    i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == -1 ||
	    (c = ipc_chan_new(t_master.m_base, sp[0], ROLE_CTL, NULL, NULL,
	    NULL)) == NULL) {
		CHECK(0, "socketpair");
		return;
	}
	reset();
	t_conf.mc_global.cg_pt_after = 1;
	pinned("192.0.2.1", "a.example");
	pinned("192.0.2.2", "b.example");
	tlsstat_ctl_list(c, 7);
	good = ctl_read(sp[1], &m) == 1 && ipc_get_ctl_pt(&m, &pt) == 0 &&
	    m.im_hdr.ih_reqid == 7 && strcmp(pt.pt_host, "a.example") == 0 &&
	    pt.pt_op == PT_ADD && pt.pt_failures == 1;
	good &= ctl_read(sp[1], &m) == 1 && ipc_get_ctl_pt(&m, &pt) == 0 &&
	    strcmp(pt.pt_host, "b.example") == 0;
	good &= ctl_read(sp[1], &m) == 1 && m.im_hdr.ih_type == IMSG_CTL_END;
	CHECK(good, "passthrough list: one CTL_PT each, in order, CTL_END");

	tlsstat_sync_worker(c);
	n = 0;
	/* sync goes to a worker's channel; here read raw as the count. */
	for (i = 0; i < 2; i++)
		n += recv(sp[1], rbuf, sizeof(rbuf), MSG_DONTWAIT) > 0;
	CHECK(n == 2, "a new worker gets every live entry");

	nbcast = 0;
	logbuf[0] = '\0';
	tlsstat_ctl_clear(c, 9);
	good = ctl_read(sp[1], &m) == 1 &&
	    ipc_get_ctl_result(&m, &okr, text, sizeof(text)) == 0 && okr == 1 &&
	    strcmp(text, "passthrough table cleared (2 entries)") == 0;
	CHECK(good && tls_npts == 0 && tls_nlearns == 0 && nbcast == 1 &&
	    bcast[0].pt_op == PT_CLEAR_ALL && strstr(logbuf,
	    "AUDIT passthrough cleared entries=2\n") != NULL,
	    "passthrough clear: answered, audited, sent to the workers");
	tlsstat_ctl_list(c, 10);
	CHECK(ctl_read(sp[1], &m) == 1 && m.im_hdr.ih_type == IMSG_CTL_END,
	    "the list is empty after clear");

	/* Host statistics: the most failures first, at most 64. */
	reset();
	for (i = 0; i < 100; i++) {
		snprintf(host, sizeof(host), "s%02zu.example", i);
		for (n = 0; n <= (int)i; n++)
			fail("192.0.2.1", 1, host, TLS_SIDE_UPSTREAM,
			    n % 2 ? TLSF_CERT_VALIDATION : TLSF_HANDSHAKE, 0);
	}
	tlsstat_ctl_hoststats(c, 11);
	good = 1;
	for (i = 0; i < TLSSTAT_HOSTSTAT_MAX; i++) {
		snprintf(host, sizeof(host), "s%02zu.example", 99 - i);
		good &= ctl_read(sp[1], &m) == 1 &&
		    ipc_get_ctl_hoststat(&m, &hs) == 0 &&
		    strcmp(hs.hs_host, host) == 0 &&
		    hs.hs_count[TLSF_HANDSHAKE] + hs.hs_count[
		    TLSF_CERT_VALIDATION] == 100 - i;
	}
	good &= recv(sp[1], rbuf, sizeof(rbuf), MSG_DONTWAIT) == -1;
	CHECK(good, "host stats: 64 hosts, most failures first, nothing more");
	ipc_chan_free(c);
	close(sp[1]);
}

int
main(void)
{
	log_init("test", 1);
	log_set_sink(log_capture);
	ipc_set_role(ROLE_MASTER);
	master = &t_master;
	t_master.m_conf = &t_conf;
	t_master.m_base = event_base_new();
	t_worker.p_role = ROLE_TLSWORKER;
	t_worker.p_index = 3;

	test_learning();
	test_bad_reports();
	test_forget_and_expire();
	test_bounds();
	test_window();
	test_ctl();

	if (tls_timer != NULL)
		event_free(tls_timer);
	event_base_free(t_master.m_base);
	return (unit_done());
}
