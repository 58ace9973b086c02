/*
 * The event sinks: master opens what the config names ("events file",
 * "events socket") and hands the fds to webui, which writes them; workers
 * never open files.
 */
#include "master/master.h"

void
sink_open_all(void)
{
}

void
sink_send(struct ipc_chan *c)
{
	(void)c;
}
