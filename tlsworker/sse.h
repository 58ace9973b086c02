/*
 * An incremental parser of text/event-stream (server-sent events), the
 * "event stream interpretation" of the WHATWG HTML standard, for a
 * response body the tlsworker relays (groundwork for issue 5, protocols
 * in the middle; not wired into the relay yet).
 *
 * How the worker feeds it: the decoded body bytes of one direction (the
 * origin's response), in whatever chunks the reads deliver, down to one
 * byte at a time; a CR at the end of one chunk and an LF at the start of
 * the next are one line end. The parser only observes: the worker
 * forwards every byte untouched whatever the parser says, and the parser
 * never fails the stream. Each completed event, each comment line and
 * each error is reported through a callback during sse_feed().
 *
 * The stream: one leading UTF-8 BOM is skipped; lines end in CRLF, LF or
 * CR; a line starting with ':' is a comment; "name:value" drops one space
 * after the colon, a line without a colon is a field with an empty value;
 * "data" lines are joined with LF, "event" names the type, "id" sets the
 * last event id (kept across events, ignored if it holds a NUL), "retry"
 * is taken only if it is all ASCII digits; other fields are ignored. An
 * empty line dispatches the event, unless its data is empty (then only
 * the type is forgotten). Values are reported as the bytes sent: UTF-8
 * is not validated or repaired (a consumer that needs text checks it).
 * An event the stream ends in the middle of is never dispatched.
 *
 * Limits: a line longer than sp_line_max bytes (its line end excluded)
 * or an event whose data would pass sp_data_max bytes is reported once
 * as an SSE_EV_ERROR; the parser then skips everything up to the next
 * empty line (the next event boundary), drops the broken event and
 * carries on with the next one. Lines before the error have taken
 * effect (an "id" or "retry" stays set). An allocation failure is handled
 * the same way. Memory is bounded by the limits: about two lines' worth
 * plus one event's data, and buffers that grew past SSE_KEEP are given
 * back at each event boundary, so an idle stream holds little.
 *
 * Pure code, no libevent or OpenSSL; fuzzed by tests/fuzz/tlsworker_sse.c.
 */
#ifndef MITMD_TW_SSE_H
#define MITMD_TW_SSE_H

#include <stddef.h>
#include <stdint.h>

#define SSE_LINE_MAX	 65536		/* default: bytes of one line */
#define SSE_DATA_MAX	 1048576	/* default: bytes of one event's data */
#define SSE_LIMIT_CEIL	 ((size_t)64 * 1048576) /* cap on either limit */
#define SSE_MIN_ALLOC	 256		/* first size of a buffer */
#define SSE_KEEP	 4096		/* buffer kept across an event */
#define SSE_RETRY_MAX	 INT32_MAX	/* larger "retry" values are ignored */
#define SSE_TYPE_DEFAULT "message"	/* the type without an "event" field */

enum sse_kind {
	SSE_EV_MESSAGE = 1,	/* a dispatched event */
	SSE_EV_COMMENT,		/* a line starting with ':' */
	SSE_EV_ERROR,		/* a limit was hit; skipping to the next
				 * empty line */
};

/*
 * What the callback gets. The pointers are the parser's and valid only
 * during the call. Type, id and a MESSAGE's data are NUL-terminated after
 * their length (data may hold NULs of its own); a COMMENT's text points
 * into the caller's input and is not.
 */
struct sse_event {
	int		 ev_kind;	/* enum sse_kind */
	const char	*ev_type;	/* MESSAGE: the "event" field or
					 * SSE_TYPE_DEFAULT */
	size_t		 ev_type_len;
	const char	*ev_data;	/* MESSAGE: the data lines joined by
					 * LF; COMMENT: the text after ':' */
	size_t		 ev_data_len;
	const char	*ev_id;		/* MESSAGE: the last event id, "" when
					 * none was ever set */
	size_t		 ev_id_len;
	int64_t		 ev_retry;	/* MESSAGE: this event's valid "retry"
					 * field in ms, or -1 */
	unsigned	 ev_comments;	/* MESSAGE: comment lines among this
					 * event's lines */
	const char	*ev_error;	/* ERROR: static text */
};

typedef void sse_event_fn(void *arg, const struct sse_event *);

/* A buffer that grows by doubling up to a cap; sb_buf is owned. */
struct sse_buf {
	char		*sb_buf;
	size_t		 sb_len;
	size_t		 sb_cap;
};

struct sse_parser {
	/* set by sse_init */
	size_t		 sp_line_max;
	size_t		 sp_data_max;

	/* parser state */
	int		 sp_bom_done;	/* past the place of a BOM */
	unsigned	 sp_bom;	/* BOM bytes matched so far */
	int		 sp_cr;		/* the last line ended in CR: a
					 * following LF belongs to it */
	int		 sp_skip;	/* after an error: to an empty line */
	int		 sp_skip_text;	/* skipping: this line has bytes */
	struct sse_buf	 sp_line;	/* a line split across feeds */
	struct sse_buf	 sp_data;	/* the data, an LF after each line */
	struct sse_buf	 sp_type;	/* the event type buffer */
	struct sse_buf	 sp_id;		/* the last event id buffer */
	int64_t		 sp_ev_retry;	/* this event's "retry", or -1 */
	unsigned	 sp_ev_comments; /* this event's comment lines */

	/* for the caller to read */
	int64_t		 sp_retry;	/* the stream's reconnection time in
					 * ms, the last valid "retry"; -1 */
	uint64_t	 sp_events;	/* events dispatched */
	uint64_t	 sp_comments;	/* comment lines */
	uint64_t	 sp_errors;	/* SSE_EV_ERROR reports */
	const char	*sp_error;	/* the last error's text, or NULL */

	/* the callback, set for the duration of sse_feed */
	sse_event_fn	*sp_fn;
	void		*sp_arg;
};

/* Set up a parser; a limit of 0 takes the default (SSE_LINE_MAX,
 * SSE_DATA_MAX). Allocates nothing. */
void	 sse_init(struct sse_parser *, size_t line_max, size_t data_max);
/* Take the next len bytes of the stream, all of them; fn (may be NULL)
 * is called for each event, comment and error they complete. */
void	 sse_feed(struct sse_parser *, const char *, size_t, sse_event_fn *,
	    void *arg);
/* Release every buffer; the parser may be sse_init'ed again. */
void	 sse_free(struct sse_parser *);

#endif
