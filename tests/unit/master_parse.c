/*
 * Unit tests of the config parser (master/parse.c, parse_print.c) and of
 * what it is built on: host patterns (common/hostpat.c), addresses and
 * CIDR blocks (common/addr.c). Round trips print -> parse -> equal, the
 * exact error lines with their line numbers, and the matching rules the
 * workers apply to untrusted targets.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/conf.h"
#include "tests/unit/unit.h"

#define LOGBUF_MAX 8192

static char logbuf[LOGBUF_MAX]; /* every record since log_reset, one a line */

static void
log_capture(int prio, uint32_t flags, const char *msg)
{
	size_t len = strlen(logbuf);

	(void)prio;
	(void)flags;
	snprintf(logbuf + len, sizeof(logbuf) - len, "%s\n", msg);
}

static void
log_reset(void)
{
	logbuf[0] = '\0';
}

static int
parse(const char *text, struct mitmd_conf *c)
{
	return (conf_parse_buf("t.conf", text, strlen(text), c));
}

/* Equal as far as the children and conf_print can tell: line numbers and
 * the file name aside. */
static int
conf_equal(const struct mitmd_conf *a, const struct mitmd_conf *b)
{
	size_t i;

	if (strcmp(a->mc_user, b->mc_user) != 0 ||
	    strcmp(a->mc_ca_user, b->mc_ca_user) != 0 ||
	    strcmp(a->mc_state_dir, b->mc_state_dir) != 0 ||
	    strcmp(a->mc_runtime_dir, b->mc_runtime_dir) != 0 ||
	    strcmp(a->mc_chroot, b->mc_chroot) != 0 ||
	    strcmp(a->mc_syslog, b->mc_syslog) != 0 ||
	    strcmp(a->mc_events_file, b->mc_events_file) != 0 ||
	    strcmp(a->mc_events_socket, b->mc_events_socket) != 0 ||
	    strcmp(a->mc_admin_token_file, b->mc_admin_token_file) != 0 ||
	    a->mc_workers_auto != b->mc_workers_auto ||
	    memcmp(&a->mc_global, &b->mc_global, sizeof(a->mc_global)) != 0 ||
	    !conf_listeners_same(a, b) ||
	    a->mc_nallow != b->mc_nallow || a->mc_nrules != b->mc_nrules)
		return (0);
	for (i = 0; i < a->mc_nallow; i++)
		if (memcmp(&a->mc_allow[i].ca_cidr, &b->mc_allow[i].ca_cidr,
		    sizeof(struct cidr)) != 0)
			return (0);
	for (i = 0; i < a->mc_nrules; i++)
		if (a->mc_rules[i].cr_action != b->mc_rules[i].cr_action ||
		    a->mc_rules[i].cr_index != b->mc_rules[i].cr_index ||
		    memcmp(&a->mc_rules[i].cr_pat, &b->mc_rules[i].cr_pat,
		    sizeof(struct hostpat)) != 0)
			return (0);
	return (1);
}

/* The caller frees the text. */
static char *
print(const struct mitmd_conf *c)
{
	char   *text = NULL;
	size_t	len = 0;
	FILE   *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return (NULL);
	conf_print(f, c);
	fclose(f);
	return (text);
}

/* parse -> print -> parse gives the same struct, and printing that gives
 * the same text (a fixed point, line numbers included). */
static void
roundtrip(const char *name, const char *text)
{
	struct mitmd_conf a, b, c;
	char		 *t1 = NULL, *t2 = NULL;
	size_t		  i;
	int		  good = 0;

	log_reset();
	if (parse(text, &a) == -1) {
		printf("# %s: %s", name, logbuf);
		ok(0, name);
		return;
	}
	t1 = print(&a);
	if (t1 != NULL && parse(t1, &b) == 0) {
		t2 = print(&b);
		good = conf_equal(&a, &b) && t2 != NULL && strcmp(t1, t2) == 0;
		if (good && parse(t2, &c) == 0) {
			good = conf_equal(&b, &c);
			for (i = 0; good && i < c.mc_nlisteners; i++)
				good = b.mc_listeners[i].cl_line ==
				    c.mc_listeners[i].cl_line;
			conf_free(&c);
		}
		conf_free(&b);
	}
	if (!good)
		printf("# %s: printed:\n%s# again:\n%s", name, t1 ? t1 : "",
		    t2 ? t2 : "");
	ok(good, name);
	free(t1);
	free(t2);
	conf_free(&a);
}

static void
test_roundtrips(void)
{
	roundtrip("roundtrip minimal", "listen on 127.0.0.1 port 8080\n");
	roundtrip("roundtrip design sketch",
	    "listen on 0.0.0.0 port 8080   # explicit proxy\n"
	    "webui listen on 0.0.0.0 port 8081\n"
	    "workers auto\n"
	    "allow from 10.0.0.0/8, 192.168.0.0/16\n"
	    "block host \"*.doubleclick.net\"\n"
	    "tunnel host \"*.apple.com\", \"pinned.example\"\n"
	    "intercept host \"*\"\n");
	roundtrip("roundtrip every keyword",
	    "user \"proxy\"\nca user \"proxy-ca\"\nca key rsa\n"
	    "state directory \"/srv/mitmd\"\n"
	    "runtime directory \"/run/m\"\nchroot \"/var/empty\"\n"
	    "syslog socket \"/run/log.sock\"\nworkers 4\n"
	    "listen on ::1 port 3128\nlisten on [2001:db8::1] port 3128\n"
	    "listen on localhost port 3128\nwebui listen on * port 80\n"
	    "allow from 0.0.0.0/0, ::/0\n"
	    "block host \"10.0.0.0/8\", \"::1\", \"Example.COM.\"\n"
	    "tunnel host \"*.A.b\", \"[2001:db8::1]\", \"1.2.3.4\"\n"
	    "intercept host \"2001:db8::/32\"\n"
	    "timeout connect 1\ntimeout idle 86400\ntimeout header 5\n"
	    "timeout drain 0\nlimit head 1024\nlimit headers 10000\n"
	    "limit connections 1\n");
	roundtrip("roundtrip escapes and continuation",
	    "state directory \"a \\\"quoted\\\" \\\\ dir\"\n"
	    "listen on 127.0.0.1 \\\n    port 8080\n"
	    "block host \"a.example\", \\\n  \"b.example\"\r\n");
	roundtrip("roundtrip interception keywords",
	    "listen on 127.0.0.1 port 8080\n"
	    "upstream ca-file \"/etc/x.pem\"\nupstream verify no\n"
	    "tls min-version 1.3\ntls ciphers \"HIGH:!aNULL:@SECLEVEL=2\"\n"
	    "tls-passthrough learn after 7 ttl 60 for all\n"
	    "events file \"ev.jsonl\"\nevents socket \"/run/ev.sock\"\n"
	    "capture bodies max 32 KiB\nstore keep 1 flow\n"
	    "store keep 3650 days\n");
	roundtrip("roundtrip tls-passthrough no",
	    "listen on 127.0.0.1 port 8080\ntls-passthrough no\n"
	    "capture bodies max 0 KiB\n");
	roundtrip("roundtrip tls-passthrough, one client",
	    "listen on 127.0.0.1 port 8080\n"
	    "tls-passthrough learn after 1\n");
	roundtrip("roundtrip admin token file",
	    "listen on 127.0.0.1 port 8080\n"
	    "admin listen on 127.0.0.1 port 8443\n"
	    "admin token file \"/etc/mitmd/a \\\"token\\\"\"\n");
	roundtrip("roundtrip relative paths",
	    "state directory \".state\"\nruntime directory \".state/run\"\n"
	    "listen on 127.0.0.1 port 8080\n");
}

static void
test_values(void)
{
	struct mitmd_conf c;
	struct conf_allow def[CONF_MAX_ALLOW];
	int		  rv;

	rv = parse("listen on 127.0.0.1 port 8080\n", &c);
	ok(rv == 0 && strcmp(c.mc_user, CONF_DEF_USER) == 0 &&
	    strcmp(c.mc_ca_user, CONF_DEF_CA_USER) == 0 &&
	    strcmp(c.mc_state_dir, CONF_DEF_STATE_DIR) == 0 &&
	    strcmp(c.mc_runtime_dir, CONF_DEF_RUNTIME_DIR) == 0 &&
	    c.mc_chroot[0] == '\0' &&
	    strcmp(c.mc_syslog, CONF_DEF_SYSLOG) == 0 &&
	    c.mc_workers_auto == 1 && c.mc_global.cg_workers == 0 &&
	    c.mc_global.cg_ca_key == CA_KEY_ECDSA_P256 &&
	    c.mc_global.cg_connect_tmo == CONF_DEF_CONNECT_TMO &&
	    c.mc_global.cg_idle_tmo == CONF_DEF_IDLE_TMO &&
	    c.mc_global.cg_header_tmo == CONF_DEF_HEADER_TMO &&
	    c.mc_global.cg_drain_tmo == CONF_DEF_DRAIN_TMO &&
	    c.mc_global.cg_max_head == CONF_DEF_MAX_HEAD &&
	    c.mc_global.cg_max_headers == CONF_DEF_MAX_HEADERS &&
	    c.mc_global.cg_max_conns == CONF_DEF_MAX_CONNS &&
	    c.mc_nallow == 0 && c.mc_nrules == 0 && c.mc_rules == NULL &&
	    strcmp(c.mc_file, "t.conf") == 0, "defaults");
	ok(rv == 0 && strcmp(c.mc_global.cg_ca_file, CONF_DEF_CA_FILE) == 0 &&
	    c.mc_global.cg_verify == 1 &&
	    c.mc_global.cg_tls_min == CONF_DEF_TLS_MIN &&
	    strcmp(c.mc_global.cg_ciphers, CONF_DEF_CIPHERS) == 0 &&
	    c.mc_global.cg_pt_after == CONF_DEF_PT_AFTER &&
	    c.mc_global.cg_pt_ttl == CONF_DEF_PT_TTL &&
	    c.mc_global.cg_pt_all == 0 &&
	    c.mc_global.cg_capture_max == CONF_DEF_CAPTURE_MAX &&
	    c.mc_global.cg_keep_flows == CONF_DEF_KEEP_FLOWS &&
	    c.mc_global.cg_keep_days == CONF_DEF_KEEP_DAYS &&
	    c.mc_events_file[0] == '\0' && c.mc_events_socket[0] == '\0',
	    "defaults of the interception settings");
	conf_free(&c);

	rv = parse("listen on 127.0.0.1 port 8080\n"
	    "upstream ca-file \"/u.pem\"\nupstream verify no\n"
	    "tls min-version 1.3\ntls ciphers \"A\"\n"
	    "tls-passthrough learn after 1000 for all ttl 2592000\n"
	    "events file \"/e\"\nevents socket \"/s\"\n"
	    "capture bodies max 32 KiB\nstore keep 100000000 flows\n"
	    "store keep 1 day\n", &c);
	ok(rv == 0 && strcmp(c.mc_global.cg_ca_file, "/u.pem") == 0 &&
	    c.mc_global.cg_verify == 0 && c.mc_global.cg_tls_min == 0x0304 &&
	    strcmp(c.mc_global.cg_ciphers, "A") == 0 &&
	    /* zeroed past the NUL: the struct is compared with memcmp */
	    c.mc_global.cg_ciphers[2] == '\0' &&
	    c.mc_global.cg_pt_after == 1000 && c.mc_global.cg_pt_all == 1 &&
	    c.mc_global.cg_pt_ttl == 2592000 &&
	    c.mc_global.cg_capture_max == CONF_CAPTURE_MAX_KIB &&
	    c.mc_global.cg_keep_flows == 100000000 &&
	    c.mc_global.cg_keep_days == 1 &&
	    strcmp(c.mc_events_file, "/e") == 0 &&
	    strcmp(c.mc_events_socket, "/s") == 0,
	    "interception settings: values");
	conf_free(&c);
	rv = parse("listen on 127.0.0.1 port 8080\ntls-passthrough no\n"
	    "tls min-version 1.2\nupstream verify yes\n", &c);
	ok(rv == 0 && c.mc_global.cg_pt_after == 0 &&
	    c.mc_global.cg_tls_min == 0x0303 && c.mc_global.cg_verify == 1,
	    "tls-passthrough no, tls 1.2, verify yes");
	conf_free(&c);

	rv = parse("# rules\n\nlisten on 127.0.0.1 port 8080\n"
	    "webui listen on ::1 port 8081\n"
	    "block host \"a\", \\\n \"*.b\"\ntunnel host \"c\"\n", &c);
	ok(rv == 0 && c.mc_nrules == 3 &&
	    c.mc_rules[0].cr_action == ACTION_BLOCK &&
	    c.mc_rules[0].cr_index == 1 && c.mc_rules[0].cr_line == 5 &&
	    c.mc_rules[1].cr_action == ACTION_BLOCK &&
	    c.mc_rules[1].cr_index == 2 && c.mc_rules[1].cr_line == 6 &&
	    c.mc_rules[1].cr_pat.hp_kind == HOSTPAT_SUFFIX &&
	    c.mc_rules[2].cr_action == ACTION_TUNNEL &&
	    c.mc_rules[2].cr_index == 3 && c.mc_rules[2].cr_line == 7,
	    "rules: order, index, line");
	ok(rv == 0 && c.mc_nlisteners == 2 &&
	    c.mc_listeners[0].cl_id == 0 &&
	    c.mc_listeners[0].cl_kind == LISTENER_PROXY &&
	    c.mc_listeners[0].cl_addr.a_family == AF_INET &&
	    c.mc_listeners[0].cl_addr.a_port == 8080 &&
	    c.mc_listeners[0].cl_line == 3 && c.mc_listeners[1].cl_id == 1 &&
	    c.mc_listeners[1].cl_kind == LISTENER_WEBUI &&
	    c.mc_listeners[1].cl_addr.a_family == AF_INET6 &&
	    c.mc_listeners[1].cl_addr.a_port == 8081 &&
	    c.mc_listeners[1].cl_line == 4, "listeners: kind, family, port, line");
	conf_free(&c);

	rv = parse("listen on * port 1\nallow from 10.1.0.0/16\n"
	    "allow from fe80::/10, 1.2.3.4\n", &c);
	ok(rv == 0 && c.mc_nallow == 3 && c.mc_allow[0].ca_line == 2 &&
	    c.mc_allow[2].ca_line == 3 &&
	    c.mc_allow[2].ca_cidr.c_prefix == 32, "allow from lines");
	conf_free(&c);

	ok(conf_default_allow(def, nitems(def)) == 7 &&
	    conf_default_allow(def, 2) == 2, "default ACL: 7 blocks, max");
	ok(strcmp(conf_action_str(ACTION_BLOCK), "block") == 0 &&
	    strcmp(conf_action_str(ACTION_TUNNEL), "tunnel") == 0 &&
	    strcmp(conf_action_str(ACTION_INTERCEPT), "intercept") == 0 &&
	    strcmp(conf_action_str(0), "unknown") == 0, "conf_action_str");
}

struct errcase {
	const char *ec_name;
	const char *ec_text;
	const char *ec_log; /* every record, in order */
};

static const struct errcase errcases[] = {
	{ "unknown keyword", "listen on * port 1\nfoo bar\n",
	    "t.conf:2: unknown keyword 'foo'\n" },
	{ "missing port", "listen on 127.0.0.1 port\n",
	    "t.conf:1: expected a port number after 'port', got end of line\n" },
	{ "several errors, parsing goes on",
	    "listen on 127.0.0.1 port 0\nworkers 65\n"
	    "listen on 127.0.0.1 port 1\nca key dsa\n"
	    "block host example.com\n",
	    "t.conf:1: port must be between 1 and 65535, got 0\n"
	    "t.conf:2: workers must be between 1 and 64, got 65\n"
	    "t.conf:4: expected 'ecdsa' or 'rsa' after 'key', got 'dsa'\n"
	    "t.conf:5: host patterns are quoted strings: write "
	    "\"example.com\"\n" },
	{ "no listener", "# nothing\nworkers 2\n",
	    "t.conf:2: no 'listen on' statement: mitmd needs at least one "
	    "proxy listener\n" },
	{ "duplicate listener", "listen on ::1 port 80\n"
	    "listen on 0::1 port 80\n",
	    "t.conf:2: listener ::1 port 80 is already defined on line 1\n" },
	{ "overlapping listener", "listen on 127.0.0.1 port 80\n"
	    "webui listen on * port 80\n",
	    "t.conf:2: listener 0.0.0.0 port 80 overlaps the one on line 1\n" },
	{ "two webui", "listen on * port 1\nwebui listen on * port 2\n"
	    "webui listen on * port 3\n",
	    "t.conf:3: 'webui listen on' is already set on line 2\n" },
	{ "setting twice", "listen on * port 1\nuser \"a\"\nuser \"b\"\n",
	    "t.conf:3: 'user' is already set on line 2\n" },
	{ "continued line, error on its second line",
	    "listen on * \\\n port x\n",
	    "t.conf:2: expected a port number after 'port', got 'x'\n" },
	{ "trailing token", "listen on * port 1 foo\n",
	    "t.conf:1: expected end of line, got 'foo'\n" },
	{ "unterminated string", "listen on * port 1\nuser \"abc\n",
	    "t.conf:2: unterminated string: a closing '\"' is missing on "
	    "this line\n" },
	{ "bad escape", "listen on * port 1\nchroot \"a\\n\"\n",
	    "t.conf:2: invalid escape in string: only \\\" and \\\\ are "
	    "allowed\n" },
	{ "empty string", "listen on * port 1\nstate directory \"\"\n",
	    "t.conf:2: state directory must not be empty\n" },
	{ "NUL in string", "listen on * port 1\nsyslog socket \"a\0b\"\n",
	    NULL /* see test_errors: strlen stops at the NUL */ },
	{ "bad host pattern", "listen on * port 1\ntunnel host \"a.*.b\"\n",
	    "t.conf:2: invalid host pattern \"a.*.b\": '*' may only stand "
	    "alone or begin the pattern as '*.'\n" },
	{ "duplicate host pattern", "listen on * port 1\n"
	    "block host \"*.A.com\"\ntunnel host \"*.a.com.\"\n",
	    "t.conf:3: host pattern \"*.a.com.\" is already used by the rule "
	    "on line 2\n" },
	{ "host bits", "listen on * port 1\nallow from 10.0.0.1/8\n",
	    "t.conf:2: '10.0.0.1/8' has bits set past its prefix: write "
	    "10.0.0.0/8\n" },
	{ "trailing comma", "listen on * port 1\nallow from 10.0.0.0/8,\n",
	    "t.conf:2: expected a CIDR block after ',', got end of line\n" },
	{ "same user twice", "listen on * port 1\nca user \"_mitmd\"\n",
	    "t.conf:2: 'ca user' must differ from 'user': only certd's user "
	    "may read the CA key\n" },
	{ "root user", "listen on * port 1\nuser \"root\"\n",
	    "t.conf:2: user name must not be root: the children would run "
	    "with every privilege\n" },
	{ "bad address", "listen on 10.0.0.256 port 1\n",
	    "t.conf:1: invalid address '10.0.0.256': expected an IPv4 or "
	    "IPv6 address, '*' or 'localhost'\n" },
	{ "stray backslash", "listen on * port 1 \\ \n",
	    "t.conf:1: a '\\' continues a statement only as the last "
	    "character of a line\n" },
	{ "timeout out of range", "listen on * port 1\ntimeout idle 86401\n",
	    "t.conf:2: timeout idle must be between 1 and 86400, got 86401\n" },
	{ "verify maybe", "listen on * port 1\nupstream verify maybe\n",
	    "t.conf:2: expected 'yes' or 'no' after 'verify', got 'maybe'\n" },
	{ "tls 1.1", "listen on * port 1\ntls min-version 1.1\n",
	    "t.conf:2: expected '1.2' or '1.3' after 'min-version', got "
	    "'1.1'\n" },
	{ "cipher list with a blank", "listen on * port 1\n"
	    "tls ciphers \"HIGH MEDIUM\"\n",
	    "t.conf:2: invalid character ' ' in tls ciphers: use OpenSSL "
	    "cipher names, ':', '+', '-', '!', '@' and '='\n" },
	{ "learn after 0", "listen on * port 1\n"
	    "tls-passthrough learn after 0\n",
	    "t.conf:2: tls-passthrough learn after must be between 1 and "
	    "1000, got 0\n" },
	{ "ttl over 30 days", "listen on * port 1\n"
	    "tls-passthrough learn after 2 ttl 2592001\n",
	    "t.conf:2: tls-passthrough ttl must be between 1 and 2592000, got "
	    "2592001\n" },
	{ "for all twice", "listen on * port 1\n"
	    "tls-passthrough learn after 2 for all ttl 5 for all\n",
	    "t.conf:2: 'for all' is given twice\n" },
	{ "passthrough twice", "listen on * port 1\ntls-passthrough no\n"
	    "tls-passthrough no\n",
	    "t.conf:3: 'tls-passthrough' is already set on line 2\n" },
	{ "two events files", "listen on * port 1\nevents file \"/a\"\n"
	    "events file \"/b\"\n",
	    "t.conf:3: 'events file' is already set on line 2\n" },
	{ "events socket is the file", "listen on * port 1\n"
	    "events file \"/a\"\nevents socket \"/a\"\n",
	    "t.conf:3: 'events socket' must differ from 'events file'\n" },
	{ "events socket is the control socket", "listen on * port 1\n"
	    "events socket \"/run/mitmd/mitmd.sock\"\n",
	    "t.conf:2: 'events socket' must differ from the control socket "
	    "/run/mitmd/mitmd.sock\n" },
	{ "capture past the limit", "listen on * port 1\n"
	    "capture bodies max 33 KiB\n",
	    "t.conf:2: capture bodies max must be between 0 and 32, got 33\n" },
	{ "capture without a unit", "listen on * port 1\n"
	    "capture bodies max 4\n",
	    "t.conf:2: expected 'KiB' after '4', got end of line\n" },
	{ "store keep 0 days", "listen on * port 1\nstore keep 0 days\n",
	    "t.conf:2: store keep days must be between 1 and 3650, got 0\n" },
	{ "store keep weeks", "listen on * port 1\nstore keep 2 weeks\n",
	    "t.conf:2: expected 'flows' or 'days' after '2', got 'weeks'\n" },
	{ "store keep flows twice", "listen on * port 1\n"
	    "store keep 5 flows\nstore keep 6 flow\n",
	    "t.conf:3: 'store keep flows' is already set on line 2\n" },
	{ "huge number", "listen on * port 99999999999999999999\n",
	    "t.conf:1: port must be between 1 and 65535, got "
	    "99999999999999999999\n" },
};

static void
test_errors(void)
{
	const struct errcase *ec;
	struct mitmd_conf     c;
	static const char     nul[] = "listen on * port 1\nsyslog socket "
	    "\"a\0b\"\n";
	size_t		      i;
	int		      rv;

	for (i = 0; i < nitems(errcases); i++) {
		ec = &errcases[i];
		if (ec->ec_log == NULL)
			continue;
		log_reset();
		rv = parse(ec->ec_text, &c);
		if (rv != -1 || strcmp(logbuf, ec->ec_log) != 0)
			printf("# want:\n%s# got:\n%s", ec->ec_log, logbuf);
		ok(rv == -1 && strcmp(logbuf, ec->ec_log) == 0 &&
		    c.mc_rules == NULL && c.mc_nrules == 0, ec->ec_name);
	}
	log_reset();
	rv = conf_parse_buf("t.conf", nul, sizeof(nul) - 1, &c);
	ok(rv == -1 && strcmp(logbuf, "t.conf:2: NUL byte in string\n") == 0,
	    "NUL byte in a string");
}

/* A file of garbage lines stops after a bounded number of messages. */
static void
test_error_flood(void)
{
	struct mitmd_conf c;
	char		  text[4096] = "";
	size_t		  i, lines = 0;

	for (i = 0; i < 100; i++)
		strcat(text, "bogus\n");
	log_reset();
	(void)parse(text, &c);
	for (i = 0; logbuf[i] != '\0'; i++)
		lines += logbuf[i] == '\n';
	ok(lines > 1 && lines < 100 && strstr(logbuf, "too many errors") !=
	    NULL, "error flood is cut short");
}

/* The count limits: CONF_MAX_RULES, CONF_MAX_LISTENERS, CONF_MAX_ALLOW. */
static void
test_limits(void)
{
	struct mitmd_conf c;
	char		 *text;
	size_t		  i, len, size = (CONF_MAX_RULES + 1) * 64;
	int		  rv;

	if ((text = malloc(size)) == NULL) {
		ok(0, "malloc");
		return;
	}
	len = (size_t)snprintf(text, size, "listen on * port 1\n");
	for (i = 0; i < CONF_MAX_RULES; i++)
		len += (size_t)snprintf(text + len, size - len,
		    "block host \"h%zu.example\"\n", i);
	rv = parse(text, &c);
	ok(rv == 0 && c.mc_nrules == CONF_MAX_RULES &&
	    c.mc_rules[CONF_MAX_RULES - 1].cr_index == CONF_MAX_RULES,
	    "1024 rules");
	conf_free(&c);
	snprintf(text + len, size - len, "tunnel host \"one.more\"\n");
	log_reset();
	ok(parse(text, &c) == -1 && strstr(logbuf, ":1026: too many host "
	    "rules (at most 1024)") != NULL, "rule 1025 refused");

	len = 0;
	for (i = 0; i <= CONF_MAX_LISTENERS; i++)
		len += (size_t)snprintf(text + len, size - len,
		    "listen on 127.0.0.1 port %zu\n", i + 1);
	log_reset();
	ok(parse(text, &c) == -1 && strcmp(logbuf, "t.conf:17: too many "
	    "listeners (at most 16)\n") == 0, "listener 17 refused");

	len = (size_t)snprintf(text, size, "listen on * port 1\nallow from "
	    "10.0.0.0/32");
	for (i = 1; i <= CONF_MAX_ALLOW; i++)
		len += (size_t)snprintf(text + len, size - len,
		    ", 10.0.%zu.%zu", i / 256, i % 256);
	log_reset();
	ok(parse(text, &c) == -1 && strcmp(logbuf, "t.conf:2: too many "
	    "'allow from' blocks (at most 256)\n") == 0,
	    "allow block 257 refused");
	free(text);
}

/* conf_warnings: what it logs for each risky setting, nothing otherwise. */
static void
test_warnings(void)
{
	struct mitmd_conf c;
	char		  text[512];

	log_reset();
	if (parse("listen on * port 1\nupstream verify no\n", &c) == 0)
		conf_warnings(&c);
	ok(strstr(logbuf, "WARNING: 'upstream verify no' in t.conf") != NULL &&
	    strstr(logbuf, "NOT verified") != NULL,
	    "warning: upstream verify no");
	conf_free(&c);

	log_reset();
	if (parse("listen on * port 1\n"
	    "upstream ca-file \"/nonexistent/ca.pem\"\n", &c) == 0)
		conf_warnings(&c);
	ok(strcmp(logbuf, "upstream ca-file /nonexistent/ca.pem: No such file "
	    "or directory: the workers cannot verify any upstream "
	    "certificate\n") == 0, "warning: missing upstream ca-file");
	conf_free(&c);

	log_reset();
	if (parse("listen on * port 1\ntls min-version 1.3\n"
	    "tls ciphers \"HIGH\"\nupstream ca-file \"/dev/null\"\n",
	    &c) == 0)
		conf_warnings(&c);
	ok(strstr(logbuf, "'tls ciphers' has no effect") != NULL &&
	    strchr(logbuf, '\n') == logbuf + strlen(logbuf) - 1,
	    "warning: tls ciphers with TLS 1.3 only");
	conf_free(&c);

	/* A readable ca-file and nothing risky: silence. */
	snprintf(text, sizeof(text), "listen on * port 1\ntls min-version "
	    "1.3\nupstream ca-file \"/dev/null\"\n");
	log_reset();
	if (parse(text, &c) == 0)
		conf_warnings(&c);
	ok(logbuf[0] == '\0', "no warning for a safe configuration");
	conf_free(&c);
}

static void
test_files(void)
{
	struct mitmd_conf c;
	char		  path[] = "/tmp/mitmd-parse-XXXXXX";
	const char	 *text = "listen on * port 1\n";
	char		 *big;
	FILE		 *f;
	int		  fd, rv;

	if ((fd = mkstemp(path)) == -1) {
		ok(0, "mkstemp");
		return;
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		unlink(path);
		ok(0, "write the config file");
		return;
	}
	close(fd);
	chmod(path, 0644);
	log_reset();
	rv = conf_parse_file(path, &c);
	ok(rv == 0 && strcmp(c.mc_file, path) == 0, "parse a file");
	conf_free(&c);

	chmod(path, 0666);
	log_reset();
	ok(conf_parse_file(path, &c) == -1 &&
	    strstr(logbuf, "writable by every user") != NULL,
	    "world-writable file refused");
	chmod(path, 0644);

	if ((big = malloc(2 * 1024 * 1024)) != NULL &&
	    (f = fopen(path, "w")) != NULL) {
		memset(big, '#', 2 * 1024 * 1024);
		fwrite(big, 1, 2 * 1024 * 1024, f);
		fclose(f);
		log_reset();
		ok(conf_parse_file(path, &c) == -1 &&
		    strstr(logbuf, "larger than 1048576 bytes") != NULL,
		    "file over the size limit refused");
	}
	free(big);
	unlink(path);
	log_reset();
	ok(conf_parse_file(path, &c) == -1 && strstr(logbuf, path) != NULL,
	    "missing file");
}

struct matchcase {
	const char *mc_pat;
	const char *mc_host;
	int	    mc_match;
};

static const struct matchcase matchcases[] = {
	{ "*", "anything.example", 1 },
	{ "*", "10.1.2.3", 1 },
	{ "example.com", "example.com", 1 },
	{ "example.com", "EXAMPLE.com.", 1 },
	{ "Example.COM.", "example.com", 1 },
	{ "example.com", "www.example.com", 0 },
	{ "example.com", "example.co", 0 },
	{ "example.com", "xexample.com", 0 },
	{ "*.apple.com", "a.apple.com", 1 },
	{ "*.apple.com", "a.b.APPLE.com.", 1 },
	{ "*.apple.com", "apple.com", 0 },
	{ "*.apple.com", "xapple.com", 0 },
	{ "*.apple.com", ".apple.com", 0 },
	{ "10.0.0.0/8", "10.200.0.1", 1 },
	{ "10.0.0.0/8", "11.0.0.1", 0 },
	{ "10.0.0.0/8", "::ffff:10.0.0.1", 1 },
	{ "10.0.0.0/8", "10.example", 0 },
	{ "2001:db8::/32", "2001:DB8::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "::1", "0::1", 1 },
	{ "0::1", "::1", 1 },
	{ "[::1]", "::1", 1 },
	{ "1.2.3.4", "1.2.3.4", 1 },
	{ "1.2.3.4", "::ffff:1.2.3.4", 1 },
	{ "1.2.3.4", "1.2.3.5", 0 },
	{ "1.2.3.4", "1.2.3.4.", 1 },
	{ "10.0.0.0/8", "10.0.0.1.", 1 },
	{ "*.3.4", "1.2.3.4.", 0 },
	{ "*.4", "1.2.3.4", 0 }, /* name patterns never match IPs */
	{ "*.example", "", 0 },
	{ "*", "", 1 },
};

static void
test_hostpat(void)
{
	static const char *const bad[] = {
		"", "a..b", ".a", "a b", "a.*", "*a.com", "**", "*.", "a/b",
		"10.0.0.1/8", "10.0.0.0/33", "a_b.c!", "..",
		/* a label of 64 characters */
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		".com"),
	};
	const struct matchcase *m;
	struct hostpat		hp;
	const char	       *errstr;
	char			name[128], s[HOSTPAT_MAXLEN + 1];
	char			longname[HOSTPAT_MAXLEN + 2];
	size_t			i;
	int			good = 1;

	for (i = 0; i < nitems(matchcases); i++) {
		m = &matchcases[i];
		snprintf(name, sizeof(name), "hostpat \"%s\" %s \"%s\"",
		    m->mc_pat, m->mc_match ? "matches" : "does not match",
		    m->mc_host);
		ok(hostpat_parse(m->mc_pat, &hp, &errstr) == 0 &&
		    hostpat_match(&hp, m->mc_host) == m->mc_match, name);
	}
	for (i = 0; i < nitems(bad); i++) {
		errstr = NULL;
		if (hostpat_parse(bad[i], &hp, &errstr) != -1 ||
		    errstr == NULL) {
			printf("# accepted \"%s\"\n", bad[i]);
			good = 0;
		}
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (i = 63; i < HOSTPAT_MAXLEN; i += 64)
		longname[i] = '.';
	good &= hostpat_parse(longname, &hp, &errstr) == -1;
	longname[HOSTPAT_MAXLEN] = '\0';
	good &= hostpat_parse(longname, &hp, &errstr) == 0;
	ok(good, "hostpat rejects bad patterns, takes 255 characters");

	ok(hostpat_parse("*.Example.ORG.", &hp, &errstr) == 0 &&
	    strcmp(hostpat_str(&hp, s, sizeof(s)), "*.example.org") == 0 &&
	    hostpat_parse("0:0::1", &hp, &errstr) == 0 &&
	    strcmp(hostpat_str(&hp, s, sizeof(s)), "::1") == 0 &&
	    hostpat_parse("192.168.0.0/16", &hp, &errstr) == 0 &&
	    strcmp(hostpat_str(&hp, s, sizeof(s)), "192.168.0.0/16") == 0 &&
	    hostpat_parse("*", &hp, &errstr) == 0 &&
	    strcmp(hostpat_str(&hp, s, sizeof(s)), "*") == 0,
	    "hostpat_str normalises");
}

static void
test_addr(void)
{
	struct sockaddr_storage ss;
	struct addr		a, b;
	struct cidr		c;
	char			s[ADDR_STRLEN];
	socklen_t		len;

	ok(addr_parse_ip("192.0.2.1", &a) == 0 && a.a_family == AF_INET &&
	    addr_parse_ip("2001:db8::1", &b) == 0 && b.a_family == AF_INET6 &&
	    addr_parse_ip("1.2.3", &a) == -1 &&
	    addr_parse_ip("0x7f.0.0.1", &a) == -1 &&
	    addr_parse_ip("[::1]", &a) == -1 &&
	    addr_parse_ip("example.com", &a) == -1 &&
	    addr_parse_ip("", &a) == -1, "addr_parse_ip");

	addr_parse_ip("2001:db8::1", &a);
	a.a_port = 443;
	ok(strcmp(addr_str(&a, 1, s, sizeof(s)), "[2001:db8::1]:443") == 0 &&
	    strcmp(addr_str(&a, 0, s, sizeof(s)), "2001:db8::1") == 0,
	    "addr_str v6");
	addr_parse_ip("192.0.2.1", &a);
	a.a_port = 80;
	ok(strcmp(addr_str(&a, 1, s, sizeof(s)), "192.0.2.1:80") == 0,
	    "addr_str v4");

	len = addr_to_sa(&a, &ss);
	ok(len == sizeof(struct sockaddr_in) &&
	    addr_from_sa(&b, (struct sockaddr *)&ss, len) == 0 &&
	    memcmp(&a, &b, sizeof(a)) == 0, "addr_to_sa/addr_from_sa v4");
	addr_parse_ip("fe80::1", &a);
	a.a_port = 65535;
	len = addr_to_sa(&a, &ss);
	ok(len == sizeof(struct sockaddr_in6) &&
	    addr_from_sa(&b, (struct sockaddr *)&ss, len) == 0 &&
	    memcmp(&a, &b, sizeof(a)) == 0 &&
	    addr_from_sa(&b, (struct sockaddr *)&ss, len - 1) == -1,
	    "addr_to_sa/addr_from_sa v6");

	ok(cidr_parse("10.0.0.0/8", &c) == 0 && c.c_prefix == 8 &&
	    cidr_parse("10.1.2.3", &c) == 0 && c.c_prefix == 32 &&
	    cidr_parse("::/0", &c) == 0 && c.c_prefix == 0 &&
	    cidr_parse("10.0.0.0/33", &c) == -1 &&
	    cidr_parse("::/129", &c) == -1 &&
	    cidr_parse("10.0.0.0/", &c) == -1 &&
	    cidr_parse("10.0.0.0/+8", &c) == -1 &&
	    cidr_parse("10.0.0.0/08", &c) == 0 &&
	    cidr_parse("/8", &c) == -1 &&
	    cidr_parse("10.0.0.0/8/8", &c) == -1, "cidr_parse");
	ok(cidr_parse("10.1.2.3/8", &c) == 0 &&
	    strcmp(cidr_str(&c, s, sizeof(s)), "10.0.0.0/8") == 0 &&
	    cidr_parse("2001:db8:ffff::/33", &c) == 0 &&
	    strcmp(cidr_str(&c, s, sizeof(s)), "2001:db8:8000::/33") == 0,
	    "cidr_parse clears host bits, cidr_str");

	cidr_parse("172.16.0.0/12", &c);
	addr_parse_ip("172.31.255.255", &a);
	addr_parse_ip("172.32.0.0", &b);
	ok(cidr_match(&c, &a) && !cidr_match(&c, &b), "cidr_match v4 edge");
	addr_parse_ip("::ffff:172.20.0.1", &a);
	ok(cidr_match(&c, &a), "v4-mapped v6 matches a v4 block");
	cidr_parse("::/0", &c);
	addr_parse_ip("8.8.8.8", &a);
	ok(cidr_match(&c, &a), "v4 address matches ::/0 as mapped");
	cidr_parse("fe80::/10", &c);
	addr_parse_ip("febf::1", &a);
	addr_parse_ip("fec0::1", &b);
	ok(cidr_match(&c, &a) && !cidr_match(&c, &b), "cidr_match v6 edge");
	cidr_parse("0.0.0.0/0", &c);
	addr_parse_ip("2001:db8::1", &a);
	ok(!cidr_match(&c, &a), "v6 address outside 0.0.0.0/0");
}

int
main(void)
{
	log_init("test", 0);
	log_set_sink(log_capture);

	test_roundtrips();
	test_values();
	test_errors();
	test_error_flood();
	test_warnings();
	test_limits();
	test_files();
	test_hostpat();
	test_addr();

	return (unit_done());
}
