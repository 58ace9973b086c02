/*
 * Idle upstream connections of reverse listeners, kept for the next
 * client of the same listener (tlsworker.h): a client that closes after
 * its response leaves an upstream TLS connection that is between two
 * exchanges and said keep-alive; the next client of that listener on
 * this worker takes it instead of connecting and shaking hands again, as
 * a reverse proxy's upstream keepalive pool does. The connection is the
 * same one the listener would make (one upstream, one server name, one
 * verification setting), and its certificate, still held by its SSL,
 * gives the leaf.
 *
 * An idle connection that reads anything (data or EOF) or stays idle for
 * POOL_IDLE_SEC is closed; so are all of them on a configuration change
 * and at shutdown. POOL_MAX bounds what a worker keeps; the oldest goes.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>

#include "tlsworker/tlsworker.h"

#define POOL_MAX	 128	/* idle upstream connections per worker */
#define POOL_IDLE_SEC	 30	/* below common server keep-alive timeouts */

struct pooled {
	TAILQ_ENTRY(pooled)	 pl_entry;
	struct bufferevent	*pl_bev;
	uint32_t		 pl_listener;
};

static TAILQ_HEAD(pool_head, pooled) pool_list =
    TAILQ_HEAD_INITIALIZER(pool_list);
static size_t	 pool_count;

static void
pool_drop(struct pooled *pl)
{
	TAILQ_REMOVE(&pool_list, pl, pl_entry);
	pool_count--;
	bufferevent_free(pl->pl_bev);
	free(pl);
}

/* Bytes or EOF from an idle upstream: it closed or broke the protocol. */
static void
pool_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pool_drop(arg);
}

static void
pool_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	pool_drop(arg);
}

void
pool_put(uint32_t listener, struct bufferevent *bev)
{
	struct pooled	*pl;
	struct timeval	 tv = { POOL_IDLE_SEC, 0 };

	if (tw_env.tw_draining ||
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0 ||
	    (pl = calloc(1, sizeof(*pl))) == NULL) {
		bufferevent_free(bev);
		return;
	}
	if (pool_count >= POOL_MAX)
		pool_drop(TAILQ_FIRST(&pool_list));
	pl->pl_bev = bev;
	pl->pl_listener = listener;
	TAILQ_INSERT_TAIL(&pool_list, pl, pl_entry);
	pool_count++;
	bufferevent_setcb(bev, pool_read, NULL, pool_event, pl);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_enable(bev, EV_READ);
}

struct bufferevent *
pool_take(uint32_t listener)
{
	struct pooled		*pl;
	struct bufferevent	*bev;

	/* The newest first: the least likely to be timing out upstream. */
	pl = TAILQ_LAST(&pool_list, pool_head);
	while (pl != NULL && pl->pl_listener != listener)
		pl = TAILQ_PREV(pl, pool_head, pl_entry);
	if (pl == NULL)
		return NULL;
	bev = pl->pl_bev;
	TAILQ_REMOVE(&pool_list, pl, pl_entry);
	pool_count--;
	free(pl);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	return bev;
}

void
pool_flush(void)
{
	struct pooled	*pl, *next;

	for (pl = TAILQ_FIRST(&pool_list); pl != NULL; pl = next) {
		next = TAILQ_NEXT(pl, pl_entry);
		pool_drop(pl);
	}
}

size_t
pool_idle(void)
{
	return pool_count;
}
