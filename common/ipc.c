/*
 * IPC channels over SOCK_SEQPACKET socketpairs (see ipc.h). One datagram is
 * one message, so there is no stream reassembly: a message is either whole
 * and valid or it is rejected. Outgoing messages queue while the peer's
 * socket is full; the queue is bounded so a stuck peer cannot exhaust our
 * memory.
 *
 * Re-entrancy: a dispatch or error callback may free the channel (master
 * kills a child that misbehaved). ipc_chan_free() then only marks it and
 * the read loop frees it once the callback returns.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

/* Bytes queued to one peer. */
#define IPC_MAX_QUEUE	 ((size_t)8 * 1024 * 1024)
#define IPC_READ_BATCH	 64		    /* messages per read event */
#define IPC_MAX_RECV_FDS 4 /* room to notice (and close) extra fds */
#define IPC_BUFSZ	 (sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)

struct ipc_out {
	TAILQ_ENTRY(ipc_out) io_entry;
	int	 io_fd;
	size_t	 io_len;
	uint8_t	 io_buf[];
};

struct ipc_chan {
	int		 ic_fd;
	enum role	 ic_peer;
	struct event	*ic_rev;
	struct event	*ic_wev;
	ipc_dispatch_fn	*ic_dispatch;
	ipc_error_fn	*ic_error;
	void		*ic_arg;
	size_t		 ic_queued;
	int		 ic_busy;  /* inside a callback */
	int		 ic_freed; /* free once the callback returns */
	TAILQ_HEAD(ipc_outq, ipc_out) ic_out;
};

static enum role ipc_self = ROLE_NONE;
/*
 * Our pid, for the header of every message, looked up at the first one:
 * getpid() was a syscall per message. A process forks only to exec
 * (master/proc.c: the child execs without sending; daemonize() forks
 * before any channel exists), so the pid cached is always the sender's.
 */
static pid_t ipc_pid;
/* One receive buffer per process: dispatch runs before the next recv. */
static uint8_t ipc_rbuf[IPC_BUFSZ + 1] __attribute__((aligned(16)));

static void ipc_read_cb(evutil_socket_t, short, void *);
static void ipc_write_cb(evutil_socket_t, short, void *);

void
ipc_set_role(enum role r)
{
	ipc_self = r;
}

enum role
ipc_role(void)
{
	return ipc_self;
}

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, enum role peer,
    ipc_dispatch_fn *dispatch, ipc_error_fn *error, void *arg)
{
	struct ipc_chan *c;

	if (util_nonblock(fd) == -1 || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ic_fd = fd;
	c->ic_peer = peer;
	c->ic_dispatch = dispatch;
	c->ic_error = error;
	c->ic_arg = arg;
	TAILQ_INIT(&c->ic_out);
	c->ic_rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read_cb, c);
	c->ic_wev = event_new(base, fd, EV_WRITE, ipc_write_cb, c);
	if (c->ic_rev == NULL || c->ic_wev == NULL ||
	    event_add(c->ic_rev, NULL) == -1) {
		if (c->ic_rev)
			event_free(c->ic_rev);
		if (c->ic_wev)
			event_free(c->ic_wev);
		free(c);
		return NULL;
	}
	return c;
}

static void
ipc_chan_destroy(struct ipc_chan *c)
{
	struct ipc_out *o;

	while ((o = TAILQ_FIRST(&c->ic_out)) != NULL) {
		TAILQ_REMOVE(&c->ic_out, o, io_entry);
		if (o->io_fd != -1)
			close(o->io_fd);
		free(o);
	}
	event_free(c->ic_rev);
	event_free(c->ic_wev);
	close(c->ic_fd);
	free(c);
}

void
ipc_chan_free(struct ipc_chan *c)
{
	if (c == NULL)
		return;
	if (c->ic_busy) {
		/* Stop further callbacks; the read loop frees it. */
		event_del(c->ic_rev);
		event_del(c->ic_wev);
		c->ic_freed = 1;
		return;
	}
	ipc_chan_destroy(c);
}

enum role
ipc_chan_peer(const struct ipc_chan *c)
{
	return c->ic_peer;
}

struct event_base *
ipc_chan_base(const struct ipc_chan *c)
{
	return event_get_base(c->ic_rev);
}

void
ipc_chan_set_arg(struct ipc_chan *c, void *arg)
{
	c->ic_arg = arg;
}

size_t
ipc_chan_queued(const struct ipc_chan *c)
{
	return c->ic_queued;
}

/* One sendmsg of a whole message; -1 with errno as sendmsg leaves it. */
static int
ipc_sendmsg(int sock, const void *buf, size_t len, int fd)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	return 0;
}

/* Build header + payload into one buffer. */
static struct ipc_out *
ipc_out_new(uint32_t type, uint32_t reqid, int fd, const void *data,
    size_t len)
{
	struct ipc_out *o;
	struct ipc_hdr	h;

	if (len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return NULL;
	}
	if ((o = malloc(sizeof(*o) + sizeof(h) + len)) == NULL)
		return NULL;
	h.ih_type = type;
	h.ih_len = (uint32_t)len;
	h.ih_reqid = reqid;
	if (ipc_pid == 0)
		ipc_pid = getpid();
	h.ih_pid = (uint32_t)ipc_pid;
	memcpy(o->io_buf, &h, sizeof(h));
	if (len)
		memcpy(o->io_buf + sizeof(h), data, len);
	o->io_len = sizeof(h) + len;
	o->io_fd = fd;
	return o;
}

/* Write queued messages until the socket is full. */
static int
ipc_flush_queue(struct ipc_chan *c)
{
	struct ipc_out *o, *next;

	for (o = TAILQ_FIRST(&c->ic_out); o != NULL; o = next) {
		next = TAILQ_NEXT(o, io_entry);
		if (ipc_sendmsg(c->ic_fd, o->io_buf, o->io_len, o->io_fd) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				break;
			return -1;
		}
		TAILQ_REMOVE(&c->ic_out, o, io_entry);
		c->ic_queued -= o->io_len;
		/* The peer has its own copy of the fd now. */
		if (o->io_fd != -1)
			close(o->io_fd);
		free(o);
	}
	if (!TAILQ_EMPTY(&c->ic_out))
		event_add(c->ic_wev, NULL);
	return 0;
}

int
ipc_send(struct ipc_chan *c, uint32_t type, uint32_t reqid, int fd,
    const void *data, size_t len)
{
	struct ipc_out *o;

	if (c == NULL || c->ic_freed || c->ic_queued > IPC_MAX_QUEUE) {
		errno = c == NULL || c->ic_freed ? EPIPE : ENOBUFS;
		goto fail;
	}
	if ((o = ipc_out_new(type, reqid, fd, data, len)) == NULL)
		goto fail;
	TAILQ_INSERT_TAIL(&c->ic_out, o, io_entry);
	c->ic_queued += o->io_len;
	if (TAILQ_FIRST(&c->ic_out) == o && ipc_flush_queue(c) == -1)
		return -1; /* the fd is owned by the queue entry */
	return 0;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

void
ipc_chan_flush(struct ipc_chan *c)
{
	struct pollfd pfd;

	while (c != NULL && !TAILQ_EMPTY(&c->ic_out)) {
		if (ipc_flush_queue(c) == -1)
			return;
		if (TAILQ_EMPTY(&c->ic_out))
			return;
		pfd.fd = c->ic_fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 1000) <= 0)
			return;
	}
}

static void
ipc_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan *c = arg;

	(void)fd;
	(void)ev;
	if (ipc_flush_queue(c) == -1 && c->ic_error != NULL) {
		c->ic_busy++;
		c->ic_error(c, IPC_ERR_IO, strerror(errno), c->ic_arg);
		c->ic_busy--;
		if (c->ic_freed && c->ic_busy == 0)
			ipc_chan_destroy(c);
	}
}

int
ipc_decode(const uint8_t *buf, size_t n, int has_fd, struct ipc_msg *m,
    const char **why)
{
	if (n < sizeof(struct ipc_hdr)) {
		*why = "message shorter than its header";
		return -1;
	}
	memcpy(&m->im_hdr, buf, sizeof(m->im_hdr));
	if (n - sizeof(struct ipc_hdr) > IPC_MAX_PAYLOAD) {
		*why = "message too long";
		return -1;
	}
	if (m->im_hdr.ih_len != n - sizeof(struct ipc_hdr)) {
		*why = "header length does not match the message";
		return -1;
	}
	m->im_data = buf + sizeof(struct ipc_hdr);
	m->im_fd = has_fd ? 0 : -1; /* the caller stores the real fd */
	return 0;
}

/*
 * One recvmsg. Returns the byte count, 0 at EOF, -1 on error (errno), -2
 * for a malformed datagram (*why set; any fds received are closed), or -3
 * for a message whose fd the kernel could not give us (*why set).
 */
static ssize_t
ipc_recvmsg(int sock, uint8_t *buf, size_t bufsz, int *fdp, const char **why)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_RECV_FDS)];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	int		 nfds = 0, fds[IPC_MAX_RECV_FDS], i;

	*fdp = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = bufsz;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return n;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t k;

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < (int)k && nfds < IPC_MAX_RECV_FDS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
	}
	if ((mh.msg_flags & MSG_CTRUNC) && nfds == 0 &&
	    !(mh.msg_flags & MSG_TRUNC)) {
		/* The kernel could not install the fd: we are at our fd
		 * limit. Not the peer's fault; the message is dropped. */
		*why = "message lost its fd: this process is at its fd limit";
		return -3;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		*why = mh.msg_flags & MSG_TRUNC ? "message too long" :
		    "more than one fd attached";
		return -2;
	}
	if (nfds == 1)
		*fdp = fds[0];
	return n;
}

/* Decode and validate one received datagram. 0 ok, -1 malformed. */
static int
ipc_check(enum role peer, const uint8_t *buf, size_t n, int fd,
    struct ipc_msg *m, const char **why)
{
	if (ipc_decode(buf, n, fd != -1, m, why) == -1)
		return -1;
	m->im_fd = fd;
	return ipc_validate(peer, ipc_self, m, why);
}

static void
ipc_fail(struct ipc_chan *c, int err, const char *why)
{
	event_del(c->ic_rev);
	if (c->ic_error != NULL)
		c->ic_error(c, err, why, c->ic_arg);
	else
		c->ic_freed = 1;
}

static void
ipc_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan *c = arg;
	struct ipc_msg	 m;
	const char	*why = NULL;
	ssize_t		 n;
	int		 i, rfd;

	(void)ev;
	c->ic_busy++;
	for (i = 0; i < IPC_READ_BATCH && !c->ic_freed; i++) {
		n = ipc_recvmsg(fd, ipc_rbuf, sizeof(ipc_rbuf), &rfd, &why);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1 && errno == ECONNRESET)
			n = 0; /* the peer died with data unread: also an end */
		if (n == -1 || n == 0) {
			ipc_fail(c, n == 0 ? IPC_ERR_EOF : IPC_ERR_IO,
			    n == 0 ? "end of file" : strerror(errno));
			break;
		}
		if (n == -3) {
			log_warnx("%s", why);
			continue;
		}
		if (n == -2 || ipc_check(c->ic_peer, ipc_rbuf, (size_t)n, rfd,
		    &m, &why) == -1) {
			if (rfd != -1)
				close(rfd);
			ipc_fail(c, IPC_ERR_MALFORMED, why);
			break;
		}
		c->ic_dispatch(c, &m, c->ic_arg);
		if (m.im_fd != -1)
			close(m.im_fd); /* not taken by the dispatcher */
	}
	c->ic_busy--;
	if (c->ic_freed && c->ic_busy == 0)
		ipc_chan_destroy(c);
}

int
ipc_send_sync(int sock, uint32_t type, uint32_t reqid, int fd,
    const void *data, size_t len)
{
	struct ipc_out *o;
	struct pollfd	pfd;
	int		rv;

	if ((o = ipc_out_new(type, reqid, -1, data, len)) == NULL)
		return -1;
	for (;;) {
		rv = ipc_sendmsg(sock, o->io_buf, o->io_len, fd);
		if (rv == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		pfd.fd = sock;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, -1);
	}
	free(o);
	return rv;
}

int
ipc_recv_sync(int sock, enum role peer, struct ipc_msg *m, uint8_t *buf,
    size_t bufsz, const char **why)
{
	struct pollfd pfd;
	ssize_t	      n;
	int	      fd;

	for (;;) {
		n = ipc_recvmsg(sock, buf, bufsz, &fd, why);
		if (n >= 0 || n == -2 || (errno != EAGAIN &&
		    errno != EWOULDBLOCK))
			break;
		pfd.fd = sock;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, -1);
	}
	if (n == 0)
		return 0;
	if (n == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (n == -2 || n == -3)
		return -1;
	if (ipc_check(peer, buf, (size_t)n, fd, m, why) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return 1;
}

/* Variable-length messages. */

int
ipc_send_log(struct ipc_chan *c, int prio, uint32_t flags, const char *text)
{
	uint8_t		buf[sizeof(struct ipc_log) + IPC_LOG_MAX];
	struct ipc_log	l;
	size_t		n = strnlen(text, IPC_LOG_MAX);

	if (n == 0)
		text = " ", n = 1;
	l.il_prio = (uint32_t)prio;
	l.il_flags = flags;
	memcpy(buf, &l, sizeof(l));
	memcpy(buf + sizeof(l), text, n);
	return ipc_send(c, IMSG_LOG, 0, -1, buf, sizeof(l) + n);
}

int
ipc_get_log(const struct ipc_msg *m, struct ipc_log *l, char *text,
    size_t size)
{
	size_t n;

	if (m->im_hdr.ih_type != IMSG_LOG ||
	    m->im_hdr.ih_len <= sizeof(*l) || size == 0)
		return -1;
	memcpy(l, m->im_data, sizeof(*l));
	n = MIN(m->im_hdr.ih_len - sizeof(*l), size - 1);
	memcpy(text, m->im_data + sizeof(*l), n);
	text[n] = '\0';
	return 0;
}

int
ipc_send_ca_cert(struct ipc_chan *c, const char *pem, size_t len)
{
	if (len == 0 || len > IPC_PEM_MAX)
		return -1;
	return ipc_send(c, IMSG_CA_CERT, 0, -1, pem, len);
}

int
ipc_get_ca_cert(const struct ipc_msg *m, const char **pem, size_t *len)
{
	if (m->im_hdr.ih_type != IMSG_CA_CERT || m->im_hdr.ih_len == 0)
		return -1;
	*pem = (const char *)m->im_data;
	*len = m->im_hdr.ih_len;
	return 0;
}

int
ipc_send_ctl_result(struct ipc_chan *c, uint32_t reqid, int ok,
    const char *text)
{
	uint8_t		  buf[sizeof(struct ctl_result) + IPC_TEXT_MAX];
	struct ctl_result r = { .ctr_ok = ok };
	size_t		  n = strnlen(text, IPC_TEXT_MAX);

	memcpy(buf, &r, sizeof(r));
	memcpy(buf + sizeof(r), text, n);
	return ipc_send(c, IMSG_CTL_RESULT, reqid, -1, buf, sizeof(r) + n);
}

int
ipc_get_ctl_result(const struct ipc_msg *m, int *ok, char *text, size_t size)
{
	struct ctl_result r;
	size_t		  n;

	if (m->im_hdr.ih_type != IMSG_CTL_RESULT ||
	    m->im_hdr.ih_len < sizeof(r) || size == 0)
		return -1;
	memcpy(&r, m->im_data, sizeof(r));
	*ok = r.ctr_ok;
	n = MIN(m->im_hdr.ih_len - sizeof(r), size - 1);
	memcpy(text, m->im_data + sizeof(r), n);
	text[n] = '\0';
	return 0;
}

int
ipc_send_blob(struct ipc_chan *c, uint32_t type, uint32_t reqid,
    const void *hdr, size_t hdrlen, const void *blob, size_t bloblen)
{
	uint8_t	*buf;
	int	 rv;

	if (hdrlen + bloblen > IPC_MAX_PAYLOAD ||
	    (buf = malloc(hdrlen + bloblen ? hdrlen + bloblen : 1)) == NULL)
		return -1;
	memcpy(buf, hdr, hdrlen);
	if (bloblen)
		memcpy(buf + hdrlen, blob, bloblen);
	rv = ipc_send(c, type, reqid, -1, buf, hdrlen + bloblen);
	free(buf);
	return rv;
}

int
ipc_get_blob(const struct ipc_msg *m, uint32_t type, void *hdr, size_t hdrlen,
    const uint8_t **blob, size_t *bloblen)
{
	if (m->im_hdr.ih_type != type || m->im_hdr.ih_len < hdrlen)
		return -1;
	memcpy(hdr, m->im_data, hdrlen);
	*blob = m->im_data + hdrlen;
	*bloblen = m->im_hdr.ih_len - hdrlen;
	return 0;
}

int
ipc_send_event(struct ipc_chan *c, const char *json, size_t len)
{
	if (len < 2 || len > IPC_EVENT_MAX)
		return -1;
	return ipc_send(c, IMSG_EVENT, 0, -1, json, len);
}
