/*
 * mitmctl's commands past the control socket: the flow store (read-only),
 * the events socket, the CA certificate and the admin token of the
 * state directory. Each runs in mitmctl alone (master/mitmctl.c); none
 * talks to the master.
 */
#ifndef MITMD_MASTER_CTL_H
#define MITMD_MASTER_CTL_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "common/conf.h"

#define CTL_EXIT_FAIL	1
#define CTL_EXIT_USAGE	2

struct ctl_env {
	char	ce_state_dir[CONF_PATH_MAX];
	char	ce_events_socket[CONF_PATH_MAX]; /* "": none configured */
	char	ce_admin_token_file[CONF_PATH_MAX]; /* "": admin.token */
	int	ce_have_conf;	/* -f: events socket known */
	int	ce_json;
};

/* ctl_util.c */
sqlite3	*ctl_store_open(const struct ctl_env *);
void	 ctl_sql_fail(sqlite3 *, const char *what)
	    __attribute__((noreturn));
void __attribute__((noreturn, format(printf, 1, 2)))
	 ctl_usage_err(const char *, ...);
void __attribute__((noreturn, format(printf, 1, 2)))
	 ctl_fail(const char *, ...);
FILE	*ctl_output(const char *path);		/* NULL: stdout */
void	 ctl_output_close(FILE *, const char *path);

/* ctl_flows.c: "flows ..."; the rendering is common/flowr.c's */
int	 ctl_flows(struct ctl_env *, int argc, char *argv[]);
/* ctl_ca.c: "ca show", "ca export FORMAT" */
int	 ctl_ca(struct ctl_env *, int argc, char *argv[]);
/* "token" */
int	 ctl_token(struct ctl_env *, int argc, char *argv[]);

#endif
