/*
 * The sandbox every child enters, in this order (each step commented in
 * sandbox.c): chroot into an empty root-owned directory and chdir("/"),
 * setgroups/setresgid/setresuid and a check that root cannot be regained,
 * every capability cleared with libcap, PR_SET_DUMPABLE 0 when asked,
 * rlimits, PR_SET_NO_NEW_PRIVS, then a libseccomp allow-list whose default
 * action kills the process. Without root (a developer's run) the chroot and
 * uid steps are skipped and the rest still applies.
 */
#ifndef MITMD_SANDBOX_H
#define MITMD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* A syscall of an allow-list; arg0 restricts it when has_arg0 is set
 * (ioctl(FIONREAD), socket(AF_INET), ...). */
struct sandbox_call {
	int	      sc_nr;
	int	      sc_has_arg; /* 0, or 1 + the index of the argument */
	unsigned long sc_arg;
};
#define SC(name)		{ SCMP_SYS(name), 0, 0 }
#define SC_ARG(name, idx, val)	{ SCMP_SYS(name), (idx) + 1, (val) }

struct sandbox_opts {
	const char *so_chroot;	 /* NULL: no chroot */
	uid_t	    so_uid;	 /* changed when so_privdrop */
	gid_t	    so_gid;
	int	    so_privdrop;
	int	    so_dumpable; /* 0 for certd */
	int	    so_writes_files; /* webui: keep RLIMIT_FSIZE (the flow
				    * store, the events file) */
	unsigned long so_nofile; /* RLIMIT_NOFILE, 0 to keep */
	const struct sandbox_call *so_calls;
	size_t	    so_ncalls;
};

/*
 * The calls every child needs whatever its role (IPC, libevent, malloc,
 * logging, exit). Roles add their own.
 */
extern const struct sandbox_call sandbox_base_calls[];
extern const size_t sandbox_base_ncalls;

/* Chroot and drop privileges only (certd reads its CA in between). Returns
 * the SANDBOX_* steps done; fatal on a failed step. */
unsigned sandbox_drop(const struct sandbox_opts *);
/* Capabilities, dumpable, rlimits, NO_NEW_PRIVS and seccomp. */
unsigned sandbox_confine(const struct sandbox_opts *);

#endif
