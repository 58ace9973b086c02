/*
 * mitmctl: the command line of a running mitmd, over master's control
 * socket. Plain blocking IPC: one request, then read the answer.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "master/conf.h"

#define MITMCTL_SOCK_DEFAULT CONF_DEF_RUNTIME_DIR "/mitmd.sock"
#define MITMCTL_SOCK_NAME    "mitmd.sock"

static uint8_t ctl_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1]
    __attribute__((aligned(16)));

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mitmctl [-j] [-f config | -s socket] "
	    "status | reload | stop\n");
	exit(2);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("cannot reach mitmd at %s", path);
	return fd;
}

static int
ctl_recv(int fd, struct ipc_msg *m)
{
	const char *why = "";
	int rv;

	rv = ipc_recv_sync(fd, ROLE_MASTER, m, ctl_buf, sizeof(ctl_buf), &why);
	if (rv == 0)
		fatalx("mitmd closed the connection");
	if (rv == -1)
		fatalx("bad answer from mitmd: %s", why);
	return 0;
}

static const char *
state_str(uint32_t s)
{
	switch (s) {
	case PROC_STARTING:
		return "starting";
	case PROC_RUNNING:
		return "running";
	case PROC_BACKOFF:
		return "restarting";
	case PROC_DRAINING:
		return "draining";
	default:
		return "stopped";
	}
}

static const char *
sandbox_str(const struct ctl_proc *p)
{
	if (p->cp_role == ROLE_MASTER)
		return "none";
	if ((p->cp_sandbox & SANDBOX_ALL) == SANDBOX_ALL)
		return "full";
	if (p->cp_sandbox & SANDBOX_SECCOMP)
		return "seccomp-only";
	return "unknown";
}

static void
print_proc(const struct ctl_proc *p, int json, int first)
{
	uint64_t now = util_wall_usec();
	uint64_t up = p->cp_pid && now > p->cp_start_usec ?
	    (now - p->cp_start_usec) / 1000000u : 0;

	if (json) {
		printf("%s\n  {\"role\": \"%s\", \"index\": %u, \"pid\": %u, "
		    "\"uid\": %u, \"sandbox\": \"%s\", \"state\": \"%s\", "
		    "\"uptime_s\": %llu, \"open\": %u, \"total\": %llu, "
		    "\"restarts\": %u}", first ? "" : ",",
		    role_name(p->cp_role), p->cp_index, p->cp_pid, p->cp_uid,
		    sandbox_str(p), state_str(p->cp_state),
		    (unsigned long long)up, p->cp_open,
		    (unsigned long long)p->cp_total, p->cp_restarts);
		return;
	}
	printf("%-10s %3u %7u %6u %-13s %-10s %7llus %6u %8llu %4u\n",
	    role_name(p->cp_role), p->cp_index, p->cp_pid, p->cp_uid,
	    sandbox_str(p), state_str(p->cp_state), (unsigned long long)up,
	    p->cp_open, (unsigned long long)p->cp_total, p->cp_restarts);
}

static int
cmd_status(int fd, int json)
{
	struct ipc_msg	m;
	struct ctl_proc	p;
	int		first = 1;

	if (ipc_send_sync(fd, IMSG_CTL_STATUS, 1, -1, NULL, 0) == -1)
		fatal("send");
	if (json)
		printf("{\"processes\": [");
	else
		printf("%-10s %3s %7s %6s %-13s %-10s %8s %6s %8s %4s\n",
		    "ROLE", "IDX", "PID", "UID", "SANDBOX", "STATE", "UPTIME",
		    "OPEN", "TOTAL", "RST");
	for (;;) {
		ctl_recv(fd, &m);
		if (m.im_hdr.ih_type == IMSG_CTL_END)
			break;
		if (ipc_get_ctl_proc(&m, &p) == -1)
			fatalx("unexpected %s", imsg_name(m.im_hdr.ih_type));
		print_proc(&p, json, first);
		first = 0;
	}
	if (json)
		printf("\n]}\n");
	return 0;
}

static int
cmd_simple(int fd, uint32_t type, int json)
{
	struct ipc_msg	m;
	char		text[IPC_TEXT_MAX + 1];
	int		ok;

	if (ipc_send_sync(fd, type, 1, -1, NULL, 0) == -1)
		fatal("send");
	ctl_recv(fd, &m);
	if (ipc_get_ctl_result(&m, &ok, text, sizeof(text)) == -1)
		fatalx("unexpected %s", imsg_name(m.im_hdr.ih_type));
	if (json)
		printf("{\"ok\": %s}\n", ok ? "true" : "false");
	fprintf(ok ? stdout : stderr, "%s\n", text);
	return ok ? 0 : 1;
}

/* The socket named by a config file: its runtime directory. */
static void
sock_from_conf(const char *file, char *path, size_t size)
{
	struct mitmd_conf c;

	memset(&c, 0, sizeof(c));
	if (conf_parse_file(file, &c) == -1)
		exit(2);
	if (snprintf(path, size, "%s/%s", c.mc_runtime_dir, MITMCTL_SOCK_NAME)
	    >= (int)size)
		fatalx("runtime directory path too long");
	conf_free(&c);
}

int
main(int argc, char *argv[])
{
	char	 path[CONF_PATH_MAX + 16] = MITMCTL_SOCK_DEFAULT;
	int	 ch, json = 0, fd;

	log_init("mitmctl", 0);
	ipc_set_role(ROLE_CTL);
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "f:js:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			sock_from_conf(optarg, path, sizeof(path));
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			util_strlcpy(path, optarg, sizeof(path));
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || (strcmp(argv[0], "status") != 0 &&
	    strcmp(argv[0], "reload") != 0 && strcmp(argv[0], "stop") != 0))
		usage();
	fd = ctl_connect(path);
	if (strcmp(argv[0], "status") == 0)
		return cmd_status(fd, json);
	if (strcmp(argv[0], "reload") == 0)
		return cmd_simple(fd, IMSG_CTL_RELOAD, json);
	return cmd_simple(fd, IMSG_CTL_STOP, json);
}
