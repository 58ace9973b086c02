"""WebSocket through mitmd (issue 5): a real client and a real origin,
both the `websockets` library, through plain HTTP proxying (ws:// in
absolute form), through a CONNECT tunnel carrying plain HTTP, and as wss
intercepted (the client trusts mitmd's CA, the worker the origin's CA).

Every message arrives intact (compared whole, 16 MiB included), with
permessage-deflate negotiated end to end or switched off; ping and pong;
closes with several codes from either side. The events match the
exchange: one ws_message per data message and per control frame (side,
opcode, length, frames, compressed, the captured head inflated, close
code and reason), and the turns (ws_turn_started / ws_turn_completed:
numbers, sides, message, frame and byte counts, reasons "reply" and
"close"), in order, before stream_closed.
"""

import asyncio
import base64
import json
import os
import ssl
import threading
import uuid

import pytest
import websockets
import websockets.legacy.client as wsclient

from pylib import client, events, tls

CAPTURE_KIB = 4
CAPTURE = CAPTURE_KIB * 1024
BIG = 16 << 20          # the large message
IO_TIMEOUT = 60         # seconds for one client conversation
EVENT_TIMEOUT = 30      # seconds for the events to reach the file
START_TIMEOUT = 10      # seconds for an origin to listen
CLOSE_CODES = (1000, 1001, 4000, 4999)

WS_KW = dict(max_size=None, ping_interval=None, close_timeout=10)


def big_payload():
    """16 MiB that deflate shrinks (the compressed message stays below
    the worker's observation limit) but not to nothing."""
    return os.urandom(BIG // 2).hex().encode()   # about 2:1


def random_big():
    return os.urandom(BIG)


# --- the origin --------------------------------------------------------------

class WsOrigin:
    """A websockets server on its own event loop thread. Paths:
    /echo/...          every message sent back as it came
    /close/CODE/...    one message echoed, then a close with CODE and
                       reason "bye CODE" from the server
    """

    def __init__(self, ssl_ctx=None, compression="deflate"):
        self.ssl_ctx = ssl_ctx
        self.compression = compression
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.port = None
        self.server = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(START_TIMEOUT), "origin did not start"
        assert self.error is None, self.error

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.server = self.loop.run_until_complete(websockets.serve(
                self._handler, "127.0.0.1", 0, ssl=self.ssl_ctx,
                compression=self.compression, **WS_KW))
            self.port = self.server.sockets[0].getsockname()[1]
        except Exception as e:   # reported to the test's thread
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    async def _handler(self, ws, path):
        parts = path.split("/")
        try:
            if parts[1] == "close":
                code = int(parts[2])
                await ws.send(await ws.recv())
                await ws.close(code, f"bye {code}")
                return
            async for m in ws:
                await ws.send(m)
        except websockets.ConnectionClosed:
            pass

    def close(self):
        if self.server is not None:
            async def stop():
                self.server.close()
                await self.server.wait_closed()
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(
                START_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_TIMEOUT)
        assert not self.thread.is_alive()
        self.loop.close()


class AbsoluteForm(wsclient.WebSocketClientProtocol):
    """The handshake's request line in absolute form, as a client of an
    HTTP proxy writes it."""

    def write_http_request(self, path, headers):
        super().write_http_request(f"http://{headers['Host']}{path}",
                                   headers)


# --- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module")
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca,
                                 [f"capture bodies max {CAPTURE_KIB} KiB"])


@pytest.fixture(scope="module")
def origins(test_ca):
    cert, key = test_ca.issue("ws", dns=["localhost"], ips=["127.0.0.1"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    made = {}
    try:
        made["plain"] = WsOrigin()
        made["tls"] = WsOrigin(ssl_ctx=sctx)
        made["plain-nodeflate"] = WsOrigin(compression=None)
        made["tls-nodeflate"] = WsOrigin(ssl_ctx=sctx, compression=None)
        yield made
    finally:
        for o in made.values():
            o.close()


# --- the client side -------------------------------------------------------------

async def open_ws(m, mode, origin, path, compression):
    """A websockets client connection through mitmd in one of the modes:
    'plain' (absolute form), 'connect' (CONNECT, then plain HTTP),
    'wss' (CONNECT, then TLS with mitmd's certificate)."""
    kw = dict(WS_KW, compression=compression, open_timeout=IO_TIMEOUT)
    if mode == "plain":
        sock = client.connect(m.proxy_port)
        sock.setblocking(False)
        return await websockets.connect(
            f"ws://127.0.0.1:{origin.port}{path}", sock=sock,
            create_protocol=AbsoluteForm, **kw)
    host = "localhost" if mode == "wss" else "127.0.0.1"
    sock, resp, rest = client.proxy_connect(m.proxy_port,
                                            f"{host}:{origin.port}")
    assert resp.status == 200 and not rest, resp
    sock.setblocking(False)
    if mode == "connect":
        return await websockets.connect(
            f"ws://127.0.0.1:{origin.port}{path}", sock=sock, **kw)
    return await websockets.connect(
        f"wss://localhost:{origin.port}{path}", sock=sock,
        ssl=tls.mitmd_context(m), server_hostname="localhost", **kw)


def as_bytes(m):
    if isinstance(m, list):
        m = m[0][:0].join(m)
    return m.encode() if isinstance(m, str) else m


def script(big):
    """The client's messages, each echoed: text, binary, fragmented
    text and binary, the big one, and a small one after it (its head
    shows that inflating still follows the big one's window)."""
    return ["hello, world", bytes(range(256)) * 3,
            ["frag-", "men-", "ted ", "text"], [b"\x00\x01", b"\x02" * 9000],
            big, "after the big one " * 100]


async def conversation(m, mode, origin, compression, big, close_code=1000):
    """Echo the script, ping, close; returns what happened, for the event
    checks."""
    path = f"/echo/{uuid.uuid4().hex}"
    ws = await open_ws(m, mode, origin, path, compression)
    ext = ws.response_headers.get("Sec-WebSocket-Extensions")
    msgs = script(big)
    for msg in msgs:
        await ws.send(msg)
        got = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
        want = msg[0][:0].join(msg) if isinstance(msg, list) else msg
        assert type(got) is type(want)
        assert got == want, f"{mode}: message of {len(want)} changed"
    pong = await ws.ping(b"are you there")
    await asyncio.wait_for(pong, IO_TIMEOUT)
    await ws.close(close_code, "done")
    assert ws.close_code == close_code
    return path, ext, msgs


# --- events -----------------------------------------------------------------------

def flow_of(m, marker):
    """The events of the flow whose request carried marker, once it is
    closed."""
    return events.wait_flow(m, events.with_request(marker), EVENT_TIMEOUT,
                            f"the flow of {marker}")


def check_message(e, side, opcode, payload, frames, compressed):
    assert e["type"] == "ws_message", e
    assert e["from"] == side, e
    assert e["opcode"] == opcode, e
    assert e["frames"] == frames, e
    assert e["compressed"] is compressed, e
    assert "oversize" not in e, e
    if not compressed:
        assert e["length"] == len(payload), e
    else:
        assert 0 < e["length"], e
    head = base64.b64decode(e.get("head_b64", ""))
    assert head == payload[:CAPTURE], (e, payload[:64])


def check_ws_events(evs, msgs, compressed, close_code, close_by="client"):
    """The ws_* events of an echo conversation, in order."""
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(len(evs)))
    types = [e["type"] for e in evs]
    assert types[-1] == "stream_closed"
    resp = [e for e in evs if e["type"] == "response_headers"]
    assert resp and resp[0]["status"] == 101, resp
    ws = [e for e in evs if e["type"].startswith("ws_")]
    assert types.index("response_headers") < types.index(ws[0]["type"])
    assert all(e["stream"] == resp[0]["stream"] for e in ws)
    i = 0
    turn = 0
    for msg in msgs:
        payload = as_bytes(msg)
        op = "text" if isinstance(msg if not isinstance(msg, list)
                                  else msg[0], str) else "binary"
        # websockets sends each fragment, then an empty final frame
        frames = len(msg) + 1 if isinstance(msg, list) else 1
        for side, nframes in (("client", frames), ("server", 1)):
            if turn > 0:
                t = ws[i]
                assert t["type"] == "ws_turn_completed", t
                assert t["turn"] == turn and t["reason"] == "reply", t
                assert t["messages"] == 1, t
                assert t["frames"] == prev_frames, t
                assert t["bytes"] == prev_len, t
                assert t["side"] != side, t
                assert t["ended"] >= t["started"], t
                i += 1
            turn += 1
            t = ws[i]
            assert t["type"] == "ws_turn_started", t
            assert t["turn"] == turn and t["side"] == side, t
            i += 1
            check_message(ws[i], side, op, payload, nframes, compressed)
            prev_frames, prev_len = nframes, ws[i]["length"]
            i += 1
    # the ping and its pong: control frames, outside the turns
    check_message(ws[i], "client", "ping", b"are you there", 1, False)
    check_message(ws[i + 1], "server", "pong", b"are you there", 1, False)
    i += 2
    other = "server" if close_by == "client" else "client"
    c = ws[i]
    assert c["opcode"] == "close" and c["from"] == close_by, c
    assert c["close_code"] == close_code, c
    t = ws[i + 1]
    assert t["type"] == "ws_turn_completed" and t["turn"] == turn, t
    assert t["reason"] == "close" and t["side"] == "server", t
    c2 = ws[i + 2]
    assert c2["opcode"] == "close" and c2["from"] == other, c2
    assert c2["close_code"] == close_code, c2
    assert len(ws) == i + 3, ws[i + 3:]
    assert evs[-1]["reason"] == "closed", evs[-1]


# --- the tests ------------------------------------------------------------------

MODES = [("plain", "plain"), ("connect", "plain"), ("wss", "tls")]


@pytest.mark.parametrize("mode,kind", MODES)
def test_deflate_end_to_end(mitm, origins, mode, kind):
    """permessage-deflate negotiated through mitmd; each message intact;
    the events' heads are the inflated payloads, cut to the capture."""
    big = big_payload()
    path, ext, msgs = asyncio.run(conversation(
        mitm, mode, origins[kind], "deflate", big))
    assert ext and "permessage-deflate" in ext, ext
    check_ws_events(flow_of(mitm, path), msgs, True, 1000)


@pytest.mark.parametrize("mode,kind", MODES)
def test_uncompressed(mitm, origins, mode, kind):
    """No extension: 16 MiB of random bytes, lengths exact."""
    path, ext, msgs = asyncio.run(conversation(
        mitm, mode, origins[kind + "-nodeflate"], None, random_big(),
        close_code=4000))
    assert ext is None, ext
    check_ws_events(flow_of(mitm, path), msgs, False, 4000)


async def server_closes(m, mode, origin, code, compression):
    path = f"/close/{code}/{uuid.uuid4().hex}"
    ws = await open_ws(m, mode, origin, path, compression)
    await ws.send("one")
    assert await asyncio.wait_for(ws.recv(), IO_TIMEOUT) == "one"
    await asyncio.wait_for(ws.wait_closed(), IO_TIMEOUT)
    assert ws.close_code == code and ws.close_reason == f"bye {code}"
    return path


@pytest.mark.parametrize("code", CLOSE_CODES)
@pytest.mark.parametrize("mode,kind", [("plain", "plain"), ("wss", "tls")])
def test_server_close_codes(mitm, origins, mode, kind, code):
    """The server closes with a code and a reason: the client sees both,
    and so do the events (the close of each side, the turn's reason)."""
    path = asyncio.run(server_closes(mitm, mode, origins[kind], code,
                                     "deflate"))
    evs = flow_of(mitm, path)
    ws = [e for e in evs if e["type"].startswith("ws_")]
    kinds = [(e["type"], e.get("from") or e.get("side"),
              e.get("opcode") or e.get("reason")) for e in ws]
    assert kinds == [
        ("ws_turn_started", "client", None),
        ("ws_message", "client", "text"),
        ("ws_turn_completed", "client", "reply"),
        ("ws_turn_started", "server", None),
        ("ws_message", "server", "text"),
        ("ws_message", "server", "close"),
        ("ws_turn_completed", "server", "close"),
        ("ws_message", "client", "close"),
    ], kinds
    assert ws[5]["close_code"] == code and ws[7]["close_code"] == code
    assert ws[5]["close_reason"] == f"bye {code}"
    assert base64.b64decode(ws[4]["head_b64"]) == b"one"
    assert evs[-1]["reason"] == "closed"


@pytest.mark.parametrize("code", (1001, 4000))
def test_client_close_codes(mitm, origins, code):
    path, _, msgs = asyncio.run(conversation(
        mitm, "connect", origins["plain"], "deflate", b"small" * 10,
        close_code=code))
    check_ws_events(flow_of(mitm, path), msgs, True, code)


def test_plain_get_still_strips_upgrade(mitm):
    """An Upgrade to something else is hop-by-hop as before: the origin
    never sees it, and answers the request as a plain GET."""
    from pylib import origins as plain_origins
    o = plain_origins.HttpOrigin()
    try:
        r = client.raw_request(
            mitm.proxy_port,
            f"GET http://{o.hostport}/echo-headers HTTP/1.1\r\n"
            f"Host: {o.hostport}\r\nConnection: Upgrade, close\r\n"
            f"Upgrade: h2c\r\n\r\n".encode())
        assert r.status == 200
        seen = {k.lower(): v for k, v in json.loads(r.body)}
        assert "upgrade" not in seen, seen
        assert "upgrade" not in seen.get("connection", "").lower(), seen
    finally:
        o.close()
