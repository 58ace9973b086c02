/*
 * Which syscall killed a child. A seccomp kill leaves the parent only a
 * SIGSYS exit status; the number is in the kernel's audit record (type
 * 1326) on /dev/kmsg. master opens it at start, skips the backlog, and
 * looks for the dead child's pid when it reaps one killed by SIGSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"

#define KMSG_RECORD_MAX 8192 /* one /dev/kmsg read returns one record */
#define KMSG_SCAN_MAX	4096 /* records looked at per lookup */
#define KMSG_RETRY_USEC	20000 /* a late audit record: look again after */
#define KMSG_RETRIES	25    /* ... this many times (half a second) */

static int kmsg_fd = -1;

void
kmsg_open(void)
{
	if ((kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		log_debug("/dev/kmsg: %s (sandbox violations will be logged "
		    "without the syscall number)", strerror(errno));
		return;
	}
	(void)lseek(kmsg_fd, 0, SEEK_END);
}

/* The value of "key=" in an audit record, or -1. */
static long
kmsg_field(const char *rec, const char *key)
{
	const char *p = rec;
	size_t	    kl = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if (p == rec || p[-1] == ' ')
			return strtol(p + kl, NULL, 10);
		p += kl;
	}
	return -1;
}

int
kmsg_syscall(pid_t pid, char *buf, size_t size)
{
	char	 rec[KMSG_RECORD_MAX];
	ssize_t	 n;
	int	 i;
	long	 nr;
	char	*name;

	snprintf(buf, size, "syscall unknown (no kernel audit record)");
	if (kmsg_fd == -1)
		return -1;
	for (i = 0; i < KMSG_SCAN_MAX; i++) {
		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n == -1 && errno == EPIPE)
			continue; /* records were overwritten; go on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, "type=1326") == NULL ||
		    kmsg_field(rec, "pid=") != (long)pid ||
		    (nr = kmsg_field(rec, "syscall=")) < 0)
			continue;
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
		    (int)nr);
		snprintf(buf, size, "syscall %ld (%s)", nr,
		    name ? name : "?");
		free(name);
		return 0;
	}
	return -1;
}

/*
 * The kernel may write the audit record a moment after the parent reaps
 * the child: look again on a short timer before logging without it.
 */
struct kmsg_wait {
	struct event	*kw_ev;
	pid_t		 kw_pid;
	int		 kw_tries;
	char		 kw_label[48];
};

static void
kmsg_log(const struct kmsg_wait *kw, const char *sc)
{
	log_warnx("%s (pid %d) killed by SIGSYS: sandbox violation, %s",
	    kw->kw_label, (int)kw->kw_pid, sc);
}

static void
kmsg_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct kmsg_wait *kw = arg;
	struct timeval	  tv = { 0, KMSG_RETRY_USEC };
	char		  sc[96];

	(void)fd;
	(void)ev;
	if (kmsg_syscall(kw->kw_pid, sc, sizeof(sc)) == -1 &&
	    ++kw->kw_tries < KMSG_RETRIES) {
		evtimer_add(kw->kw_ev, &tv);
		return;
	}
	kmsg_log(kw, sc);
	event_free(kw->kw_ev);
	free(kw);
}

void
kmsg_log_sigsys(struct event_base *base, pid_t pid, const char *label)
{
	struct kmsg_wait *kw;
	struct timeval	  tv = { 0, KMSG_RETRY_USEC };
	char		  sc[96];

	if (kmsg_syscall(pid, sc, sizeof(sc)) == 0 || kmsg_fd == -1 ||
	    (kw = calloc(1, sizeof(*kw))) == NULL) {
		struct kmsg_wait now = { NULL, pid, 0, "" };

		util_strlcpy(now.kw_label, label, sizeof(now.kw_label));
		kmsg_log(&now, sc);
		return;
	}
	kw->kw_pid = pid;
	util_strlcpy(kw->kw_label, label, sizeof(kw->kw_label));
	if ((kw->kw_ev = evtimer_new(base, kmsg_retry_cb, kw)) == NULL) {
		kmsg_log(kw, sc);
		free(kw);
		return;
	}
	evtimer_add(kw->kw_ev, &tv);
}
