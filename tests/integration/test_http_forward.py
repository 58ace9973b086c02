"""Plain HTTP through the explicit proxy: absolute-form requests are
forwarded in origin-form, hop-by-hop fields are dropped, and a client
connection stays open for the next request."""

import hashlib

from pylib import client, origins

HOP_FIELDS = {"proxy-connection", "keep-alive", "te", "upgrade",
              "x-hop", "proxy-authenticate"}


def _names(req):
    return [k.lower() for k, _ in req["headers"]]


def test_curl_absolute_form(shared_mitmd, http_origin):
    o = http_origin
    p = client.curl(["-x", f"http://127.0.0.1:{shared_mitmd.proxy_port}",
                     f"http://{o.hostport}/some/path?q=1&r=2"])
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"path /some/path?q=1&r=2\n"
    assert len(o.requests) == 1
    req = o.requests[0]
    # origin-form on the wire to the origin, never the absolute URL
    assert req["line"] == "GET /some/path?q=1&r=2 HTTP/1.1"
    assert "proxy-connection" not in _names(req), req["headers"]
    assert dict((k.lower(), v) for k, v in req["headers"])["host"] == \
        o.hostport


def test_hop_by_hop_removed(shared_mitmd, http_origin):
    o = http_origin
    req = (f"GET http://{o.hostport}/hop HTTP/1.1\r\n"
           f"Host: {o.hostport}\r\n"
           "Proxy-Connection: keep-alive\r\n"
           "Connection: X-Hop, close\r\n"
           "Keep-Alive: timeout=5\r\n"
           "TE: trailers\r\n"
           "X-Hop: secret\r\n"
           "X-End-To-End: kept\r\n"
           "\r\n").encode()
    r = client.raw_request(shared_mitmd.proxy_port, req)
    assert r.status == 200 and r.body == b"path /hop\n"
    names = _names(o.requests[-1])
    assert not HOP_FIELDS & set(names), o.requests[-1]["headers"]
    assert "x-end-to-end" in names


def test_response_hop_by_hop_removed(shared_mitmd, http_origin):
    """The origin's hop-by-hop fields do not reach the client either (the
    Python origin sends none; the Connection field the client sees is the
    proxy's own)."""
    r = client.raw_request(
        shared_mitmd.proxy_port,
        f"GET http://{http_origin.hostport}/bytes/100 HTTP/1.1\r\n"
        f"Host: {http_origin.hostport}\r\nConnection: close\r\n\r\n"
        .encode())
    assert r.status == 200 and r.body == origins.body(100)
    assert r.header("Keep-Alive") is None
    assert r.header("Proxy-Connection") is None


def test_keep_alive_two_requests_one_connection(shared_mitmd, http_origin):
    o = http_origin
    with client.connect(shared_mitmd.proxy_port) as s:
        for path, n in (("/bytes/1000", 1000), ("/bytes/70000", 70000)):
            s.sendall(f"GET http://{o.hostport}{path} HTTP/1.1\r\n"
                      f"Host: {o.hostport}\r\n\r\n".encode())
            r = client.read_response(s)
            assert r.status == 200
            assert r.body == origins.body(n)
            assert (r.header("Connection") or "").lower() != "close"
        # A third one after the first two, then an orderly close.
        s.sendall(f"GET http://{o.hostport}/last HTTP/1.1\r\n"
                  f"Host: {o.hostport}\r\nConnection: close\r\n\r\n"
                  .encode())
        r = client.read_response(s)
        assert r.status == 200 and r.body == b"path /last\n"
        assert client.read_to_eof(s) == b""
    assert [q["line"] for q in o.requests] == [
        "GET /bytes/1000 HTTP/1.1", "GET /bytes/70000 HTTP/1.1",
        "GET /last HTTP/1.1"]


def test_post_body_forwarded(shared_mitmd, http_origin):
    data = origins.body(300000)
    with client.connect(shared_mitmd.proxy_port) as s:
        s.sendall(f"POST http://{http_origin.hostport}/post HTTP/1.1\r\n"
                  f"Host: {http_origin.hostport}\r\n"
                  f"Content-Length: {len(data)}\r\n"
                  "Connection: close\r\n\r\n".encode() + data)
        r = client.read_response(s)
    assert r.status == 200
    assert r.body.decode() == hashlib.sha256(data).hexdigest()


def test_http_then_connect_same_worker_unaffected(shared_mitmd,
                                                  http_origin,
                                                  shared_https_origin):
    """Both kinds of traffic mixed on one proxy keep working."""
    for _ in range(3):
        r = client.raw_request(
            shared_mitmd.proxy_port,
            f"GET http://{http_origin.hostport}/a HTTP/1.1\r\n"
            f"Host: {http_origin.hostport}\r\nConnection: close\r\n\r\n"
            .encode())
        assert r.status == 200
        t = client.tunnel_tls(shared_mitmd.proxy_port, shared_https_origin,
                              "/bytes/10")
        assert t.status == 200
