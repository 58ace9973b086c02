/*
 * CONNECT: the decision, the upstream connection, the "200", and then a
 * raw relay of bytes both ways with splice(2) through one pipe per
 * direction, so the payload never enters user space. Action tunnel ends
 * here; intercept goes on in intercept.c once upstream is connected, and
 * comes back here for bytes that are neither TLS nor HTTP.
 *
 * Back-pressure: a direction reads its source only while its pipe is
 * empty and writes while the pipe holds bytes, so at most one pipe's worth
 * per direction is in flight and a slow reader stops the fast writer.
 * Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other
 * once its pipe is empty; the relay ends when both directions are shut,
 * on an error (both sockets close), or after cg_idle_tmo without a byte.
 */
#include <sys/socket.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/tlsworker.h"

#define RELAY_C2U	 0	/* direction index, also the side it reads */
#define RELAY_U2C	 1
#define RELAY_SIDE_CLIENT 0
#define RELAY_SIDE_UP	 1
#define RELAY_PIPE_DEF	 65536	/* if F_GETPIPE_SZ fails */
#define RELAY_SPLICE	 (SPLICE_F_NONBLOCK | SPLICE_F_MOVE)
#define TUNNEL_OK	 "HTTP/1.1 200 Connection established\r\n\r\n"

struct relay_dir {
	int		 rd_from;
	int		 rd_to;
	int		 rd_pipe[2];	/* [0] read end, [1] write end */
	size_t		 rd_inpipe;	/* bytes in the pipe */
	size_t		 rd_cap;	/* the pipe's capacity */
	int		 rd_eof;	/* rd_from said EOF */
	int		 rd_shut;	/* rd_to shut down for writing */
	int		 rd_want_read;
	int		 rd_want_write;
	struct evbuffer	*rd_pending;	/* written before any splice */
	int		 rd_count_pending; /* client bytes, not our "200" */
};

struct relay {
	struct conn	*rl_conn;
	int		 rl_ufd;	/* upstream socket, owned */
	struct relay_dir rl_dir[2];
	struct event	*rl_rev[2];	/* by side */
	struct event	*rl_wev[2];
	int		 rl_ron[2];
	int		 rl_won[2];
};

static void	tunnel_connected(struct conn *, int, int, const char *);
static void	tunnel_relay_ok(struct conn *, int, int);
static struct relay *relay_new(struct conn *, int);
static int	relay_dir_init(struct relay_dir *, int, int);
static int	relay_pump(struct relay *, int);
static void	relay_run(struct relay *);
static void	relay_io(evutil_socket_t, short, void *);

void
tunnel_start(struct conn *cn)
{
	char	 rule[POLICY_RULE_STRLEN];

	if (conn_decide(cn) == ACTION_BLOCK) {
		/* Decided before any DNS query or socket: a blocked host
		 * never sees a packet from us. */
		conn_why(cn, "blocked");
		conn_respond(cn, 403, "mitmd: CONNECT to %s is blocked by "
		    "rule %s (line %u)", cn->cn_target,
		    policy_rule_str(&cn->cn_pd, rule, sizeof(rule)),
		    cn->cn_pd.pd_line);
		return;
	}
	if (cn->cn_fwd != NULL) {	/* plain HTTP before, on keep-alive */
		fwd_free(cn->cn_fwd);
		cn->cn_fwd = NULL;
	}
	cn->cn_state = CONN_UPSTREAM;
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	bufferevent_disable(cn->cn_bev, EV_READ);
	upstream_start(&cn->cn_up, cn, cn->cn_host, cn->cn_port,
	    tunnel_connected);
}

/*
 * A client of a reverse listener: no request head, the listener names the
 * upstream and the action is intercept. The client speaks TLS at once.
 */
void
tunnel_reverse(struct conn *cn, const struct conf_listener *l)
{
	struct bufferevent *ubev;
	int	 v6 = strchr(l->cl_rhost, ':') != NULL;

	util_strlcpy(cn->cn_host, l->cl_rhost, sizeof(cn->cn_host));
	cn->cn_host_v6 = v6;
	cn->cn_port = (uint16_t)l->cl_rport;
	snprintf(cn->cn_target, sizeof(cn->cn_target), v6 ? "[%s]:%u" :
	    "%s:%u", cn->cn_host, (unsigned)cn->cn_port);
	cn->cn_reverse = 1;
	memset(&cn->cn_pd, 0, sizeof(cn->cn_pd));
	cn->cn_pd.pd_action = ACTION_INTERCEPT;
	cn->cn_pd.pd_line = l->cl_line;
	cn->cn_pd.pd_reverse = 1;
	cn->cn_decided = 1;
	cn->cn_nreq = 1;
	ev_set_target(&cn->cn_ev, cn->cn_host, cn->cn_port);
	ev_connect_received(&cn->cn_ev, NULL, "reverse");
	cn->cn_ev_on = 1;
	conn_announce(cn, 1, 1);
	if ((ubev = pool_take(l->cl_id)) != NULL) {
		intercept_start_pooled(cn, ubev);
		return;
	}
	cn->cn_state = CONN_UPSTREAM;
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	bufferevent_disable(cn->cn_bev, EV_READ);
	upstream_start(&cn->cn_up, cn, cn->cn_host, cn->cn_port,
	    tunnel_connected);
}

static void
tunnel_connected(struct conn *cn, int fd, int err, const char *why)
{
	if (err != UP_OK && cn->cn_reverse) {
		/* The client waits for TLS, not for an HTTP answer: it
		 * gets a handshake and a 502 page that says why. */
		log_info("conn=%llu: %s: %s",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target, why);
		conn_why(cn, "error");
		intercept_start_failed(cn, upstream_status(err), why);
		return;
	}
	if (err != UP_OK) {
		log_info("conn=%llu: %s: %s",
		    (unsigned long long)cn->cn_meta.cm_id, cn->cn_target, why);
		conn_why(cn, "error");
		conn_respond(cn, upstream_status(err), "mitmd: cannot connect "
		    "to %s: %s", cn->cn_target, why);
		return;
	}
	(void)conn_nodelay(fd);
	if (cn->cn_pd.pd_action == ACTION_INTERCEPT) {
		intercept_start(cn, fd);
		return;
	}
	cn->cn_ev.ef_protocol = "tcp";
	tunnel_relay_ok(cn, fd, 1);
}

void
tunnel_relay(struct conn *cn, int fd)
{
	tunnel_relay_ok(cn, fd, 0);
}

static void
tunnel_relay_ok(struct conn *cn, int fd, int send_ok)
{
	struct relay	*rl;
	struct evbuffer	*out = bufferevent_get_output(cn->cn_bev);

	if ((rl = relay_new(cn, fd)) == NULL) {
		log_warn("conn=%llu: relay", (unsigned long long)cn->cn_meta.cm_id);
		close(fd);
		conn_respond(cn, 503, "mitmd: out of resources");
		return;
	}
	/* What the client sent after the CONNECT head (a ClientHello,
	 * usually) goes upstream before anything else; what we still owe
	 * the client (the "200") goes first its way. */
	/* A socket bufferevent freezes the start of its output for
	 * everyone else; it is freed right below. */
	evbuffer_unfreeze(out, 1);
	if (evbuffer_add_buffer(rl->rl_dir[RELAY_C2U].rd_pending,
	    bufferevent_get_input(cn->cn_bev)) == -1 ||
	    evbuffer_add_buffer(rl->rl_dir[RELAY_U2C].rd_pending, out) == -1 ||
	    (send_ok && evbuffer_add(rl->rl_dir[RELAY_U2C].rd_pending,
	    TUNNEL_OK, strlen(TUNNEL_OK)) == -1)) {
		relay_free(rl);
		conn_respond(cn, 503, "mitmd: out of memory");
		return;
	}
	/* From here on the fd is spliced, the bufferevent is in the way. */
	bufferevent_free(cn->cn_bev);
	cn->cn_bev = NULL;
	cn->cn_relay = rl;
	cn->cn_state = CONN_TUNNEL;
	conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	relay_run(rl);
}

static int
relay_dir_init(struct relay_dir *rd, int from, int to)
{
	int	 sz;

	rd->rd_from = from;
	rd->rd_to = to;
	if ((rd->rd_pending = evbuffer_new()) == NULL)
		return -1;
	if (pipe2(rd->rd_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		rd->rd_pipe[0] = rd->rd_pipe[1] = -1;
		return -1;
	}
	/* Past the per-user pipe page limit the kernel hands out smaller
	 * pipes: ask rather than assume 64 KiB. */
	sz = fcntl(rd->rd_pipe[1], F_GETPIPE_SZ);
	rd->rd_cap = sz > 0 ? (size_t)sz : RELAY_PIPE_DEF;
	return 0;
}

static struct relay *
relay_new(struct conn *cn, int ufd)
{
	struct relay	*rl;
	int		 s, fd[2];

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->rl_conn = cn;
	rl->rl_ufd = ufd;
	rl->rl_dir[0].rd_pipe[0] = rl->rl_dir[0].rd_pipe[1] = -1;
	rl->rl_dir[1].rd_pipe[0] = rl->rl_dir[1].rd_pipe[1] = -1;
	fd[RELAY_SIDE_CLIENT] = cn->cn_fd;
	fd[RELAY_SIDE_UP] = ufd;
	if (relay_dir_init(&rl->rl_dir[RELAY_C2U], cn->cn_fd, ufd) == -1 ||
	    relay_dir_init(&rl->rl_dir[RELAY_U2C], ufd, cn->cn_fd) == -1)
		goto fail;
	rl->rl_dir[RELAY_C2U].rd_count_pending = 1;
	for (s = 0; s < 2; s++) {
		rl->rl_rev[s] = event_new(tw_env.tw_base, fd[s],
		    EV_READ | EV_PERSIST, relay_io, rl);
		rl->rl_wev[s] = event_new(tw_env.tw_base, fd[s],
		    EV_WRITE | EV_PERSIST, relay_io, rl);
		if (rl->rl_rev[s] == NULL || rl->rl_wev[s] == NULL)
			goto fail;
	}
	return rl;
 fail:
	rl->rl_ufd = -1;	/* the caller closes it */
	relay_free(rl);
	return NULL;
}

void
relay_free(struct relay *rl)
{
	struct relay_dir *rd;
	int		 i;

	for (i = 0; i < 2; i++) {
		rd = &rl->rl_dir[i];
		if (rd->rd_pending != NULL)
			evbuffer_free(rd->rd_pending);
		if (rd->rd_pipe[0] != -1)
			close(rd->rd_pipe[0]);
		if (rd->rd_pipe[1] != -1)
			close(rd->rd_pipe[1]);
		if (rl->rl_rev[i] != NULL)
			event_free(rl->rl_rev[i]);
		if (rl->rl_wev[i] != NULL)
			event_free(rl->rl_wev[i]);
	}
	if (rl->rl_ufd != -1)
		close(rl->rl_ufd);
	if (rl->rl_conn != NULL && rl->rl_conn->cn_relay == rl)
		rl->rl_conn->cn_relay = NULL;
	free(rl);
}

static void
relay_count(struct relay *rl, int d, size_t n)
{
	if (d == RELAY_C2U)
		conn_count_in(rl->rl_conn, n);
	else
		conn_count_out(rl->rl_conn, n);
}

/* Bytes queued before the splicing starts. 1 moved, 0 not, -1 error. */
static int
relay_pending(struct relay *rl, int d)
{
	struct relay_dir *rd = &rl->rl_dir[d];
	int		 n, moved = 0;

	while (evbuffer_get_length(rd->rd_pending) > 0) {
		n = evbuffer_write(rd->rd_pending, rd->rd_to);
		if (n > 0) {
			if (rd->rd_count_pending)
				relay_count(rl, d, (size_t)n);
			moved = 1;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			rd->rd_want_write = 1;
			return moved;
		}
		return -1;
	}
	return moved;
}

/* Pipe to destination. 1 moved, 0 would block, -1 error. */
static int
relay_out(struct relay *rl, int d)
{
	struct relay_dir *rd = &rl->rl_dir[d];
	ssize_t		 n;

	n = splice(rd->rd_pipe[0], NULL, rd->rd_to, NULL, rd->rd_inpipe,
	    RELAY_SPLICE);
	if (n > 0) {
		rd->rd_inpipe -= (size_t)n;
		relay_count(rl, d, (size_t)n);
		return 1;
	}
	if (n == -1 && errno == EAGAIN)
		rd->rd_want_write = 1;
	else if (n == -1 && errno != EINTR)
		return -1;
	return 0;
}

/* Source to pipe. 1 moved (or EOF), 0 would block, -1 error. */
static int
relay_in(struct relay *rl, int d)
{
	struct relay_dir *rd = &rl->rl_dir[d];
	ssize_t		 n;

	n = splice(rd->rd_from, NULL, rd->rd_pipe[1], NULL, rd->rd_cap,
	    RELAY_SPLICE);
	if (n > 0) {
		rd->rd_inpipe += (size_t)n;
		return 1;
	}
	if (n == 0) {
		rd->rd_eof = 1;
		return 1;
	}
	if (errno == EAGAIN)
		rd->rd_want_read = 1;
	else if (errno != EINTR)
		return -1;
	return 0;
}

/* One direction as far as it goes without blocking: 1 if bytes moved,
 * 0 if not, -1 on an error that ends the relay. */
static int
relay_pump(struct relay *rl, int d)
{
	struct relay_dir *rd = &rl->rl_dir[d];
	int		 moved, any = 0, r;

	rd->rd_want_read = rd->rd_want_write = 0;
	do {
		if ((moved = relay_pending(rl, d)) == -1)
			return -1;
		if (evbuffer_get_length(rd->rd_pending) > 0)
			break;
		if (rd->rd_inpipe > 0 && (r = relay_out(rl, d)) != 0) {
			if (r == -1)
				return -1;
			moved = 1;
		}
		/* Read only into an empty pipe: a pipe with data may be
		 * full by its slot count, and the socket would stay
		 * readable while splice says EAGAIN, spinning the loop. */
		if (!rd->rd_eof && rd->rd_inpipe == 0 &&
		    (r = relay_in(rl, d)) != 0) {
			if (r == -1)
				return -1;
			moved = 1;
		}
		any |= moved;
	} while (moved);
	if (rd->rd_eof && rd->rd_inpipe == 0 && !rd->rd_shut &&
	    evbuffer_get_length(rd->rd_pending) == 0) {
		/* ENOTCONN if the peer is gone already: the other
		 * direction will see it. */
		(void)shutdown(rd->rd_to, SHUT_WR);
		rd->rd_shut = 1;
	}
	return any;
}

static void
relay_event(struct event *ev, int *on, int want)
{
	if (want && !*on)
		event_add(ev, NULL);
	else if (!want && *on)
		event_del(ev);
	*on = want;
}

static void
relay_run(struct relay *rl)
{
	struct conn	*cn = rl->rl_conn;
	int		 a, b, s;

	a = relay_pump(rl, RELAY_C2U);
	b = a == -1 ? -1 : relay_pump(rl, RELAY_U2C);
	if (a == -1 || b == -1) {
		log_debug("conn=%llu: relay: %s",
		    (unsigned long long)cn->cn_meta.cm_id, strerror(errno));
		conn_why(cn, "error");
		conn_close(cn);
		return;
	}
	if (a || b)
		conn_touch(cn);
	if (rl->rl_dir[RELAY_C2U].rd_shut && rl->rl_dir[RELAY_U2C].rd_shut) {
		conn_close(cn);
		return;
	}
	/* Direction d reads side d and writes side 1 - d. */
	for (s = 0; s < 2; s++) {
		relay_event(rl->rl_rev[s], &rl->rl_ron[s],
		    rl->rl_dir[s].rd_want_read);
		relay_event(rl->rl_wev[s], &rl->rl_won[s],
		    rl->rl_dir[1 - s].rd_want_write);
	}
}

static void
relay_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_run(arg);
}
