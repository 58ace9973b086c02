"""A large body decrypted, parsed and re-encrypted on the way through:
1 GiB from nginx to curl, byte for byte, while the worker's memory
stays bounded (back-pressure from the slow client to the fast origin,
through both TLS bufferevents); an upload the other way round.
"""

import hashlib
import os

import pytest

from pylib import client, origins, tls
from pylib.mitmd import download_sampling_rss

BIG = 1024 * 1024 * 1024          # the issue asks for 1 GiB
UPLOAD = 64 * 1024 * 1024
RSS_GROWTH_MAX_KIB = 32 * 1024   # what a worker may grow by for one flow
BIG_RATE = "120M"                # curl reads slower than nginx writes
TIMEOUT = 300


@pytest.fixture(scope="module")
def nginx(test_ca, ca_dir):
    cert, key = test_ca.issue("nginx", dns=["localhost"], ips=["127.0.0.1"])
    d = os.path.join(ca_dir, "nginx")
    os.makedirs(d)
    n = origins.NginxOrigin(d, cert, key)
    yield n
    n.close()


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca, events=False)


def test_1gib_download_rss_bounded(mitm, nginx):
    digest = nginx.add_file("big.bin", BIG)
    workers = mitm.pids("tlsworker")
    cmd = ["curl", "-sS", "--max-time", str(TIMEOUT), "--limit-rate",
           BIG_RATE, "-x", f"http://127.0.0.1:{mitm.proxy_port}",
           "--cacert", tls.mitmd_ca(mitm),
           f"https://localhost:{nginx.port}/big.bin"]
    d = download_sampling_rss(cmd, workers, TIMEOUT)
    assert d.rc == 0, d.stderr
    assert d.nbytes == BIG
    assert d.sha256 == digest
    growth = d.growth()
    print(f"worker VmRSS KiB: base {d.base} peak {d.peak}")
    assert max(growth.values()) < RSS_GROWTH_MAX_KIB, \
        f"worker VmRSS grew by {growth} KiB (base {d.base}, peak {d.peak})"
    a = mitm.wait_audit(closed=True, target=f"localhost:{nginx.port}",
                        action="intercept")
    assert int(a["bytes_out"]) > BIG, a["_line"]


def test_64mib_upload(mitm, test_ca):
    """A request body streams upstream: the origin's digest of it matches
    (POST with Content-Length, through curl)."""
    o = tls.TlsOrigin(*test_ca.issue("up", dns=["localhost"]))
    path = os.path.join(os.path.dirname(test_ca.certfile), "upload.bin")
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(UPLOAD // (1 << 20)):
            b = origins.body((1 << 20) + i)[:1 << 20]
            h.update(b)
            f.write(b)
    try:
        p = client.curl(["-x", f"http://127.0.0.1:{mitm.proxy_port}",
                         "--cacert", tls.mitmd_ca(mitm),
                         "-H", "Content-Type: application/octet-stream",
                         "--data-binary", f"@{path}",
                         f"https://localhost:{o.port}/echo"],
                        timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode() == h.hexdigest()
    finally:
        o.close()
        os.unlink(path)
