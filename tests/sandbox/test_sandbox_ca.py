"""The CA key: a 0600 file of certd's user in a 0700 directory, unreadable
with the workers' uid; and no IPC message or socket write of any process
ever carries key material (strace of the whole process tree, with the CA
created during the trace so the key's own file write proves the search
works)."""

import base64
import os
import pwd
import re
import stat
import subprocess
import urllib.request

import pytest

from pylib import mitmd as mitmd_mod
from pylib import util

WORKER_USER = "_mitmd"
CA_USER = "_mitmd-ca"
NEEDLE_BYTES = 16      # bytes of a private value searched at a time
TRACED = "sendmsg,sendto,write,writev"


@pytest.fixture(scope="module")
def m(build):
    if os.geteuid() != 0:
        pytest.skip("separate users need root")
    inst = mitmd_mod.Mitmd(rules=['tunnel host "127.0.0.1"'])
    util.wait_until(lambda: os.path.exists(
        os.path.join(inst.state_dir, "ca", "ca.pem")), 20, "the CA files")
    yield inst
    try:
        inst.close()
    finally:
        inst.cleanup()


def _setpriv(user, *cmd):
    return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}",
                           "--clear-groups", "--inh-caps=-all",
                           "--bounding-set=-all", *cmd],
                          capture_output=True, text=True, timeout=10)


def test_key_file_modes(m):
    ca_dir = os.path.join(m.state_dir, "ca")
    key = os.path.join(ca_dir, "ca.key")
    ca = pwd.getpwnam(CA_USER)
    d = os.stat(ca_dir)
    assert stat.S_IMODE(d.st_mode) == 0o700
    assert (d.st_uid, d.st_gid) == (ca.pw_uid, ca.pw_gid)
    k = os.stat(key)
    assert stat.S_ISREG(k.st_mode) and stat.S_IMODE(k.st_mode) == 0o600
    assert k.st_uid == ca.pw_uid


def test_worker_uid_cannot_read_key(m):
    key = os.path.join(m.state_dir, "ca", "ca.key")
    p = _setpriv(WORKER_USER, "cat", key)
    assert p.returncode != 0 and "Permission denied" in p.stderr, p
    p = _setpriv(WORKER_USER, "ls", os.path.join(m.state_dir, "ca"))
    assert p.returncode != 0, p
    # The control: certd's user can, so the refusal above is the mode's.
    p = _setpriv(CA_USER, "cat", key)
    assert p.returncode == 0 and "PRIVATE KEY" in p.stdout, p.stderr


def _private_values(keyfile):
    """The private numbers of the key (EC scalar, or RSA d, p, q) as bytes,
    from `openssl pkey -text`."""
    text = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout",
                           "-text"], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    out, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            cur = m.group(1) if m.group(1) in (
                "priv", "privateExponent", "prime1", "prime2") else None
            if cur:
                out.append(bytearray())
            continue
        if cur and re.match(r"^\s+[0-9a-f:]+$", line):
            out[-1] += bytes.fromhex(line.strip().replace(":", ""))
        elif not line.startswith(" "):
            cur = None
    vals = [bytes(v.lstrip(b"\0")) for v in out if v]
    assert vals, f"no private values in:\n{text}"
    return vals


def _hex(b):
    return "".join(f"\\x{c:02x}" for c in b)


def _needles(keyfile, certfile):
    """strace -xx renderings of the key's secrets: windows of each private
    value (raw bytes, as a DER or in memory), and every line of the key
    file's base64 that is not public (not found in the certificate)."""
    needles = set()
    for v in _private_values(keyfile):
        for off in range(0, len(v) - NEEDLE_BYTES + 1, NEEDLE_BYTES):
            needles.add(_hex(v[off:off + NEEDLE_BYTES]))
    cert_der = subprocess.run(["openssl", "x509", "-in", certfile,
                               "-outform", "der"], capture_output=True,
                              check=True, timeout=30).stdout
    with open(keyfile) as f:
        lines = [ln.strip() for ln in f if ln.strip() and "-----" not in ln]
    for ln in lines:
        if len(ln) != 64:
            continue
        if base64.b64decode(ln) in cert_der:
            continue  # public-key bytes, also in the certificate
        needles.add(_hex(ln.encode()))
    return needles


def _unescape(s):
    """strace -xx prints even the -yy path of an fd as \\xNN escapes."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


SYSCALL_RE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?(\w+)\((\d+)(<[^>]*>)?")


def test_no_key_material_in_ipc(mitmd_factory, tmp_path):
    """Trace every process from the start of a fresh mitmd (the CA is
    created under the trace), then search each traced write for secrets.
    The only place allowed to hold them is certd's write of the key file."""
    if os.geteuid() != 0:
        pytest.skip("separate users need root")
    trace = str(tmp_path / "trace")
    m = mitmd_factory(
        rules=['tunnel host "127.0.0.1"'],
        argv_prefix=["strace", "-f", "-qq", "-yy", "-xx", "-s", "70000",
                     "-e", f"trace={TRACED}", "-o", trace])
    try:
        util.wait_until(lambda: os.path.exists(
            os.path.join(m.state_dir, "ca", "ca.pem")), 20, "the CA")
        # The CA reaches the webui (certd -> master -> webui) in the trace.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def served():
            with opener.open(f"http://127.0.0.1:{m.webui_port}/ca.pem",
                             timeout=5) as r:
                return r.status == 200
        util.wait_until(served, 20, "the CA on the webui")
        m.ctl("status")
    finally:
        m.close()
    keyfile = os.path.join(m.state_dir, "ca", "ca.key")
    certfile = os.path.join(m.state_dir, "ca", "ca.pem")
    needles = _needles(keyfile, certfile)
    with open(certfile) as f:
        cert_line = next(ln.strip() for ln in f if "-----" not in ln)
    cert_needle = _hex(cert_line.encode())
    key_writes, leaks, cert_seen = 0, [], 0
    with open(trace, errors="replace") as f:
        for line in f:
            mt = SYSCALL_RE.match(line)
            fdpath = _unescape(mt.group(4)[1:-1]) if mt and mt.group(4) \
                else ""
            hit = [n for n in needles if n in line]
            if cert_needle in line and not fdpath.startswith("/"):
                cert_seen += 1
            if not hit:
                continue
            if fdpath.startswith(os.path.realpath(
                    os.path.join(m.state_dir, "ca")) + "/ca.key"):
                key_writes += 1
                continue
            leaks.append(line[:300])
    assert key_writes >= 1, \
        "the search found no secret even in the key file's own write"
    assert cert_seen >= 2, \
        "the CA certificate was not seen in IPC: was the trace complete?"
    assert not leaks, f"key material outside the key file: {leaks[:3]}"
