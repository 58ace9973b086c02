/*
 * The decoder chain: a captured HTTP message body turned into a form a
 * person (the web UI) or a program (the flow store) can inspect. It only
 * ever reads the bytes it is given and works on copies: what is forwarded
 * is never touched. Pure code, no I/O, no libevent: any role can call it
 * (webui does, for the store), and the fuzz targets drive it.
 *
 * The stages, in this order, each one recorded in the result:
 *
 *  1. content-encoding: the Content-Encoding list undone from its last
 *     coding to its first ("gzip, br" was gzipped, then brotli'd): gzip
 *     and x-gzip, deflate (zlib-wrapped, or raw deflate as some servers
 *     send it), br, zstd, identity. At most DECODE_CODINGS_MAX codings.
 *  2. framing, by Content-Type: application/grpc[+x] and
 *     application/grpc-web[+x] are split into their length-prefixed
 *     messages, text/event-stream into its events. Otherwise none.
 *  3. payload, by Content-Type (of each message when framed): JSON
 *     (application/json, text/json, any +json; with one of the known
 *     anti-hijacking prefixes stripped, and text/javascript and
 *     application/[x-]javascript when such a prefix is there), msgpack
 *     (application/msgpack, application/x-msgpack,
 *     application/vnd.msgpack) converted to JSON text, and anything else
 *     kept raw. Without a Content-Type, a body that parses as JSON is
 *     JSON (a guess: its failure is no failure). An SSE event's data is
 *     guessed the same way; a gRPC message takes its type from the +json
 *     or +proto suffix.
 *
 * Raw bytes are "text" when they are valid UTF-8 without control
 * characters other than tab, CR, LF and FF; else "binary", rendered in
 * base64.
 *
 * A stage that fails is recorded with its name and an error text, and the
 * bytes as they were before it become the result (raw: text or binary);
 * no later stage runs. A stage that stops at a bound (the output limit,
 * input that ends early in a capture cut short) is not a failure: it is
 * recorded as truncated, its output is the prefix it made, and the later
 * stages see that prefix (a JSON payload cut in the middle then fails and
 * is kept as text).
 *
 * Bounds, all in struct decode_limits: input bytes looked at, output
 * bytes a stage may make (a decompression bomb stops there, and never
 * more than that is allocated for it), an optional output/input ratio,
 * nesting depth of JSON and msgpack, msgpack objects, messages or events
 * of a framing. Zstandard windows are limited to 8 MiB (RFC 9659),
 * brotli's are 16 MiB at most by its format, zlib's 32 KiB.
 */
#ifndef MITMD_DECODE_H
#define MITMD_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define DECODE_DEF_MAX_IN	((size_t)16 * 1024 * 1024)
#define DECODE_DEF_MAX_OUT	((size_t)16 * 1024 * 1024)
#define DECODE_DEF_MAX_RATIO	0	/* off */
#define DECODE_DEF_MAX_DEPTH	64
#define DECODE_DEF_MAX_OBJECTS	(256 * 1024)
#define DECODE_DEF_MAX_PARTS	4096
#define DECODE_DEPTH_CAP	256	/* any depth asked is cut to this */
#define DECODE_RATIO_MIN_OUT	4096	/* a ratio never limits below this */
#define DECODE_CODINGS_MAX	4	/* of one Content-Encoding list */
#define DECODE_STAGES_MAX	(DECODE_CODINGS_MAX + 2)
#define DECODE_NAME_MAX		24
#define DECODE_ERROR_MAX	128

struct decode_limits {
	size_t		 dl_max_in;	/* more input is cut: truncated */
	size_t		 dl_max_out;	/* bytes a stage may make */
	uint32_t	 dl_max_ratio;	/* out <= in * ratio, 0 off */
	uint32_t	 dl_max_depth;	/* JSON and msgpack nesting */
	uint32_t	 dl_max_objects; /* msgpack values of one body */
	uint32_t	 dl_max_parts;	/* gRPC messages, SSE events */
	int		 dl_pretty;	/* JSON indented by 2, else compact */
};

/* What the caller knows of the body; the strings may be NULL. */
struct decode_input {
	const char	*di_content_type;
	const char	*di_content_encoding;
	const char	*di_grpc_encoding;	/* of compressed gRPC messages */
	int		 di_partial;	/* a prefix of the body (a capture) */
	int		 di_message;	/* a message (WebSocket): payload only */
};

enum decode_kind {
	DECODE_KIND_TEXT = 0,
	DECODE_KIND_BINARY,
	DECODE_KIND_JSON,
};

struct decode_stage {
	char		 ds_stage[DECODE_NAME_MAX];	/* "content-encoding" */
	char		 ds_codec[DECODE_NAME_MAX];	/* "gzip" */
	int		 ds_ok;
	int		 ds_truncated;
	size_t		 ds_in;
	size_t		 ds_out;
	size_t		 ds_parts;	/* framing: messages or events */
	char		 ds_error[DECODE_ERROR_MAX];	/* "" when ok */
};

struct decode_result {
	struct decode_stage dr_stages[DECODE_STAGES_MAX];
	size_t		 dr_nstages;
	int		 dr_kind;	/* enum decode_kind */
	const char	*dr_framing;	/* "grpc", "sse" or NULL */
	uint8_t		*dr_body;	/* owned; JSON text for DECODE_KIND_JSON */
	size_t		 dr_len;
	int		 dr_sanitized;	/* an anti-hijacking prefix was cut */
	int		 dr_truncated;	/* the body shown is a prefix */
};

void	decode_limits_default(struct decode_limits *);

/*
 * Run the chain over len bytes at p. 0, or -1 when memory ran out (then
 * the result holds nothing). A failed stage is no error: see above. The
 * result is freed with decode_result_free().
 */
int	decode_body(const struct decode_input *, const struct decode_limits *,
	    const uint8_t *p, size_t len, struct decode_result *);
void	decode_result_free(struct decode_result *);

/*
 * The result as one JSON object, NUL-terminated, malloc'd; NULL when
 * memory ran out:
 *   {"stages":[{"stage":"content-encoding","codec":"gzip","ok":true,
 *   "truncated":false,"in":123,"out":4567},...],"kind":"json",
 *   "framing":"grpc","sanitized":false,"truncated":false,"body":...}
 * A failed stage has "ok":false and "error"; a framing stage "parts".
 * "framing" is there only for a framed body, whose body is then an array
 * of messages (gRPC: index, compressed, length, kind, body; SSE: index,
 * event, id, retry, kind, body), each with "truncated" or "error" when
 * so. body is the JSON value for "json", a string for "text", a base64
 * string for "binary" (with "encoding":"base64").
 */
char	*decode_render(const struct decode_result *, size_t *lenp);

#endif
