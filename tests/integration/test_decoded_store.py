"""The decoder chain in the flow store: when a body's last chunk is stored,
webui runs its captured bytes through common/decode.c with the
Content-Type and Content-Encoding of its head's event, and keeps the
result, one JSON object, in `decoded` (flow_id, stream, dir).

Driven with FakeMaster (tests/pylib/events.py): the test plays the
workers, so the captures and headers are whatever it needs. Checked: a
gzip'd JSON response captured over two chunks, a brotli then gzip'd one,
a msgpack request, a capture cut short (truncated), gRPC messages, a
corrupt body (the stage's error, the raw bytes), no decoded row without a
capture, retention taking decoded rows along, a version 1 store upgraded
with what it held, and the whole under webui's real sandbox when root.
"""

import base64
import gzip
import json
import os
import sqlite3
import struct
import subprocess
import time

import pytest

from pylib import events as E

# brotli of gzip.compress(b'{"stacked":["gzip","br"]}', mtime=0), made
# with libbrotlienc (quality 11, window 22), as in tests/unit/common_decode.c
BR_STACKED = bytes([
    0x0b, 0x16, 0x80, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x03, 0xab, 0x56, 0x2a, 0x2e, 0x49, 0x4c, 0xce, 0x4e, 0x4d, 0x51, 0xb2,
    0x8a, 0x56, 0x4a, 0xaf, 0xca, 0x2c, 0x50, 0xd2, 0x51, 0x4a, 0x2a, 0x52,
    0x8a, 0xad, 0x05, 0x00, 0x95, 0x2a, 0xa0, 0x21, 0x19, 0x00, 0x00, 0x00,
    0x03])

# The schema of version 1, as a store made before `decoded` has it.
SCHEMA_V1 = """
CREATE TABLE flows (flow_id INTEGER PRIMARY KEY, first_ts TEXT NOT NULL,
 last_ts TEXT NOT NULL, client TEXT, host TEXT, port INTEGER,
 protocol TEXT, method TEXT, url TEXT, status INTEGER,
 requests INTEGER NOT NULL DEFAULT 0, req_bytes INTEGER NOT NULL DEFAULT 0,
 resp_bytes INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER, bytes_out INTEGER,
 tls_client_version TEXT, tls_client_cipher TEXT,
 tls_upstream_version TEXT, tls_upstream_cipher TEXT, decision TEXT,
 rule TEXT, failure_side TEXT, failure_reason TEXT, close_reason TEXT,
 events INTEGER NOT NULL DEFAULT 0);
CREATE TABLE events (id INTEGER PRIMARY KEY, flow_id INTEGER NOT NULL,
 seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL,
 json TEXT NOT NULL);
CREATE UNIQUE INDEX events_flow_seq ON events(flow_id, seq);
CREATE TABLE bodies (flow_id INTEGER NOT NULL, stream INTEGER NOT NULL,
 dir TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL,
 PRIMARY KEY (flow_id, stream, dir, offset));
INSERT INTO flows(flow_id, first_ts, last_ts, host, events)
 VALUES (1, '{ts}', '{ts}', 'old.test', 3);
PRAGMA user_version = 1;
"""


def flow(flow_id, req=None, resp=None):
    """The events of one exchange. req and resp are (headers, [chunks],
    body_size or None): each chunk a (size, captured bytes) pair."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    base = {"v": 1, "flow_id": flow_id, "ts": ts,
            "client_addr": "127.0.0.1:40000", "server_host": "h.test",
            "server_port": 443, "protocol": "http/1.1"}
    out = []

    def ev(t, **kw):
        d = dict(base, type=t, seq=len(out))
        d.update(kw)
        out.append(d)

    def body(t, spec):
        _, chunks, size = spec
        off = 0
        for i, (n, cap) in enumerate(chunks):
            last = i == len(chunks) - 1
            kw = {}
            if last:
                kw["body_size"] = size if size is not None else off + n
            if cap:
                kw["capture_b64"] = base64.b64encode(cap).decode()
            ev(t, stream=1, offset=off, size=n, last=last, **kw)
            off += n

    ev("connect_received", method="CONNECT")
    ev("request_headers", stream=1, method="POST", target="/x",
       url="https://h.test/x", http_version="HTTP/1.1",
       headers=req[0] if req else [["Host", "h.test"]])
    if req:
        body("request_body_chunk", req)
    if resp:
        ev("response_headers", stream=1, status=200, reason="OK",
           http_version="HTTP/1.1", headers=resp[0])
        body("response_body_chunk", resp)
    ev("stream_closed", reason="closed", bytes_in=1, bytes_out=1)
    return out


def whole(headers, data, split=None):
    """A body captured whole, in one chunk or two."""
    if split is None:
        return (headers, [(len(data), data)], None)
    return (headers, [(split, data[:split]),
                      (len(data) - split, data[split:])], None)


def msgpack_map():
    # {"user": "ann", "ids": [1, 2, 300], "ok": true}
    return (b"\x83\xa4user\xa3ann\xa3ids\x93\x01\x02\xcd\x01\x2c"
            b"\xa2ok\xc3")


def grpc(*msgs):
    return b"".join(b"\x00" + struct.pack(">I", len(m)) + m for m in msgs)


def decoded(db):
    """{(flow_id, dir): parsed JSON} of the decoded table."""
    c = sqlite3.connect(db, timeout=10)
    try:
        return {(f, d): json.loads(j) for f, d, j in c.execute(
            "SELECT flow_id, dir, json FROM decoded")}
    finally:
        c.close()


def send_all(m, flows):
    w = m.worker(0)
    for f in flows:
        for ev in f:
            m.event(w, ev)


CASES = {
    # a gzip'd JSON response captured over two chunks
    100: flow(100, resp=whole(
        [["Content-Type", "application/json; charset=utf-8"],
         ["Content-Encoding", "gzip"]],
        gzip.compress(b')]}\'\n{"a": [1, 2.50, "x"]}', mtime=0), split=7)),
    # "gzip, br" on two header lines: one list
    101: flow(101, resp=whole(
        [["content-type", "application/json"],
         ["content-encoding", "gzip"], ["Content-Encoding", "br"]],
        BR_STACKED)),
    # a msgpack request, no response body
    102: flow(102, req=whole(
        [["Host", "h.test"], ["Content-Type", "application/msgpack"]],
        msgpack_map())),
    # the capture stops at 10 of 64 bytes
    103: flow(103, resp=(
        [["Content-Type", "text/plain"], ["Content-Encoding", "gzip"]],
        [(64, gzip.compress(b"abcdefgh" * 40, mtime=0)[:20])], 64)),
    # two gRPC messages, JSON
    104: flow(104, resp=whole(
        [["content-type", "application/grpc+json"]],
        grpc(b'{"n":1}', b'{"n":2}'))),
    # a body that says gzip and is not
    105: flow(105, resp=whole(
        [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]],
        b"not gzip at all")),
    # no capture: nothing decoded
    106: flow(106, resp=([["Content-Type", "application/json"]],
                         [(5, b"")], None)),
}


def check_cases(got):
    r = got[(100, "response")]
    assert [(s["stage"], s["codec"], s["ok"]) for s in r["stages"]] == \
        [("content-encoding", "gzip", True), ("payload", "json", True)]
    assert r["kind"] == "json" and r["sanitized"] is True
    assert r["body"] == {"a": [1, 2.5, "x"]}
    r = got[(101, "response")]
    assert [s["codec"] for s in r["stages"]] == ["br", "gzip", "json"]
    assert r["body"] == {"stacked": ["gzip", "br"]}
    r = got[(102, "request")]
    assert r["stages"][0]["codec"] == "msgpack"
    assert r["body"] == {"user": "ann", "ids": [1, 2, 300], "ok": True}
    assert (102, "response") not in got
    r = got[(103, "response")]
    assert r["truncated"] is True and r["stages"][0]["ok"] is True
    assert r["stages"][0]["truncated"] is True
    assert r["kind"] == "text" and r["body"]
    assert ("abcdefgh" * 40).startswith(r["body"])
    r = got[(104, "response")]
    assert r["framing"] == "grpc" and r["stages"][0]["parts"] == 2
    assert [x["body"] for x in r["body"]] == [{"n": 1}, {"n": 2}]
    r = got[(105, "response")]
    assert r["stages"][0]["ok"] is False
    assert r["stages"][0]["error"].startswith("content-encoding gzip: ")
    assert r["kind"] == "text" and r["body"] == "not gzip at all"
    assert (106, "response") not in got


@pytest.fixture
def fake(build, tmp_path):
    yield from E.fake_masters(str(tmp_path / "store"))


def test_decoded_rows(fake):
    m = fake()
    send_all(m, CASES.values())
    time.sleep(0.5)
    assert m.stop() == 0
    check_cases(decoded(m.db))


def test_decoded_retention(fake):
    m = fake(keep_flows=3)
    ts0 = time.time() - 100
    w = m.worker(0)
    for i in range(10):
        for ev in flow(200 + i, resp=whole(
                [["Content-Type", "application/json"]], b'{"i":%d}' % i)):
            ev["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                ts0 + i)) + ".000000Z"
            m.event(w, ev)
    m.wait_log(r"flows deleted by retention, 3 kept")
    assert m.stop() == 0
    assert sorted(f for f, _ in decoded(m.db)) == [207, 208, 209]


def test_version_1_store_upgraded(fake, tmp_path):
    store = str(tmp_path / "old")
    os.makedirs(store)
    c = sqlite3.connect(os.path.join(store, "flows.db"))
    c.executescript(SCHEMA_V1.replace("{ts}", time.strftime(
        "%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())))
    c.close()
    m = fake(store=store)
    m.wait_log(r"flow store .*: 1 flows")
    send_all(m, [CASES[100]])
    time.sleep(0.5)
    assert m.stop() == 0
    c = sqlite3.connect(m.db)
    try:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 3
        assert c.execute("SELECT host FROM flows WHERE flow_id = 1"
                         ).fetchone()[0] == "old.test"
    finally:
        c.close()
    assert decoded(m.db)[(100, "response")]["body"] == {"a": [1, 2.5, "x"]}


def test_decoded_under_the_sandbox(build, tmp_path):
    """Every decoder (zlib, brotli, zstd, msgpack-c) runs inside webui's
    seccomp filter, chrooted, as its user: a syscall it needed and the
    filter lacked would kill webui."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    zst = subprocess.run(["zstd", "-q", "-c"], input=b'{"z":"std"}' * 50,
                         capture_output=True, check=True).stdout
    with E.FakeMaster(str(tmp_path / "store"), user="_mitmd").start() as m:
        cases = list(CASES.values()) + [flow(300, resp=whole(
            [["Content-Type", "text/plain"], ["Content-Encoding", "zstd"]],
            zst))]
        send_all(m, cases)
        time.sleep(0.5)
        m.stop_clean()
    got = decoded(m.db)
    check_cases(got)
    assert got[(300, "response")]["body"] == '{"z":"std"}' * 50
