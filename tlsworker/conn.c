/*
 * One client connection on a tlsworker, from the acceptor's handoff to
 * close: read the request head under cg_header_tmo, decide the policy and
 * write the decision audit line, hand CONNECT to tunnel.c and absolute-form
 * requests to fwd.c, answer errors with a short text response, and on
 * close write the closed audit line and tell the acceptor.
 *
 * The client fd belongs to the conn from conn_handoff() to conn_close().
 * The bufferevent on it never closes it (no BEV_OPT_CLOSE_ON_FREE), so a
 * tunnel can drop the bufferevent and splice on the bare fd. The one
 * exception is the TLS bufferevent of an intercepted connection: it owns
 * the SSL and the fd (libevent may still use the SSL after a callback
 * that frees the bufferevent returns), and cn_fd_owned says so.
 *
 * Events (events.h): connect_received and connect_decision for the first
 * head of a connection, stream_closed with cn_why when it closes.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "tlsworker/h2.h"
#include "tlsworker/tlsworker.h"

#define CONN_BODY_MAX	512	/* text of an error response */
#define CONN_WHY_DEFAULT "closed"
#define TW_BUSY		"HTTP/1.1 503 Service Unavailable\r\n" \
			"Content-Length: 0\r\nConnection: close\r\n\r\n"

static void	conn_head_read(struct bufferevent *, void *);
static void	conn_head_event(struct bufferevent *, short, void *);
static void	conn_head_done(struct conn *);
static void	conn_timer_cb(evutil_socket_t, short, void *);
static void	conn_flushed(struct bufferevent *, void *);
static void	conn_linger_read(struct bufferevent *, void *);
static void	conn_linger_event(struct bufferevent *, short, void *);
static void	conn_audit_closed(struct conn *);

int
conn_nodelay(int fd)
{
	int	 one = 1;

	/* Nagle plus delayed ACK stalls relayed responses ~40 ms. */
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static struct conn *
conn_new(const struct conn_meta *cm, int fd)
{
	struct conn	*cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return NULL;
	cn->cn_meta = *cm;
	cn->cn_fd = fd;
	cn->cn_fd_owned = 1;
	ev_flow_init(&cn->cn_ev, cm->cm_id, &cm->cm_client);
	cn->cn_up.up_fd = -1;
	cn->cn_start = cn->cn_last = util_now_usec();
	addr_str(&cm->cm_client, 1, cn->cn_client, sizeof(cn->cn_client));
	http1_head_init(&cn->cn_req, HTTP1_REQUEST, tw_env.tw_conf.cg_max_head,
	    tw_env.tw_conf.cg_max_headers);
	cn->cn_timer = evtimer_new(tw_env.tw_base, conn_timer_cb, cn);
	cn->cn_bev = bufferevent_socket_new(tw_env.tw_base, fd, 0);
	if (cn->cn_timer == NULL || cn->cn_bev == NULL) {
		if (cn->cn_timer)
			event_free(cn->cn_timer);
		if (cn->cn_bev)
			bufferevent_free(cn->cn_bev);
		ev_flow_free(&cn->cn_ev);
		free(cn);
		return NULL;
	}
	bufferevent_setwatermark(cn->cn_bev, EV_READ, 0, TW_HIGH_WM);
	return cn;
}

/*
 * The acceptor handed us a client (main.c's dispatch; fd is ours now).
 * The acceptor counts on an ACK with our load for each handoff, and on a
 * CLOSED for each connection, even one refused at once.
 */
void
conn_handoff(const struct conn_meta *cm, int fd)
{
	struct worker_load	 wl;
	struct conn		*cn = NULL;

	if (tw_env.tw_open >= tw_env.tw_conf.cg_max_conns)
		log_warnx("conn=%llu refused: %u connections open",
		    (unsigned long long)cm->cm_id, tw_env.tw_open);
	else if (util_nonblock(fd) == -1 || (cn = conn_new(cm, fd)) == NULL)
		log_warn("conn=%llu", (unsigned long long)cm->cm_id);
	if (cn != NULL) {
		TAILQ_INSERT_TAIL(&tw_env.tw_conns, cn, cn_entry);
		tw_env.tw_open++;
		tw_env.tw_total++;
	}
	memset(&wl, 0, sizeof(wl));
	wl.wl_conn_id = cm->cm_id;
	wl.wl_open = tw_env.tw_open;
	if (tw_env.tw_acceptor != NULL &&
	    ipc_send_conn_ack(tw_env.tw_acceptor, 0, -1, &wl) == -1)
		log_warnx("cannot acknowledge conn=%llu",
		    (unsigned long long)cm->cm_id);
	if (cn == NULL) {
		/* One try, never blocking: a fresh socket's send buffer
		 * takes this, and a client that learns why retries later. */
		(void)send(fd, TW_BUSY, strlen(TW_BUSY), MSG_DONTWAIT);
		close(fd);
		worker_conn_closed(cm->cm_id);
		return;
	}
	if (conn_nodelay(fd) == -1)
		log_debug("conn=%llu: TCP_NODELAY: %s",
		    (unsigned long long)cm->cm_id, strerror(errno));
	log_debug("conn=%llu from %s", (unsigned long long)cm->cm_id,
	    cn->cn_client);
	if (cm->cm_listener < CONF_MAX_LISTENERS &&
	    tw_env.tw_reverse[cm->cm_listener].cl_kind == LISTENER_REVERSE)
		tunnel_reverse(cn, &tw_env.tw_reverse[cm->cm_listener]);
	else
		conn_head_begin(cn);
}

void
conn_head_begin(struct conn *cn)
{
	struct evbuffer	*in = bufferevent_get_input(cn->cn_bev);

	cn->cn_state = CONN_HEAD;
	/* An idle kept connection holds no head buffer: thousands of them
	 * wait for one request in a while. */
	if (cn->cn_kept && evbuffer_get_length(in) == 0)
		http1_head_free(&cn->cn_req);
	http1_head_reset(&cn->cn_req);
	/* The limits of the config in force for each new head. */
	cn->cn_req.hh_max_head = tw_env.tw_conf.cg_max_head;
	cn->cn_req.hh_max_fields = tw_env.tw_conf.cg_max_headers;
	cn->cn_req.hh_origin = cn->cn_fixed;
	if (tw_env.tw_draining && cn->cn_nreq > 0 &&
	    evbuffer_get_length(in) == 0) {
		conn_close_after_flush(cn);
		return;
	}
	/* Between two requests of a kept connection the wait is idle
	 * time; the head has cg_header_tmo from its first byte. */
	if (cn->cn_kept && evbuffer_get_length(in) == 0)
		conn_timer(cn, TMO_IDLE, tw_env.tw_conf.cg_idle_tmo);
	else
		conn_timer(cn, TMO_HEADER, tw_env.tw_conf.cg_header_tmo);
	cn->cn_kept = 0;
	bufferevent_setcb(cn->cn_bev, conn_head_read, NULL, conn_head_event,
	    cn);
	conn_enable_rw(cn->cn_bev);
	/* A pipelined request may be waiting in the buffer already. */
	if (evbuffer_get_length(in) > 0)
		conn_head_read(cn->cn_bev, cn);
}

static void
conn_head_read(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	size_t		 used;
	int		 r;

	if (cn->cn_tkind == TMO_IDLE && evbuffer_get_length(in) > 0)
		conn_timer(cn, TMO_HEADER, tw_env.tw_conf.cg_header_tmo);
	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		r = http1_head_parse(&cn->cn_req, v.iov_base, v.iov_len,
		    &used);
		evbuffer_drain(in, used);
		if (r == HTTP1_MORE)
			continue;
		if (r == HTTP1_ERROR) {
			log_info("conn=%llu from %s: %d %s",
			    (unsigned long long)cn->cn_meta.cm_id,
			    cn->cn_client, cn->cn_req.hh_status,
			    cn->cn_req.hh_error);
			conn_why(cn, "error");
			if (cn->cn_fixed)	/* TLS talked, HTTP did not */
				conn_respond(cn, cn->cn_req.hh_status,
				    "mitmd: not an HTTP/1.x request on this "
				    "connection: %s", cn->cn_req.hh_error);
			else
				conn_respond(cn, cn->cn_req.hh_status, "%s",
				    cn->cn_req.hh_error);
			return;
		}
		conn_head_done(cn);
		return;
	}
}

static void
conn_head_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*cn = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_debug("conn=%llu: %s", (unsigned long long)cn->cn_meta.cm_id,
		    strerror(EVUTIL_SOCKET_ERROR()));
	/* EOF or error before a whole head: nothing to answer. */
	conn_why(cn, what & BEV_EVENT_ERROR ? "error" : "client_eof");
	conn_close(cn);
}

static void
conn_head_done(struct conn *cn)
{
	struct http1_head *h = &cn->cn_req;

	bufferevent_disable(cn->cn_bev, EV_READ);
	if (cn->cn_fixed) {
		/* Inside a tunnel: the CONNECT decided where it goes. */
		if (cn->cn_fail_page != NULL) {
			ev_request_headers(&cn->cn_ev, h);
			conn_why(cn, "tls_failed");
			conn_respond_body(cn, cn->cn_fail_status,
			    "text/html; charset=utf-8",
			    cn->cn_fail_page, strlen(cn->cn_fail_page));
		} else
			fwd_request(cn);
		return;
	}
	if (!cn->cn_ev_on) {
		ev_set_target(&cn->cn_ev, h->hh_host, h->hh_port);
		ev_connect_received(&cn->cn_ev, http1_str(h, h->hh_method),
		    "explicit");
		cn->cn_ev_on = 1;
	}
	if (h->hh_method_id == HTTP1_M_CONNECT)
		tunnel_start(cn);
	else
		fwd_request(cn);
}

/* "mitmd.cert" (or "mitmd.cert."), when there is a webui to answer. */
int
conn_is_webui(const char *host)
{
	size_t	 n = strlen(TW_WEBUI_HOST);

	return (tw_env.tw_webui_on && strncasecmp(host, TW_WEBUI_HOST, n) ==
	    0 && (host[n] == '\0' || (host[n] == '.' && host[n + 1] == '\0')));
}

uint32_t
conn_decide(struct conn *cn)
{
	struct http1_head *h = &cn->cn_req;
	struct policy_decision pd;
	char		 target[TW_TARGET_MAX];
	int		 same;

	if (http1_hostport(h, target, sizeof(target)) == -1)
		util_strlcpy(target, "-", sizeof(target));
	/* Every request is decided under the rules in force now (a reload
	 * may have come between two on a keep-alive connection); a line is
	 * logged when the target or the outcome differs from the last. */
	policy_match(tw_env.tw_rules, tw_env.tw_nrules, h->hh_host, &pd);
	if (h->hh_method_id == HTTP1_M_CONNECT)
		policy_pt_apply(&pd, &cn->cn_meta.cm_client, h->hh_host,
		    util_wall_usec());
	if (conn_is_webui(h->hh_host)) {
		/* mitmd's own page, whatever the rules say; a CONNECT is
		 * a tunnel to the plain HTTP of the webui. */
		memset(&pd, 0, sizeof(pd));
		pd.pd_action = h->hh_method_id == HTTP1_M_CONNECT ?
		    ACTION_TUNNEL : ACTION_INTERCEPT;
		pd.pd_local = 1;
	}
	same = cn->cn_decided && strcmp(target, cn->cn_target) == 0 &&
	    memcmp(&pd, &cn->cn_pd, sizeof(pd)) == 0;
	cn->cn_pd = pd;
	util_strlcpy(cn->cn_host, h->hh_host, sizeof(cn->cn_host));
	cn->cn_host_v6 = h->hh_host_v6;
	cn->cn_port = h->hh_port;
	util_strlcpy(cn->cn_target, target, sizeof(cn->cn_target));
	cn->cn_nreq++;
	cn->cn_decided = 1;
	if (cn->cn_nreq == 1)
		conn_announce(cn, 1, !same);
	else if (!same)
		conn_announce(cn, 0, 1);
	return cn->cn_pd.pd_action;
}

/* The decision in cn_pd: the connect_decision event (first request of
 * a connection) and the audit line (a new target or outcome). */
void
conn_announce(struct conn *cn, int event, int audit)
{
	char	 rule[POLICY_RULE_STRLEN];

	if (event)
		ev_connect_decision(&cn->cn_ev,
		    conf_action_str(cn->cn_pd.pd_action),
		    cn->cn_pd.pd_passthrough ? EV_RULE_PASSTHROUGH :
		    cn->cn_pd.pd_reverse ? EV_RULE_REVERSE :
		    cn->cn_pd.pd_index, cn->cn_pd.pd_line);
	if (audit)
		log_audit("conn=%llu client=%s target=%s action=%s rule=%s "
		    "line=%u", (unsigned long long)cn->cn_meta.cm_id,
		    cn->cn_client, cn->cn_target,
		    conf_action_str(cn->cn_pd.pd_action),
		    policy_rule_str(&cn->cn_pd, rule, sizeof(rule)),
		    cn->cn_pd.pd_line);
}

/*
 * bufferevent_enable(bev, EV_READ | EV_WRITE), but EV_WRITE only when it
 * is off or bytes wait: enabling it again arms EPOLLOUT (socket and
 * OpenSSL bufferevents alike) with nothing to write, a wakeup and two
 * epoll_ctl(2) for nothing, on every new connection and on every
 * kept-alive request. What is queued later is written as it comes.
 */
int
conn_enable_rw(struct bufferevent *bev)
{
	short ev = EV_READ;

	if (!(bufferevent_get_enabled(bev) & EV_WRITE) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		ev |= EV_WRITE;
	return (bufferevent_enable(bev, ev));
}

void
conn_why(struct conn *cn, const char *why)
{
	if (cn->cn_why == NULL)
		cn->cn_why = why;
}

/* Never frees cn before returning (unless there is no bufferevent to
 * answer on: spliced, or in the middle of a handshake). */
void
conn_respond_body(struct conn *cn, int status, const char *type,
    const char *body, size_t len)
{
	struct evbuffer	*out;

	if (cn->cn_bev == NULL) {
		conn_close(cn);
		return;
	}
	if (status >= 500)
		conn_why(cn, "error");
	out = bufferevent_get_output(cn->cn_bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, http1_reason(status), type,
	    len);
	evbuffer_add(out, body, len);
	conn_close_after_flush(cn);
}

void
conn_respond(struct conn *cn, int status, const char *fmt, ...)
{
	char		 body[CONN_BODY_MAX];
	va_list		 ap;
	int		 n;

	if (cn->cn_bev == NULL) {
		conn_close(cn);
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = sizeof(body) - 2;
	body[n++] = '\n';
	body[n] = '\0';
	if (status >= 400 && status < 500)
		conn_why(cn, "error");
	conn_respond_body(cn, status, "text/plain; charset=utf-8", body,
	    (size_t)n);
}

void
conn_close_after_flush(struct conn *cn)
{
	cn->cn_state = CONN_CLOSING;
	conn_timer(cn, TMO_CLOSE, TW_LINGER_SEC);
	bufferevent_setcb(cn->cn_bev, conn_linger_read, conn_flushed,
	    conn_linger_event, cn);
	bufferevent_setwatermark(cn->cn_bev, EV_WRITE, 0, 0);
	bufferevent_disable(cn->cn_bev, EV_READ);
	bufferevent_enable(cn->cn_bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(cn->cn_bev)) == 0)
		conn_flushed(cn->cn_bev, cn);
}

/*
 * The response is out. Closing now with unread request bytes in the
 * socket would send a RST that can destroy the response at the client
 * before it reads it (an oversized head, a refused body): shut down our
 * side and read to EOF, bounded in time and bytes.
 */
static void
conn_flushed(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;

	/* A write callback of the previous owner's, deferred, can come
	 * after the callbacks were changed: not flushed until it is. */
	if (cn->cn_state != CONN_CLOSING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	cn->cn_state = CONN_LINGER;
	/* TLS: close_notify first, so the client knows the response is
	 * whole; the bufferevent wrote everything before it. */
	if (cn->cn_ssl != NULL)
		(void)SSL_shutdown(cn->cn_ssl);
	/* On failure (the client is gone) reading ends at once with EOF or
	 * an error; never free here, conn_respond() callers rely on it. */
	(void)shutdown(cn->cn_fd, SHUT_WR);
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_enable(bev, EV_READ);
}

static void
conn_linger_read(struct bufferevent *bev, void *arg)
{
	struct conn	*cn = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);

	cn->cn_discarded += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (cn->cn_discarded > TW_LINGER_BYTES)
		conn_close(cn);
}

static void
conn_linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_close(arg);
}

void
conn_timer(struct conn *cn, int kind, uint32_t secs)
{
	struct timeval	 tv;

	cn->cn_tkind = kind;
	cn->cn_tlen = (uint64_t)secs * TW_USEC;
	cn->cn_last = util_now_usec();
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(cn->cn_timer, &tv);
}

void
conn_touch(struct conn *cn)
{
	cn->cn_last = util_now_usec();
}

static void
conn_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*cn = arg;
	struct timeval	 tv;
	uint64_t	 now = util_now_usec(), left;

	(void)fd;
	(void)ev;
	if (cn->cn_tkind == TMO_TLS) {
		intercept_timeout(cn);
		return;
	}
	/* Idle time counts from the last byte moved: re-arm for the rest
	 * rather than re-adding the timer on every read. */
	if (cn->cn_tkind == TMO_IDLE && now - cn->cn_last < cn->cn_tlen) {
		left = cn->cn_tlen - (now - cn->cn_last);
		tv.tv_sec = (time_t)(left / TW_USEC);
		tv.tv_usec = (suseconds_t)(left % TW_USEC);
		evtimer_add(cn->cn_timer, &tv);
		return;
	}
	log_debug("conn=%llu: %s timeout", (unsigned long long)cn->cn_meta.cm_id,
	    cn->cn_tkind == TMO_HEADER ? "header" :
	    cn->cn_tkind == TMO_IDLE ? "idle" : "close");
	if (cn->cn_tkind != TMO_CLOSE)
		conn_why(cn, "timeout");
	/* A partial head gets a 408; an idle keep-alive connection is just
	 * closed, as a client may take a 408 there for its next request. */
	if (cn->cn_tkind == TMO_HEADER && cn->cn_req.hh_total > 0) {
		conn_respond(cn, 408, "request head not received in time");
		return;
	}
	conn_close(cn);
}

void
conn_count_in(struct conn *cn, uint64_t n)
{
	cn->cn_bytes_in += n;
	tw_env.tw_bytes_in += n;
}

void
conn_count_out(struct conn *cn, uint64_t n)
{
	cn->cn_bytes_out += n;
	tw_env.tw_bytes_out += n;
}

static void
conn_audit_closed(struct conn *cn)
{
	char		 rule[POLICY_RULE_STRLEN];
	uint64_t	 ms = (util_now_usec() - cn->cn_start) / 1000;

	log_audit("conn=%llu closed client=%s target=%s action=%s rule=%s "
	    "bytes_in=%llu bytes_out=%llu duration_ms=%llu",
	    (unsigned long long)cn->cn_meta.cm_id, cn->cn_client,
	    cn->cn_decided ? cn->cn_target : "-",
	    cn->cn_decided ? conf_action_str(cn->cn_pd.pd_action) : "-",
	    cn->cn_decided ? policy_rule_str(&cn->cn_pd, rule, sizeof(rule)) :
	    "-", (unsigned long long)cn->cn_bytes_in,
	    (unsigned long long)cn->cn_bytes_out, (unsigned long long)ms);
}

/* The only place a conn is freed; callers return right after. */
void
conn_close(struct conn *cn)
{
	struct bufferevent *ubev;
	uint64_t	 id = cn->cn_meta.cm_id;

	conn_audit_closed(cn);
	if (cn->cn_fwd != NULL)
		fwd_end(cn->cn_fwd);
	/* its streams' pending events go before stream_closed */
	if (cn->cn_h2 != NULL) {
		h2_free(cn->cn_h2);
		cn->cn_h2 = NULL;
	}
	if (cn->cn_h1h2 != NULL) {
		h1h2_free(cn->cn_h1h2);
		cn->cn_h1h2 = NULL;
	}
	if (cn->cn_ev_on)
		ev_stream_closed(&cn->cn_ev, cn->cn_why ? cn->cn_why :
		    CONN_WHY_DEFAULT, cn->cn_bytes_in, cn->cn_bytes_out);
	ev_flow_free(&cn->cn_ev);
	TAILQ_REMOVE(&tw_env.tw_conns, cn, cn_entry);
	tw_env.tw_open--;
	upstream_cancel(&cn->cn_up);
	if (cn->cn_icpt != NULL)
		intercept_free(cn->cn_icpt);
	if (cn->cn_relay != NULL)
		relay_free(cn->cn_relay);
	if (cn->cn_fwd != NULL) {
		if (cn->cn_reverse && (ubev = fwd_take_idle(cn->cn_fwd)) != NULL)
			pool_put(cn->cn_meta.cm_listener, ubev);
		fwd_free(cn->cn_fwd);
	}
	/* A TLS bufferevent frees its SSL and closes the fd itself. */
	if (cn->cn_bev != NULL)
		bufferevent_free(cn->cn_bev);
	event_free(cn->cn_timer);
	if (cn->cn_fd_owned)
		close(cn->cn_fd);
	http1_head_free(&cn->cn_req);
	free(cn->cn_fail_page);
	free(cn);
	worker_conn_closed(id);
}

/* IMSG_SHUTDOWN: keep-alive clients waiting between requests go now;
 * anything with a request in progress may finish within cg_drain_tmo. */
void
conn_drain_idle(void)
{
	struct conn	*cn, *tmp;

	for (cn = TAILQ_FIRST(&tw_env.tw_conns); cn != NULL; cn = tmp) {
		tmp = TAILQ_NEXT(cn, cn_entry);
		if (cn->cn_h2 != NULL) {
			/* GOAWAY: its streams finish, no new one starts */
			conn_why(cn, "shutdown");
			h2_drain(cn->cn_h2);
			continue;
		}
		if (cn->cn_state == CONN_HEAD && cn->cn_nreq > 0 &&
		    cn->cn_req.hh_total == 0 &&
		    evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) == 0) {
			conn_why(cn, "shutdown");
			conn_close_after_flush(cn);
		}
	}
}

/* The drain timeout: the flows still open end now, each with its audit
 * line and its stream_closed ("shutdown"). The last one's close may
 * exit the worker (worker_conn_closed). */
void
conn_close_all(void)
{
	struct conn *cn;

	while ((cn = TAILQ_FIRST(&tw_env.tw_conns)) != NULL) {
		conn_why(cn, "shutdown");
		conn_close(cn);
	}
}
