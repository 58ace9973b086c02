"""A small HTTP/2 origin for tests, built on python3-h2 (server side) over
TLS with ALPN h2 alone.

One accept thread, one thread per connection (at most MAX_CONNS at once;
more are refused by closing them), every socket and thread ended by
close(). Each connection thread runs its H2Connection alone, so the
origin needs no lock beyond the one around what it records.

Paths (GET or POST; the answer starts once the request has ended, except
where said):
  /echo                 200, the request body back (content-type as the
                        request's), trailers x-sum (SHA-256 hex of the
                        body) and x-len
  /data/N               200, N bytes of origins.body(N)
  /trailers             200, a short body, trailers x-trailer-one: 1 and
                        x-trailer-two: two
  /reset-headers/CODE   200 headers, then RST_STREAM with CODE
  /reset-now/CODE       RST_STREAM with CODE as soon as the request
                        headers arrive, before any response
  /goaway/N             200 with N bytes of origins.body(N), then GOAWAY
                        (NO_ERROR, last stream = this one); the origin
                        keeps the connection until the peer closes it
  /goaway-close/N       the same, then the origin closes the connection
                        right after the GOAWAY (its write side at once;
                        it reads until the peer closes)
  /bigheader/N          200 with a response header x-big of N bytes
  /info100              103 Early Hints (a link header), then 200 "done"
  /early/N              200 with N bytes at once, on the request headers,
                        then RST_STREAM NO_ERROR: the rest of the request
                        body is not wanted (RFC 9113 8.1)
  /cut/N                200 promising 2N bytes, N of them, then the
                        connection ends
  /hold                 no answer; the request body is taken at the
                        connection level but the stream's window never
                        opens again (with H2Origin(window=...) small, the
                        sender has to keep the rest)
  anything else         404

What arrived is kept in .requests: one dict per stream with path,
headers (list of (name, value) as str), body (bytes), trailers (list or
None), ended (the request body ended), reset (a code when the peer reset
the stream).
"""

import hashlib
import select
import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from . import origins

MAX_CONNS = 64
IO_TIMEOUT = 60          # seconds a connection may stay silent
RECV = 1 << 16
WINDOW = 1 << 24         # what the origin lets a client send ahead


def _s(v):
    return v.decode("latin-1") if isinstance(v, bytes) else v


class _Conn:
    """One client connection of the origin."""

    def __init__(self, origin, sock):
        self.origin = origin
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False,
                                      header_encoding=None))
        self.reqs = {}       # stream id -> the record in origin.requests
        self.out = {}        # stream id -> [data, end, trailers, after]
        self.close_after = False
        self.closed = False

    # --- output, within the flow-control windows ------------------------

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def queue(self, sid, data=b"", trailers=None, after=None):
        self.out[sid] = [bytearray(data), True, trailers, after]

    def send_pending(self):
        for sid in list(self.out):
            data, end, trailers, after = self.out[sid]
            try:
                while data:
                    n = min(self.conn.local_flow_control_window(sid),
                            self.conn.max_outbound_frame_size, len(data))
                    if n <= 0:
                        break
                    self.conn.send_data(sid, bytes(data[:n]))
                    del data[:n]
                if data:
                    continue
                if trailers is not None:
                    self.conn.send_headers(sid, trailers, end_stream=True)
                else:
                    self.conn.end_stream(sid)
            except (h2.exceptions.StreamClosedError,
                    h2.exceptions.ProtocolError):
                pass     # the peer reset it: nothing more to send
            del self.out[sid]
            if after is not None:
                after(sid)
        self.flush()

    # --- requests ----------------------------------------------------------

    def on_request(self, ev):
        hdrs = [(_s(k), _s(v)) for k, v in ev.headers]
        h = dict(hdrs)
        rec = {"path": h.get(":path", ""), "headers": hdrs,
               "body": bytearray(), "trailers": None, "ended": False,
               "reset": None}
        self.reqs[ev.stream_id] = rec
        with self.origin.lock:
            self.origin.requests.append(rec)
        parts = rec["path"].split("?")[0].strip("/").split("/")
        sid = ev.stream_id
        if parts[0] == "reset-now":
            self.conn.reset_stream(sid, int(parts[1]))
        elif parts[0] == "early":
            n = int(parts[1])
            self.conn.send_headers(sid, [(":status", "200"),
                                         ("content-length", str(n))])
            self.queue(sid, origins.body(n), after=self._reset_no_error)

    def _reset_no_error(self, sid):
        try:
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)
        except h2.exceptions.StreamClosedError:
            pass

    def on_end(self, sid):
        rec = self.reqs.get(sid)
        if rec is None or rec["ended"]:
            return
        rec["ended"] = True
        parts = rec["path"].split("?")[0].strip("/").split("/")
        what, arg = parts[0], parts[1] if len(parts) > 1 else None
        c = self.conn
        if what in ("reset-now", "early"):
            return
        if what == "echo":
            body = bytes(rec["body"])
            ct = dict(rec["headers"]).get("content-type",
                                          "application/octet-stream")
            c.send_headers(sid, [(":status", "200"), ("content-type", ct)])
            self.queue(sid, body, trailers=[
                ("x-sum", hashlib.sha256(body).hexdigest()),
                ("x-len", str(len(body)))])
        elif what == "data":
            n = int(arg)
            c.send_headers(sid, [(":status", "200"),
                                 ("content-length", str(n))])
            self.queue(sid, origins.body(n))
        elif what == "trailers":
            c.send_headers(sid, [(":status", "200"),
                                 ("content-type", "text/plain")])
            self.queue(sid, b"body before trailers\n", trailers=[
                ("x-trailer-one", "1"), ("x-trailer-two", "two")])
        elif what == "reset-headers":
            c.send_headers(sid, [(":status", "200"),
                                 ("content-type", "text/plain")])
            c.reset_stream(sid, int(arg))
        elif what in ("goaway", "goaway-close"):
            n = int(arg)
            c.send_headers(sid, [(":status", "200"),
                                 ("content-length", str(n))])
            self.queue(sid, origins.body(n),
                       after=lambda s, w=what: self._goaway(s, w))
        elif what == "cut":
            # half the promised body, then the connection ends
            n = int(arg)
            c.send_headers(sid, [(":status", "200"),
                                 ("content-length", str(2 * n))])
            body, step = origins.body(n), c.max_outbound_frame_size
            for off in range(0, n, step):   # within the window: n small
                c.send_data(sid, body[off:off + step])
            self.close_after = True
        elif what == "bigheader":
            c.send_headers(sid, [(":status", "200"),
                                 ("x-big", "b" * int(arg)),
                                 ("content-length", "2")])
            self.queue(sid, b"ok")
        elif what == "info100":
            c.send_headers(sid, [(":status", "103"),
                                 ("link", "</style.css>; rel=preload")])
            c.send_headers(sid, [(":status", "200"),
                                 ("content-length", "4")])
            self.queue(sid, b"done")
        else:
            c.send_headers(sid, [(":status", "404"),
                                 ("content-length", "0")], end_stream=True)

    def _goaway(self, sid, what):
        self.conn.close_connection(h2.errors.ErrorCodes.NO_ERROR,
                                   last_stream_id=sid)
        with self.origin.lock:
            self.origin.goaways += 1
        self.flush()
        if what == "goaway-close":
            self.close_after = True

    def handle(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.on_request(ev)
        elif isinstance(ev, h2.events.DataReceived):
            rec = self.reqs.get(ev.stream_id)
            if rec is not None:
                rec["body"] += ev.data
            if rec is not None and rec["path"] == "/hold":
                if ev.flow_controlled_length:
                    self.conn.increment_flow_control_window(
                        ev.flow_controlled_length)
            elif ev.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
        elif isinstance(ev, h2.events.TrailersReceived):
            rec = self.reqs.get(ev.stream_id)
            if rec is not None:
                rec["trailers"] = [(_s(k), _s(v)) for k, v in ev.headers]
        elif isinstance(ev, h2.events.StreamEnded):
            self.on_end(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            rec = self.reqs.get(ev.stream_id)
            if rec is not None:
                rec["reset"] = int(ev.error_code)
            self.out.pop(ev.stream_id, None)

    def linger(self):
        """Close as servers do: FIN at once, then read and drop what
        still comes until the peer closes (closing with unread bytes
        would send a TCP RST, and the peer's kernel would drop what it
        had received and not yet handed over)."""
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(5)
        for _ in range(10000):
            if not self.sock.recv(RECV) or self.origin.stopping:
                return

    def run(self):
        try:
            self.sock.settimeout(IO_TIMEOUT)
            self.sock.do_handshake()
            if self.sock.selected_alpn_protocol() != "h2":
                return
            self.conn.initiate_connection()
            self.conn.update_settings(
                {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                 self.origin.window})
            self.conn.increment_flow_control_window(WINDOW)
            self.flush()
            while not self.origin.stopping:
                data = self.sock.recv(RECV)
                if not data:
                    return
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.flush()
                    return
                for ev in events:
                    self.handle(ev)
                self.send_pending()
                if self.close_after:
                    self.linger()
                    return
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            return
        finally:
            self.origin._gone(self)


class H2Origin:
    """The origin; .port once started. certfile/keyfile: its certificate
    (from the tests' CA, which mitmd trusts with `upstream ca-file`);
    window: the INITIAL_WINDOW_SIZE of its streams."""

    def __init__(self, certfile, keyfile, host="127.0.0.1", window=WINDOW):
        self.window = window     # INITIAL_WINDOW_SIZE it announces
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.ctx.set_alpn_protocols(["h2"])
        self.lock = threading.Lock()
        self.requests = []
        self.goaways = 0
        self.connections = 0
        self.stopping = False
        self._conns = {}     # _Conn -> thread
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.1)
                if not r:
                    continue
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping or len(self._conns) >= MAX_CONNS:
                    s.close()
                    continue
                self.connections += 1
                try:
                    t = self.ctx.wrap_socket(s, server_side=True,
                                             do_handshake_on_connect=False)
                except (OSError, ssl.SSLError):
                    s.close()
                    continue
                c = _Conn(self, t)
                th = threading.Thread(target=c.run, daemon=True)
                self._conns[c] = th
            th.start()

    def _gone(self, c):
        with self.lock:
            self._conns.pop(c, None)
        try:
            c.sock.close()
        except OSError:
            pass

    def find(self, path):
        """The records of the requests for path, in arrival order."""
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.stopping = True
        self._thread.join(timeout=5)
        self.lsock.close()
        with self.lock:
            conns = list(self._conns.items())
        for c, _ in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for c, th in conns:
            th.join(timeout=5)
            try:
                c.sock.close()
            except OSError:
                pass


def running(test_ca, label, **kw):
    """An H2Origin with a certificate of test_ca (named label) for
    localhost and 127.0.0.1, for a fixture:
    `yield from h2origin.running(test_ca, "label")`; kw: H2Origin's."""
    certs = test_ca.issue(label, dns=["localhost"], ips=["127.0.0.1"])
    o = H2Origin(*certs, **kw)
    yield o
    o.close()
