"""The worker's events on a mixed run, read back from the file sink:
every flow's seq runs from 0 without gaps, and the ordering invariants
hold (connect_received, connect_decision, the tls_* events with the
upstream side first, each exchange's request then response events, the
last body chunk of each body marked, stream_closed last with a reason).
"""

import pytest

from pylib import client, events, origins, tls, util

ORDER = ["connect_received", "connect_decision"]


@pytest.fixture
def mitm(build, test_ca):
    yield from tls.running_mitmd(build, test_ca, rules=[
        'block host "blocked.test"', 'tunnel host "tunnel.test", "::1"'])


def check_flow(evs):
    """The invariants of one flow's events; returns its types."""
    types = [e["type"] for e in evs]
    assert [e["seq"] for e in evs] == list(range(len(evs))), types
    assert types[:2] == ORDER, types
    assert types[-1] == "stream_closed", types
    assert types.count("stream_closed") == 1, types
    assert evs[-1].get("reason"), evs[-1]
    tls_ev = [e for e in evs if e["type"].startswith("tls_")]
    if tls_ev:
        first = types.index(tls_ev[0]["type"])
        assert first == 2, types
        sides = [e["side"] for e in tls_ev]
        # the upstream side is done before the client side starts
        if "client" in sides:
            last_up = max(i for i, s in enumerate(sides) if s == "upstream")
            first_cl = sides.index("client")
            assert last_up < first_cl, sides
        assert all(types.index(t["type"]) < types.index("request_headers")
                   for t in tls_ev if "request_headers" in types)
    # exchanges: request_headers, request chunks, response_headers,
    # response chunks; each body's chunks end with last
    state = None
    for e in evs[2:]:
        t = e["type"]
        if t == "request_headers":
            assert state in (None, "resp_done", "resp_head"), types
            state = "req"
        elif t == "request_body_chunk":
            assert state == "req", types
        elif t == "response_headers":
            assert state == "req", types
            state = "resp_head"
        elif t == "response_body_chunk":
            assert state == "resp_head", types
            if e.get("last"):
                state = "resp_done"
    return types


def test_event_order_mixed_run(mitm, test_ca):
    o = tls.TlsOrigin(*test_ca.issue("ev", dns=["localhost"]))
    bad = tls.TlsOrigin(*test_ca.issue("evbad", dns=["localhost"],
                                       days_from=-9, days_to=-1))
    plain = origins.HttpOrigin()
    host = f"localhost:{o.port}"
    try:
        with tls.connect_tls(mitm.proxy_port, host, tls.mitmd_context(mitm),
                             "localhost") as t:
            assert tls.request(t, "/bytes/70000", host).status == 200
            assert tls.request(t, "/chunked/50000", host).status == 200
            assert tls.request(t, "/echo", host, method="POST",
                               body=b"x" * 30000).status == 200
            assert tls.request(t, "/status/204", host).status == 204
        with tls.connect_tls(mitm.proxy_port, f"localhost:{bad.port}",
                             tls.mitmd_context(mitm), "localhost") as t:
            assert tls.request(t, "/", "x").status == 502
        assert client.raw_request(
            mitm.proxy_port, b"CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"
        ).status == 403
        r = client.raw_request(
            mitm.proxy_port, f"GET http://{plain.hostport}/p HTTP/1.1\r\n"
            f"Host: {plain.hostport}\r\nConnection: close\r\n\r\n".encode())
        assert r.status == 200
        want = 4

        def closed():
            flows = events.flows(mitm)
            done = [f for f in flows.values()
                    if f[-1]["type"] == "stream_closed"]
            return flows if len(done) >= want else None
        flows = util.wait_until(closed, 15, f"{want} closed flows")
    finally:
        o.close()
        bad.close()
        plain.close()
    kinds = {}
    for fid, evs in flows.items():
        types = check_flow(evs)
        kinds[evs[0]["server_port"]] = (types, evs)
    types, evs = kinds[o.port]
    assert types.count("request_headers") == 4
    assert types.count("response_headers") == 4
    assert [e["side"] for e in evs if e["type"] ==
            "tls_handshake_succeeded"] == ["upstream", "client"]
    lasts = [e for e in evs if e["type"].endswith("_body_chunk") and
             e.get("last")]
    # 70000, chunked 50000, the POST's request and response bodies
    assert len(lasts) == 4, [e["type"] for e in lasts]
    types, evs = kinds[bad.port]
    failed = [e for e in evs if e["type"] == "tls_handshake_failed"]
    assert [(e["side"], e["tls_failure_reason"]) for e in failed] == \
        [("upstream", "cert_validation")]
    assert evs[-1]["reason"] == "tls_failed"
    types, evs = kinds[443]
    assert evs[1]["action"] == "block" and evs[-1]["reason"] == "blocked"
