"""An HTTP/2 client for tests: python3-h2 over TLS through mitmd's
CONNECT, trusting mitmd's CA, ALPN h2 alone. What arrives is kept per
stream: heads, informational heads, bodies, trailers, ends, resets; the
connection's GOAWAY and its end of file.

GOAWAY frames are taken out of what reaches python3-h2 and kept in
.goaway as a Goaway (last_stream_id, error_code): h2 4.1 closes its
connection state on a GOAWAY and fails on the frames of the streams
that go on after it (RFC 9113 6.8 lets them finish).
"""

import collections

import h2.config
import h2.connection
import h2.events
import h2.settings

from . import tls

IO_TIMEOUT = 30
FRAME_GOAWAY = 7

Goaway = collections.namedtuple("Goaway", "last_stream_id error_code")


class H2Client:
    def __init__(self, m, port, host="localhost", window=1 << 24):
        """window: the INITIAL_WINDOW_SIZE the client announces."""
        ctx = tls.mitmd_context(m, alpn=("h2",))
        self.sock = tls.connect_tls(m.proxy_port, f"{host}:{port}", ctx,
                                    host)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.sock.settimeout(IO_TIMEOUT)
        self.authority = f"{host}:{port}"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True,
                                      header_encoding=None))
        self.conn.initiate_connection()
        self.conn.update_settings(
            {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.conn.increment_flow_control_window(1 << 30)
        self.flush()
        self.bodies = {}
        self.heads = {}
        self.info = {}
        self.trailers = {}
        self.ended = set()
        self.resets = {}
        self.settings = {}
        self.goaway = None
        self.eof = False
        self.noack = set()   # streams whose window the client keeps shut
        self._in = bytearray()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(self, path, method="GET", extra=()):
        return [(":method", method), (":scheme", "https"),
                (":authority", self.authority), (":path", path)] + \
            list(extra)

    def request(self, path, method="GET", headers=(), body=None, end=True,
                trailers=None):
        """Open a stream; body (within the windows) in frames of the
        peer's maximum size; trailers end it when given."""
        sid = self.conn.get_next_available_stream_id()
        last_data = end and trailers is None
        self.conn.send_headers(sid, self.headers(path, method, headers),
                               end_stream=body is None and last_data)
        self.bodies[sid] = bytearray()
        self.flush()
        if body is not None:
            self.send_body(sid, body, last_data)
        if trailers is not None:
            self.conn.send_headers(sid, trailers, end_stream=True)
            self.flush()
        return sid

    def window(self, sid):
        return min(self.conn.local_flow_control_window(sid),
                   self.conn.max_outbound_frame_size)

    def send_body(self, sid, body, end=True):
        """body in DATA frames as the windows allow (reading meanwhile);
        stops early if the stream is reset. The bytes sent."""
        off = 0
        while True:
            if sid in self.resets:
                return off
            n = min(self.window(sid), len(body) - off)
            if n > 0 or off == len(body):
                last = off + n == len(body)
                if n > 0 or (end and last):
                    self.conn.send_data(sid, body[off:off + n],
                                        end_stream=end and last)
                self.flush()
                off += n
                if last:
                    return off
                continue
            self.pump(lambda: sid in self.resets or self.window(sid) > 0)

    def done(self, sid):
        return sid in self.ended or sid in self.resets

    def pump(self, until, limit=1 << 16, eof_ok=False):
        """Read and handle frames until until() holds. EOF fails unless
        eof_ok (then pump returns, .eof set)."""
        for _ in range(limit):
            if until():
                return
            data = self.sock.recv(1 << 16)
            if not data:
                self.eof = True
                if eof_ok:
                    return
                raise AssertionError("connection closed")
            for ev in self.conn.receive_data(self._frames(data)):
                self.handle(ev)
            self.flush()
        raise AssertionError("pump limit")

    def _frames(self, data):
        """The whole frames of what came, GOAWAY left out (and kept)."""
        self._in += data
        out = bytearray()
        while len(self._in) >= 9:
            n = int.from_bytes(self._in[:3], "big")
            if len(self._in) < 9 + n:
                break
            frame = bytes(self._in[:9 + n])
            del self._in[:9 + n]
            if frame[3] == FRAME_GOAWAY:
                self.goaway = Goaway(
                    int.from_bytes(frame[9:13], "big") & 0x7fffffff,
                    int.from_bytes(frame[13:17], "big"))
            else:
                out += frame
        return bytes(out)

    def handle(self, ev):
        if isinstance(ev, h2.events.InformationalResponseReceived):
            self.info.setdefault(ev.stream_id, []).append(dict(ev.headers))
        elif isinstance(ev, h2.events.ResponseReceived):
            self.heads[ev.stream_id] = dict(ev.headers)
        elif isinstance(ev, h2.events.TrailersReceived):
            self.trailers[ev.stream_id] = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
            if ev.flow_controlled_length and ev.stream_id in self.noack:
                self.conn.increment_flow_control_window(
                    ev.flow_controlled_length)
            elif ev.flow_controlled_length:
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = ev.error_code
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.settings[k] = v.new_value

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()
