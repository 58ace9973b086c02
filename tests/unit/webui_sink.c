/*
 * Unit test of the event sinks (webui/sink.c) through webui_event(): a
 * file gets each event and a newline, in order, once even when master
 * sends the same file again; socket subscribers get the live feed, the
 * same lines as the file; a subscriber that does not read is dropped
 * with a log line while the others go on; a file that fails (/dev/full)
 * costs a bounded queue and log lines, never the process.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "tests/unit/unit.h"
#include "webui/webui.h"

#define T_PATH_MAX	64
#define T_LOG_MAX	(64 * 1024)
#define T_READ_MAX	(32 * 1024 * 1024)

static char		 dir[T_PATH_MAX], file[T_PATH_MAX * 2];
static char		 sockpath[T_PATH_MAX + 16];
static struct event_base *base;
static struct webui	 wu;
static char		 logbuf[T_LOG_MAX];
static size_t		 loglen;

static void
capture(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	loglen += (size_t)snprintf(logbuf + loglen, sizeof(logbuf) - loglen,
	    "%s\n", msg);
	if (loglen >= sizeof(logbuf))
		loglen = sizeof(logbuf) - 1;
}

static void
run_loop(int msec)
{
	struct timeval tv = { msec / 1000, (msec % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Event n, padded to about `pad` bytes. */
static size_t
make_ev(char *buf, size_t sz, int n, size_t pad)
{
	size_t	 len;

	len = (size_t)snprintf(buf, sz, "{\"v\":1,\"type\":\"request_headers\","
	    "\"flow_id\":7,\"seq\":%d,\"ts\":\"2026-11-22T03:40:01.000000Z\","
	    "\"pad\":\"", n);
	memset(buf + len, 'p', pad);
	len += pad;
	len += (size_t)snprintf(buf + len, sz - len, "\"}");
	return (len);
}

static char *
slurp_fd(int fd, size_t *len)
{
	char	*b = malloc(T_READ_MAX);
	ssize_t	 n;

	*len = 0;
	while ((n = read(fd, b + *len, T_READ_MAX - 1 - *len)) > 0)
		*len += (size_t)n;
	b[*len] = '\0';
	return (b);
}

static int
sub_connect(int rcvbuf)
{
	struct sockaddr_un sun;
	int	 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return (-1);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return (-1);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return (fd);
}

static int
listener(void)
{
	struct sockaddr_un sun;
	int	 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 16) == -1)
		return (-1);
	return (fd);
}

static void
test_file_and_socket(void)
{
	static char	 ev[4096], want[1 << 20];
	char		*got, *sgot;
	size_t		 wlen = 0, glen, slen, n;
	int		 fd, sub, i;

	fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0600);
	CHECK(sink_add(&wu, SINK_FILE, fd) == 0, "file sink added");
	CHECK(sink_add(&wu, SINK_SOCKET, listener()) == 0,
	    "socket sink added");
	CHECK(sink_add(&wu, 99, open("/dev/null", O_WRONLY)) == -1,
	    "unknown kind refused");
	sub = sub_connect(0);
	run_loop(50);
	CHECK(sink_subscribers(&wu) == 1, "one subscriber");
	for (i = 0; i < 100; i++) {
		n = make_ev(ev, sizeof(ev), i, (size_t)i * 10);
		webui_event(&wu, ev, n);
		memcpy(want + wlen, ev, n);
		wlen += n;
		want[wlen++] = '\n';
		if (i == 50) {
			/* master sends the same file again */
			CHECK(sink_add(&wu, SINK_FILE, open(file, O_WRONLY |
			    O_APPEND)) == 0 && wu.wu_nsinks == 2,
			    "the same file again replaces its sink");
		}
	}
	/* with capture_b64: the sinks get it without */
	n = (size_t)snprintf(ev, sizeof(ev), "{\"v\":1,\"type\":"
	    "\"response_body_chunk\",\"flow_id\":7,\"seq\":100,\"ts\":\"t\","
	    "\"capture_b64\":\"aGk=\",\"last\":false}");
	webui_event(&wu, ev, n);
	n = (size_t)snprintf(ev, sizeof(ev), "{\"v\":1,\"type\":"
	    "\"response_body_chunk\",\"flow_id\":7,\"seq\":100,\"ts\":\"t\","
	    "\"last\":false}\n");
	memcpy(want + wlen, ev, n);
	wlen += n;
	/* a batch: each event on its own, a refused one costs no other */
	{
		static char	 batch[3 * 256];
		size_t		 bl, k;

		bl = make_ev(batch, 256, 200, 5);
		k = bl;
		batch[bl++] = '\n';
		memcpy(batch + bl, "{\"v\":1}\n", 8);
		bl += 8;
		bl += make_ev(batch + bl, 256, 201, 7);
		webui_events(&wu, batch, bl);
		memcpy(want + wlen, batch, k + 1);
		wlen += k + 1;
		memcpy(want + wlen, batch + k + 9, bl - k - 9);
		wlen += bl - k - 9;
		want[wlen++] = '\n';
		webui_events(&wu, "\n", 1);	/* two empty events: refused */
	}
	/* refused events reach no sink */
	webui_event(&wu, "{\"v\":1}", 7);
	run_loop(100);
	fd = open(file, O_RDONLY);
	got = slurp_fd(fd, &glen);
	close(fd);
	CHECK(glen == wlen && memcmp(got, want, wlen) == 0,
	    "the file holds every event, a line each, once (%zu/%zu)", glen,
	    wlen);
	sgot = slurp_fd(sub, &slen);
	CHECK(slen == wlen && memcmp(sgot, want, wlen) == 0,
	    "the subscriber got the same lines (%zu)", slen);
	free(got);
	free(sgot);
	close(sub);
	run_loop(50);
	CHECK(sink_subscribers(&wu) == 0, "a subscriber that leaves is gone");
}

static void
test_slow(void)
{
	static char	 ev[64 * 1024];
	char		*b = malloc(T_READ_MAX);
	size_t		 n, total = 0, got = 0;
	ssize_t		 r;
	int		 slow, fast, i;

	slow = sub_connect(4096);
	fast = sub_connect(0);
	run_loop(50);
	CHECK(sink_subscribers(&wu) == 2, "two subscribers");
	loglen = 0;
	for (i = 0; i < 400; i++) {	/* ~20 MiB */
		n = make_ev(ev, sizeof(ev), i, 50000);
		webui_event(&wu, ev, n);
		total += n + 1;
		run_loop(1);
		while ((r = read(fast, b, T_READ_MAX)) > 0)
			got += (size_t)r;
	}
	for (i = 0; i < 50 && got < total; i++) {
		run_loop(10);
		while ((r = read(fast, b, T_READ_MAX)) > 0)
			got += (size_t)r;
	}
	CHECK(strstr(logbuf, "subscriber") != NULL &&
	    strstr(logbuf, "dropped: it does not read") != NULL,
	    "the slow subscriber is dropped with a log line");
	CHECK(sink_subscribers(&wu) == 1, "one subscriber left");
	CHECK(got == total, "the one that reads got everything (%zu/%zu)",
	    got, total);
	r = read(slow, b, T_READ_MAX);
	while (r > 0)
		r = read(slow, b, T_READ_MAX);
	CHECK(r == 0, "the slow one sees its end after what was sent");
	close(slow);
	close(fast);
	free(b);
	sink_free_all(&wu);
}

static void
test_full_disk(void)
{
	static char	 ev[64 * 1024];
	size_t		 n;
	int		 i;

	CHECK(sink_add(&wu, SINK_FILE, open("/dev/full", O_WRONLY |
	    O_APPEND)) == 0, "a file sink that fails every write");
	loglen = 0;
	for (i = 0; i < 400; i++) {	/* past the 16 MiB queue */
		n = make_ev(ev, sizeof(ev), i, 50000);
		webui_event(&wu, ev, n);
		if (i % 50 == 0)
			run_loop(1);
	}
	run_loop(200);
	CHECK(strstr(logbuf, "events file: write:") != NULL,
	    "the write error is logged");
	CHECK(strstr(logbuf, "events lost") != NULL,
	    "and the loss past the queue's bound");
	sink_free_all(&wu);
}

int
main(void)
{
	char	 cmd[T_PATH_MAX + 16];
	int	 rc;

	log_init("unit", 0);
	log_set_sink(capture);
	snprintf(dir, sizeof(dir), "/tmp/webui_sink.XXXXXX");
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL)
		return (2);
	snprintf(file, sizeof(file), "%s/events.jsonl", dir);
	snprintf(sockpath, sizeof(sockpath), "%s/events.sock", dir);
	wu.wu_base = base;
	test_file_and_socket();
	test_slow();
	test_full_disk();
	event_base_free(base);
	rc = unit_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return (rc);
}
