/*
 * webui: the public page of mitmd on its own listener. For now: a short
 * status page, and the CA certificate (never the key) that certd hands to
 * master and master forwards here, as PEM and as DER. Served with
 * libevent's evhttp on the listening socket master opened; the process is
 * chrooted and seccomp-confined like every child.
 */
#ifndef MITMD_WEBUI_H
#define MITMD_WEBUI_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

struct event;
struct event_base;
struct evbuffer;
struct evhttp;
struct evconnlistener;

#define WEBUI_MAX_HEADERS_SIZE	8192	/* bytes of a request head */
#define WEBUI_MAX_BODY_SIZE	1024	/* nothing here takes a body */
#define WEBUI_TIMEOUT_SEC	10	/* idle or slow connections */
#define WEBUI_NOFILE		1024	/* RLIMIT_NOFILE */
#define WEBUI_PAUSE_MSEC	500	/* accept pause at the fd limit */
#define WEBUI_SHA256_LEN	32
#define WEBUI_FPR_MAX		(WEBUI_SHA256_LEN * 3)	/* "AB:..." + NUL */
#define WEBUI_DATE_MAX		64
#define WEBUI_NAME_MAX		256
#define WEBUI_PEM_FILENAME	"mitmd-ca.pem"
#define WEBUI_DER_FILENAME	"mitmd-ca.crt"

/* The CA certificate as served; wc_pem is NULL until certd's arrives. */
struct webui_ca {
	char	*wc_pem;	/* re-encoded: the certificate alone, NUL-ended */
	size_t	 wc_pemlen;
	uint8_t	*wc_der;
	size_t	 wc_derlen;
	char	 wc_sha256[WEBUI_FPR_MAX];	/* of the DER */
	char	 wc_not_after[WEBUI_DATE_MAX];
	char	 wc_name[WEBUI_NAME_MAX];	/* subject CN */
};

enum webui_page {
	WEBUI_PAGE_NONE = 0,
	WEBUI_PAGE_INDEX,
	WEBUI_PAGE_PEM,
	WEBUI_PAGE_DER,
};

struct webui {
	struct event_base	*wu_base;
	struct evhttp		*wu_http;
	struct event		*wu_pause_ev;
	struct evconnlistener	*wu_ls[CONF_MAX_LISTENERS];
	size_t			 wu_nls;
	/* Listening sockets of the set being received (IMSG_CONF_END). */
	int			 wu_next_lfd[CONF_MAX_LISTENERS];
	size_t			 wu_next_nl;
	struct webui_ca		 wu_ca;
	uint64_t		 wu_requests;
};

/* ca.c: parse certd's PEM; on failure the previous CA stays. */
int	webui_ca_set(struct webui_ca *, const char *pem, size_t len);
void	webui_ca_clear(struct webui_ca *);

/* page.c: pure. */
enum webui_page webui_route(const char *path);
int	webui_page_index(struct evbuffer *, const struct webui_ca *);

/* http.c */
int	webui_http_init(struct webui *, struct event_base *);
/* Takes fd. */
int	webui_http_listen(struct webui *, int fd);

#endif
