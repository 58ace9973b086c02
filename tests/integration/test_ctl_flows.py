"""mitmctl on the flow store, the CA and the admin token, against a real
mitmd with traffic made by curl through it: `flows` with each filter and
keyset paging, `flows show`, `flows export --har`, `flows --follow` on
the events socket, `ca show` and `ca export` (the mobileconfig the same
as the public page's), `token`; every --json
parsed and checked against the requests made; bad arguments exit 2 with
a message, failures exit 1.
"""

import hashlib
import http.server
import json
import os
import plistlib
import re
import select
import shutil
import signal
import socketserver
import stat
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from pylib import tls, util
from pylib.mitmd import binary, tempdir

CURL_TIMEOUT = 30
STORE_WAIT = 15        # seconds for a flow to reach the store
FOLLOW_WAIT = 15       # seconds for --follow to print a new flow
RUN = "c%d" % os.getpid()   # in every path of this module's requests


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """GET /status/NNN/... answers NNN; POST answers the body's hash."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        m = re.match(r"/status/(\d{3})/", self.path)
        code = int(m.group(1)) if m else 200
        self._send(code, f"answer {code} {self.path}\n".encode())

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(201, json.dumps({"sha256": hashlib.sha256(data)
                                    .hexdigest()}).encode(),
                   "application/json")

    def do_PUT(self):
        self.do_POST()

    def _send(self, code, data, ctype="text/plain; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StatusOrigin:
    def __init__(self):
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0),
                                                   _StatusHandler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever,
                                  kwargs={"poll_interval": 0.1}, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.t.join(timeout=5)


def curl(m, url, *args, cacert=None):
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
           "--max-time", str(CURL_TIMEOUT), "-x",
           f"http://127.0.0.1:{m.proxy_port}", *args]
    if cacert:
        cmd += ["--cacert", cacert]
    p = subprocess.run(cmd + [url], capture_output=True, text=True,
                       timeout=CURL_TIMEOUT + 5)
    assert p.returncode == 0, p.stderr
    return int(p.stdout)


def ctl(m, *args, check=0, stdin=None):
    p = subprocess.run([binary("mitmctl"), "-f", m.conf, *args],
                       capture_output=True, timeout=60)
    if check is not None:
        assert p.returncode == check, \
            f"mitmctl {args}: exit {p.returncode}: {p.stderr!r}"
    return p


def jctl(m, *args):
    return json.loads(ctl(m, *args, "--json").stdout)


# --- the mitmd, its traffic --------------------------------------------------

@pytest.fixture(scope="module")
def env(build, test_ca):
    evdir = tempdir("mtev")
    evsock = os.path.join(evdir, "events.sock")
    m = tls.start_mitmd(build, test_ca, extra=[
        "capture bodies max 16 KiB", f'events socket "{evsock}"'])
    o = StatusOrigin()
    t = tls.TlsOrigin(*test_ca.issue("ctlflows", dns=["localhost"]))
    made = []   # (method, url, status, host, protocol)
    base = f"http://127.0.0.1:{o.port}"
    for i, code in enumerate([200, 404, 500, 503, 200, 301, 404, 200]):
        url = f"{base}/status/{code}/{RUN}/g{i}?i={i}&k=v"
        assert curl(m, url) == code
        made.append(("GET", url, code, "127.0.0.1", "http/1.1"))
    for i in range(3):
        url = f"{base}/post/{RUN}/p{i}"
        assert curl(m, url, "-H", "Content-Type: application/json",
                    "--data-binary", json.dumps({"n": i})) == 201
        made.append(("POST", url, 201, "127.0.0.1", "http/1.1"))
    url = f"https://localhost:{t.port}/{RUN}/tls?x=1"
    assert curl(m, url, cacert=tls.mitmd_ca(m)) == 200
    made.append(("GET", url, 200, "localhost", "http/1.1"))

    def stored():
        # each flow ended (stream_closed is its last event)
        got = {f["url"]: f for f in jctl(m, "flows", "--limit", "1000")
               ["flows"]}
        return all(u in got and got[u]["close_reason"] is not None
                   for _, u, *_ in made)
    util.wait_until(stored, STORE_WAIT, "every flow in the store")
    yield m, made, evsock
    o.close()
    t.close()
    tls.stop_mitmd(m)
    shutil.rmtree(evdir, ignore_errors=True)


def ours(flows):
    return [f for f in flows if f["url"] and RUN in f["url"]]


# --- flows --------------------------------------------------------------------

def test_list_json_matches_the_requests(env):
    m, made, _ = env
    d = jctl(m, "flows", "--limit", "1000")
    assert set(d) >= {"flows", "count", "next_before"}
    got = {f["url"]: f for f in ours(d["flows"])}
    assert len(got) == len(made)
    for method, url, status, host, proto in made:
        f = got[url]
        assert (f["method"], f["status"], f["host"], f["protocol"]) == \
            (method, status, host, proto), f
        assert isinstance(f["flow_id"], int) and f["flow_id"] > 0
    # newest first, by time then id
    keys = [(f["first_ts"], f["flow_id"]) for f in d["flows"]]
    assert keys == sorted(keys, reverse=True)


def test_list_text(env):
    m, made, _ = env
    out = ctl(m, "flows", "--text", RUN).stdout.decode()
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "TIME", "PROTO", "METHOD",
                                    "STATUS"]
    assert len(lines) == 1 + len(made)


@pytest.mark.parametrize("args,pred", [
    (("--host", "127.0.0.1"), lambda f: f["host"] == "127.0.0.1"),
    (("--host", "LOCALHOST."), lambda f: f["host"] == "localhost"),
    (("--method", "post"), lambda f: f["method"] == "POST"),
    (("--status", "404"), lambda f: f["status"] == 404),
    (("--status", "5xx"), lambda f: 500 <= f["status"] < 600),
    (("--protocol", "http/1.1"), lambda f: f["protocol"] == "http/1.1"),
    (("--text", "/g3?"), lambda f: "/g3?" in f["url"]),
    (("--method", "GET", "--status", "2xx", "--host", "127.0.0.1"),
     lambda f: f["method"] == "GET" and f["status"] // 100 == 2 and
     f["host"] == "127.0.0.1"),
    (("--filter", "status=4xx method=GET"),
     lambda f: f["status"] // 100 == 4 and f["method"] == "GET"),
])
def test_filters_narrow(env, args, pred):
    m, made, _ = env
    allf = ours(jctl(m, "flows", "--limit", "1000")["flows"])
    got = ours(jctl(m, "flows", "--limit", "1000", *args)["flows"])
    want = [f["flow_id"] for f in allf if pred(f)]
    assert want, f"the traffic has no flow for {args}"
    assert [f["flow_id"] for f in got] == want


def test_time_filters(env):
    m, made, _ = env
    allf = ours(jctl(m, "flows", "--limit", "1000")["flows"])
    mid = sorted(f["first_ts"] for f in allf)[len(allf) // 2]
    since = ours(jctl(m, "flows", "--limit", "1000", "--since", mid)
                 ["flows"])
    until = ours(jctl(m, "flows", "--limit", "1000", "--until", mid)
                 ["flows"])
    assert since and all(f["first_ts"] >= mid for f in since)
    assert until and all(f["first_ts"] <= mid for f in until)
    assert {f["flow_id"] for f in since} | {f["flow_id"] for f in until} \
        == {f["flow_id"] for f in allf}
    assert jctl(m, "flows", "--since", "2999-01-01")["flows"] == []
    assert ours(jctl(m, "flows", "--until", "1d")["flows"]) == []
    assert len(ours(jctl(m, "flows", "--since", "1h", "--limit", "1000")
                    ["flows"])) == len(made)


def test_paging_is_disjoint(env):
    m, made, _ = env
    allf = jctl(m, "flows", "--text", RUN, "--limit", "1000")["flows"]
    pages, before = [], None
    for _ in range(len(made)):       # bounded: a page holds 3 at least
        args = ["flows", "--text", RUN, "--limit", "3"]
        if before:
            args += ["--before", str(before)]
        d = jctl(m, *args)
        assert len(d["flows"]) <= 3
        pages.append([f["flow_id"] for f in d["flows"]])
        before = d["next_before"]
        if before is None:
            break
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat)), pages
    assert flat == [f["flow_id"] for f in allf]
    # and back: the page after the oldest, oldest first
    d = jctl(m, "flows", "--text", RUN, "--limit", "3", "--after",
             str(flat[-1]))
    assert [f["flow_id"] for f in d["flows"]] == flat[-2:-5:-1]


def _flow(m, url):
    fs = [f for f in jctl(m, "flows", "--limit", "1000")["flows"]
          if f["url"] == url]
    assert len(fs) == 1
    return fs[0]


def test_show_json(env):
    m, made, _ = env
    post = [u for meth, u, *_ in made if meth == "POST"][0]
    f = _flow(m, post)
    d = jctl(m, "flows", "show", str(f["flow_id"]))
    assert d["flow"]["flow_id"] == f["flow_id"]
    assert d["flow"]["url"] == post
    assert len(d["exchanges"]) == 1
    x = d["exchanges"][0]
    assert (x["method"], x["url"], x["status"]) == ("POST", post, 201)
    names = [h["name"].lower() for h in x["request_headers"]]
    assert "content-type" in names and "host" in names
    assert "content-type" in [h["name"].lower()
                              for h in x["response_headers"]]
    body = json.dumps({"n": 0}).encode()
    assert x["request_body_size"] == len(body)
    assert x["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    # the decoder chain's rendering of the JSON bodies
    assert x["request_decoded"]["body"] == {"n": 0}
    assert x["response_decoded"]["body"] == \
        {"sha256": hashlib.sha256(body).hexdigest()}
    seqs = [e["seq"] for e in d["events"]]
    assert seqs == list(range(len(seqs)))
    types = [e["type"] for e in d["events"]]
    assert types[0] == "connect_received" and types[-1] == "stream_closed"
    assert types.index("request_headers") < types.index("response_headers")
    assert d["websocket"] == [] and d["sse"] == [] and d["grpc"] == []


def test_show_tls_and_text(env):
    m, made, _ = env
    url = [u for _, u, _, h, _ in made if h == "localhost"][0]
    f = _flow(m, url)
    d = jctl(m, "flows", "show", str(f["flow_id"]))
    t = d["tls"]
    assert t["client_version"].startswith("TLSv1.")
    assert t["upstream_version"].startswith("TLSv1.")
    assert t["client_sni"] == "localhost" and t["client_cipher"]
    out = ctl(m, "flows", "show", str(f["flow_id"])).stdout.decode()
    assert f"> GET {url} HTTP/1.1" in out
    assert re.search(r"^< HTTP/1\.\d 200 ", out, re.M)
    ev = re.findall(r"^\s*(\d+) \S+ (\w+)", out.split("\nEVENTS\n")[1],
                    re.M)
    assert [int(s) for s, _ in ev] == list(range(len(ev)))
    assert "tls_handshake_succeeded" in [t for _, t in ev]


def test_har(env, tmp_path):
    m, made, _ = env
    path = str(tmp_path / "flows.har")
    ctl(m, "flows", "export", "--har", "--text", RUN, "-o", path)
    har = json.load(open(path))
    log = har["log"]
    assert log["version"] == "1.2" and log["creator"]["name"]
    entries = log["entries"]
    assert len(entries) == len(made)
    for e in entries:
        for k in ("startedDateTime", "time", "request", "response",
                  "cache", "timings"):
            assert k in e, k
        for k in ("method", "url", "httpVersion", "cookies", "headers",
                  "queryString", "headersSize", "bodySize"):
            assert k in e["request"], k
        for k in ("status", "statusText", "httpVersion", "cookies",
                  "headers", "content", "redirectURL", "headersSize",
                  "bodySize"):
            assert k in e["response"], k
        assert {"size", "mimeType"} <= set(e["response"]["content"])
        assert {"send", "wait", "receive"} <= set(e["timings"])
        assert e["time"] >= 0
        for h in e["request"]["headers"] + e["response"]["headers"]:
            assert set(h) == {"name", "value"}
    # oldest first, one per request, the same as made
    starts = [e["startedDateTime"] for e in entries]
    assert starts == sorted(starts)
    got = sorted((e["request"]["method"], e["request"]["url"],
                  e["response"]["status"]) for e in entries)
    assert got == sorted((a, b, c) for a, b, c, _, _ in made)
    g0 = [e for e in entries if "/g0?" in e["request"]["url"]][0]
    assert g0["request"]["queryString"] == [{"name": "i", "value": "0"},
                                            {"name": "k", "value": "v"}]
    assert g0["response"]["content"]["text"].startswith("answer 200 ")
    p0 = [e for e in entries if "/p0" in e["request"]["url"]][0]
    assert p0["request"]["postData"]["mimeType"] == "application/json"
    assert json.loads(p0["request"]["postData"]["text"]) == {"n": 0}
    # to stdout, and the filters apply
    d = json.loads(ctl(m, "flows", "export", "--har", "--method", "POST")
                   .stdout)
    assert {e["request"]["method"] for e in d["log"]["entries"]} == \
        {"POST"}


# --- ca, token -----------------------------------------------------------------

def test_ca_show_and_export(env, tmp_path):
    m, _, _ = env
    pem = open(tls.mitmd_ca(m), "rb").read()
    cert = x509.load_pem_x509_certificate(pem)
    fp = cert.fingerprint(hashes.SHA256()).hex()
    assert fp == hashlib.sha256(
        cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    d = jctl(m, "ca", "show")
    assert d["sha256_hex"] == fp
    assert d["sha256"] == ":".join(fp[i:i + 2] for i in
                                   range(0, 64, 2)).upper()
    assert d["not_after"] == cert.not_valid_after.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert "mitmd" in d["subject"]
    text = ctl(m, "ca", "show").stdout.decode()
    assert d["sha256"] in text
    der = ctl(m, "ca", "export", "der").stdout
    assert x509.load_der_x509_certificate(der) == cert
    out = str(tmp_path / "ca.cer")
    ctl(m, "ca", "export", "cer", "-o", out)
    assert x509.load_der_x509_certificate(open(out, "rb").read()) == cert
    p = ctl(m, "ca", "export", "pem").stdout
    assert x509.load_pem_x509_certificate(p) == cert
    assert b"PRIVATE KEY" not in p and b"PRIVATE" not in der


def test_ca_export_mobileconfig(env, tmp_path):
    """mitmctl's profile is the public page's, byte for byte, and a
    plist whose root payload holds the CA's DER."""
    m, _, _ = env
    cert = x509.load_pem_x509_certificate(open(tls.mitmd_ca(m), "rb")
                                          .read())
    der = cert.public_bytes(serialization.Encoding.DER)
    out = ctl(m, "ca", "export", "mobileconfig").stdout
    path = str(tmp_path / "ca.mobileconfig")
    ctl(m, "ca", "export", "mobileconfig", "-o", path)
    assert open(path, "rb").read() == out
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{m.webui_port}/"
                     "mitmd-ca.mobileconfig", timeout=CURL_TIMEOUT) as r:
        assert r.headers["Content-Type"] == \
            "application/x-apple-aspen-config"
        served = r.read()
    assert out == served
    pl = plistlib.loads(out)
    assert pl["PayloadType"] == "Configuration"
    (payload,) = pl["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.security.root"
    assert payload["PayloadContent"] == der
    assert payload["PayloadCertificateFileName"] == "mitmd-ca.cer"
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert payload["PayloadDisplayName"] == cn
    fp = cert.fingerprint(hashes.SHA256())
    assert fp.hex(":").upper() in pl["PayloadDescription"]
    # UUIDs of the fingerprint (version 5 bits), stable
    for d, half in ((pl, fp[:16]), (payload, fp[16:])):
        u = uuid.UUID(d["PayloadUUID"])
        assert u.version == 5 and u.bytes[:6] == half[:6]
        assert d["PayloadUUID"] == str(u).upper()
    assert ctl(m, "ca", "export", "mobileconfig").stdout == out


def test_token_stable_across_restart(mitmd_factory):
    m = mitmd_factory()
    tok = ctl(m, "token").stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", tok)
    assert jctl(m, "token") == {"token": tok}
    st = os.stat(os.path.join(m.state_dir, "admin.token"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid() == 0
    assert m.stop() == 0
    m.start()
    assert ctl(m, "token").stdout.decode().strip() == tok
    # a damaged token is made anew at the next start
    with open(os.path.join(m.state_dir, "admin.token"), "w") as f:
        f.write("not a token\n")
    assert ctl(m, "token", check=1).stderr.decode().count("not a token")
    assert m.stop() == 0
    m.start()
    tok2 = ctl(m, "token").stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", tok2) and tok2 != tok


# --- follow ---------------------------------------------------------------------

def test_follow_prints_a_new_flow(env):
    m, _, _ = env
    mark = m.syslog.mark()
    p = subprocess.Popen([binary("mitmctl"), "-f", m.conf, "flows",
                          "--follow", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        m.wait_log(r"events socket: subscriber \d+ connected",
                   start=mark)
        url = f"http://127.0.0.1:1/{RUN}/follow"   # refused: a 502
        curl(m, url)
        buf, seen = b"", []
        deadline = time.monotonic() + FOLLOW_WAIT
        while time.monotonic() < deadline and not any(
                e.get("type") == "stream_closed" and e["flow_id"] in
                {s["flow_id"] for s in seen if s.get("url") == url}
                for e in seen):
            r, _, _ = select.select([p.stdout], [], [],
                                    max(0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            seen += [json.loads(x) for x in lines]
        mine = [e for e in seen if e.get("url") == url]
        assert mine, f"no request_headers for {url} in {seen[-5:]}"
        fid = mine[0]["flow_id"]
        evs = [e for e in seen if e["flow_id"] == fid]
        assert [e["seq"] for e in evs] == list(range(len(evs)))
        assert evs[-1]["type"] == "stream_closed"
    finally:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=10)


def test_follow_without_events_socket(mitmd_factory):
    m = mitmd_factory()
    p = ctl(m, "flows", "--follow", check=1)
    assert b"no events socket" in p.stderr


# --- bad input --------------------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    (("flows", "--status", "600"), "status"),
    (("flows", "--status", "6xx"), "status"),
    (("flows", "--limit", "0"), "limit"),
    (("flows", "--limit", "abc"), "limit"),
    (("flows", "--since", "yesterday"), "since"),
    (("flows", "--until", "2026-02-30"), "until"),
    (("flows", "--protocol", "gopher"), "protocol"),
    (("flows", "--host", "a b"), "host"),
    (("flows", "--method", "G(T"), "method"),
    (("flows", "--before", "x"), "before"),
    (("flows", "--filter", "colour=red"), "colour"),
    (("flows", "--colour"), "colour"),
    (("flows", "--host"), "host"),
    (("flows", "bogus"), "bogus"),
    (("flows", "show"), "bogus"),
    (("flows", "show", "abc"), "flow id"),
    (("flows", "show", "1", "--host", "x"), "no filter"),
    (("flows", "export"), "--har"),
    (("flows", "--har"), "export"),
    (("flows", "--follow", "--method", "GET"), "--host only"),
    (("ca", "export", "gif"), "pem, der, cer or mobileconfig"),
    (("ca", "show", "extra"), "ca show"),
    (("ca",), "ca show"),
    (("token", "extra"), "no argument"),
])
def test_bad_arguments_exit_2(env, args, msg):
    m, _, _ = env
    p = ctl(m, *args, check=2)
    err = p.stderr.decode()
    assert err.strip(), "no message"
    if msg != "bogus":
        assert msg in err, err
    assert p.stdout == b""


def test_failures_exit_1(env):
    m, _, _ = env
    p = ctl(m, "flows", "show", "999999999999", check=1)
    assert b"not in the store" in p.stderr
    p = ctl(m, "flows", "--before", "999999999999", check=1)
    assert b"not in the store" in p.stderr
    # the old commands still answer
    assert jctl(m, "status")["processes"]
    p = subprocess.run([binary("mitmctl"), "-f", m.conf, "-j", "passthrough",
                        "list"], capture_output=True, timeout=30)
    assert p.returncode == 0 and "passthrough" in json.loads(p.stdout)
