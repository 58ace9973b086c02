/*
 * HTTP/1.1 for webui with libevent's evhttp, on the listening sockets
 * master passed. GET and HEAD only (405 otherwise), a few paths, small
 * limits on heads and bodies, a timeout, and safety headers on every
 * answer we write: the page needs nothing but its own inline style.
 *
 * evhttp's listener would retry a failing accept() forever when the fd
 * limit is reached; its error callback pauses accepting for a moment
 * instead.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/util.h"
#include "webui/webui.h"


/* Every method evhttp knows reaches us, so the others get 405, not 501. */
#define WEBUI_METHODS                                                        \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | \
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |      \
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

static const struct {
	const char *name;
	const char *value;
} webui_safety[] = {
	{ "Content-Security-Policy", "default-src 'none'; style-src "
	    "'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
	    "form-action 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "X-Frame-Options", "DENY" },
	{ "Cache-Control", "no-cache" },
};

/* evhttp passes its own argument to its listeners' callbacks; there is
 * one webui per process. */
static struct webui *webui_http_self;

static void	webui_request(struct evhttp_request *, void *);
static void	webui_accept_error(struct evconnlistener *, void *);
static void	webui_unpause(int, short, void *);

int
webui_http_init(struct webui *wu, struct event_base *base)
{
	wu->wu_base = base;
	webui_http_self = wu;
	if ((wu->wu_http = evhttp_new(base)) == NULL)
		return (-1);
	evhttp_set_max_headers_size(wu->wu_http, WEBUI_MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(wu->wu_http, WEBUI_MAX_BODY_SIZE);
	evhttp_set_timeout(wu->wu_http, WEBUI_TIMEOUT_SEC);
	evhttp_set_allowed_methods(wu->wu_http, WEBUI_METHODS);
	evhttp_set_default_content_type(wu->wu_http,
	    "text/plain; charset=utf-8");
	evhttp_set_gencb(wu->wu_http, webui_request, wu);
	if ((wu->wu_pause_ev = evtimer_new(base, webui_unpause, wu)) == NULL)
		return (-1);
	return (0);
}

/* Takes fd; before the sandbox (evconnlistener sets fd flags). */
int
webui_http_listen(struct webui *wu, int fd)
{
	return (webui_http_listen_on(wu, wu->wu_http, fd));
}

int
webui_http_listen_on(struct webui *wu, struct evhttp *http, int fd)
{
	struct evhttp_bound_socket *bs;
	struct evconnlistener *lev;

	if (wu->wu_nls >= CONF_MAX_LISTENERS || util_nonblock(fd) == -1) {
		close(fd);
		return (-1);
	}
	if ((bs = evhttp_accept_socket_with_handle(http, fd)) == NULL) {
		close(fd);
		return (-1);
	}
	lev = evhttp_bound_socket_get_listener(bs);
	evconnlistener_set_error_cb(lev, webui_accept_error);
	wu->wu_ls[wu->wu_nls++] = lev;
	return (0);
}

/*
 * At the fd limit (or any accept failure that is not transient): stop
 * accepting for WEBUI_PAUSE_MSEC, which also bounds the warnings.
 */
static void
webui_accept_error(struct evconnlistener *lev, void *arg)
{
	struct webui	*wu = webui_http_self;
	struct timeval	 tv;
	size_t		 i;
	int		 err = EVUTIL_SOCKET_ERROR();

	(void)lev;
	(void)arg;	/* evhttp's own, not ours */
	for (i = 0; i < wu->wu_nls; i++)
		evconnlistener_disable(wu->wu_ls[i]);
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)WEBUI_PAUSE_MSEC * 1000;
	evtimer_add(wu->wu_pause_ev, &tv);
	log_warnx("accept: %s; pausing for %d ms", strerror(err),
	    WEBUI_PAUSE_MSEC);
}

static void
webui_unpause(int fd, short ev, void *arg)
{
	struct webui *wu = arg;
	size_t	 i;

	(void)fd;
	(void)ev;
	for (i = 0; i < wu->wu_nls; i++)
		evconnlistener_enable(wu->wu_ls[i]);
}

static void
webui_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t	 i;

	for (i = 0; i < nitems(webui_safety); i++)
		evhttp_add_header(h, webui_safety[i].name,
		    webui_safety[i].value);
	evhttp_add_header(h, "Content-Type", ctype);
}

/*
 * Send a complete answer. HEAD gets the headers of the GET, Content-Length
 * included, and no body: evhttp sends whatever body it is given.
 */
static void
webui_send(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const void *body, size_t len)
{
	struct evbuffer *b;
	char	 clen[WEBUI_LEN_MAX];

	webui_headers(req, ctype);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", clen);
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	if ((b = evbuffer_new()) == NULL || evbuffer_add(b, body, len) == -1) {
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
webui_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	webui_send(req, code, reason, "text/plain; charset=utf-8", text,
	    strlen(text));
}

static void
webui_buffer(struct evhttp_request *req, struct evbuffer *b, int rv,
    const char *ctype)
{
	size_t	 len;

	if (rv == -1) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	len = evbuffer_get_length(b);
	webui_send(req, HTTP_OK, "OK", ctype, evbuffer_pullup(b, -1), len);
}

/*
 * The public page, led by the device: "?os=KEY" when the visitor picked
 * one, else its User-Agent. Any other query is refused.
 */
static void
webui_index(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char	*q = evhttp_uri_get_query(uri);
	const char	*ua = evhttp_find_header(in, "User-Agent");
	struct evbuffer	*b;
	enum webui_os	 os;

	os = webui_ua_os(ua, ua != NULL ? strlen(ua) : 0);
	if (webui_os_query(q, q != NULL ? strlen(q) : 0, &os) == -1) {
		webui_text(req, HTTP_BADREQUEST, "Bad Request",
		    "Unknown query. This page takes ?os= with one of ios, "
		    "android, windows, macos, linux, other.\n");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	/* The answer depends on the User-Agent: caches must know. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Vary",
	    "User-Agent");
	webui_buffer(req, b, webui_page_index(b, &wu->wu_ca, os),
	    "text/html; charset=utf-8");
	evbuffer_free(b);
}

/* The CA certificate in the form page names; 503 until certd's comes. */
static void
webui_cert(struct webui *wu, struct evhttp_request *req,
    enum webui_page page)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer	*b;
	const struct webui_ca *wc = &wu->wu_ca;

	if (wc->wc_pem == NULL) {
		webui_text(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "The CA certificate is not available yet: mitmd is still "
		    "starting. Try again in a moment.\n");
		return;
	}
	switch (page) {
	case WEBUI_PAGE_DER:
	case WEBUI_PAGE_CER:
		evhttp_add_header(h, "Content-Disposition", page ==
		    WEBUI_PAGE_DER ? "attachment; filename=\""
		    WEBUI_DER_FILENAME "\"" : "attachment; filename=\""
		    WEBUI_CER_FILENAME "\"");
		webui_send(req, HTTP_OK, "OK", "application/x-x509-ca-cert",
		    wc->wc_der, wc->wc_derlen);
		break;
	case WEBUI_PAGE_MOBILECONFIG:
		if ((b = evbuffer_new()) == NULL) {
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
			break;
		}
		evhttp_add_header(h, "Content-Disposition", "attachment; "
		    "filename=\"" WEBUI_MC_FILENAME "\"");
		webui_buffer(req, b, webui_page_mobileconfig(b, wc),
		    "application/x-apple-aspen-config");
		evbuffer_free(b);
		break;
	default:
		evhttp_add_header(h, "Content-Disposition", "attachment; "
		    "filename=\"" WEBUI_PEM_FILENAME "\"");
		webui_send(req, HTTP_OK, "OK", "application/x-pem-file",
		    wc->wc_pem, wc->wc_pemlen);
		break;
	}
}

/* /status and /metrics, from master's last snapshot. */
static void
webui_stat_page(struct webui *wu, struct evhttp_request *req,
    enum webui_page page)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	wu->wu_stat.st_requests = wu->wu_requests;
	wu->wu_stat.st_events = wu->wu_events;
	if (page == WEBUI_PAGE_METRICS)
		webui_buffer(req, b, webui_metrics(b, &wu->wu_stat, &wu->wu_ca),
		    "text/plain; version=0.0.4; charset=utf-8");
	else
		webui_buffer(req, b, webui_status_html(b, &wu->wu_stat,
		    &wu->wu_ca), "text/html; charset=utf-8");
	evbuffer_free(b);
}

static void
webui_request(struct evhttp_request *req, void *arg)
{
	struct webui	*wu = arg;
	const struct evhttp_uri *uri;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	enum webui_page	 page;

	wu->wu_requests++;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		webui_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "Only GET and HEAD are served here.\n");
		return;
	}
	if ((uri = evhttp_request_get_evhttp_uri(req)) == NULL) {
		webui_text(req, HTTP_BADREQUEST, "Bad Request",
		    "Bad request target.\n");
		return;
	}
	page = webui_route(evhttp_uri_get_path(uri));
	log_debug("%s %s: page %d", cmd == EVHTTP_REQ_GET ? "GET" : "HEAD",
	    evhttp_request_get_uri(req), page);
	switch (page) {
	case WEBUI_PAGE_INDEX:
		webui_index(wu, req, uri);
		break;
	case WEBUI_PAGE_PEM:
	case WEBUI_PAGE_DER:
	case WEBUI_PAGE_CER:
	case WEBUI_PAGE_MOBILECONFIG:
		webui_cert(wu, req, page);
		break;
	case WEBUI_PAGE_STATUS:
	case WEBUI_PAGE_METRICS:
		webui_stat_page(wu, req, page);
		break;
	default:
		webui_text(req, HTTP_NOTFOUND, "Not Found",
		    "Not found. This server has /, /" WEBUI_PEM_FILENAME
		    ", /" WEBUI_DER_FILENAME ", /" WEBUI_CER_FILENAME
		    ", /" WEBUI_MC_FILENAME ", /status and /metrics.\n");
		break;
	}
}
