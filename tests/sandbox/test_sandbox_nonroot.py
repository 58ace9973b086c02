"""mitmd started by an unprivileged user still runs: no chroot, no
separate users, but every child under seccomp with NO_NEW_PRIVS, and it
says loudly what protection it lacks (syslog and mitmctl status)."""

import os
import pwd

import pytest

from pylib import client, origins, util

USER = "nobody"


@pytest.fixture
def unpriv(mitmd_factory):
    if os.geteuid() != 0:
        pytest.skip("the test switches to another user: run as root")
    pw = pwd.getpwnam(USER)
    return mitmd_factory(rules=['tunnel host "127.0.0.1"'],
                         run_as=(pw.pw_uid, pw.pw_gid)), pw


def test_nonroot_runs_confined(unpriv, origin_cert):
    m, pw = unpriv
    st = util.proc_status(m.pid)
    assert int(st["Uid"].split()[0]) == pw.pw_uid
    m.wait_log(r"WARNING: mitmd runs as uid %d, not root" % pw.pw_uid)
    m.wait_log(r"mitmd ready: .*UNPRIVILEGED")
    kids = m.wait_children()
    for role, pids in kids.items():
        for pid in pids:
            s = util.proc_status(pid)
            assert [int(x) for x in s["Uid"].split()] == [pw.pw_uid] * 4
            assert s["Seccomp"] == "2", role
            assert s["NoNewPrivs"] == "1", role
            assert int(s["CapEff"], 16) == 0, role
            # No chroot without root.
            assert os.readlink(f"/proc/{pid}/root") == "/", role
    d = m.status()
    for p in d["processes"]:
        if p["role"] != "master":
            assert p["sandbox"] == "seccomp-only", p
    # It proxies all the same.
    o = origins.HttpsOrigin(*origin_cert)
    try:
        r = client.tunnel_tls(m.proxy_port, o, "/bytes/1000")
        assert r.status == 200 and r.body == origins.body(1000)
    finally:
        o.close()
    # The CA directory is the user's own, 0700, key 0600.
    ca = os.path.join(m.state_dir, "ca")
    util.wait_until(lambda: os.path.exists(os.path.join(ca, "ca.key")), 10,
                    "the CA key")
    assert os.stat(ca).st_uid == pw.pw_uid
    assert os.stat(ca).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(ca, "ca.key")).st_mode & 0o777 == 0o600
