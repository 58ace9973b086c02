"""Server-sent events through mitmd (issue 5): an origin that sends a
text/event-stream one piece at a time, a client reading through the
proxy, and the sse_event events.

The origin sends its next piece only when the test says so, and the test
says so only after the client has received the piece before it (the
bytes go through at once, nothing waits for more) and after that
piece's sse_event is in the events file (events go out as each event
completes, not at the end of the body). Covered: LF, CRLF and CR line
ends, a CR and its LF in two writes, an event split across writes,
comments, multi-line data, event types, id kept across events, retry,
UTF-8; chunked and close-delimited bodies, plain HTTP and intercepted
TLS; a gzip-coded stream is relayed intact and not parsed; and a 1 GiB
stream passes with the worker's RSS bounded.
"""

import gzip
import hashlib
import os
import queue
import socket
import ssl
import threading
import time

import pytest

from pylib import client, tls, util
from pylib.events import find_flow, wait_flow, with_request
from pylib.mitmd import sample_rss

CAPTURE_KIB = 4
STEP_TIMEOUT = 30       # seconds for one piece to show at the client
EVENT_TIMEOUT = 30      # seconds for an event to reach the file
ACCEPT_TIMEOUT = 30
LARGE_BYTES = 1 << 30   # the large stream
LARGE_LINE = 64000      # data bytes per line (SSE_LINE_MAX is 65536)
LARGE_LINES = 4         # lines per event: about 256 KiB of data each
LARGE_TIMEOUT = 120
RSS_GROWTH_MAX_KIB = 32 * 1024

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
        b"charset=utf-8\r\nCache-Control: no-cache\r\n")

# (bytes the origin sends, the events they complete:
#  (type, id, data, retry or None))
SCRIPT = [
    (b"retry: 2500\ndata: first\n\n",
     [("message", "", "first", 2500)]),
    (b": a comment\r\nevent: update\r\nid: 7\r\ndata: line one\r\n"
     b"data: line two\r\n\r\n",
     [("update", "7", "line one\nline two", None)]),
    (b"data: cr only\rid: 8\r\r",
     [("message", "8", "cr only", None)]),
    (b"data: split acr", []),
    (b"oss two writes\n\n",
     [("message", "8", "split across two writes", None)]),
    (b"data: crlf split\r", []),
    (b"\n\r\n", [("message", "8", "crlf split", None)]),
    (b"event: bye\ndata: {\"k\": [1, 2]}\ndata:\n:tail comment\n\n",
     [("bye", "8", "{\"k\": [1, 2]}\n", None)]),
    ("data: caf\u00e9 \u2713\nid\n\n".encode(),
     [("message", "", "caf\u00e9 \u2713", None)]),
    (b"retry: soon\ndata: a\n\ndata: b\n\n",
     [("message", "", "a", None), ("message", "", "b", None)]),
]


def chunk(b):
    return b"%x\r\n%s\r\n" % (len(b), b) if b else b"0\r\n\r\n"


class SseOrigin:
    """One connection: read the request head, send head, then each
    piece the test puts in self.go; None closes."""

    def __init__(self, head, ssl_ctx=None, close_notify=False):
        self.head = head
        self.ssl_ctx = ssl_ctx
        self.close_notify = close_notify
        self.go = queue.Queue()
        self.error = None
        self.request = None
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(ACCEPT_TIMEOUT)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            c, _ = self.lsock.accept()
            c.settimeout(STEP_TIMEOUT)
            if self.ssl_ctx is not None:
                c = self.ssl_ctx.wrap_socket(c, server_side=True)
            with c:
                buf = b""
                while b"\r\n\r\n" not in buf and len(buf) < 65536:
                    data = c.recv(4096)
                    if not data:
                        return
                    buf += data
                self.request = buf
                c.sendall(self.head)
                while True:
                    item = self.go.get(timeout=LARGE_TIMEOUT)
                    if item is None:
                        break
                    if callable(item):
                        item(c)
                    else:
                        c.sendall(item)
                if self.ssl_ctx is not None and self.close_notify:
                    c = c.unwrap()     # close_notify: the body ends here
        except Exception as e:   # seen by the test in close()
            self.error = e

    def close(self):
        self.go.put(None)
        self.thread.join(LARGE_TIMEOUT)
        self.lsock.close()
        assert not self.thread.is_alive()
        assert self.error is None, self.error


# --- fixtures ------------------------------------------------------------------

def start_mitmd(build, test_ca, capture_kib):
    extra = [f"capture bodies max {capture_kib} KiB"] if capture_kib else []
    return tls.start_mitmd(build, test_ca, extra)


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    m = start_mitmd(build, test_ca, CAPTURE_KIB)
    yield m
    tls.stop_mitmd(m)


@pytest.fixture(scope="module")
def origin_tls(test_ca):
    cert, key = test_ca.issue("sse", dns=["localhost"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# --- events ----------------------------------------------------------------------

def flow_events(m, marker, closed=False):
    return find_flow(m, with_request(marker), closed)


def closed_flow(m, marker):
    return wait_flow(m, with_request(marker), EVENT_TIMEOUT,
                     "the flow's stream_closed")


def sse_of(m, marker):
    evs = flow_events(m, marker) or []
    return [e for e in evs if e["type"] == "sse_event"]


def as_tuple(e):
    return (e["event"], e["id"], e["data"], e.get("retry"))


# --- the client -------------------------------------------------------------------

class Reader:
    """The response through the proxy, read as it comes."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(STEP_TIMEOUT)
        self.resp, self.buf = client.read_head(sock)

    def expect(self, want):
        """The next len(want) bytes are want (read no further)."""
        while len(self.buf) < len(want):
            data = self.sock.recv(65536)
            assert data, f"EOF after {self.buf!r}, waiting for {want!r}"
            self.buf += data
        got, self.buf = self.buf[:len(want)], self.buf[len(want):]
        assert got == want

    def eof(self):
        for _ in range(1000):
            data = self.sock.recv(65536)
            if not data:
                return
            self.buf += data
        raise AssertionError("no EOF")


def open_stream(m, mode, origin, marker):
    if mode == "plain":
        s = client.connect(m.proxy_port)
        s.sendall(f"GET http://127.0.0.1:{origin.port}/{marker} HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{origin.port}\r\n"
                  f"Accept: text/event-stream\r\n\r\n".encode())
    else:
        s = tls.connect_tls(m.proxy_port, f"localhost:{origin.port}",
                            tls.mitmd_context(m), "localhost")
        s.sendall(f"GET /{marker} HTTP/1.1\r\nHost: localhost:{origin.port}"
                  f"\r\nAccept: text/event-stream\r\n\r\n".encode())
    return s


# --- tests --------------------------------------------------------------------------

@pytest.mark.parametrize("mode,framing", [("plain", "chunked"),
                                          ("plain", "close"),
                                          ("tls", "chunked"),
                                          ("tls", "close")])
def test_events_as_they_come(mitm, origin_tls, mode, framing):
    head = HEAD + (b"Transfer-Encoding: chunked\r\n\r\n"
                   if framing == "chunked" else b"\r\n")
    origin = SseOrigin(head, origin_tls if mode == "tls" else None,
                       close_notify=framing == "close")
    marker = f"events-{mode}-{framing}-{os.getpid()}-{time.monotonic_ns()}"
    frame = chunk if framing == "chunked" else (lambda b: b)
    want = []
    try:
        with open_stream(mitm, mode, origin, marker) as s:
            r = Reader(s)
            assert r.resp.status == 200
            assert "event-stream" in r.resp.header("Content-Type")
            for piece, events in SCRIPT:
                origin.go.put(frame(piece))
                r.expect(frame(piece))     # forwarded at once
                want += events
                got = util.wait_until(
                    lambda: len(sse_of(mitm, marker)) >= len(want) and
                    sse_of(mitm, marker), EVENT_TIMEOUT,
                    f"{len(want)} sse_event of {marker}")
                assert [as_tuple(e) for e in got] == want
            if framing == "chunked":
                origin.go.put(chunk(b""))
                r.expect(chunk(b""))
            else:
                origin.go.put(None)
                r.eof()
    finally:
        origin.close()
    evs = closed_flow(mitm, marker)
    types = [e["type"] for e in evs]
    resp = types.index("response_headers")
    sse = [e for e in evs if e["type"] == "sse_event"]
    assert [as_tuple(e) for e in sse] == want
    assert all(i > resp for i, t in enumerate(types) if t == "sse_event")
    assert all(e["stream"] == evs[resp]["stream"] for e in sse)
    assert all(e["data_size"] == len(e["data"].encode()) for e in sse)


def test_content_coded_stream_not_parsed(mitm):
    """A gzip-coded event stream is relayed byte for byte; the worker
    does not parse compressed bytes as events."""
    body = gzip.compress(b"data: hidden\n\n" * 100)
    origin = SseOrigin(HEAD + b"Content-Encoding: gzip\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body))
    marker = f"gzip-{os.getpid()}-{time.monotonic_ns()}"
    try:
        with open_stream(mitm, "plain", origin, marker) as s:
            r = Reader(s)
            assert r.resp.header("Content-Encoding") == "gzip"
            origin.go.put(body)
            r.expect(body)
    finally:
        origin.close()
    evs = closed_flow(mitm, marker)
    assert "sse_event" not in [e["type"] for e in evs]
    assert any(e["type"] == "response_body_chunk" and e.get("last")
               for e in evs)


def large_piece():
    """1 MiB of events, each about 256 KiB of data in 64000-byte lines;
    the last bytes of the piece end an event."""
    line = b"data: " + b"x" * LARGE_LINE + b"\n"
    event = line * LARGE_LINES + b"\n"
    n = (1 << 20) // len(event)
    return event * n, n


def test_large_stream_rss_bounded(build, test_ca):
    """1 GiB of events passes whole (SHA-256 compared), every event is
    reported, and the tlsworker's RSS grows by less than 32 MiB."""
    m = start_mitmd(build, test_ca, 0)
    piece, per_piece = large_piece()
    npieces = LARGE_BYTES // len(piece)
    marker = f"large-{os.getpid()}"
    origin = SseOrigin(HEAD + b"\r\n")

    def send_all(c):
        for _ in range(npieces):
            c.sendall(piece)

    want = hashlib.sha256()
    for _ in range(npieces):
        want.update(piece)
    stop = threading.Event()
    rss = {}
    try:
        pids = m.pids("tlsworker")
        assert pids
        base_kib = max(util.rss_kib(p) for p in pids)
        sampler = threading.Thread(target=sample_rss,
                                   args=(pids, stop, rss), daemon=True)
        sampler.start()
        t0 = time.monotonic()
        with open_stream(m, "plain", origin, marker) as s:
            r = Reader(s)
            origin.go.put(send_all)
            origin.go.put(None)
            got = hashlib.sha256(r.buf)
            total = len(r.buf)
            buf = bytearray(1 << 20)
            deadline = time.monotonic() + LARGE_TIMEOUT
            while time.monotonic() < deadline:
                n = s.recv_into(buf)
                if n == 0:
                    break
                got.update(memoryview(buf)[:n])
                total += n
        elapsed = time.monotonic() - t0
        stop.set()
        sampler.join(STEP_TIMEOUT)
        origin.close()
        assert total == npieces * len(piece)
        assert got.digest() == want.digest()
        evs = closed_flow(m, marker)
        sse = [e for e in evs if e["type"] == "sse_event"]
        assert len(sse) == npieces * per_piece
        assert all(e["data_size"] == LARGE_LINES * (LARGE_LINE + 1) - 1
                   for e in sse)
        growth = max(rss.values()) - base_kib
        print(f"\n1 GiB of SSE in {elapsed:.1f}s, tlsworker RSS "
              f"{base_kib} KiB -> max {max(rss.values())} KiB")
        assert growth < RSS_GROWTH_MAX_KIB, (base_kib, rss)
    finally:
        stop.set()
        if origin.thread.is_alive():
            origin.go.put(None)
            origin.thread.join(LARGE_TIMEOUT)
        tls.stop_mitmd(m)
