/*
 * HTTP/2 on an intercepted connection (h2.c, h2h1.c): nghttp2 as the
 * server to the client and as the client to an HTTP/2 upstream, or an
 * HTTP/1.1 upstream that the streams take in turn.
 */
#ifndef MITMD_TW_H2_H
#define MITMD_TW_H2_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct bufferevent;
struct h2c;
struct h1h2;

/* The ALPN the client gets, from what it offered (h2, http/1.1) and
 * what the upstream chose (up_h2: "h2"); 1 for h2, 0 for http/1.1. */
int	 h2_choose(int offered_h2, int offered_http11, int up_h2);

/* The client negotiated h2 on cn->cn_bev (TLS) or sent the HTTP/2
 * preface in clear (h2c prior knowledge); ubev is the upstream, owned
 * now, speaking HTTP/2 when up_h2 else HTTP/1.1. 0, or -1 (cn is closed
 * then). */
int	 h2_start(struct conn *, struct bufferevent *ubev, int up_h2);
void	 h2_free(struct h2c *);
/* Shutdown: a GOAWAY to the client; the connection ends with its last
 * stream. */
void	 h2_drain(struct h2c *);

/* h1h2.c: an HTTP/1.1 client (cn_bev) in front of an HTTP/2 upstream
 * (ubev, owned now); requests come from conn.c through fwd_request. */
int	 h1h2_start(struct conn *, struct bufferevent *ubev);
void	 h1h2_request(struct conn *);
void	 h1h2_free(struct h1h2 *);

#endif
