/*
 * The server-sent events observer (sseobs.h): a text/event-stream parser
 * over a relayed body, each dispatched event reported as it completes.
 * Owned by the exchange that relays the body; runs on the worker's loop.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "tlsworker/events.h"
#include "tlsworker/sse.h"
#include "tlsworker/sseobs.h"

#define SSEOBS_TYPE	"text/event-stream"
#define SSEOBS_IDENTITY	"identity"

struct sseobs {
	struct ev_flow		*so_flow;
	uint32_t		 so_stream;
	int			 so_logged;	/* an error was logged */
	struct sse_parser	 so_p;
};

/* s without the whitespace at both ends. */
static void
sseobs_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int
sseobs_is_event_stream(const char *v, size_t len)
{
	const char	*semi;

	if (v == NULL)
		return 0;
	/* RFC 9110 8.3.1: type/subtype, case-insensitive, then params. */
	if ((semi = memchr(v, ';', len)) != NULL)
		len = (size_t)(semi - v);
	sseobs_trim(&v, &len);
	return len == strlen(SSEOBS_TYPE) &&
	    strncasecmp(v, SSEOBS_TYPE, len) == 0;
}

int
sseobs_coding_ok(const char *v, size_t len)
{
	if (v == NULL)
		return 1;
	sseobs_trim(&v, &len);
	return len == 0 || (len == strlen(SSEOBS_IDENTITY) &&
	    strncasecmp(v, SSEOBS_IDENTITY, len) == 0);
}

struct sseobs *
sseobs_new(struct ev_flow *flow, uint32_t stream)
{
	struct sseobs	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->so_flow = flow;
	o->so_stream = stream;
	sse_init(&o->so_p, 0, 0);
	return o;
}

static void
sseobs_event(void *arg, const struct sse_event *e)
{
	struct sseobs	*o = arg;

	switch (e->ev_kind) {
	case SSE_EV_MESSAGE:
		ev_sse_event(o->so_flow, o->so_stream, e->ev_type,
		    e->ev_type_len, e->ev_id, e->ev_id_len, e->ev_retry,
		    e->ev_data, e->ev_data_len);
		break;
	case SSE_EV_ERROR:
		/* Once per stream: a broken stream may break every event. */
		if (!o->so_logged)
			log_info("conn=%llu: event stream: %s; event skipped",
			    (unsigned long long)o->so_flow->ef_id, e->ev_error);
		o->so_logged = 1;
		break;
	default:
		break;	/* comments make no event */
	}
}

void
sseobs_feed(struct sseobs *o, const void *p, size_t n)
{
	if (o != NULL && n > 0)
		sse_feed(&o->so_p, p, n, sseobs_event, o);
}

void
sseobs_free(struct sseobs *o)
{
	if (o == NULL)
		return;
	sse_free(&o->so_p);
	free(o);
}
