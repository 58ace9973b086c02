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

#include "common/log.h"
#include "master/master.h"

#define KMSG_RECORD_MAX 8192 /* one /dev/kmsg read returns one record */
#define KMSG_SCAN_MAX	4096 /* records looked at per lookup */

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

void
kmsg_syscall(pid_t pid, char *buf, size_t size)
{
	char	 rec[KMSG_RECORD_MAX];
	ssize_t	 n;
	int	 i;
	long	 nr;
	char	*name;

	snprintf(buf, size, "syscall unknown (no kernel audit record)");
	if (kmsg_fd == -1)
		return;
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
		return;
	}
}
