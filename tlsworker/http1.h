/*
 * A strict, incremental HTTP/1.x head parser for untrusted bytes, used by
 * the tlsworker on the explicit-proxy path (CONNECT and absolute-form
 * requests, the responses of plain-HTTP origins) and meant to carry the
 * HTTP/1.1-in-TLS relay of the next issue.
 *
 * The parser copies the head into a buffer it owns and validates each line
 * as soon as its end arrives, so garbage is refused before a whole head is
 * in; it can be fed any split of the input, down to one byte at a time. It
 * never looks past the blank line that ends the head: *used tells the caller
 * where the body (or the next message, or tunnel bytes) begins.
 *
 * Line ends are CRLF; a lone LF is accepted as nginx does, a lone CR never.
 * obs-fold, whitespace before a colon, control characters in values, bad
 * versions and unparseable targets are refused with the status to answer.
 *
 * Body framing (RFC 9112 section 6) is decided when the head completes;
 * both Transfer-Encoding and Content-Length in one request is an error
 * (request smuggling defence), so are differing Content-Length values.
 * The chunked decoder is a byte-exact state machine that the relay runs
 * over the bytes it forwards unchanged.
 */
#ifndef MITMD_HTTP1_H
#define MITMD_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#define HTTP1_HOST_MAX	     255	/* a DNS name's text form */
#define HTTP1_HEAD_MIN_ALLOC 1024	/* first head buffer */
#define HTTP1_HEAD_KEEP	     4096	/* buffer kept across a reset */
#define HTTP1_MAX_EMPTY	     8		/* blank lines before a request */
#define HTTP1_CLEN_MAX	     ((uint64_t)1 << 62) /* Content-Length cap */
#define HTTP1_CHUNK_LINE_MAX 4096	/* chunk-size line with extensions */
#define HTTP1_CHUNK_DIGITS   16		/* hex digits of a chunk size */
#define HTTP1_TRAILER_MAX    16384	/* bytes of a trailer section */
#define HTTP1_TRAILER_FIELDS 64		/* lines of a trailer section */
#define HTTP1_PORT_HTTP	     80

enum http1_result {
	HTTP1_MORE = 0,	/* everything used, feed more */
	HTTP1_DONE,	/* complete; *used marks where it ended */
	HTTP1_ERROR,	/* malformed; see hh_status / ck_error */
};

enum http1_kind {
	HTTP1_REQUEST = 1,
	HTTP1_RESPONSE,
};

enum http1_method {
	HTTP1_M_OTHER = 0,
	HTTP1_M_CONNECT,
	HTTP1_M_HEAD,
};

enum http1_framing {
	HTTP1_BODY_NONE = 0,	/* no body at all */
	HTTP1_BODY_LENGTH,	/* hh_clen bytes */
	HTTP1_BODY_CHUNKED,	/* chunked transfer coding */
	HTTP1_BODY_CLOSE,	/* until the sender closes (responses) */
};

/* A span of hh_buf, NUL-terminated there. */
struct http1_str {
	uint32_t hs_off;
	uint32_t hs_len;
};

struct http1_field {
	struct http1_str hf_name;
	struct http1_str hf_value; /* without surrounding whitespace */
};

struct http1_head {
	/* set by http1_head_init */
	int		 hh_kind;
	size_t		 hh_max_head;	/* bytes, line ends included */
	size_t		 hh_max_fields;
	int		 hh_req_head;	/* response to a HEAD request */
	int		 hh_origin;	/* a request inside a CONNECT tunnel:
					 * origin-form, Host kept (kept
					 * across a reset) */
	int		 hh_keep_upgrade; /* set by the caller before a
					 * build: forward Upgrade and a
					 * "Connection: Upgrade" (a WebSocket
					 * handshake); cleared by a reset */

	/* parser state */
	char		*hh_buf;	/* owned; the lines, NUL-separated */
	size_t		 hh_len;
	size_t		 hh_cap;
	size_t		 hh_line;	/* start of the line being read */
	size_t		 hh_total;	/* input bytes consumed */
	int		 hh_state;
	unsigned	 hh_empty;	/* blank lines skipped so far */

	/* the result of an error */
	int		 hh_status;	/* 400, 431, 501, 505 */
	const char	*hh_error;	/* static text for logs and bodies */

	/* start line */
	int		 hh_minor;	/* HTTP/1.<minor> */
	struct http1_str hh_method;
	int		 hh_method_id;	/* enum http1_method */
	struct http1_str hh_target;
	int		 hh_code;	/* responses */
	struct http1_str hh_reason;

	struct http1_field *hh_fields;
	size_t		 hh_nfields;
	size_t		 hh_fieldcap;

	/* derived when the head completes */
	int		 hh_framing;	/* enum http1_framing */
	uint64_t	 hh_clen;
	int		 hh_conn_close;	/* "Connection: close" */
	int		 hh_conn_keep;	/* "Connection: keep-alive" */
	char		 hh_host[HTTP1_HOST_MAX + 1]; /* target host, no [] */
	int		 hh_host_v6;	/* an IPv6 literal: print with [] */
	uint16_t	 hh_port;
	struct http1_str hh_path;	/* origin-form of an absolute target */
};

typedef void http1_data_fn(void *arg, const char *, size_t);

struct http1_chunked {
	int		 ck_state;
	uint64_t	 ck_left;	/* data bytes left in this chunk */
	unsigned	 ck_digits;
	size_t		 ck_line;	/* bytes of the current line */
	size_t		 ck_trailer;	/* bytes of the trailer section */
	size_t		 ck_tlines;
	const char	*ck_error;
	/* optional, set after http1_chunked_init: the bytes of the trailer
	 * section, field lines with their CRLFs, as they are walked */
	http1_data_fn	*ck_tfn;
	void		*ck_targ;
};

void	 http1_head_init(struct http1_head *, int kind, size_t max_head,
	    size_t max_fields);
/* Forget the message, keep the buffer: the next head on a connection. */
void	 http1_head_reset(struct http1_head *);
void	 http1_head_free(struct http1_head *);
/* Feed bytes; *used is how many were taken (all of them unless DONE or
 * ERROR). */
int	 http1_head_parse(struct http1_head *, const char *, size_t,
	    size_t *used);

/* Character classes of RFC 9110 5.6.2 (tchar) and 5.5 (field value). */
int	 http1_is_tchar(int);
int	 http1_is_vchar(int);

const char *http1_str(const struct http1_head *, struct http1_str);
/* The first field of that name (case-insensitive), or NULL. */
const struct http1_field *http1_field(const struct http1_head *,
	    const char *name);
/* Does the request or response ask for the connection to stay open? */
int	 http1_keepalive(const struct http1_head *);
/* Does the head ask to switch to proto: a Connection field listing
 * "upgrade" and an Upgrade field listing proto (any "/version" after it
 * ignored)? Case-insensitive. */
int	 http1_upgrade_to(const struct http1_head *, const char *proto);
/* A field that must not be forwarded: hop-by-hop by RFC 9110 7.6.1 or
 * named by a Connection field of the same head. */
int	 http1_field_is_hop(const struct http1_head *,
	    const struct http1_field *);

/* "host:port" or "[v6]:port" (port required, 1..65535), or with a
 * default port when port_default is non-zero. 0 or -1. */
int	 http1_parse_authority(const char *, size_t, char *host, size_t,
	    int *is_v6, uint16_t *port, uint16_t port_default);
/* "host:port" for audit lines and Host fields, brackets for IPv6. */
int	 http1_hostport(const struct http1_head *, char *, size_t);

/*
 * The request head as forwarded to an origin: origin-form target, the
 * client's version, hop-by-hop fields dropped, Host from the target; a
 * request inside a tunnel (hh_origin) keeps its target and its Host.
 * An HTTP/1.0 request gets "Connection: keep-alive". With hh_keep_upgrade
 * the Upgrade field is kept and "Connection: Upgrade" written instead.
 * A malloc'd string, its length in *len; NULL on allocation failure.
 */
char	*http1_build_request(const struct http1_head *, size_t *len);
/* A response head for the client: hop-by-hop fields dropped and a
 * Connection field that says whether the proxy keeps it open (a 1xx has
 * none; with hh_keep_upgrade a 101 keeps Upgrade and says "Upgrade"). */
char	*http1_build_response(const struct http1_head *, int keep_alive,
	    int client_minor, size_t *len);

void	 http1_chunked_init(struct http1_chunked *);
/* Walk chunked framing; data spans go to fn (may be NULL). Returns MORE,
 * DONE (after the trailer's blank line) or ERROR. */
int	 http1_chunked_feed(struct http1_chunked *, const char *, size_t,
	    size_t *used, http1_data_fn *, void *);

const char *http1_reason(int status);

#endif
