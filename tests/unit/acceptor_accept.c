/*
 * Unit test of the acceptor's accept path (acceptor/accept.c, worker.c) in
 * one process: a real loopback listener, worker channels on socketpairs
 * whose other end this test reads as the worker would. Covers the
 * metadata of a handoff, the in-flight cap pausing accept until an ack,
 * the ACL refusal, the reserve fd at the fd limit, a worker replaced by a
 * respawn, and a worker channel reaching EOF.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "acceptor/acceptor.h"
#include "common/child.h"
#include "common/ipc.h"
#include "tests/unit/unit.h"

#define T_PUMP		20	/* loop turns to settle */
#define T_WAIT_MSEC	200

static uint8_t t_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1];


static void
pump(struct event_base *base)
{
	int i;

	for (i = 0; i < T_PUMP; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static int
client(uint16_t port)
{
	struct sockaddr_in sin;
	int	 s;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(s);
		return (-1);
	}
	return (s);
}

static uint16_t
local_port(int s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	getsockname(s, (struct sockaddr *)&sin, &len);
	return (ntohs(sin.sin_port));
}

/* As the worker: one handoff within T_WAIT_MSEC, its fd closed unless
 * fdp is given. 1 if one arrived. */
static int
worker_recv(int ws, struct conn_meta *cm, int *fdp)
{
	struct pollfd pfd = { ws, POLLIN, 0 };
	struct ipc_msg m;
	const char *why = NULL;
	int	 rv;

	if (poll(&pfd, 1, T_WAIT_MSEC) != 1)
		return (0);
	/* Decode as the receiving role would. */
	ipc_set_role(ROLE_TLSWORKER);
	rv = ipc_recv_sync(ws, ROLE_ACCEPTOR, &m, t_buf, sizeof(t_buf), &why);
	ipc_set_role(ROLE_ACCEPTOR);
	if (rv != 1 || ipc_get_conn_handoff(&m, cm) == -1) {
		printf("# worker_recv: %s\n", why != NULL ? why : "not a handoff");
		if (rv == 1 && m.im_fd != -1)
			close(m.im_fd);
		return (0);
	}
	if (fdp != NULL)
		*fdp = m.im_fd;
	else if (m.im_fd != -1)
		close(m.im_fd);
	return (m.im_fd != -1);
}

static void
worker_ack(int ws, uint64_t id, uint32_t open)
{
	struct worker_load wl;

	memset(&wl, 0, sizeof(wl));
	wl.wl_conn_id = id;
	wl.wl_open = open;
	ipc_send_sync(ws, IMSG_CONN_ACK, 0, -1, &wl, sizeof(wl));
}

/* Take and acknowledge every handoff waiting on a worker; the count. */
static int
worker_take_all(int ws, struct event_base *base)
{
	struct conn_meta cm;
	int n = 0;

	while (worker_recv(ws, &cm, NULL) == 1) {
		worker_ack(ws, cm.cm_id, 0);
		n++;
	}
	pump(base);
	return (n);
}

/* 1 if the peer closed the client socket (EOF or reset). */
static int
closed_by_peer(int s)
{
	struct pollfd pfd = { s, POLLIN, 0 };
	char	 c;

	if (poll(&pfd, 1, T_WAIT_MSEC) != 1)
		return (0);
	return (recv(s, &c, 1, 0) <= 0);
}

static void
add_allow(struct acceptor_acl *acl, const char *s)
{
	struct conf_allow ca;

	memset(&ca, 0, sizeof(ca));
	cidr_parse(s, &ca.ca_cidr);
	acceptor_acl_add(acl, &ca);
}

int
main(void)
{
	static struct acceptor acc;
	struct child	 ch;
	struct event_base *base;
	struct sockaddr_in sin;
	struct conn_meta cm, cm2;
	struct rlimit	 rl, orl;
	socklen_t	 len = sizeof(sin);
	uint16_t	 port;
	int		 sp[2], w0[2], w1[2], lfd, c, cs[ACCEPTOR_MAX_INFLIGHT + 1];
	int		 i, n, fd, lowest;

	ipc_set_role(ROLE_ACCEPTOR);
	/* The reserve is a duplicate of fd 3, the channel to master. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == -1 ||
	    dup2(sp[0], IPC_CHILD_FD) == -1)
		return (2);
	memset(&ch, 0, sizeof(ch));
	base = event_base_new();
	acceptor_init(&acc, base, &ch);
	ok(acc.ac_reserve != -1 && acc.ac_paused, "init: reserve, paused");
	add_allow(&acc.ac_acl, "127.0.0.0/8");

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1)
		return (2);
	port = ntohs(sin.sin_port);
	ok(acceptor_listen(&acc, lfd, 7) == 0, "listener installed");

	/* No worker: the connection waits in the backlog. */
	c = client(port);
	pump(base);
	ok(acc.ac_total == 0 && acc.ac_paused, "no worker: nothing accepted");

	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, w0);
	acceptor_worker_attach(&acc, 0, 100, w0[0]);
	pump(base);
	ok(!acc.ac_paused, "worker attached: accepting");
	ok(worker_recv(w0[1], &cm, NULL) == 1, "handoff with an fd");
	ok(cm.cm_listener == 7 && cm.cm_mode == CONN_MODE_EXPLICIT &&
	    cm.cm_origdst.a_family == AF_UNSPEC, "meta: listener, mode");
	ok(cm.cm_client.a_family == AF_INET &&
	    cm.cm_client.a_port == local_port(c) &&
	    cm.cm_local.a_port == port, "meta: client and local addresses");
	ok(cm.cm_accept_usec > 0 && cm.cm_id > 0, "meta: id and time");
	close(c);
	ok(acc.ac_workers[0].aw_inflight == 1, "in flight until acked");
	worker_ack(w0[1], cm.cm_id, 1);
	pump(base);
	ok(acc.ac_workers[0].aw_inflight == 0 &&
	    acc.ac_workers[0].aw_open == 1, "ack: in flight 0, open 1");

	/* The cap: ACCEPTOR_MAX_INFLIGHT handoffs, then a pause. */
	for (i = 0; i < ACCEPTOR_MAX_INFLIGHT + 1; i++)
		cs[i] = client(port);
	pump(base);
	for (n = 0; worker_recv(w0[1], &cm2, NULL) == 1; n++)
		;
	ok(n == ACCEPTOR_MAX_INFLIGHT, "cap: exactly the cap handed off");
	ok(acc.ac_paused, "cap: accepting paused");
	ok(cm2.cm_id > cm.cm_id, "ids increase");
	worker_ack(w0[1], cm2.cm_id, 2);
	pump(base);
	ok(worker_recv(w0[1], &cm2, NULL) == 1, "cap: one ack, one more "
	    "handoff");
	for (i = 0; i < ACCEPTOR_MAX_INFLIGHT + 1; i++)
		close(cs[i]);

	/* A second worker, less loaded, takes the next connection. */
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, w1);
	acceptor_worker_attach(&acc, 1, 101, w1[0]);
	c = client(port);
	pump(base);
	ok(worker_recv(w1[1], &cm, NULL) == 1 &&
	    worker_recv(w0[1], &cm2, NULL) == 0, "least loaded worker chosen");
	close(c);

	/* A respawned worker 0: the old channel and its count go, and the
	 * clients it never acknowledged go to worker 1. */
	n = (int)acc.ac_workers[0].aw_inflight;
	close(w0[1]);
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, w0);
	acceptor_worker_attach(&acc, 0, 102, w0[0]);
	ok(acc.ac_workers[0].aw_pid == 102, "replaced: new pid");
	/* Worker 1 had one of its own; past the cap a client is closed. */
	ok(acc.ac_workers[1].aw_inflight == ((uint32_t)n + 1 <
	    ACCEPTOR_MAX_INFLIGHT ? (uint32_t)n + 1 : ACCEPTOR_MAX_INFLIGHT),
	    "replaced: unacknowledged clients moved to worker 1");

	/* Worker 1 dies before acknowledging: its clients go to worker 0,
	 * the acceptor goes on. */
	n = (int)acc.ac_workers[1].aw_inflight;
	close(w1[1]);
	pump(base);
	ok(acc.ac_workers[1].aw_chan == NULL, "worker EOF: channel dropped");
	ok(worker_take_all(w0[1], base) == n && acc.ac_workers[0].aw_inflight
	    == 0, "worker EOF: its clients handed to worker 0");
	c = client(port);
	pump(base);
	ok(worker_recv(w0[1], &cm, &fd) == 1, "goes on with the other worker");
	worker_ack(w0[1], cm.cm_id, 1);
	pump(base);
	close(fd);
	close(c);

	/* ACL: refused connections are closed, never handed off. */
	acceptor_acl_clear(&acc.ac_acl);
	add_allow(&acc.ac_acl, "10.0.0.0/8");
	c = client(port);
	pump(base);
	ok(closed_by_peer(c) && worker_recv(w0[1], &cm, NULL) == 0 &&
	    acc.ac_refused == 1, "ACL: refused and closed");
	close(c);
	acceptor_acl_clear(&acc.ac_acl);
	c = client(port);
	pump(base);
	ok(closed_by_peer(c) && acc.ac_refused == 2, "ACL: empty list "
	    "refuses loopback");
	close(c);
	add_allow(&acc.ac_acl, "127.0.0.1");

	/* The fd limit: no fd below the limit is free. */
	c = client(port);
	lowest = fcntl(0, F_DUPFD, 0);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &orl);
	rl = orl;
	rl.rlim_cur = (rlim_t)lowest;
	setrlimit(RLIMIT_NOFILE, &rl);
	pump(base);
	ok(acc.ac_shed == 1, "fd limit: connection shed");
	ok(acc.ac_reserve != -1, "fd limit: reserve made again");
	setrlimit(RLIMIT_NOFILE, &orl);
	ok(closed_by_peer(c), "fd limit: client sees a close");
	close(c);
	c = client(port);
	pump(base);
	ok(worker_recv(w0[1], &cm, NULL) == 1, "after the limit: accepting");
	worker_ack(w0[1], cm.cm_id, 1);
	pump(base);
	close(c);

	/* No worker can take one: the listener pauses, nothing spins. */
	close(w0[1]);
	pump(base);
	c = client(port);
	pump(base);
	ok(acc.ac_paused && acceptor_choose(&acc) == -1, "no worker: paused");
	close(c);

	return (unit_done());
}
