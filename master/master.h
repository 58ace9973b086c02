/*
 * master's internal interfaces: the process table (proc.c), system setup
 * (setup.c: users, directories, listening sockets), the syslog and
 * sd_notify writers (syslog.c) and the control socket (control.c).
 */
#ifndef MITMD_MASTER_H
#define MITMD_MASTER_H

#include <sys/types.h>

#include "common/ipc.h"
#include "master/conf.h"

#define MASTER_MAX_PROCS	 (CONF_MAX_WORKERS + 4)
#define MASTER_BACKOFF_MIN_MS	 100	/* first respawn delay */
#define MASTER_BACKOFF_MAX_MS	 30000
#define MASTER_STABLE_SEC	 60	/* a child up this long resets backoff */
#define MASTER_STATUS_SEC	 1	/* how often children report counters */
#define MASTER_WEBSTAT_SEC	 2	/* how often webui gets the status */
#define MASTER_KILL_GRACE_SEC	 2	/* after the drain timeout */
#define MASTER_TICKET_ROTATE_SEC 3600	/* new session ticket keys */

struct event_base;
struct event;

struct proc {
	enum role	 p_role;
	uint32_t	 p_index;
	pid_t		 p_pid;	    /* 0 when not running */
	uint32_t	 p_state;   /* enum proc_state */
	uint32_t	 p_sandbox; /* from READY */
	uid_t		 p_uid;
	uint32_t	 p_restarts;
	uint32_t	 p_backoff_ms;
	uint64_t	 p_start_wall;
	uint64_t	 p_start_mono;
	struct ipc_chan	*p_chan;
	struct event	*p_respawn;
	struct ipc_status p_status;
};

struct master {
	struct event_base *m_base;
	struct mitmd_conf *m_conf;
	const char	*m_conffile;
	int		 m_privileged;	/* running as root */
	int		 m_debug;	/* -d: stderr */
	int		 m_verbose;
	int		 m_stopping;
	int		 m_ready_sent;
	uid_t		 m_uid, m_ca_uid;
	gid_t		 m_gid, m_ca_gid;
	char		 m_chroot[CONF_PATH_MAX];
	char		 m_store_dir[CONF_PATH_MAX]; /* webui's chroot */
	char		 m_ctlpath[CONF_PATH_MAX];
	int		 m_listen_fd[CONF_MAX_LISTENERS];
	struct proc	 m_procs[MASTER_MAX_PROCS];
	size_t		 m_nprocs;
	char		*m_ca_pem;	/* the certificate only, from certd */
	size_t		 m_ca_pem_len;
	uint64_t	 m_start_wall;
};

extern struct master *master;

/* ticket.c: the workers' session ticket keys */
void	ticket_init(void);
const struct ticket_keys *ticket_keys(void);

/* proc.c */
void	proc_init_table(void);
void	proc_start_all(void);
void	proc_reap(void);
void	proc_send_conf_all(void);
void	proc_shutdown_all(void);
void	proc_kill_all(void);
size_t	proc_running(void);
void	proc_status_poll(void);
struct proc *proc_find_role(enum role);
int	proc_alive(const struct proc *);
/* Send to every running child of a role (workers: every worker). */
void	proc_broadcast(enum role, uint32_t type, const void *, size_t);

/* tlsstat.c: TLS failure counters per host and the learned passthrough
 * table; workers report, master decides and tells every worker. */
void	tlsstat_on_fail(struct proc *, struct ipc_msg *);
void	tlsstat_sync_worker(struct ipc_chan *);
void	tlsstat_ctl_hoststats(struct ipc_chan *, uint32_t reqid);
void	tlsstat_ctl_list(struct ipc_chan *, uint32_t reqid);
void	tlsstat_ctl_clear(struct ipc_chan *, uint32_t reqid);
void	tlsstat_totals(uint64_t *fail, size_t nfail, uint32_t *npt);

/* webstat.c */
void	webstat_init(void);

/* sink.c: the event sinks webui writes (files and sockets master opens). */
void	sink_open_all(void);
void	sink_send(struct ipc_chan *);

/* setup.c */
void	setup_paths(struct mitmd_conf *);
void	setup_rlimits(void);
void	setup_users(void);
void	setup_dirs(void);
int	setup_open_ca_dir(void);
void	setup_listeners(void);
void	setup_close_listeners(void);

/* syslog.c */
void	msyslog_init(const char *path, int to_stderr);
void	msyslog_write(int prio, uint32_t flags, const char *who,
	    const char *msg);
void	msyslog_sink(int prio, uint32_t flags, const char *msg);
void	msyslog_close(void);
void	notify_send(const char *state);

/* kmsg.c */
void	kmsg_open(void);
/* "syscall 101 (ptrace)" for a child the seccomp filter killed, from the
 * kernel's audit record; "syscall unknown (...)" and -1 when it is not
 * there (yet). */
int	kmsg_syscall(pid_t, char *, size_t);
/* Log a SIGSYS death with its syscall, waiting briefly for the record. */
void	kmsg_log_sigsys(struct event_base *, pid_t, const char *label);

/* control.c */
void	control_init(void);
void	control_close(void);
struct ctl_proc;
/* One process's line of mitmctl status and of the status page. */
void	control_master_info(struct ctl_proc *);
void	control_proc_info(const struct proc *, struct ctl_proc *);

/* main.c */
int	master_reload(char *errbuf, size_t);
void	master_stop(void);

#endif
