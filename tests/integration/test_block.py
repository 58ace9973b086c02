"""block: 403 with a short body, and the origin never sees a connection."""

from pylib import client

BLOCK_BODY_MAX = 1024


def test_blocked_connect_403_no_upstream(mitmd_factory, https_origin,
                                         http_origin):
    m = mitmd_factory(rules=['block host "127.0.0.1"',
                             'tunnel host "::1"'])
    idx, line = m.rule("127.0.0.1")
    mark = m.syslog.mark()
    # curl sees the refusal of the CONNECT.
    rc, code, connect_code, err = client.curl_status(
        ["-x", f"http://127.0.0.1:{m.proxy_port}", "--cacert",
         https_origin.certfile, f"https://127.0.0.1:{https_origin.port}/"])
    assert rc != 0 and connect_code == 403, (rc, code, connect_code, err)
    # A raw CONNECT gets a 403 with a short body, and the connection ends.
    s, resp, rest = client.proxy_connect(m.proxy_port,
                                         https_origin.hostport)
    with s:
        assert resp.status == 403
        n = resp.header("Content-Length")
        assert n is not None and int(n) <= BLOCK_BODY_MAX
        client.read_exact(s, int(n), rest)
    # Plain HTTP to a blocked host: 403 too.
    r = client.raw_request(
        m.proxy_port,
        f"GET http://{http_origin.hostport}/x HTTP/1.1\r\n"
        f"Host: {http_origin.hostport}\r\nConnection: close\r\n\r\n"
        .encode())
    assert r.status == 403
    a = m.wait_audit(start=mark, action="block",
                     target=f"127.0.0.1:{https_origin.port}")
    assert a["rule"] == str(idx) and a["line"] == str(line), a["_line"]
    m.wait_audit(start=mark, action="block",
                 target=f"127.0.0.1:{http_origin.port}")
    # Every decision above is audited: the origins had no connection.
    assert https_origin.connections == 0
    assert http_origin.connections == 0
    assert http_origin.requests == []


def test_block_by_name_and_suffix(mitmd_factory):
    """Name patterns: exact and *.suffix; no DNS lookup is needed to
    refuse, so the names need not exist."""
    m = mitmd_factory(rules=['block host "blocked.test", "*.ads.test"'])
    for target, rule in (("blocked.test:443", "1"),
                         ("BLOCKED.test.:443", "1"),
                         ("a.b.ads.test:443", "2")):
        mark = m.syslog.mark()
        s, resp, _ = client.proxy_connect(m.proxy_port, target)
        s.close()
        assert resp.status == 403, target
        m.wait_audit(start=mark, action="block", rule=rule)
