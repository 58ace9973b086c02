/*
 * The worker's event sink in a unit test: ev_set_sink() on one end of a
 * real IPC channel, with room for a few big events (4 MiB each way)
 * without reading in between; the test reads the other end, `t_peer`, as
 * webui would. `t_base` is the event loop the channel runs on.
 *   t_evsink_open()   quiet logs, the worker's role, the channel; 0 or -1
 *   t_evsink_close()  the channel, peer and base freed
 */
#ifndef MITMD_UNIT_EVSINK_H
#define MITMD_UNIT_EVSINK_H

#include <sys/socket.h>

#include <unistd.h>

#include <event2/event.h>

#include "common/ipc.h"
#include "common/log.h"
#include "tlsworker/events.h"

#define T_SINK_BUF	(4 * 1024 * 1024)

static struct event_base *t_base;
static struct ipc_chan	*t_chan;
static int		 t_peer = -1;

static void
t_nodispatch(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	(void)c;
	(void)m;
	(void)arg;
}

static int
t_evsink_open(void)
{
	int	 sp[2], sz = T_SINK_BUF;

	log_init("unit", 0);
	log_set_sink(log_discard);
	ipc_set_role(ROLE_TLSWORKER);
	if ((t_base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == -1)
		return (-1);
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	t_chan = ipc_chan_new(t_base, sp[0], ROLE_WEBUI, t_nodispatch, NULL,
	    NULL);
	t_peer = sp[1];
	ev_set_sink(t_chan);
	return (0);
}

static void
t_evsink_close(void)
{
	ipc_chan_free(t_chan);
	close(t_peer);
	event_base_free(t_base);
}

#endif
