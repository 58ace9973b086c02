"""Clients of the proxy: raw sockets for what curl will not send (broken
CONNECT lines, huge heads), and thin wrappers around curl."""

import hashlib
import os
import socket
import ssl
import subprocess

HEAD_MAX = 256 * 1024   # what we accept of a response head from the proxy
IO_TIMEOUT = 30         # seconds any single read or write may take
CURL_TIMEOUT = 120


class Response:
    def __init__(self, status, reason, headers, body=b"", raw_head=b""):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} {len(self.body)}B>"


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_head(sock):
    """Read up to the blank line; returns (Response without body, bytes
    read past the head). Raises ConnectionError on EOF before a head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            raise ValueError("response head too large")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"EOF before a response head (got {buf!r})")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    resp = Response(int(parts[1]), parts[2] if len(parts) > 2 else "",
                    headers, raw_head=head + b"\r\n\r\n")
    return resp, rest


def read_exact(sock, n, first=b""):
    buf = bytearray(first)
    while len(buf) < n:
        data = sock.recv(min(1 << 20, n - len(buf)))
        if not data:
            raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def read_to_eof(sock, first=b"", limit=1 << 30):
    buf = bytearray(first)
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return bytes(buf)
        buf += data
        if len(buf) > limit:
            raise ValueError("body over limit")


def read_response(sock, method="GET"):
    """A whole response with a Content-Length body (or none); the socket
    stays usable for the next request."""
    resp, rest = read_head(sock)
    n = resp.header("Content-Length")
    if method == "HEAD" or resp.status in (204, 304) or n is None:
        if n is None and resp.header("Connection") == "close":
            resp.body = read_to_eof(sock, rest)
        else:
            resp.body = rest
        return resp
    resp.body = read_exact(sock, int(n), rest)
    if len(resp.body) != int(n):
        raise ValueError("read past the body")
    return resp


def raw_request(port, data, host="127.0.0.1", timeout=IO_TIMEOUT):
    """Send data on a new connection to the proxy and read a response head
    and whatever body follows until EOF or Content-Length. Returns the
    Response; the connection is closed."""
    with connect(port, host, timeout) as s:
        s.sendall(data)
        resp, rest = read_head(s)
        n = resp.header("Content-Length")
        if n is not None:
            resp.body = read_exact(s, int(n), rest)
        else:
            resp.body = rest
        return resp


def proxy_connect(port, target, extra=b"", timeout=IO_TIMEOUT):
    """CONNECT target through the proxy; returns (socket, Response, rest).
    The caller owns the socket."""
    s = connect(port, timeout=timeout)
    try:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
                  .encode() + extra + b"\r\n")
        resp, rest = read_head(s)
        return s, resp, rest
    except BaseException:
        s.close()
        raise


def tunnel_tls(port, origin, path, server_hostname="127.0.0.1",
               timeout=IO_TIMEOUT):
    """GET path from an HttpsOrigin through a CONNECT tunnel with Python's
    TLS; returns the Response (body read whole)."""
    s, resp, rest = proxy_connect(port, origin.hostport, timeout=timeout)
    if resp.status != 200 or rest:
        s.close()
        raise AssertionError(f"CONNECT answered {resp} (extra {rest!r})")
    ctx = origin.client_context()
    with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
        t.sendall(f"GET {path} HTTP/1.1\r\nHost: {origin.hostport}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        return read_response(t)


class TunnelStream:
    """A GET through a tunnel whose body is read in pieces, so a test can
    hold many transfers open at once and see which worker carries each."""

    def __init__(self, port, origin, path, timeout=IO_TIMEOUT):
        self.sock, resp, rest = proxy_connect(port, origin.hostport,
                                              timeout=timeout)
        if resp.status != 200:
            self.sock.close()
            raise AssertionError(f"CONNECT answered {resp}")
        self.local_port = self.sock.getsockname()[1]
        self.tls = origin.client_context().wrap_socket(
            self.sock, server_hostname="127.0.0.1")
        self.tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {origin.hostport}"
                         f"\r\nConnection: close\r\n\r\n".encode())
        self.resp, self._rest = read_head(self.tls)
        self.length = int(self.resp.header("Content-Length"))
        self.sha = hashlib.sha256(self._rest)
        self.got = len(self._rest)
        self.error = None

    def read_all(self):
        """Read the rest of the body; sets .error on a broken transfer."""
        try:
            while self.got < self.length:
                data = self.tls.recv(1 << 20)
                if not data:
                    raise ConnectionError(
                        f"EOF after {self.got} of {self.length} bytes")
                self.sha.update(data)
                self.got += len(data)
        except (OSError, ssl.SSLError, ConnectionError) as e:
            self.error = e
        finally:
            self.close()
        return self

    def digest(self):
        return self.sha.hexdigest()

    def close(self):
        try:
            self.tls.close()
        except OSError:
            pass


def curl(args, timeout=CURL_TIMEOUT, check=False):
    """Run curl -sS with args; returns CompletedProcess (bytes)."""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy")}
    return subprocess.run(["curl", "-sS", *args], env=env,
                          capture_output=True, timeout=timeout, check=check)


def curl_status(args, timeout=CURL_TIMEOUT):
    """curl ... -o /dev/null -w '%{http_code} %{http_connect}'."""
    p = curl(["-o", "/dev/null", "-w", "%{http_code} %{http_connect}",
              *args], timeout)
    code, connect_code = p.stdout.decode().split()
    return p.returncode, int(code), int(connect_code), p.stderr.decode()
