/*
 * master's view of the configuration: what mitmd.conf says, parsed by
 * master/parse.c. Children never see this struct; they get the pieces in
 * common/conf.h over IPC.
 */
#ifndef MITMD_MASTER_CONF_H
#define MITMD_MASTER_CONF_H

#include <stdio.h>

#include "common/conf.h"

/* The protocol versions of "tls min-version", as OpenSSL numbers them. */
#define CONF_TLS_1_2	0x0303
#define CONF_TLS_1_3	0x0304
/* The control socket's name in the runtime directory. */
#define CONF_CTL_SOCK_NAME "mitmd.sock"

struct mitmd_conf {
	char	mc_file[CONF_PATH_MAX];	      /* as given with -f */
	char	mc_user[CONF_NAME_MAX];	      /* "user" */
	char	mc_ca_user[CONF_NAME_MAX];    /* "ca user" */
	char	mc_state_dir[CONF_PATH_MAX];  /* "state directory" */
	char	mc_runtime_dir[CONF_PATH_MAX];/* "runtime directory" */
	char	mc_chroot[CONF_PATH_MAX];     /* "chroot"; "" = runtime/empty */
	char	mc_syslog[CONF_PATH_MAX];     /* "syslog socket" */
	int	mc_workers_auto;	      /* "workers auto" */
	struct conf_global mc_global;	      /* cg_workers 0 when auto */
	struct conf_listener mc_listeners[CONF_MAX_LISTENERS];
	size_t	mc_nlisteners;
	struct conf_allow mc_allow[CONF_MAX_ALLOW];
	size_t	mc_nallow;		      /* 0: the default ranges apply */
	struct conf_rule *mc_rules;	      /* heap, CONF_MAX_RULES at most */
	size_t	mc_nrules;
	/* issue 3: the event sinks master opens for webui (master/sink.c);
	 * "" when not configured. Changing them takes a restart. */
	char	mc_events_file[CONF_PATH_MAX];	 /* "events file" */
	char	mc_events_socket[CONF_PATH_MAX]; /* "events socket" */
	/* issue 6: the admin listener ("admin ..."); its listener is in
	 * mc_listeners, kind LISTENER_ADMIN */
	struct conf_allow mc_admin_allow[CONF_ADMIN_ALLOW_MAX];
	size_t	mc_nadmin_allow;	/* 0: loopback alone */
	char	mc_admin_cert[CONF_PATH_MAX];	/* "": a leaf from certd */
	char	mc_admin_key[CONF_PATH_MAX];
	int	mc_admin_cert_line;
	/* their contents, read by conf_admin_load (heap, conf_free) */
	char	*mc_admin_cert_pem;
	size_t	 mc_admin_cert_len;
	char	*mc_admin_key_pem;
	size_t	 mc_admin_key_len;
	/* "admin token file": "" for the state directory's admin.token;
	 * the token itself as conf_admin_load read it, "" until then */
	char	mc_admin_token_file[CONF_PATH_MAX];
	int	mc_admin_token_line;
	char	mc_admin_token[CONF_ADMIN_TOKEN_MAX + 1];
};

/* Parse a file; errors are logged as "file:line: message" with log_warnx.
 * 0 on success, -1 if any error (conf is then freed). */
int	conf_parse_file(const char *path, struct mitmd_conf *);
/* The same on a buffer, name used in messages (fuzz target, tests). */
int	conf_parse_buf(const char *name, const char *buf, size_t len,
	    struct mitmd_conf *);
/* The normalised form of `mitmd -nv`; it parses back to the same. */
void	conf_print(FILE *, const struct mitmd_conf *);
void	conf_free(struct mitmd_conf *);
/* The same listeners, in the same order; their lines may differ. */
int	conf_listeners_same(const struct mitmd_conf *,
	    const struct mitmd_conf *);
/* The ACL used when the config has no "allow from" line: loopback and the
 * private ranges. Fills up to max entries, returns the count. */
size_t	conf_default_allow(struct conf_allow *, size_t max);
/* Log what a configuration makes unsafe or useless ("upstream verify no"
 * as a loud WARNING). Master calls it at start, after each reload and
 * for -n; it only logs. */
void	conf_warnings(const struct mitmd_conf *);
/* master/admin.c: read "admin certificate" and "key", and the "admin
 * token file"; -1 with a logged "file:line: admin certificate "PATH":
 * reason" when one cannot be read, holds no PEM of its kind, or (the
 * token) is not a file only its owner may use holding one token. */
int	conf_admin_load(struct mitmd_conf *);

#endif
