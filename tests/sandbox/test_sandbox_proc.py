"""What /proc says about every child of a root-started mitmd: its own
unprivileged uid (certd another one), no supplementary groups, no
capabilities, NO_NEW_PRIVS, seccomp filter mode, chrooted into the empty
directory; and the test-only trigger exists only in test builds."""

import os
import pwd
import signal

import pytest

from pylib import mitmd as mitmd_mod
from pylib import util

CAP_FIELDS = ("CapEff", "CapPrm", "CapInh", "CapAmb")


@pytest.fixture(scope="module")
def m(build):
    if os.geteuid() != 0:
        pytest.skip("the full sandbox needs root")
    inst = mitmd_mod.Mitmd(rules=['tunnel host "127.0.0.1"'])
    inst.wait_children()
    yield inst
    try:
        inst.close()
    finally:
        inst.cleanup()


def _ids(line):
    return [int(x) for x in line.split()]


def test_every_role_runs(m):
    b = m.by_role()
    assert len(b["acceptor"]) == len(b["certd"]) == len(b["webui"]) == 1
    assert len(b["tlsworker"]) == m.workers


def test_uids_and_groups(m):
    worker_user = pwd.getpwnam("_mitmd")
    ca_user = pwd.getpwnam("_mitmd-ca")
    assert worker_user.pw_uid != ca_user.pw_uid
    for pid, role in m.children().items():
        st = util.proc_status(pid)
        want = ca_user if role == "certd" else worker_user
        assert _ids(st["Uid"]) == [want.pw_uid] * 4, (role, st["Uid"])
        assert _ids(st["Gid"]) == [want.pw_gid] * 4, (role, st["Gid"])
        assert st["Groups"] == "", (role, st["Groups"])
        assert want.pw_uid != 0


def test_certd_uid_differs(m):
    b = m.by_role()
    certd_uid = _ids(util.proc_status(b["certd"][0])["Uid"])[0]
    for role in ("acceptor", "tlsworker", "webui"):
        for pid in b[role]:
            assert _ids(util.proc_status(pid)["Uid"])[0] != certd_uid


def test_no_capabilities_nnp_seccomp(m):
    for pid, role in m.children().items():
        st = util.proc_status(pid)
        for f in CAP_FIELDS:
            assert int(st[f], 16) == 0, (role, f, st[f])
        # libcap's bounding-set drop: not even a setuid binary could
        # give one back (NO_NEW_PRIVS stops that anyway).
        assert int(st["CapBnd"], 16) == 0, (role, "CapBnd", st["CapBnd"])
        assert st["NoNewPrivs"] == "1", role
        assert st["Seccomp"] == "2", role


def test_chroot(m):
    """Every child but webui is chrooted in the empty root-owned
    directory; webui in the flow store's directory, which holds nothing
    but the store and belongs to its user alone."""
    empty = os.path.realpath(m.chroot)
    assert os.listdir(empty) == []
    s = os.stat(empty)
    assert s.st_uid == 0 and (s.st_mode & 0o022) == 0
    store = os.path.realpath(os.path.join(m.state_dir, "store"))
    for pid, role in m.children().items():
        want = store if role == "webui" else empty
        assert os.readlink(f"/proc/{pid}/root") == want, role
        assert os.readlink(f"/proc/{pid}/cwd") == want, role
        if role == "webui":
            st = os.stat(store)
            assert (st.st_mode & 0o777) == 0o700
            assert st.st_uid == int(util.proc_status(pid)["Uid"].split()[0])


def test_not_dumpable_certd(m):
    """certd is not dumpable: its /proc files (mem, environ) are root's,
    not its own user's, so no process of that uid can read its memory."""
    pid = m.pids("certd")[0]
    for f in ("mem", "environ", "status"):
        assert os.stat(f"/proc/{pid}/{f}").st_uid == 0, f


def test_only_channel_fds(m):
    """Nothing of master's leaks into a child: past stdio, no file is
    open (stdio is master's own: /dev/null or, with -d, its stderr)."""
    for pid, role in m.children().items():
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if int(fd) < 3:
                continue
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            # certd keeps the CA directory it was handed, webui its flow
            # store (flows.db, -wal, -shm); nobody else keeps a file.
            if role == "certd" and link == os.path.join(
                    os.path.realpath(m.state_dir), "ca"):
                continue
            if role == "webui" and link.startswith(os.path.join(
                    os.path.realpath(m.state_dir), "store", "flows.db")):
                continue
            assert not link.startswith("/"), (role, fd, link)


def test_testhook_only_in_test_build(mitmd_factory):
    """The SIGUSR2 trigger of the sandbox tests is compiled into test
    builds only: a release child has no handler, so SIGUSR2 simply
    terminates it, with no forbidden syscall."""
    release = os.path.join(mitmd_mod.ROOT, "build")
    if not os.access(os.path.join(release, "mitmd"), os.X_OK):
        pytest.skip("no release build in build/")
    rm = mitmd_factory(rules=['tunnel host "127.0.0.1"'], bindir=release)
    b = rm.wait_children()
    for role in ("acceptor", "certd"):
        pid = b[role][0]
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe == os.path.join(release, f"mitmd-{role}"), exe
        mark = rm.syslog.mark()
        os.kill(pid, signal.SIGUSR2)
        rm.wait_log(rf"{role} \(pid {pid}\) killed by signal "
                    rf"{int(signal.SIGUSR2)}\b", start=mark)
        assert not rm.syslog.find("SIGSYS", mark)
