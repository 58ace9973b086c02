/*
 * A passive parser of gRPC message framing (the "Length-Prefixed-Message"
 * of gRPC over HTTP/2: a 1-byte Compressed-Flag, 0 or 1, a 4-byte
 * big-endian Message-Length, then that many message bytes), for one
 * direction of one HTTP/2 stream of an intercepted connection (groundwork
 * for issue 5, protocols in the middle; not wired into the relay yet).
 *
 * How the worker feeds it: the DATA frame payloads of one stream in one
 * direction (requests: client to server; responses: server to client),
 * padding removed, in whatever pieces nghttp2 hands them over, down to one
 * byte at a time; a message and its 5-byte prefix may be split anywhere,
 * across frames and across calls. One struct grpc_parser per stream and
 * direction. The worker forwards every byte untouched whatever the parser
 * says: the parser only observes, it never fails, delays or changes the
 * stream. At the stream's end (END_STREAM, or a reset) the worker calls
 * grpc_end() to learn whether it ended on a message boundary.
 *
 * Reported through callbacks during grpc_feed(): the start of each
 * message (compressed flag, length, its offset in the stream), its bytes
 * in pieces with their offset in the message, and its completion. A
 * zero-length message is a start and a completion with nothing between.
 * The bytes of a compressed message are passed on as sent: inflating is
 * not done here, nor is checking that the headers negotiated an encoding
 * (a flag of 1 without grpc-encoding is the caller's to judge).
 *
 * Malformed streams: a compressed flag other than 0 or 1, or a length
 * above the limit (GRPC_MSG_MAX_DEFAULT, 4 MiB, gRPC's default receive
 * limit; configurable), is reported once through the error callback with
 * the offset of the prefix at fault, as soon as the byte that shows it
 * arrives; then the parser stops interpreting the stream (after that,
 * grpc_feed() only counts bytes and returns GRPC_ERROR). The flag is
 * checked before the length, so a bad flag is reported even when the
 * length is bad as well.
 *
 * Also here, for the headers and trailers of a gRPC exchange: the
 * grpc-status value (a decimal code and its name), the percent-encoded
 * grpc-message value (a bounded decoder that leaves malformed escapes as
 * they are, as the gRPC spec asks: never fail on a bad message), and the
 * content-type check.
 *
 * Nothing allocates: the state is a fixed struct. Pure code, no libevent,
 * nghttp2 or OpenSSL; fuzzed by tests/fuzz/tlsworker_grpc.c.
 */
#ifndef MITMD_TW_GRPC_H
#define MITMD_TW_GRPC_H

#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN	     5		/* flag + 4-byte length */
#define GRPC_MSG_MAX_DEFAULT ((uint32_t)4 << 20) /* gRPC's default max
						  * receive message size */
#define GRPC_STATUS_MAX	     16		/* UNAUTHENTICATED, the last code */
#define GRPC_STATUS_DIGITS   9		/* a grpc-status longer than this is
					 * malformed (fits an int32) */
#define GRPC_ERROR_TEXT_MAX  128	/* room for grpc_error_text() */

enum grpc_result {
	GRPC_OK = 0,	/* everything taken, feed more */
	GRPC_ERROR,	/* the stream is malformed: see gp_error; nothing
			 * more is interpreted */
};

/* What grpc_end() says about the end of the stream. */
enum grpc_end_result {
	GRPC_END_CLEAN = 0,	/* on a message boundary (or no bytes) */
	GRPC_END_IN_PREFIX,	/* inside a message's 5-byte prefix */
	GRPC_END_IN_MESSAGE,	/* inside a message's bytes */
	GRPC_END_MALFORMED,	/* the stream had failed before its end */
};

enum grpc_error_kind {
	GRPC_E_NONE = 0,
	GRPC_E_FLAG,		/* compressed flag other than 0 or 1 */
	GRPC_E_TOO_LARGE,	/* length above the limit */
	GRPC_E_TRUNC_PREFIX,	/* grpc_end(): the stream ended in a prefix */
	GRPC_E_TRUNC_MESSAGE,	/* grpc_end(): it ended inside a message */
};

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_status {
	GRPC_S_OK = 0,
	GRPC_S_CANCELLED,
	GRPC_S_UNKNOWN,
	GRPC_S_INVALID_ARGUMENT,
	GRPC_S_DEADLINE_EXCEEDED,
	GRPC_S_NOT_FOUND,
	GRPC_S_ALREADY_EXISTS,
	GRPC_S_PERMISSION_DENIED,
	GRPC_S_RESOURCE_EXHAUSTED,
	GRPC_S_FAILED_PRECONDITION,
	GRPC_S_ABORTED,
	GRPC_S_OUT_OF_RANGE,
	GRPC_S_UNIMPLEMENTED,
	GRPC_S_INTERNAL,
	GRPC_S_UNAVAILABLE,
	GRPC_S_DATA_LOSS,
	GRPC_S_UNAUTHENTICATED,
};

struct grpc_limits {
	uint32_t	 gl_msg_max;	/* largest message length; 0:
					 * GRPC_MSG_MAX_DEFAULT */
};

/* The message being parsed, valid from its start to its completion. */
struct grpc_message {
	int		 gm_compressed;	/* the flag, 0 or 1 */
	uint32_t	 gm_len;	/* Message-Length */
	uint64_t	 gm_offset;	/* stream offset of its prefix */
	uint64_t	 gm_index;	/* messages before it on the stream */
};

/*
 * A malformed or truncated stream. ge_reason is static text without the
 * numbers; grpc_error_text() formats the whole line.
 */
struct grpc_error {
	int		 ge_kind;	/* enum grpc_error_kind */
	const char	*ge_reason;
	uint64_t	 ge_offset;	/* stream offset of the prefix at fault
					 * (the truncated message's prefix) */
	uint8_t		 ge_flag;	/* FLAG: the byte sent */
	uint32_t	 ge_len;	/* TOO_LARGE, TRUNC_MESSAGE: the
					 * message length */
	uint32_t	 ge_limit;	/* TOO_LARGE: the limit */
	uint32_t	 ge_have;	/* TRUNC_*: prefix or message bytes
					 * seen */
};

/*
 * Each callback may be NULL, and so may the struct. Pointers passed to
 * them are valid only during the call; gcb_data's bytes are the caller's
 * input. off is the offset of the piece in the message.
 */
struct grpc_callbacks {
	void	(*gcb_start)(void *, const struct grpc_message *);
	void	(*gcb_data)(void *, const struct grpc_message *,
		    const uint8_t *, size_t, uint32_t off);
	void	(*gcb_end)(void *, const struct grpc_message *);
	void	(*gcb_error)(void *, const struct grpc_error *);
};

struct grpc_parser {
	/* set by grpc_init */
	uint32_t	 gp_msg_max;

	int		 gp_state;
	uint8_t		 gp_prefix[GRPC_PREFIX_LEN];
	size_t		 gp_plen;	/* prefix bytes so far */
	uint64_t	 gp_poff;	/* stream offset of that prefix */
	struct grpc_message gp_msg;	/* the open message */
	uint32_t	 gp_off;	/* its bytes so far */

	/* for the caller to read */
	uint64_t	 gp_total;	/* stream bytes seen, also after an
					 * error */
	uint64_t	 gp_messages;	/* messages completed */
	uint64_t	 gp_bytes;	/* bytes of the completed messages */
	struct grpc_error gp_error;	/* ge_kind GRPC_E_NONE if none */
};

/* limits may be NULL. */
void	 grpc_init(struct grpc_parser *, const struct grpc_limits *);
/* Observe the next len bytes of the stream. GRPC_OK or GRPC_ERROR; after
 * GRPC_ERROR every call returns GRPC_ERROR at once, without callbacks. */
int	 grpc_feed(struct grpc_parser *, const uint8_t *, size_t,
	    const struct grpc_callbacks *, void *arg);
/* The stream ended: enum grpc_end_result. A truncation is recorded in
 * gp_error (not reported through a callback). May be called again, but
 * the stream may not be fed after it. */
int	 grpc_end(struct grpc_parser *);
/* "bad compressed flag 0x02 at offset 10", "truncated message: 3 of 8
 * bytes at offset 0", ...; NUL-terminated, cut to size. The length
 * snprintf would have written. */
int	 grpc_error_text(const struct grpc_error *, char *, size_t);

/*
 * grpc-status: 1*DIGIT of at most GRPC_STATUS_DIGITS digits (leading
 * zeros allowed, no sign, no whitespace). The code, or -1 if malformed;
 * a well-formed code above GRPC_STATUS_MAX is returned as sent (clients
 * treat it as UNKNOWN).
 */
int	 grpc_status_parse(const char *, size_t);
/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "unknown" for anything else
 * (a code outside 0..16, or -1 from grpc_status_parse). */
const char *grpc_status_name(int);

/* grpc_percent_decode() flags */
#define GRPC_PCT_MALFORMED 0x01	/* a '%' without two hex digits, kept */
#define GRPC_PCT_TRUNCATED 0x02	/* out was too small; decoding stopped */

/*
 * Decode a grpc-message value ("%" 2HEXDIGIT, either case) into out, at
 * most outsize - 1 bytes and a NUL; *outlen (may be NULL) is the bytes
 * written, which may hold NULs of their own (%00). A '%' not followed by
 * two hex digits is copied as it is and decoding goes on after it. Bytes
 * are not checked for UTF-8. Returns GRPC_PCT_* flags, 0 for a clean
 * decode.
 */
int	 grpc_percent_decode(const char *, size_t, char *out, size_t outsize,
	    size_t *outlen);

/*
 * Is this content-type gRPC: "application/grpc" (case-insensitive) alone
 * or followed by '+' (a subtype: "+proto", "+json") or ';' (parameters)?
 * "application/grpc-web" and others are not. 1 or 0; when 1 and sub is
 * not NULL, *sub and *sublen give the subtype after '+' (up to a ';'),
 * empty when there is none.
 */
int	 grpc_content_type(const char *, size_t, const char **sub,
	    size_t *sublen);

#endif
