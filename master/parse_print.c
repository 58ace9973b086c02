/*
 * The other half of master/parse.c: the normalised configuration that
 * `mitmd -nv` prints, the default client ACL, and freeing. conf_print
 * writes every setting, defaults included, one statement a line and one
 * host or CIDR block a line, so that parsing its output gives the same
 * struct mitmd_conf (line numbers aside) and printing that again gives the
 * same text. Settings whose default is "absent" (chroot, allow from, the
 * rule for unmatched hosts, the event sinks) are shown as comments,
 * because writing them out would change the struct they parse to.
 * conf_warnings is here too: it reads a parsed config and only logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/conf.h"

#define CONF_DEF_CHROOT_SUB "/empty" /* under the runtime directory */

/* The ranges of conf_default_allow: loopback, RFC 1918, ULA, link-local. */
static const char *const conf_default_cidrs[] = {
	"127.0.0.0/8",
	"::1/128",
	"10.0.0.0/8",
	"172.16.0.0/12",
	"192.168.0.0/16",
	"fc00::/7",
	"fe80::/10",
};

size_t
conf_default_allow(struct conf_allow *allow, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < nitems(conf_default_cidrs) && n < max; i++) {
		memset(&allow[n], 0, sizeof(allow[n]));
		if (cidr_parse(conf_default_cidrs[i], &allow[n].ca_cidr) == 0)
			n++;
	}
	return (n);
}

void
conf_free(struct mitmd_conf *c)
{
	free(c->mc_rules);
	c->mc_rules = NULL;
	c->mc_nrules = 0;
	free(c->mc_admin_cert_pem);
	free(c->mc_admin_key_pem);
	c->mc_admin_cert_pem = c->mc_admin_key_pem = NULL;
	c->mc_admin_cert_len = c->mc_admin_key_len = 0;
	explicit_bzero(c->mc_admin_token, sizeof(c->mc_admin_token));
}

/* A string in double quotes, escaped the way the tokenizer reads it. */
static void
print_quoted(FILE *f, const char *s, const char *suffix)
{
	putc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putc('\\', f);
		putc(*s, f);
	}
	fputs(suffix, f);
	putc('"', f);
}

static void
print_setting(FILE *f, const char *keyword, const char *value)
{
	fprintf(f, "%s ", keyword);
	print_quoted(f, value, "");
	putc('\n', f);
}

static void
print_listeners(FILE *f, const struct mitmd_conf *c)
{
	const struct conf_listener *l;
	char			    as[ADDR_STRLEN];
	size_t			    i;

	for (i = 0; i < c->mc_nlisteners; i++) {
		l = &c->mc_listeners[i];
		fprintf(f, "%slisten on %s port %u",
		    l->cl_kind == LISTENER_WEBUI ? "webui " :
		    l->cl_kind == LISTENER_ADMIN ? "admin " : "",
		    addr_str(&l->cl_addr, 0, as, sizeof(as)),
		    (unsigned)l->cl_addr.a_port);
		if (l->cl_kind == LISTENER_REVERSE)
			fprintf(f, strchr(l->cl_rhost, ':') != NULL ?
			    " reverse to https://[%s]:%u" :
			    " reverse to https://%s:%u", l->cl_rhost,
			    (unsigned)l->cl_rport);
		if (l->cl_kind == LISTENER_REVERSE && l->cl_rh2)
			fputs(" http2", f);
		putc('\n', f);
	}
}

/* The admin listener's settings, after the listeners. */
static void
print_admin(FILE *f, const struct mitmd_conf *c)
{
	char	 cs[ADDR_STRLEN];
	size_t	 i;
	int	 any = 0;

	for (i = 0; i < c->mc_nlisteners; i++)
		any |= c->mc_listeners[i].cl_kind == LISTENER_ADMIN;
	if (!any)
		return;
	for (i = 0; i < c->mc_nadmin_allow; i++)
		fprintf(f, "admin allow from %s\n", cidr_str(
		    &c->mc_admin_allow[i].ca_cidr, cs, sizeof(cs)));
	if (c->mc_nadmin_allow == 0)
		fprintf(f, "# admin allow from 127.0.0.0/8, ::1/128 (the "
		    "default: loopback)\n");
	if (c->mc_admin_cert[0] != '\0') {
		fputs("admin certificate ", f);
		print_quoted(f, c->mc_admin_cert, "");
		fputs(" key ", f);
		print_quoted(f, c->mc_admin_key, "");
		putc('\n', f);
	} else
		fprintf(f, "# admin certificate from certd (the default)\n");
	if (c->mc_admin_token_file[0] != '\0')
		print_setting(f, "admin token file", c->mc_admin_token_file);
	else
		fprintf(f, "# admin token file: none, admin.token in the state "
		    "directory (the default)\n");
}

static void
print_allow(FILE *f, const struct mitmd_conf *c)
{
	struct conf_allow def[nitems(conf_default_cidrs)];
	char		  cs[ADDR_STRLEN];
	size_t		  i, n;

	if (c->mc_nallow > 0) {
		for (i = 0; i < c->mc_nallow; i++)
			fprintf(f, "allow from %s\n", cidr_str(
			    &c->mc_allow[i].ca_cidr, cs, sizeof(cs)));
		return;
	}
	n = conf_default_allow(def, nitems(def));
	for (i = 0; i < n; i++)
		fprintf(f, "# allow from %s (the default)\n",
		    cidr_str(&def[i].ca_cidr, cs, sizeof(cs)));
}

static void
print_rules(FILE *f, const struct mitmd_conf *c)
{
	const struct conf_rule *r;
	char			pat[HOSTPAT_MAXLEN + 1];
	size_t			i;
	int			any = 0;

	for (i = 0; i < c->mc_nrules; i++) {
		r = &c->mc_rules[i];
		fprintf(f, "%s host ", conf_action_str(r->cr_action));
		print_quoted(f, hostpat_str(&r->cr_pat, pat, sizeof(pat)), "");
		putc('\n', f);
		if (r->cr_pat.hp_kind == HOSTPAT_ANY)
			any = 1;
	}
	if (!any)
		fprintf(f, "# intercept host \"*\" (the default for any "
		    "other host)\n");
}

static void
print_tls(FILE *f, const struct mitmd_conf *c)
{
	const struct conf_global *g = &c->mc_global;

	print_setting(f, "upstream ca-file", g->cg_ca_file);
	fprintf(f, "upstream verify %s\n", g->cg_verify ? "yes" : "no");
	fprintf(f, "tls min-version %s\n",
	    g->cg_tls_min == CONF_TLS_1_3 ? "1.3" : "1.2");
	print_setting(f, "tls ciphers", g->cg_ciphers);
	if (g->cg_pt_after == 0) {
		fprintf(f, "tls-passthrough no\n");
		return;
	}
	fprintf(f, "tls-passthrough learn after %u%s ttl %u\n",
	    g->cg_pt_after, g->cg_pt_all ? " for all" : "", g->cg_pt_ttl);
}

/* The sinks have no default: an absent one is a comment. */
static void
print_events(FILE *f, const struct mitmd_conf *c)
{
	if (c->mc_events_file[0] != '\0')
		print_setting(f, "events file", c->mc_events_file);
	else
		fputs("# no events file (the default)\n", f);
	if (c->mc_events_socket[0] != '\0')
		print_setting(f, "events socket", c->mc_events_socket);
	else
		fputs("# no events socket (the default)\n", f);
}

void
conf_print(FILE *f, const struct mitmd_conf *c)
{
	const struct conf_global *g = &c->mc_global;

	print_setting(f, "user", c->mc_user);
	print_setting(f, "ca user", c->mc_ca_user);
	fprintf(f, "ca key %s\n",
	    g->cg_ca_key == CA_KEY_RSA_3072 ? "rsa" : "ecdsa");
	print_setting(f, "state directory", c->mc_state_dir);
	print_setting(f, "runtime directory", c->mc_runtime_dir);
	if (c->mc_chroot[0] != '\0')
		print_setting(f, "chroot", c->mc_chroot);
	else {
		fputs("# chroot ", f);
		print_quoted(f, c->mc_runtime_dir, CONF_DEF_CHROOT_SUB);
		fputs(" (the default)\n", f);
	}
	print_setting(f, "syslog socket", c->mc_syslog);
	if (c->mc_workers_auto)
		fprintf(f, "workers auto\n");
	else
		fprintf(f, "workers %u\n", g->cg_workers);
	print_listeners(f, c);
	print_admin(f, c);
	print_allow(f, c);
	print_rules(f, c);
	fprintf(f, "timeout connect %u\n", g->cg_connect_tmo);
	fprintf(f, "timeout idle %u\n", g->cg_idle_tmo);
	fprintf(f, "timeout header %u\n", g->cg_header_tmo);
	fprintf(f, "timeout drain %u\n", g->cg_drain_tmo);
	fprintf(f, "limit head %u\n", g->cg_max_head);
	fprintf(f, "limit headers %u\n", g->cg_max_headers);
	fprintf(f, "limit connections %u\n", g->cg_max_conns);
	print_tls(f, c);
	print_events(f, c);
	fprintf(f, "capture bodies max %u KiB\n", g->cg_capture_max);
	fprintf(f, "http2 %s\n", g->cg_http2 ? "yes" : "no");
	fprintf(f, "http2 max-concurrent-streams %u\n", g->cg_h2_streams);
	fprintf(f, "http2 max-header-list-size %u\n", g->cg_h2_header_list);
	if (g->cg_keep_flows == 0 && g->cg_keep_days == 0)
		fprintf(f, "store off\n");
	else {
		fprintf(f, "store keep %u flows\n", g->cg_keep_flows);
		fprintf(f, "store keep %u days\n", g->cg_keep_days);
	}
}

/*
 * Warnings about a configuration that parses but weakens mitmd. They go
 * wherever the log goes at the time: stderr for -n, syslog once running.
 */
void
conf_warnings(const struct mitmd_conf *c)
{
	const struct conf_global *g = &c->mc_global;

	if (!g->cg_verify)
		log_warnx("WARNING: 'upstream verify no' in %s: upstream "
		    "certificates are NOT verified. Anyone on the path to a "
		    "server can impersonate it, and the clients of this proxy "
		    "cannot tell: they only see mitmd's certificate. Use this "
		    "in a lab only.", c->mc_file);
	else if (access(g->cg_ca_file, R_OK) == -1)
		log_warnx("upstream ca-file %s: %s: the workers cannot verify "
		    "any upstream certificate", g->cg_ca_file,
		    strerror(errno));
	if (g->cg_tls_min == CONF_TLS_1_3 &&
	    strcmp(g->cg_ciphers, CONF_DEF_CIPHERS) != 0)
		log_warnx("'tls ciphers' has no effect with 'tls min-version "
		    "1.3': it lists TLS 1.2 ciphers, and TLS 1.3 uses "
		    "OpenSSL's suites");
}
