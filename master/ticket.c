/*
 * The session ticket keys of the tlsworkers (IMSG_TICKET_KEYS). master
 * makes them from getrandom(2), so that a client's ticket opens on any
 * worker and survives a worker's respawn, and rotates them every
 * MASTER_TICKET_ROTATE_SEC; each worker keeps the previous key for the
 * tickets issued under it. A restart of mitmd makes new keys: tickets are
 * never written to disk.
 */
#include <sys/random.h>

#include <errno.h>
#include <event2/event.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

static struct ticket_keys ticket_cur;
static struct event	*ticket_ev;

static void
ticket_make(struct ticket_keys *k)
{
	uint8_t	*p = (uint8_t *)k;
	size_t	 off = 0;
	ssize_t	 n;

	while (off < sizeof(*k)) {
		n = getrandom(p + off, sizeof(*k) - off, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal("getrandom");
		off += (size_t)n;
	}
}

static void
ticket_rotate(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { MASTER_TICKET_ROTATE_SEC, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	ticket_make(&ticket_cur);
	proc_broadcast(ROLE_TLSWORKER, IMSG_TICKET_KEYS, &ticket_cur,
	    sizeof(ticket_cur));
	log_debug("session ticket keys rotated");
	evtimer_add(ticket_ev, &tv);
}

void
ticket_init(void)
{
	struct timeval tv = { MASTER_TICKET_ROTATE_SEC, 0 };

	ticket_make(&ticket_cur);
	if ((ticket_ev = evtimer_new(master->m_base, ticket_rotate,
	    NULL)) == NULL || evtimer_add(ticket_ev, &tv) == -1)
		fatalx("ticket key timer");
}

const struct ticket_keys *
ticket_keys(void)
{
	return &ticket_cur;
}
