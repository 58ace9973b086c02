"""HTTP/2 through mitmd, the server side: what an HTTP/2 origin does
(tests/pylib/h2origin.py, python3-h2) reaches a python3-h2 client as it
was sent. Stream resets before and after the response head with their
error codes, GOAWAY after the answered stream (kept open, or closed at
once), response trailers, a response head past `http2
max-header-list-size`, 103 Early Hints, request trailers, and an early
response followed by RST_STREAM NO_ERROR; and the events of each.
Streams reset while their bodies wait in mitmd give their share of
the connection windows back.
"""

import hashlib
import os

import h2.errors
import pytest

from pylib import events, h2client, h2origin, origins, tls
from pylib.h2client import H2Client

HEADER_LIST = 16384
STALL = 10   # seconds without progress that make an upload stalled


@pytest.fixture(scope="module")
def origin(test_ca):
    yield from h2origin.running(test_ca, "h2origin")


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca, [
        "capture bodies max 4 KiB",
        f"http2 max-header-list-size {HEADER_LIST}"])


def flow_events(m, path, timeout=15):
    """The events of the closed flow that carried a request for path."""
    evs = events.wait_flow(m, events.with_request(target=path), timeout,
                           f"the events of the flow of {path}")
    assert [e["seq"] for e in evs] == list(range(len(evs)))
    return evs


def stream_of(evs, path):
    return [e for e in evs if e["type"] == "request_headers" and
            e["target"] == path][0]["stream"]


def last_chunk(evs, stream, kind):
    last = [e for e in evs if e["type"] == kind and
            e["stream"] == stream and e["last"]]
    assert len(last) == 1, [e for e in evs if e.get("stream") == stream]
    return last[0]


def get_ok(c, path="/data/1000"):
    """One more stream on the connection, answered whole."""
    sid = c.request(path)
    c.pump(lambda: c.done(sid))
    assert sid not in c.resets, c.resets
    assert c.heads[sid][b":status"] == b"200"
    assert bytes(c.bodies[sid]) == origins.body(1000)


def server_reset(m, origin, path, code, before_head):
    """A request for path that the origin resets with code, before the
    response head or after it: the client gets the reset and not the
    head (before_head) or not the end of the stream, and the connection
    still serves a stream; the events end the response body reset by
    the server with that code. Returns (the response_headers events of
    the stream, its last response_body_chunk)."""
    c = H2Client(m, origin.port, host="127.0.0.1")
    try:
        sid = c.request(path)
        c.pump(lambda: sid in c.resets)
        assert c.resets[sid] == code
        assert sid not in (c.heads if before_head else c.ended)
        get_ok(c)
    finally:
        c.close()
    evs = flow_events(m, path)
    st = stream_of(evs, path)
    resp = [e for e in evs if e["type"] == "response_headers" and
            e["stream"] == st]
    last = last_chunk(evs, st, "response_body_chunk")
    assert last["reset"] == code.name and last["reset_by"] == "server"
    return resp, last


@pytest.mark.parametrize("code", [h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
                                  h2.errors.ErrorCodes.CANCEL])
def test_server_reset_after_headers(mitm, origin, code):
    resp, _ = server_reset(mitm, origin, f"/reset-headers/{int(code)}",
                           code, before_head=False)
    assert resp and resp[0]["status"] == 200


def test_server_reset_before_headers(mitm, origin):
    code = h2.errors.ErrorCodes.HTTP_1_1_REQUIRED
    resp, last = server_reset(mitm, origin, f"/reset-now/{int(code)}",
                              code, before_head=True)
    assert not resp
    assert last["body_size"] == 0


def test_upstream_dies_mid_body(mitm, origin):
    """The origin's connection ends half-way through a body: the client
    has the head and the bytes that came, then a reset INTERNAL_ERROR on
    that stream and a GOAWAY; the events say reset by the server."""
    n = 30000
    path = f"/cut/{n}"
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        sid = c.request(path)
        c.pump(lambda: c.eof, eof_ok=True)
        assert c.heads[sid][b":status"] == b"200"
        assert c.resets.get(sid) == h2.errors.ErrorCodes.INTERNAL_ERROR, \
            c.resets
        assert bytes(c.bodies[sid]) == origins.body(n)
        assert c.goaway is not None
    finally:
        c.close()
    evs = flow_events(mitm, path)
    last = last_chunk(evs, stream_of(evs, path), "response_body_chunk")
    assert last["reset"] == "INTERNAL_ERROR" and \
        last["reset_by"] == "server", last
    assert last["body_size"] == n


@pytest.mark.parametrize("kind", ["goaway", "goaway-close"])
def test_server_goaway(mitm, origin, kind):
    """The origin answers a stream of 600 kB (more than mitmd's windows,
    so part of it waits in mitmd when the GOAWAY comes), then sends
    GOAWAY (and closes at once, for goaway-close): the client gets the
    whole body, a GOAWAY NO_ERROR naming at least that stream, then the
    end of the connection."""
    n = 600 * 1000
    path = f"/{kind}/{n}"
    before = origin.goaways
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        first = c.request("/data/1000")
        c.pump(lambda: c.done(first))
        sid = c.request(path)
        c.pump(lambda: c.eof, eof_ok=True)
        state = (len(c.bodies[sid]), c.heads.get(sid), c.goaway, c.resets)
        assert origin.goaways == before + 1, state
        assert sid in c.ended and sid not in c.resets, state
        assert c.heads[sid][b":status"] == b"200"
        assert hashlib.sha256(c.bodies[sid]).hexdigest() == \
            origins.body_sha256(n)
        assert c.goaway is not None
        assert c.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
        assert c.goaway.last_stream_id >= sid
    finally:
        c.close()
    evs = flow_events(mitm, path)
    st = stream_of(evs, path)
    last = last_chunk(evs, st, "response_body_chunk")
    assert last["body_size"] == n and "reset" not in last
    assert last["body_sha256"] == origins.body_sha256(n)


def test_response_trailers(mitm, origin):
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        sid = c.request("/trailers")
        c.pump(lambda: c.done(sid))
        assert sid in c.ended and sid not in c.resets
        assert bytes(c.bodies[sid]) == b"body before trailers\n"
        assert c.trailers[sid] == [(b"x-trailer-one", b"1"),
                                   (b"x-trailer-two", b"two")]
        data = os.urandom(70000)
        echo = c.request("/echo", method="POST", body=data)
        c.pump(lambda: c.done(echo))
        assert bytes(c.bodies[echo]) == data
        assert dict(c.trailers[echo]) == {
            b"x-sum": hashlib.sha256(data).hexdigest().encode(),
            b"x-len": b"70000"}
    finally:
        c.close()
    evs = flow_events(mitm, "/trailers")
    last = last_chunk(evs, stream_of(evs, "/trailers"),
                      "response_body_chunk")
    assert last["trailers"] == [["x-trailer-one", "1"],
                                ["x-trailer-two", "two"]]
    assert last["body_size"] == len(b"body before trailers\n")
    last = last_chunk(evs, stream_of(evs, "/echo"), "response_body_chunk")
    assert last["trailers"][0] == ["x-sum", hashlib.sha256(data).hexdigest()]
    assert last["body_size"] == 70000


def test_response_header_list_limit(mitm, origin):
    """A response head under the limit passes; past it the client gets a
    502 (or a reset) on that stream and the connection goes on."""
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        ok = c.request("/bigheader/12000")
        c.pump(lambda: c.done(ok))
        assert c.heads[ok][b":status"] == b"200"
        assert c.heads[ok][b"x-big"] == b"b" * 12000
        bad = c.request(f"/bigheader/{HEADER_LIST + 4000}")
        c.pump(lambda: c.done(bad))
        assert c.heads.get(bad, {}).get(b":status") == b"502" or \
            bad in c.resets, (c.heads.get(bad), c.resets)
        assert b"x-big" not in c.heads.get(bad, {})
        get_ok(c)
    finally:
        c.close()


def test_informational_response(mitm, origin):
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        sid = c.request("/info100")
        c.pump(lambda: c.done(sid))
        assert c.info[sid] == [{b":status": b"103",
                                b"link": b"</style.css>; rel=preload"}]
        assert c.heads[sid][b":status"] == b"200"
        assert bytes(c.bodies[sid]) == b"done"
    finally:
        c.close()
    evs = flow_events(mitm, "/info100")
    st = stream_of(evs, "/info100")
    resp = [e for e in evs if e["type"] == "response_headers" and
            e["stream"] == st]
    assert [e["status"] for e in resp] == [200]


def test_request_trailers(mitm, origin):
    data = os.urandom(100 * 1000)
    digest = hashlib.sha256(data).hexdigest()
    trailers = [("x-req-sum", digest), ("x-req-end", "yes")]
    path = "/echo?req-trailers"
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        sid = c.request(path, method="POST", body=data, trailers=trailers)
        c.pump(lambda: c.done(sid))
        assert sid in c.ended and sid not in c.resets
        assert bytes(c.bodies[sid]) == data
    finally:
        c.close()
    rec = origin.find(path)
    assert len(rec) == 1
    assert bytes(rec[0]["body"]) == data
    assert rec[0]["trailers"] == trailers
    evs = flow_events(mitm, path)
    last = last_chunk(evs, stream_of(evs, path), "request_body_chunk")
    assert last["trailers"] == [list(t) for t in trailers]
    assert last["body_size"] == len(data)
    assert last["body_sha256"] == digest


def test_early_response_then_reset_no_error(mitm, origin):
    """RFC 9113 8.1: the origin answers before the request body has all
    arrived, then sends RST_STREAM NO_ERROR to stop the upload. The
    client must learn it (a reset on that stream) or at least be able to
    finish its upload; it must not be left waiting on a window that never
    opens again. The connection goes on."""
    total = 2 << 20
    path = "/early/100"
    c = H2Client(mitm, origin.port, host="127.0.0.1")
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, c.headers(path, "POST"))
        c.bodies[sid] = bytearray()
        c.flush()
        c.pump(lambda: sid in c.ended)
        assert bytes(c.bodies[sid]) == origins.body(100)
        c.sock.settimeout(STALL)
        try:
            off = c.send_body(sid, b"u" * total)
        except TimeoutError:
            raise AssertionError(
                f"upload stalled: no window and no reset for {STALL}s") \
                from None
        c.sock.settimeout(h2client.IO_TIMEOUT)
        assert sid in c.resets or off == total
        if sid in c.resets:
            assert c.resets[sid] == h2.errors.ErrorCodes.NO_ERROR
        get_ok(c)
    finally:
        c.close()


@pytest.fixture(scope="module")
def tight_origin(test_ca):
    """An origin whose streams take 64 KiB before their window closes."""
    yield from h2origin.running(test_ca, "h2tight", window=65535)


def test_reset_streams_give_the_window_back(mitm, tight_origin):
    """Request bodies that wait in mitmd for an upstream that does not
    take them (200 kB each; the upstream's stream window is 64 KiB),
    then the client resets each stream: what was waiting is dropped, and
    its share of the connection's window must come back to the client.
    Forty of them add up to more than the 4 MiB connection window; a
    request after them still goes through."""
    c = H2Client(mitm, tight_origin.port, host="127.0.0.1")
    body = b"w" * (200 * 1000)
    c.sock.settimeout(STALL)
    try:
        for i in range(40):
            sid = c.request("/hold", method="POST", end=False)
            try:
                c.send_body(sid, body, end=False)
            except TimeoutError:
                raise AssertionError(
                    f"stream {i}: no window for {STALL}s: the windows of "
                    f"the streams reset before were not given back") \
                    from None
            c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            c.flush()
        c.sock.settimeout(h2client.IO_TIMEOUT)
        data = os.urandom(1000)
        sid = c.request("/echo", method="POST", body=data)
        c.pump(lambda: c.done(sid))
        assert bytes(c.bodies[sid]) == data
    finally:
        c.close()


def test_reset_streams_give_the_upstream_window_back(mitm, origin):
    """The same the other way: responses of 1 MB to a client that keeps
    each stream's window shut at 64 KiB, so that mitmd holds what the
    upstream sent past it (its windows towards the upstream are 256 KiB
    a stream, 4 MiB the connection); the client resets each stream. What
    mitmd held is dropped, and the upstream must get its connection
    window back: forty of them, then a response still arrives."""
    c = H2Client(mitm, origin.port, host="127.0.0.1", window=65535)
    c.sock.settimeout(STALL)
    try:
        for i in range(40):
            sid = c.request("/data/1000000")
            c.noack.add(sid)
            try:
                c.pump(lambda: len(c.bodies[sid]) >= 65535)
                # the origin answers in order: once this one is here,
                # the upstream bytes of sid have reached mitmd
                probe = c.request("/data/1000")
                c.pump(lambda: c.done(probe))
            except TimeoutError:
                raise AssertionError(
                    f"stream {i}: nothing for {STALL}s: the upstream's "
                    f"window was not given back") from None
            assert bytes(c.bodies[probe]) == origins.body(1000)
            c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            c.flush()
    finally:
        c.close()
