"""pytest fixtures shared by tests/integration and tests/sandbox.

Run with Debian's interpreter (the python3 on PATH may be another build):
    MITMD_BUILD=build/test /usr/bin/python3 -m pytest -q tests/integration \
        tests/sandbox
MITMD_BUILD names the directory of the binaries (default: build/test of
this checkout, the TESTHOOKS=1 build the sandbox tests need).
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pylib import mitmd as mitmd_mod  # noqa: E402
from pylib import origins, tls, util  # noqa: E402


def pytest_configure(config):
    # Orphans of a master that died come back to us: the teardowns find
    # and reap them instead of leaving them to init.
    util.become_subreaper()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def build():
    """The directory of the binaries; fails every test that needs them
    when the tree is not built."""
    missing = [b for b in ("mitmd", "mitmctl", "mitmd-acceptor",
                           "mitmd-tlsworker", "mitmd-certd", "mitmd-webui")
               if not os.access(mitmd_mod.binary(b), os.X_OK)]
    if missing:
        pytest.fail(f"not built in {mitmd_mod.BUILD}: {', '.join(missing)} "
                    f"(make BUILD=build/test TESTHOOKS=1)", pytrace=False)
    return mitmd_mod.BUILD


@pytest.fixture(scope="session")
def session_dir():
    d = mitmd_mod.tempdir("mts")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def origin_cert(session_dir):
    """(certfile, keyfile) of the origins, self-signed for 127.0.0.1."""
    return origins.make_cert(session_dir)


@pytest.fixture
def https_origin(origin_cert):
    o = origins.HttpsOrigin(*origin_cert)
    yield o
    o.close()


@pytest.fixture
def http_origin():
    o = origins.HttpOrigin()
    yield o
    o.close()


@pytest.fixture(scope="module")
def nginx_origin(origin_cert):
    d = mitmd_mod.tempdir("mtn")
    n = origins.NginxOrigin(d, *origin_cert)
    yield n
    n.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mitmd_factory(build, request):
    """mitmd_factory(rules=[...], extra=[...], workers=2, ...) -> Mitmd,
    started and READY. Every instance is stopped by pid at the end of the
    test, and the test errors if one had to be killed or left a process
    behind."""
    started = []

    def make(**kw):
        m = mitmd_mod.Mitmd(**kw)
        started.append(m)
        return m

    yield make
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    errors = []
    for m in reversed(started):
        if failed:
            print(f"---- syslog of mitmd {m.base} (last lines)")
            print(m.syslog.tail(80))
            print(f"---- stderr of mitmd {m.base}")
            print(m.stderr(3000))
        try:
            m.close()
        except AssertionError as e:
            errors.append(str(e))
    for base in {m.base for m in started}:
        shutil.rmtree(base, ignore_errors=True)
    if errors:
        pytest.fail("teardown: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def mitmd(mitmd_factory):
    """A mitmd with two workers that tunnels 127.0.0.1 and ::1, blocks
    "blocked.test", and intercepts (relays) the rest."""
    return mitmd_factory(rules=['block host "blocked.test"',
                                'tunnel host "127.0.0.1", "::1"'])


@pytest.fixture(scope="module")
def shared_https_origin(origin_cert):
    """An HTTPS origin kept for a whole module (tests that count its
    connections use their own https_origin)."""
    o = origins.HttpsOrigin(*origin_cert)
    yield o
    o.close()


@pytest.fixture(scope="module")
def shared_mitmd(build):
    """The default mitmd of the `mitmd` fixture, kept for a whole module by
    tests that leave it as they found it."""
    m = mitmd_mod.Mitmd(rules=['block host "blocked.test"',
                               'tunnel host "127.0.0.1", "::1"'])
    yield m
    try:
        m.close()
    finally:
        m.cleanup()


@pytest.fixture(scope="module")
def ca_dir():
    """A directory for a module's test CA and the certificates it signs."""
    d = mitmd_mod.tempdir("mtca")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def test_ca(ca_dir):
    """The CA that signs the test origins' certificates (tests/pylib/tls)."""
    return tls.TestCA(ca_dir)
