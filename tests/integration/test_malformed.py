"""Strict CONNECT parsing: malformed request lines, bad ports, oversized
heads and too many header fields get the right status, and the next client
is served as if nothing happened (no worker died)."""

import pytest

from pylib import client, origins

HEAD_LIMIT = 64 * 1024       # limit head, the default
HEADERS_LIMIT = 100          # limit headers, the default

T = "127.0.0.1:443"
CASES = [
    # (id, bytes sent, accepted statuses)
    ("no-port", b"CONNECT 127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
     {400}),
    ("port-0", b"CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n", {400}),
    ("port-70000", b"CONNECT 127.0.0.1:70000 HTTP/1.1\r\n\r\n", {400}),
    ("port-empty", b"CONNECT 127.0.0.1: HTTP/1.1\r\n\r\n", {400}),
    ("port-negative", b"CONNECT 127.0.0.1:-1 HTTP/1.1\r\n\r\n", {400}),
    ("port-alpha", b"CONNECT 127.0.0.1:8a HTTP/1.1\r\n\r\n", {400}),
    ("port-huge", b"CONNECT 127.0.0.1:4294967697 HTTP/1.1\r\n\r\n", {400}),
    ("v6-unterminated", b"CONNECT [::1:443 HTTP/1.1\r\n\r\n", {400}),
    ("v6-no-colon", b"CONNECT [::1]443 HTTP/1.1\r\n\r\n", {400}),
    ("v6-not-v6", b"CONNECT [example.com]:443 HTTP/1.1\r\n\r\n", {400}),
    ("origin-form", b"CONNECT /path HTTP/1.1\r\n\r\n", {400}),
    ("garbage-line", b"GARBAGE\r\n\r\n", {400}),
    ("binary-target", b"CONNECT \x01\x02\xff:443 HTTP/1.1\r\n\r\n", {400}),
    ("double-space", b"CONNECT  127.0.0.1:443 HTTP/1.1\r\n\r\n", {400}),
    ("no-version", b"CONNECT 127.0.0.1:443\r\n\r\n", {400}),
    ("bad-version", b"CONNECT 127.0.0.1:443 HTTX/1.1\r\n\r\n", {400}),
    ("version-2", b"CONNECT 127.0.0.1:443 HTTP/2.0\r\n\r\n", {505}),
    ("lone-cr", b"CONNECT 127.0.0.1:443 HTTP/1.1\rHost: x\r\n\r\n", {400}),
    ("field-no-colon", b"CONNECT " + T.encode() +
     b" HTTP/1.1\r\nHost x\r\n\r\n", {400}),
    ("space-before-colon", b"CONNECT " + T.encode() +
     b" HTTP/1.1\r\nHost : x\r\n\r\n", {400}),
    ("obs-fold", b"CONNECT " + T.encode() +
     b" HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", {400}),
]


def _check_case(m, origin, data, statuses):
    before = m.by_role()
    try:
        r = client.raw_request(m.proxy_port, data)
    except ConnectionResetError:
        pytest.fail("connection reset before a response: the status was "
                    "lost (the proxy closed with unread input)")
    assert r.status in statuses, (r.status, r.raw_head)
    assert r.header("Connection") in (None, "close"), r.raw_head
    # The next client, on a new connection, is served.
    good = client.tunnel_tls(m.proxy_port, origin, "/bytes/5000")
    assert good.status == 200 and good.body == origins.body(5000)
    assert m.by_role() == before, "a process restarted"


@pytest.mark.parametrize("data,statuses",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_connect(shared_mitmd, shared_https_origin, data,
                           statuses):
    _check_case(shared_mitmd, shared_https_origin, data, statuses)


def test_head_over_64k_431(shared_mitmd, shared_https_origin):
    # Header fields of 1000 bytes until the head passes the limit; no
    # blank line, so only the size can end it.
    field = b"X-Pad: " + b"a" * 991 + b"\r\n"
    data = b"CONNECT " + T.encode() + b" HTTP/1.1\r\n"
    while len(data) <= HEAD_LIMIT:
        data += field
    assert len(data) // len(field) < HEADERS_LIMIT  # the size ends it
    _check_case(shared_mitmd, shared_https_origin, data, {431})


def test_request_line_over_64k_431(shared_mitmd, shared_https_origin):
    data = b"GET http://127.0.0.1/" + b"a" * HEAD_LIMIT + b" HTTP/1.1\r\n"
    _check_case(shared_mitmd, shared_https_origin, data, {431, 414})


def test_too_many_headers_431(shared_mitmd, shared_https_origin):
    data = b"CONNECT " + T.encode() + b" HTTP/1.1\r\n"
    data += b"".join(b"X-H%d: v\r\n" % i for i in range(HEADERS_LIMIT + 1))
    data += b"\r\n"
    assert len(data) < HEAD_LIMIT
    _check_case(shared_mitmd, shared_https_origin, data, {431})


def test_headers_at_limit_accepted(shared_mitmd, shared_https_origin):
    """Exactly the limit is still fine (Host counts as one)."""
    o = shared_https_origin
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(HEADERS_LIMIT - 1))
    s, resp, _ = client.proxy_connect(shared_mitmd.proxy_port, o.hostport,
                                      extra=extra)
    s.close()
    assert resp.status == 200


def test_client_closes_mid_head(shared_mitmd, shared_https_origin):
    """A client that goes away half-way through a head costs nothing."""
    for i in range(20):
        s = client.connect(shared_mitmd.proxy_port)
        s.sendall(b"CONNECT 127.0.0.1:4"[: 5 + i % 14])
        s.close()
    good = client.tunnel_tls(shared_mitmd.proxy_port, shared_https_origin,
                             "/bytes/10")
    assert good.status == 200

