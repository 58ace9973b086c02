/*
 * mitmd-tlsworker: one of the pool of processes that carry the flows. It
 * gets client fds from the acceptor (IMSG_CONN_HANDOFF on the channel
 * master gives it with IMSG_PEER), decides the policy, connects upstream
 * and relays; see tlsworker.h for the map of its files.
 *
 * Setup order: master's channel and setup, the config set, then what must
 * read files (resolv.conf, /etc/hosts, OpenSSL's configuration and the
 * upstream trust store) or make fds (the epoll fd, the DNS sockets), then
 * the sandbox, then READY and the event loop.
 *
 * Peers (IMSG_PEER from master, each replacing the last of its role):
 * the acceptor hands over clients, certd answers leaf requests (leaf.c),
 * webui takes the events (events.c's sink).
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <seccomp.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "tlsworker/leaf.h"
#include "tlsworker/tls.h"
#include "tlsworker/tlsworker.h"

#define TW_RESOLV_CONF	"/etc/resolv.conf"
#define TW_HOSTS	"/etc/hosts"
#define TW_DNS_FALLBACK	"127.0.0.1"

/*
 * What a worker adds to sandbox_base_calls (which has read, write,
 * sendto and recvfrom, enough for evdns' UDP queries on sockets made
 * before the sandbox). socket() is limited to IPv4 and IPv6: evdns
 * reopens a nameserver socket after ENOTCONN, connect() reaches upstream.
 * setsockopt only for TCP_NODELAY and getsockopt only for SO_ERROR (the
 * option numbers; libseccomp checks one argument per rule here).
 * sendmmsg is not needed: libevent 2.1's evdns sends one query a call.
 */
static const struct sandbox_call tw_calls[] = {
	SC_ARG(socket, 0, AF_INET),
	SC_ARG(socket, 0, AF_INET6),
	SC(connect),
	SC_ARG(getsockopt, 2, SO_ERROR),
	SC_ARG(setsockopt, 2, TCP_NODELAY),
	SC(shutdown),
	SC(splice),
	SC_ARG(pipe2, 1, O_NONBLOCK | O_CLOEXEC),
};

static void	tw_dispatch_master(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	tw_dispatch_acceptor(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	tw_acceptor_error(struct ipc_chan *, int, const char *,
		    void *);
static void	tw_dispatch_webui(struct ipc_chan *, struct ipc_msg *,
		    void *);
static void	tw_webui_error(struct ipc_chan *, int, const char *, void *);

static struct ipc_chan *tw_webui;

static void
tw_event_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

static void
tw_evdns_log(int is_warn, const char *msg)
{
	if (is_warn)
		log_warnx("evdns: %s", msg);
	else
		log_debug("evdns: %s", msg);
}

/* Read resolv.conf and hosts now: after chroot there are no files. */
static struct evdns_base *
tw_dns_init(struct event_base *base)
{
	struct evdns_base	*dns;
	int			 r;

	evdns_set_log_fn(tw_evdns_log);
	if ((dns = evdns_base_new(base, 0)) == NULL)
		fatalx("evdns_base_new");
	r = evdns_base_resolv_conf_parse(dns, (DNS_OPTIONS_ALL &
	    ~DNS_OPTION_HOSTSFILE) | DNS_OPTION_NAMESERVERS_NO_DEFAULT,
	    TW_RESOLV_CONF);
	if (r == 1)
		log_warnx("%s: cannot open", TW_RESOLV_CONF);
	else if (r != 0 && r != 6)
		log_warnx("%s: cannot parse (error %d)", TW_RESOLV_CONF, r);
	if (evdns_base_count_nameservers(dns) == 0) {
		log_warnx("no nameserver configured: using %s",
		    TW_DNS_FALLBACK);
		if (evdns_base_nameserver_ip_add(dns, TW_DNS_FALLBACK) != 0)
			fatalx("cannot add nameserver %s", TW_DNS_FALLBACK);
	}
	if (evdns_base_load_hosts(dns, TW_HOSTS) != 0)
		log_warnx("%s: cannot read", TW_HOSTS);
	return dns;
}

/* Each connection may hold TW_FDS_PER_CONN fds; ask for that, within
 * the hard limit we have now (no privilege to raise it later). */
static unsigned long
tw_nofile(void)
{
	struct rlimit	 rl;
	unsigned long	 want;

	want = (unsigned long)tw_env.tw_conf.cg_max_conns * TW_FDS_PER_CONN +
	    TW_FDS_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (want <= rl.rlim_cur)
		return 0;
	return want;
}

/* IMSG_PEER with ip_role ROLE_WEBUI: the events go there. */
static void
tw_peer_webui(struct ipc_msg *m, const struct ipc_peer *p)
{
	struct ipc_chan	*c;

	c = ipc_chan_new(tw_env.tw_base, m->im_fd, ROLE_WEBUI,
	    tw_dispatch_webui, tw_webui_error, NULL);
	if (c == NULL) {
		log_warn("webui channel");
		return;	/* im_fd still set: the IPC layer closes it */
	}
	m->im_fd = -1;
	if (tw_webui != NULL)
		ipc_chan_free(tw_webui);
	tw_webui = c;
	ev_set_sink(c);
	log_debug("webui channel from pid %u", p->ip_pid);
}

/* IMSG_PEER: the channel to the acceptor, certd or webui; a newer one
 * replaces the old. */
static void
tw_peer(struct ipc_msg *m)
{
	struct ipc_peer	 p;

	if (ipc_get_peer(m, &p) == -1) {
		log_warnx("PEER: malformed");
		return;
	}
	if (p.ip_role == ROLE_CERTD) {
		if (leaf_peer(tw_env.tw_base, m->im_fd) == 0)
			m->im_fd = -1;
		return;
	}
	if (p.ip_role == ROLE_WEBUI) {
		tw_peer_webui(m, &p);
		return;
	}
	if (p.ip_role != ROLE_ACCEPTOR) {
		log_warnx("PEER: unexpected %s channel", role_name(p.ip_role));
		return;
	}
	if (tw_env.tw_acceptor != NULL)
		ipc_chan_free(tw_env.tw_acceptor);
	tw_env.tw_acceptor = ipc_chan_new(tw_env.tw_base, m->im_fd,
	    ROLE_ACCEPTOR, tw_dispatch_acceptor, tw_acceptor_error, &tw_env);
	if (tw_env.tw_acceptor == NULL) {
		log_warn("acceptor channel");
		return;	/* im_fd still set: the IPC layer closes it */
	}
	m->im_fd = -1;
	log_debug("acceptor channel from pid %u", p.ip_pid);
}

static void
tw_dispatch_master(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
	case IMSG_CONF_RULE:
	case IMSG_CONF_LISTENER:
	case IMSG_TICKET_KEYS:
	case IMSG_CONF_END:
		worker_conf_msg(m, arg);
		break;
	case IMSG_PEER:
		tw_peer(m);
		break;
	case IMSG_STATUS_REQ:
		worker_status(c);
		break;
	case IMSG_SHUTDOWN:
		worker_shutdown();
		break;
	case IMSG_PASSTHROUGH:
		worker_passthrough(m);
		break;
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

static void
tw_dispatch_acceptor(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct conn_meta cm;
	int		 fd;

	(void)c;
	(void)arg;
	if (ipc_get_conn_handoff(m, &cm) == -1) {
		log_warnx("unexpected %s from the acceptor",
		    imsg_name(m->im_hdr.ih_type));
		return;
	}
	/* One that crossed IMSG_SHUTDOWN is still served: the drain
	 * timeout bounds it like any other. */
	fd = m->im_fd;
	m->im_fd = -1;
	conn_handoff(&cm, fd);
}

/* webui has nothing to say to a worker. */
static void
tw_dispatch_webui(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	(void)c;
	(void)arg;
	log_warnx("unexpected %s from webui", imsg_name(m->im_hdr.ih_type));
}

/* webui went away (or reads too slowly): no events until the next one. */
static void
tw_webui_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	(void)arg;
	if (err == IPC_ERR_EOF)
		log_info("webui channel closed");
	else
		log_warnx("webui channel: %s", why);
	if (c == tw_webui) {
		tw_webui = NULL;
		ev_set_sink(NULL);
	}
	ipc_chan_free(c);
}

static void
tw_acceptor_error(struct ipc_chan *c, int err, const char *why, void *arg)
{
	(void)arg;
	if (err == IPC_ERR_EOF)
		log_info("acceptor channel closed");
	else
		log_warnx("acceptor channel: %s", why);
	if (c == tw_env.tw_acceptor)
		tw_env.tw_acceptor = NULL;
	ipc_chan_free(c);
}

/*
 * epoll's changelist: a bufferevent that asks for EV_WRITE and has
 * written all before the loop polls again costs no epoll_ctl(2) at all
 * (without it, some six a kept-alive request). libevent's caveat, fds
 * dup(2)ed while registered, does not apply: the worker dups none.
 */
static struct event_base *
tw_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return (NULL);
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return (base);
}

int
main(int argc, char *argv[])
{
	struct child		 ch;
	struct sandbox_opts	 so;
	struct event_base	*base;
	struct evdns_base	*dns;

	(void)argc;
	(void)argv;
	/*
	 * Fixed thresholds: glibc's defaults hand the top of the heap back
	 * (brk) whenever 128 KiB of it is free and take it again for the
	 * next request, a few percent of a worker's CPU with small
	 * requests. worker_trim() gives the free pages back, from time to
	 * time, when connections have gone.
	 */
	(void)mallopt(M_TRIM_THRESHOLD, TW_TRIM_THRESHOLD);
	(void)mallopt(M_MMAP_THRESHOLD, TW_MMAP_THRESHOLD);
	child_init(&ch, ROLE_TLSWORKER, "tlsworker");
	if (ch.ch_setup_fd != -1)
		close(ch.ch_setup_fd);	/* none expected for this role */
	TAILQ_INIT(&tw_env.tw_conns);
	child_read_conf(&ch, worker_conf_msg, &tw_env);

	/* Before the sandbox: the epoll fd, the DNS sockets and files,
	 * and libevent's RNG seed (evdns query ids). */
	event_set_log_callback(tw_event_log);
	if ((base = tw_base_new()) == NULL)
		fatalx("event_base_new");
	if (evutil_secure_rng_init() == -1)
		fatalx("evutil_secure_rng_init");
	dns = tw_dns_init(base);
	tls_init(&tw_env.tw_conf);
	worker_init(&ch, base, dns);

	child_sandbox_opts(&ch, &so);
	so.so_calls = tw_calls;
	so.so_ncalls = nitems(tw_calls);
	so.so_nofile = tw_nofile();
	ch.ch_sandbox |= sandbox_drop(&so);
	ch.ch_sandbox |= sandbox_confine(&so);

	child_ready(&ch, base, tw_dispatch_master, &tw_env);
	event_base_dispatch(base);
	return 0;
}
