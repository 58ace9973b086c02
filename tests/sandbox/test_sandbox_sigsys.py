"""A forbidden syscall kills: SIGUSR2 makes a test-build child call ptrace,
which no role's seccomp allow-list has. Each role in turn dies by SIGSYS,
master logs a sandbox violation naming the syscall, respawns it with a new
pid that becomes ready, and no other child is touched."""

import os
import signal
import urllib.request

import pytest

from pylib import client, mitmd as mitmd_mod, origins, util

RESPAWN_TIMEOUT = 15
PTRACE = r"syscall 101 \(ptrace\)"


@pytest.fixture(scope="module")
def m(build):
    inst = mitmd_mod.Mitmd(rules=['tunnel host "127.0.0.1"'])
    inst.wait_children()
    yield inst
    try:
        inst.close()
    finally:
        inst.cleanup()


def _label(m, role, pid, mark):
    """'tlsworker 1' or 'certd': how master names the dead child."""
    rx = (r"(tlsworker \d+)" if role == "tlsworker" else rf"({role})") + \
        rf" \(pid {pid}\) killed by SIGSYS: sandbox violation, {PTRACE}"
    return m.wait_log(rx, RESPAWN_TIMEOUT, start=mark).group(1)


@pytest.mark.parametrize("role", ["acceptor", "tlsworker", "certd",
                                  "webui"])
def test_forbidden_syscall_kills_and_respawns(m, role, origin_cert):
    before = m.wait_children()
    victim = before[role][0]
    others = {r: pids for r, pids in before.items()}
    others[role] = [p for p in before[role] if p != victim]
    mark = m.syslog.mark()
    os.kill(victim, signal.SIGUSR2)
    label = _label(m, role, victim, mark)
    util.wait_until(lambda: not util.proc_alive(victim), 5,
                    f"{role} {victim} to be gone")
    m.wait_log(rf"restarting {label} \(restart \d+\)", RESPAWN_TIMEOUT,
               start=mark)
    after = util.wait_until(
        lambda: (lambda b: b if len(b[role]) == len(before[role]) and
                 victim not in b[role] else None)(m.by_role()),
        RESPAWN_TIMEOUT, f"a new {role}")
    new = [p for p in after[role] if p not in before[role]]
    assert len(new) == 1
    m.wait_log(rf"{label} ready, pid {new[0]}, sandbox full",
               RESPAWN_TIMEOUT, start=mark)
    # Nobody else was restarted.
    for r, pids in others.items():
        assert sorted(p for p in after[r] if p not in new) == sorted(pids), r
    # The new process is confined like the old one.
    st = util.proc_status(new[0])
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    # And the whole still works: a tunnel, and the CA on the webui.
    o = origins.HttpsOrigin(*origin_cert)
    try:
        r = util.wait_until(
            lambda: client.tunnel_tls(m.proxy_port, o, "/bytes/100"),
            RESPAWN_TIMEOUT, "a tunnel after the respawn")
        assert r.status == 200 and r.body == origins.body(100)
    finally:
        o.close()
    if role in ("certd", "webui"):
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))

        def ca():
            try:
                with opener.open(f"http://127.0.0.1:{m.webui_port}/ca.pem",
                                 timeout=5) as resp:
                    return resp.status == 200 and b"CERTIFICATE" in \
                        resp.read()
            except OSError:
                return False
        util.wait_until(ca, RESPAWN_TIMEOUT, "the CA on the webui again")
