"""certd goes away: the workers keep serving hosts whose leaf they have
cached, fail new hosts cleanly (the client's connection closes, the
worker lives on), and serve them again once master has respawned certd.

certd is stopped first, so a handshake for a new host is seen waiting
for it; killing it (kill -9) then fails that handshake at once, as the
worker sees certd's channel close. A certd that never answers fails the
handshake after LEAF_WAIT_SEC.
"""

import os
import signal
import ssl
import threading

import pytest

from pylib import tls, util

LEAF_WAIT_SEC = 5        # tlsworker/leaf.h
RESPAWN_TIMEOUT = 30


@pytest.fixture
def two_origins(test_ca):
    """Two origins with certificates of their own: different leaves."""
    a = tls.TlsOrigin(*test_ca.issue("a", dns=["localhost"]))
    b = tls.TlsOrigin(*test_ca.issue("b", dns=["localhost"]))
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca, events=False,
                                 argv_prefix=tls.VERBOSE_PREFIX)


def get(m, o, path="/x"):
    """A GET through the proxy; the response, or the exception."""
    try:
        t = tls.connect_tls(m.proxy_port, f"localhost:{o.port}",
                            tls.mitmd_context(m), "localhost", timeout=20)
    except (OSError, ssl.SSLError) as e:
        return e
    with t:
        return tls.request(t, path, f"localhost:{o.port}")


def ok(r):
    return not isinstance(r, BaseException) and r.status == 200


def test_certd_killed(mitm, two_origins):
    a, b = two_origins
    assert ok(get(mitm, a))                 # a's leaf is cached now
    worker = mitm.pids("tlsworker")
    certd = mitm.pids("certd")[0]
    os.kill(certd, signal.SIGSTOP)
    try:
        # A new host waits for a certd that does not answer...
        result = {}
        th = threading.Thread(target=lambda: result.update(r=get(mitm, b)))
        th.start()
        mitm.wait_log(r"conn=\d+ client=\S+ target=localhost:%d "
                      r"action=intercept" % b.port)
        # ...while a cached one is served without it.
        assert ok(get(mitm, a))
        assert th.is_alive()
    finally:
        os.kill(certd, signal.SIGKILL)
    th.join(LEAF_WAIT_SEC + 10)
    assert not th.is_alive()
    # certd's channel closed: the waiting handshake failed cleanly.
    assert isinstance(result["r"], (OSError, ssl.SSLError)), result
    mitm.wait_log(r"no leaf certificate: certd unavailable")
    mitm.wait_log(r"side=client reason=other")
    # Once master has respawned certd, the new host works.
    util.wait_until(lambda: ok(get(mitm, b)), RESPAWN_TIMEOUT,
                    "a new host served after certd's respawn")
    assert ok(get(mitm, a))
    assert mitm.pids("tlsworker") == worker   # the worker lived on
    assert mitm.pids("certd") != [certd]


def test_certd_silent_times_out(mitm, two_origins):
    """certd alive but not answering: the handshake fails after
    LEAF_WAIT_SEC, cleanly."""
    a, b = two_origins
    certd = mitm.pids("certd")[0]
    os.kill(certd, signal.SIGSTOP)
    try:
        r = get(mitm, b)
        assert isinstance(r, (OSError, ssl.SSLError)), r
        mitm.wait_log(r"certd did not answer within %d s" % LEAF_WAIT_SEC)
    finally:
        os.kill(certd, signal.SIGCONT)
    assert ok(get(mitm, b))


def _cache(m, role):
    """(hits, misses) of a role's leaf cache, summed, from mitmctl."""
    procs = [p for p in m.status()["processes"] if p["role"] == role]
    return (sum(p["cache_hits"] for p in procs),
            sum(p["cache_misses"] for p in procs))


def test_cache_counters_in_status(mitm, two_origins):
    """The first request for a host misses the worker's cache and certd's;
    the second hits the worker's; mitmctl status shows both."""
    a, _ = two_origins
    assert ok(get(mitm, a))
    util.wait_until(lambda: _cache(mitm, "tlsworker")[1] >= 1 and
                    _cache(mitm, "certd")[1] >= 1, 10,
                    "a first leaf counted as misses")
    hits, misses = _cache(mitm, "tlsworker")
    assert ok(get(mitm, a))
    util.wait_until(lambda: _cache(mitm, "tlsworker") == (hits + 1, misses),
                    10, "the second request hits the worker's cache")
