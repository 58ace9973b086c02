"""How long a kept-alive client connection may wait: between two requests
it has `timeout idle`, and a request head has `timeout header` from its
first byte (a partial head then gets a 408)."""

import time

import pytest

from pylib import client, origins
from pylib.mitmd import Mitmd

HEADER = 1      # seconds: timeout header
IDLE = 30       # seconds: timeout idle


@pytest.fixture(scope="module")
def origin():
    o = origins.HttpOrigin()
    yield o
    o.close()


@pytest.fixture(scope="module")
def mitm():
    m = Mitmd(extra=[f"timeout header {HEADER}", f"timeout idle {IDLE}"],
              workers=1)
    yield m
    try:
        m.close()
    finally:
        m.cleanup()


def get(s, origin, path):
    s.sendall(f"GET http://127.0.0.1:{origin.port}{path} HTTP/1.1\r\n"
              f"Host: 127.0.0.1:{origin.port}\r\n\r\n".encode())
    return client.read_response(s)


def test_kept_connection_outlives_header_timeout(mitm, origin):
    """A client that waits longer than `timeout header` between two
    requests finds its connection still open."""
    s = client.connect(mitm.proxy_port)
    try:
        assert get(s, origin, "/bytes/10").status == 200
        # the wait is the point: three header timeouts, far below idle
        time.sleep(3 * HEADER)
        assert get(s, origin, "/bytes/20").status == 200
    finally:
        s.close()


def test_partial_head_gets_408(mitm, origin):
    """On a kept connection, the first byte of the next head starts the
    header timeout: a head left half-written is answered with 408."""
    s = client.connect(mitm.proxy_port)
    try:
        assert get(s, origin, "/bytes/10").status == 200
        s.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        r = client.read_response(s)
        assert r.status == 408
        assert time.monotonic() - t0 < IDLE / 2
    finally:
        s.close()
