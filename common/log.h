/*
 * Logging for every process. Children hand each record to master over IPC
 * (log_set_ipc); master alone writes syslog (master/syslog.c installs its
 * sink with log_set_sink). Before a sink exists, records go to stderr.
 * Audit records (connection decisions, closed connections) carry
 * LOG_F_AUDIT so master can tag them.
 */
#ifndef MITMD_LOG_H
#define MITMD_LOG_H

#include <stdint.h>
#include <syslog.h>

struct ipc_chan;

typedef void log_sink_fn(int prio, uint32_t flags, const char *msg);

void	log_init(const char *procname, int verbose);
void	log_set_sink(log_sink_fn *);
/* A sink that drops every record: fuzz targets and quiet unit tests. */
log_sink_fn log_discard;
/* Children: send records to master on this channel. */
void	log_set_ipc(struct ipc_chan *);
/* Children before the channel exists: the bare fd to master. */
void	log_set_ipc_fd(int);
int	log_verbose(void);
const char *log_procname(void);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* One audit line: "audit: " is not prepended; the caller writes
 * key=value pairs. */
void	log_audit(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Setup errors and broken invariants only: log and exit(1). */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
