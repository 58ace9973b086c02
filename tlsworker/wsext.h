/*
 * The Sec-WebSocket-Extensions field of a 101 response (RFC 6455 9.1),
 * read for what the WebSocket observer (wsobs.c) needs: whether
 * permessage-deflate (RFC 7692) was negotiated, and its parameters that
 * decide how each direction is inflated for inspection.
 *
 * Untrusted bytes from the origin; fuzzed by tests/fuzz/tlsworker_wsext.c.
 * The grammar: a comma-separated list of extensions, each a token with
 * ";"-separated parameters, a parameter a token with an optional "=" and
 * a token or quoted-string value, whitespace around the separators. The
 * rules of RFC 7692 7.1 for a response: permessage-deflate at most once,
 * each parameter at most once, no unknown parameter, the no_context
 * parameters without a value, both max_window_bits with a value from 8
 * to 15. A value that breaks them is an error: the client must fail the
 * connection then, and the observer does not parse it.
 *
 * Pure code, nothing allocated.
 */
#ifndef MITMD_TW_WSEXT_H
#define MITMD_TW_WSEXT_H

#include <stddef.h>

#define WSEXT_BITS_MIN	 8	/* RFC 7692 7.1.2 */
#define WSEXT_BITS_MAX	 15
#define WSEXT_VALUE_MAX	 16	/* bytes of a parameter value we read */

/* Index of a direction: what the client sends, what the server sends. */
#define WSEXT_CLIENT	 0
#define WSEXT_SERVER	 1

struct wsext {
	int		 wx_deflate;	/* permessage-deflate accepted */
	int		 wx_other;	/* another extension accepted */
	/* by sender, WSEXT_CLIENT or WSEXT_SERVER: the sender resets its
	 * compressor after each message; the LZ77 window it uses */
	int		 wx_no_takeover[2];
	int		 wx_window_bits[2];
	const char	*wx_error;	/* static text; NULL when well-formed */
};

void	 wsext_init(struct wsext *);
/* Take one field value (several fields add up); 0, or -1 with wx_error
 * set (it stays set, and later calls return -1). */
int	 wsext_parse(struct wsext *, const char *, size_t);

#endif
