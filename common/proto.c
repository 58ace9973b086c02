/*
 * The validation rules of every IPC message type: who may send it, how long
 * its payload is, and whether an fd comes with it. ipc_validate() applies
 * them before any dispatch function runs, so a dispatch function may trust
 * the sender role, the length and the fd presence of what it gets; it still
 * checks the process state and the values inside.
 */
#include <stddef.h>

#include "common/ipc.h"
#include "common/util.h"

#define M  ROLE_BIT(ROLE_MASTER)
#define A  ROLE_BIT(ROLE_ACCEPTOR)
#define W  ROLE_BIT(ROLE_TLSWORKER)
#define C  ROLE_BIT(ROLE_CERTD)
#define U  ROLE_BIT(ROLE_WEBUI)
#define T  ROLE_BIT(ROLE_CTL)
#define CHILDREN (A | W | C | U)

enum { FD_NO, FD_YES, FD_MAYBE };

struct ipc_rule {
	const char *ir_name;
	uint32_t    ir_senders;	  /* roles that may send it */
	uint32_t    ir_receivers; /* roles that may receive it */
	uint32_t    ir_min;	  /* payload bytes */
	uint32_t    ir_max;
	int	    ir_fd;
};

#define FIXED(t) sizeof(t), sizeof(t)

static const struct ipc_rule ipc_rules[IMSG_MAX] = {
	[IMSG_SETUP] = { "SETUP", M, CHILDREN, FIXED(struct ipc_setup),
	    FD_MAYBE },
	[IMSG_READY] = { "READY", CHILDREN, M, FIXED(struct ipc_ready), FD_NO },
	[IMSG_CONF_GLOBAL] = { "CONF_GLOBAL", M, CHILDREN,
	    FIXED(struct conf_global), FD_NO },
	[IMSG_CONF_RULE] = { "CONF_RULE", M, A | W, FIXED(struct conf_rule),
	    FD_NO },
	[IMSG_CONF_ALLOW] = { "CONF_ALLOW", M, A, FIXED(struct conf_allow),
	    FD_NO },
	[IMSG_CONF_LISTENER] = { "CONF_LISTENER", M, A | U | W,
	    FIXED(struct conf_listener), FD_MAYBE },
	[IMSG_CONF_END] = { "CONF_END", M, CHILDREN, 0, 0, FD_NO },
	[IMSG_LOG] = { "LOG", CHILDREN, M, sizeof(struct ipc_log) + 1,
	    sizeof(struct ipc_log) + IPC_LOG_MAX, FD_NO },
	[IMSG_PEER] = { "PEER", M, A | W | C | U, FIXED(struct ipc_peer),
	    FD_YES },
	[IMSG_CONN_HANDOFF] = { "CONN_HANDOFF", A, W, FIXED(struct conn_meta),
	    FD_YES },
	[IMSG_CONN_ACK] = { "CONN_ACK", W, A, FIXED(struct worker_load),
	    FD_NO },
	[IMSG_CONN_CLOSED] = { "CONN_CLOSED", W, A, FIXED(struct worker_load),
	    FD_NO },
	[IMSG_STATUS_REQ] = { "STATUS_REQ", M, CHILDREN, 0, 0, FD_NO },
	[IMSG_STATUS] = { "STATUS", CHILDREN, M, FIXED(struct ipc_status),
	    FD_NO },
	[IMSG_CA_CERT] = { "CA_CERT", C | M, M | U | W, 1, IPC_PEM_MAX,
	    FD_NO },
	[IMSG_SHUTDOWN] = { "SHUTDOWN", M, CHILDREN, 0, 0, FD_NO },
	[IMSG_CTL_STATUS] = { "CTL_STATUS", T, M, 0, 0, FD_NO },
	[IMSG_CTL_PROC] = { "CTL_PROC", M, T, FIXED(struct ctl_proc), FD_NO },
	[IMSG_CTL_END] = { "CTL_END", M, T, 0, 0, FD_NO },
	[IMSG_CTL_RELOAD] = { "CTL_RELOAD", T, M, 0, 0, FD_NO },
	[IMSG_CTL_STOP] = { "CTL_STOP", T, M, 0, 0, FD_NO },
	[IMSG_CTL_RESULT] = { "CTL_RESULT", M, T, sizeof(struct ctl_result),
	    sizeof(struct ctl_result) + IPC_TEXT_MAX, FD_NO },
	[IMSG_CONF_SINK] = { "CONF_SINK", M, U, FIXED(struct conf_sink),
	    FD_YES },
	[IMSG_LEAF_KEY] = { "LEAF_KEY", C, W | M, sizeof(struct leaf_key) + 1,
	    sizeof(struct leaf_key) + IPC_DER_MAX, FD_NO },
	[IMSG_CERT_REQ] = { "CERT_REQ", W | M, C, FIXED(struct cert_req), FD_NO },
	[IMSG_CERT_REP] = { "CERT_REP", C, W | M, sizeof(struct cert_rep),
	    sizeof(struct cert_rep) + IPC_DER_MAX, FD_NO },
	[IMSG_CA_ROTATE] = { "CA_ROTATE", M, C, 0, 0, FD_NO },
	[IMSG_TLS_FAIL] = { "TLS_FAIL", W, M, FIXED(struct tls_fail), FD_NO },
	[IMSG_PASSTHROUGH] = { "PASSTHROUGH", M, W, FIXED(struct passthrough),
	    FD_NO },
	[IMSG_EVENT] = { "EVENT", W, U, 2, IPC_EVENT_MAX, FD_NO },
	[IMSG_CTL_CA_ROTATE] = { "CTL_CA_ROTATE", T, M, 0, 0, FD_NO },
	[IMSG_CTL_PT_LIST] = { "CTL_PT_LIST", T, M, 0, 0, FD_NO },
	[IMSG_CTL_PT] = { "CTL_PT", M, T, FIXED(struct passthrough), FD_NO },
	[IMSG_CTL_PT_CLEAR] = { "CTL_PT_CLEAR", T, M, 0, 0, FD_NO },
	[IMSG_CTL_HOSTSTAT] = { "CTL_HOSTSTAT", M, T,
	    FIXED(struct ctl_hoststat), FD_NO },
	[IMSG_TICKET_KEYS] = { "TICKET_KEYS", M, W, FIXED(struct ticket_keys),
	    FD_NO },
	[IMSG_WEB_STATUS] = { "WEB_STATUS", M, U, FIXED(struct web_status),
	    FD_NO },
	[IMSG_CONF_ADMIN] = { "CONF_ADMIN", M, U, FIXED(struct conf_admin),
	    FD_NO },
	[IMSG_ADMIN_CERT] = { "ADMIN_CERT", M, U, sizeof(struct admin_cert) +
	    2, sizeof(struct admin_cert) + ADMIN_CERT_MAX, FD_NO },
};

static const char *tls_failure_names[TLSF_MAX] = {
	[TLSF_UNKNOWN_CA] = "unknown_ca",
	[TLSF_CERT_VALIDATION] = "cert_validation",
	[TLSF_HANDSHAKE] = "handshake",
	[TLSF_TIMEOUT] = "timeout",
	[TLSF_EOF_RESET] = "eof_reset",
	[TLSF_OTHER] = "other",
};

const char *
tls_failure_name(uint32_t f)
{
	return f < TLSF_MAX ? tls_failure_names[f] : "other";
}

static const char *role_names[ROLE_MAX] = {
	[ROLE_NONE] = "none",
	[ROLE_MASTER] = "master",
	[ROLE_ACCEPTOR] = "acceptor",
	[ROLE_TLSWORKER] = "tlsworker",
	[ROLE_CERTD] = "certd",
	[ROLE_WEBUI] = "webui",
	[ROLE_CTL] = "mitmctl",
};

const char *
role_name(uint32_t role)
{
	return role < ROLE_MAX ? role_names[role] : "unknown";
}

const char *
imsg_name(uint32_t type)
{
	if (type >= IMSG_MAX || ipc_rules[type].ir_name == NULL)
		return "UNKNOWN";
	return ipc_rules[type].ir_name;
}

int
ipc_validate(enum role sender, enum role receiver, const struct ipc_msg *m,
    const char **why)
{
	const struct ipc_rule *r;
	uint32_t type = m->im_hdr.ih_type, len = m->im_hdr.ih_len;

	if (type == IMSG_NONE || type >= IMSG_MAX ||
	    ipc_rules[type].ir_name == NULL) {
		*why = "unknown message type";
		return -1;
	}
	r = &ipc_rules[type];
	if (sender >= ROLE_MAX || (r->ir_senders & ROLE_BIT(sender)) == 0) {
		*why = "message type not allowed from this sender";
		return -1;
	}
	if (receiver >= ROLE_MAX || (r->ir_receivers & ROLE_BIT(receiver)) == 0) {
		*why = "message type not meant for this process";
		return -1;
	}
	if (len < r->ir_min || len > r->ir_max) {
		*why = r->ir_min == r->ir_max ? "wrong payload length" :
		    "payload length out of bounds";
		return -1;
	}
	if (r->ir_fd == FD_YES && m->im_fd == -1) {
		*why = "expected an fd, none attached";
		return -1;
	}
	if (r->ir_fd == FD_NO && m->im_fd != -1) {
		*why = "unexpected fd attached";
		return -1;
	}
	return 0;
}
