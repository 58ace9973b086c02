/*
 * The WebSocket observer: what the worker relays on a connection after a
 * WebSocket handshake, turned into events (ws_message, ws_turn_started,
 * ws_turn_completed; mitmd-events(5)). It does not depend on how the
 * bytes travel: fwd.c feeds it the two directions of an HTTP/1.1
 * connection after a 101, and an HTTP/2 stream (RFC 8441 extended
 * CONNECT) can feed it the DATA of its two directions the same way.
 *
 * The owner relays every byte unchanged and at once, and shows the same
 * bytes to wsobs_feed(), in any chunks; the observer only reads them. One
 * frame parser per direction (tlsworker/ws.c, client frames masked).
 * A ws_message event goes out for each complete data message and each
 * control frame (a close with its code and reason), with the first
 * payload bytes, up to the capture size: for a compressed message
 * (permessage-deflate, as negotiated by the 101's Sec-WebSocket-
 * Extensions, wsext.h) the start of the inflated payload. Inflating is
 * for inspection only and bounded: output past the capture is thrown
 * away, and a direction whose sender resets its context per message
 * stops inflating once the capture is full.
 *
 * Turns: a turn is the data messages one side sends until the other side
 * answers. The first data message of a side when no turn is open starts
 * one (ws_turn_started, turns numbered from 1 per observer); it completes
 * (ws_turn_completed, with its frames, messages and payload bytes) when a
 * data message of the other side completes ("reply", and that message
 * starts the next turn), at a close frame of either side ("close"), at a
 * protocol error ("error"), after WSOBS_IDLE_SEC without a data message
 * ("idle", by a timer on the event base), or at wsobs_end() ("eof" and
 * the like). Control frames neither start nor count in turns. A message
 * belongs to the turn open when it completes; a turn's start is the
 * arrival of its first message's first frame, its end the moment the
 * observer saw what completed it.
 *
 * A protocol error stops the observation of that direction, reported
 * once (a log line and the turn's "error"); the bytes still flow. An
 * extension the observer does not know, or a malformed extensions field,
 * turns observation off for the whole connection (logged once).
 *
 * Runs on the worker's loop, never blocks; events are encoded during the
 * calls and by the idle timer, never after wsobs_end().
 */
#ifndef MITMD_TW_WSOBS_H
#define MITMD_TW_WSOBS_H

#include <stddef.h>
#include <stdint.h>

struct ev_flow;
struct event_base;
struct wsobs;

#define WSOBS_IDLE_SEC	  30	/* a turn without a message completes */
#define WSOBS_INFLATE_BUF 4096	/* inflate output per step (stack) */

/*
 * After the handshake. base: the loop for the idle timer (NULL: no
 * timer); flow: the connection's events, must outlive the observer;
 * stream: the exchange's number in the events; ext: the 101 response's
 * Sec-WebSocket-Extensions value, NULL or "" for none (several fields
 * joined by ", "); capture: bytes of each message kept for its event.
 * NULL when out of memory (the owner relays without observing).
 */
struct wsobs *wsobs_new(struct event_base *, struct ev_flow *,
	    uint32_t stream, const char *ext, size_t capture);
/* Bytes relayed in one direction: response 0 client to server, 1 server
 * to client. */
void	 wsobs_feed(struct wsobs *, int response, const void *, size_t);
/* The connection (or stream) ends: an open turn completes with reason
 * ("eof", "close", "error", "idle"); nothing is observed after. */
void	 wsobs_end(struct wsobs *, const char *reason);
/* Both sides sent a close frame: a clean WebSocket close. */
int	 wsobs_closed(const struct wsobs *);
/* Tests: the idle period in milliseconds instead of WSOBS_IDLE_SEC. */
void	 wsobs_set_idle(struct wsobs *, uint32_t msec);
/* Frees; emits nothing (call wsobs_end first). NULL is fine. */
void	 wsobs_free(struct wsobs *);

#endif
