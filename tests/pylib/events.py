"""Events and the flow store, for tests.

Two things live here:

- FakeMaster: runs mitmd-webui alone, playing master on its fd 3 (setup,
  a config set, IMSG_CONF_SINK, IMSG_PEER) and playing the workers on the
  channels it hands over (IMSG_EVENT). With it webui's sinks and store
  are tested whatever the workers emit, including events no worker would
  ever send. Message numbers come from common/proto.h and the layout of
  struct conf_global from common/conf.h, so the two cannot drift apart.
- Checks over event lines shared by the tests: the common members, seq
  per flow from 0 without gaps, and the ordering of mitmd-events(5).
"""

import json
import os
import pwd
import re
import select
import socket
import struct
import threading
import time

from . import util
from . import mitmd as _mitmd
from .mitmd import ROOT, binary

PROTO_H = os.path.join(ROOT, "common", "proto.h")
CONF_H = os.path.join(ROOT, "common", "conf.h")

COMMON = ("v", "type", "flow_id", "seq", "ts", "client_addr",
          "server_host", "server_port", "protocol")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TYPES = ("connect_received", "connect_decision", "tls_handshake_started",
         "tls_handshake_succeeded", "tls_handshake_failed",
         "request_headers", "request_body_chunk", "response_headers",
         "response_body_chunk", "ws_message", "ws_turn_started",
         "ws_turn_completed", "sse_event", "grpc_message", "stream_closed")


# --- the C headers ---------------------------------------------------------

def _enum(text, name):
    """{NAME: value} of `enum name { ... }` (implicit and explicit values)."""
    m = re.search(r"enum\s+" + name + r"\s*\{(.*?)\};", text, re.S)
    assert m, f"enum {name} not found"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    out, v = {}, -1
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        k, eq, val = item.partition("=")
        v = int(val.strip(), 0) if eq else v + 1
        out[k.strip()] = v
    return out


def _defines(text):
    out = {}
    for m in re.finditer(r"^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b",
                         text, re.M):
        out[m.group(1)] = int(m.group(2), 0)
    return out


def _struct_fmt(text, name, defines):
    """A native struct format of `struct name` made of uint32_t, uint64_t
    and char arrays (what conf_global holds), trailing padding included."""
    m = re.search(r"struct\s+" + name + r"\s*\{(.*?)\};", text, re.S)
    assert m, f"struct {name} not found"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    fmt, names, align = "@", [], 1
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        t, rest = decl.split(None, 1)
        rest = rest.strip()
        arr = re.match(r"(\w+)\[(\w+)\]$", rest)
        if t == "char" and arr:
            n = arr.group(2)
            fmt += f"{defines[n] if n in defines else int(n)}s"
            names.append(arr.group(1))
        elif t == "uint32_t":
            fmt += "I"
            names.append(rest)
            align = max(align, 4)
        elif t == "uint64_t":
            fmt += "Q"
            names.append(rest)
            align = max(align, 8)
        else:
            raise AssertionError(f"struct {name}: cannot lay out {decl!r}")
    size = struct.calcsize(fmt)
    pad = (-size) % align
    if pad:
        fmt += f"{pad}x"
    return fmt, names


class Proto:
    """What the tests need of common/proto.h and common/conf.h."""

    def __init__(self):
        with open(PROTO_H) as f:
            proto = f.read()
        with open(CONF_H) as f:
            conf = f.read()
        defs = _defines(conf)
        defs.update(_defines(proto))
        self.defs = defs
        self.imsg = _enum(proto, "imsg_type")
        self.role = _enum(proto, "role")
        self.sink = _enum(conf, "conf_sink_kind")
        self.listener = _enum(conf, "conf_listener_kind")
        self.version = defs["IPC_VERSION"]
        self.path_max = defs["CONF_PATH_MAX"]
        self.event_max = defs["IPC_EVENT_MAX"]
        self.global_fmt, self.global_names = _struct_fmt(
            conf, "conf_global", defs)

    def conf_global(self, **kw):
        vals = []
        for n, code in zip(self.global_names,
                           re.findall(r"\d*[IQsx]", self.global_fmt)):
            if code.endswith("x"):
                continue
            v = kw.get(n, b"" if code.endswith("s") else 0)
            vals.append(v.encode() if isinstance(v, str) else v)
        return struct.pack(self.global_fmt, *vals)


HDR = struct.Struct("=IIII")


def _send(sock, ty, payload=b"", fd=None, reqid=0):
    msg = HDR.pack(ty, len(payload), reqid, os.getpid()) + payload
    if fd is None:
        sock.sendmsg([msg])
    else:
        sock.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                              struct.pack("i", fd))])


# --- a fake master ----------------------------------------------------------

class FakeMaster:
    """mitmd-webui run by the test. store_dir holds its store. user None:
    no chroot, no change of user (setup without SETUP_F_PRIVDROP, as an
    unprivileged mitmd runs it); a user name (root only): chrooted in
    store_dir as that user, as a root mitmd runs it. keep_flows/keep_days
    go in conf_global."""

    def __init__(self, store_dir, keep_flows=100000, keep_days=7,
                 verbose=1, user=None):
        self.p = Proto()
        self.store_dir = store_dir
        self.user = user
        self.keep_flows = keep_flows
        self.keep_days = keep_days
        self.verbose = verbose
        self.logs = []
        self.statuses = []
        self.ready = threading.Event()
        self.pid = None
        self.workers = {}
        self._lock = threading.Lock()
        self._stop = False

    @property
    def db(self):
        return os.path.join(self.store_dir, "flows.db")

    def start(self, timeout=15):
        os.makedirs(self.store_dir, exist_ok=True)
        uid, gid, flags = os.getuid(), os.getgid(), 0
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            uid, gid = pw.pw_uid, pw.pw_gid
            flags = self.p.defs["SETUP_F_PRIVDROP"]
            os.chown(self.store_dir, uid, gid)
            os.chmod(self.store_dir, 0o700)
        self.sock, child = socket.socketpair(socket.AF_UNIX,
                                             socket.SOCK_SEQPACKET)
        devnull = os.open(os.devnull, os.O_RDWR)
        self.pid = os.posix_spawn(
            binary("mitmd-webui"), [binary("mitmd-webui")], os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, child.fileno(), 3),
                          (os.POSIX_SPAWN_DUP2, devnull, 0)])
        child.close()
        os.close(devnull)
        p = self.p
        setup = struct.pack(f"=8I{p.path_max}s", p.version,
                            p.role["ROLE_WEBUI"], 0, flags, uid, gid,
                            self.verbose, 0, self.store_dir.encode())
        _send(self.sock, p.imsg["IMSG_SETUP"], setup)
        self.send_conf()
        self._thr = threading.Thread(target=self._reader, daemon=True)
        self._thr.start()
        assert self.ready.wait(timeout), \
            f"webui sent no READY; log: {self.logs}"
        return self

    def send_conf(self, **kw):
        p = self.p
        g = p.conf_global(cg_workers=1, cg_keep_flows=self.keep_flows,
                          cg_keep_days=self.keep_days, **kw)
        _send(self.sock, p.imsg["IMSG_CONF_GLOBAL"], g)
        _send(self.sock, p.imsg["IMSG_CONF_END"])

    def _reader(self):
        p = self.p
        names = {v: k for k, v in p.imsg.items()}
        while not self._stop:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                data = self.sock.recv(70000)
            except OSError:
                return
            if not data:
                return
            ty, ln, _, _ = HDR.unpack_from(data)
            body = data[HDR.size:]
            name = names.get(ty, str(ty))
            with self._lock:
                if name == "IMSG_READY":
                    self.ready.set()
                elif name == "IMSG_LOG":
                    self.logs.append(body[8:].decode("utf-8", "replace"))
                elif name == "IMSG_STATUS":
                    self.statuses.append(body)

    def log_text(self):
        with self._lock:
            return "\n".join(self.logs)

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)

        def find():
            with self._lock:
                for line in self.logs:
                    if rx.search(line):
                        return line
            return None
        try:
            return util.wait_until(find, timeout, f"webui log /{pattern}/")
        except AssertionError as e:
            raise AssertionError(f"{e}; log:\n{self.log_text()}")

    def sink_file(self, path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _send(self.sock, self.p.imsg["IMSG_CONF_SINK"],
              struct.pack("=II", self.p.sink["SINK_FILE"], 0), fd)
        os.close(fd)

    def sink_socket(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(16)
        _send(self.sock, self.p.imsg["IMSG_CONF_SINK"],
              struct.pack("=II", self.p.sink["SINK_SOCKET"], 0),
              s.fileno())
        s.close()

    def worker(self, index=0):
        """A channel to webui as worker `index`; returns our end."""
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET)
        peer = struct.pack("=IIII", self.p.role["ROLE_TLSWORKER"], index,
                           os.getpid(), 0)
        _send(self.sock, self.p.imsg["IMSG_PEER"], peer, theirs.fileno())
        theirs.close()
        self.workers[index] = ours
        return ours

    def event(self, sock, ev):
        """Send one event: a dict (encoded compactly) or raw bytes."""
        if isinstance(ev, dict):
            ev = json.dumps(ev, separators=(",", ":")).encode()
        _send(sock, self.p.imsg["IMSG_EVENT"], ev)

    def status(self):
        _send(self.sock, self.p.imsg["IMSG_STATUS_REQ"])

    def alive(self):
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def stop(self, timeout=10):
        """IMSG_SHUTDOWN, then wait; returns the wait status."""
        try:
            _send(self.sock, self.p.imsg["IMSG_SHUTDOWN"])
        except OSError:
            pass
        return self._wait(timeout)

    def kill(self, sig=9, timeout=10):
        os.kill(self.pid, sig)
        return self._wait(timeout)

    def _wait(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.close()
                return st
            time.sleep(0.02)
        os.kill(self.pid, 9)
        _, st = os.waitpid(self.pid, 0)
        self.close()
        raise AssertionError("webui did not exit")

    def close(self):
        self._stop = True
        for s in self.workers.values():
            s.close()
        self.workers = {}
        try:
            self.sock.close()
        except OSError:
            pass

    def stop_clean(self):
        """Alive until now, then stopped with exit status 0 (a syscall
        its seccomp filter lacked would have killed it)."""
        assert self.alive(), self.log_text()
        st = self.stop()
        assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Killed if still running (a test that failed before stop)."""
        if self.pid is not None and self.alive():
            self.kill()


def fake_masters(store_dir):
    """For a fixture: a function that starts a FakeMaster (its store in
    store_dir unless told otherwise); those still running at the end are
    stopped. `yield from events.fake_masters(str(tmp_path / "store"))`."""
    started = []

    def make(store=None, **kw):
        m = FakeMaster(store or store_dir, **kw).start()
        started.append(m)
        return m
    yield make
    for m in started:
        if m.pid is not None and m.alive():
            m.stop()


# --- events made up for the store and sink tests ----------------------------

def make_flow(flow_id, n_requests=1, client="127.0.0.1:40000",
              host="example.test", port=443, ts=None, action="intercept"):
    """The events of one intercepted flow, in order, seq from 0."""
    ts = ts or time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    base = {"v": 1, "flow_id": flow_id, "ts": ts, "client_addr": client,
            "server_host": host, "server_port": port, "protocol": "tcp"}
    out = []

    def ev(t, **kw):
        d = dict(base, type=t, seq=len(out))
        d.update(kw)
        # keep the member order of the worker's encoder: common first
        out.append(d)
    ev("connect_received", method="CONNECT")
    ev("connect_decision", action=action, rule=1, line=7)
    if action == "intercept":
        base["protocol"] = "http/1.1"
        ev("tls_handshake_started", side="upstream", sni=host)
        ev("tls_handshake_succeeded", side="upstream", tls_version="TLSv1.3",
           cipher="TLS_AES_128_GCM_SHA256", alpn="http/1.1")
        ev("tls_handshake_started", side="client", sni=host)
        ev("tls_handshake_succeeded", side="client", tls_version="TLSv1.3",
           cipher="TLS_AES_256_GCM_SHA384", alpn="http/1.1")
        for s in range(1, n_requests + 1):
            ev("request_headers", stream=s, method="GET",
               target=f"/r{s}", url=f"https://{host}/r{s}",
               http_version="HTTP/1.1", headers=[["Host", host]])
            ev("response_headers", stream=s, status=200, reason="OK",
               http_version="HTTP/1.1", headers=[["Content-Length", "5"]])
            ev("response_body_chunk", stream=s, offset=0, size=5, last=True,
               body_size=5, body_sha256="00" * 32)
    ev("stream_closed", reason="closed", bytes_in=100, bytes_out=200)
    return out


# --- checks over event lines -------------------------------------------------

def parse_lines(text):
    """Each line a JSON object; returns the list. Fails on a bad line."""
    out = []
    for i, line in enumerate(text.splitlines()):
        assert line.strip(), f"empty line {i + 1}"
        ev = json.loads(line)
        assert isinstance(ev, dict), f"line {i + 1} is not an object"
        out.append(ev)
    return out


def read(src):
    """The events in the file of src (a Mitmd with events_path, as
    tls.start_mitmd makes, or the file's path), whole lines only (the
    last one may be being written); [] while there is no file."""
    path = getattr(src, "events_path", src)
    out = []
    if path is None or not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def flows(src, start=0):
    """{flow_id: its events} of read(src) from the start-th event on."""
    return by_flow(read(src)[start:])


def with_request(marker=None, **members):
    """A test of a flow's events: it has a request_headers with these
    members (target=..., method=...) and marker, if given, in its JSON."""
    def pred(evs):
        return any(e["type"] == "request_headers" and
                   all(e.get(k) == v for k, v in members.items()) and
                   (marker is None or marker in json.dumps(e))
                   for e in evs)
    return pred


def find_flow(src, pred, closed=True, start=0):
    """The events of the first flow of src for which pred(its events)
    holds, or None. closed: only a flow whose stream_closed is in. start:
    only the flows that began at or after the start-th event."""
    for evs in flows(src, start).values():
        if evs[0]["seq"] != 0:          # began before start
            continue
        if closed and evs[-1]["type"] != "stream_closed":
            continue
        if pred(evs):
            return evs
    return None


def wait_flow(src, pred, timeout=15, what="the flow's events", start=0):
    """find_flow of a closed flow, waited for."""
    return util.wait_until(lambda: find_flow(src, pred, True, start),
                           timeout, what)


def check_common(ev):
    for k in COMMON:
        assert k in ev, f"{k} missing in {ev}"
    assert ev["v"] == 1
    assert ev["type"] in TYPES, ev["type"]
    assert isinstance(ev["flow_id"], int) and ev["flow_id"] >= 0
    assert isinstance(ev["seq"], int) and ev["seq"] >= 0
    assert TS_RE.match(ev["ts"]), ev["ts"]
    assert ev["server_port"] is None or 0 < ev["server_port"] < 65536


def by_flow(events):
    flows = {}
    for ev in events:
        flows.setdefault(ev["flow_id"], []).append(ev)
    return flows


# Rank of each type in a flow: events of a lower rank never follow one of
# a higher rank, but for exchanges (request/response) which repeat.
_RANK = {"connect_received": 0, "connect_decision": 1,
         "tls_handshake_started": 2, "tls_handshake_succeeded": 2,
         "tls_handshake_failed": 2, "request_headers": 3,
         "request_body_chunk": 3, "response_headers": 3,
         "response_body_chunk": 3, "ws_message": 3, "ws_turn_started": 3,
         "ws_turn_completed": 3, "sse_event": 3, "grpc_message": 3,
         "stream_closed": 9}
_EXCHANGE = ("request_headers", "request_body_chunk", "response_headers",
             "response_body_chunk")


def check_flow(evs, complete=True):
    """seq from 0 without gaps, in order; the ordering invariants of
    mitmd-events(5); one stream_closed, last, when complete."""
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(len(evs))), f"seq {seqs}"
    types = [e["type"] for e in evs]
    assert types[0] == "connect_received", types
    if len(types) > 1:
        assert types[1] in ("connect_decision", "stream_closed"), types
    ranks = [_RANK[t] for t in types]
    assert ranks == sorted(ranks), f"out of order: {types}"
    if complete:
        assert types[-1] == "stream_closed", types
    assert types.count("stream_closed") <= 1, types
    # the upstream handshake completes before the client's starts
    sides = [(e["type"], e.get("side")) for e in evs
             if e["type"].startswith("tls_")]
    if ("tls_handshake_started", "client") in sides:
        up = [i for i, s in enumerate(sides) if s[1] == "upstream"]
        cl = sides.index(("tls_handshake_started", "client"))
        assert all(i < cl for i in up), sides
    # each exchange: request head, its body, response head, its body (a
    # response may come before the request body ends: an early reply);
    # the events of an exchange never follow the next request's
    stream, resp_head, body_last = 0, False, {}
    for e in evs:
        t = e["type"]
        if t not in _EXCHANGE:
            continue
        if t == "request_headers":
            assert e["stream"] == stream + 1, (stream, e)
            stream, resp_head = e["stream"], False
            continue
        assert e["stream"] == stream, (stream, e)
        if t == "response_headers":
            assert not resp_head, f"two response heads: {types}"
            resp_head = True
        elif t == "response_body_chunk":
            assert resp_head, f"response body before its head: {types}"
        if t.endswith("_chunk"):
            key = (stream, t)
            assert not body_last.get(key), f"chunk after last: {e}"
            if e["last"]:
                body_last[key] = True
                assert e["body_size"] == e["offset"] + e["size"], e
                assert re.match(r"^[0-9a-f]{64}$", e["body_sha256"] or "")


# --- a real mitmd ------------------------------------------------------------

# The tests ask this module whether a keyword is accepted yet.
config_accepted = _mitmd.config_accepted


class Subscriber:
    """A process connected to an `events socket`, reading in a thread
    (or not at all: read=False, with a small receive buffer)."""

    def __init__(self, path, read=True, rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 rcvbuf)
        util.wait_until(lambda: self._connect(path), timeout,
                        f"connect to {path}")
        self.data = bytearray()
        self.eof = threading.Event()
        self._lock = threading.Lock()
        if read:
            threading.Thread(target=self._reader, daemon=True).start()

    def _connect(self, path):
        try:
            self.sock.connect(path)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False

    def _reader(self):
        while True:
            try:
                b = self.sock.recv(1 << 20)
            except OSError:
                b = b""
            if not b:
                self.eof.set()
                return
            with self._lock:
                self.data += b

    def count(self):
        """Lines received so far."""
        with self._lock:
            return self.data.count(b"\n")

    def text(self):
        with self._lock:
            return self.data.decode("utf-8")

    def lines(self):
        t = self.text()
        return t[:t.rfind("\n") + 1]

    def close(self):
        self.sock.close()


def read_store(db):
    """{flow_id: row dict} of flows, and the list of (flow_id, seq, type)
    of events, read with Python's sqlite3 (the database as it is on
    disk, WAL included)."""
    import sqlite3
    c = sqlite3.connect(db, timeout=10)
    try:
        c.row_factory = sqlite3.Row
        flows = {r["flow_id"]: dict(r) for r in
                 c.execute("SELECT * FROM flows")}
        evs = [tuple(r) for r in c.execute(
            "SELECT flow_id, seq, type FROM events ORDER BY flow_id, seq")]
        return flows, evs
    finally:
        c.close()
