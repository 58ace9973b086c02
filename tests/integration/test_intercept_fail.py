"""TLS failures on both sides of an intercepted connection.

Upstream: an expired, a self-signed and a wrong-host certificate, and an
origin that does not speak TLS at all: the client still gets a TLS
connection from mitmd, and its first request a 502 page that says why;
the event tls_handshake_failed says side "upstream", the reason and the
raw detail. Client: a client without the mitmd CA aborts with an alert
(unknown_ca, which teaches), one that hangs up without an alert is
eof_reset (inferred, never teaches); both reach master (IMSG_TLS_FAIL,
its debug log) and the events. After `tls-passthrough learn after N`
such alerts the host is tunneled for that client, which then sees the
origin's own certificate.
"""

import ssl

import pytest

from pylib import client, origins, tls, util
from pylib.events import read as read_events

PT_AFTER = 2


@pytest.fixture(scope="module")
def good(test_ca):
    o = tls.TlsOrigin(*test_ca.issue("good", dns=["localhost"],
                                     ips=["127.0.0.1"]))
    yield o
    o.close()


BAD = {
    # label: (issue() arguments, words of the 502 page, reason, detail)
    "expired": (dict(dns=["localhost"], days_from=-10, days_to=-1),
                "expired", "cert_validation", "certificate has expired"),
    "self-signed": (dict(dns=["localhost"], self_signed=True),
                    "self-signed", "unknown_ca", "self-signed certificate"),
    "wrong-host": (dict(dns=["other.example"]), "wrong host",
                   "cert_validation", "hostname mismatch"),
}


@pytest.fixture(scope="module")
def bad_origins(test_ca):
    out = {k: tls.TlsOrigin(*test_ca.issue(k, **v[0]))
           for k, v in BAD.items()}
    yield out
    for o in out.values():
        o.close()


def start(build, test_ca, extra=(), rules=()):
    return tls.start_mitmd(build, test_ca, extra, rules=rules,
                           argv_prefix=tls.VERBOSE_PREFIX)


def events(m, **want):
    """The events of the file sink with these members."""
    return [e for e in read_events(m)
            if all(e.get(k) == v for k, v in want.items())]


def wait_event(m, timeout=10, **want):
    return util.wait_until(lambda: (events(m, **want) or [None])[0],
                           timeout, f"event {want}")


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    m = start(build, test_ca)
    yield m
    tls.stop_mitmd(m)


def curl_via(m, url, *args):
    return client.curl(["-x", f"http://127.0.0.1:{m.proxy_port}", *args,
                        "-o", "-", "-w", "\n%{http_code}", url])


@pytest.mark.parametrize("label", list(BAD))
def test_upstream_bad_certificate_502(mitm, bad_origins, label):
    o = bad_origins[label]
    _, words, reason, detail = BAD[label]
    p = curl_via(mitm, f"https://localhost:{o.port}/x", "--cacert",
                 tls.mitmd_ca(mitm))
    assert p.returncode == 0, p.stderr
    body, _, code = p.stdout.decode().rpartition("\n")
    assert code == "502", body
    assert words in body and detail in body, body
    assert "text/html" in body or "<html>" in body
    mitm.wait_log(rf"tls failure: client=127\.0\.0\.1(:\d+)? host=localhost "
                  rf"side=upstream reason={reason}")
    e = wait_event(mitm, type="tls_handshake_failed",
                   server_port=o.port, side="upstream")
    if e is not None:
        assert e["tls_failure_reason"] == reason
        assert detail in e["detail"]
    assert o.requests == 0   # nothing but the handshake reached it


def test_upstream_not_tls_502(mitm):
    """An origin that answers a ClientHello with HTTP: a handshake
    failure, and the same 502 page."""
    o = origins.HttpOrigin()
    try:
        p = curl_via(mitm, f"https://localhost:{o.port}/x", "--cacert",
                     tls.mitmd_ca(mitm))
        body, _, code = p.stdout.decode().rpartition("\n")
        assert code == "502", (p.stderr, body)
        assert "TLS handshake failed" in body
        mitm.wait_log(r"side=upstream reason=handshake")
    finally:
        o.close()


def client_hello(server_hostname="localhost"):
    """The bytes of a real ClientHello (Python's OpenSSL)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_client_without_ca_is_unknown_ca(mitm, good):
    """curl without the mitmd CA refuses the leaf with an alert: master
    hears unknown_ca with the alert flag."""
    p = curl_via(mitm, f"https://localhost:{good.port}/x")
    assert p.returncode == 60, p.stderr   # peer certificate not trusted
    mitm.wait_log(r"tls failure: client=127\.0\.0\.1(:\d+)? host=localhost "
                  r"side=client reason=unknown_ca \(alert\)")
    e = wait_event(mitm, type="tls_handshake_failed", side="client",
                   server_port=good.port)
    if e is not None:
        assert e["tls_failure_reason"] == "unknown_ca"


def test_client_hangs_up_is_eof_reset(mitm, good):
    """A client that closes after our ServerHello, without an alert:
    eof_reset, never an alert."""
    mark = len(mitm.syslog.snapshot())
    s, resp, _ = client.proxy_connect(mitm.proxy_port,
                                      f"localhost:{good.port}")
    with s:
        assert resp.status == 200
        s.sendall(client_hello())
        assert s.recv(5)[:1] == b"\x16"   # our ServerHello comes
    m = mitm.wait_log(r"side=client reason=eof_reset.*", start=mark)
    assert "(alert)" not in m.group(0)


def test_partial_hello_then_eof(mitm, good):
    s, resp, _ = client.proxy_connect(mitm.proxy_port,
                                      f"localhost:{good.port}")
    mark = len(mitm.syslog.snapshot())
    with s:
        s.sendall(client_hello()[:20])
    mitm.wait_log(r"side=client reason=eof_reset", start=mark)


def test_passthrough_learned(build, test_ca, good):
    """After PT_AFTER unknown_ca alerts from a client for a host, that
    client's CONNECTs to it are tunneled: it sees the origin's own
    certificate, and the decision is audited as rule=passthrough."""
    m = start(build, test_ca, extra=[f"tls-passthrough learn after "
                                     f"{PT_AFTER}"])
    try:
        # This client trusts the origin's CA, not mitmd's.
        ctx = ssl.create_default_context(cafile=test_ca.certfile)
        target = f"localhost:{good.port}"
        for _ in range(PT_AFTER):
            with pytest.raises(ssl.SSLCertVerificationError):
                tls.connect_tls(m.proxy_port, target, ctx, "localhost")
        m.wait_log(r"side=client reason=unknown_ca \(alert\)")

        def tunneled():
            try:
                t = tls.connect_tls(m.proxy_port, target, ctx, "localhost")
            except ssl.SSLCertVerificationError:
                return None
            return t
        t = util.wait_until(tunneled, 15, "the learned passthrough")
        with t:
            issuer, _, _ = tls.cert_info(t.getpeercert(binary_form=True))
            assert issuer == "mitmd tests origin CA"
            assert tls.request(t, "/pt", target).status == 200
        m.wait_audit(target=target, action="tunnel", rule="passthrough")
    finally:
        m.close()
        m.cleanup()


def test_tls_min_version_13(build, test_ca, good):
    """tls min-version 1.3 holds on both sides: a TLS 1.2 client is
    refused (a handshake failure), a TLS 1.3 one gets through."""
    m = start(build, test_ca, extra=["tls min-version 1.3"])
    try:
        target = f"localhost:{good.port}"
        ctx = tls.mitmd_context(m)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):
            tls.connect_tls(m.proxy_port, target, ctx, "localhost")
        m.wait_log(r"side=client reason=handshake")
        with tls.connect_tls(m.proxy_port, target, tls.mitmd_context(m),
                             "localhost") as t:
            assert t.version() == "TLSv1.3"
            assert tls.request(t, "/13", target).status == 200
        tls.assert_no_violation(m)
    finally:
        m.close()
        m.cleanup()


def test_upstream_verify_no(build, test_ca, bad_origins):
    """upstream verify no: self-signed and wrong-host origins are served
    (the leaf copies their names); an expired one still gets the 502
    page, as no leaf is issued outside the upstream's validity."""
    m = start(build, test_ca, extra=["upstream verify no"])
    try:
        for label in ("self-signed", "wrong-host"):
            target = f"localhost:{bad_origins[label].port}"
            with tls.connect_tls(m.proxy_port, target,
                                 tls.mitmd_context(m), "localhost") as t:
                assert tls.request(t, "/v", target).status == 200, label
        target = f"localhost:{bad_origins['expired'].port}"
        with tls.connect_tls(m.proxy_port, target, tls.mitmd_context(m),
                             "localhost") as t:
            r = tls.request(t, "/v", target)
            assert r.status == 502 and b"expired" in r.body
    finally:
        m.close()
        m.cleanup()
