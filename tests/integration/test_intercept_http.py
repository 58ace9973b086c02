"""Interception of HTTP/1.1 in TLS: the certificate a client sees (issued
by the mitmd CA, SANs of the origin's certificate plus the name asked
for) for a plain name, a wildcard certificate and an IP target; bodies
of every framing arrive whole; keep-alive, pipelining, HEAD/204/304,
Expect: 100-continue; a client offering h2 only; plain HTTP and raw bytes
on an intercepted CONNECT; and what is not HTTP after the handshake.

The origins carry certificates of a CA of the tests' own, which the
workers trust through `upstream ca-file`.
"""

import hashlib
import os
import socket
import ssl
import threading
import time

import pytest

from pylib import client, origins, tls

N_KEEPALIVE = 100
BODY = 200 * 1000          # bytes of the bodies of the framing tests
SMALL = 1234
BURST = 24


@pytest.fixture(scope="module")
def origin(test_ca):
    o = tls.TlsOrigin(*test_ca.issue(
        "origin", dns=["localhost", "*.example.test"], ips=["127.0.0.1"]))
    yield o
    o.close()


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca, events=False,
                                 rules=['block host "blocked.test"'])


def ctx_of(m, alpn=("http/1.1",)):
    return tls.mitmd_context(m, alpn)


def open_tls(m, target, sni, alpn=("http/1.1",)):
    return tls.connect_tls(m.proxy_port, target, ctx_of(m, alpn), sni)


def leaf_of(t):
    return tls.cert_info(t.getpeercert(binary_form=True))


ORIGIN_SANS = {"DNS:localhost", "DNS:*.example.test", "IP:127.0.0.1"}


def test_curl_body_identical(mitm, origin):
    """curl trusts the mitmd CA alone and gets the origin's body, byte for
    byte, through the intercepted connection."""
    n = 300 * 1000
    p = client.curl(["-x", f"http://127.0.0.1:{mitm.proxy_port}",
                     "--cacert", tls.mitmd_ca(mitm), "-o", "-",
                     f"https://localhost:{origin.port}/bytes/{n}"])
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(p.stdout).hexdigest() == origins.body_sha256(n)
    # No rule names the host: the default rule intercepts.
    mitm.wait_audit(target=f"localhost:{origin.port}", action="intercept",
                    rule="default", closed=True)


@pytest.mark.parametrize("target,sni,extra", [
    ("localhost", "localhost", set()),
    ("127.0.0.1", "foo.example.test", {"DNS:foo.example.test"}),
    ("127.0.0.1", None, set()),
], ids=["plain-name", "wildcard", "ip-target"])
def test_leaf_certificate(mitm, origin, target, sni, extra):
    """The leaf is issued by the mitmd CA and carries the origin's SANs
    (wildcards kept) plus the SNI; an IP target is an IP SAN."""
    t = open_tls(mitm, f"{target}:{origin.port}", sni or target)
    with t:
        issuer, sans, cert = leaf_of(t)
        r = tls.request(t, "/hello", f"{sni or target}:{origin.port}")
    ca = tls.cert_info(ssl.PEM_cert_to_DER_cert(
        open(tls.mitmd_ca(mitm)).read()))[2]
    assert cert.issuer == ca.subject
    assert issuer.startswith("mitmd CA")
    assert set(sans) == ORIGIN_SANS | extra
    assert r.status == 200 and r.body == b"path /hello\n"


def test_keepalive_100_requests(mitm, origin):
    """100 requests on one client TLS connection use one upstream
    connection, each body whole."""
    before = origin.connections
    with open_tls(mitm, f"localhost:{origin.port}", "localhost") as t:
        for i in range(N_KEEPALIVE):
            n = SMALL + i
            r = tls.request(t, f"/bytes/{n}", f"localhost:{origin.port}")
            assert r.status == 200, r
            assert r.body == origins.body(n), i
    assert origin.connections - before == 1


def test_chunked_with_trailers(mitm, origin):
    with open_tls(mitm, f"localhost:{origin.port}", "localhost") as t:
        r = tls.request(t, f"/chunked/{BODY}", f"localhost:{origin.port}")
        assert r.status == 200
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.body == origins.body(BODY)
        assert ("X-Digest", hashlib.sha256(r.body).hexdigest()) in \
            r.trailers
        assert ("X-End", "yes") in r.trailers
        # and the connection goes on
        r = tls.request(t, "/again", f"localhost:{origin.port}")
        assert r.body == b"path /again\n"


def test_close_delimited(mitm, origin):
    """A body without length ends when the origin closes; the client is
    told to close and sees the whole body, then EOF."""
    with open_tls(mitm, f"localhost:{origin.port}", "localhost") as t:
        r = tls.request(t, f"/close/{BODY}", f"localhost:{origin.port}")
        assert r.status == 200
        assert r.header("Connection") == "close"
        assert r.body == origins.body(BODY)


def test_head_204_304_keep_going(mitm, origin):
    """No body after HEAD, 204 or 304: the next response on the same
    connection is read right."""
    host = f"localhost:{origin.port}"
    with open_tls(mitm, host, "localhost") as t:
        r = tls.request(t, "/bytes/5000", host, method="HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5000"
        assert r.body == b""
        r = tls.request(t, "/status/204", host)
        assert r.status == 204 and r.body == b""
        r = tls.request(t, "/status/304", host)
        assert r.status == 304 and r.body == b""
        r = tls.request(t, "/bytes/10", host)
        assert r.body == origins.body(10)


def test_pipelined_requests(mitm, origin):
    host = f"localhost:{origin.port}"
    with open_tls(mitm, host, "localhost") as t:
        t.sendall(b"".join(f"GET /bytes/{n} HTTP/1.1\r\nHost: {host}\r\n"
                           f"\r\n".encode() for n in (10, 20, 30)))
        for n in (10, 20, 30):
            assert tls.read_response(t).body == origins.body(n)


def test_post_expect_continue(mitm, origin):
    """Expect: 100-continue: the 100 comes back before the body goes."""
    host = f"localhost:{origin.port}"
    data = os.urandom(100 * 1000)
    with open_tls(mitm, host, "localhost") as t:
        t.sendall(f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length:"
                  f" {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = tls.read_response(t)
        assert interim.status == 100
        t.sendall(data)
        r = tls.read_response(t)
        assert r.status == 200
        assert r.body.decode() == hashlib.sha256(data).hexdigest()


def test_post_chunked_body(mitm, origin):
    host = f"localhost:{origin.port}"
    data = os.urandom(70000)
    body = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7000]),
                                       data[i:i + 7000])
                    for i in range(0, len(data), 7000)) + b"0\r\n\r\n"
    with open_tls(mitm, host, "localhost") as t:
        t.sendall(f"POST /echo HTTP/1.1\r\nHost: {host}\r\n"
                  f"Transfer-Encoding: chunked\r\n\r\n".encode() + body)
        r = tls.read_response(t)
        assert r.body.decode() == hashlib.sha256(data).hexdigest()


def test_alpn_before_an_http11_origin(mitm, origin):
    """Before an HTTP/1.1-only origin, a client that offers h2 alone gets
    h2 (its streams are translated: test_http2.py), one that offers both
    gets what the origin chose, http/1.1; no ALPN, no ALPN."""
    host = f"localhost:{origin.port}"
    with open_tls(mitm, host, "localhost", alpn=("h2",)) as t:
        assert t.selected_alpn_protocol() == "h2"
    with open_tls(mitm, host, "localhost", alpn=("h2", "http/1.1")) as t:
        assert t.selected_alpn_protocol() == "http/1.1"
        assert tls.request(t, "/x", host).status == 200


def test_not_http_after_handshake(mitm, origin):
    """Garbage inside TLS gets a 400 that says why; the worker goes on."""
    host = f"localhost:{origin.port}"
    with open_tls(mitm, host, "localhost") as t:
        t.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        r = tls.read_response(t)
        assert r.status == 400
        assert b"not an HTTP" in r.body
    with open_tls(mitm, host, "localhost") as t:
        assert tls.request(t, "/ok", host).status == 200


def test_head_too_large_in_tls(mitm, origin):
    host = f"localhost:{origin.port}"
    with open_tls(mitm, host, "localhost") as t:
        t.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: ".encode() +
                  b"a" * (128 * 1024) + b"\r\n\r\n")
        r = tls.read_response(t)
        assert r.status == 431


def test_plain_http_in_connect(mitm):
    """A request in clear on an intercepted CONNECT goes to the CONNECT
    target as plain HTTP, Host as the client wrote it."""
    o = origins.HttpOrigin()
    try:
        s, resp, rest = client.proxy_connect(mitm.proxy_port, o.hostport)
        with s:
            assert resp.status == 200 and rest == b""
            for path in ("/one", "/two"):
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: plain.test\r\n\r\n"
                          .encode())
                r = client.read_response(s)
                assert r.status == 200 and r.body == f"path {path}\n"\
                    .encode()
        assert [q["line"] for q in o.requests] == \
            ["GET /one HTTP/1.1", "GET /two HTTP/1.1"]
        assert ("Host", "plain.test") in o.requests[0]["headers"]
    finally:
        o.close()


@pytest.mark.parametrize("server_first", [True, False],
                         ids=["server-first", "client-first"])
def test_raw_bytes_relayed(mitm, server_first):
    """Neither TLS nor HTTP: relayed raw both ways (a server-first
    protocol, or client bytes that are not a request line)."""
    srv = tls.RawServer(b"220 hello\r\n" if server_first else b"")
    try:
        s, resp, rest = client.proxy_connect(mitm.proxy_port,
                                             f"127.0.0.1:{srv.port}")
        with s:
            assert resp.status == 200
            if server_first:
                got = rest
                while b"\r\n" not in got:
                    got += s.recv(100)
                assert got == b"220 hello\r\n"
            s.sendall(b"\x01\x02 some bytes")
            got = b""
            while len(got) < 13:
                data = s.recv(100)
                assert data, "EOF from the relay"
                got += data
            assert got == b"\x01\x02 SOME BYTES"
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100) == b""
    finally:
        srv.close()


def test_large_hello_split_over_records_and_reads(mitm, origin):
    """A ClientHello over 1 KiB (a post-quantum key share), cut into
    records of 500 bytes and sent in pieces that end mid-record: the
    worker waits for all of it, connects upstream with its SNI and answers
    with its own ServerHello."""
    msg = tls.with_pq_share(tls.client_hello("localhost"))
    assert len(msg) > 1024
    data = tls.records(msg, 500)
    s, resp, rest = client.proxy_connect(mitm.proxy_port,
                                         f"localhost:{origin.port}")
    with s:
        assert resp.status == 200 and rest == b""
        for i in range(0, len(data), 333):
            s.sendall(data[i:i + 333])
            time.sleep(0.05)
        hdr = client.read_exact(s, 9)
        assert hdr[0] == 22 and hdr[5] == 2, hdr   # a ServerHello


def test_burst_to_a_new_host(mitm, test_ca):
    """Many connections at once to a host whose leaf is not cached yet:
    they wait on one request to certd, and all succeed."""
    o = tls.TlsOrigin(*test_ca.issue("burst", dns=["localhost"]))
    host = f"localhost:{o.port}"
    results = []

    def one():
        try:
            with open_tls(mitm, host, "localhost") as t:
                results.append(tls.request(t, "/b", host).status)
        except (OSError, ssl.SSLError) as e:
            results.append(repr(e))
    try:
        threads = [threading.Thread(target=one) for _ in range(BURST)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == [200] * BURST
    finally:
        o.close()


def test_blocked_still_blocked(mitm):
    r = client.raw_request(mitm.proxy_port,
                           b"CONNECT blocked.test:443 HTTP/1.1\r\n\r\n")
    assert r.status == 403
