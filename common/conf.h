/*
 * The configuration as it travels from master to the children. Only master
 * parses mitmd.conf (master/parse.c); each child receives the pieces it needs
 * as fixed-size IPC payloads (IMSG_CONF_*) and applies a whole set at once
 * when IMSG_CONF_END arrives, so a reload is atomic per process.
 * Every size limit here is a named constant.
 */
#ifndef MITMD_CONF_H
#define MITMD_CONF_H

#include <stdint.h>

#include "common/addr.h"
#include "common/hostpat.h"

#define CONF_MAX_RULES	   1024
#define CONF_MAX_ALLOW	   256
#define CONF_MAX_LISTENERS 16
#define CONF_MAX_WORKERS   64
#define CONF_PATH_MAX	   256
#define CONF_NAME_MAX	   32 /* user names */

/* Defaults, documented in mitmd.conf(5). */
#define CONF_DEF_STATE_DIR	"/var/lib/mitmd"
#define CONF_DEF_RUNTIME_DIR	"/run/mitmd"
#define CONF_DEF_USER		"_mitmd"
#define CONF_DEF_CA_USER	"_mitmd-ca"
#define CONF_DEF_SYSLOG		"/dev/log"
#define CONF_DEF_CONNECT_TMO	10  /* seconds to connect upstream */
#define CONF_DEF_IDLE_TMO	300 /* seconds a relay may be silent */
#define CONF_DEF_HEADER_TMO	30  /* seconds to receive a request head */
#define CONF_DEF_DRAIN_TMO	30  /* seconds SIGTERM waits for flows */
#define CONF_DEF_MAX_HEAD	65536 /* bytes of a request head */
#define CONF_DEF_MAX_HEADERS	100   /* header lines of a request head */
#define CONF_DEF_MAX_CONNS	10000 /* per worker */
#define CONF_DEF_CA_FILE	"/etc/ssl/certs/ca-certificates.crt"
#define CONF_DEF_TLS_MIN	0x0303 /* TLS 1.2 */
#define CONF_DEF_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
#define CONF_DEF_PT_AFTER	3     /* pinned-client failures that teach */
#define CONF_DEF_PT_TTL		3600  /* seconds a learned passthrough lasts */
#define CONF_DEF_CAPTURE_MAX	0     /* KiB of each body to the store */
#define CONF_DEF_KEEP_FLOWS	100000
#define CONF_DEF_KEEP_DAYS	7
#define CONF_CIPHERS_MAX	512
#define CONF_DEF_H2_STREAMS	100   /* concurrent streams per connection */
#define CONF_H2_STREAMS_MAX	1000
#define CONF_DEF_H2_HEADER_LIST	65536 /* bytes of a header list (RFC 9113) */
#define CONF_H2_HEADER_LIST_MIN	1024
#define CONF_H2_HEADER_LIST_MAX	1048576
#define CONF_CAPTURE_MAX_KIB	32    /* a captured body fits one message */
/* fds one worker connection may hold (client, upstream, two pipes), and
 * what a worker keeps beyond them */
#define CONF_FDS_PER_CONN	6
#define CONF_FDS_RESERVE	64
/* The admin listener (webui/admin.c): clients it serves, the token */
#define CONF_ADMIN_ALLOW_MAX	16
#define CONF_ADMIN_TOKEN_LEN	64	/* hex digits of the one master makes */
/* "admin token file": printable ASCII without spaces, this many */
#define CONF_ADMIN_TOKEN_MIN	32
#define CONF_ADMIN_TOKEN_MAX	256
#define CONF_ADMIN_PEM_MAX	16384	/* "admin certificate" or "key" */

enum conf_action {
	ACTION_BLOCK = 1,
	ACTION_TUNNEL,
	ACTION_INTERCEPT,
};

enum conf_ca_key {
	CA_KEY_ECDSA_P256 = 1,
	CA_KEY_RSA_3072,
};

enum conf_sink_kind {
	SINK_FILE = 1,	/* "events file": an fd opened O_APPEND by master */
	SINK_SOCKET,	/* "events socket": a listening Unix stream socket */
};

/* IMSG_CONF_SINK: carries the file or listening socket as its fd. */
struct conf_sink {
	uint32_t cs_kind;
	uint32_t cs_pad;
};

enum conf_listener_kind {
	LISTENER_PROXY = 1, /* explicit proxy: CONNECT and absolute-form */
	LISTENER_WEBUI,	    /* the public page */
	LISTENER_REVERSE,   /* TLS from clients, relayed to one upstream */
	LISTENER_ADMIN,	    /* the admin pages, HTTPS, with the token */
};

/* IMSG_CONF_ADMIN: who may use the admin listener and the token it
 * asks for, CONF_ADMIN_TOKEN_MIN to _MAX characters (the state
 * directory's or "admin token file"'s). cad_nallow 0: loopback alone
 * (127.0.0.0/8, ::1). */
struct conf_admin {
	uint32_t    cad_nallow;
	uint32_t    cad_pad;
	struct cidr cad_allow[CONF_ADMIN_ALLOW_MAX];
	char	    cad_token[CONF_ADMIN_TOKEN_MAX + 8];	/* NUL-ended */
};

/* IMSG_CONF_GLOBAL: settings every child may need. */
struct conf_global {
	uint32_t cg_workers;	 /* resolved count, never "auto" here */
	uint32_t cg_connect_tmo; /* seconds */
	uint32_t cg_idle_tmo;
	uint32_t cg_header_tmo;
	uint32_t cg_drain_tmo;
	uint32_t cg_max_head;	 /* bytes */
	uint32_t cg_max_headers;
	uint32_t cg_max_conns;	 /* per worker */
	uint32_t cg_ca_key;	 /* enum conf_ca_key */
	uint32_t cg_verbose;	 /* log level: 0 info, 1+ debug */
	/* TLS interception (tlsworker) */
	uint32_t cg_tls_min;	 /* protocol version: 0x0303, 0x0304 */
	uint32_t cg_verify;	 /* verify upstream certificates */
	uint32_t cg_pt_after;	 /* "tls-passthrough learn after N" */
	uint32_t cg_pt_ttl;	 /* seconds */
	uint32_t cg_pt_all;	 /* learned for every client, not one */
	uint32_t cg_capture_max; /* KiB of each body captured, 0 none */
	/* the flow store (webui) */
	uint32_t cg_keep_flows;
	uint32_t cg_keep_days;
	char	 cg_ciphers[CONF_CIPHERS_MAX];	/* TLS 1.2 cipher list */
	char	 cg_ca_file[CONF_PATH_MAX];	/* upstream trust, read by
						 * each worker before chroot */
	uint32_t cg_events;	/* 1: some consumer of events exists */
	/* HTTP/2 (tlsworker/h2.c) */
	uint32_t cg_http2;		/* offered and accepted */
	uint32_t cg_h2_streams;		/* SETTINGS_MAX_CONCURRENT_STREAMS */
	uint32_t cg_h2_header_list;	/* SETTINGS_MAX_HEADER_LIST_SIZE */
};

/* IMSG_CONF_RULE: one policy rule; the first match wins, in order. */
struct conf_rule {
	uint32_t       cr_action; /* enum conf_action */
	uint32_t       cr_line;	  /* config line, for audit lines */
	uint32_t       cr_index;  /* 1-based position among the rules */
	struct hostpat cr_pat;
};

/* IMSG_CONF_ALLOW: one client ACL block. */
struct conf_allow {
	struct cidr ca_cidr;
	uint32_t    ca_line;
};

/* IMSG_CONF_LISTENER: carries the listening socket as its fd; to the
 * workers, a reverse listener without one (what it relays to). */
struct conf_listener {
	uint32_t    cl_id;   /* index in the config, stable across reloads */
	uint32_t    cl_kind; /* enum conf_listener_kind */
	struct addr cl_addr;
	uint32_t    cl_line; /* config line, for audit lines */
	uint32_t    cl_rport; /* reverse: the upstream's port */
	char	    cl_rhost[HOSTPAT_MAXLEN + 1]; /* reverse: its name or
						   * IP literal, no brackets */
	uint32_t    cl_rh2;  /* reverse: HTTP/2 to the upstream, whatever
			      * the client speaks ("http2") */
};

const char *conf_action_str(uint32_t);

#endif
