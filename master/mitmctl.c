/*
 * mitmctl: the command line of a running mitmd, over master's control
 * socket. Plain blocking IPC: one request, then read the answer. Every
 * command prints text for people or, with -j, one JSON object on stdout.
 * The commands on flows, the CA certificate and the admin token read the
 * state directory instead (master/ctl_*.c): they work while mitmd is
 * down, and never write there.
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
#include "master/ctl.h"

#define MITMCTL_SOCK_DEFAULT CONF_DEF_RUNTIME_DIR "/" CONF_CTL_SOCK_NAME
#define MITMCTL_CONF_DEFAULT "/etc/mitmd/mitmd.conf"
#define CTL_WORDS_MAX	     3	/* "passthrough list" and an option */
#define MITMCTL_USEC	     1000000ULL
#define MITMCTL_HOST_COL     32 /* width of the HOST column */
#define MITMCTL_CLIENT_COL   39 /* an IPv6 address in full */

static uint8_t ctl_buf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 1]
    __attribute__((aligned(16)));

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mitmctl [-j] [-f config | -s socket] "
	    "command\n"
	    "commands: status | reload | stop | ca rotate |\n"
	    "          passthrough list | passthrough clear | token |\n"
	    "          ca show | ca export pem|der|cer|mobileconfig "
	    "[-o file] |\n"
	    "          flows [filters] | flows show id | flows --follow |\n"
	    "          flows export --har [filters] [-o file]\n"
	    "filters:  --host name|*.domain --method m --status code|Nxx\n"
	    "          --protocol tcp|tls|http/1.1|http2 --since time\n"
	    "          --until time --text s --limit n --before id "
	    "--after id\n");
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

static void
ctl_request(int fd, uint32_t type)
{
	if (ipc_send_sync(fd, type, 1, -1, NULL, 0) == -1)
		fatal("send");
}

/* A JSON string: what master sends is checked there, but mitmctl does not
 * rely on it. */
static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
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
	char	 cache[48];
	uint64_t now = util_wall_usec();
	uint64_t up = p->cp_pid && now > p->cp_start_usec ?
	    (now - p->cp_start_usec) / MITMCTL_USEC : 0;

	if (json) {
		printf("%s\n  {\"role\": \"%s\", \"index\": %u, \"pid\": %u, "
		    "\"uid\": %u, \"sandbox\": \"%s\", \"state\": \"%s\", "
		    "\"uptime_s\": %llu, \"open\": %u, \"total\": %llu, "
		    "\"restarts\": %u, \"cache_hits\": %llu, "
		    "\"cache_misses\": %llu}", first ? "" : ",",
		    role_name(p->cp_role), p->cp_index, p->cp_pid, p->cp_uid,
		    sandbox_str(p), state_str(p->cp_state),
		    (unsigned long long)up, p->cp_open,
		    (unsigned long long)p->cp_total, p->cp_restarts,
		    (unsigned long long)p->cp_cache_hits,
		    (unsigned long long)p->cp_cache_misses);
		return;
	}
	/* Leaf-certificate cache hits/misses where a role has a cache. */
	if (p->cp_role == ROLE_CERTD || p->cp_role == ROLE_TLSWORKER)
		snprintf(cache, sizeof(cache), "%llu/%llu",
		    (unsigned long long)p->cp_cache_hits,
		    (unsigned long long)p->cp_cache_misses);
	else
		snprintf(cache, sizeof(cache), "-");
	printf("%-10s %3u %7u %6u %-13s %-10s %7llus %6u %8llu %4u %13s\n",
	    role_name(p->cp_role), p->cp_index, p->cp_pid, p->cp_uid,
	    sandbox_str(p), state_str(p->cp_state), (unsigned long long)up,
	    p->cp_open, (unsigned long long)p->cp_total, p->cp_restarts,
	    cache);
}

/* One host's TLS failures of the last hour; first says whether it is the
 * first host (the text header, the JSON separator). */
static void
print_hoststat(struct ctl_hoststat *hs, int json, int first)
{
	uint64_t total = 0;
	uint32_t r;

	hs->hs_host[sizeof(hs->hs_host) - 1] = '\0';
	for (r = 0; r < TLSF_MAX; r++)
		total += hs->hs_count[r];
	if (json) {
		printf("%s\n  {\"host\": ", first ? "" : ",");
		json_str(hs->hs_host);
		printf(", \"total\": %llu, \"failures\": {",
		    (unsigned long long)total);
		for (r = 0; r < TLSF_MAX; r++)
			printf("%s\"%s\": %u", r ? ", " : "",
			    tls_failure_name(r), hs->hs_count[r]);
		printf("}}");
		return;
	}
	if (first) {
		printf("\nTLS failures in the last hour\n%-*s %6s",
		    MITMCTL_HOST_COL, "HOST", "TOTAL");
		for (r = 0; r < TLSF_MAX; r++)
			printf(" %s", tls_failure_name(r));
		putchar('\n');
	}
	printf("%-*s %6llu", MITMCTL_HOST_COL, hs->hs_host,
	    (unsigned long long)total);
	/* Each count right-aligned under its reason's name. */
	for (r = 0; r < TLSF_MAX; r++)
		printf(" %*u", (int)strlen(tls_failure_name(r)),
		    hs->hs_count[r]);
	putchar('\n');
}

/* CTL_PROC*, then CTL_HOSTSTAT* (hosts with TLS failures), CTL_END. */
static int
cmd_status(int fd, int json)
{
	struct ipc_msg	    m;
	struct ctl_proc	    p;
	struct ctl_hoststat hs;
	int		    nproc = 0, nhost = 0;

	ctl_request(fd, IMSG_CTL_STATUS);
	if (json)
		printf("{\"processes\": [");
	else
		printf("%-10s %3s %7s %6s %-13s %-10s %8s %6s %8s %4s %13s\n",
		    "ROLE", "IDX", "PID", "UID", "SANDBOX", "STATE", "UPTIME",
		    "OPEN", "TOTAL", "RST", "CACHE");
	for (;;) {
		ctl_recv(fd, &m);
		if (m.im_hdr.ih_type == IMSG_CTL_END)
			break;
		if (ipc_get_ctl_proc(&m, &p) == 0 && nhost == 0) {
			print_proc(&p, json, nproc++ == 0);
			continue;
		}
		if (ipc_get_ctl_hoststat(&m, &hs) == -1)
			fatalx("unexpected %s", imsg_name(m.im_hdr.ih_type));
		if (json && nhost == 0)
			printf("\n], \"hosts\": [");
		print_hoststat(&hs, json, nhost++ == 0);
	}
	if (json)
		printf(nhost == 0 ? "\n], \"hosts\": []}\n" : "\n]}\n");
	return 0;
}

static void
print_pt(struct passthrough *pt, int json, int first)
{
	uint64_t now = util_wall_usec();
	uint64_t left = pt->pt_expires > now ?
	    (pt->pt_expires - now) / MITMCTL_USEC : 0;
	char	 client[ADDR_STRLEN] = "*";

	pt->pt_host[sizeof(pt->pt_host) - 1] = '\0';
	if (pt->pt_client.a_family != AF_UNSPEC)
		addr_str(&pt->pt_client, 0, client, sizeof(client));
	if (json) {
		printf("%s\n  {\"client\": ", first ? "" : ",");
		json_str(client);
		printf(", \"host\": ");
		json_str(pt->pt_host);
		printf(", \"failures\": %u, \"expires_in_s\": %llu, "
		    "\"expires_usec\": %llu}", pt->pt_failures,
		    (unsigned long long)left,
		    (unsigned long long)pt->pt_expires);
		return;
	}
	printf("%-*s %-*s %8u %9llus\n", MITMCTL_CLIENT_COL, client,
	    MITMCTL_HOST_COL, pt->pt_host, pt->pt_failures,
	    (unsigned long long)left);
}

/* CTL_PT* then CTL_END. */
static int
cmd_pt_list(int fd, int json)
{
	struct ipc_msg	   m;
	struct passthrough pt;
	int		   n = 0;

	ctl_request(fd, IMSG_CTL_PT_LIST);
	if (json)
		printf("{\"passthrough\": [");
	else
		printf("%-*s %-*s %8s %10s\n", MITMCTL_CLIENT_COL, "CLIENT",
		    MITMCTL_HOST_COL, "HOST", "FAILURES", "EXPIRES");
	for (;;) {
		ctl_recv(fd, &m);
		if (m.im_hdr.ih_type == IMSG_CTL_END)
			break;
		if (ipc_get_ctl_pt(&m, &pt) == -1)
			fatalx("unexpected %s", imsg_name(m.im_hdr.ih_type));
		print_pt(&pt, json, n++ == 0);
	}
	if (json)
		printf(n == 0 ? "]}\n" : "\n]}\n");
	return 0;
}

/* One request, one CTL_RESULT. Exit 1 when mitmd refused. */
static int
cmd_simple(int fd, uint32_t type, int json)
{
	struct ipc_msg	m;
	char		text[IPC_TEXT_MAX + 1];
	int		ok;

	ctl_request(fd, type);
	ctl_recv(fd, &m);
	if (ipc_get_ctl_result(&m, &ok, text, sizeof(text)) == -1)
		fatalx("unexpected %s", imsg_name(m.im_hdr.ih_type));
	if (json) {
		printf("{\"ok\": %s, \"message\": ", ok ? "true" : "false");
		json_str(text);
		printf("}\n");
		if (!ok)
			fprintf(stderr, "%s\n", text);
	} else
		fprintf(ok ? stdout : stderr, "%s\n", text);
	return ok ? 0 : 1;
}

/* The socket named by a config file (its runtime directory), its state
 * directory, events socket and admin token file. Relative paths stay
 * relative: to the
 * directory mitmctl runs in, as mitmd takes them from the one it
 * started in. */
static void
read_conf(const char *file, char *path, size_t size, struct ctl_env *env)
{
	struct mitmd_conf c;

	memset(&c, 0, sizeof(c));
	if (conf_parse_file(file, &c) == -1)
		exit(2);
	if (snprintf(path, size, "%s/%s", c.mc_runtime_dir, CONF_CTL_SOCK_NAME)
	    >= (int)size)
		fatalx("runtime directory path too long");
	util_strlcpy(env->ce_state_dir, c.mc_state_dir,
	    sizeof(env->ce_state_dir));
	util_strlcpy(env->ce_events_socket, c.mc_events_socket,
	    sizeof(env->ce_events_socket));
	util_strlcpy(env->ce_admin_token_file, c.mc_admin_token_file,
	    sizeof(env->ce_admin_token_file));
	env->ce_have_conf = 1;
	conf_free(&c);
}

enum ctl_cmd {
	CMD_STATUS,
	CMD_RELOAD,
	CMD_STOP,
	CMD_CA_ROTATE,
	CMD_PT_LIST,
	CMD_PT_CLEAR,
};

static const struct ctl_word {
	const char *cw_word1;
	const char *cw_word2; /* NULL: a command of one word */
	int	    cw_cmd;
} ctl_words[] = {
	{ "status", NULL, CMD_STATUS },
	{ "reload", NULL, CMD_RELOAD },
	{ "stop", NULL, CMD_STOP },
	{ "ca", "rotate", CMD_CA_ROTATE },
	{ "passthrough", "list", CMD_PT_LIST },
	{ "passthrough", "clear", CMD_PT_CLEAR },
};

/* Checked before connecting: a usage error never bothers mitmd. */
static int
ctl_command(int argc, char *argv[])
{
	const struct ctl_word *w;
	size_t		       i;

	for (i = 0; i < nitems(ctl_words); i++) {
		w = &ctl_words[i];
		if (argc != (w->cw_word2 == NULL ? 1 : 2) ||
		    strcmp(argv[0], w->cw_word1) != 0 ||
		    (w->cw_word2 != NULL && strcmp(argv[1], w->cw_word2) != 0))
			continue;
		return w->cw_cmd;
	}
	usage();
}

/* The commands that read the state directory, not the socket: without
 * -f, the default configuration names it, if there is one. */
static int
state_command(struct ctl_env *env, int sock_given, int argc, char *argv[])
{
	char path[CONF_PATH_MAX + sizeof(CONF_CTL_SOCK_NAME) + 1];

	if (!env->ce_have_conf && !sock_given &&
	    access(MITMCTL_CONF_DEFAULT, R_OK) == 0)
		read_conf(MITMCTL_CONF_DEFAULT, path, sizeof(path), env);
	if (strcmp(argv[0], "flows") == 0)
		return (ctl_flows(env, argc, argv));
	if (strcmp(argv[0], "ca") == 0)
		return (ctl_ca(env, argc, argv));
	return (ctl_token(env, argc, argv));
}

/* -j anywhere among the command's words; the words left in argv. */
static int
command_words(struct ctl_env *env, int argc, char *argv[], char *words[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, i, n = 0;

	if (argc > CTL_WORDS_MAX)
		usage();
	optind = 0;	/* GNU getopt: start again on these words */
	while ((ch = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
		if (ch != 'j')
			usage();
		env->ce_json = 1;
	}
	/* argv[0] stays first; the other words are permuted to the end */
	words[n++] = argv[0];
	for (i = optind; i < argc; i++)
		words[n++] = argv[i];
	return (n);
}

int
main(int argc, char *argv[])
{
	char		 path[CONF_PATH_MAX + sizeof(CONF_CTL_SOCK_NAME) + 1] =
	    MITMCTL_SOCK_DEFAULT;
	char		*words[CTL_WORDS_MAX];
	struct ctl_env	 env;
	int		 ch, fd, cmd, sock_given = 0, n;

	log_init("mitmctl", 0);
	ipc_set_role(ROLE_CTL);
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};

	memset(&env, 0, sizeof(env));
	util_strlcpy(env.ce_state_dir, CONF_DEF_STATE_DIR,
	    sizeof(env.ce_state_dir));
	/* "+": the options before the command; each command takes its own */
	while ((ch = getopt_long(argc, argv, "+f:js:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			read_conf(optarg, path, sizeof(path), &env);
			break;
		case 'j':
			env.ce_json = 1;
			break;
		case 's':
			util_strlcpy(path, optarg, sizeof(path));
			sock_given = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "token") == 0) {
		n = command_words(&env, argc, argv, words);
		return (state_command(&env, sock_given, n, words));
	}
	if (strcmp(argv[0], "flows") == 0 || (strcmp(argv[0], "ca") == 0 &&
	    argc >= 2 && (strcmp(argv[1], "show") == 0 ||
	    strcmp(argv[1], "export") == 0)))
		return (state_command(&env, sock_given, argc, argv));
	n = command_words(&env, argc, argv, words);
	cmd = ctl_command(n, words);
	fd = ctl_connect(path);
	switch (cmd) {
	case CMD_STATUS:
		return cmd_status(fd, env.ce_json);
	case CMD_RELOAD:
		return cmd_simple(fd, IMSG_CTL_RELOAD, env.ce_json);
	case CMD_STOP:
		return cmd_simple(fd, IMSG_CTL_STOP, env.ce_json);
	case CMD_CA_ROTATE:
		return cmd_simple(fd, IMSG_CTL_CA_ROTATE, env.ce_json);
	case CMD_PT_LIST:
		return cmd_pt_list(fd, env.ce_json);
	default:
		return cmd_simple(fd, IMSG_CTL_PT_CLEAR, env.ce_json);
	}
}
