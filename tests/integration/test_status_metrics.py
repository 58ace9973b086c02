"""The status page (/status) and the Prometheus text (/metrics) of the
webui: the same figures as `mitmctl -j status` (each process with its
role, pid, uid, sandbox and restarts), the TLS failures by reason, the
learned passthroughs, the CA and the listeners. /metrics is parsed with
prometheus_client's own parser, so its format is the exposition format."""

import datetime
import hashlib
import os
import re
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pylib import util

prom = pytest.importorskip(
    "prometheus_client.parser",
    reason="python3-prometheus-client is not installed (tests/deps.sh)")

FETCH_TIMEOUT = 10
STATUS_TIMEOUT = 20   # master sends a snapshot every 2 s


def _get(m, path):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://127.0.0.1:{m.webui_port}{path}"
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def _samples(text):
    """{(name, frozenset(labels)): value} and the families by name."""
    fams = {f.name: f for f in prom.text_string_to_metric_families(text)}
    out = {}
    for f in fams.values():
        for s in f.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, fams


def _metrics(m, want):
    """The metrics once they carry master's snapshot with want(samples)."""
    def ready():
        st, h, text = _get(m, "/metrics")
        if st != 200:
            return None
        s, fams = _samples(text)
        return (text, s, fams, h) if want(s) else None
    return util.wait_until(ready, STATUS_TIMEOUT, "the status in /metrics")


def test_metrics_match_mitmctl(mitmd_factory):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    procs = m.status()["processes"]
    n = len(procs)

    def complete(s):
        infos = [k for k in s if k[0] == "mitmd_process_info"]
        return len(infos) == n and all(
            dict(k[1])["state"] == "running" for k in infos)
    text, s, fams, h = _metrics(m, complete)
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    assert h["X-Content-Type-Options"] == "nosniff"
    # Every family has its HELP and TYPE, every name the mitmd_ prefix.
    # (the parser names a counter's family without its _total)
    for name, f in fams.items():
        assert name.startswith("mitmd_"), name
        if f.type == "counter":
            name += "_total"
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text
    # The processes, as mitmctl sees them.
    procs = m.status()["processes"]
    infos = {(d["role"], d["index"]): d for d in
             (dict(k[1]) for k in s if k[0] == "mitmd_process_info")}
    assert len(infos) == len(procs)
    for p in procs:
        d = infos[(p["role"], str(p["index"]))]
        assert d["pid"] == str(p["pid"]), (d, p)
        assert d["uid"] == str(p["uid"]), (d, p)
        assert d["sandbox"] == p["sandbox"], (d, p)
        key = frozenset({"role": p["role"],
                         "index": str(p["index"])}.items())
        assert s[("mitmd_process_restarts_total", key)] == p["restarts"]
    assert s[("mitmd_uptime_seconds", frozenset())] >= 0
    assert s[("mitmd_open_connections", frozenset())] == 0
    assert s[("mitmd_passthrough_hosts", frozenset())] == 0
    reasons = {dict(k[1])["reason"] for k in s
               if k[0] == "mitmd_tls_failures_total"}
    assert reasons == {"unknown_ca", "cert_validation", "handshake",
                       "timeout", "eof_reset", "other"}
    # The CA, as the state directory holds it.
    with open(os.path.join(m.state_dir, "ca", "ca.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    fpr = hashlib.sha256(cert.public_bytes(
        serialization.Encoding.DER)).hexdigest()
    ca = [dict(k[1]) for k in s if k[0] == "mitmd_ca_info"]
    assert len(ca) == 1
    assert ca[0]["sha256"].replace(":", "").lower() == fpr
    assert s[("mitmd_ca_not_after_seconds", frozenset())] == \
        int(cert.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp())
    kinds = sorted((dict(k[1])["kind"], dict(k[1])["address"]) for k in s
                   if k[0] == "mitmd_listener_info")
    assert kinds == sorted([("proxy", f"127.0.0.1:{m.proxy_port}"),
                            ("webui", f"127.0.0.1:{m.webui_port}")])


def test_metrics_count_connections(mitmd_factory, http_origin):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    before = _metrics(m, lambda s: ("mitmd_uptime_seconds", frozenset())
                      in s)[1][("mitmd_connections_total", frozenset())]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": f"http://127.0.0.1:{m.proxy_port}"}))
    url = f"http://127.0.0.1:{http_origin.port}/"
    for _ in range(3):
        with opener.open(url, timeout=FETCH_TIMEOUT) as r:
            r.read()
    _metrics(m, lambda s: s.get(("mitmd_connections_total", frozenset()),
                                0) >= before + 3)


def test_status_page(mitmd_factory):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])

    def ready():
        st, h, page = _get(m, "/status")
        return (h, page) if st == 200 and 'id="procs"' in page else None
    h, page = util.wait_until(ready, STATUS_TIMEOUT, "the status page")
    assert h["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    for p in m.status()["processes"]:
        assert re.search(rf"<td>{p['role']}</td><td>{p['index']}</td>"
                         rf"<td>{p['pid']}</td><td>{p['uid']}</td>"
                         rf"<td>{p['sandbox']}</td>", page), p
    assert 'id="uptime"' in page and 'id="fps"' in page
    assert 'id="passthrough">0<' in page
    assert "unknown_ca" in page and f"127.0.0.1:{m.proxy_port}" in page
    with open(os.path.join(m.state_dir, "ca", "ca.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    assert cert.fingerprint(hashes.SHA256()).hex().upper() in \
        page.replace(":", "")


def test_unknown_paths_and_queries(mitmd_factory):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    for path in ("/status/", "/metrics.txt", "/ca.key", "/mitmd-ca.key",
                 "/../etc/passwd", "/%2e%2e/"):
        st, h, _ = _get(m, path)
        assert st == 404, path
        assert h["X-Content-Type-Options"] == "nosniff"
    for q in ("/?os=beos", "/?os=ios&x=1", "/?x=1", "/?os="):
        st, _, _ = _get(m, q)
        assert st == 400, q
