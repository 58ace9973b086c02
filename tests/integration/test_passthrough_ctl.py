"""Pinned-client passthrough and the control commands around it:
`mitmctl passthrough list|clear`, `mitmctl ca rotate`, and the TLS
failure counters of `mitmctl status`.

Learning is driven through the real path: a client that does not trust
the mitmd CA aborts the intercepted handshake with an unknown_ca alert
(Python's ssl does so), the worker reports it (IMSG_TLS_FAIL), master
counts and, after `tls-passthrough learn after N`, tells every worker to
tunnel that host for that client; the client then sees the origin's own
certificate. Clients use two loopback addresses (127.0.0.1, 127.0.0.2)
to tell "per client" from "for all"."""

import json
import os
import signal
import socket
import ssl

import pytest

from pylib import client, util

HOST = "127.0.0.1"     # the origin, as the clients name it in CONNECT
CLIENT_A = "127.0.0.1"
CLIENT_B = "127.0.0.2"


def _connect_from(port, target, source, timeout=20):
    """CONNECT target through the proxy from the address source; returns
    the socket after the 200."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    try:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
                  .encode())
        resp, rest = client.read_head(s)
        assert resp.status == 200 and not rest, (resp, rest)
        return s
    except BaseException:
        s.close()
        raise


def _attempt(m, origin, source):
    """One TLS handshake through the proxy with a client that trusts the
    origin's certificate only. True: it saw the origin's own certificate
    (tunneled) and a GET worked; False: the handshake failed (it was
    intercepted, and the client sent unknown_ca)."""
    ctx = origin.client_context()
    s = _connect_from(m.proxy_port, origin.hostport, source)
    try:
        t = ctx.wrap_socket(s, server_hostname=HOST)
    except (ssl.SSLError, ConnectionError, OSError):
        s.close()
        return False
    try:
        t.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        resp, _ = client.read_head(t)
        assert resp.status == 200, resp
        return True
    finally:
        t.close()


def _pt_list(m):
    return json.loads(m.ctl("-j", "passthrough", "list").stdout)[
        "passthrough"]


def _conf(after=2, ttl=600, all_=False, origin=None):
    line = f"tls-passthrough learn after {after}"
    if all_:
        line += " for all"
    line += f" ttl {ttl}"
    return [f'upstream ca-file "{origin.certfile}"', line]


@pytest.fixture
def pt_mitmd(mitmd_factory, https_origin):
    """Intercepts everything; learns after 2 alerts, per client."""
    return mitmd_factory(workers=1, extra=_conf(origin=https_origin))


# --- the control commands alone ---------------------------------------------

def test_list_empty(shared_mitmd):
    p = shared_mitmd.ctl("passthrough", "list")
    assert p.stdout.split() == ["CLIENT", "HOST", "FAILURES", "EXPIRES"]
    assert _pt_list(shared_mitmd) == []
    p = shared_mitmd.ctl("passthrough", "list", "--json")
    assert json.loads(p.stdout) == {"passthrough": []}


def test_clear_answers_and_audits(shared_mitmd):
    m = shared_mitmd
    mark = m.syslog.mark()
    p = m.ctl("passthrough", "clear")
    assert p.stdout.startswith("passthrough table cleared"), p.stdout
    m.wait_log(r"audit: passthrough cleared entries=0", start=mark)
    d = json.loads(m.ctl("-j", "passthrough", "clear").stdout)
    assert d["ok"] is True and "cleared" in d["message"]


def test_ca_rotate(shared_mitmd):
    m = shared_mitmd
    mark = m.syslog.mark()
    p = m.ctl("ca", "rotate")
    assert "rotation requested" in p.stdout, p.stdout
    m.wait_log(r"leaf key rotation requested", start=mark)
    # certd answers with a new leaf key generation.
    m.wait_log(r"certd\[\d+\]: .*rotat", start=mark)
    d = json.loads(m.ctl("ca", "rotate", "--json").stdout)
    assert d == {"ok": True, "message": "leaf key rotation requested"}


def test_status_json_has_hosts(shared_mitmd):
    d = shared_mitmd.status()
    assert isinstance(d["hosts"], list)
    assert d["processes"][0]["role"] == "master"


@pytest.mark.parametrize("args", [("passthrough",), ("passthrough", "drop"),
                                  ("ca",), ("ca", "rotate", "now"),
                                  ("status", "extra")])
def test_usage_errors(shared_mitmd, args):
    p = shared_mitmd.ctl(*args, check=False)
    assert p.returncode == 2 and "usage" in p.stderr, p


# --- learning through the interception path ---------------------------------

def test_learned_after_n_alerts_then_cleared(pt_mitmd, https_origin):
    m, o = pt_mitmd, https_origin
    mark = m.syslog.mark()
    assert not _attempt(m, o, CLIENT_A)
    assert _pt_list(m) == []
    assert not _attempt(m, o, CLIENT_A)
    d = m.wait_audit(start=mark, client=CLIENT_A, host=HOST,
                     failures=2, ttl=600)
    assert "passthrough learned" in d["_line"]
    # Now tunneled: the client sees the origin's certificate.
    assert _attempt(m, o, CLIENT_A)
    pts = _pt_list(m)
    assert len(pts) == 1, pts
    assert pts[0]["client"] == CLIENT_A and pts[0]["host"] == HOST
    assert pts[0]["failures"] == 2 and 500 < pts[0]["expires_in_s"] <= 600
    text = m.ctl("passthrough", "list").stdout.splitlines()
    assert text[1].split()[:3] == [CLIENT_A, HOST, "2"], text

    # The other client is still intercepted.
    assert not _attempt(m, o, CLIENT_B)

    # Both sides counted the failures: status shows them per host.
    hosts = {h["host"]: h for h in m.status()["hosts"]}
    assert hosts[HOST]["failures"]["unknown_ca"] >= 3, hosts
    text = m.ctl("status").stdout
    assert "TLS failures in the last hour" in text and HOST in text, text

    mark = m.syslog.mark()
    p = m.ctl("passthrough", "clear")
    assert "(1 entry)" in p.stdout, p.stdout
    m.wait_log(r"audit: passthrough cleared entries=1", start=mark)
    assert _pt_list(m) == []
    # Intercepted again, and the count starts over.
    assert not _attempt(m, o, CLIENT_A)
    assert _pt_list(m) == []


def test_learned_for_all(mitmd_factory, https_origin):
    m, o = mitmd_factory(workers=1, extra=_conf(
        after=2, all_=True, origin=https_origin)), https_origin
    mark = m.syslog.mark()
    assert not _attempt(m, o, CLIENT_A)
    assert not _attempt(m, o, CLIENT_B)
    m.wait_audit(start=mark, client="*", host=HOST, failures=2)
    assert _attempt(m, o, CLIENT_A) and _attempt(m, o, CLIENT_B)
    assert [p["client"] for p in _pt_list(m)] == ["*"]


def test_learning_off(mitmd_factory, https_origin):
    m, o = mitmd_factory(workers=1, extra=[
        f'upstream ca-file "{https_origin.certfile}"',
        "tls-passthrough no"]), https_origin
    for _ in range(3):
        assert not _attempt(m, o, CLIENT_A)
    assert _pt_list(m) == []
    assert m.status()["hosts"][0]["failures"]["unknown_ca"] >= 3


def test_eof_without_alert_never_teaches(mitmd_factory, https_origin):
    """A client that hangs up in the middle of the handshake, without an
    alert, is counted as eof_reset and teaches nothing."""
    m, o = mitmd_factory(workers=1, extra=_conf(
        after=1, origin=https_origin)), https_origin
    for _ in range(3):
        s = _connect_from(m.proxy_port, o.hostport, CLIENT_A)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ssl.create_default_context().wrap_bio(
            inc, out, server_hostname=HOST)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())        # the ClientHello
        s.recv(1)                    # the first byte of the server's answer
        s.close()                    # then EOF, no alert
    util.wait_until(lambda: [h for h in m.status()["hosts"]
                             if h["failures"]["eof_reset"] >= 3], 10,
                    "three eof_reset failures in mitmctl status")
    assert _pt_list(m) == []
    assert _attempt(m, o, CLIENT_A) is False


def test_entry_expires(mitmd_factory, https_origin):
    m, o = mitmd_factory(workers=1, extra=_conf(
        after=1, ttl=1, origin=https_origin)), https_origin
    mark = m.syslog.mark()
    assert not _attempt(m, o, CLIENT_A)
    m.wait_audit(start=mark, client=CLIENT_A, host=HOST, ttl=1)
    # The master's timer runs every 5 s; the list prunes as well.
    m.wait_log(rf"audit: passthrough expired client={CLIENT_A} "
               rf"host={HOST}", timeout=15, start=mark)
    assert _pt_list(m) == []
    assert not _attempt(m, o, CLIENT_A)


def test_restarted_worker_gets_the_table(pt_mitmd, https_origin):
    m, o = pt_mitmd, https_origin
    mark = m.syslog.mark()
    assert not _attempt(m, o, CLIENT_A)
    assert not _attempt(m, o, CLIENT_A)
    m.wait_audit(start=mark, client=CLIENT_A, host=HOST, failures=2)
    old = m.pids("tlsworker")
    assert len(old) == 1
    os.kill(old[0], signal.SIGKILL)
    util.wait_until(lambda: (lambda p: len(p) == 1 and p != old)(
        m.pids("tlsworker")), 15, "the worker to be respawned")
    util.wait_until(lambda: all(
        p["state"] == "running" for p in m.status()["processes"]), 15,
        "every process running")
    assert _attempt(m, o, CLIENT_A)
