"""http://mitmd.cert/: any client of the proxy reaches the public page by
that name. The tlsworker never resolves it nor sends it upstream: an
absolute-form request (or a CONNECT) for mitmd.cert goes to the webui
listener, whatever the rules say, and the audit line names it."""

import os
import subprocess

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
          "Mobile/15E148 Safari/604.1")
CURL_TIMEOUT = 20


def _curl(m, url, *args):
    """(status, body bytes) of curl through m's proxy."""
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-",
                        "-w", "\n%{http_code}", "-x",
                        f"http://127.0.0.1:{m.proxy_port}", *args, url],
                       capture_output=True, timeout=CURL_TIMEOUT)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or b"0"), body


def test_mitmd_cert_absolute_form(mitmd_factory):
    # Every other host is blocked: the page is still answered.
    m = mitmd_factory(rules=['block host "*"'])
    st, page = _curl(m, "http://mitmd.cert/", "-A", IPHONE)
    assert st == 200, page
    assert b'id="download" class="dl" href="/mitmd-ca.mobileconfig"' in page
    with open(os.path.join(m.state_dir, "ca", "ca.pem"), "rb") as f:
        ca = f.read()
    st, pem = _curl(m, "http://mitmd.cert/mitmd-ca.pem")
    assert st == 200 and pem == ca
    # Any case, a trailing dot, any port: still the webui (its 404).
    st, body = _curl(m, "http://MITMD.Cert.:1234/nothing-here")
    assert st == 404 and b"This server has /" in body
    st, _ = _curl(m, "http://blocked.example/")
    assert st == 403
    m.wait_audit(target="mitmd.cert:80", rule="mitmd.cert")


def test_mitmd_cert_connect(mitmd_factory):
    m = mitmd_factory(rules=['block host "*"'])
    st, page = _curl(m, "http://mitmd.cert/?os=android", "--proxytunnel")
    assert st == 200, page
    assert b'href="/mitmd-ca.crt"' in page
    m.wait_audit(target="mitmd.cert:80", action="tunnel", rule="mitmd.cert")


def test_mitmd_cert_needs_a_webui(mitmd_factory):
    # Without a webui listener the name is nothing special: it does not
    # resolve, and the client gets a 502.
    m = mitmd_factory(rules=['intercept host "*"'], webui=False)
    st, _ = _curl(m, "http://mitmd.cert/")
    assert st == 502
