"""The admin pages' live feed (issue 6 item 3): GET /api/feed on the
admin listener upgrades to a WebSocket over TLS and streams every event
the store gets as {"id": ID, "event": EVENT}; "?after=ID" replays from
the store what came after ID, then goes live, with neither gaps nor
duplicates; the admin token is needed; a client that does not read is
dropped while the others go on. Client: python3-websockets (asyncio),
and a raw TLS socket for the client that never reads.
"""

import asyncio
import http.client
import json
import socket
import ssl
import time

import pytest
import websockets

from pylib import tls, util
from test_admin import admin_ctx, admin_port_conf, token
from test_ctl_flows import RUN, StatusOrigin, curl

FEED_WAIT = 20          # seconds for an event to show on the feed
RECV_TIMEOUT = 5
DROP_WAIT = 60          # the slow client's end
BIG_HEADER = 7000       # bytes of each of the big requests' headers
BIG_HEADERS = 4
BIG_REQUESTS = 300


@pytest.fixture(scope="module")
def env(build, test_ca):
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=admin_port_conf(port))
    o = StatusOrigin()
    tok = token(m)
    ctx = admin_ctx(m)

    def up():
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                            timeout=5)
            c.request("GET", "/api/flows",
                      headers={"Authorization": f"Bearer {tok}"})
            return c.getresponse().status == 200
        except OSError:
            return False
    util.wait_until(up, FEED_WAIT, "the admin listener")
    yield m, port, tok, o
    o.close()
    tls.stop_mitmd(m)


def url_of(o, tag):
    return f"http://127.0.0.1:{o.port}/status/200/{RUN}/{tag}"


def connect(env, query="", tok=True, **kw):
    m, port, t, _ = env
    h = {"Authorization": f"Bearer {t}"} if tok else {}
    return websockets.connect(f"wss://127.0.0.1:{port}/api/feed{query}",
                              ssl=admin_ctx(m), extra_headers=h,
                              max_size=None, open_timeout=10, **kw)


async def frames_until(ws, pred, timeout=FEED_WAIT):
    """Frames (decoded) up to and including the first one pred accepts."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"not seen on the feed in {timeout}s: {got[-3:]}"
        f = json.loads(await asyncio.wait_for(ws.recv(), left))
        got.append(f)
        if pred(f):
            return got


def flow_closed(o, tag, flows):
    """pred: the flow of url tag has had its stream_closed."""
    u = url_of(o, tag)

    def pred(f):
        ev = f.get("event") or {}
        if ev.get("url") == u:
            flows.add(ev["flow_id"])
        return (ev.get("type") == "stream_closed" and
                ev.get("flow_id") in flows)
    return pred


def check_ids(frames):
    ids = [f["id"] for f in frames if "id" in f]
    assert ids == list(range(ids[0], ids[0] + len(ids))), ids
    return ids


def check_flow(frames, flow):
    seqs = [f["event"]["seq"] for f in frames
            if "event" in f and f["event"]["flow_id"] == flow]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert seqs[0] in (0, 1), seqs
    return seqs


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, FEED_WAIT * 4))


def test_live(env):
    o = env[3]

    async def go():
        async with connect(env) as ws:
            await asyncio.to_thread(curl, env[0], url_of(o, "live"))
            flows = set()
            fr = await frames_until(ws, flow_closed(o, "live", flows))
            check_ids(fr)
            (flow,) = flows
            check_flow(fr, flow)
    run(go())


def test_resume_no_gap_no_duplicate(env):
    o = env[3]

    async def go():
        async with connect(env) as ws:
            await asyncio.to_thread(curl, env[0], url_of(o, "r1"))
            fr = await frames_until(ws, flow_closed(o, "r1", set()))
        last = check_ids(fr)[-1]
        # while nobody listens
        await asyncio.to_thread(curl, env[0], url_of(o, "r2"))
        await asyncio.to_thread(curl, env[0], url_of(o, "r3"))
        async with connect(env, f"?after={last}") as ws:
            f2 = set()
            got = await frames_until(ws, flow_closed(o, "r3", f2))
            got += await frames_until(ws, lambda f: f.get("control") ==
                                      "live")
            # live again after the replay
            await asyncio.to_thread(curl, env[0], url_of(o, "r4"))
            f4 = set()
            got += await frames_until(ws, flow_closed(o, "r4", f4))
        ids = check_ids(got)
        assert ids[0] == last + 1
        seen = {f["event"]["flow_id"] for f in got if "event" in f}
        for flow in seen:
            check_flow(got, flow)
        assert f2 <= seen and f4 <= seen
    run(go())


def test_resume_from_zero_replays_the_store(env):
    o = env[3]
    curl(env[0], url_of(o, "z"))

    async def go():
        async with connect(env, "?after=0") as ws:
            got = await frames_until(ws, lambda f: f.get("control") ==
                                     "live")
        ids = check_ids(got)
        assert ids[0] == 1
        assert any((f.get("event") or {}).get("url") == url_of(o, "z")
                   for f in got)
    run(go())


def test_no_token_401(env):
    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(env, tok=False):
                pass
        assert e.value.status_code == 401
    run(go())


def test_wrong_token_401(env):
    m, port, _, _ = env

    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with websockets.connect(
                    f"wss://127.0.0.1:{port}/api/feed", ssl=admin_ctx(m),
                    extra_headers={"Authorization": "Bearer 1234"},
                    open_timeout=10):
                pass
        assert e.value.status_code == 401
    run(go())


def test_session_cookie(env):
    m, port, tok, _ = env
    c = http.client.HTTPSConnection("127.0.0.1", port, context=admin_ctx(m),
                                    timeout=10)
    c.request("POST", "/login", body=f"token={tok}",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    cookie = r.headers["Set-Cookie"].split(";")[0]
    assert r.status == 303

    async def go():
        async with websockets.connect(
                f"wss://127.0.0.1:{port}/api/feed", ssl=admin_ctx(m),
                extra_headers={"Cookie": cookie},
                open_timeout=10) as ws:
            pong = await ws.ping()
            await asyncio.wait_for(pong, RECV_TIMEOUT)
        # a page of another site may not use the cookie
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with websockets.connect(
                    f"wss://127.0.0.1:{port}/api/feed", ssl=admin_ctx(m),
                    extra_headers={"Cookie": cookie},
                    origin="https://evil.example", open_timeout=10):
                pass
        assert e.value.status_code == 403
    run(go())


def test_plain_get_426(env):
    m, port, tok, _ = env
    c = http.client.HTTPSConnection("127.0.0.1", port, context=admin_ctx(m),
                                    timeout=10)
    c.request("GET", "/api/feed", headers={"Authorization": f"Bearer {tok}"})
    r = c.getresponse()
    assert r.status == 426
    assert r.headers["Upgrade"] == "websocket"


def test_bad_after_400(env):
    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(env, "?after=x"):
                pass
        assert e.value.status_code == 400
    run(go())


def test_client_message_closes_1003(env):
    async def go():
        async with connect(env) as ws:
            await ws.send("hello")
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
                await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            assert e.value.code == 1003
    run(go())


def raw_feed(m, port, tok):
    """A TLS feed client that reads its 101 and then nothing."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    t = admin_ctx(m).wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall((f"GET /api/feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {tok}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
              .encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = t.recv(1)
        assert b, head
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    return t


def big_requests(m, o, n):
    h = {f"X-Big-{i}": "b" * BIG_HEADER for i in range(BIG_HEADERS)}
    for i in range(n):
        c = http.client.HTTPConnection("127.0.0.1", m.proxy_port, timeout=30)
        c.request("GET", url_of(o, f"big{i}"), headers=h)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        c.close()


def test_slow_client_dropped(env):
    m, port, tok, o = env
    mark = m.syslog.mark()
    slow = raw_feed(m, port, tok)

    async def go():
        async with connect(env) as ws:
            task = asyncio.create_task(frames_until(
                ws, flow_closed(o, f"big{BIG_REQUESTS - 1}", set()),
                timeout=DROP_WAIT))
            await asyncio.to_thread(big_requests, m, o, BIG_REQUESTS)
            got = await task
            check_ids(got)
    run(go())
    # the server closed it: what the kernel held, then the end
    slow.settimeout(RECV_TIMEOUT)
    deadline = time.monotonic() + DROP_WAIT
    ended = False
    while time.monotonic() < deadline:
        try:
            if not slow.recv(65536):
                ended = True
                break
        except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
            ended = True
            break
        except socket.timeout:
            break
    slow.close()
    assert ended, "the client that did not read is still connected"
    m.syslog.wait_for(r"admin feed: a client reads too slowly", FEED_WAIT,
                      start=mark)


def test_replay_of_large_events_is_not_dropped(env):
    """After test_slow_client_dropped: megabytes to replay, read by a
    client that keeps up, go out whole (the replay waits for the client
    rather than overfilling its queue)."""
    o = env[3]

    async def go():
        async with connect(env, "?after=0") as ws:
            got = await frames_until(ws, lambda f: f.get("control") ==
                                     "live", timeout=DROP_WAIT)
        check_ids(got)
        urls = {(f.get("event") or {}).get("url") for f in got}
        assert url_of(o, f"big{BIG_REQUESTS - 1}") in urls
        assert sum(len(json.dumps(f)) for f in got) > 4 * 1024 * 1024
    run(go())
