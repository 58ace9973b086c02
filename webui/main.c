/*
 * mitmd-webui: the public page and the flow store. Started by master with
 * its channel on fd 3; receives its listening socket (IMSG_CONF_LISTENER,
 * kind LISTENER_WEBUI) in the first configuration set, the CA certificate
 * (IMSG_CA_CERT, certd's PEM forwarded by master) whenever certd sends
 * it, before or after READY, and after READY its event sinks
 * (IMSG_CONF_SINK) and one channel per worker (IMSG_PEER) on which the
 * events arrive, and every few seconds master's status snapshot
 * (IMSG_WEB_STATUS) for /status and /metrics. Serves the page with evhttp (webui/http.c); see
 * webui/webui.h for the map of its files.
 */
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

/*
 * What webui adds to sandbox_base_calls: accepting (web clients and
 * events subscribers), the shutdown() evhttp does before closing a
 * connection, and what SQLite does on the files it opened before the
 * sandbox (store_open opens them all, and keeps the WAL across close):
 * positioned reads and writes, fdatasync at checkpoints, truncating the
 * WAL after one (journal_size_limit), and the sleep of its busy handler
 * when another process holds a lock (glibc's usleep is clock_nanosleep).
 * Its locks are fcntl and its stat calls fstat/newfstatat, already in the
 * base. No openat, no unlink: after the sandbox webui creates no file.
 * (Found with strace on a webui under load, checkpoints, retention and
 * shutdown included; tests/integration/test_events_store.py runs those
 * under the filter.)
 */
static const struct sandbox_call webui_calls[] = {
	SC(accept4),
	SC(shutdown),
	SC(pread64),
	SC(pwrite64),
	SC(fdatasync),
	SC(ftruncate),
	SC(clock_nanosleep),
};

/* The process state; functions take it as an argument, the exit handler
 * cannot. */
static struct webui webui_env;

static void
webui_ca_cert(struct webui *wu, struct ipc_msg *m)
{
	const char *pem;
	size_t	 len;

	if (ipc_get_ca_cert(m, &pem, &len) == -1 ||
	    webui_ca_set(&wu->wu_ca, pem, len) == -1) {
		log_warnx("CA certificate from master: not a certificate in "
		    "PEM, kept the previous one");
		return;
	}
	log_info("CA certificate \"%s\", SHA-256 %s, valid until %s",
	    wu->wu_ca.wc_name, wu->wu_ca.wc_sha256, wu->wu_ca.wc_not_after);
	admin_ca_changed(wu);
}

/* The admin listener's certificate and key (the IPC rules bound the
 * length: at least the header and two bytes). */
static void
webui_admin_cert(struct webui *wu, struct ipc_msg *m)
{
	struct admin_cert ac;
	size_t		  len = m->im_hdr.ih_len;

	if (len < sizeof(ac)) {
		log_warnx("admin certificate from master: malformed, ignored");
		return;
	}
	memcpy(&ac, m->im_data, sizeof(ac));
	if (ac.ac_certlen == 0 || ac.ac_keylen == 0 ||
	    (uint64_t)ac.ac_certlen + ac.ac_keylen != len - sizeof(ac) ||
	    (ac.ac_format != ADMIN_CERT_PEM && ac.ac_format !=
	    ADMIN_CERT_DER)) {
		log_warnx("admin certificate from master: malformed, ignored");
		return;
	}
	admin_set_cert(wu, ac.ac_format, m->im_data + sizeof(ac),
	    ac.ac_certlen, m->im_data + sizeof(ac) + ac.ac_certlen,
	    ac.ac_keylen);
}

static void
webui_conf_end(struct webui *wu)
{
	size_t i;

	if (wu->wu_next_has_global) {
		wu->wu_conf = wu->wu_next_conf;
		wu->wu_next_has_global = 0;
		if (wu->wu_store != NULL)
			store_set_keep(wu->wu_store, wu->wu_conf.cg_keep_flows,
			    wu->wu_conf.cg_keep_days);
	}

	/* Listeners come in the first set only; take what master sends. */
	for (i = 0; i < wu->wu_next_nl; i++) {
		if (wu->wu_next_lkind[i] == LISTENER_ADMIN) {
			if (admin_listen(wu, wu->wu_next_lfd[i]) == -1)
				log_warnx("admin listener: cannot serve on it");
		} else if (webui_http_listen(wu, wu->wu_next_lfd[i]) == -1)
			log_warnx("web listener: cannot serve on it");
	}
	wu->wu_next_nl = 0;
}

/* A configuration message, at start or on a reload; also IMSG_CA_CERT,
 * which may come while the first set is read. */
static void
webui_conf(struct ipc_msg *m, void *arg)
{
	struct webui *wu = arg;
	struct conf_listener cl;
	struct conf_sink cs;
	struct conf_admin ca;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
		if (ipc_get_conf_global(m, &wu->wu_next_conf) == -1)
			fatalx("bad IMSG_CONF_GLOBAL");
		wu->wu_next_has_global = 1;
		break;
	case IMSG_CONF_RULE:
	case IMSG_CONF_ALLOW:
		break;	/* nothing webui uses */
	case IMSG_CONF_SINK:
		if (ipc_get_conf_sink(m, &cs) == -1)
			fatalx("bad IMSG_CONF_SINK");
		(void)sink_add(wu, cs.cs_kind, m->im_fd);
		m->im_fd = -1;	/* sink_add took it */
		break;
	case IMSG_PEER:
		webui_peer(wu, m);
		break;
	case IMSG_CONF_LISTENER:
		if (ipc_get_conf_listener(m, &cl) == -1)
			fatalx("bad IMSG_CONF_LISTENER");
		if ((cl.cl_kind != LISTENER_WEBUI &&
		    cl.cl_kind != LISTENER_ADMIN) || m->im_fd == -1 ||
		    wu->wu_next_nl >= CONF_MAX_LISTENERS) {
			log_warnx("listener %u (kind %u) not for webui, "
			    "ignored", cl.cl_id, cl.cl_kind);
			break;
		}
		wu->wu_next_lkind[wu->wu_next_nl] = cl.cl_kind;
		wu->wu_next_lfd[wu->wu_next_nl++] = m->im_fd;
		m->im_fd = -1;	/* ours now */
		break;
	case IMSG_CONF_END:
		webui_conf_end(wu);
		break;
	case IMSG_CA_CERT:
		webui_ca_cert(wu, m);
		break;
	case IMSG_CONF_ADMIN:
		if (ipc_get_conf_admin(m, &ca) == -1)
			fatalx("bad IMSG_CONF_ADMIN");
		admin_set_conf(wu, &ca);
		explicit_bzero(&ca, sizeof(ca));
		break;
	case IMSG_ADMIN_CERT:
		webui_admin_cert(wu, m);
		break;
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
}

/* master's snapshot for /status and /metrics (master/webstat.c). */
static void
webui_web_status(struct webui *wu, struct ipc_msg *m)
{
	static struct web_status ws;	/* large; one event loop */

	if (ipc_get_web_status(m, &ws) == -1 ||
	    webui_stat_update(&wu->wu_stat, &ws) == -1)
		log_warnx("status from master: malformed, ignored");
}

static void
webui_dispatch(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct webui *wu = arg;
	struct ipc_status st;

	switch (m->im_hdr.ih_type) {
	case IMSG_STATUS_REQ:
		memset(&st, 0, sizeof(st));
		st.st_total = wu->wu_requests;
		ipc_send_status(chan, m->im_hdr.ih_reqid, -1, &st);
		break;
	case IMSG_WEB_STATUS:
		webui_web_status(wu, m);
		break;
	case IMSG_SHUTDOWN:
		ipc_chan_flush(chan);
		webui_stop(wu);
		break;
	default:
		webui_conf(m, wu);
		break;
	}
}

/* On any exit (IMSG_SHUTDOWN, master gone, fatal): commit what the
 * store holds and write what the file sinks queued. */
static void
webui_atexit(void)
{
	sink_flush(&webui_env);
	store_close(webui_env.wu_store);
	webui_env.wu_store = NULL;
}

static void
webui_sqlite_log(void *arg, int code, const char *msg)
{
	(void)arg;
	log_debug("sqlite: (%d) %s", code, msg);
}

/* One thread, one connection, and SQLite's own log to ours; before
 * anything else touches SQLite. */
static void
webui_sqlite_init(void)
{
	if (sqlite3_config(SQLITE_CONFIG_SINGLETHREAD) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_LOG, webui_sqlite_log, NULL) !=
	    SQLITE_OK || sqlite3_initialize() != SQLITE_OK)
		fatalx("SQLite initialisation failed");
}

/*
 * The store, after chroot and the change of uid (so its files belong to
 * webui's user) and before seccomp (SQLite opens its files by name). Its
 * directory: "/" inside the chroot; without privileges (no chroot) the
 * store directory master named in the setup all the same.
 */
static void
webui_store_open(struct webui *wu, const struct child *ch,
    const struct sandbox_opts *so)
{
	char	 path[CONF_PATH_MAX + sizeof("/" WEBUI_STORE_NAME)];
	const char *dir = so->so_chroot != NULL ? "" : ch->ch_setup.is_chroot;

	if (so->so_chroot == NULL && dir[0] == '\0') {
		log_warnx("no store directory from master: no flow store");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WEBUI_STORE_NAME);
	wu->wu_store = store_open(wu->wu_base, path, wu->wu_conf.cg_keep_flows,
	    wu->wu_conf.cg_keep_days);
	if (wu->wu_store == NULL)
		log_warnx("events go to the sinks only: no flow store");
}

int
main(int argc, char *argv[])
{
	struct child	   ch;
	struct sandbox_opts so;
	struct event_base *base;

	(void)argc;
	(void)argv;
	child_init(&ch, ROLE_WEBUI, "webui");

	/* While files can be opened: openssl.cnf and its providers; the
	 * CA certificate is parsed and hashed inside the sandbox later. */
	if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL))
		fatalx("OpenSSL initialisation failed");
	/* The time zone, read once now: glibc's gmtime_r (evhttp's Date
	 * header, certificate times) would open /etc/localtime later. */
	tzset();
	webui_sqlite_init();
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (webui_http_init(&webui_env, base) == -1 ||
	    admin_init(&webui_env, base) == -1)
		fatalx("evhttp initialisation failed");
	/* The listener is installed when the set ends, before the sandbox:
	 * evconnlistener_new() changes fd flags. */
	child_read_conf(&ch, webui_conf, &webui_env);
	if (webui_env.wu_nls == 0)
		log_info("no web listener: the flow store and the event "
		    "sinks only");

	child_sandbox_opts(&ch, &so);
	so.so_calls = webui_calls;
	so.so_ncalls = nitems(webui_calls);
	so.so_nofile = WEBUI_NOFILE;
	ch.ch_sandbox |= sandbox_drop(&so);
	webui_store_open(&webui_env, &ch, &so);
	if (atexit(webui_atexit) != 0)
		fatalx("atexit");
	/* webui writes its store and the events file: no RLIMIT_FSIZE. */
	so.so_writes_files = 1;
	ch.ch_sandbox |= sandbox_confine(&so);

	child_ready(&ch, base, webui_dispatch, &webui_env);
	event_base_dispatch(base);
	return (0);
}
