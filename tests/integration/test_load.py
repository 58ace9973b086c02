"""500 short tunnels in parallel: every one succeeds, and the acceptor and
workers hold as many fds afterwards as before."""

import concurrent.futures
import time

from pylib import client, origins, util

TUNNELS = 500
PARALLEL = 64          # client threads at once
BODY = 2000
LOAD_DEADLINE = 180    # seconds for all of them
SETTLE_TIMEOUT = 20    # seconds for fd counts to return


def _one(proxy_port, origin):
    s, resp, rest = client.proxy_connect(proxy_port, origin.hostport)
    with s:
        if resp.status != 200:
            return f"CONNECT {resp.status}"
        s.sendall(f"GET /bytes/{BODY} HTTP/1.1\r\nHost: {origin.hostport}"
                  "\r\nConnection: close\r\n\r\n".encode())
        r, rest2 = client.read_head(s)
        body = client.read_exact(s, int(r.header("Content-Length")),
                                 rest + rest2)
        if r.status != 200 or body != origins.body(BODY):
            return f"bad response {r.status} {len(body)}"
    return None


def _fds(m):
    b = m.by_role()
    return {p: util.fd_count(p) for p in b["acceptor"] + b["tlsworker"]}


def _stable_fds(m):
    """fd counts that two looks apart agree on."""
    def look():
        a = _fds(m)
        time.sleep(0.2)  # two samples apart in time, by definition
        return a if a == _fds(m) else None
    return util.wait_until(look, SETTLE_TIMEOUT, "stable fd counts")


def test_500_parallel_tunnels_no_fd_leak(mitmd_factory, http_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    # Warm up both workers so lazily made fds are in the baseline.
    for _ in range(4):
        assert _one(m.proxy_port, http_origin) is None
    base = _stable_fds(m)
    pids = m.by_role()
    http_origin.reset()
    errors = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as ex:
        futs = [ex.submit(_one, m.proxy_port, http_origin)
                for _ in range(TUNNELS)]
        for f in concurrent.futures.as_completed(futs,
                                                 timeout=LOAD_DEADLINE):
            try:
                e = f.result()
            except Exception as ex_:  # a reset or timeout is a failure
                e = repr(ex_)
            if e:
                errors.append(e)
    took = time.monotonic() - start
    assert not errors, f"{len(errors)} of {TUNNELS} failed: {errors[:5]}"
    assert http_origin.connections == TUNNELS
    assert m.by_role() == pids, "a process restarted under load"

    def back():
        now = _fds(m)
        return now if now == base else None
    try:
        util.wait_until(back, SETTLE_TIMEOUT, "fd counts back to baseline")
    except AssertionError:
        raise AssertionError(f"fd counts {base} before, {_fds(m)} after "
                             f"{TUNNELS} tunnels ({took:.1f}s)")


BURST = 300


def test_audit_lines_not_dropped_under_burst(mitmd_factory, http_origin):
    """A burst of short tunnels: every decision and close reaches syslog.
    The syslog reader (here a Python thread) is slower than the burst for
    moments; records must wait, not vanish. master's stderr (-d) gets the
    same records and shows what syslog should have received."""
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as ex:
        res = list(ex.map(lambda _: _one(m.proxy_port, http_origin),
                          range(BURST), timeout=LOAD_DEADLINE))
    assert not [r for r in res if r]

    def counts():
        a = m.audit()
        return (len([x for x in a if x.get("closed")]),
                len([x for x in a if not x.get("closed")]))
    try:
        util.wait_until(lambda: counts() == (BURST, BURST), SETTLE_TIMEOUT,
                        f"{BURST} decision and {BURST} close lines")
    except AssertionError:
        err = m.stderr(10 << 20)
        raise AssertionError(
            f"syslog got (closed, decisions) = {counts()} of {BURST} each; "
            f"stderr has {err.count(' closed client=')} close lines: "
            "records were dropped on the way to syslog")
