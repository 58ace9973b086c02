/*
 * The server-sent events observer: the body of a text/event-stream
 * response, as the worker relays it, turned into sse_event events
 * (mitmd-events(5)), one as each event completes. Independent of the
 * transport: fwd.c feeds it the de-chunked body of an HTTP/1.x response;
 * an HTTP/2 stream can feed it its DATA the same way.
 *
 * The owner relays every byte unchanged and at once and shows the same
 * bytes to sseobs_feed(); the parser (tlsworker/sse.c) only reads them,
 * and its limits (a line past SSE_LINE_MAX, data past SSE_DATA_MAX) skip
 * one event, logged once per stream. A body with a Content-Encoding is
 * not given to it (the owner checks, with sseobs_coding_ok). Comments
 * make no event. An event the stream ends inside is never reported.
 *
 * Runs on the worker's loop; events are encoded during sseobs_feed.
 */
#ifndef MITMD_TW_SSEOBS_H
#define MITMD_TW_SSEOBS_H

#include <stddef.h>
#include <stdint.h>

struct ev_flow;
struct sseobs;

/* Is this Content-Type value text/event-stream (parameters allowed)? */
int	 sseobs_is_event_stream(const char *, size_t);
/* May a body with this Content-Encoding value (NULL: none) be parsed:
 * none or "identity" only. */
int	 sseobs_coding_ok(const char *, size_t);
/* flow must outlive the observer; stream: the exchange's number in the
 * events. NULL when out of memory (the body is relayed all the same). */
struct sseobs *sseobs_new(struct ev_flow *, uint32_t stream);
void	 sseobs_feed(struct sseobs *, const void *, size_t);
/* NULL is fine. */
void	 sseobs_free(struct sseobs *);

#endif
