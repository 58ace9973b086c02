"""CONNECT tunnels: bodies arrive byte for byte, IPv6 targets, the default
rule (intercept, relayed as a tunnel in this issue), and a 100 MiB transfer
that keeps the worker's memory bounded."""

import hashlib
import ssl

import pytest

from pylib import client, origins
from pylib.mitmd import download_sampling_rss

SIZES = [0, 1, 16383, 65537, 3 * 1024 * 1024 + 7]
BIG = 100 * 1024 * 1024
RSS_GROWTH_MAX_KIB = 32 * 1024   # what a worker may grow by for one flow
BIG_RATE = "80M"                 # curl reads slower than nginx writes


@pytest.mark.parametrize("size", SIZES)
def test_curl_tunnel_body_exact(shared_mitmd, shared_https_origin, size,
                                tmp_path):
    o = shared_https_origin
    out = tmp_path / "body"
    p = client.curl(["-x", f"http://127.0.0.1:{shared_mitmd.proxy_port}",
                     "--cacert", o.certfile, "-o", str(out),
                     f"https://127.0.0.1:{o.port}/bytes/{size}"])
    assert p.returncode == 0, p.stderr.decode()
    data = out.read_bytes()
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == origins.body_sha256(size)


def test_post_body_upstream_exact(shared_mitmd, shared_https_origin,
                                  tmp_path):
    """Bytes from the client reach the origin unchanged too."""
    o = shared_https_origin
    src = tmp_path / "up"
    data = origins.body(2 * 1024 * 1024 + 3)
    src.write_bytes(data)
    p = client.curl(["-x", f"http://127.0.0.1:{shared_mitmd.proxy_port}",
                     "--cacert", o.certfile, "--data-binary", f"@{src}",
                     "-H", "Content-Type: application/octet-stream",
                     f"https://127.0.0.1:{o.port}/post"])
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == hashlib.sha256(data).hexdigest()


def test_connect_ipv6_literal(shared_mitmd, origin_cert):
    o6 = origins.HttpsOrigin(*origin_cert, host="::1")
    try:
        r = client.tunnel_tls(shared_mitmd.proxy_port, o6, "/bytes/4096",
                              server_hostname="::1")
        assert r.status == 200
        assert r.body == origins.body(4096)
        assert o6.connections == 1
        shared_mitmd.wait_audit(target=f"[::1]:{o6.port}", action="tunnel")
    finally:
        o6.close()


def test_default_rule_intercepts(mitmd_factory, https_origin):
    """No rule matches: the default is intercept. A client that trusts
    only the origin's CA sees mitmd's certificate instead and refuses it;
    the audit line says intercept with rule=default."""
    m = mitmd_factory(rules=['block host "blocked.test"'])
    with pytest.raises(ssl.SSLCertVerificationError):
        client.tunnel_tls(m.proxy_port, https_origin, "/bytes/1000")
    m.wait_audit(target=f"127.0.0.1:{https_origin.port}",
                 action="intercept", rule="default")


def test_100mib_through_nginx_rss_bounded(mitmd_factory, nginx_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    digest = nginx_origin.add_file("big.bin", BIG)
    workers = m.pids("tlsworker")
    assert len(workers) == m.workers
    cmd = ["curl", "-sS", "--max-time", "120", "--limit-rate", BIG_RATE,
           "-x", f"http://127.0.0.1:{m.proxy_port}",
           "--cacert", nginx_origin.certfile,
           f"https://127.0.0.1:{nginx_origin.port}/big.bin"]
    d = download_sampling_rss(cmd, workers, 120)
    assert d.rc == 0, d.stderr
    assert d.nbytes == BIG
    assert d.sha256 == digest
    growth = d.growth()
    print(f"worker VmRSS KiB: base {d.base} peak {d.peak}")
    assert max(growth.values()) < RSS_GROWTH_MAX_KIB, \
        f"worker VmRSS grew by {growth} KiB (base {d.base}, peak {d.peak})"
    # The flow went through the proxy, and its close line counts it.
    a = m.wait_audit(closed=True, target=f"127.0.0.1:{nginx_origin.port}")
    assert int(a["bytes_out"]) > BIG, a["_line"]
