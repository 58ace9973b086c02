"""Events from the web UI process's side: the sinks and the flow store.

Two ways in. With FakeMaster (tests/pylib/events.py) the test plays
master and the workers around a real mitmd-webui, so the sinks and the
store are checked whatever the workers emit, malformed events included,
and under the real sandbox (chroot, user, seccomp) when run as root. With
a real mitmd, tunnels, blocks and plain-HTTP requests make the events:
the file sink and a socket subscriber receive the same lines, each valid
JSON with the common members, seq from 0 without gaps and the ordering of
mitmd-events(5) on every flow; the flows are in SQLite after a restart; a
subscriber that never reads is dropped with a log line while the proxy
goes on; `store keep N flows` bounds the store.
"""

import json
import os
import pwd
import signal
import sqlite3
import time

import pytest

from pylib import client, util
from pylib import events as E
from pylib.mitmd import tempdir

SUB_HWM = 4 * 1024 * 1024      # webui drops a subscriber past this


# --- webui alone, behind a fake master ---------------------------------------

@pytest.fixture
def fake(build, tmp_path):
    yield from E.fake_masters(str(tmp_path / "store"))


def test_fake_sinks_get_the_same_lines(fake, tmp_path):
    m = fake()
    path = str(tmp_path / "events.jsonl")
    sock = str(tmp_path / "events.sock")
    m.sink_file(path)
    m.sink_socket(sock)
    subs = [E.Subscriber(sock), E.Subscriber(sock)]
    m.wait_log(r"subscriber 2 connected")
    w0, w1 = m.worker(0), m.worker(1)
    flows = [E.make_flow(1000 + i, n_requests=1 + i % 3) for i in range(20)]
    # two workers, their flows interleaved
    for k in range(max(len(f) for f in flows)):
        for i, f in enumerate(flows):
            if k < len(f):
                m.event(w0 if i % 2 else w1, f[k])
    total = sum(len(f) for f in flows)

    def done():
        return all(s.lines().count("\n") == total for s in subs) and \
            os.path.exists(path) and open(path).read().count("\n") == total
    util.wait_until(done, 10, "every line in every sink")
    text = open(path).read()
    for s in subs:
        assert s.lines() == text
    evs = E.parse_lines(text)
    for ev in evs:
        E.check_common(ev)
    got = E.by_flow(evs)
    assert sorted(got) == [1000 + i for i in range(20)]
    for fid, fe in got.items():
        E.check_flow(fe)
    for s in subs:
        s.close()
    assert m.alive()


def test_fake_store_survives_restart(fake, tmp_path):
    m = fake()
    w = m.worker(0)
    for i in range(10):
        for ev in E.make_flow(2000 + i, n_requests=2):
            m.event(w, ev)
    m.wait_log(r"events channel from worker 0")
    time.sleep(0.5)
    assert m.stop() == 0
    flows, evs = E.read_store(m.db)
    assert sorted(flows) == [2000 + i for i in range(10)]
    f = flows[2003]
    assert (f["method"], f["url"], f["status"], f["requests"]) == \
        ("GET", "https://example.test/r1", 200, 2)
    assert (f["decision"], f["close_reason"], f["resp_bytes"]) == \
        ("intercept", "closed", 10)
    assert f["tls_client_cipher"] == "TLS_AES_256_GCM_SHA384"
    assert len(evs) == 10 * len(E.make_flow(1, n_requests=2))

    m2 = fake()
    m2.wait_log(r"flow store .*: 10 flows")
    w = m2.worker(0)
    for ev in E.make_flow(2100):
        m2.event(w, ev)
    # a repeated (flow_id, seq) is not stored twice
    for ev in E.make_flow(2000, n_requests=2):
        m2.event(w, ev)
    time.sleep(0.5)
    assert m2.stop() == 0
    flows, evs2 = E.read_store(m2.db)
    assert len(flows) == 11
    assert len(evs2) == len(evs) + len(E.make_flow(1))
    assert len(set(evs2)) == len(evs2)


def test_fake_crash_loses_at_most_a_batch(fake):
    """SIGKILL: what arrived more than a batch (100 ms) before is in."""
    m = fake()
    w = m.worker(0)
    for i in range(50):
        for ev in E.make_flow(3000 + i):
            m.event(w, ev)
    time.sleep(0.4)
    m.kill(signal.SIGKILL)
    flows, evs = E.read_store(m.db)
    assert len(flows) == 50
    assert len(evs) == 50 * len(E.make_flow(1))


def test_fake_slow_subscriber_dropped(fake, tmp_path):
    m = fake()
    sock = str(tmp_path / "ev.sock")
    path = str(tmp_path / "ev.jsonl")
    m.sink_socket(sock)
    m.sink_file(path)
    slow = E.Subscriber(sock, read=False, rcvbuf=4096)
    fast = E.Subscriber(sock)
    m.wait_log(r"subscriber 2 connected")
    w = m.worker(0)
    pad = "p" * 50000
    n = 2 * SUB_HWM // len(pad)
    for i in range(n):
        ev = E.make_flow(4000 + i)[0]
        ev["pad"] = pad
        m.event(w, ev)
        if i % 20 == 19:
            # the one that reads keeps up (the test's own threads would
            # otherwise starve its reader)
            util.wait_until(lambda: fast.count() == i + 1, 10,
                            "the reading subscriber to keep up")
    m.wait_log(r"events socket: subscriber 1 dropped: it does not read")
    util.wait_until(lambda: fast.count() == n, 20,
                    "every event at the subscriber that reads")
    util.wait_until(lambda: open(path).read().count("\n") == n, 10,
                    "every event in the file")
    assert m.alive()
    slow.close()
    fast.close()


def test_fake_bad_events_refused(fake, tmp_path):
    m = fake()
    path = str(tmp_path / "ev.jsonl")
    m.sink_file(path)
    w = m.worker(0)
    good = E.make_flow(5000)
    m.event(w, good[0])
    # a message holds events a newline apart, each checked on its own:
    # a line cut short cannot run on into the next, and an event for
    # another flow is refused like any other bad one
    forged = json.dumps(good[1], separators=(",", ":"))[:-1] + \
        ',"x":1\n{"v":1,"type":"stream_closed","flow_id":1,"seq":0}'
    for bad in (forged.encode(), b"not json", b'{"v":2}', b"\n\n",
                b'{"v":1,"type":"x","flow_id":1,"seq":0,"ts":"t"}',
                json.dumps(good[1]).encode()[:-1],
                b'{"v":1,"type":"stream_closed","flow_id":1,"seq":0,'
                b'"ts":"t","h":"\xff"}'):
        m.event(w, bad)
    for ev in good[1:]:
        m.event(w, ev)
    m.wait_log(r"event from a worker refused")
    util.wait_until(lambda: open(path).read().count("\n") == len(good), 10,
                    "the good events")
    evs = E.parse_lines(open(path).read())
    assert [e["seq"] for e in evs] == list(range(len(good)))
    assert m.alive()


def test_fake_capture_goes_to_the_store_only(fake, tmp_path):
    m = fake()
    path = str(tmp_path / "ev.jsonl")
    m.sink_file(path)
    w = m.worker(0)
    evs = E.make_flow(6000)
    for ev in evs:
        if ev["type"] == "response_body_chunk":
            ev["capture_b64"] = "aGVsbG8="
        m.event(w, ev)
    util.wait_until(lambda: open(path).read().count("\n") == len(evs), 10,
                    "the events")
    assert "capture_b64" not in open(path).read()
    assert m.stop() == 0
    c = sqlite3.connect(m.db)
    try:
        assert c.execute("SELECT data FROM bodies WHERE flow_id = 6000 AND "
                         "dir = 'response'").fetchone()[0] == b"hello"
        assert c.execute("SELECT count(*) FROM events WHERE json LIKE "
                         "'%capture%'").fetchone()[0] == 0
    finally:
        c.close()


def test_fake_retention_by_count(fake):
    m = fake(keep_flows=5)
    w = m.worker(0)
    for i in range(20):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
            time.time() - 100 + i)) + ".000000Z"
        for ev in E.make_flow(7000 + i, ts=ts):
            m.event(w, ev)
    m.wait_log(r"flows deleted by retention, 5 kept")
    flows, evs = E.read_store(m.db)
    assert sorted(flows) == [7015 + i for i in range(5)]
    assert {e[0] for e in evs} == set(flows)


def test_fake_sandboxed_store(build, tmp_path):
    """Under the real sandbox (chroot in the store, webui's user, seccomp):
    writes, checkpoints, retention, a lock held by another process, and
    an orderly stop all stay on webui's syscall list."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    store = str(tmp_path / "store")
    with E.FakeMaster(store, keep_flows=200, user="_mitmd").start() as m:
        w = m.worker(0)
        for i in range(1500):
            for ev in E.make_flow(8000 + i, n_requests=2):
                m.event(w, ev)
        m.wait_log(r"flows deleted by retention")
        # another writer holds the lock: webui waits, then leaves the
        # store alone for a moment (sinks only), and is not killed
        lk = sqlite3.connect(m.db, isolation_level=None, timeout=10)
        lk.execute("BEGIN IMMEDIATE")
        for ev in E.make_flow(9999):
            m.event(w, ev)
        time.sleep(0.5)
        lk.execute("COMMIT")
        lk.close()
        time.sleep(1.2)
        for ev in E.make_flow(9998):
            m.event(w, ev)
        time.sleep(0.3)
        m.stop_clean()
    flows, _ = E.read_store(os.path.join(store, "flows.db"))
    assert 9998 in flows and len(flows) <= 201
    assert os.stat(os.path.join(store, "flows.db")).st_uid == \
        pwd.getpwnam("_mitmd").pw_uid


# --- a real mitmd --------------------------------------------------------------

def _mitmd_with_sinks(mitmd_factory, build, extra=(), **kw):
    base = tempdir()
    path = os.path.join(base, "events.jsonl")
    sock = os.path.join(base, "events.sock")
    lines = [f'events file "{path}"', f'events socket "{sock}"', *extra]
    ok, err = E.config_accepted(build, lines)
    if not ok:
        os.rmdir(base)
        pytest.skip(f"mitmd -n refuses the config: {err.strip()}")
    m = mitmd_factory(base=base, extra=lines,
                      rules=['block host "blocked.test"',
                             'tunnel host "127.0.0.1"'], **kw)
    m.events_path, m.events_sock = path, sock
    m.store_db = os.path.join(m.state_dir, "store", "flows.db")
    return m


def _traffic(m, origin, n=6):
    """Blocks, tunnels and plain-HTTP requests; the number of flows."""
    flows = 0
    for _ in range(n):
        s, r, _ = client.proxy_connect(m.proxy_port, "blocked.test:443")
        s.close()
        assert r.status == 403
        s, r, rest = client.proxy_connect(m.proxy_port, origin.hostport)
        assert r.status == 200
        s.sendall(f"GET /bytes/100 HTTP/1.1\r\nHost: {origin.hostport}\r\n"
                  "Connection: close\r\n\r\n".encode())
        assert client.read_to_eof(s, rest).startswith(b"HTTP/1.")
        s.close()
        r = client.raw_request(m.proxy_port, (
            f"GET http://{origin.hostport}/p HTTP/1.1\r\n"
            f"Host: {origin.hostport}\r\nConnection: close\r\n\r\n").encode())
        assert r.status == 200
        flows += 3
    return flows


def _events_or_skip(path, timeout=5):
    """Skip when the workers send no events at all (not wired yet)."""
    try:
        util.wait_until(lambda: os.path.exists(path) and
                        os.path.getsize(path) > 0, timeout, "any event")
    except AssertionError:
        pytest.skip("no events from the workers yet")


def _wait_flows(path, n, timeout=15):
    def ready():
        if not os.path.exists(path):
            return None
        evs = E.parse_lines(open(path).read().rsplit("\n", 1)[0])
        fl = E.by_flow(evs)
        closed = [f for f in fl.values()
                  if f[-1]["type"] == "stream_closed"]
        return fl if len(closed) >= n else None
    return util.wait_until(ready, timeout, f"{n} closed flows in the file")


def test_mitmd_sinks_agree_and_store_survives_restart(mitmd_factory, build,
                                                      http_origin):
    m = _mitmd_with_sinks(mitmd_factory, build)
    sub = E.Subscriber(m.events_sock)
    m.wait_log(r"events socket: subscriber 1 connected")
    n = _traffic(m, http_origin)
    _events_or_skip(m.events_path)
    flows = _wait_flows(m.events_path, n)
    util.wait_until(lambda: sub.lines() == open(m.events_path).read(), 10,
                    "the subscriber to have what the file has")
    evs = E.parse_lines(open(m.events_path).read())
    for ev in evs:
        E.check_common(ev)
    for fid, fe in E.by_flow(evs).items():
        E.check_flow(fe)
        assert all(e["client_addr"].startswith("127.0.0.1:") for e in fe)
    actions = {fe[1].get("action") for fe in flows.values()}
    assert {"block", "tunnel"} <= actions, actions
    sub.close()

    m.stop()
    stored, sevs = E.read_store(m.store_db)
    assert set(flows) <= set(stored)
    assert set((e["flow_id"], e["seq"], e["type"]) for e in evs) <= \
        set(sevs)
    blocked = [f for f in stored.values() if f["decision"] == "block"]
    assert blocked and all(f["close_reason"] == "blocked" and
                           f["method"] == "CONNECT" for f in blocked)

    m.start()
    m.wait_log(rf"flow store /flows.db: {len(stored)} flows")
    _traffic(m, http_origin, n=1)
    _wait_flows(m.events_path, n + 3)
    m.stop()
    stored2, _ = E.read_store(m.store_db)
    assert set(stored) < set(stored2)


def test_mitmd_slow_subscriber_dropped(mitmd_factory, build, http_origin):
    m = _mitmd_with_sinks(mitmd_factory, build)
    slow = E.Subscriber(m.events_sock, read=False, rcvbuf=4096)
    m.wait_log(r"events socket: subscriber 1 connected")
    # 40 KB request heads: about that much per request_headers event
    pad = "".join(f"X-Pad-{i}: {'v' * 2000}\r\n" for i in range(20))
    mark = m.syslog.mark()
    with client.connect(m.proxy_port) as s:
        for i in range(2 * SUB_HWM // 40000 + 20):
            s.sendall((f"GET http://{http_origin.hostport}/{i} HTTP/1.1\r\n"
                       f"Host: {http_origin.hostport}\r\n{pad}\r\n")
                      .encode())
            r = client.read_response(s)
            assert r.status == 200
            if i == 0:
                _events_or_skip(m.events_path)
    m.wait_log(r"events socket: subscriber 1 dropped: it does not read",
               start=mark, timeout=15)
    # the proxy goes on, and the file has every request
    r = client.raw_request(m.proxy_port, (
        f"GET http://{http_origin.hostport}/after HTTP/1.1\r\n"
        f"Host: {http_origin.hostport}\r\nConnection: close\r\n\r\n")
        .encode())
    assert r.status == 200
    slow.close()


def test_mitmd_retention_by_count(mitmd_factory, build, http_origin):
    m = _mitmd_with_sinks(mitmd_factory, build,
                          extra=["store keep 3 flows"])
    n = _traffic(m, http_origin, n=4)
    _events_or_skip(m.events_path)
    _wait_flows(m.events_path, n)

    def kept():
        flows, _ = E.read_store(m.store_db)
        return len(flows) == 3
    m.wait_log(r"flows deleted by retention, 3 kept", timeout=15)
    util.wait_until(kept, 10, "three flows in the store")
    flows, evs = E.read_store(m.store_db)
    assert {e[0] for e in evs} == set(flows)


def test_mitmd_store_off(mitmd_factory, build, http_origin):
    """store off: the events file gets every event, no flow is stored and
    no database is made; the proxy works as ever."""
    m = _mitmd_with_sinks(mitmd_factory, build, extra=["store off"])
    m.wait_log(r"flow store off")
    n = _traffic(m, http_origin, n=2)
    _events_or_skip(m.events_path)
    flows = _wait_flows(m.events_path, n)
    for fe in flows.values():
        E.check_flow(fe)
    m.stop()
    assert not os.path.exists(m.store_db)


def test_mitmd_store_off_no_sinks(mitmd_factory, build, http_origin):
    """store off and no sink: nothing takes events, the workers make none,
    and the proxy works as ever."""
    ok, err = E.config_accepted(build, ["store off"])
    if not ok:
        pytest.skip(f"mitmd -n refuses the config: {err.strip()}")
    m = mitmd_factory(extra=["store off"],
                      rules=['block host "blocked.test"',
                             'tunnel host "127.0.0.1"'])
    m.wait_log(r"flow store off")
    _traffic(m, http_origin, n=2)
    m.stop()
    assert not os.path.exists(os.path.join(m.state_dir, "store",
                                           "flows.db"))


def test_mitmd_open_flows_recorded_at_stop(mitmd_factory, build,
                                           http_origin):
    """Flows still open at SIGTERM end in the file and the store with
    their stream_closed: master stops the workers first and webui last,
    and webui reads the workers' channels to their end before it exits."""
    m = _mitmd_with_sinks(mitmd_factory, build, drain=1)
    socks = []
    try:
        for _ in range(8):
            s, r, _ = client.proxy_connect(m.proxy_port, http_origin.hostport)
            assert r.status == 200
            socks.append(s)
        _events_or_skip(m.events_path)

        def open_flows():
            fl = E.by_flow(E.read(m.events_path))
            got = [f for f, evs in fl.items()
                   if any(e["type"] == "connect_decision" for e in evs)]
            return got if len(got) == len(socks) else None
        opened = util.wait_until(open_flows, 15, "the tunnels' decisions")
        assert m.stop() == 0
    finally:
        for s in socks:
            s.close()
    fl = E.by_flow(E.read(m.events_path))
    for f in opened:
        assert fl[f][-1]["type"] == "stream_closed", fl[f][-1]
        assert fl[f][-1]["reason"] == "shutdown", fl[f][-1]
        E.check_flow(fl[f])
    stored, _ = E.read_store(m.store_db)
    assert all(stored[f]["close_reason"] == "shutdown" for f in opened)
    closed = {int(d["conn"]) for d in m.audit() if d.get("closed")}
    assert set(opened) <= closed
