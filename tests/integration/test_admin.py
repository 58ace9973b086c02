"""The admin listener (issue 6 item 3): HTTPS only, TLS 1.2 and later,
HSTS and the safety headers, a certificate of the mitmd CA (or the
configured one), the admin token (Bearer, or the session cookie the
login form sets) and the clients "admin allow from" names; the JSON API
(/api/flows with filters and keyset paging, /api/flows/ID), /flows.har
and the pages, against flows made by curl through the proxy. The public
webui listener exposes none of it. Clients: curl, and python's ssl and
urllib.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509

from pylib import tls, util
from pylib.mitmd import binary, tempdir
from test_ctl_flows import RUN, StatusOrigin, curl

STORE_WAIT = 15
HTTP_TIMEOUT = 30
CURL_TIMEOUT = 30


def admin_ctx(m):
    return ssl.create_default_context(cafile=tls.mitmd_ca(m))


def token(m):
    with open(os.path.join(m.state_dir, "admin.token")) as f:
        return f.read().strip()


class Admin:
    def __init__(self, m, port):
        self.m, self.port = m, port

    def get(self, path, tok=None, headers=None, source=None):
        """(status, headers, body) of a GET with python's http.client."""
        h = dict(headers or {})
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        c = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=admin_ctx(self.m),
            timeout=HTTP_TIMEOUT,
            source_address=(source, 0) if source else None)
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def json(self, path, tok):
        st, _, body = self.get(path, tok)
        assert st == 200, (path, st, body)
        return json.loads(body)


def admin_port_conf(port, extra=()):
    return [f"admin listen on 127.0.0.1 port {port}", *extra]


@pytest.fixture(scope="module")
def env(build, test_ca):
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=[
        "capture bodies max 16 KiB",
        *admin_port_conf(port, ["admin allow from 127.0.0.1/32"])])
    a = Admin(m, port)
    o = StatusOrigin()
    made = []
    base = f"http://127.0.0.1:{o.port}"
    for i, code in enumerate([200, 404, 500, 200, 201, 404, 200]):
        url = f"{base}/status/{code}/{RUN}/a{i}?i={i}"
        assert curl(m, url) == code
        made.append(("GET", url, code))
    url = f"{base}/post/{RUN}/p0"
    assert curl(m, url, "-H", "Content-Type: application/json",
                "--data-binary", json.dumps({"n": 1})) == 201
    made.append(("POST", url, 201))
    tok = token(m)
    util.wait_until(lambda: a.get("/", tok)[0] == 200, STORE_WAIT,
                    "the admin listener with its certificate")

    def stored():
        got = {f["url"]: f for f in a.json("/api/flows?limit=1000", tok)
               ["flows"]}
        return all(u in got and got[u]["close_reason"] is not None
                   for _, u, _ in made)
    util.wait_until(stored, STORE_WAIT, "every flow in the store")
    yield a, made, tok
    o.close()
    tls.stop_mitmd(m)


def ours(flows):
    return [f for f in flows if f["url"] and RUN in f["url"]]


# --- TLS ----------------------------------------------------------------------

def test_certificate_from_the_mitmd_ca(env):
    a, _, _ = env
    ctx = admin_ctx(a.m)
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    cert = x509.load_der_x509_certificate(der)
    with open(tls.mitmd_ca(a.m), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    assert cert.issuer == ca.subject
    san = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == \
        ["127.0.0.1"]


def test_tls_1_1_refused(env):
    a, _, _ = env
    p = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", str(CURL_TIMEOUT),
         "--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0",
         "--cacert", tls.mitmd_ca(a.m), f"https://localhost:{a.port}/"],
        capture_output=True, text=True, timeout=CURL_TIMEOUT + 5)
    assert p.returncode != 0, "TLS 1.1 was accepted"
    # and 1.2 with curl works
    p = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
         "--max-time", str(CURL_TIMEOUT), "--tlsv1.2", "--tls-max", "1.2",
         "--cacert", tls.mitmd_ca(a.m), f"https://localhost:{a.port}/"],
        capture_output=True, text=True, timeout=CURL_TIMEOUT + 5)
    assert p.returncode == 0 and p.stdout == "401", (p.stdout, p.stderr)


def test_plain_http_gets_nothing(env):
    a, _, _ = env
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError,
                        OSError)):
        c.request("GET", "/api/flows")
        r = c.getresponse()
        assert r.status != 200
        raise ConnectionError("answered, but not with 200")


def test_headers(env):
    a, _, tok = env
    st, h, _ = a.get("/", tok)
    assert st == 200
    assert h["Strict-Transport-Security"].startswith("max-age=")
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"


# --- the token and the clients ------------------------------------------------

@pytest.mark.parametrize("path", ["/api/flows", "/flows.har", "/",
                                  "/flows/1", "/api/flows/1"])
def test_no_token_401(env, path):
    a, _, _ = env
    st, h, body = a.get(path)
    assert st == 401, (path, st)
    if path.startswith("/api") or path.endswith(".har"):
        assert "error" in json.loads(body)
        assert h["WWW-Authenticate"].startswith("Bearer")
    else:
        assert b'name="token"' in body


def test_wrong_token_401(env):
    a, _, tok = env
    wrong = ("0" if tok[0] != "0" else "1") + tok[1:]
    for t in (wrong, tok[:-1], tok + "0", "", "x" * 64):
        assert a.get("/api/flows", t)[0] == 401
    st, _, _ = a.get("/api/flows", headers={"Authorization": f"Basic {tok}"})
    assert st == 401
    st, _, _ = a.get("/api/flows", headers={"Cookie": f"mitmd_admin={tok}"})
    assert st == 401


def test_right_token_200_with_curl(env):
    a, _, tok = env
    p = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "--max-time",
         str(CURL_TIMEOUT), "--cacert", tls.mitmd_ca(a.m), "-H",
         f"Authorization: Bearer {tok}",
         f"https://localhost:{a.port}/api/flows?limit=2"],
        capture_output=True, text=True, timeout=CURL_TIMEOUT + 5)
    body, code = p.stdout.rsplit("\n", 1)
    assert code == "200", p.stderr
    assert json.loads(body)["count"] == 2


def test_login_cookie(env):
    a, _, tok = env
    jar = urllib.request.HTTPCookieProcessor()
    op = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=admin_ctx(a.m)), jar)
    base = f"https://localhost:{a.port}"
    # a wrong token: the form again, no cookie
    with pytest.raises(urllib.error.HTTPError) as e:
        op.open(base + "/login", data=b"token=" + b"0" * 64,
                timeout=HTTP_TIMEOUT)
    assert e.value.code == 401
    assert not list(jar.cookiejar)
    # the right one: a cookie, and the list
    r = op.open(base + "/login", data=urllib.parse.urlencode(
        {"token": tok}).encode(), timeout=HTTP_TIMEOUT)
    assert r.status == 200 and r.geturl() == base + "/"
    assert b"<table>" in r.read()
    (c,) = list(jar.cookiejar)
    assert c.name == "mitmd_admin" and c.secure and c.value != tok
    assert c.has_nonstandard_attr("HttpOnly")
    assert c.get_nonstandard_attr("SameSite") == "Strict"
    r = op.open(base + "/api/flows?limit=1", timeout=HTTP_TIMEOUT)
    assert r.status == 200 and json.loads(r.read())["count"] == 1


def test_address_not_allowed_403(env):
    a, _, tok = env
    st, _, _ = a.get("/api/flows", tok, source="127.0.0.2")
    assert st == 403
    st, _, _ = a.get("/api/flows", tok, source="127.0.0.1")
    assert st == 200


def test_public_listener_has_no_flows(env):
    a, _, _ = env
    for path in ("/api/flows", "/flows.har", "/flows/1", "/login"):
        p = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "--max-time", str(CURL_TIMEOUT),
             f"http://127.0.0.1:{a.m.webui_port}{path}"],
            capture_output=True, text=True, timeout=CURL_TIMEOUT + 5)
        assert p.stdout == "404", (path, p.stdout)


def test_unknown_paths_404(env):
    a, _, tok = env
    for path in ("/nope", "/api/nope", "/api/flows/x", "/flows/0",
                 "/api/flows/99999999999"):
        assert a.get(path, tok)[0] == 404, path


# --- the API --------------------------------------------------------------------

def test_list_matches(env):
    a, made, tok = env
    d = a.json("/api/flows?limit=1000", tok)
    got = {f["url"]: f for f in ours(d["flows"])}
    assert len(got) == len(made)
    for method, url, status in made:
        assert (got[url]["method"], got[url]["status"]) == (method, status)


@pytest.mark.parametrize("q,pred", [
    ("status=404", lambda f: f["status"] == 404),
    ("status=2xx", lambda f: 200 <= f["status"] < 300),
    ("method=POST", lambda f: f["method"] == "POST"),
    ("host=127.0.0.1", lambda f: f["host"] == "127.0.0.1"),
    ("protocol=http%2F1.1", lambda f: f["protocol"] == "http/1.1"),
    ("text=%2Fa3%3F", lambda f: "/a3?" in f["url"]),
    ("since=1h&method=GET&status=4xx",
     lambda f: f["method"] == "GET" and f["status"] // 100 == 4),
])
def test_filters_narrow(env, q, pred):
    a, _, tok = env
    allf = ours(a.json("/api/flows?limit=1000", tok)["flows"])
    got = ours(a.json(f"/api/flows?limit=1000&{q}", tok)["flows"])
    want = [f["flow_id"] for f in allf if pred(f)]
    assert want
    assert [f["flow_id"] for f in got] == want


@pytest.mark.parametrize("q", ["status=abc", "limit=0", "limit=100000",
                               "nope=1", "before=x", "host=%00",
                               "since=yesterday", "before=999999999"])
def test_bad_filters_400(env, q):
    a, _, tok = env
    st, _, body = a.get(f"/api/flows?{q}", tok)
    assert st == 400, (q, st, body)
    assert json.loads(body)["error"]


def test_paging_disjoint(env):
    a, made, tok = env
    q = f"text={RUN}&limit=3"
    seen, pages = [], 0
    d = a.json(f"/api/flows?{q}", tok)
    while True:
        pages += 1
        seen += [f["flow_id"] for f in d["flows"]]
        if d["next_before"] is None:
            break
        d = a.json(f"/api/flows?{q}&before={d['next_before']}", tok)
    assert len(seen) == len(set(seen)) == len(made)
    assert pages >= 3
    # and back with after=
    last = a.json(f"/api/flows?{q}&after={seen[-1]}", tok)
    assert [f["flow_id"] for f in last["flows"]] == \
        list(reversed(seen[-4:-1]))


def test_flow_detail(env):
    a, made, tok = env
    flows = {f["url"]: f for f in
             ours(a.json("/api/flows?limit=1000", tok)["flows"])}
    method, url, status = made[-1]     # the POST
    f = flows[url]
    d = a.json(f"/api/flows/{f['flow_id']}", tok)
    assert d["flow"]["flow_id"] == f["flow_id"]
    (x,) = d["exchanges"]
    assert (x["method"], x["url"], x["status"]) == (method, url, status)
    assert x["response_decoded"] is not None or x["request_decoded"]
    types = [e["type"] for e in d["events"]]
    assert types[0] == "connect_received" and types[-1] == "stream_closed"
    assert d["websocket"] == [] and d["sse"] == [] and d["grpc"] == []
    # the same as mitmctl's
    p = subprocess.run([binary("mitmctl"), "-f", a.m.conf, "--json",
                        "flows", "show", str(f["flow_id"])],
                       capture_output=True, timeout=60)
    assert p.returncode == 0
    assert json.loads(p.stdout) == d
    # the page
    st, h, body = a.get(f"/flows/{f['flow_id']}", tok)
    assert st == 200 and h["Content-Type"].startswith("text/html")
    assert url.encode() in body and b"stream_closed" in body


def test_har(env):
    a, made, tok = env
    st, h, body = a.get(f"/flows.har?text={RUN}&limit=1000", tok)
    assert st == 200 and "attachment" in h["Content-Disposition"]
    har = json.loads(body)["log"]
    assert har["version"] == "1.2" and har["creator"]["name"] == "mitmd"
    assert len(har["entries"]) == len(made)
    for e in har["entries"]:
        for k in ("startedDateTime", "time", "request", "response",
                  "cache", "timings"):
            assert k in e
        for k in ("method", "url", "httpVersion", "headers", "queryString",
                  "cookies", "headersSize", "bodySize"):
            assert k in e["request"]
        for k in ("status", "statusText", "content", "redirectURL"):
            assert k in e["response"]
    urls = {e["request"]["url"] for e in har["entries"]}
    assert urls == {u for _, u, _ in made}
    # oldest first
    starts = [e["startedDateTime"] for e in har["entries"]]
    assert starts == sorted(starts)


def test_list_page_without_js(env):
    a, made, tok = env
    st, h, body = a.get(f"/?text={RUN}&limit=3", tok)
    assert st == 200 and h["Content-Type"].startswith("text/html")
    page = body.decode()
    assert len(re.findall(r'<tr data-flow="\d+"[^>]*><td><a href="/flows/',
                          page)) == 3
    # filtered: the page follows the feed, and its script asks the API
    # with the page's own filters
    assert re.search(r'<tbody id="flows" data-after="\d+" '
                     rf'data-filters="text={RUN}&amp;limit=3&amp;">', page)
    assert 'id="live"' in page
    # an older page does not follow the feed
    st, _, older = a.get("/?" + re.search(
        r'href="/\?([^"]*before=\d+)">older', page).group(1).replace(
            "&amp;", "&"), tok)
    assert st == 200 and b"data-after" not in older
    assert f'value="{RUN}"' in page
    assert f'href="/flows.har?text={RUN}&limit=3&"' in page
    m = re.search(r'href="/\?([^"]*before=\d+)">older', page)
    assert m, page
    st, _, body2 = a.get("/?" + m.group(1).replace("&amp;", "&"), tok)
    assert st == 200
    ids1 = set(re.findall(r'href="/flows/(\d+)"', page))
    ids2 = set(re.findall(r'href="/flows/(\d+)"', body2.decode()))
    assert ids1 and ids2 and not ids1 & ids2
    for path, ctype in (("/admin.css", "text/css"),
                        ("/admin.js", "text/javascript")):
        st, h, _ = a.get(path)
        assert st == 200 and h["Content-Type"].startswith(ctype)


# --- the configuration --------------------------------------------------------

def test_configured_certificate(build, test_ca):
    cert, key = test_ca.issue("admin", dns=["localhost"], ips=["127.0.0.1"])
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=admin_port_conf(
        port, [f'admin certificate "{cert}" key "{key}"']))
    try:
        ctx = ssl.create_default_context(cafile=test_ca.certfile)
        a = Admin(m, port)
        tok = token(m)

        def up():
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                            timeout=HTTP_TIMEOUT)
            try:
                c.request("GET", "/api/flows",
                          headers={"Authorization": f"Bearer {tok}"})
                return c.getresponse().status == 200
            except (ssl.SSLError, OSError):
                return False
            finally:
                c.close()
        util.wait_until(up, STORE_WAIT, "the configured certificate")
        assert a is not None
    finally:
        tls.stop_mitmd(m)


def check_conf(build, lines):
    d = tempdir("mtadm")
    try:
        conf = os.path.join(d, "mitmd.conf")
        with open(conf, "w") as f:
            f.write("listen on 127.0.0.1 port 8080\n" + "\n".join(lines)
                    + "\n")
        p = subprocess.run([binary("mitmd"), "-n", "-f", conf],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr, conf
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_missing_certificate_file(build):
    rc, err, conf = check_conf(build, [
        "admin listen on 127.0.0.1 port 8443",
        'admin certificate "/nonexistent/admin.pem" key "/nonexistent/k"'])
    assert rc != 0
    assert re.search(r'mitmd\.conf:3: admin certificate '
                     r'"/nonexistent/admin\.pem": No such file', err), err
    assert "Segmentation" not in err


def test_not_pem_certificate_file(build, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("hello\n")
    rc, err, _ = check_conf(build, [
        "admin listen on 127.0.0.1 port 8443",
        f'admin certificate "{bad}" key "{bad}"'])
    assert rc != 0 and f'"{bad}": no PEM CERTIFICATE' in err, err


def test_non_loopback_needs_allow(build):
    rc, err, _ = check_conf(build, ["admin listen on 0.0.0.0 port 8443"])
    assert rc != 0 and "admin allow from" in err, err
    rc, err, _ = check_conf(build, ["admin listen on 0.0.0.0 port 8443",
                                    "admin allow from 10.0.0.0/8"])
    assert rc == 0, err
    rc, err, _ = check_conf(build, ["admin allow from 10.0.0.0/8"])
    assert rc != 0 and "without 'admin listen on'" in err, err
