"""HTTP/2 through an intercepted connection: curl --http2 against an
HTTP/2 origin (nginx) and against an HTTP/1.1-only one (translated);
python3-h2 on one connection: 100 parallel streams with their bodies
checked, a stream reset by the client, header lists near and past the
limit, trailers; `http2 no`; and the events: protocol http2, the stream
id, each body's end.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from pylib import client, events, origins, tls, util
from pylib.h2client import IO_TIMEOUT, H2Client
from pylib.mitmd import tempdir

N_PARALLEL = 100


@pytest.fixture(scope="module")
def certs(test_ca):
    return test_ca.issue("origin", dns=["localhost"], ips=["127.0.0.1"])


@pytest.fixture(scope="module")
def nginx_h2(certs):
    d = tempdir("ngx")
    o = origins.NginxOrigin(d, *certs, http2=True)
    o.sums = {n: o.add_file(f"f{n}", n) for n in (0, 1, 1000, 70000,
                                                  1 << 20, 8 << 20)}
    yield o
    o.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def h1_origin(certs):
    o = tls.TlsOrigin(*certs)
    yield o
    o.close()


def start(build, test_ca, extra=(), **kw):
    return tls.start_mitmd(build, test_ca,
                           ["capture bodies max 4 KiB", *extra], **kw)


@pytest.fixture(scope="module")
def mitm(build, test_ca):
    m = start(build, test_ca, ["http2 max-header-list-size 16384"])
    yield m
    tls.stop_mitmd(m)


def flow_events(m, **request):
    """The events of the first closed flow with a request_headers of
    these members."""
    return events.wait_flow(m, events.with_request(**request))


def curl_h2(m, url, *extra):
    return client.curl(["-x", f"http://127.0.0.1:{m.proxy_port}",
                        "--cacert", tls.mitmd_ca(m), "--http2", "-sS",
                        "-o", "-", "-w", "\n%{http_version}"] + list(extra) +
                       [url])


def split_version(out):
    body, _, ver = out.rpartition(b"\n")
    return body, ver.decode()


def test_curl_h2_to_h2_origin(mitm, nginx_h2):
    n = 1 << 20
    p = curl_h2(mitm, f"https://localhost:{nginx_h2.port}/f{n}")
    assert p.returncode == 0, p.stderr
    body, ver = split_version(p.stdout)
    assert ver == "2"
    assert hashlib.sha256(body).hexdigest() == nginx_h2.sums[n]
    evs = flow_events(mitm, target=f"/f{n}")
    tls_up = [e for e in evs if e["type"] == "tls_handshake_succeeded"]
    assert [e["alpn"] for e in tls_up] == ["h2", "h2"], tls_up
    req = [e for e in evs if e["type"] == "request_headers"]
    assert len(req) == 1 and req[0]["protocol"] == "http2"
    assert req[0]["http_version"] == "HTTP/2" and req[0]["method"] == "GET"
    assert req[0]["stream"] == 1
    assert req[0]["url"] == f"https://localhost:{nginx_h2.port}/f{n}"
    resp = [e for e in evs if e["type"] == "response_headers"]
    assert resp[0]["status"] == 200 and resp[0]["stream"] == 1
    last = [e for e in evs if e["type"] == "response_body_chunk" and
            e["last"]]
    assert last[0]["body_size"] == n
    assert last[0]["body_sha256"] == nginx_h2.sums[n]
    assert [e["seq"] for e in evs] == list(range(len(evs)))


def test_curl_h2_to_h1_origin(mitm, h1_origin):
    """A client offering h2 and http/1.1 in front of an HTTP/1.1-only
    upstream gets what the upstream chose: http/1.1, nothing translated
    (the h2-only client below is translated)."""
    n = 300 * 1000
    p = curl_h2(mitm, f"https://127.0.0.1:{h1_origin.port}/bytes/{n}")
    assert p.returncode == 0, p.stderr
    body, ver = split_version(p.stdout)
    assert ver == "1.1"
    assert hashlib.sha256(body).hexdigest() == origins.body_sha256(n)


def test_curl_http11_still_http11(mitm, nginx_h2):
    p = client.curl(["-x", f"http://127.0.0.1:{mitm.proxy_port}",
                     "--cacert", tls.mitmd_ca(mitm), "--http1.1", "-sS",
                     "-o", "/dev/null", "-w", "%{http_version}",
                     f"https://localhost:{nginx_h2.port}/f1000"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"1.1"


def test_100_parallel_streams(mitm, nginx_h2):
    c = H2Client(mitm, nginx_h2.port)
    try:
        sizes = [70000 if i % 2 else 1000 for i in range(N_PARALLEL)]
        sids = [c.request(f"/f{n}") for n in sizes]
        c.pump(lambda: all(s in c.ended or s in c.resets for s in sids))
        assert not c.resets, c.resets
        for sid, n in zip(sids, sizes):
            assert c.heads[sid][b":status"] == b"200"
            assert hashlib.sha256(c.bodies[sid]).hexdigest() == \
                nginx_h2.sums[n], sid
        assert c.settings.get(
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS) == 100
    finally:
        c.close()


def test_100_parallel_streams_h1_origin(mitm, h1_origin):
    """The streams take turns on the HTTP/1.1 upstream; all arrive."""
    c = H2Client(mitm, h1_origin.port, host="127.0.0.1")
    try:
        sids = [c.request(f"/bytes/{1000 + i}") for i in range(N_PARALLEL)]
        c.pump(lambda: all(s in c.ended or s in c.resets for s in sids))
        assert not c.resets, c.resets
        for i, sid in enumerate(sids):
            assert hashlib.sha256(c.bodies[sid]).hexdigest() == \
                origins.body_sha256(1000 + i)
    finally:
        c.close()


def test_client_reset_stream(mitm, nginx_h2):
    """A stream the client resets mid-body is reset upstream; the other
    streams of the connection go on."""
    c = H2Client(mitm, nginx_h2.port)
    try:
        big = c.request(f"/f{8 << 20}")
        c.pump(lambda: len(c.bodies[big]) > 0)
        c.conn.reset_stream(big, error_code=8)   # CANCEL
        c.flush()
        sid = c.request("/f70000")
        c.pump(lambda: sid in c.ended)
        assert hashlib.sha256(c.bodies[sid]).hexdigest() == \
            nginx_h2.sums[70000]
    finally:
        c.close()
    evs = flow_events(mitm, target=f"/f{8 << 20}")
    resets = [e for e in evs if e.get("reset")]
    assert resets and resets[0]["reset_by"] == "client", resets
    assert resets[0]["reset"] == "CANCEL"


def test_header_list_limit(mitm, nginx_h2):
    """Under the limit (16 KiB here) a request goes through; past it the
    client gets 431 on that stream and the connection goes on."""
    c = H2Client(mitm, nginx_h2.port)
    try:
        ok = c.request("/f1000", headers=[("x-big", "a" * 12000)])
        c.pump(lambda: ok in c.ended)
        assert c.heads[ok][b":status"] == b"200"
        bad = c.request("/f1000", headers=[("x-big", "a" * 20000)])
        c.pump(lambda: bad in c.ended or bad in c.resets)
        assert c.heads.get(bad, {}).get(b":status") == b"431" or \
            bad in c.resets
        again = c.request("/f1000")
        c.pump(lambda: again in c.ended)
        assert c.heads[again][b":status"] == b"200"
    finally:
        c.close()


def test_post_body_h2(mitm, h1_origin):
    """A request body in DATA frames, larger than the stream window, to
    the HTTP/1.1 origin's echo."""
    c = H2Client(mitm, h1_origin.port, host="127.0.0.1")
    try:
        data = os.urandom(1 << 20)
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                  (":authority", c.authority),
                                  (":path", "/echo"),
                                  ("content-length", str(len(data)))])
        c.bodies[sid] = bytearray()
        c.flush()
        off = 0

        def window():
            return min(c.conn.local_flow_control_window(sid),
                       c.conn.max_outbound_frame_size)
        while off < len(data):
            n = 0
            for _ in range(1000):
                n = min(window(), len(data) - off)
                if n > 0:
                    break
                c.pump(lambda: window() > 0)
            c.conn.send_data(sid, data[off:off + n],
                             end_stream=off + n == len(data))
            c.flush()
            off += n
        c.pump(lambda: sid in c.ended)
        assert bytes(c.bodies[sid]).strip().decode() == \
            hashlib.sha256(data).hexdigest()
    finally:
        c.close()


def test_http2_no(build, test_ca, nginx_h2):
    m = start(build, test_ca, ["http2 no"])
    try:
        p = curl_h2(m, f"https://localhost:{nginx_h2.port}/f1000")
        assert p.returncode == 0, p.stderr
        body, ver = split_version(p.stdout)
        assert ver == "1.1"
        assert hashlib.sha256(body).hexdigest() == nginx_h2.sums[1000]
        m.close()
    finally:
        m.cleanup()


def test_h2_only_client_translated(mitm, h1_origin):
    """A client that offers h2 alone is answered h2, and its requests
    reach the HTTP/1.1-only origin as HTTP/1.1: Content-Length and
    chunked responses (the trailers of the chunked one become HTTP/2
    trailers), an empty one, a request body."""
    n = 300 * 1000
    before = h1_origin.requests
    c = H2Client(mitm, h1_origin.port, host="127.0.0.1")
    try:
        for path in (f"/bytes/{n}", f"/chunked/{n}", "/bytes/0"):
            sid = c.request(path)
            c.pump(lambda: sid in c.ended)
            assert c.heads[sid][b":status"] == b"200", path
            m = int(path.rsplit("/", 1)[1])
            assert hashlib.sha256(c.bodies[sid]).hexdigest() == \
                origins.body_sha256(m), path
            if path.startswith("/chunked"):
                tr = dict(c.trailers.get(sid, []))
                assert tr.get(b"x-digest") == \
                    origins.body_sha256(m).encode(), c.trailers
                assert b"x-end" in tr, tr
        data = os.urandom(100 * 1000)
        sid = c.request("/echo", method="POST", body=data)
        c.pump(lambda: sid in c.ended)
        assert bytes(c.bodies[sid]).strip().decode() == \
            hashlib.sha256(data).hexdigest()
        assert h1_origin.requests == before + 4
    finally:
        c.close()


@pytest.fixture(scope="module")
def nginx_h2c(certs):
    d = tempdir("ngx")
    o = origins.NginxOrigin(d, *certs, http2=True, tls=False)
    o.sums = {n: o.add_file(f"f{n}", n) for n in (1000, 1 << 20)}
    yield o
    o.close()
    shutil.rmtree(d, ignore_errors=True)


def test_h2c_prior_knowledge(mitm, nginx_h2c):
    """curl --http2-prior-knowledge through a CONNECT tunnel: the preface
    in clear is HTTP/2 to an upstream taken to speak it too."""
    n = 1 << 20
    p = client.curl(["-p", "-x", f"http://127.0.0.1:{mitm.proxy_port}",
                     "--http2-prior-knowledge", "-sS", "-o", "-", "-w",
                     "\n%{http_version}",
                     f"http://127.0.0.1:{nginx_h2c.port}/f{n}"])
    assert p.returncode == 0, p.stderr
    body, ver = split_version(p.stdout)
    assert ver == "2"
    assert hashlib.sha256(body).hexdigest() == nginx_h2c.sums[n]
    evs = flow_events(
        mitm, url=f"http://127.0.0.1:{nginx_h2c.port}/f{n}")
    assert all(e["protocol"] == "http2" for e in evs
               if e["type"].startswith(("request", "response")))
    assert not [e for e in evs if e["type"].startswith("tls_")]


# --- WebSocket over HTTP/2 (RFC 8441) ---------------------------------------

def ws_frame(op, payload, mask=True, fin=True):
    """One WebSocket frame; client frames are masked."""
    head = bytearray([(0x80 if fin else 0) | op])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mbit | 127)
        head += n.to_bytes(8, "big")
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + key + body


def ws_parse(buf):
    """(fin, opcode, payload) frames taken from the front of buf."""
    out = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = int.from_bytes(buf[2:10], "big"), 10
        key = None
        if b1 & 0x80:
            key, off = buf[off:off + 4], off + 4
        if len(buf) < off + n:
            break
        p = bytes(buf[off:off + n])
        if key is not None:
            p = bytes(b ^ key[i % 4] for i, b in enumerate(p))
        out.append((bool(b0 & 0x80), b0 & 0x0f, p))
        del buf[:off + n]
    return out


class WsH2Origin:
    """An HTTP/2 origin over TLS that takes RFC 8441 WebSockets on any
    path and echoes every frame back unmasked; a close is answered and
    ends the stream."""

    def __init__(self, certfile, keyfile):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.ctx.set_alpn_protocols(["h2"])
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.serve, daemon=True)]
        self.threads[0].start()

    def serve(self):
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self.conn, args=(s,), daemon=True)
            self.threads.append(t)
            t.start()

    def conn(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
            s.settimeout(IO_TIMEOUT)
            c = h2.connection.H2Connection(h2.config.H2Configuration(
                client_side=False, header_encoding=None))
            c.initiate_connection()
            c.update_settings(
                {h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
            s.sendall(c.data_to_send())
            bufs = {}
            while not self.stop.is_set():
                data = s.recv(1 << 16)
                if not data:
                    break
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        c.send_headers(ev.stream_id, [(":status", "200")])
                        bufs[ev.stream_id] = bytearray()
                    elif isinstance(ev, h2.events.DataReceived):
                        c.acknowledge_received_data(
                            ev.flow_controlled_length, ev.stream_id)
                        b = bufs[ev.stream_id]
                        b += ev.data
                        for fin, op, p in ws_parse(b):
                            self.echo(c, ev.stream_id, fin, op, p)
                s.sendall(c.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            raw.close()

    def echo(self, c, sid, fin, op, p):
        out = ws_frame(op, p, mask=False, fin=fin)
        step = c.max_outbound_frame_size
        for off in range(0, len(out), step):
            c.send_data(sid, out[off:off + step],
                        end_stream=op == 8 and off + step >= len(out))

    def close(self):
        self.stop.set()
        self.lsock.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture(scope="module")
def ws_origin(certs):
    o = WsH2Origin(*certs)
    yield o
    o.close()


def test_websocket_over_h2(mitm, ws_origin):
    """RFC 8441: the extended CONNECT goes through, frames arrive intact
    both ways, and the ws_message and turn events match the exchange."""
    c = H2Client(mitm, ws_origin.port, host="127.0.0.1")
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "CONNECT"),
                                  (":protocol", "websocket"),
                                  (":scheme", "https"),
                                  (":authority", c.authority),
                                  (":path", "/chat"),
                                  ("sec-websocket-version", "13")])
        c.bodies[sid] = bytearray()
        c.flush()
        c.pump(lambda: sid in c.heads)
        assert c.heads[sid][b":status"] == b"200"
        assert c.settings.get(
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
        big = os.urandom(100 * 1000)
        sent = [(1, b"hello"), (2, big), (9, b"ping!"),
                (8, (1000).to_bytes(2, "big") + b"bye")]
        for op, p in sent:
            data = ws_frame(op, p)
            step = c.conn.max_outbound_frame_size
            for off in range(0, len(data), step):
                c.pump(lambda: c.conn.local_flow_control_window(sid) >=
                       min(step, len(data) - off))
                c.conn.send_data(sid, data[off:off + step])
                c.flush()
        got = []

        def all_back():
            got.extend(ws_parse(c.bodies[sid]))
            return len(got) >= len(sent)
        c.pump(all_back)
        assert [(op, p) for _, op, p in got] == sent
    finally:
        c.close()
    evs = flow_events(mitm, method="CONNECT")
    msgs = [e for e in evs if e["type"] == "ws_message"]
    by = [(m["from"], m["opcode"], m["length"]) for m in msgs]
    for frm in ("client", "server"):
        assert (frm, "text", 5) in by, by
        assert (frm, "binary", len(big)) in by, by
        assert (frm, "ping", 5) in by, by
    closes = [m for m in msgs if m["opcode"] == "close"]
    assert {m["close_code"] for m in closes} == {1000}, closes
    started = [e for e in evs if e["type"] == "ws_turn_started"]
    done = [e for e in evs if e["type"] == "ws_turn_completed"]
    assert started and len(done) == len(started)
    assert started[0]["side"] == "client"
    assert not [e for e in evs if e["type"] == "request_body_chunk" and
                e["size"] > 0]


def test_slow_reader_bounded(mitm, nginx_h2):
    """A client that stops reading holds the origin back: mitmd takes from
    the upstream no more than the stream window it opened (256 KiB) on
    top of what the client's own window let through."""
    c = H2Client(mitm, nginx_h2.port, window=65535)
    try:
        sid = c.request(f"/f{8 << 20}?slow")
        c.noack.add(sid)   # the stream's window is never opened again
        c.pump(lambda: len(c.bodies[sid]) >= 65535 - 16384)
        # a negative can only be waited for by time: give mitmd the
        # chance to read more than it should
        c.sock.settimeout(1.5)
        try:
            while c.sock.recv(1 << 16):
                pass
        except (socket.timeout, TimeoutError):
            pass
        c.sock.settimeout(IO_TIMEOUT)
        c.conn.reset_stream(sid, error_code=8)
        c.flush()
    finally:
        c.close()
    evs = flow_events(mitm, target=f"/f{8 << 20}?slow")
    last = [e for e in evs if e["type"] == "response_body_chunk" and
            e["last"]]
    assert last[0]["reset_by"] == "client"
    assert last[0]["body_size"] <= 256 * 1024 + 65535 + 16384, last[0]


def test_sse_over_h2(mitm, nginx_h2):
    """A text/event-stream response on an HTTP/2 stream: an sse_event per
    event, with the stream id."""
    text = (b": hello\n\nevent: tick\nid: 1\ndata: one\n\n"
            b"data: two\r\ndata: lines\r\n\r\nretry: 500\rdata: three\r\r")
    path = os.path.join(nginx_h2.www, "ev.sse")
    with open(path, "wb") as f:
        f.write(text)
    os.chmod(path, 0o644)
    c = H2Client(mitm, nginx_h2.port)
    try:
        c.request("/f1000")
        sid = c.request("/ev.sse")
        c.pump(lambda: sid in c.ended)
        assert bytes(c.bodies[sid]) == text
        assert c.heads[sid][b"content-type"] == b"text/event-stream"
    finally:
        c.close()
    evs = flow_events(mitm, target="/ev.sse")
    sse = [e for e in evs if e["type"] == "sse_event"]
    assert [(e["event"], e["id"], e["data"]) for e in sse] == [
        ("tick", "1", "one"), ("message", "1", "two\nlines"),
        ("message", "1", "three")], sse
    assert {e["stream"] for e in sse} == {sid}
    assert sse[2]["retry"] == 500


def test_shutdown_sends_goaway(build, test_ca, nginx_h2):
    """SIGTERM while curl downloads over HTTP/2: the client gets a GOAWAY,
    the stream in progress finishes whole, then the connection closes and
    mitmd exits well within its drain time."""
    m = start(build, test_ca, drain=30)
    n = 8 << 20
    try:
        p = subprocess.Popen(
            ["curl", "-sS", "-x", f"http://127.0.0.1:{m.proxy_port}",
             "--cacert", tls.mitmd_ca(m), "--http2", "--limit-rate", "3M",
             "-o", "-", "-w", "\n%{http_version}",
             f"https://localhost:{nginx_h2.port}/f{n}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            util.wait_until(lambda: any(
                e["type"] == "response_headers" for e in events.read(m)), 15,
                "the response to start")
            os.kill(m.pid, signal.SIGTERM)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, err
        body, ver = split_version(out)
        assert ver == "2"
        assert hashlib.sha256(body).hexdigest() == nginx_h2.sums[n]
        assert m.wait_exit(15) is not None
    finally:
        m.cleanup()
