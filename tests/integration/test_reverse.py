"""Reverse listeners (`listen on ADDR port N reverse to https://HOST:PORT`):
clients speak TLS to mitmd directly, get a leaf forged for the configured
name, and every request goes to the fixed upstream, intercepted; the
audit lines and events name the listener's line as rule "reverse". An
unreachable upstream still gets the client a handshake and a 502 page;
plain HTTP on the listener gets a 400 that says why.
"""

import hashlib
import re
import socket
import ssl

import pytest

from pylib import client, events, origins, tls, util


@pytest.fixture(scope="module")
def origin(test_ca):
    o = tls.TlsOrigin(*test_ca.issue(
        "origin", dns=["localhost", "*.example.test"], ips=["127.0.0.1"]))
    yield o
    o.close()


def start_reverse(build, test_ca, upstream, workers=1):
    """A Mitmd with one reverse listener to upstream ("host:port"); its
    port is m.reverse_port and its config line m.reverse_line."""
    port = util.free_ports(1)[0]
    listen = (f"listen on 127.0.0.1 port {port} reverse to "
              f"https://{upstream}")
    m = tls.start_mitmd(build, test_ca, [listen], workers=workers,
                        rules=['block host "localhost"'])
    m.reverse_port = port
    with open(m.conf) as f:
        m.reverse_line = f.read().splitlines().index(listen) + 1
    return m


stop = tls.stop_mitmd


@pytest.fixture(scope="module")
def mitm(build, test_ca, origin):
    m = start_reverse(build, test_ca, f"localhost:{origin.port}",
                      workers=2)
    yield m
    stop(m)


def open_reverse(m, sni="localhost"):
    s = socket.create_connection(("127.0.0.1", m.reverse_port), timeout=30)
    try:
        return tls.mitmd_context(m).wrap_socket(s, server_hostname=sni)
    except BaseException:
        s.close()
        raise


def curl_reverse(m, path, *extra):
    return client.curl(["--cacert", tls.mitmd_ca(m), "--resolve",
                        f"localhost:{m.reverse_port}:127.0.0.1", *extra,
                        "-o", "-",
                        f"https://localhost:{m.reverse_port}{path}"])


def test_curl_body_identical(mitm, origin):
    """curl trusts the mitmd CA alone, talks to the reverse listener as
    if it were the site, and gets the origin's body byte for byte; the
    block rule for the same host does not apply: the listener decides."""
    n = 300 * 1000
    p = curl_reverse(mitm, f"/bytes/{n}")
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(p.stdout).hexdigest() == origins.body_sha256(n)
    mitm.wait_audit(target=f"localhost:{origin.port}", action="intercept",
                    rule="reverse", line=str(mitm.reverse_line))
    mitm.wait_audit(target=f"localhost:{origin.port}", action="intercept",
                    rule="reverse", closed=True)


@pytest.mark.parametrize("sni", ["localhost", "other.example.test", None],
                         ids=["configured-name", "other-name", "no-sni"])
def test_leaf_names_configured_host(mitm, origin, sni):
    """Whatever SNI the client sends, the upstream is asked for the
    configured name and the leaf is issued by the mitmd CA for it (with
    the origin's SANs)."""
    s = socket.create_connection(("127.0.0.1", mitm.reverse_port),
                                 timeout=30)
    ctx = tls.mitmd_context(mitm)
    ctx.check_hostname = False
    t = ctx.wrap_socket(s, server_hostname=sni)
    try:
        issuer, sans, _ = tls.cert_info(t.getpeercert(binary_form=True))
    finally:
        t.close()
    assert issuer.startswith("mitmd CA")
    assert "DNS:localhost" in sans
    assert "DNS:*.example.test" in sans


def test_keepalive_many_requests(mitm, origin):
    """Requests on one client connection all reach the upstream and come
    back whole."""
    t = open_reverse(mitm)
    try:
        for i in range(20):
            n = 1000 + i
            r = tls.request(t, f"/bytes/{n}", f"localhost:{mitm.reverse_port}")
            assert r.status == 200
            assert hashlib.sha256(r.body).hexdigest() == \
                origins.body_sha256(n)
    finally:
        t.close()


def test_plain_http_gets_400(mitm):
    """A plain-HTTP request on the TLS listener gets a clear 400, not
    garbage or a silent close."""
    p = client.curl(["-sS", "-o", "-", "-w", "\n%{http_code}",
                     f"http://127.0.0.1:{mitm.reverse_port}/"])
    body, _, code = p.stdout.decode().rpartition("\n")
    assert code == "400", p.stdout
    assert "speaks TLS" in body


def test_explicit_listener_still_works(mitm, origin):
    """The proxy listener of the same mitmd keeps its own policy: the
    block rule for localhost answers CONNECT with 403."""
    s, resp, _ = client.proxy_connect(mitm.proxy_port,
                                      f"localhost:{origin.port}")
    s.close()
    assert resp.status == 403


def test_events_name_reverse(mitm, origin):
    """connect_received says mode reverse (no method: there was no
    request head) and connect_decision names rule "reverse" with the
    listener's line."""
    p = curl_reverse(mitm, "/bytes/10")
    assert p.returncode == 0, p.stderr

    def flows():
        return [evs for evs in events.flows(mitm).values()
                if evs[0].get("mode") == "reverse"
                and evs[-1]["type"] == "stream_closed"
                and any(e["type"] == "response_headers" for e in evs)]

    done = util.wait_until(flows, 10, "a closed reverse flow in the events")
    evs = done[-1]
    assert evs[0]["type"] == "connect_received"
    assert evs[0].get("method") is None
    assert evs[0]["server_host"] == "localhost"
    assert evs[0]["server_port"] == origin.port
    dec = evs[1]
    assert dec["type"] == "connect_decision"
    assert dec["action"] == "intercept"
    assert dec["rule"] == "reverse"
    assert dec["line"] == mitm.reverse_line
    types = [e["type"] for e in evs]
    assert types.index("tls_handshake_succeeded") < \
        types.index("request_headers") < types.index("response_headers")


def test_upstream_down_gets_502_page(build, test_ca):
    """Nothing listens at the upstream: the client still completes a TLS
    handshake (with a leaf for the configured name) and its request gets
    a 502 page that says the connection was refused."""
    dead = util.free_ports(1)[0]
    m = start_reverse(build, test_ca, f"localhost:{dead}")
    try:
        t = open_reverse(m)
        try:
            r = tls.request(t, "/", f"localhost:{m.reverse_port}")
        finally:
            t.close()
        status, body = r.status, r.body
        assert status == 502
        assert b"could not connect" in body
        assert f"localhost:{dead}".encode() in body
    finally:
        stop(m)


def test_untrusted_upstream_gets_502_page(build, tmp_path, test_ca):
    """An upstream whose certificate the workers do not trust: the client
    gets mitmd's certificate and a 502 page naming the verify failure."""
    other = tls.TestCA(str(tmp_path), name="not trusted CA")
    o = tls.TlsOrigin(*other.issue("bad", dns=["localhost"]))
    m = start_reverse(build, test_ca, f"localhost:{o.port}")
    try:
        t = open_reverse(m)
        try:
            r = tls.request(t, "/", f"localhost:{m.reverse_port}")
        finally:
            t.close()
        status, body = r.status, r.body
        assert status == 502
        assert b"Certificate verification failed" in body
    finally:
        stop(m)
        o.close()


def test_ipv6_literal_upstream(build, test_ca, origin):
    """`https://[::1]:PORT` parses; an origin that listens on IPv4 only
    makes the client see a 502 page naming the bracketed target."""
    dead = util.free_ports(1)[0]
    m = start_reverse(build, test_ca, f"[::1]:{dead}")
    try:
        s = socket.create_connection(("127.0.0.1", m.reverse_port),
                                     timeout=30)
        ctx = tls.mitmd_context(m)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s)
        try:
            r = tls.request(t, "/", "x")
        finally:
            t.close()
        status, body = r.status, r.body
        assert status == 502
        assert f"[::1]:{dead}".encode() in body
    finally:
        stop(m)


def test_upstream_sessions_resumed(build, test_ca):
    """A worker keeps the session the upstream gave it: after the first
    intercepted CONNECT, the upstream handshakes of later ones (each on
    a new upstream connection) are resumed as the origin sees them, and
    the leaf is still right."""
    o = tls.TlsOrigin(*test_ca.issue("resume", dns=["localhost"]))
    m = start_reverse(build, test_ca, f"localhost:{o.port}")
    try:
        for i in range(5):
            t = tls.connect_tls(m.proxy_port, f"127.0.0.1:{o.port}",
                                tls.mitmd_context(m), "localhost")
            try:
                r = tls.request(t, f"/bytes/{10 + i}", "localhost")
                assert r.status == 200
                issuer, sans, _ = tls.cert_info(
                    t.getpeercert(binary_form=True))
            finally:
                t.close()
            assert issuer.startswith("mitmd CA")
            assert "DNS:localhost" in sans
        assert o.connections == 5
        assert o.resumed >= 3, (o.connections, o.resumed)
    finally:
        stop(m)
        o.close()


def test_client_tickets_open_on_every_worker(mitm):
    """A session ticket from one worker resumes on the others: the keys
    come from master. Six connections spread over two workers all
    resume the first connection's session."""
    ctx = tls.mitmd_context(mitm)
    s = socket.create_connection(("127.0.0.1", mitm.reverse_port),
                                 timeout=30)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    try:
        r = tls.request(t, "/bytes/10", f"localhost:{mitm.reverse_port}")
        assert r.status == 200
        sess = t.session
    finally:
        t.close()
    assert sess is not None and sess.has_ticket
    workers = set()
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", mitm.reverse_port),
                                     timeout=30)
        t = ctx.wrap_socket(s, server_hostname="localhost", session=sess)
        try:
            r = tls.request(t, "/bytes/10", f"localhost:{mitm.reverse_port}")
            assert r.status == 200
            assert t.session_reused
        finally:
            t.close()
    for d in mitm.audit():
        if d.get("rule") == "reverse" and d.get("closed"):
            workers.update(re.findall(r"tlsworker \d+", d["_line"]))
    assert len(workers) == 2, workers


def test_upstream_connections_pooled(build, test_ca):
    """Clients that come and go one after the other reuse the upstream
    connection the first one left idle (the origin accepts one TCP
    connection for eight clients), a client that asked for close
    included; each still gets the leaf and its whole body."""
    o = tls.TlsOrigin(*test_ca.issue("pool", dns=["localhost"]))
    m = start_reverse(build, test_ca, f"localhost:{o.port}")
    try:
        for i in range(8):
            t = open_reverse(m)
            try:
                hdrs = [("Connection", "close")] if i % 2 else []
                r = tls.request(t, f"/bytes/{100 + i}",
                                f"localhost:{m.reverse_port}",
                                headers=hdrs)
                assert r.status == 200
                assert hashlib.sha256(r.body).hexdigest() == \
                    origins.body_sha256(100 + i)
                issuer, sans, _ = tls.cert_info(
                    t.getpeercert(binary_form=True))
                assert "DNS:localhost" in sans
            finally:
                t.close()
            # the worker sees the close before the next client comes
            util.wait_until(lambda: len([d for d in m.audit()
                                         if d.get("closed")]) > i,
                            10, f"the close of client {i}")
        assert o.connections == 1, o.connections
        assert o.requests == 8
    finally:
        stop(m)
        o.close()


def test_client_gone_mid_response(mitm, origin):
    """A TLS client that closes (close_notify, then the socket) in the
    middle of a large response: the connection closes at once, not at the
    idle timeout, so nothing waits on it at shutdown."""
    start = mitm.syslog.mark()
    t = open_reverse(mitm)
    try:
        t.sendall(f"GET /bytes/{16 << 20} HTTP/1.1\r\n"
                  f"Host: localhost:{mitm.reverse_port}\r\n\r\n".encode())
        got = 0
        while got < (1 << 20):
            data = t.recv(65536)
            assert data
            got += len(data)
        t = t.unwrap()
    except (ssl.SSLError, OSError):
        pass
    finally:
        t.close()
    mitm.wait_audit(start=start, closed=True, rule="reverse", timeout=10)
