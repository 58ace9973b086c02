/*
 * Entering the sandbox (see sandbox.h for the order). Called by each child
 * once, before its event loop runs; every failure here is fatal, because a
 * child that runs half-sandboxed is worse than one that does not run.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proto.h"
#include "common/sandbox.h"
#include "common/util.h"

const struct sandbox_call sandbox_base_calls[] = {
	/* IPC with master and peers, libevent's loop and signal socket */
	SC(read), SC(write), SC(readv), SC(writev), SC(close), SC(fcntl),
	SC(recvmsg), SC(sendmsg), SC(recvfrom), SC(sendto),
	SC(epoll_wait), SC(epoll_pwait), SC(epoll_ctl), SC(poll),
	SC_ARG(ioctl, 1, FIONREAD),
	/* memory */
	SC(brk), SC(mmap), SC(munmap), SC(mremap), SC(madvise), SC(mprotect),
	/* time, identity, randomness (OpenSSL breaks silently without it) */
	SC(clock_gettime), SC(gettimeofday), SC(time), SC(getpid), SC(gettid),
	SC(getrandom), SC(newfstatat), SC(fstat),
	/* signals delivered through libevent, exit */
	SC(rt_sigreturn), SC(rt_sigprocmask), SC(futex),
	SC(exit), SC(exit_group),
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's exit path takes down its alternate signal stack; never
	 * in a release build */
	SC(sigaltstack),
#endif
};
const size_t sandbox_base_ncalls = nitems(sandbox_base_calls);

/* Drop every capability from the bounding set while we still may. */
static void
sandbox_drop_bounding(void)
{
	cap_value_t v;

	for (v = 0; v <= CAP_LAST_CAP; v++)
		if (cap_drop_bound(v) == -1 && errno != EINVAL)
			fatal("cap_drop_bound(%d)", (int)v);
}

static void
sandbox_setids(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* Supplementary groups first: after setresuid we could not. */
	if (setgroups(0, NULL) == -1)
		fatal("setgroups");
	if (getgroups(0, NULL) != 0)
		fatalx("supplementary groups still set after setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid(%u)", (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid(%u)", (unsigned)uid);
	/* Verify: every id changed, and root cannot be regained. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("getresuid");
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid)
		fatalx("uid or gid did not change");
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		fatalx("root could be regained after dropping privileges");
}

unsigned
sandbox_drop(const struct sandbox_opts *so)
{
	unsigned done = 0;

	if (!so->so_privdrop)
		return 0;
	/* chroot into an empty root-owned directory: no file to open. */
	if (so->so_chroot != NULL && so->so_chroot[0] != '\0') {
		if (chroot(so->so_chroot) == -1)
			fatal("chroot(%s)", so->so_chroot);
		if (chdir("/") == -1)
			fatal("chdir(/)");
		done |= SANDBOX_CHROOT;
	}
	sandbox_drop_bounding();
	sandbox_setids(so->so_uid, so->so_gid);
	return done | SANDBOX_UID;
}

static void
sandbox_clear_caps(void)
{
	cap_t caps;

	if ((caps = cap_init()) == NULL)
		fatal("cap_init");
	if (cap_set_proc(caps) == -1)
		fatal("cap_set_proc");
	cap_free(caps);
	if (cap_reset_ambient() == -1 && errno != EINVAL)
		fatal("cap_reset_ambient");
	/* Verify: nothing effective or permitted is left. */
	if ((caps = cap_get_proc()) == NULL)
		fatal("cap_get_proc");
	{
		cap_t empty = cap_init();

		if (empty == NULL || cap_compare(caps, empty) != 0)
			fatalx("capabilities remain after clearing");
		cap_free(empty);
	}
	cap_free(caps);
}

static void
sandbox_limits(const struct sandbox_opts *so)
{
	struct rlimit rl;

	if (so->so_nofile != 0) {
		rl.rlim_cur = rl.rlim_max = so->so_nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %lu)",
			    so->so_nofile);
	}
	/* No child dumps core, and none but webui (its store and the
	 * events file master opened for it) writes files after this. */
	rl.rlim_cur = rl.rlim_max = 0;
	if ((!so->so_writes_files && setrlimit(RLIMIT_FSIZE, &rl) == -1) ||
	    setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit");
}

static int
sandbox_add(scmp_filter_ctx ctx, const struct sandbox_call *c)
{
	if (c->sc_nr < 0) /* not on this architecture */
		return 0;
	if (c->sc_has_arg == 0)
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, c->sc_nr, 0);
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, c->sc_nr, 1,
	    SCMP_CMP((unsigned)(c->sc_has_arg - 1), SCMP_CMP_EQ, c->sc_arg));
}

static void
sandbox_seccomp(const struct sandbox_opts *so)
{
	scmp_filter_ctx ctx;
	size_t		i;
	int		rv;

	/* Anything not listed kills the whole process. */
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init failed");
	for (i = 0; i < sandbox_base_ncalls; i++)
		if ((rv = sandbox_add(ctx, &sandbox_base_calls[i])) < 0)
			fatalx("seccomp base rule %zu: %s", i, strerror(-rv));
	for (i = 0; i < so->so_ncalls; i++)
		if ((rv = sandbox_add(ctx, &so->so_calls[i])) < 0)
			fatalx("seccomp rule %zu: %s", i, strerror(-rv));
	if ((rv = seccomp_load(ctx)) < 0)
		fatalx("seccomp_load: %s", strerror(-rv));
	seccomp_release(ctx);
}

unsigned
sandbox_confine(const struct sandbox_opts *so)
{
	sandbox_clear_caps();
	if (!so->so_dumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	sandbox_limits(so);
	/* No exec may ever gain privileges again. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	sandbox_seccomp(so);
	return SANDBOX_CAPS | SANDBOX_NNP | SANDBOX_SECCOMP;
}
