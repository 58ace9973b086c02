"""HTTP/2 on a reverse listener, with the clients of the nghttp2 project:
nghttp fetches several streams at once on one connection, and a bounded
h2load run (a count of requests, not a time) gets every response. These
check behaviour, not speed: `make bench` measures h2load's rate.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess

import pytest

from pylib import events, h2origin, origins, tls, util
from test_reverse import start_reverse, stop
from pylib.mitmd import tempdir

H2LOAD_REQUESTS = 2000
TIMEOUT = 120


@pytest.fixture(scope="module")
def nginx_h2(test_ca):
    d = tempdir("ngx")
    o = origins.NginxOrigin(d, *test_ca.issue(
        "origin", dns=["localhost"], ips=["127.0.0.1"]), http2=True)
    o.sums = {n: o.add_file(f"f{n}", n) for n in (13, 100000, 1 << 20)}
    yield o
    o.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def mitm(build, test_ca, nginx_h2):
    m = start_reverse(build, test_ca, f"localhost:{nginx_h2.port}")
    yield m
    stop(m)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def test_nghttp_streams(mitm, nginx_h2):
    """nghttp, three files requested at once on one connection: three
    streams, each answered 200 with its whole body."""
    sizes = (13, 100000, 1 << 20)
    urls = [f"https://127.0.0.1:{mitm.reverse_port}/f{n}" for n in sizes]
    rc, out, err = run(["nghttp", "-nvs"] + urls)
    assert rc == 0, err + out
    assert "The negotiated protocol: h2" in out, out[-2000:]
    # the stats table: id, times, status, size, path; one stream each
    rows = [line.split() for line in out.splitlines()
            if re.match(r"\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+\d{3}\s", line)]
    assert sorted((r[4], r[-1]) for r in rows) == sorted(
        ("200", f"/f{n}") for n in sizes), out[-3000:]
    assert len({r[0] for r in rows}) == len(sizes)


def test_nghttp_body_identical(mitm, nginx_h2):
    n = 1 << 20
    p = subprocess.run(["nghttp", f"https://127.0.0.1:{mitm.reverse_port}"
                        f"/f{n}"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(p.stdout).hexdigest() == nginx_h2.sums[n]


def test_h2load_bounded(mitm, nginx_h2):
    """h2load: 4 connections, 10 streams each, a fixed number of requests;
    every one succeeds with a 2xx over h2."""
    rc, out, err = run(["h2load", "-n", str(H2LOAD_REQUESTS), "-c", "4",
                        "-m", "10", "-T", "30",
                        f"https://127.0.0.1:{mitm.reverse_port}/f13"])
    assert rc == 0, err + out
    assert "Application protocol: h2" in out, out
    assert f"{H2LOAD_REQUESTS} succeeded, 0 failed, 0 errored" in out, out
    assert f"status codes: {H2LOAD_REQUESTS} 2xx" in out, out


def test_garbage_after_preface_goaway(mitm, nginx_h2):
    """Bytes that are not HTTP/2 frames after the preface: the client gets
    a GOAWAY saying PROTOCOL_ERROR and the connection closes; the worker
    goes on serving."""
    ctx = tls.mitmd_context(mitm, alpn=("h2",))
    raw = socket.create_connection(("127.0.0.1", mitm.reverse_port), 30)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "h2"
        # the preface, then a SETTINGS frame on stream 1 (must be 0)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                  b"\x00\x00\x00\x04\x00\x00\x00\x00\x01")
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    frames = []
    while len(got) >= 9:
        n = int.from_bytes(got[:3], "big")
        frames.append((got[3], got[9:9 + n]))
        got = got[9 + n:]
    goaway = [p for t, p in frames if t == 7]
    assert goaway, frames
    assert int.from_bytes(goaway[0][4:8], "big") == 1   # PROTOCOL_ERROR
    rc, out, err = run(["nghttp", f"https://127.0.0.1:{mitm.reverse_port}"
                        "/f13"])
    assert rc == 0, err


def test_h2_client_upstream_down(build, test_ca):
    """An HTTP/2 client of a reverse listener whose upstream cannot be
    reached still speaks HTTP/2, and each of its requests gets the 502
    page that says why."""
    dead = util.free_ports(1)[0]
    m = start_reverse(build, test_ca, f"localhost:{dead}")
    try:
        rc, out, err = run(["nghttp", "-v", f"https://127.0.0.1:"
                            f"{m.reverse_port}/a", f"https://127.0.0.1:"
                            f"{m.reverse_port}/b"])
        assert "The negotiated protocol: h2" in out, out[-2000:]
        assert out.count(":status: 502") == 2, out[-3000:]
        assert "could not connect" in out, out[-3000:]
    finally:
        stop(m)


# --- an HTTP/1.1 client before an HTTP/2-only upstream ----------------------

@pytest.fixture(scope="module")
def h2only(test_ca):
    """python3-h2 origin, ALPN h2 alone."""
    yield from h2origin.running(test_ca, "h2only")


@pytest.fixture(scope="module")
def mitm_h2up(build, test_ca, h2only):
    m = start_reverse(build, test_ca, f"localhost:{h2only.port} http2")
    yield m
    stop(m)


def curl11(m, path, *extra):
    return subprocess.run(
        ["curl", "-sS", "--http1.1", "--cacert", tls.mitmd_ca(m),
         "--resolve", f"localhost:{m.reverse_port}:127.0.0.1", *extra,
         "-o", "-", f"https://localhost:{m.reverse_port}{path}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)


def test_http11_client_h2_only_upstream(mitm_h2up, h2only):
    """The reverse of h2h1: curl --http1.1 before an origin that speaks
    HTTP/2 alone, through a listener with "http2": bodies both ways,
    chunked and sized, two requests on one connection, trailers reach
    the events."""
    m = mitm_h2up
    n = 300 * 1000
    p = curl11(m, f"/data/{n}")
    assert p.returncode == 0, p.stderr
    assert p.stdout == origins.body(n)
    d = tempdir("h1h2")
    try:
        path = os.path.join(d, "body")
        data = os.urandom(200 * 1000)
        with open(path, "wb") as f:
            f.write(data)
        # sized, then chunked, on one connection (curl reuses it)
        p = subprocess.run(
            ["curl", "-sS", "--http1.1", "--cacert", tls.mitmd_ca(m),
             "--resolve", f"localhost:{m.reverse_port}:127.0.0.1",
             "--data-binary", f"@{path}", "-o", os.path.join(d, "a"),
             f"https://localhost:{m.reverse_port}/echo", "--next",
             "--cacert", tls.mitmd_ca(m), "--resolve",
             f"localhost:{m.reverse_port}:127.0.0.1", "--http1.1",
             "-H", "Transfer-Encoding: chunked", "--data-binary",
             f"@{path}", "-o", os.path.join(d, "b"), "-w",
             "%{num_connects}",
             f"https://localhost:{m.reverse_port}/echo"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        for name in ("a", "b"):
            with open(os.path.join(d, name), "rb") as f:
                assert f.read() == data, name
        assert p.stdout == b"0", "the second request took a new connection"
    finally:
        shutil.rmtree(d, ignore_errors=True)
    evs = events.wait_flow(m, events.with_request(target="/echo"), 15,
                           "the echo flow")
    req = [e for e in evs if e["type"] == "request_headers"]
    resp = [e for e in evs if e["type"] == "response_headers"]
    assert [e["http_version"] for e in req] == ["HTTP/1.1", "HTTP/1.1"]
    assert [e["http_version"] for e in resp] == ["HTTP/2", "HTTP/2"]
    ups = [e for e in evs if e["type"] == "tls_handshake_succeeded" and
           e["side"] == "upstream"]
    assert ups[0]["alpn"] == "h2"
    last = [e for e in evs if e["type"] == "response_body_chunk" and
            e["last"]]
    assert [dict(e.get("trailers", []))["x-len"] for e in last] == \
        [str(len(data))] * 2
    sent = [r for r in h2only.requests if r["path"] == "/echo"]
    assert [bytes(r["body"]) for r in sent[-2:]] == [data, data]


def test_h2_client_same_listener(mitm_h2up, h2only):
    """An HTTP/2 client of that listener is relayed stream for stream."""
    rc, out, err = run(["nghttp", "-s", f"https://127.0.0.1:"
                        f"{mitm_h2up.reverse_port}/data/1000"])
    assert rc == 0, err
    assert "200" in out


def test_h2_client_after_pooled_http11(mitm, nginx_h2):
    """HTTP/1.1 clients that close leave their upstream connections in
    the listener's pool; an h2 client after them still gets h2 (a new
    upstream connection that speaks it), and an HTTP/1.1 client takes a
    pooled one as before."""
    url = f"https://127.0.0.1:{mitm.reverse_port}/f13"
    for _ in range(4):
        rc, out, err = run(["curl", "-sk", "--http1.1", "-o", "/dev/null",
                            "-w", "%{http_version} %{http_code}", url])
        assert (rc, out) == (0, "1.1 200"), err
    rc, out, err = run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w",
                        "%{http_version} %{http_code}", url])
    assert (rc, out) == (0, "2 200"), err
    rc, out, err = run(["nghttp", "-nv", url])
    assert rc == 0 and "The negotiated protocol: h2" in out, err + out
    rc, out, err = run(["curl", "-sk", "--http1.1", "-o", "/dev/null",
                        "-w", "%{http_version} %{http_code}", url])
    assert (rc, out) == (0, "1.1 200"), err
