/*
 * Inside the decoder chain (decode.h): the growing output buffer every
 * stage writes into, and the stages' entry points. Not for other
 * modules.
 *
 *   decode.c		the chain, the content-type rules, the result, render
 *   decode_enc.c	content-encodings: zlib (gzip, deflate), brotli, zstd
 *   decode_frame.c	gRPC messages and SSE events of a whole buffer
 *   decode_json.c	the JSON check and re-format, JSON strings, base64
 *   decode_msgpack.c	msgpack: the bound check, then msgpack-c to JSON
 */
#ifndef MITMD_DECODE_INT_H
#define MITMD_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/decode.h"

/* What a stage ends with. */
#define DEC_OK		0
#define DEC_TRUNC	1	/* stopped at a bound or at the input's end */
#define DEC_FAIL	(-1)	/* the error text says why */
#define DEC_NOMEM	(-2)

#define DBUF_MIN	256	/* first allocation */

/*
 * A buffer that grows by doubling up to db_max and never past it: a
 * stage that would write more gets -1 and db_full set, so no more than
 * db_max bytes are ever allocated for one output.
 */
struct dbuf {
	uint8_t		*db_p;
	size_t		 db_len;
	size_t		 db_cap;
	size_t		 db_max;
	int		 db_full;	/* a write went past db_max */
	int		 db_nomem;	/* malloc failed */
};

void	 dbuf_init(struct dbuf *, size_t max);
void	 dbuf_free(struct dbuf *);
/* Room for at least one byte, up to want: its start and *avail, or NULL
 * (full or out of memory). */
uint8_t	*dbuf_room(struct dbuf *, size_t want, size_t *avail);
int	 dbuf_put(struct dbuf *, const void *, size_t);
int	 dbuf_puts(struct dbuf *, const char *);
int	 dbuf_u64(struct dbuf *, uint64_t);
/* Hand the bytes over (NUL-terminated when there was room for it). */
uint8_t	*dbuf_take(struct dbuf *, size_t *len);

/* decode_json.c */
/* A JSON string of n bytes at p; invalid UTF-8 becomes U+FFFD. */
int	 decode_json_str(struct dbuf *, const uint8_t *p, size_t n);
int	 decode_b64(struct dbuf *, const uint8_t *p, size_t n);
/* The length of an anti-hijacking prefix at p, or 0. */
size_t	 decode_json_prefix(const uint8_t *p, size_t n);
/* Check n bytes of JSON text and write them re-formatted (compact, or
 * indented) to out. */
int	 decode_json_format(const uint8_t *p, size_t n, uint32_t max_depth,
	    int pretty, struct dbuf *out, char *err, size_t errsz);

/* decode_msgpack.c */
/* Walk one msgpack value without allocating: its length in *used. */
int	 decode_msgpack_check(const uint8_t *p, size_t n, uint32_t max_depth,
	    uint32_t max_objects, size_t *used, char *err, size_t errsz);
/* One msgpack value (the whole buffer) as JSON text. */
int	 decode_msgpack_json(const uint8_t *p, size_t n,
	    const struct decode_limits *, struct dbuf *out, char *err,
	    size_t errsz);
/* The depth msgpack-c can unpack, whatever was asked. */
uint32_t decode_msgpack_depth(uint32_t asked);

/* decode_enc.c: known coding names; undo one. */
int	 decode_enc_known(const char *name);
int	 decode_enc_run(const char *name, const uint8_t *p, size_t n,
	    int partial, struct dbuf *out, char *err, size_t errsz);

/* decode.c: the payload stage of one message of a framing; its object's
 * "kind" and "body" members (and "error") are written to out. */
enum decode_payload {
	DECODE_P_RAW = 0,
	DECODE_P_JSON,		/* the type says JSON */
	DECODE_P_JSON_GUESS,	/* maybe JSON: its failure is no failure */
	DECODE_P_MSGPACK,
};
int	 decode_payload_members(int payload, const uint8_t *p, size_t n,
	    int truncated, const struct decode_limits *, struct dbuf *out,
	    int *failed, int *sanitized);
int	 decode_raw_kind(const uint8_t *p, size_t n);

/* decode_frame.c: the messages as a JSON array into out. */
struct decode_frame {
	int		 df_payload;	/* enum decode_payload */
	int		 df_web;	/* gRPC-Web: trailer frames */
	const char	*df_grpc_encoding;
	int		 df_partial;
	size_t		 df_parts;	/* out: messages or events */
	int		 df_failed;	/* out: a message's payload failed */
	int		 df_sanitized;	/* out */
};
int	 decode_grpc(struct decode_frame *, const uint8_t *p, size_t n,
	    const struct decode_limits *, struct dbuf *out, char *err,
	    size_t errsz);
int	 decode_sse(struct decode_frame *, const uint8_t *p, size_t n,
	    const struct decode_limits *, struct dbuf *out, char *err,
	    size_t errsz);

#endif
