"""The admin pages over a flow store of a million flows (`make bench-admin`).

1. mitmd starts once with an admin listener and `capture bodies`, so that
   webui makes the store with its real schema; two intercepted flows
   through it to a local HTTPS origin (a gzip JSON GET and an HTML GET
   on one connection; a JSON POST) are the templates of the events,
   captured bodies and decoded bodies of the synthetic flows. Then it
   stops.
2. A store of BA_FLOWS synthetic flows is made with python's sqlite3 in
   one transaction: a copy of that store, its template rows deleted, its
   indexes dropped, the flows inserted in time order, the indexes made
   again with webui's own SQL. Hosts: a few thousand domains with Zipf
   popularity and their subdomains (example.com the most popular), IP
   literals for some tunnels; HTTP/2, HTTP/1.1, plain HTTP, tunnels,
   failed handshakes and blocks; methods, statuses, sizes and close
   reasons in the proportions of a browsing day; first_ts over 30 days
   with a daily cycle. The BA_EVENT_FLOWS newest flows have their events
   (and, for HTTP, the captured and decoded bodies) from the templates,
   so that the detail page and HAR have something to render. The store
   is kept in build/bench-admin/flows.db with the key of the schema it
   was made for (user_version and every CREATE of sqlite_master) and of
   this generator: a rerun copies it, a new schema makes it again.
3. mitmd starts on that store (webui's log must say BA_FLOWS flows) and
   every case (cases()) runs over one kept-alive HTTPS connection
   (http.client): BA_WARMUP requests, then BA_N timed ones, or BA_PAGES
   pages for the paging cases; each pass at most BA_CASE_SEC seconds.
   Latency is the client's, from the request to the last byte of the
   body. Each case runs twice: as is, and with the client acknowledging
   every segment at once (TCP_QUICKACK): without TCP_NODELAY on the
   server's socket a response of more than one segment waits for the
   client's delayed ACK (about 40 ms on Linux), and the second pass
   shows what the server itself takes.
4. The first page asked while another connection's text search walks
   the whole store (webui serves one request at a time), and webui's
   VmRSS before and after the cases, and its peak meanwhile.

Prints a table and writes build/bench-admin/results.json. Needs root.
Not part of make check; the numbers are this machine's: compare runs of
one machine.

Environment: BA_FLOWS, BA_EVENT_FLOWS, BA_N, BA_WARMUP, BA_PAGES,
BA_CASE_SEC, BA_REBUILD=1 (make the store even when the cache fits).
"""

import bisect
import datetime
import gzip
import hashlib
import http.client
import http.server
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import socketserver
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pylib import tls, util  # noqa: E402
from pylib.mitmd import Mitmd, sample_rss, tempdir  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.join(ROOT, "build")
OUT = os.path.join(RELEASE, "bench-admin")
CACHE_DB = os.path.join(OUT, "flows.db")
CACHE_META = os.path.join(OUT, "flows.json")
RESULTS = os.path.join(OUT, "results.json")

NFLOWS = int(os.environ.get("BA_FLOWS", "1000000"))
NEVENT_FLOWS = int(os.environ.get("BA_EVENT_FLOWS", "10000"))
N = int(os.environ.get("BA_N", "20"))
WARMUP = int(os.environ.get("BA_WARMUP", "3"))
PAGES = int(os.environ.get("BA_PAGES", "50"))
CASE_SEC = float(os.environ.get("BA_CASE_SEC", "60"))
REBUILD = os.environ.get("BA_REBUILD") == "1"

GEN_VERSION = 1          # of this generator: a change remakes the cache
SEED = 20261122
DAYS = 30
NDOMAINS = 4000
ZIPF_S = 1.07
HTTP_TIMEOUT = 120       # seconds for one admin request
STORE_WAIT = 20          # seconds for the template flows to be stored
KEEP = ["store keep 10000000 flows", "store keep 3650 days"]
BEHIND_N = 5             # first pages asked behind a text scan
SCAN_LAG = 0.05          # seconds after the scan's request

# --- the template flows ------------------------------------------------------


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, ctype, data, enc=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if enc:
            self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "private, max-age=0")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/api/"):
            items = [{"id": i, "name": f"item {i}", "price": i * 1.25,
                      "tags": ["a", "b"], "stock": i % 7 != 0}
                     for i in range(40)]
            body = json.dumps({"items": items, "next": "/api/v2/items?"
                               "page=2"}).encode()
            self._send(200, "application/json; charset=utf-8",
                       gzip.compress(body), "gzip")
        else:
            body = ("<!doctype html><html><head><title>Shop</title></head>"
                    "<body>" + "<p>Lorem ipsum dolor sit amet.</p>" * 60 +
                    "</body></html>").encode()
            self._send(200, "text/html; charset=utf-8", body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        self._send(201, "application/json", json.dumps(
            {"order": 81723, "status": "created", "lines": req.get(
                "lines", [])}).encode())


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def origin(ca):
    """An HTTPS origin for "localhost" on loopback; (server, port)."""
    cert, key = ca.issue("origin", dns=["localhost"], ips=["127.0.0.1"])
    srv = _Server(("127.0.0.1", 0), _Origin)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def template_traffic(m, port):
    """Two intercepted flows: GET JSON + GET HTML, and a POST."""
    ctx = tls.mitmd_context(m)
    for reqs in ([("GET", "/api/v2/items?page=1", None),
                  ("GET", "/products/blue-shoes", None)],
                 [("POST", "/api/v2/orders", json.dumps(
                     {"lines": [{"sku": "A-17", "qty": 2}]}).encode())]):
        c = http.client.HTTPSConnection("127.0.0.1", m.proxy_port,
                                        context=ctx, timeout=30)
        c.set_tunnel("localhost", port)
        for method, path, body in reqs:
            h = {"Accept": "*/*", "User-Agent": "Mozilla/5.0 (bench)",
                 "Accept-Encoding": "gzip"}
            if body:
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            r.read()
            assert r.status in (200, 201), (method, path, r.status)
        c.close()


def read_templates(db):
    """{'GET': t, 'POST': t} of the closed template flows, each t
    {'events': [...], 'bodies': [...], 'decoded': [...]}, their rows
    without flow_id; None until both are stored."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for fid, method in con.execute(
                "SELECT flow_id, method FROM flows WHERE close_reason IS "
                "NOT NULL AND requests > 0"):
            out[method] = {
                "events": con.execute(
                    "SELECT seq, ts, type, json FROM events WHERE "
                    "flow_id = ? ORDER BY seq", (fid,)).fetchall(),
                "bodies": con.execute(
                    "SELECT stream, dir, offset, data FROM bodies WHERE "
                    "flow_id = ?", (fid,)).fetchall(),
                "decoded": con.execute(
                    "SELECT stream, dir, json FROM decoded WHERE "
                    "flow_id = ?", (fid,)).fetchall()}
        return out if {"GET", "POST"} <= set(out) else None
    finally:
        con.close()


def schema_key(db):
    """What the cache must match: the store's schema and the generator."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        v = con.execute("PRAGMA user_version").fetchone()[0]
        rows = con.execute("SELECT type, name, sql FROM sqlite_master "
                           "WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        h = hashlib.sha256(repr((v, rows.fetchall())).encode())
    finally:
        con.close()
    h.update(f"gen {GEN_VERSION} flows {NFLOWS} events {NEVENT_FLOWS}"
             .encode())
    return v, h.hexdigest()


# --- the synthetic flows -----------------------------------------------------

SYLL = ["ka", "lo", "mi", "ne", "ra", "to", "vu", "zen", "sha", "tri", "bo",
        "qua", "lex", "dor", "fin", "gal", "hub", "ion", "jet", "kin", "mar",
        "nov", "pix", "rex", "sol", "tek", "uni", "vox", "wiz", "yan"]
TLDS = [("com", 50), ("net", 10), ("io", 8), ("org", 8), ("de", 5),
        ("co.uk", 4), ("fr", 3), ("app", 3), ("dev", 2), ("cloud", 2)]
SUBS = [("www", 30), ("api", 20), ("cdn", 12), ("static", 8), ("img", 6),
        ("auth", 4), ("m", 3), ("telemetry", 5), ("ws", 2), ("mail", 2),
        ("", 8)]
# (kind, weight): what a flow is
KINDS = [("h2", 50), ("h1", 27), ("plain", 8), ("tunnel", 10),
         ("tlsfail", 4), ("block", 1)]
METHODS = [("GET", 780), ("POST", 150), ("PUT", 20), ("PATCH", 10),
           ("DELETE", 10), ("OPTIONS", 20), ("HEAD", 10)]
STATUSES = [(200, 680), (204, 40), (206, 10), (301, 20), (302, 30),
            (304, 80), (400, 10), (401, 20), (403, 15), (404, 50),
            (429, 5), (500, 15), (502, 10), (503, 10), (504, 5), (None, 10)]
REASONS = {200: "OK", 201: "Created", 204: "No Content",
           206: "Partial Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
CLOSES = [("closed", 60), ("client_eof", 25), ("upstream_eof", 10),
          ("timeout", 4), ("error", 1)]
TLS13 = ("TLSv1.3", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                     "TLS_CHACHA20_POLY1305_SHA256"])
TLS12 = ("TLSv1.2", ["ECDHE-ECDSA-AES128-GCM-SHA256",
                     "ECDHE-RSA-AES256-GCM-SHA384"])
FAILS = [("client", "unknown_ca", 60), ("client", "eof_reset", 15),
         ("upstream", "cert_validation", 10), ("upstream", "handshake", 10),
         ("upstream", "timeout", 5)]
COLS = ("flow_id, first_ts, last_ts, client, host, port, protocol, method, "
        "url, status, requests, req_bytes, resp_bytes, bytes_in, bytes_out, "
        "tls_client_version, tls_client_cipher, tls_upstream_version, "
        "tls_upstream_cipher, decision, rule, failure_side, "
        "failure_reason, close_reason, events, host_rev")


def host_rev(host):
    """common/flowq.c's flowq_host_rev(): lower case, no trailing dot,
    the characters reversed ("moc.elpmaxe.www")."""
    return host.rstrip(".").lower()[::-1] if host else None


def ts_text(t):
    """A time as the store writes it: 2026-11-22T03:40:01.123456Z."""
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + \
        f".{int((t - sec) * 1e6):06d}Z"


def pick(rnd, table):
    """A function drawing from [(value, weight), ...]."""
    vals = [v for v, _ in table]
    cum = []
    s = 0
    for _, w in table:
        s += w
        cum.append(s)
    return lambda: vals[bisect.bisect_right(cum, rnd.random() * s)]


def domains(rnd):
    """NDOMAINS names, example.com first, each with its subdomains and
    their weights: ([domain], [[(host, weight)]])."""
    tld = pick(rnd, TLDS)
    names, seen = ["example.com"], {"example.com"}
    while len(names) < NDOMAINS:
        n = "".join(rnd.choice(SYLL) for _ in range(rnd.randint(2, 3)))
        d = f"{n}.{tld()}"
        if d not in seen:
            seen.add(d)
            names.append(d)
    hosts = []
    for i, d in enumerate(names):
        nsub = max(1, int(24 / (1 + i) ** 0.5))
        subs = rnd.sample(SUBS, min(nsub, len(SUBS)))
        hs = [(f"{s}.{d}" if s else d, w) for s, w in subs]
        for k in range(max(0, nsub - len(SUBS))):
            hs.append((f"edge-{k}.cdn.{d}", 2))
        hosts.append(hs)
    return names, hosts


def url_of(rnd, scheme, host, port, method, i):
    sub = host.split(".", 1)[0]
    if sub in ("cdn", "static", "img", "edge-0", "edge-1"):
        path = rnd.choice([f"/assets/app.{i % 9973:x}f3.js",
                           f"/img/{i % 50021}.jpg",
                           f"/fonts/inter-{i % 7}.woff2",
                           f"/assets/style.{i % 613:x}.css"])
    elif sub in ("api", "auth", "ws") or method != "GET":
        path = rnd.choice([f"/api/v2/users/{i % 100003}",
                           f"/api/v2/orders/{i % 70001}/items?page="
                           f"{i % 5 + 1}",
                           "/graphql", f"/v1/session?token={i:x}",
                           f"/api/v1/search?q=shoes+{i % 997}&lang=en"])
    elif sub == "telemetry":
        path = f"/collect?v=2&tid=G-{i % 89}&cid={i * 7919 % 10 ** 9}"
    else:
        path = rnd.choice(["/", "/index.html", f"/products/item-{i % 4999}",
                           f"/blog/2026/{i % 12 + 1:02d}/post-{i % 331}",
                           f"/search?q=item+{i % 2999}"])
    dflt = 443 if scheme == "https" else 80
    hp = host if port == dflt else f"{host}:{port}"
    return f"{scheme}://{hp}{path}"


def times(rnd, t_end):
    """NFLOWS first_ts over DAYS days before t_end, more in the day than
    at night, sorted."""
    t0 = t_end - DAYS * 86400
    out = []
    while len(out) < NFLOWS:
        t = t0 + rnd.random() * DAYS * 86400
        hour = (t % 86400) / 3600
        if rnd.random() < 0.55 + 0.45 * math.sin((hour - 8) / 24 * 2 *
                                                   math.pi):
            out.append(t)
    out.sort()
    return out


def flow_rows(rnd, t_end):
    """The rows of flows, oldest first, as dicts of the columns (and
    domain, which the cases pick from)."""
    names, hosts = domains(rnd)
    dom_cum = []
    s = 0.0
    for i in range(len(names)):
        s += 1 / (i + 1) ** ZIPF_S
        dom_cum.append(s)
    host_pick = [pick(rnd, hs) for hs in hosts]
    kind, method, status = pick(rnd, KINDS), pick(rnd, METHODS), \
        pick(rnd, STATUSES)
    close, fail = pick(rnd, CLOSES), pick(rnd, [((a, b), w)
                                                for a, b, w in FAILS])
    id0 = int((t_end - DAYS * 86400) * 1e6)
    for i, t in enumerate(times(rnd, t_end)):
        k = kind()
        d = bisect.bisect_right(dom_cum, rnd.random() * s)
        d = min(d, len(names) - 1)
        host = host_pick[d]()
        client = f"10.0.{i % 3}.{(i * 31) % 200 + 10}:" \
            f"{rnd.randint(32768, 60999)}"
        row = dict(flow_id=id0 + i, first_ts=ts_text(t), client=client,
                   host=host, port=443, decision="intercept",
                   rule="default", requests=0, req_bytes=0, resp_bytes=0,
                   method="CONNECT", url=None, status=None, protocol=k,
                   events=0, domain=names[d])
        dur = rnd.expovariate(1 / 8.0)
        if k in ("h2", "h1", "plain"):
            scheme = "http" if k == "plain" else "https"
            port = 80 if k == "plain" else 443
            m = method()
            row.update(protocol="http2" if k == "h2" else "http/1.1",
                       port=port, method=m, status=status(),
                       url=url_of(rnd, scheme, host, port, m, i),
                       requests=1 + int(rnd.expovariate(
                           1 / (12 if k == "h2" else 3))),
                       close_reason=close())
            row["req_bytes"] = 0 if m in ("GET", "HEAD", "OPTIONS") else \
                int(rnd.lognormvariate(6.5, 1.2))
            row["resp_bytes"] = int(rnd.lognormvariate(8.5, 2.0)) * \
                row["requests"]
            if k != "plain":
                v, ciphers = TLS13 if rnd.random() < 0.85 else TLS12
                row.update(tls_client_version="TLSv1.3",
                           tls_client_cipher=TLS13[1][0],
                           tls_upstream_version=v,
                           tls_upstream_cipher=rnd.choice(ciphers))
        elif k == "tunnel":
            if rnd.random() < 0.3:
                host, row["domain"] = f"203.0.113.{i % 250 + 1}", None
            row.update(protocol="tcp", host=host, decision="tunnel",
                       rule="2", port=rnd.choice([443, 443, 5228, 993]),
                       close_reason=close())
            dur *= 20
        elif k == "tlsfail":
            side, why = fail()
            row.update(protocol="tls", failure_side=side,
                       failure_reason=why, close_reason="tls_failed")
            dur = rnd.random()
        else:
            b = rnd.randrange(50, 80)
            row.update(protocol="tcp", host=f"ads.{names[b]}",
                       domain=names[b], decision="block", rule="1",
                       close_reason="blocked")
            dur = 0.001
        row["bytes_in"] = row["req_bytes"] + 600 + int(rnd.random() * 900)
        row["bytes_out"] = row["resp_bytes"] + 3000 + int(rnd.random() * 2e3)
        row["last_ts"] = ts_text(min(t + dur, t_end))
        row["host_rev"] = host_rev(row["host"])
        yield row


def tuple_of(row):
    return tuple(row.get(c.strip()) for c in COLS.split(","))


def _ts(ts):
    """The Unix time of a store's time."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _shift(ts, t0_old, t0_new):
    return ts_text(t0_new + (_ts(ts) - t0_old))


def http_events(tpl, row):
    """The template's events, bodies and decoded rows made this flow's:
    its id, times, client, host, method, URL and first status."""
    fid, host = row["flow_id"], row["host"]
    t_old, t_new = _ts(tpl["events"][0][1]), _ts(row["first_ts"])
    u = urllib.parse.urlsplit(row["url"])
    target = u.path + ("?" + u.query if u.query else "")
    evs, first_req, first_resp = [], True, True
    for seq, ts, typ, js in tpl["events"]:
        e = json.loads(js)
        ts = _shift(ts, t_old, t_new)
        e.update(flow_id=fid, ts=ts, client_addr=row["client"],
                 server_host=host, server_port=row["port"],
                 protocol=row["protocol"])
        if e.get("sni"):
            e["sni"] = host
        if typ == "request_headers":
            path = target if first_req else e["target"]
            e.update(target=path, url=f"{u.scheme}://{u.netloc}{path}")
            if first_req:
                e["method"] = row["method"]
            e["headers"] = [[n, host if n.lower() == "host" else v]
                            for n, v in e["headers"]]
            first_req = False
        elif typ == "response_headers" and first_resp and row["status"]:
            e.update(status=row["status"],
                     reason=REASONS.get(row["status"], ""))
            first_resp = False
        evs.append((fid, seq, ts, typ,
                    json.dumps(e, separators=(",", ":"),
                               ensure_ascii=False)))
    bodies = [(fid, *b) for b in tpl["bodies"]]
    decoded = [(fid, *d) for d in tpl["decoded"]]
    return evs, bodies, decoded


def other_events(row):
    """connect_received, connect_decision, a failed handshake, and
    stream_closed, after mitmd-events(5), for a flow without HTTP."""
    t0, t1 = _ts(row["first_ts"]), _ts(row["last_ts"])
    common = {"v": 1, "type": None, "flow_id": row["flow_id"], "seq": 0,
              "ts": None, "client_addr": row["client"],
              "server_host": row["host"], "server_port": row["port"],
              "protocol": "tcp"}
    evs = [("connect_received", t0, {"method": "CONNECT",
                                     "mode": "explicit"}),
           ("connect_decision", t0 + 0.0001,
            {"action": row["decision"], "rule": row["rule"]
             if not row["rule"].isdigit() else int(row["rule"]),
             "line": 0 if row["rule"] == "default" else 9})]
    if row.get("failure_side") == "client":  # the upstream one came first
        evs += [("tls_handshake_started", t0 + 0.0002,
                 {"side": "upstream", "sni": row["host"]}),
                ("tls_handshake_succeeded", t0 + 0.02,
                 {"side": "upstream", "tls_version": "TLSv1.3",
                  "cipher": TLS13[1][0], "alpn": "h2"})]
    if row["protocol"] == "tls":
        evs += [("tls_handshake_started", t0 + 0.021,
                 {"side": row["failure_side"], "sni": row["host"]}),
                ("tls_handshake_failed", t1,
                 {"side": row["failure_side"],
                  "tls_failure_reason": row["failure_reason"],
                  "detail": "tlsv1 alert unknown ca"})]
    evs.append(("stream_closed", t1, {"reason": row["close_reason"],
                                      "bytes_in": row["bytes_in"],
                                      "bytes_out": row["bytes_out"]}))
    out = []
    for seq, (typ, t, extra) in enumerate(evs):
        e = dict(common, type=typ, seq=seq, ts=ts_text(t),
                 protocol=row["protocol"], **extra)
        out.append((row["flow_id"], seq, e["ts"], typ,
                    json.dumps(e, separators=(",", ":"))))
    return out


def generate(src, dst, templates):
    """dst: a copy of the store src with NFLOWS synthetic flows instead
    of what it held; returns what the cases query (meta)."""
    t_start = time.monotonic()
    if os.path.exists(dst):
        os.unlink(dst)
    con = sqlite3.connect(dst, isolation_level=None)
    old = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    old.backup(con)     # through the WAL: all that webui committed
    old.close()
    rnd = random.Random(SEED)
    t_end = float(int(time.time()))
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1048576")
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE "
                          "type = 'index' AND tbl_name = 'flows' AND "
                          "sql IS NOT NULL").fetchall()
    con.execute("BEGIN")
    for t in ("events", "bodies", "decoded", "flows"):
        con.execute(f"DELETE FROM {t}")
    for name, _ in indexes:
        con.execute(f"DROP INDEX {name}")
    rows = list(flow_rows(rnd, t_end))
    ev_rows, body_rows, dec_rows = [], [], []
    for row in rows[-NEVENT_FLOWS:]:
        if row["protocol"] in ("http2", "http/1.1"):
            tpl = templates["GET" if row["method"] == "GET" else "POST"]
            e, b, d = http_events(tpl, row)
            body_rows += b
            dec_rows += d
        else:
            e = other_events(row)
        row["events"] = len(e)
        ev_rows += e
    con.executemany(f"INSERT INTO flows({COLS}) VALUES "
                    f"({', '.join('?' * len(COLS.split(',')))})",
                    map(tuple_of, rows))
    con.executemany("INSERT INTO events(flow_id, seq, ts, type, json) "
                    "VALUES (?, ?, ?, ?, ?)", ev_rows)
    con.executemany("INSERT INTO bodies(flow_id, stream, dir, offset, "
                    "data) VALUES (?, ?, ?, ?, ?)", body_rows)
    con.executemany("INSERT INTO decoded(flow_id, stream, dir, json) "
                    "VALUES (?, ?, ?, ?)", dec_rows)
    for _, sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode = WAL")
    meta = pick_targets(rows, t_end)
    con.close()
    meta["generate_sec"] = round(time.monotonic() - t_start, 1)
    meta["events"] = len(ev_rows)
    return meta


def pick_targets(rows, t_end):
    """The values the cases filter on, from what was made."""
    counts, doms = {}, {}
    for r in rows:
        counts[r["host"]] = counts.get(r["host"], 0) + 1
        if r["domain"]:
            doms[r["domain"]] = doms.get(r["domain"], 0) + 1
    by = sorted(counts.items(), key=lambda kv: -kv[1])
    rare = next(h for h, c in reversed(by) if c >= 5 and
                not h[0].isdigit())
    # a domain of about a thousandth of the flows
    mid = min(doms.items(), key=lambda kv: abs(kv[1] - len(rows) / 1000))
    newest_http = next(r["flow_id"] for r in reversed(rows)
                       if r["protocol"] == "http2" and r["method"] == "GET")
    old = rows[len(rows) // 3]["flow_id"]
    return {"flows": len(rows), "t_end": t_end,
            "top_host": by[0][0], "rare_host": rare,
            "top_domain_flows": doms["example.com"],
            "mid_domain": mid[0], "mid_domain_flows": mid[1],
            "newest_http": newest_http, "old_flow": old,
            "oldest": rows[0]["flow_id"],
            "mid_ts": rows[len(rows) // 2]["first_ts"]}


# --- the cases ---------------------------------------------------------------


def cases(meta):
    """(name, path, kind): kind "one" repeats the path; "before" and
    "after" follow the page's cursor PAGES times."""
    mid = _ts(meta["mid_ts"])
    since, until = ts_text(mid), ts_text(mid + 3600)
    week = ts_text(meta["t_end"] - 7 * 86400)
    q = urllib.parse.quote
    top, dom = meta["top_host"], meta["mid_domain"]
    return [
        ("first page", "/api/flows", "one"),
        ("first page, limit=1000", "/api/flows?limit=1000", "one"),
        (f"host={top}", f"/api/flows?host={top}", "one"),
        (f"host={meta['rare_host']} (rare)",
         f"/api/flows?host={meta['rare_host']}", "one"),
        ("host=*.example.com (top domain)",
         "/api/flows?host=*.example.com", "one"),
        (f"host=*.{dom} (small)", f"/api/flows?host=*.{dom}", "one"),
        ("method=POST", "/api/flows?method=POST", "one"),
        ("method=DELETE", "/api/flows?method=DELETE", "one"),
        ("status=5xx", "/api/flows?status=5xx", "one"),
        ("status=404", "/api/flows?status=404", "one"),
        ("protocol=tls", "/api/flows?protocol=tls", "one"),
        ("since/until, 1 hour", f"/api/flows?since={q(since)}&until="
         f"{q(until)}", "one"),
        ("text=/api/ (common)", "/api/flows?text=/api/", "one"),
        ("text=item-4321 (rare)", "/api/flows?text=item-4321", "one"),
        ("text=no-such-text (none)", "/api/flows?text=no-such-text",
         "one"),
        ("*.example.com+POST+2xx",
         "/api/flows?host=*.example.com&method=POST&status=2xx", "one"),
        ("http/1.1+404+since 7d",
         f"/api/flows?protocol=http/1.1&status=404&since={q(week)}", "one"),
        ("GET+5xx+text=/api/",
         "/api/flows?method=GET&status=5xx&text=/api/", "one"),
        (f"before= x{PAGES} pages", "/api/flows", "before"),
        (f"before= x{PAGES}, limit=1000", "/api/flows?limit=1000",
         "before"),
        (f"before= x{PAGES}, status=5xx", "/api/flows?status=5xx",
         "before"),
        (f"after= x{PAGES} from the oldest",
         f"/api/flows?after={meta['oldest']}", "after"),
        ("HTML list /", "/", "one"),
        ("HTML list *.example.com 5xx", "/?host=*.example.com&status=5xx",
         "one"),
        ("/api/flows/ID (with events)",
         f"/api/flows/{meta['newest_http']}", "one"),
        ("/api/flows/ID (no events)", f"/api/flows/{meta['old_flow']}",
         "one"),
        ("HTML detail /flows/ID", f"/flows/{meta['newest_http']}", "one"),
        ("/flows.har?limit=100", "/flows.har?limit=100", "one"),
    ]


class Client:
    """One kept-alive HTTPS connection to the admin listener. With
    quickack the client acknowledges each segment of a response at once
    (TCP_QUICKACK before reading): a server that does not set
    TCP_NODELAY then sends its last segment without waiting for the
    client's delayed ACK, and the time is the server's work and the
    transfer."""

    def __init__(self, port, cafile, token):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.conn = None
        self.quickack = False
        self.reconnects = -1

    def get(self, path):
        """(status, body, seconds)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.port, context=self.ctx,
                    timeout=HTTP_TIMEOUT)
                self.conn.connect()
                self.reconnects += 1
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers={
                    "Authorization": f"Bearer {self.token}"})
                if self.quickack:
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP,
                                              socket.TCP_QUICKACK, 1)
                r = self.conn.getresponse()
                body = r.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            dt = time.perf_counter() - t0
            if r.will_close:
                self.conn.close()
                self.conn = None
            return r.status, body, dt

    def close(self):
        if self.conn is not None:
            self.conn.close()


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(math.ceil(p / 100 * len(s))) - 1)]


def run_pass(cl, name, path, kind):
    """WARMUP requests, then N timed ones (or PAGES pages following the
    cursor), within CASE_SEC: (seconds, sizes, rows)."""
    samples, sizes, rows = [], [], []
    deadline = time.monotonic() + CASE_SEC
    for _ in range(WARMUP):
        st, body, _ = cl.get(path)
        assert st == 200, (name, path, st, body[:300])
        if time.monotonic() > deadline:
            break
    base = re.sub(r"[?&]after=\d+", "", path)
    cur, want = path, PAGES if kind != "one" else N
    while len(samples) < want and time.monotonic() < deadline:
        st, body, dt = cl.get(cur)
        assert st == 200, (name, cur, st, body[:300])
        samples.append(dt)
        sizes.append(len(body))
        if not path.startswith("/api/flows?") and path != "/api/flows":
            continue
        j = json.loads(body)
        rows.append(j["count"])
        if kind != "one":
            nxt = j["next_after" if kind == "after" else "next_before"]
            if nxt is None:
                break
            cur = f"{base}{'&' if '?' in base else '?'}{kind}={nxt}"
    return samples, sizes, rows


def ms(x):
    return round(x * 1000, 2)


def run_case(cl, name, path, kind):
    """Both passes of one case: as a client sees it, then with quick
    ACKs; its result as a dict."""
    out = {"case": name, "path": path, "kind": kind}
    for mode, qa in (("keepalive", False), ("quickack", True)):
        cl.quickack = qa
        t, sizes, rows = run_pass(cl, name, path, kind)
        out[mode] = {"n": len(t), "median_ms": ms(pct(t, 50)),
                     "p95_ms": ms(pct(t, 95)), "max_ms": ms(max(t))}
    cl.quickack = False
    out["bytes"] = int(pct(sizes, 50))
    out["rows"] = int(pct(rows, 50)) if rows else None
    return out


# --- the run -----------------------------------------------------------------


def admin_conf(port, extra=()):
    return [f"admin listen on 127.0.0.1 port {port}", *KEEP, *extra]


def prepare_store(base):
    """Start mitmd for the schema and the templates, stop it; put the
    store of NFLOWS flows in its place (from the cache or made now).
    Returns the meta of the store."""
    ca = tls.TestCA(tempdir("baca"))
    srv, oport = origin(ca)
    m = None
    try:
        m = Mitmd(base=base, workers=1, bindir=RELEASE, rules=[
            'intercept host "localhost"'], extra=admin_conf(
            util.free_port(), [f'upstream ca-file "{ca.certfile}"',
                               "capture bodies max 16 KiB"]))
        db = os.path.join(m.state_dir, "store", "flows.db")
        m.wait_log(r"flow store \S+: \d+ flows", 20)
        template_traffic(m, oport)
        templates = util.wait_until(lambda: read_templates(db), STORE_WAIT,
                                    "the template flows in the store")
    finally:
        if m is not None:
            m.close(check=False)
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(ca.dir, ignore_errors=True)
    version, key = schema_key(db)
    meta = None
    if not REBUILD and os.path.exists(CACHE_META) and \
            os.path.exists(CACHE_DB):
        with open(CACHE_META) as f:
            meta = json.load(f)
        if meta.get("key") != key:
            print(f"cached store is for another schema or generator: "
                  f"making it again (schema version {version})", flush=True)
            meta = None
    if meta is None:
        os.makedirs(OUT, exist_ok=True)
        print(f"making {NFLOWS} flows ({NEVENT_FLOWS} with events) in "
              f"{CACHE_DB}", flush=True)
        try:
            meta = generate(db, CACHE_DB + ".tmp", templates)
        except BaseException:
            os.unlink(CACHE_DB + ".tmp")
            raise
        meta["key"], meta["schema_version"] = key, version
        os.replace(CACHE_DB + ".tmp", CACHE_DB)
        with open(CACHE_META, "w") as f:
            json.dump(meta, f, indent=1)
        print(f"made in {meta['generate_sec']} s, "
              f"{os.path.getsize(CACHE_DB) / 2**20:.0f} MiB", flush=True)
    else:
        print(f"using the cached store {CACHE_DB} "
              f"({os.path.getsize(CACHE_DB) / 2**20:.0f} MiB)", flush=True)
    st = os.stat(db)
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    shutil.copyfile(CACHE_DB, db)
    os.chown(db, st.st_uid, st.st_gid)
    os.chmod(db, st.st_mode & 0o7777)
    return meta


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 2**20
    return {"cpu": cpu, "nproc": os.cpu_count(), "mem_gib": mem,
            "kernel": platform.release()}


def git_rev():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    return p.stdout.strip() or None


def bench(base, meta):
    port = util.free_port()
    m = Mitmd(base=base, workers=1, bindir=RELEASE, extra=admin_conf(port))
    cl = None
    try:
        log = m.wait_log(r"flow store \S+: (\d+) flows", 60)
        assert int(log.group(1)) == meta["flows"], \
            f"webui opened another store: {log.string}"
        webui = m.pids("webui")[0]
        with open(os.path.join(m.state_dir, "admin.token")) as f:
            token = f.read().strip()
        cl = Client(port, tls.mitmd_ca(m), token)
        util.wait_until(lambda: _answers(cl), 30, "the admin listener")
        rss = {"before_kib": util.rss_kib(webui)}
        peak, stop = {}, threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(
            [webui], stop, peak), daemon=True)
        sampler.start()
        results = []
        try:
            for name, path, kind in cases(meta):
                r = run_case(cl, name, path, kind)
                results.append(r)
                print(row_text(r), flush=True)
            scan = Client(port, tls.mitmd_ca(m), token)
            try:
                behind = behind_scan(cl, scan)
            finally:
                scan.close()
        finally:
            stop.set()
            sampler.join(5)
        rss["after_kib"] = util.rss_kib(webui)
        rss["peak_kib"] = peak.get(webui, rss["after_kib"])
        assert m.pids("webui") == [webui], "webui restarted during the run"
        return results, behind, rss, cl.reconnects
    finally:
        if cl is not None:
            cl.close()
        m.close(check=False)


def behind_scan(cl, scan):
    """The first page, asked SCAN_LAG seconds after another connection
    asked for a text that no flow has (a walk of the whole first_ts
    index): webui answers one request at a time, so this one waits."""
    t = []
    scan.get("/api/flows?limit=1")     # its connection, before the clock
    cl.quickack = scan.quickack = True
    for _ in range(BEHIND_N):
        th = threading.Thread(target=scan.get, args=(
            "/api/flows?text=no-such-text",))
        th.start()
        time.sleep(SCAN_LAG)
        st, body, dt = cl.get("/api/flows")
        assert st == 200, body[:300]
        t.append(dt)
        th.join(HTTP_TIMEOUT)
    cl.quickack = False
    return {"case": "first page behind a text scan", "n": len(t),
            "median_ms": ms(pct(t, 50)), "p95_ms": ms(pct(t, 95)),
            "lag_ms": ms(SCAN_LAG)}


def _answers(cl):
    try:
        return cl.get("/api/flows?limit=1")[0] == 200
    except (OSError, ssl.SSLError, http.client.HTTPException):
        cl.conn = None
        return False


HEAD = (f"{'':34s} {'keep-alive, as is':>22s} {'quick ACKs':>22s}\n"
        f"{'case':34s} {'n':>3s} {'median':>9s} {'p95':>9s} {'n':>3s} "
        f"{'median':>8s} {'p95':>8s} {'bytes':>8s} {'rows':>5s}")


def row_text(r):
    k, q = r["keepalive"], r["quickack"]
    rows = "" if r["rows"] is None else str(r["rows"])
    return (f"{r['case'][:34]:34s} {k['n']:3d} {k['median_ms']:7.2f}ms "
            f"{k['p95_ms']:7.2f}ms {q['n']:3d} {q['median_ms']:6.2f}ms "
            f"{q['p95_ms']:6.2f}ms {r['bytes']:8d} {rows:>5s}")


def main():
    if os.geteuid() != 0:
        sys.exit("bench-admin: run as root (mitmd drops privileges)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    base = tempdir("badm")
    try:
        meta = prepare_store(base)
        print(f"\n{meta['flows']} flows, newest {ts_text(meta['t_end'])}; "
              f"{N} timed requests a case after {WARMUP} warmup, "
              f"{PAGES} pages for paging\n{HEAD}", flush=True)
        results, behind, rss, reconnects = bench(base, meta)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{behind['case']} ({behind['lag_ms']:.0f} ms after it, "
          f"quick ACKs): median {behind['median_ms']:.2f} ms, p95 "
          f"{behind['p95_ms']:.2f} ms")
    print(f"webui VmRSS: {rss['before_kib'] / 1024:.1f} MiB before, "
          f"{rss['after_kib'] / 1024:.1f} MiB after, peak "
          f"{rss['peak_kib'] / 1024:.1f} MiB; reconnects {reconnects}")
    out = {"date": datetime.datetime.now(datetime.timezone.utc)
           .isoformat(timespec="seconds"), "commit": git_rev(),
           "machine": machine(), "flows": meta["flows"],
           "event_flows": NEVENT_FLOWS, "events": meta.get("events"),
           "store_mib": round(os.path.getsize(CACHE_DB) / 2**20),
           "n": N, "warmup": WARMUP, "pages": PAGES,
           "webui_rss": rss, "reconnects": reconnects, "cases": results,
           "behind_scan": behind}
    with open(RESULTS, "w") as f:
        json.dump(out, f, indent=1)
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
