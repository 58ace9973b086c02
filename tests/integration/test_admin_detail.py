"""The flow detail page of the admin listener, /flows/ID (issue 6 item 3):
real flows through mitmd, a real origin (nginx, gzip on) and real clients
(curl, python3-websockets). The page shows each exchange's heads and its
body as the decoder chain made it (gzip undone, JSON; the events of an
SSE stream), the WebSocket messages with their payloads, the SSE events,
and the event timeline; every value from the flow is escaped.
"""

import asyncio
import html
import json
import re
import shutil
import ssl
import uuid

import pytest

from pylib import events, origins, tls, util
from pylib import mitmd as mitmd_mod
from test_admin import Admin, admin_port_conf, token
from test_admin_browser import DATA, NGINX_EXTRA
from test_ctl_flows import curl
from test_websocket import IO_TIMEOUT, WsOrigin, open_ws

PAGE_WAIT = 20       # seconds for the store to have a flow's rows
FLOW_WAIT = 30

SSE = (b"event: greet\nid: 1\ndata: hello <b>sse</b>\n\n"
       b"event: bye\ndata: line one\ndata: line two\n\n")


@pytest.fixture(scope="module")
def certs(test_ca):
    return test_ca.issue("admin-detail", dns=["localhost"],
                         ips=["127.0.0.1"])


@pytest.fixture(scope="module")
def origin(certs):
    d = mitmd_mod.tempdir("ngx")
    o = origins.NginxOrigin(d, *certs, extra=NGINX_EXTRA)
    o.put("data.json", json.dumps(DATA))
    o.put("events.sse", SSE)
    yield o
    o.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def env(build, test_ca):
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=[
        "capture bodies max 32 KiB", *admin_port_conf(port)])
    a = Admin(m, port)
    util.wait_until(lambda: a.get("/api/flows", token(m))[0] == 200,
                    PAGE_WAIT, "the admin listener")
    yield m, a
    tls.stop_mitmd(m)


def flow_id(m, marker):
    evs = events.wait_flow(m, events.with_request(marker), FLOW_WAIT,
                           f"the flow of {marker}")
    return evs[0]["flow_id"]


def page(env, flow, want):
    """The detail page's HTML once it holds want (the store may be a
    moment behind the events file)."""
    m, a = env

    def get():
        st, h, body = a.get(f"/flows/{flow}", token(m))
        assert st == 200, (st, body[:200])
        assert h["Content-Type"].startswith("text/html")
        text = body.decode()
        return text if want in text else None
    return util.wait_until(get, PAGE_WAIT, f"{want!r} on /flows/{flow}")


def rows(text, cls):
    """The cells (unescaped text) of each <tr class=cls>."""
    out = []
    for r in re.findall(rf'<tr class="{cls}">(.*?)</tr>', text, re.S):
        out.append([html.unescape(re.sub(r"<[^>]+>", "", c)) for c in
                    re.findall(r"<td>(.*?)</td>", r, re.S)])
    return out


def test_gzip_json_body_decoded(env, origin):
    m, _ = env
    marker = uuid.uuid4().hex
    url = f"https://localhost:{origin.port}/data.json?{marker}"
    assert curl(m, url, "--compressed", cacert=tls.mitmd_ca(m)) == 200
    text = page(env, flow_id(m, marker), "gzip → json")
    body = re.findall(r'<pre class="body json">(.*?)</pre>', text, re.S)
    assert DATA in [json.loads(html.unescape(b)) for b in body]
    heads = "".join(re.findall(r'<table class="hdrs">(.*?)</table>', text,
                               re.S)).lower()
    assert "<th>content-encoding</th><td>gzip</td>" in heads
    assert "<th>accept-encoding</th>" in heads
    assert re.search(r"<th>response_body_size</th><td>\d+</td>", text)
    ev = rows(text, "ev")
    assert [r[2] for r in ev][:2] == ["connect_received", "connect_decision"]
    assert ev[-1][2] == "stream_closed"
    assert [int(r[0]) for r in ev] == list(range(len(ev)))


def test_sse_events(env, origin):
    m, _ = env
    marker = uuid.uuid4().hex
    url = f"https://localhost:{origin.port}/events.sse?{marker}"
    assert curl(m, url, cacert=tls.mitmd_ca(m)) == 200
    text = page(env, flow_id(m, marker), "<h2>Server-sent events</h2>")
    got = [(r[3], r[4], r[5], r[6]) for r in rows(text, "sse")]
    assert got == [("greet", "1", "16", "hello <b>sse</b>"),
                   ("bye", "1", "17", "line one\nline two")]
    # the value from the flow is escaped, never markup
    assert "hello <b>sse" not in text
    # the decoder chain's view of the body: the stream's events
    assert re.search(r'<p class="part">event 0 <b>greet</b>', text)


def test_websocket_messages(env, certs):
    m, _ = env
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*certs)
    o = WsOrigin(ssl_ctx=sctx, compression=None)
    path = f"/echo/{uuid.uuid4().hex}"

    async def talk():
        ws = await open_ws(m, "wss", o, path, None)
        for msg in ("hello admin <ws>", bytes(range(8))):
            await ws.send(msg)
            assert await asyncio.wait_for(ws.recv(), IO_TIMEOUT) == msg
        await ws.close(1000, "done")
    try:
        asyncio.run(talk())
    finally:
        o.close()
    text = page(env, flow_id(m, path), "<h2>WebSocket messages</h2>")
    got = [(r[3], r[4], r[5], r[6]) for r in rows(text, "ws")]
    assert ("client", "text", "16", "hello admin <ws>") in got
    assert ("server", "text", "16", "hello admin <ws>") in got
    assert ("client", "binary", "8", "base64: AAECAwQFBgc=") in got
    closes = [g for g in got if g[1].startswith("close")]
    assert ("client", "close 1000 done", "6", "") in closes


def test_unknown_flow(env):
    m, a = env
    st, _, _ = a.get("/flows/99999999999", token(m))
    assert st == 404
    st, _, _ = a.get("/flows/12x", token(m))
    assert st == 404
