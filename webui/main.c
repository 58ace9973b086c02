/*
 * mitmd-webui: the public page. Started by master with its channel on
 * fd 3; receives its listening socket (IMSG_CONF_LISTENER, kind
 * LISTENER_WEBUI) in the first configuration set and the CA certificate
 * (IMSG_CA_CERT, certd's PEM forwarded by master) whenever certd sends it,
 * before or after READY. Serves it with evhttp (webui/http.c).
 */
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/child.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "webui/webui.h"

/* What webui adds to sandbox_base_calls: accepting, and the shutdown()
 * evhttp does before closing a connection. */
static const struct sandbox_call webui_calls[] = {
	SC(accept4),
	SC(shutdown),
};

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
}

static void
webui_conf_end(struct webui *wu)
{
	size_t i;

	/* Listeners come in the first set only; take what master sends. */
	for (i = 0; i < wu->wu_next_nl; i++)
		if (webui_http_listen(wu, wu->wu_next_lfd[i]) == -1)
			log_warnx("web listener: cannot serve on it");
	wu->wu_next_nl = 0;
}

/* A configuration message, at start or on a reload; also IMSG_CA_CERT,
 * which may come while the first set is read. */
static void
webui_conf(struct ipc_msg *m, void *arg)
{
	struct webui *wu = arg;
	struct conf_listener cl;

	switch (m->im_hdr.ih_type) {
	case IMSG_CONF_GLOBAL:
	case IMSG_CONF_RULE:
	case IMSG_CONF_ALLOW:
		break;	/* nothing webui uses yet */
	case IMSG_CONF_LISTENER:
		if (ipc_get_conf_listener(m, &cl) == -1)
			fatalx("bad IMSG_CONF_LISTENER");
		if (cl.cl_kind != LISTENER_WEBUI || m->im_fd == -1 ||
		    wu->wu_next_nl >= CONF_MAX_LISTENERS) {
			log_warnx("listener %u (kind %u) not for webui, "
			    "ignored", cl.cl_id, cl.cl_kind);
			break;
		}
		wu->wu_next_lfd[wu->wu_next_nl++] = m->im_fd;
		m->im_fd = -1;	/* ours now */
		break;
	case IMSG_CONF_END:
		webui_conf_end(wu);
		break;
	case IMSG_CA_CERT:
		webui_ca_cert(wu, m);
		break;
	default:
		log_warnx("unexpected %s from master",
		    imsg_name(m->im_hdr.ih_type));
		break;
	}
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
	case IMSG_SHUTDOWN:
		/* Nothing here is worth a drain: a page request retries. */
		ipc_chan_flush(chan);
		exit(0);
	default:
		webui_conf(m, wu);
		break;
	}
}

int
main(int argc, char *argv[])
{
	static struct webui wu;
	struct child	   ch;
	struct sandbox_opts so;
	struct event_base *base;

	(void)argc;
	(void)argv;
	child_init(&ch, ROLE_WEBUI, "webui");

	/* While files can be opened: openssl.cnf and its providers; the
	 * CA certificate is parsed and hashed inside the sandbox later. */
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL))
		fatalx("OpenSSL initialisation failed");
	/* The time zone, read once now: glibc's gmtime_r (evhttp's Date
	 * header, certificate times) would open /etc/localtime later. */
	tzset();
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (webui_http_init(&wu, base) == -1)
		fatalx("evhttp initialisation failed");
	/* The listener is installed when the set ends, before the sandbox:
	 * evconnlistener_new() changes fd flags. */
	child_read_conf(&ch, webui_conf, &wu);
	if (wu.wu_nls == 0)
		log_warnx("no web listener: nothing to serve");

	child_sandbox_opts(&ch, &so);
	so.so_calls = webui_calls;
	so.so_ncalls = nitems(webui_calls);
	so.so_nofile = WEBUI_NOFILE;
	ch.ch_sandbox |= sandbox_drop(&so);
	ch.ch_sandbox |= sandbox_confine(&so);

	child_ready(&ch, base, webui_dispatch, &wu);
	event_base_dispatch(base);
	return (0);
}
