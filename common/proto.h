/*
 * The IPC protocol between mitmd's processes: roles, message types and their
 * payloads. Each message type has one rule in common/proto.c (who may send it,
 * exact or bounded length, whether it carries an fd), checked on receipt
 * before any dispatch function sees the message, and a typed sender and
 * receiver below. Bump IPC_VERSION on any change here: a child whose version
 * differs from master's is refused at setup.
 *
 * Communication matrix (master creates exactly one socketpair per edge):
 *   master    <-> acceptor, every tlsworker, certd, webui   (fd 3 of the child)
 *   acceptor  <-> every tlsworker                           (IMSG_PEER)
 *   certd     <-> every tlsworker: leaf certificates        (IMSG_PEER)
 *   tlsworker  -> webui: events                             (IMSG_PEER)
 *   master     -> certd: the admin listener's leaf (IMSG_CERT_REQ; certd
 *                 answers IMSG_LEAF_KEY and IMSG_CERT_REP on that channel)
 *   mitmctl   <-> master                                    (control socket)
 */
#ifndef MITMD_PROTO_H
#define MITMD_PROTO_H

#include <stdint.h>

#include "common/addr.h"
#include "common/conf.h"

#define IPC_VERSION	13
#define IPC_CHILD_FD	3	   /* a child's channel to master */
#define IPC_MAX_PAYLOAD 65536	   /* bytes after the header */
#define IPC_LOG_MAX	2048	   /* bytes of one log line */
#define IPC_PEM_MAX	16384	   /* a CA certificate in PEM */
#define IPC_TEXT_MAX	4096	   /* a control-socket answer */
#define IPC_DER_MAX	8192	   /* a leaf certificate or key in DER */
#define IPC_EVENT_MAX	60000	   /* one event, JSON, no newline */

enum role {
	ROLE_NONE = 0,
	ROLE_MASTER,
	ROLE_ACCEPTOR,
	ROLE_TLSWORKER,
	ROLE_CERTD,
	ROLE_WEBUI,
	ROLE_CTL, /* mitmctl on the control socket */
	ROLE_MAX
};
#define ROLE_BIT(r) (1u << (r))

const char *role_name(uint32_t);

enum imsg_type {
	IMSG_NONE = 0,
	IMSG_SETUP,	      /* master -> child: ipc_setup [+ CA dir fd] */
	IMSG_READY,	      /* child -> master: ipc_ready */
	IMSG_CONF_GLOBAL,     /* master -> child: conf_global */
	IMSG_CONF_RULE,	      /* master -> acceptor, tlsworker: conf_rule */
	IMSG_CONF_ALLOW,      /* master -> acceptor: conf_allow */
	IMSG_CONF_LISTENER,   /* master -> acceptor, webui: conf_listener + fd;
			       * -> tlsworker: a reverse one, no fd */
	IMSG_CONF_END,	      /* master -> child: apply the set received */
	IMSG_LOG,	      /* child -> master: ipc_log + text */
	IMSG_PEER,	      /* master -> child: ipc_peer + socketpair end */
	IMSG_CONN_HANDOFF,    /* acceptor -> tlsworker: conn_meta + client fd */
	IMSG_CONN_ACK,	      /* tlsworker -> acceptor: worker_load */
	IMSG_CONN_CLOSED,     /* tlsworker -> acceptor: worker_load */
	IMSG_STATUS_REQ,      /* master -> child: empty */
	IMSG_STATUS,	      /* child -> master: ipc_status */
	IMSG_CA_CERT,	      /* certd -> master -> webui: PEM text */
	IMSG_SHUTDOWN,	      /* master -> child: stop accepting, drain, exit */
	IMSG_CTL_STATUS,      /* mitmctl -> master: empty */
	IMSG_CTL_PROC,	      /* master -> mitmctl: ctl_proc */
	IMSG_CTL_END,	      /* master -> mitmctl: end of a listing */
	IMSG_CTL_RELOAD,      /* mitmctl -> master: empty */
	IMSG_CTL_STOP,	      /* mitmctl -> master: empty */
	IMSG_CTL_RESULT,      /* master -> mitmctl: ctl_result + text */
	/* issue 3: interception */
	IMSG_CONF_SINK,	      /* master -> webui: conf_sink + fd */
	IMSG_LEAF_KEY,	      /* certd -> tlsworker: leaf_key + key DER */
	IMSG_CERT_REQ,	      /* tlsworker -> certd: cert_req (reqid) */
	IMSG_CERT_REP,	      /* certd -> tlsworker: cert_rep + leaf DER */
	IMSG_CA_ROTATE,	      /* master -> certd: new leaf key */
	IMSG_TLS_FAIL,	      /* tlsworker -> master: tls_fail */
	IMSG_PASSTHROUGH,     /* master -> tlsworker: passthrough */
	IMSG_EVENT,	      /* tlsworker -> webui: one event, JSON */
	IMSG_CTL_CA_ROTATE,   /* mitmctl -> master: empty */
	IMSG_CTL_PT_LIST,     /* mitmctl -> master: empty */
	IMSG_CTL_PT,	      /* master -> mitmctl: passthrough */
	IMSG_CTL_PT_CLEAR,    /* mitmctl -> master: empty */
	IMSG_CTL_HOSTSTAT,    /* master -> mitmctl: ctl_hoststat */
	IMSG_TICKET_KEYS,     /* master -> tlsworker: ticket_keys */
	IMSG_WEB_STATUS,      /* master -> webui: web_status */
	/* issue 6: the admin pages */
	IMSG_CONF_ADMIN,      /* master -> webui: conf_admin */
	IMSG_ADMIN_CERT,      /* master -> webui: admin_cert + cert + key */
	IMSG_MAX
};

const char *imsg_name(uint32_t);

/* Sandbox steps a child completed, reported in IMSG_READY. */
#define SANDBOX_CHROOT	0x01
#define SANDBOX_UID	0x02
#define SANDBOX_CAPS	0x04
#define SANDBOX_NNP	0x08
#define SANDBOX_SECCOMP 0x10
#define SANDBOX_ALL	0x1f

/* ipc_setup flags */
#define SETUP_F_PRIVDROP 0x01 /* chroot and change uid (master is root) */
#define SETUP_F_DEBUG	 0x02 /* -d: master also echoes logs to stderr */

struct ipc_setup {
	uint32_t is_version;
	uint32_t is_role;
	uint32_t is_index; /* worker number, 0 for single roles */
	uint32_t is_flags;
	uint32_t is_uid;
	uint32_t is_gid;
	uint32_t is_verbose;
	uint32_t is_pad;
	char	 is_chroot[CONF_PATH_MAX];
};

struct ipc_ready {
	uint32_t ir_version;
	uint32_t ir_sandbox; /* SANDBOX_* achieved */
};

/* IMSG_LOG: followed by il_len bytes of text, no NUL. */
#define LOG_F_AUDIT 0x01
struct ipc_log {
	uint32_t il_prio; /* syslog priority: LOG_ERR .. LOG_DEBUG */
	uint32_t il_flags;
};

struct ipc_peer {
	uint32_t ip_role;
	uint32_t ip_index;
	uint32_t ip_pid;
	uint32_t ip_pad;
};

/* Ingress modes of a handed-off connection. */
enum conn_mode {
	CONN_MODE_EXPLICIT = 1, /* CONNECT or absolute-form HTTP */
};

struct conn_meta {
	uint64_t    cm_id; /* unique per acceptor lifetime */
	uint64_t    cm_accept_usec; /* wall clock */
	uint32_t    cm_listener;
	uint32_t    cm_mode; /* enum conn_mode */
	struct addr cm_client;
	struct addr cm_local;
	struct addr cm_origdst; /* AF_UNSPEC when not transparent */
};

struct worker_load {
	uint64_t wl_conn_id;
	uint32_t wl_open; /* connections open on the worker now */
	uint32_t wl_pad;
};

struct ipc_status {
	uint32_t st_open;
	uint32_t st_state; /* 0 running, 1 draining */
	uint64_t st_total;
	uint64_t st_bytes_in;  /* from clients */
	uint64_t st_bytes_out; /* to clients */
	uint64_t st_cache_hits;	  /* leaf certificates: certd, tlsworker */
	uint64_t st_cache_misses;
};

/* Process states reported to mitmctl. */
enum proc_state {
	PROC_STARTING = 1,
	PROC_RUNNING,
	PROC_BACKOFF, /* dead, waiting to be respawned */
	PROC_DRAINING,
};

struct ctl_proc {
	uint32_t cp_role;
	uint32_t cp_index;
	uint32_t cp_pid;
	uint32_t cp_uid;
	uint32_t cp_sandbox;
	uint32_t cp_restarts;
	uint32_t cp_state;
	uint32_t cp_open;
	uint64_t cp_start_usec; /* wall clock */
	uint64_t cp_total;
	uint64_t cp_cache_hits;	/* leaf certificate cache, where it has one */
	uint64_t cp_cache_misses;
};

/* IMSG_CTL_RESULT: followed by a message text. */
struct ctl_result {
	int32_t ctr_ok; /* 1 done, 0 refused */
	int32_t ctr_pad;
};

/* issue 3: leaf certificates. The worker extracts what certd needs from
 * the upstream certificate; certd never parses bytes from the network. */
#define CERT_MAX_NAMES	32
#define CERT_NAME_MAX	255

enum cert_name_type {
	CERT_NAME_DNS = 1, /* may be a wildcard, kept as the upstream has it */
	CERT_NAME_IP,	   /* text form, "192.0.2.1" or "2001:db8::1" */
};

struct cert_name {
	uint32_t cn_type;
	char	 cn_name[CERT_NAME_MAX + 1];
};

struct cert_req {
	uint64_t	 cq_not_before;	/* upstream's, seconds since epoch */
	uint64_t	 cq_not_after;
	uint8_t		 cq_key[32];	/* SHA-256 of upstream DER + SNI */
	uint32_t	 cq_nnames;	/* SANs first, then the SNI/host */
	uint32_t	 cq_pad;
	char		 cq_cn[CERT_NAME_MAX + 1]; /* subject CN to give */
	struct cert_name cq_names[CERT_MAX_NAMES];
};

/* IMSG_CERT_REP: followed by the leaf certificate in DER when ok. */
struct cert_rep {
	int32_t	 crp_ok;	/* 1 issued, 0 refused */
	uint32_t crp_keygen;	/* the leaf key generation it was signed for */
};

/* IMSG_LEAF_KEY: followed by the private key in DER (PKCS#8). The leaf
 * key, never the CA key. */
struct leaf_key {
	uint32_t lk_gen;
	uint32_t lk_pad;
};

/* TLS failure taxonomy, DESIGN.md's tls_failure_reason. */
enum tls_failure {
	TLSF_UNKNOWN_CA = 0,
	TLSF_CERT_VALIDATION,
	TLSF_HANDSHAKE,
	TLSF_TIMEOUT,
	TLSF_EOF_RESET,
	TLSF_OTHER,
	TLSF_MAX
};
const char *tls_failure_name(uint32_t);

enum tls_side {
	TLS_SIDE_CLIENT = 1,
	TLS_SIDE_UPSTREAM,
};

struct tls_fail {
	struct addr tf_client;
	uint32_t    tf_side;	/* enum tls_side */
	uint32_t    tf_reason;	/* enum tls_failure */
	uint32_t    tf_alert;	/* 1: the client sent an alert saying it does
				 * not trust our certificate (teaches) */
	uint32_t    tf_pad;
	char	    tf_host[CERT_NAME_MAX + 1];
};

enum pt_op {
	PT_ADD = 1,
	PT_CLEAR_ALL,
};

/* A learned passthrough; tf_client AF_UNSPEC means every client. */
struct passthrough {
	struct addr pt_client;
	uint64_t    pt_expires;	/* wall clock usec */
	uint32_t    pt_op;	/* enum pt_op */
	uint32_t    pt_failures;
	char	    pt_host[CERT_NAME_MAX + 1];
};

/* The keys that seal the TLS session tickets every worker gives its
 * clients (RFC 5077 layout: a name, an AES-256 key, an HMAC key). */
struct ticket_keys {
	uint8_t	 tk_name[16];
	uint8_t	 tk_aes[32];
	uint8_t	 tk_hmac[32];
};

/* Rolling TLS failure counters of one host, for mitmctl status. */
struct ctl_hoststat {
	char	 hs_host[CERT_NAME_MAX + 1];
	uint32_t hs_count[TLSF_MAX];
};

/* IMSG_WEB_STATUS: what the status page and /metrics show, sent by
 * master every few seconds. Totals count since master started. */
#define WEB_STATUS_PROCS	(CONF_MAX_WORKERS + 5)	/* master included */

struct web_listener {
	uint32_t    wsl_id;
	uint32_t    wsl_kind;	/* enum conf_listener_kind */
	struct addr wsl_addr;
};

struct web_status {
	uint64_t	    ws_now_usec;	/* master's wall clock */
	uint64_t	    ws_start_usec;	/* master's start */
	uint64_t	    ws_tls_fail[TLSF_MAX];	/* by reason */
	uint32_t	    ws_passthrough;	/* learned, in force now */
	uint32_t	    ws_nprocs;
	uint32_t	    ws_nlisteners;
	uint32_t	    ws_pad;
	struct ctl_proc	    ws_procs[WEB_STATUS_PROCS];
	struct web_listener ws_listeners[CONF_MAX_LISTENERS];
};

/* IMSG_ADMIN_CERT: the admin listener's certificate and its key, one
 * after the other: PEM from "admin certificate" (the chain may follow
 * the certificate), or DER from certd (a leaf of the mitmd CA, whose
 * certificate webui has from IMSG_CA_CERT). Never the CA key. */
enum admin_cert_format {
	ADMIN_CERT_PEM = 1,
	ADMIN_CERT_DER,
};

struct admin_cert {
	uint32_t ac_format;	/* enum admin_cert_format */
	uint32_t ac_certlen;
	uint32_t ac_keylen;
	uint32_t ac_pad;
};
#define ADMIN_CERT_MAX	((size_t)2 * CONF_ADMIN_PEM_MAX)	/* both, in bytes */

#endif
