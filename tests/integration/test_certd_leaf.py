"""certd's leaf certificates through the real system. certd makes one
ECDSA P-256 leaf key at start and logs its generation and the SHA-256 of
its public key; `mitmctl ca rotate` (master forwards it as IMSG_CA_ROTATE)
makes a new key with the next generation and sends it to the workers; a
respawned certd starts a new key of an unrelated generation; a test
build's SIGUSR1 makes certd sign a probe leaf inside its sandbox; nothing
of this trips certd's seccomp filter. Then the leaf a real client gets
through a worker's interception: issued by the mitmd CA for the logged
leaf key, the upstream's SANs (an IP, a wildcard), validity inside the
upstream's, reused for the same upstream and SNI, a new serial for
another SNI and after a rotation. The refusals and the edge cases of
names and validity are in tests/unit/certd_leaf.c and certd_worker.c.
"""

import os
import re
import signal
import socket
import struct
import time

import pytest
from cryptography import x509

from pylib import origins, tlsclient, util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
KEY_RE = (r"certd\[(\d+)\]: leaf key generation (\d+): ECDSA P-256, "
          r"public key sha256 ([0-9a-f]{64})")
ROTATED_RE = (r"certd\[(\d+)\]: leaf key rotated: generation (\d+), ECDSA "
              r"P-256, public key sha256 ([0-9a-f]{64}); (\d+) cached "
              r"certificates flushed; sent to (\d+) workers")
SANDBOX_RE = r"SIGSYS|sandbox violation"
HDR = struct.Struct("<IIII")   # type, len, reqid, pid (common/ipc.h)
GEN_MOD = 1 << 32


def _imsg_numbers():
    """{name: number} of enum imsg_type, counted in common/proto.h."""
    with open(os.path.join(ROOT, "common", "proto.h")) as f:
        text = f.read()
    body = re.search(r"enum imsg_type \{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = [n.strip().split("=")[0].strip() for n in body.split(",")]
    return {n: i for i, n in enumerate(x for x in names if x)}


def _raw_rotate(m):
    """IMSG_CTL_CA_ROTATE over the control socket, for a mitmctl without
    `ca rotate`; returns master's IMSG_CTL_RESULT (ok, text)."""
    nums = _imsg_numbers()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    try:
        s.connect(m.ctl_sock)
        s.send(HDR.pack(nums["IMSG_CTL_CA_ROTATE"], 0, 7, os.getpid()))
        data = s.recv(65536)
    finally:
        s.close()
    typ, n, reqid, _ = HDR.unpack_from(data)
    assert typ == nums["IMSG_CTL_RESULT"] and reqid == 7, (typ, reqid)
    ok, _pad = struct.unpack_from("<ii", data, HDR.size)
    return ok, data[HDR.size + 8:HDR.size + n].decode()


def rotate(m):
    p = m.ctl("ca", "rotate", check=False)
    if p.returncode != 0 and "usage" in p.stderr:
        ok, text = _raw_rotate(m)
        assert ok == 1, text
        return
    assert p.returncode == 0, p.stderr + p.stdout


def _next(gen, steps=1):
    """The generation after steps rotations: + 1, wrapping past 0."""
    for _ in range(steps):
        gen = (gen + 1) % GEN_MOD or 1
    return gen


def _certd_pid(m):
    pids = m.pids("certd")
    assert len(pids) == 1, m.children()
    return pids[0]


def _no_sandbox_kill(m):
    bad = m.syslog.findall(SANDBOX_RE)
    assert not bad, [x.string for x in bad]


def _certd_status(m):
    return [p for p in m.status()["processes"] if p["role"] == "certd"]


@pytest.fixture
def m(mitmd_factory):
    return mitmd_factory(rules=['tunnel host "127.0.0.1"'], workers=2)


def test_leaf_key_at_start(m):
    k = m.wait_log(KEY_RE, 15)
    assert int(k.group(1)) == _certd_pid(m)
    assert 0 < int(k.group(2)) < GEN_MOD
    # The key is logged before certd announces it is ready: made before
    # the seccomp filter, which later rotations run under.
    lines = m.syslog.snapshot()
    ki = next(i for i, ln in enumerate(lines) if re.search(KEY_RE, ln))
    ri = next(i for i, ln in enumerate(lines)
              if re.search(r"certd ready, pid \d+, sandbox full", ln))
    assert ki < ri
    certd = _certd_status(m)
    assert len(certd) == 1 and certd[0]["sandbox"] == "full"
    # No certificate asked for yet: none issued.
    assert certd[0]["total"] == 0
    _no_sandbox_kill(m)


def test_rotate(m):
    k = m.wait_log(KEY_RE, 15)
    pid, gen, fp = int(k.group(1)), int(k.group(2)), k.group(3)
    m.wait_children()
    seen = {fp}
    for i in range(1, 4):
        mark = m.syslog.mark()
        rotate(m)
        r = m.wait_log(ROTATED_RE, 10, start=mark)
        assert int(r.group(1)) == pid, "rotated by another certd"
        assert int(r.group(2)) == _next(gen, i)
        assert r.group(3) not in seen, "a rotation kept an old key"
        seen.add(r.group(3))
        # Nothing was intercepted, so nothing was cached.
        assert int(r.group(4)) == 0
        # Sent to every worker: master's PEERs reached certd before the
        # rotation, on the same channel.
        assert int(r.group(5)) == m.workers
    # certd did it in its sandbox, without dying or being replaced.
    assert _certd_pid(m) == pid
    assert _certd_status(m)[0]["restarts"] == 0
    assert _certd_status(m)[0]["state"] == "running"
    _no_sandbox_kill(m)


def test_rotate_raw_control_message(m):
    """The control-socket message itself, as mitmctl sends it."""
    k = m.wait_log(KEY_RE, 15)
    mark = m.syslog.mark()
    ok, text = _raw_rotate(m)
    assert ok == 1, text
    r = m.wait_log(ROTATED_RE, 10, start=mark)
    assert int(r.group(2)) == _next(int(k.group(2)))
    assert r.group(3) != k.group(3)


def test_respawned_certd_new_key(m):
    """One leaf key per certd lifetime: a new certd makes its own, with
    a generation that cannot be mistaken for the old one's next."""
    k = m.wait_log(KEY_RE, 15)
    old_pid, old_gen, old_fp = int(k.group(1)), int(k.group(2)), k.group(3)
    m.wait_children()
    mark = m.syslog.mark()
    os.kill(old_pid, signal.SIGKILL)
    k2 = m.wait_log(KEY_RE, 30, start=mark)
    new_pid = int(k2.group(1))
    assert new_pid != old_pid
    assert k2.group(3) != old_fp
    # Random start: the chance of landing on old_gen or old_gen + 1 is
    # 2 in 2^32.
    assert int(k2.group(2)) not in (old_gen, _next(old_gen))
    util.wait_until(lambda: _certd_status(m)[0]["state"] == "running",
                    15, "certd running again")
    mark = m.syslog.mark()
    rotate(m)
    r = m.wait_log(ROTATED_RE, 10, start=mark)
    assert int(r.group(1)) == new_pid
    assert int(r.group(2)) == _next(int(k2.group(2)))
    _no_sandbox_kill(m)


PROBE_RE = (r"certd\[(\d+)\]: test hook: probe leaf (issued|refused), "
            r"(\d+) bytes, generation (\d+); cache (\d+) hits, (\d+) "
            r"misses; (\d+) issued")


def _probe(m, pid):
    """SIGUSR1 (test builds): certd answers a fixed request for
    probe.test and 192.0.2.1 through its request path and logs how."""
    mark = m.syslog.mark()
    os.kill(pid, signal.SIGUSR1)
    r = m.wait_log(PROBE_RE, 10, start=mark)
    assert int(r.group(1)) == pid
    return (r.group(2), int(r.group(3)), int(r.group(4)),
            int(r.group(5)), int(r.group(6)), int(r.group(7)))


def test_issue_in_sandbox(m):
    """A leaf signed inside the real sandbox (chroot, uid, seccomp), then
    served from the cache; a rotation empties the cache and the next one
    is signed for the new generation. certd's TOTAL in `mitmctl status`
    counts certificates issued, not answers."""
    k = m.wait_log(KEY_RE, 15)
    pid, gen = int(k.group(1)), int(k.group(2))
    m.wait_children()
    how, size, g, hits, misses, issued = _probe(m, pid)
    assert (how, g, hits, misses, issued) == ("issued", gen, 0, 1, 1)
    assert 300 < size <= 8192
    how, size2, g, hits, misses, issued = _probe(m, pid)
    assert (how, size2, hits, misses, issued) == ("issued", size, 1, 1, 1)
    util.wait_until(lambda: _certd_status(m)[0]["total"] == 1, 10,
                    "certd's TOTAL to show 1 issued")
    mark = m.syslog.mark()
    rotate(m)
    r = m.wait_log(ROTATED_RE, 10, start=mark)
    assert int(r.group(4)) == 1, "the cached probe was not flushed"
    how, _, g, hits, misses, issued = _probe(m, pid)
    assert (how, g, hits, misses, issued) == ("issued", _next(gen), 1, 2, 2)
    util.wait_until(lambda: _certd_status(m)[0]["total"] == 2, 10,
                    "certd's TOTAL to show 2 issued")
    assert _certd_pid(m) == pid
    _no_sandbox_kill(m)


# --- through a worker: the leaf a real client is given -------------------

BACKDATE = 3600                 # certd's CERTD_LEAF_BACKDATE_SEC
MAX_VALID = 397 * 86400         # CERTD_LEAF_MAX_DAYS
SLACK = 5                       # seconds between our clock reads and certd's


@pytest.fixture
def wild_origin(session_dir):
    """An HTTPS origin whose certificate names a wildcard and localhost."""
    cert, key = tlsclient.make_cert(session_dir, "wild", "wild origin",
                                    "DNS:*.example.test,DNS:localhost")
    o = origins.HttpsOrigin(cert, key)
    yield o
    o.close()


@pytest.fixture
def im(mitmd_factory, session_dir, origin_cert, wild_origin):
    """A mitmd that intercepts everything and trusts the two origins."""
    bundle = os.path.join(session_dir, "certd-upstreams.pem")
    with open(bundle, "w") as out:
        for f in (origin_cert[0], wild_origin.certfile):
            with open(f) as cf:
                out.write(cf.read())
    return mitmd_factory(extra=[f'upstream ca-file "{bundle}"'], workers=1)


def _ca(m):
    return os.path.join(m.state_dir, "ca", "ca.pem")


def _issued(m):
    return _certd_status(m)[0]["total"]


def _check_leaf(m, leaf, upstream_pem, fp, t0, t1):
    """What every leaf must be: issued by the mitmd CA for the current
    leaf key, the upstream's SANs, a validity inside the upstream's and
    now's window, a server certificate that is not a CA."""
    ca = tlsclient.load_pem(_ca(m))
    up = tlsclient.load_pem(upstream_pem)
    assert leaf.issuer == ca.subject.rfc4514_string()
    assert leaf.spki_sha256 == fp, "not the leaf key certd logged"
    for s in tlsclient.san_strings(up):
        assert s in leaf.sans, (s, leaf.sans)
    up_nb = tlsclient.epoch(up.not_valid_before)
    up_na = tlsclient.epoch(up.not_valid_after)
    assert max(up_nb, t0 - BACKDATE) - SLACK <= leaf.not_before <= \
        max(up_nb, t1 - BACKDATE) + SLACK
    assert leaf.not_after <= min(up_na, t1 + MAX_VALID + SLACK)
    # The upstreams here end in two days: the leaf ends with them.
    assert leaf.not_after == up_na
    crit, bc = leaf.ext(x509.BasicConstraints)
    assert crit and not bc.ca
    crit, ku = leaf.ext(x509.KeyUsage)
    assert crit and ku.digital_signature and not ku.key_cert_sign
    _, eku = leaf.ext(x509.ExtendedKeyUsage)
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert 0 < leaf.serial < 1 << 127


def test_leaf_for_ip_target(im, https_origin, origin_cert):
    """The IP of the CONNECT target, no SNI: an IP SAN, verified by the
    client's own TLS stack against the mitmd CA."""
    fp = im.wait_log(KEY_RE, 15).group(3)
    t0 = int(time.time())
    leaf, r = tlsclient.intercept(im.proxy_port, https_origin.hostport,
                                  _ca(im), "127.0.0.1", "/bytes/1000")
    t1 = int(time.time())
    assert r.status == 200 and r.body == origins.body(1000)
    _check_leaf(im, leaf, origin_cert[0], fp, t0, t1)
    assert "IP:127.0.0.1" in leaf.sans
    assert leaf.subject == "CN=127.0.0.1"
    util.wait_until(lambda: _issued(im) == 1, 10, "certd TOTAL 1")


def test_leaf_wildcard_kept(im, wild_origin):
    """A DNS name (the SNI) and the upstream's wildcard SAN, kept."""
    fp = im.wait_log(KEY_RE, 15).group(3)
    port = wild_origin.hostport.rsplit(":", 1)[1]
    t0 = int(time.time())
    leaf, r = tlsclient.intercept(im.proxy_port, f"localhost:{port}",
                                  _ca(im), "localhost", "/bytes/10")
    t1 = int(time.time())
    assert r.status == 200 and r.body == origins.body(10)
    _check_leaf(im, leaf, wild_origin.certfile, fp, t0, t1)
    assert leaf.sans == ["DNS:*.example.test", "DNS:localhost"]


def test_leaf_reuse_rotation_and_serials(im, https_origin, origin_cert):
    """The same upstream and SNI again: the same leaf, nothing new signed.
    Another SNI for the same upstream: another leaf, another serial. A
    rotation: a leaf for the new key with a new serial."""
    fp = im.wait_log(KEY_RE, 15).group(3)
    target = https_origin.hostport
    a, _ = tlsclient.intercept(im.proxy_port, target, _ca(im), "127.0.0.1")
    b, _ = tlsclient.intercept(im.proxy_port, target, _ca(im), "127.0.0.1")
    assert a.der == b.der
    c, _ = tlsclient.intercept(im.proxy_port, target, _ca(im), "localhost")
    assert c.serial != a.serial and c.spki_sha256 == fp
    assert "DNS:localhost" in c.sans
    util.wait_until(lambda: _issued(im) == 2, 10, "certd TOTAL 2")
    mark = im.syslog.mark()
    rotate(im)
    r = im.wait_log(ROTATED_RE, 10, start=mark)
    assert int(r.group(5)) == im.workers, "not every worker got the key"
    # The worker applies the new key when it reads it: retry briefly.
    def rotated():
        d, _ = tlsclient.intercept(im.proxy_port, target, _ca(im),
                                   "127.0.0.1")
        return d if d.spki_sha256 == r.group(3) else None
    d = util.wait_until(rotated, 10, "a leaf for the new key")
    assert len({a.serial, c.serial, d.serial}) == 3
    t = int(time.time())
    _check_leaf(im, d, origin_cert[0], r.group(3), t - 10, t)
    util.wait_until(lambda: _issued(im) == 3, 10, "certd TOTAL 3")
    _no_sandbox_kill(im)
