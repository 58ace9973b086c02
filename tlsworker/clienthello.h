/*
 * A strict parser of a TLS ClientHello as it arrives on an intercepted
 * CONNECT tunnel, before any TLS library sees it: the worker needs the
 * SNI and the ALPN offer to open the upstream connection first, and to
 * tell TLS from plain HTTP or other bytes.
 *
 * The input is every byte the client sent so far, from the start of the
 * tunnel; the parser is called again with more bytes until it says OK,
 * NOT_TLS or MALFORMED, and never reads past len. The ClientHello may
 * span several TLS records (post-quantum key shares make it larger than
 * 1 KiB, and a client may fragment it on purpose); only handshake records
 * may carry it. Everything is bounded by CH_MAX. Pure code, no libevent
 * or OpenSSL, fuzzed by tests/fuzz/tlsworker_clienthello.c.
 */
#ifndef MITMD_TW_CLIENTHELLO_H
#define MITMD_TW_CLIENTHELLO_H

#include <stddef.h>
#include <stdint.h>

#define CH_MAX		16384	/* bytes of the handshake message */
#define CH_SNI_MAX	255	/* a DNS name's text form */
#define CH_ALPN_MAX	8	/* protocol names kept */
#define CH_ALPN_NAME_MAX 32	/* bytes of one kept name */
#define CH_EXT_MAX	64	/* extensions in one ClientHello */

enum ch_result {
	CH_NEED_MORE = 0,	/* a TLS prefix so far: feed more */
	CH_OK,			/* complete; fields below are set */
	CH_NOT_TLS,		/* the first bytes are not a TLS handshake */
	CH_MALFORMED,		/* TLS, but a broken or oversized ClientHello */
};

struct clienthello {
	size_t	 ch_len;	/* input bytes up to the end of the hello */
	uint16_t ch_legacy_version;
	int	 ch_has_sni;
	char	 ch_sni[CH_SNI_MAX + 1];	/* lower case, no trailing dot */
	int	 ch_sni_ignored; /* a host_name that is no DNS name ("host:port"
				 * from some clients): as if none was sent */
	int	 ch_has_alpn;
	int	 ch_alpn_n;	/* names kept, at most CH_ALPN_MAX */
	char	 ch_alpn[CH_ALPN_MAX][CH_ALPN_NAME_MAX + 1];
	int	 ch_alpn_h2;	/* "h2" offered */
	int	 ch_alpn_http11; /* "http/1.1" offered */
	int	 ch_has_versions; /* supported_versions present */
	int	 ch_tls13;	/* it lists TLS 1.3 */
	const char *ch_error;	/* why, for MALFORMED and NOT_TLS */
};

/* Parse what the client has sent so far (buf holds it from the first
 * byte of the tunnel). */
int	 clienthello_parse(const uint8_t *, size_t, struct clienthello *);
/* Do the first bytes look like an HTTP/1.x request line ("GET /...")? A
 * method token then a space; 1 yes, 0 no, -1 not enough bytes yet. */
int	 clienthello_looks_http(const uint8_t *, size_t);

#endif
