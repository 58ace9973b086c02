"""mitmctl status/reload/stop, sd_notify, SIGTERM with drain, and
`mitmd -n` on the example and on a broken config."""

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess

import pytest

from pylib import client, mitmd as mitmd_mod, origins, util

SLOW_SIZE = 2 * 1024 * 1024
SLOW_MS = 40          # about 1.3 s for the in-flight transfer
DRAIN = 20            # long enough for the transfer, short for a hang
STATUS_COLS = ["ROLE", "IDX", "PID", "UID", "SANDBOX", "STATE", "UPTIME",
               "OPEN", "TOTAL", "RST", "CACHE"]


def _uid(pid):
    return int(util.proc_status(pid)["Uid"].split()[0])


def _check_procs(m, procs):
    """procs: [(role, pid, uid, sandbox, state)] from mitmctl."""
    kids = m.children()
    roles = sorted(r for r, *_ in procs)
    want = sorted(["master", "acceptor", "certd", "webui"] +
                  ["tlsworker"] * m.workers)
    assert roles == want, procs
    for role, pid, uid, sandbox, state in procs:
        assert state == "running", procs
        if role == "master":
            assert pid == m.pid
            assert uid == os.geteuid()
            continue
        assert kids.get(pid) == role, f"{role} pid {pid} not in {kids}"
        assert uid == _uid(pid), f"{role} uid {uid} vs /proc {_uid(pid)}"
        assert sandbox == "full"
    assert {p for _, p, *_ in procs if p != m.pid} == set(kids)


def test_status_text(shared_mitmd):
    m = shared_mitmd
    p = m.ctl("status")
    lines = p.stdout.splitlines()
    assert lines[0].split() == STATUS_COLS, lines[0]
    procs = []
    for line in lines[1:]:
        if not line.strip():
            break           # the TLS failure table may follow
        f = line.split()
        procs.append((f[0], int(f[2]), int(f[3]), f[4], f[5]))
        # hits/misses of the leaf cache where the role has one
        if f[0] in ("certd", "tlsworker"):
            hits, misses = f[10].split("/")
            assert int(hits) >= 0 and int(misses) >= 0, line
        else:
            assert f[10] == "-", line
    _check_procs(m, procs)


@pytest.mark.parametrize("args", [("-j", "status"), ("status", "--json")])
def test_status_json(shared_mitmd, args):
    m = shared_mitmd
    d = json.loads(m.ctl(*args).stdout)
    procs = [(p["role"], p["pid"], p["uid"], p["sandbox"], p["state"])
             for p in d["processes"]]
    _check_procs(m, procs)
    for p in d["processes"]:
        assert p["uptime_s"] >= 0 and p["restarts"] == 0
        assert p["cache_hits"] >= 0 and p["cache_misses"] >= 0


def test_status_counts_connections(shared_mitmd, shared_https_origin):
    m = shared_mitmd
    before = sum(p["total"] for p in m.status()["processes"]
                 if p["role"] == "tlsworker")
    # About 15 s of body: open for longer than a status period (1 s); the
    # test closes it as soon as status has shown it.
    st = client.TunnelStream(m.proxy_port, shared_https_origin,
                             "/slow/10485760/100")
    try:
        util.wait_until(lambda: sum(
            p["open"] for p in m.status()["processes"]
            if p["role"] == "tlsworker") >= 1, 10,
            "an open connection in mitmctl status")
    finally:
        st.close()
    util.wait_until(lambda: sum(
        p["total"] for p in m.status()["processes"]
        if p["role"] == "tlsworker") > before, 10, "the total to grow")


def test_mitmctl_unreachable():
    p = subprocess.run([mitmd_mod.binary("mitmctl"), "-s",
                        "/nonexistent/mitmd.sock", "status"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "/nonexistent/mitmd.sock" in p.stderr


def test_mitmctl_unknown_command_usage(shared_mitmd):
    """A bad command is a usage error (exit 2) whether or not a mitmd
    answers, and master is not bothered with it."""
    for sock in (shared_mitmd.ctl_sock, "/nonexistent/mitmd.sock"):
        p = subprocess.run([mitmd_mod.binary("mitmctl"), "-s", sock,
                            "frobnicate"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and "usage" in p.stderr, (sock, p)


def test_mitmctl_f_config(shared_mitmd):
    """-f finds the socket through the config's runtime directory."""
    p = subprocess.run([mitmd_mod.binary("mitmctl"), "-f",
                        shared_mitmd.conf, "-j", "status"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["processes"][0]["pid"] == shared_mitmd.pid


def test_notify_ready(shared_mitmd):
    shared_mitmd.notify.wait_for(r"^READY=1$")


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except ConnectionRefusedError:
        return True
    return False


def _stop_with_inflight(m, origin, how):
    st = client.TunnelStream(m.proxy_port, origin,
                             f"/slow/{SLOW_SIZE}/{SLOW_MS}")
    nmark, mark = m.notify.mark(), m.syslog.mark()
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(st.read_all)
        how(m)
        m.notify.wait_for(r"^STOPPING=1$", start=nmark)
        # No new connections while the old one drains.
        util.wait_until(lambda: _refused(m.proxy_port), 5,
                        "the proxy port to refuse connections")
        fut.result(timeout=DRAIN + 10)
    assert st.error is None, f"in-flight transfer broken: {st.error}"
    assert st.got == SLOW_SIZE
    assert st.digest() == origins.body_sha256(SLOW_SIZE)
    status = m.wait_exit(DRAIN + 10)
    assert status == 0, f"mitmd exited {status}:\n{m.stderr()}"
    m.wait_log(r"mitmd stopped", start=mark)
    assert not [p for p in m.seen if util.proc_alive(p)]


def test_mitmctl_stop_drains(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'], drain=DRAIN)
    m.children()

    def stop(m):
        p = m.ctl("stop")
        assert "stopping" in p.stdout
    _stop_with_inflight(m, https_origin, stop)


def test_sigterm_drains(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'], drain=DRAIN)
    m.children()
    _stop_with_inflight(m, https_origin,
                        lambda m: os.kill(m.pid, signal.SIGTERM))


def test_drain_timeout_ends_stuck_flows(mitmd_factory, https_origin):
    """A flow that outlives the drain timeout does not hold mitmd up."""
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'], drain=1)
    m.children()
    st = client.TunnelStream(m.proxy_port, https_origin,
                             "/slow/10485760/200")   # about 30 s
    try:
        os.kill(m.pid, signal.SIGTERM)
        status = m.wait_exit(1 + 10)
        assert status == 0, f"mitmd exited {status}"
    finally:
        st.close()


def test_mitmd_n_example_config():
    conf = os.path.join(mitmd_mod.ROOT, "etc", "mitmd.conf")
    p = subprocess.run([mitmd_mod.binary("mitmd"), "-n", "-f", conf],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr


def test_mitmd_nv_parses_back(tmp_path):
    conf = os.path.join(mitmd_mod.ROOT, "etc", "mitmd.conf")
    p1 = subprocess.run([mitmd_mod.binary("mitmd"), "-nv", "-f", conf],
                        capture_output=True, text=True, timeout=10)
    assert p1.returncode == 0, p1.stderr
    n1 = tmp_path / "n1.conf"
    n1.write_text(p1.stdout)
    p2 = subprocess.run([mitmd_mod.binary("mitmd"), "-nv", "-f", str(n1)],
                        capture_output=True, text=True, timeout=10)
    assert p2.returncode == 0 and p2.stdout == p1.stdout


@pytest.mark.parametrize("text,line", [
    ("workers 2\nlisten on 127.0.0.1 port 99999\n", 2),
    ("# c\n\nfrobnicate\n", 3),
    ('block host "*.a.test"\ntunnel host *.b.test\n', 2),
    ('workers 2\nworkers 3\n', 2),
    ('allow from 10.0.0.1/8\n', 1),
    ('block host "unterminated\n', 1),
])
def test_mitmd_n_broken_config(tmp_path, text, line):
    conf = tmp_path / "broken.conf"
    conf.write_text(text)
    p = subprocess.run([mitmd_mod.binary("mitmd"), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    # "file:line: message" (a "master: " in front is tolerated).
    assert re.search(rf"(^|: ){re.escape(str(conf))}:{line}: \S",
                     p.stderr, re.M), p.stderr
