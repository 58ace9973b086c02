"""kill -9 one tlsworker while transfers run on both: the flows on the
other worker finish intact, new connections succeed at once, and master
respawns the dead worker."""

import concurrent.futures
import os
import signal

from pylib import client, origins, util

SLOW_SIZE = 3 * 1024 * 1024   # bytes of each long transfer
SLOW_MS = 40                  # ms between 64 KiB pieces: about 2 s each
MAX_STREAMS = 16
NEW_AFTER_KILL = 10


def _worker_of(m, stream, workers):
    """The worker pid holding the proxy side of this client connection."""
    ino = util.tcp_inode(m.proxy_port, stream.local_port)
    if ino is None:
        return None
    for w in workers:
        if ino in util.socket_inodes(w):
            return w
    return None


def test_kill_worker_under_traffic(mitmd_factory, https_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'], workers=2)
    workers = m.pids("tlsworker")
    acceptor = m.pids("acceptor")
    assert len(workers) == 2
    streams, where = [], {}
    path = f"/slow/{SLOW_SIZE}/{SLOW_MS}"
    # Open transfers until both workers carry at least one.
    while len(streams) < MAX_STREAMS:
        st = client.TunnelStream(m.proxy_port, https_origin, path)
        streams.append(st)
        where[st] = util.wait_until(lambda: _worker_of(m, st, workers), 5,
                                    "the worker of a tunnel")
        if len(streams) >= 4 and len(set(where.values())) == 2:
            break
    assert len(set(where.values())) == 2, \
        f"all {len(streams)} tunnels went to one worker: {where}"
    victim = where[streams[0]]
    survivor = next(w for w in workers if w != victim)
    mark = m.syslog.mark()
    with concurrent.futures.ThreadPoolExecutor(len(streams)) as ex:
        futs = [ex.submit(st.read_all) for st in streams]
        os.kill(victim, signal.SIGKILL)
        # New connections succeed right away, on the survivor.
        for i in range(NEW_AFTER_KILL):
            try:
                r = client.tunnel_tls(m.proxy_port, https_origin,
                                      "/bytes/3000")
            except OSError as e:
                raise AssertionError(
                    f"new connection {i + 1} after kill -9 of worker "
                    f"{victim} failed: {e!r} (handed to the dead "
                    "worker and dropped?)") from e
            assert r.status == 200 and r.body == origins.body(3000)
        concurrent.futures.wait(futs, timeout=60)
    want = origins.body_sha256(SLOW_SIZE)
    for st in streams:
        if where[st] == survivor:
            assert st.error is None, f"transfer on the survivor: {st.error}"
            assert st.got == SLOW_SIZE and st.digest() == want
        else:
            # The victim's flows break: proof they really ran there.
            assert st.error is not None, "a flow of the killed worker ended"
    # Master logged the death and restarts the worker.
    d = m.wait_log(rf"tlsworker (\d+) \(pid {victim}\) killed by signal 9",
                   start=mark)
    idx = d.group(1)
    m.wait_log(rf"restarting tlsworker {idx}\b", start=mark)
    new = util.wait_until(
        lambda: [p for p in m.pids("tlsworker") if p not in workers],
        10, "a new tlsworker pid")
    assert len(new) == 1 and survivor in m.pids("tlsworker")
    m.wait_log(rf"tlsworker {idx} ready, pid {new[0]}\b", start=mark)
    # The respawned worker takes connections again: keep opening tunnels
    # until one lands on it.
    def lands_on_new():
        st = client.TunnelStream(m.proxy_port, https_origin,
                                 "/slow/131072/200")
        try:
            return _worker_of(m, st, new) is not None
        finally:
            st.read_all()
    util.wait_until(lands_on_new, 20, "a tunnel on the respawned worker")
    st = m.status()
    assert any(p["role"] == "tlsworker" and p["pid"] == new[0] and
               p["restarts"] == 1 for p in st["processes"]), st
    assert m.pids("acceptor") == acceptor, "the acceptor restarted"
