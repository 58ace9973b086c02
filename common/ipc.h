/*
 * IPC framing in the spirit of OpenBSD's imsg, over SOCK_SEQPACKET
 * socketpairs: one datagram is one message, a fixed header then the payload,
 * at most one fd attached with SCM_RIGHTS. The receiver validates every
 * message against common/proto.c's rules (sender role, exact or bounded
 * length, fd presence) before the owner's dispatch function sees it; a
 * message that fails is reported through the error callback, and the owner
 * kills the peer (master) or exits (a child).
 *
 * Ownership of fds: ipc_send() takes the fd and closes it once sent (or on
 * failure). A received fd belongs to the dispatch function; if it does not
 * keep it, it sets im_fd to -1 after closing or the channel closes it.
 */
#ifndef MITMD_IPC_H
#define MITMD_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/proto.h"

struct event_base;

struct ipc_hdr {
	uint32_t ih_type;
	uint32_t ih_len; /* payload bytes after the header */
	uint32_t ih_reqid;
	uint32_t ih_pid; /* sender's pid, as it believes */
};

struct ipc_msg {
	struct ipc_hdr im_hdr;
	int	       im_fd;	/* -1 when none */
	const uint8_t *im_data; /* ih_len bytes, valid during dispatch */
};

enum ipc_err {
	IPC_ERR_EOF = 1,   /* the peer closed its end */
	IPC_ERR_IO,	   /* a socket error */
	IPC_ERR_MALFORMED, /* a message failed validation */
	IPC_ERR_OVERFLOW,  /* the peer does not read; queue limit reached */
};

struct ipc_chan;
typedef void ipc_dispatch_fn(struct ipc_chan *, struct ipc_msg *, void *);
typedef void ipc_error_fn(struct ipc_chan *, int err, const char *why, void *);

/* This process's role, stamped on what it sends and used to check rules. */
void	ipc_set_role(enum role);
enum role ipc_role(void);

struct ipc_chan *ipc_chan_new(struct event_base *, int fd, enum role peer,
	    ipc_dispatch_fn *, ipc_error_fn *, void *arg);
/* Closes the fd and drops anything queued. */
void	ipc_chan_free(struct ipc_chan *);
enum role ipc_chan_peer(const struct ipc_chan *);
void	ipc_chan_set_arg(struct ipc_chan *, void *);
/* The event base the channel runs on: for work deferred to the end of
 * the loop's pass (the worker's batch of events). */
struct event_base *ipc_chan_base(const struct ipc_chan *);
size_t	ipc_chan_queued(const struct ipc_chan *);
/* Try to write what is queued now, blocking; for the last words before
 * exit. */
void	ipc_chan_flush(struct ipc_chan *);

/* Queue a message; sends at once when the socket takes it. 0 or -1. */
int	ipc_send(struct ipc_chan *, uint32_t type, uint32_t reqid, int fd,
	    const void *, size_t);

/* Blocking versions on a bare fd, for setup and for mitmctl. */
int	ipc_send_sync(int sock, uint32_t type, uint32_t reqid, int fd,
	    const void *, size_t);
/* 1 a message, 0 EOF, -1 error or malformed (*why set). buf must hold
 * sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD. The sender's role is checked. */
int	ipc_recv_sync(int sock, enum role peer, struct ipc_msg *, uint8_t *buf,
	    size_t bufsz, const char **why);

/* Pure checks, also driven by the fuzz target. */
int	ipc_decode(const uint8_t *, size_t, int has_fd, struct ipc_msg *,
	    const char **why);
int	ipc_validate(enum role sender, enum role receiver,
	    const struct ipc_msg *, const char **why);

/*
 * Typed senders and receivers. For a fixed-size payload of type T:
 *   ipc_send_NAME(chan, reqid, fd, const T *)
 *   ipc_get_NAME(msg, T *out)    -1 unless msg is TYPE with exactly sizeof(T)
 * The copy avoids unaligned access into the receive buffer.
 */
#define IPC_FIXED(name, TYPE, T)                                              \
	static inline int ipc_send_##name(struct ipc_chan *c, uint32_t reqid, \
	    int fd, const T *p)                                               \
	{                                                                     \
		return ipc_send(c, TYPE, reqid, fd, p, sizeof(*p));           \
	}                                                                     \
	static inline int ipc_get_##name(const struct ipc_msg *m, T *out)     \
	{                                                                     \
		if (m->im_hdr.ih_type != TYPE || m->im_hdr.ih_len != sizeof(*out)) \
			return -1;                                            \
		memcpy(out, m->im_data, sizeof(*out));                        \
		return 0;                                                     \
	}
#define IPC_EMPTY(name, TYPE)                                                 \
	static inline int ipc_send_##name(struct ipc_chan *c, uint32_t reqid) \
	{                                                                     \
		return ipc_send(c, TYPE, reqid, -1, NULL, 0);                 \
	}

IPC_FIXED(setup, IMSG_SETUP, struct ipc_setup)
IPC_FIXED(ready, IMSG_READY, struct ipc_ready)
IPC_FIXED(conf_global, IMSG_CONF_GLOBAL, struct conf_global)
IPC_FIXED(conf_rule, IMSG_CONF_RULE, struct conf_rule)
IPC_FIXED(conf_allow, IMSG_CONF_ALLOW, struct conf_allow)
IPC_FIXED(conf_listener, IMSG_CONF_LISTENER, struct conf_listener)
IPC_EMPTY(conf_end, IMSG_CONF_END)
IPC_FIXED(peer, IMSG_PEER, struct ipc_peer)
IPC_FIXED(conn_handoff, IMSG_CONN_HANDOFF, struct conn_meta)
IPC_FIXED(conn_ack, IMSG_CONN_ACK, struct worker_load)
IPC_FIXED(conn_closed, IMSG_CONN_CLOSED, struct worker_load)
IPC_EMPTY(status_req, IMSG_STATUS_REQ)
IPC_FIXED(status, IMSG_STATUS, struct ipc_status)
IPC_EMPTY(shutdown, IMSG_SHUTDOWN)
IPC_EMPTY(ctl_status, IMSG_CTL_STATUS)
IPC_FIXED(ctl_proc, IMSG_CTL_PROC, struct ctl_proc)
IPC_EMPTY(ctl_end, IMSG_CTL_END)
IPC_EMPTY(ctl_reload, IMSG_CTL_RELOAD)
IPC_EMPTY(ctl_stop, IMSG_CTL_STOP)
IPC_FIXED(conf_sink, IMSG_CONF_SINK, struct conf_sink)
IPC_FIXED(cert_req, IMSG_CERT_REQ, struct cert_req)
IPC_EMPTY(ca_rotate, IMSG_CA_ROTATE)
IPC_FIXED(tls_fail, IMSG_TLS_FAIL, struct tls_fail)
IPC_FIXED(passthrough, IMSG_PASSTHROUGH, struct passthrough)
IPC_FIXED(ticket_keys, IMSG_TICKET_KEYS, struct ticket_keys)
IPC_EMPTY(ctl_ca_rotate, IMSG_CTL_CA_ROTATE)
IPC_EMPTY(ctl_pt_list, IMSG_CTL_PT_LIST)
IPC_FIXED(ctl_pt, IMSG_CTL_PT, struct passthrough)
IPC_EMPTY(ctl_pt_clear, IMSG_CTL_PT_CLEAR)
IPC_FIXED(ctl_hoststat, IMSG_CTL_HOSTSTAT, struct ctl_hoststat)
IPC_FIXED(web_status, IMSG_WEB_STATUS, struct web_status)
IPC_FIXED(conf_admin, IMSG_CONF_ADMIN, struct conf_admin)

/* Variable-length messages: a fixed part then text, no NUL on the wire. */
int	ipc_send_log(struct ipc_chan *, int prio, uint32_t flags, const char *);
/* Copies the text NUL-terminated into buf (size >= IPC_LOG_MAX + 1). */
int	ipc_get_log(const struct ipc_msg *, struct ipc_log *, char *, size_t);
int	ipc_send_ca_cert(struct ipc_chan *, const char *pem, size_t);
/* Points at the PEM inside the message; its length in *len. */
int	ipc_get_ca_cert(const struct ipc_msg *, const char **, size_t *);
int	ipc_send_ctl_result(struct ipc_chan *, uint32_t reqid, int ok,
	    const char *text);
int	ipc_get_ctl_result(const struct ipc_msg *, int *ok, char *, size_t);
/* A fixed header then a binary blob (DER): LEAF_KEY, CERT_REP. */
int	ipc_send_blob(struct ipc_chan *, uint32_t type, uint32_t reqid,
	    const void *hdr, size_t hdrlen, const void *blob, size_t bloblen);
/* Copies the fixed header out and points at the blob. */
int	ipc_get_blob(const struct ipc_msg *, uint32_t type, void *hdr,
	    size_t hdrlen, const uint8_t **blob, size_t *bloblen);
/* IMSG_EVENT: one JSON object, or several separated by one newline each
 * (no newline before the first or after the last), IPC_EVENT_MAX bytes
 * in all. */
int	ipc_send_event(struct ipc_chan *, const char *json, size_t len);

#endif
