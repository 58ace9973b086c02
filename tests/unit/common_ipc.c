/*
 * Unit tests of the IPC framing: round trips with and without fds, every
 * validation rule, and the channel's reaction to a malformed message.
 */
#include <sys/socket.h>

#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "tests/unit/unit.h"

static uint8_t buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1]
    __attribute__((aligned(16)));

static void
pair(int sp[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == -1)
		abort();
}

static void
test_roundtrip(void)
{
	struct conn_meta cm, out;
	struct ipc_msg	 m;
	const char	*why = "";
	int		 sp[2], p[2];

	pair(sp);
	if (pipe(p) == -1)
		abort();
	memset(&cm, 0, sizeof(cm));
	cm.cm_id = 42;
	cm.cm_listener = 3;
	ipc_set_role(ROLE_ACCEPTOR);
	CHECK(ipc_send_sync(sp[0], IMSG_CONN_HANDOFF, 7, p[0], &cm,
	    sizeof(cm)) == 0, "send a handoff with an fd");
	ipc_set_role(ROLE_TLSWORKER);
	CHECK(ipc_recv_sync(sp[1], ROLE_ACCEPTOR, &m, buf, sizeof(buf),
	    &why) == 1, "receive it (%s)", why);
	CHECK(m.im_hdr.ih_reqid == 7, "request id kept");
	CHECK(m.im_hdr.ih_pid == (uint32_t)getpid(), "sender pid stamped");
	CHECK(m.im_fd >= 0 && fcntl(m.im_fd, F_GETFD) != -1, "fd arrived");
	CHECK(ipc_get_conn_handoff(&m, &out) == 0 && out.cm_id == 42 &&
	    out.cm_listener == 3, "typed receiver returns the payload");
	CHECK(ipc_get_conn_ack((struct ipc_msg *)&m, (struct worker_load *)
	    &out) == -1, "typed receiver of another type refuses");
	close(m.im_fd);
	close(p[0]);
	close(p[1]);
	close(sp[0]);
	close(sp[1]);
}

/* Send raw bytes (a forged header) and expect rejection. */
static int
recv_raw(const void *data, size_t len, int withfd, enum role sender,
    enum role self, const char **why)
{
	struct ipc_msg	m;
	struct msghdr	mh;
	struct iovec	iov = { (void *)data, len };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	int		sp[2], rv, fd = 0;

	pair(sp);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (withfd) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sp[0], &mh, 0) == -1)
		abort();
	ipc_set_role(self);
	rv = ipc_recv_sync(sp[1], sender, &m, buf, sizeof(buf), why);
	if (rv == 1 && m.im_fd != -1)
		close(m.im_fd);
	close(sp[0]);
	close(sp[1]);
	return rv;
}

static void
test_validation(void)
{
	uint8_t		 raw[sizeof(struct ipc_hdr) + 128];
	struct ipc_hdr	 h = { IMSG_CONN_ACK, sizeof(struct worker_load), 0, 1 };
	const char	*why = "";

	memset(raw, 0, sizeof(raw));
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len, 0, ROLE_TLSWORKER,
	    ROLE_ACCEPTOR, &why) == 1, "a well-formed CONN_ACK passes");
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len, 0, ROLE_ACCEPTOR,
	    ROLE_TLSWORKER, &why) == -1 && strstr(why, "sender"),
	    "CONN_ACK from the wrong sender: %s", why);
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len - 1, 0, ROLE_TLSWORKER,
	    ROLE_ACCEPTOR, &why) == -1, "short datagram: %s", why);
	h.ih_len = sizeof(struct worker_load) + 4;
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len, 0, ROLE_TLSWORKER,
	    ROLE_ACCEPTOR, &why) == -1 && strstr(why, "length"),
	    "wrong fixed length: %s", why);
	h.ih_len = sizeof(struct worker_load);
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len, 1, ROLE_TLSWORKER,
	    ROLE_ACCEPTOR, &why) == -1 && strstr(why, "fd"),
	    "unexpected fd: %s", why);
	h.ih_type = IMSG_CONN_HANDOFF;
	h.ih_len = sizeof(struct conn_meta);
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h) + h.ih_len, 0, ROLE_ACCEPTOR,
	    ROLE_TLSWORKER, &why) == -1 && strstr(why, "fd"),
	    "handoff without its fd: %s", why);
	h.ih_type = IMSG_MAX + 5;
	h.ih_len = 0;
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h), 0, ROLE_MASTER, ROLE_ACCEPTOR, &why) ==
	    -1 && strstr(why, "unknown"), "unknown type: %s", why);
	h.ih_type = IMSG_CA_CERT;
	h.ih_len = 10;
	memcpy(raw, &h, sizeof(h));
	CHECK(recv_raw(raw, sizeof(h) + 10, 0, ROLE_TLSWORKER, ROLE_MASTER,
	    &why) == -1, "CA_CERT from a worker is refused: %s", why);
	CHECK(recv_raw(raw, sizeof(h) + 10, 0, ROLE_CERTD, ROLE_MASTER,
	    &why) == 1, "CA_CERT from certd passes");
	CHECK(recv_raw(raw, sizeof(h) + 10, 0, ROLE_CERTD, ROLE_ACCEPTOR,
	    &why) == -1 && strstr(why, "meant"),
	    "CA_CERT is not for the acceptor: %s", why);
}

static void
test_log_bounds(void)
{
	struct ipc_msg	m;
	struct ipc_log	l;
	char		text[IPC_LOG_MAX + 1], big[IPC_LOG_MAX * 2];
	const char	*why = "";
	int		sp[2];
	struct event_base *base = event_base_new();
	struct ipc_chan	*c;

	pair(sp);
	ipc_set_role(ROLE_TLSWORKER);
	c = ipc_chan_new(base, sp[0], ROLE_MASTER, NULL, NULL, NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(ipc_send_log(c, LOG_INFO, LOG_F_AUDIT, big) == 0,
	    "an over-long log line is sent truncated");
	ipc_set_role(ROLE_MASTER);
	CHECK(ipc_recv_sync(sp[1], ROLE_TLSWORKER, &m, buf, sizeof(buf),
	    &why) == 1, "and accepted (%s)", why);
	CHECK(ipc_get_log(&m, &l, text, sizeof(text)) == 0 &&
	    strlen(text) == IPC_LOG_MAX && l.il_flags == LOG_F_AUDIT,
	    "log text bounded to IPC_LOG_MAX, flags kept");
	ipc_chan_free(c);
	close(sp[1]);
	event_base_free(base);
}

struct errstate {
	int	err;
	int	dispatched;
	struct ipc_chan *chan;
};

static void
on_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct errstate *st = arg;

	(void)c;
	(void)m;
	st->dispatched++;
}

static void
on_err(struct ipc_chan *c, int err, const char *why, void *arg)
{
	struct errstate *st = arg;

	(void)why;
	st->err = err;
	ipc_chan_free(c); /* freeing inside the callback must be safe */
	st->chan = NULL;
}

static void
test_chan_malformed(void)
{
	struct event_base *base = event_base_new();
	struct errstate	 st = { 0, 0, NULL };
	struct ipc_hdr	 h = { IMSG_STATUS, 3, 0, 1 };
	uint8_t		 raw[sizeof(h) + 3] = { 0 };
	int		 sp[2];

	pair(sp);
	ipc_set_role(ROLE_MASTER);
	st.chan = ipc_chan_new(base, sp[0], ROLE_TLSWORKER, on_msg, on_err,
	    &st);
	ipc_set_role(ROLE_TLSWORKER);
	ipc_send_sync(sp[1], IMSG_STATUS_REQ + 0, 0, -1, NULL, 0);
	memcpy(raw, &h, sizeof(h));
	if (write(sp[1], raw, sizeof(raw)) != (ssize_t)sizeof(raw))
		abort();
	ipc_set_role(ROLE_MASTER);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(st.err == IPC_ERR_MALFORMED,
	    "a malformed message reaches the error callback");
	CHECK(st.dispatched == 0,
	    "a message from the wrong sender is never dispatched");
	CHECK(st.chan == NULL, "the channel was freed in the callback");
	close(sp[1]);
	event_base_free(base);
}

int
main(void)
{
	log_init("unit", 0);
	test_roundtrip();
	test_validation();
	test_log_bounds();
	test_chan_malformed();
	CHECK(strcmp(imsg_name(IMSG_CONN_HANDOFF), "CONN_HANDOFF") == 0,
	    "message names");
	CHECK(strcmp(role_name(ROLE_CERTD), "certd") == 0, "role names");
	return unit_done();
}
