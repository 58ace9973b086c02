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
	int	ce_have_conf;	/* -f: events socket known */
	int	ce_json;
};

/* ctl_util.c */
void	 ctl_json_str(FILE *, const char *);	/* NULL: null */
void	 ctl_json_bytes(FILE *, const unsigned char *, size_t);
void	 ctl_json_row(FILE *, sqlite3_stmt *);	/* one row as an object */
sqlite3	*ctl_store_open(const struct ctl_env *);
void	 ctl_sql_fail(sqlite3 *, const char *what)
	    __attribute__((noreturn));
double	 ctl_ts_ms(const char *a, const char *b);
void __attribute__((noreturn, format(printf, 1, 2)))
	 ctl_usage_err(const char *, ...);
void __attribute__((noreturn, format(printf, 1, 2)))
	 ctl_fail(const char *, ...);
FILE	*ctl_output(const char *path);		/* NULL: stdout */
void	 ctl_output_close(FILE *, const char *path);

/* ctl_flows.c: "flows ..."; the exchanges of flow ?1, one a row */
extern const char ctl_exchange_sql[];
int	 ctl_flows(struct ctl_env *, int argc, char *argv[]);
/* ctl_har.c */
int	 ctl_har(sqlite3 *, const int64_t *ids, size_t n, FILE *);
/* ctl_ca.c: "ca show", "ca export FORMAT" */
int	 ctl_ca(struct ctl_env *, int argc, char *argv[]);
/* "token" */
int	 ctl_token(struct ctl_env *, int argc, char *argv[]);

#endif
