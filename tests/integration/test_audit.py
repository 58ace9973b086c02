"""Audit through syslog: one line per decision and one per closed
connection with exact byte counts; the client ACL refuses with an audit
line of its own. Records are RFC 3164, facility daemon, tag mitmd."""

import re
import socket

from pylib import client, origins, util
from pylib.collect import Syslog

LOG_DAEMON = 3
BODY = 1024 * 1024 + 17


def test_decision_and_close_byte_counts(mitmd_factory, http_origin):
    m = mitmd_factory(rules=['block host "blocked.test"',
                             'tunnel host "127.0.0.1"'])
    idx, line = m.rule("127.0.0.1")
    s, resp, rest = client.proxy_connect(m.proxy_port, http_origin.hostport)
    with s:
        assert resp.status == 200 and rest == b""
        lport = s.getsockname()[1]
        req = (f"GET /bytes/{BODY} HTTP/1.1\r\nHost: {http_origin.hostport}"
               "\r\nConnection: close\r\nX-Pad: " + "p" * 333 + "\r\n\r\n"
               ).encode()
        s.sendall(req)
        got = client.read_to_eof(s)
    head, _, body = got.partition(b"\r\n\r\n")
    assert len(body) == BODY
    client_addr = f"127.0.0.1:{lport}"
    target = f"127.0.0.1:{http_origin.port}"
    d = m.wait_audit(client=client_addr, action="tunnel")
    assert d["target"] == target
    assert d["rule"] == str(idx) and d["line"] == str(line), d["_line"]
    assert re.fullmatch(r"\d+", d["conn"]), d["_line"]
    c = m.wait_audit(client=client_addr, closed=True)
    assert c["conn"] == d["conn"]
    assert (c["target"], c["action"], c["rule"]) == (target, "tunnel",
                                                     str(idx))
    # bytes_in: client to upstream; bytes_out: upstream to client, counted
    # on the relayed stream (the CONNECT exchange itself is not relayed).
    assert int(c["bytes_in"]) == len(req), c["_line"]
    assert int(c["bytes_out"]) == len(got), c["_line"]
    assert int(c["duration_ms"]) >= 0
    # The record itself: facility daemon, tag mitmd, the worker named.
    pri, tag, pid, msg = Syslog.parse(c["_line"])
    assert pri >> 3 == LOG_DAEMON and tag == "mitmd" and pid == m.pid
    assert re.match(r"tlsworker \d+\[\d+\]: audit: conn=", msg), msg


def test_decision_line_for_each_action(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['block host "blocked.test"',
                             'tunnel host "127.0.0.1"'])
    s, resp, _ = client.proxy_connect(m.proxy_port, "blocked.test:443")
    s.close()
    assert resp.status == 403
    b = m.wait_audit(target="blocked.test:443")
    idx, line = m.rule("blocked.test")
    assert (b["action"], b["rule"], b["line"]) == ("block", str(idx),
                                                   str(line))
    # A blocked connection closes too, with nothing relayed.
    c = m.wait_audit(closed=True, target="blocked.test:443")
    assert c["action"] == "block" and c["bytes_in"] == "0", c["_line"]


def test_acl_refuses_loopback(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'],
                      extra=["allow from 10.0.0.0/8"])
    s = client.connect(m.proxy_port)
    lport = s.getsockname()[1]
    with s:
        try:
            s.sendall(f"CONNECT {https_origin.hostport} HTTP/1.1\r\n\r\n"
                      .encode())
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    assert data == b"", f"a refused client got {data!r}"
    d = m.wait_audit(client=f"127.0.0.1:{lport}", action="refuse")
    assert d["reason"] == "acl" and re.fullmatch(r"\d+", d["listener"])
    assert re.match(r".*acceptor\[\d+\]: audit: ", d["_line"])
    assert https_origin.connections == 0


def test_acl_allows_listed(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'],
                      extra=["allow from 10.0.0.0/8, 127.0.0.0/8"])
    r = client.tunnel_tls(m.proxy_port, https_origin, "/bytes/10")
    assert r.status == 200


def test_acl_default_allows_loopback_v6(mitmd_factory, origin_cert):
    """Without allow lines, loopback is allowed, IPv6 included."""
    m = mitmd_factory(rules=['tunnel host "::1"'],
                      extra=["listen on ::1 port %d" % util.free_port(
                          socket.AF_INET6, "::1")])
    port6 = int(re.search(r"listen on ::1 port (\d+)",
                          open(m.conf).read()).group(1))
    o6 = origins.HttpsOrigin(*origin_cert, host="::1")
    try:
        with socket.create_connection(("::1", port6), 10) as s:
            s.sendall(f"CONNECT {o6.hostport} HTTP/1.1\r\n\r\n".encode())
            r, _ = client.read_head(s)
            assert r.status == 200
    finally:
        o6.close()
