"""gRPC through mitmd with python3-grpcio on both ends: a grpc.server
over TLS (a certificate of the tests' CA, which mitmd trusts with
`upstream ca-file`) with a generic handler on bytes, and a
grpc.secure_channel that trusts mitmd's CA and reaches the server
through mitmd's CONNECT (channel option grpc.http_proxy).

Unary, server-streaming, client-streaming and bidirectional calls carry
their payloads whole (sizes from 0 bytes to more than 64 KiB); a call
that fails with a status arrives with its code and details, before any
message and after some; and the events show each message in both
directions in order (index, offset, length) and the trailers on the last
response_body_chunk. Then malformed envelopes sent with python3-h2 to an
HTTP/2 origin that echoes the body: grpc_message events with the error,
and the bytes reach the origin and come back untouched.
"""

import hashlib
import struct
from concurrent import futures

import grpc
import pytest

from pylib import events, h2origin, origins, tls
from pylib.h2client import H2Client

SERVICE = "mitmd.test.Echo"
RPC_TIMEOUT = 30
# sizes of the messages the tests send: empty, tiny, over one DATA frame,
# over 64 KiB (several frames, over the default stream window), 300 kB
SIZES = [0, 1, 17, 1000, 16385, 65536 + 7, 70000, 300 * 1000]
N_STREAM = 50
NOT_FOUND_DETAILS = "no such thing: /x/y (really)"


def payload(i, n):
    """The i-th message of n bytes: deterministic, differs with i."""
    return origins.body(n + 1000003 * i)[:n] if n else b""


def stream_sizes(n):
    """n message sizes cycling through SIZES."""
    return [SIZES[i % len(SIZES)] for i in range(n)]


# --- the gRPC server -------------------------------------------------------

def _unary(req, ctx):
    return req[::-1]


def _server_stream(req, ctx):
    count, = struct.unpack(">I", req[:4])
    for i, n in enumerate(stream_sizes(count)):
        yield payload(i, n)


def _client_stream(it, ctx):
    h = hashlib.sha256()
    k = 0
    for m in it:
        h.update(struct.pack(">I", len(m)) + m)
        k += 1
    return struct.pack(">I", k) + h.digest()


def _bidi(it, ctx):
    for m in it:
        yield m[::-1]


def _fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, NOT_FOUND_DETAILS)


def _fail_late(req, ctx):
    for i in range(3):
        yield payload(i, 100 * (i + 1))
    ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "enough, after 3")


@pytest.fixture(scope="module")
def grpc_server(test_ca):
    certfile, keyfile = test_ca.issue("grpcorigin", dns=["localhost"],
                                      ips=["127.0.0.1"])
    with open(certfile, "rb") as f:
        cert = f.read()
    with open(keyfile, "rb") as f:
        key = f.read()
    h = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "FailLate": grpc.unary_stream_rpc_method_handler(_fail_late),
    })
    pool = futures.ThreadPoolExecutor(max_workers=4)
    srv = grpc.server(pool, handlers=[h], options=[
        ("grpc.max_receive_message_length", 8 << 20),
        ("grpc.max_send_message_length", 8 << 20)])
    port = srv.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    assert port
    srv.start()
    srv.port = port
    yield srv
    srv.stop(grace=None).wait(10)
    pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def echo_origin(test_ca):
    yield from h2origin.running(test_ca, "h2echo")


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    m = tls.start_mitmd(build, test_ca, ["capture bodies max 1 KiB"])
    m.mark = 0
    yield m
    tls.stop_mitmd(m)


@pytest.fixture
def channel(mitm, grpc_server):
    """A channel of its own per test (one connection through mitmd, whose
    flow ends when the test closes it)."""
    with open(tls.mitmd_ca(mitm), "rb") as f:
        ca = f.read()
    mitm.mark = len(events.read(mitm))
    ch = grpc.secure_channel(
        f"localhost:{grpc_server.port}",
        grpc.ssl_channel_credentials(root_certificates=ca),
        options=[("grpc.http_proxy", f"http://127.0.0.1:{mitm.proxy_port}"),
                 ("grpc.max_receive_message_length", 8 << 20),
                 ("grpc.max_send_message_length", 8 << 20),
                 # a subchannel of its own, not one shared with the
                 # other tests' channels
                 ("grpc.use_local_subchannel_pool", 1)])
    grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT)
    yield ch
    ch.close()


def method(ch, name, kind):
    return getattr(ch, kind)(f"/{SERVICE}/{name}")


# --- events ----------------------------------------------------------------

def flow_with(m, path, timeout=15):
    """The events of the flow that carried a request for path, closed;
    only flows that began after m.mark (set by the `channel` and
    `h2c` fixtures at the start of each test) count."""
    evs = events.wait_flow(m, events.with_request(target=path), timeout,
                           f"the events of a flow with {path}", m.mark)
    assert [e["seq"] for e in evs] == list(range(len(evs)))
    return evs


def call_events(m, rpc, timeout=15):
    """(events of the flow of this test's calls of rpc, the stream id of
    its first call of rpc)."""
    target = f"/{SERVICE}/{rpc}"
    evs = flow_with(m, target, timeout)
    sid = [e for e in evs if e["type"] == "request_headers" and
           e["target"] == target][0]["stream"]
    return evs, sid


def check_messages(evs, sid, side, sizes):
    """The grpc_message events of one direction of a call: one per
    message, in order, each at the offset its envelope starts at."""
    got = [e for e in evs if e["type"] == "grpc_message" and
           e["stream"] == sid and e["from"] == side]
    assert [e.get("error") for e in got] == [None] * len(got), got
    assert [e["index"] for e in got] == list(range(len(sizes)))
    assert [e["length"] for e in got] == sizes
    assert [e["compressed"] for e in got] == [False] * len(sizes)
    offs, off = [], 0
    for n in sizes:
        offs.append(off)
        off += 5 + n
    assert [e["offset"] for e in got] == offs
    return got


def body_end(evs, sid, kind):
    last = [e for e in evs if e["type"] == kind and e["stream"] == sid and
            e["last"]]
    assert len(last) == 1, [e for e in evs if e.get("stream") == sid]
    return last[0]


def check_ok_call(evs, sid, req_sizes, resp_sizes):
    req = [e for e in evs if e["type"] == "request_headers" and
           e["stream"] == sid][0]
    assert req["protocol"] == "http2" and req["method"] == "POST"
    assert req["http_version"] == "HTTP/2"
    assert dict(req["headers"])["content-type"].startswith(
        "application/grpc")
    check_messages(evs, sid, "client", req_sizes)
    check_messages(evs, sid, "server", resp_sizes)
    end = body_end(evs, sid, "request_body_chunk")
    assert end["body_size"] == sum(5 + n for n in req_sizes)
    assert "reset" not in end
    end = body_end(evs, sid, "response_body_chunk")
    assert end["body_size"] == sum(5 + n for n in resp_sizes)
    assert "reset" not in end
    names = [k for k, _ in end["trailers"]]
    assert names[0] == "grpc-status", end["trailers"]
    assert dict(end["trailers"])["grpc-status"] == "0"
    # every message event of the response comes before its end
    pos = {id(e): i for i, e in enumerate(evs)}
    msgs = [pos[id(e)] for e in evs if e["type"] == "grpc_message" and
            e["stream"] == sid and e["from"] == "server"]
    assert not msgs or max(msgs) < pos[id(end)]


# --- the calls --------------------------------------------------------------

def test_unary(mitm, channel):
    sizes = [0, 70000, 1000]
    f = method(channel, "Unary", "unary_unary")
    for i, n in enumerate(sizes):
        req = payload(i, n)
        assert f(req, timeout=RPC_TIMEOUT) == req[::-1], n
    channel.close()
    evs, first = call_events(mitm, "Unary")
    sids = [e["stream"] for e in evs if e["type"] == "request_headers"]
    assert len(sids) == 3 and sids[0] == first
    for sid, n in zip(sids, sizes):
        check_ok_call(evs, sid, [n], [n])


def test_server_streaming(mitm, channel):
    f = method(channel, "ServerStream", "unary_stream")
    got = list(f(struct.pack(">I", N_STREAM), timeout=RPC_TIMEOUT))
    sizes = stream_sizes(N_STREAM)
    assert len(got) == N_STREAM
    for i, (m, n) in enumerate(zip(got, sizes)):
        assert m == payload(i, n), i
    channel.close()
    evs, sid = call_events(mitm, "ServerStream")
    check_ok_call(evs, sid, [4], sizes)


def test_client_streaming(mitm, channel):
    sizes = stream_sizes(40)
    msgs = [payload(i, n) for i, n in enumerate(sizes)]
    f = method(channel, "ClientStream", "stream_unary")
    resp = f(iter(msgs), timeout=RPC_TIMEOUT)
    h = hashlib.sha256()
    for m in msgs:
        h.update(struct.pack(">I", len(m)) + m)
    assert resp == struct.pack(">I", len(msgs)) + h.digest()
    channel.close()
    evs, sid = call_events(mitm, "ClientStream")
    check_ok_call(evs, sid, sizes, [4 + 32])


def test_bidirectional(mitm, channel):
    """Each message is answered before the next is sent: the turns go
    through mitmd one by one."""
    import queue
    sizes = stream_sizes(24)
    q = queue.Queue()

    def reqs():
        for _ in range(len(sizes) + 1):
            m = q.get(timeout=RPC_TIMEOUT)
            if m is None:
                return
            yield m
    f = method(channel, "Bidi", "stream_stream")
    call = f(reqs(), timeout=RPC_TIMEOUT)
    try:
        for i, n in enumerate(sizes):
            m = payload(i, n)
            q.put(m)
            assert next(call) == m[::-1], i
        q.put(None)
        assert list(call) == []
    finally:
        q.put(None)
        call.cancel()
    assert call.code() == grpc.StatusCode.OK
    channel.close()
    evs, sid = call_events(mitm, "Bidi")
    check_ok_call(evs, sid, sizes, sizes)


def status_of(evs, sid):
    """grpc-status and grpc-message of a call: from the trailers on the
    last response_body_chunk, or from the response head of a
    Trailers-Only response; and which it was."""
    end = body_end(evs, sid, "response_body_chunk")
    if end.get("trailers"):
        return dict(end["trailers"]), "trailers"
    head = [e for e in evs if e["type"] == "response_headers" and
            e["stream"] == sid][0]
    return dict(head["headers"]), "head"


def test_status_not_found(mitm, channel):
    f = method(channel, "Fail", "unary_unary")
    with pytest.raises(grpc.RpcError) as ei:
        f(b"what", timeout=RPC_TIMEOUT)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    assert ei.value.details() == NOT_FOUND_DETAILS
    ok = method(channel, "Unary", "unary_unary")
    assert ok(b"abc", timeout=RPC_TIMEOUT) == b"cba"
    channel.close()
    evs, sid = call_events(mitm, "Fail")
    check_messages(evs, sid, "client", [4])
    check_messages(evs, sid, "server", [])
    st, where = status_of(evs, sid)
    print("status of the failed call in the", where)
    assert st["grpc-status"] == "5"
    # printable ASCII but "%" goes unencoded in grpc-message
    assert st["grpc-message"] == NOT_FOUND_DETAILS


def test_status_after_messages(mitm, channel):
    f = method(channel, "FailLate", "unary_stream")
    call = f(b"go", timeout=RPC_TIMEOUT)
    got = []
    with pytest.raises(grpc.RpcError) as ei:
        for m in call:
            got.append(m)
    assert got == [payload(i, 100 * (i + 1)) for i in range(3)]
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ei.value.details() == "enough, after 3"
    channel.close()
    evs, sid = call_events(mitm, "FailLate")
    check_messages(evs, sid, "server", [100, 200, 300])
    end = body_end(evs, sid, "response_body_chunk")
    st = dict(end["trailers"])
    assert [k for k, _ in end["trailers"]][:2] == ["grpc-status",
                                                   "grpc-message"]
    assert st["grpc-status"] == "8"
    assert st["grpc-message"] == "enough, after 3"


def test_compressed_message(mitm, channel):
    data = b"compress me " * 5000
    f = method(channel, "Unary", "unary_unary")
    assert f(data, timeout=RPC_TIMEOUT,
             compression=grpc.Compression.Gzip) == data[::-1]
    channel.close()
    evs, sid = call_events(mitm, "Unary")
    got = [e for e in evs if e["type"] == "grpc_message" and
           e["stream"] == sid and e["from"] == "client"]
    assert len(got) == 1 and got[0]["compressed"] is True
    assert 0 < got[0]["length"] < len(data)
    req = [e for e in evs if e["type"] == "request_headers" and
           e["stream"] == sid][0]
    assert dict(req["headers"])["grpc-encoding"] == "gzip"


# --- malformed envelopes ----------------------------------------------------

def env(flag, length, data):
    return bytes([flag]) + struct.pack(">I", length) + data


# name: (body, the grpc_message events of each direction as
# (index, offset, length or the error))
MALFORMED = {
    "bad_flag": (env(0, 3, b"abc") + env(2, 4, b"defg"),
                 [(0, 0, 3), (1, 8, "bad_flag")]),
    "too_large": (env(0, 0, b"") + env(0, 5 << 20, b"xyz"),
                  [(0, 0, 0), (1, 5, "too_large")]),
    # the message starts (index 0), and ends early: the error names it
    "truncated_message": (env(1, 16, b"only nine"),
                          [(0, 0, 16), (0, 0, "truncated_message")]),
    "truncated_prefix": (env(0, 2, b"ok") + b"\x00\x00\x01",
                         [(0, 0, 2), (1, 7, "truncated_prefix")]),
}


def test_malformed_envelopes(mitm, echo_origin):
    """A request of content-type application/grpc whose DATA is not a
    proper sequence of messages, to an origin that echoes it back: an
    error grpc_message per direction, the good messages before it
    reported, and every byte through untouched both ways."""
    mitm.mark = len(events.read(mitm))
    c = H2Client(mitm, echo_origin.port, host="127.0.0.1")
    sids = {}
    try:
        for name, (body, _) in MALFORMED.items():
            sids[name] = c.request(
                f"/echo?{name}", method="POST", body=body,
                headers=[("content-type", "application/grpc+proto"),
                         ("te", "trailers")])
        c.pump(lambda: all(c.done(s) for s in sids.values()))
        for name, sid in sids.items():
            body = MALFORMED[name][0]
            assert sid in c.ended and sid not in c.resets, name
            assert bytes(c.bodies[sid]) == body, name
            rec = echo_origin.find(f"/echo?{name}")
            assert len(rec) == 1 and bytes(rec[0]["body"]) == body, name
    finally:
        c.close()
    evs = flow_with(mitm, "/echo?bad_flag")
    by_target = {e["target"]: e["stream"] for e in evs
                 if e["type"] == "request_headers"}
    for name, (body, want) in MALFORMED.items():
        sid = by_target[f"/echo?{name}"]
        for side in ("client", "server"):
            got = [e for e in evs if e["type"] == "grpc_message" and
                   e["stream"] == sid and e["from"] == side]
            seen = [(e["index"], e["offset"], e.get("error", e.get("length")))
                    for e in got]
            assert seen == want, (name, side, got)
            assert isinstance(got[-1]["detail"], str) and got[-1]["detail"]
        end = body_end(evs, sid, "request_body_chunk")
        assert end["body_size"] == len(body)
        assert end["body_sha256"] == hashlib.sha256(body).hexdigest()
