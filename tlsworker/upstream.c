/*
 * Connecting out for a connection: resolve the target with evdns (an IP
 * literal skips DNS), then try each address with a non-blocking connect,
 * all within one deadline of cg_connect_tmo. Each address gets a share of
 * the time left so that a black-holed first address does not use up the
 * whole budget.
 *
 * The result always arrives through the callback from the event loop,
 * never from inside upstream_start(), so callers need not guard against
 * re-entry. evdns may call back later than a cancel (its cancel is
 * deferred), so a DNS request carries a small ticket that outlives the
 * upstream; the callback frees it.
 */
#include <sys/socket.h>

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/util.h"
#include "tlsworker/tlsworker.h"

#define UP_ATTEMPT_MIN_USEC (2 * TW_USEC) /* shortest share per address */
#define UP_PORT_STRLEN	    sizeof("65535")

struct up_ticket {
	struct upstream			*ut_up;	/* NULL once cancelled */
	struct evdns_getaddrinfo_request *ut_req;
};

static void	up_resolve(struct upstream *);
static void	up_dns_cb(int, struct evutil_addrinfo *, void *);
static void	up_resolved(struct upstream *);
static void	up_literal(struct upstream *, const struct addr *);
static void	up_try_next(struct upstream *);
static void	up_connect_cb(evutil_socket_t, short, void *);
static void	up_timer_cb(evutil_socket_t, short, void *);
static void	up_finish(struct upstream *, int);
static void	up_arm(struct upstream *, uint64_t);
static void	up_release(struct upstream *);

int
upstream_status(int err)
{
	switch (err) {
	case UP_ERR_TIMEOUT:
		return 504;
	case UP_ERR_INTERNAL:
		return 503;
	}
	return 502;
}

void
upstream_start(struct upstream *up, struct conn *cn, const char *host,
    uint16_t port, upstream_cb *cb)
{
	struct addr	 lit;

	upstream_cancel(up);
	memset(up, 0, sizeof(*up));
	up->up_conn = cn;
	up->up_cb = cb;
	up->up_fd = -1;
	up->up_active = 1;
	up->up_port = port;
	util_strlcpy(up->up_host, host, sizeof(up->up_host));
	up->up_deadline = util_now_usec() +
	    (uint64_t)tw_env.tw_conf.cg_connect_tmo * TW_USEC;
	up->up_timer = evtimer_new(tw_env.tw_base, up_timer_cb, up);
	if (up->up_timer == NULL) {
		/* Without the timer nothing could report: fatal here would
		 * take every flow down, so this one waits for its idle
		 * timeout instead. */
		log_warnx("%s: out of memory", __func__);
		up->up_active = 0;
		return;
	}
	up_arm(up, up->up_deadline);
	/* mitmd.cert: never resolved, never sent out; the webui's port,
	 * whatever port the client named. */
	if (conn_is_webui(host)) {
		up->up_port = tw_env.tw_webui.a_port;
		up_literal(up, &tw_env.tw_webui);
	} else if (addr_parse_ip(host, &lit) == 0)
		up_literal(up, &lit);
	else
		up_resolve(up);
}

static void
up_resolve(struct upstream *up)
{
	struct evutil_addrinfo	 hints;
	struct up_ticket	*t;
	struct evdns_getaddrinfo_request *req;
	char			 sport[UP_PORT_STRLEN];

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		up_finish(up, UP_ERR_INTERNAL);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	/* No AI_ADDRCONFIG: libevent would probe interfaces with UDP
	 * sockets and connect(), for nothing we need. */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(sport, sizeof(sport), "%u", (unsigned)up->up_port);
	t->ut_up = up;
	up->up_ticket = t;
	up->up_dns_sync = 1;
	req = evdns_getaddrinfo(tw_env.tw_dns, up->up_host, sport, &hints,
	    up_dns_cb, t);
	up->up_dns_sync = 0;
	/* Answered already (from /etc/hosts, or an error): the callback
	 * has freed the ticket. */
	if (up->up_dns_done)
		up_resolved(up);
	else
		t->ut_req = req;
}

static void
up_dns_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct up_ticket	*t = arg;
	struct upstream		*up = t->ut_up;

	free(t);
	if (up == NULL) {	/* cancelled: nobody waits for this */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	up->up_ticket = NULL;
	up->up_ai = ai;
	up->up_dns_err = err;
	up->up_dns_done = 1;
	if (!up->up_dns_sync)
		up_resolved(up);
}

static void
up_resolved(struct upstream *up)
{
	struct evutil_addrinfo *ai;

	if (up->up_dns_err != 0 || up->up_ai == NULL) {
		log_debug("resolve %s: %s", up->up_host,
		    evutil_gai_strerror(up->up_dns_err));
		up_finish(up, up->up_dns_err == EVUTIL_EAI_MEMORY ?
		    UP_ERR_INTERNAL : UP_ERR_DNS);
		return;
	}
	for (ai = up->up_ai; ai != NULL; ai = ai->ai_next)
		up->up_nleft++;
	up->up_next = up->up_ai;
	up_try_next(up);
}

/* An IP literal: one address, built without evdns. */
static void
up_literal(struct upstream *up, const struct addr *lit)
{
	struct sockaddr_storage	 ss;
	struct evutil_addrinfo	*ai;
	struct addr		 a = *lit;
	socklen_t		 len;

	a.a_port = up->up_port;
	len = addr_to_sa(&a, &ss);
	ai = calloc(1, sizeof(*ai) + sizeof(ss));
	if (ai == NULL || len == 0) {
		free(ai);
		up_finish(up, UP_ERR_INTERNAL);
		return;
	}
	/* One allocation, the address right after; up_release frees it
	 * with free() (up_ai_own), not evutil_freeaddrinfo. */
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	memcpy(ai->ai_addr, &ss, len);
	ai->ai_addrlen = len;
	ai->ai_family = ss.ss_family;
	ai->ai_socktype = SOCK_STREAM;
	ai->ai_protocol = IPPROTO_TCP;
	up->up_ai = up->up_next = ai;
	up->up_ai_own = 1;
	up->up_nleft = 1;
	up_try_next(up);
}

/* Start connecting to one address: 1 in progress, 0 failed at once
 * (try the next), -1 out of resources. */
static int
up_attempt(struct upstream *up, const struct evutil_addrinfo *ai)
{
	uint64_t	 now, share;
	int		 fd;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		up->up_errno = errno;
		return errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM ? -1 : 0;
	}
	if (connect(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		up->up_errno = errno;
		close(fd);
		return 0;
	}
	up->up_fd = fd;
	up->up_wev = event_new(tw_env.tw_base, fd, EV_WRITE, up_connect_cb,
	    up);
	if (up->up_wev == NULL || event_add(up->up_wev, NULL) == -1)
		return -1;
	/* This address's share of the time left. */
	now = util_now_usec();
	share = up->up_deadline > now ?
	    (up->up_deadline - now) / (uint64_t)(up->up_nleft + 1) : 0;
	if (share < UP_ATTEMPT_MIN_USEC)
		share = UP_ATTEMPT_MIN_USEC;
	up_arm(up, MIN(now + share, up->up_deadline));
	return 1;
}

static void
up_try_next(struct upstream *up)
{
	struct evutil_addrinfo	*ai;
	int			 r;

	while ((ai = up->up_next) != NULL) {
		up->up_next = ai->ai_next;
		up->up_nleft--;
		if ((r = up_attempt(up, ai)) == 1)
			return;
		if (r == -1) {
			up_finish(up, UP_ERR_INTERNAL);
			return;
		}
	}
	up_finish(up, up->up_errno == ETIMEDOUT ? UP_ERR_TIMEOUT :
	    UP_ERR_CONNECT);
}

static void
up_close_attempt(struct upstream *up)
{
	if (up->up_wev != NULL) {
		event_free(up->up_wev);
		up->up_wev = NULL;
	}
	if (up->up_fd != -1) {
		close(up->up_fd);
		up->up_fd = -1;
	}
}

static void
up_connect_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream	*up = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	(void)ev;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0) {
		up_finish(up, UP_OK);
		return;
	}
	up->up_errno = err;
	log_debug("connect %s port %u: %s", up->up_host,
	    (unsigned)up->up_port, strerror(err));
	up_close_attempt(up);
	up_try_next(up);
}

static void
up_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream	*up = arg;
	upstream_cb	*cb;
	struct conn	*cn;
	int		 rfd, result;
	char		 why[128];

	(void)fd;
	(void)ev;
	if (up->up_result == 0) {
		/* A deadline: the whole budget, or this address's share. */
		if (up->up_fd != -1 && util_now_usec() < up->up_deadline &&
		    up->up_next != NULL) {
			up->up_errno = ETIMEDOUT;
			up_close_attempt(up);
			up_try_next(up);
			return;
		}
		up->up_errno = ETIMEDOUT;
		up->up_result = UP_ERR_TIMEOUT;
	}
	result = up->up_result == -1 ? UP_OK : up->up_result;
	cb = up->up_cb;
	cn = up->up_conn;
	rfd = result == UP_OK ? up->up_fd : -1;
	if (result == UP_OK)
		up->up_fd = -1;	/* the callee owns it now */
	snprintf(why, sizeof(why), "%s", result == UP_ERR_DNS ?
	    "cannot resolve host" : up->up_errno ? strerror(up->up_errno) :
	    "connect failed");
	up_release(up);
	/* Last: the callee may free the conn and this upstream with it. */
	cb(cn, rfd, result, why);
}

/* Report from the loop, not from here: see the comment at the top. */
static void
up_finish(struct upstream *up, int result)
{
	up->up_result = result == UP_OK ? -1 : result;
	if (up->up_wev != NULL) {
		event_free(up->up_wev);
		up->up_wev = NULL;
	}
	if (up->up_timer == NULL)
		return;
	evtimer_del(up->up_timer);
	event_active(up->up_timer, EV_TIMEOUT, 1);
}

static void
up_arm(struct upstream *up, uint64_t when)
{
	struct timeval	 tv;
	uint64_t	 now = util_now_usec(), d;

	d = when > now ? when - now : 0;
	tv.tv_sec = (time_t)(d / TW_USEC);
	tv.tv_usec = (suseconds_t)(d % TW_USEC);
	evtimer_add(up->up_timer, &tv);
}

/* Free everything but leave the struct usable for another start. */
static void
up_release(struct upstream *up)
{
	if (up->up_ticket != NULL) {
		/* evdns calls back later with EAI_CANCEL; the ticket
		 * tells that callback there is nobody left. */
		up->up_ticket->ut_up = NULL;
		if (up->up_ticket->ut_req != NULL)
			evdns_getaddrinfo_cancel(up->up_ticket->ut_req);
		up->up_ticket = NULL;
	}
	up_close_attempt(up);
	if (up->up_timer != NULL) {
		event_free(up->up_timer);
		up->up_timer = NULL;
	}
	if (up->up_ai != NULL) {
		if (up->up_ai_own)
			free(up->up_ai);
		else
			evutil_freeaddrinfo(up->up_ai);
		up->up_ai = NULL;
	}
	up->up_next = NULL;
	up->up_active = 0;
}

void
upstream_cancel(struct upstream *up)
{
	if (up->up_active)
		up_release(up);
}
