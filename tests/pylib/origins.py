"""Local origins the proxy relays to, all on loopback.

- HttpsOrigin: Python's threading HTTP server behind TLS (a self-signed
  certificate made with `openssl req -x509`), serving deterministic bodies
  of any size and counting every TCP connection it accepts.
- HttpOrigin: the same without TLS, keep-alive aware, recording each
  request line and its header fields, for absolute-form forwarding.
- NginxOrigin: nginx on a temporary config for the large transfer.

Paths served by the Python origins:
  /bytes/N            N bytes of body(N)
  /slow/N/MS          N bytes of body(N), a CHUNK every MS milliseconds
  /echo-headers       the request's header fields as JSON
  anything else       200 with a short text body naming the path
"""

import hashlib
import http.server
import json
import os
import random
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time

from . import util

SLOW_CHUNK = 64 * 1024
ORIGIN_SOCK_TIMEOUT = 60  # seconds a handler waits on a silent client
ORIGIN_BACKLOG = 1024     # the 500-tunnel burst must not overflow it


def body(n):
    """The deterministic body of size n: pseudo-random bytes, so a shifted
    or repeated block would change the digest."""
    return random.Random(n).randbytes(n)


def body_sha256(n):
    return hashlib.sha256(body(n)).hexdigest()


def make_cert(dirpath, name="origin", cn="127.0.0.1"):
    """A self-signed ECDSA certificate for 127.0.0.1, ::1 and localhost.
    Returns (certfile, keyfile)."""
    cert = os.path.join(dirpath, f"{name}.pem")
    key = os.path.join(dirpath, f"{name}.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", f"/CN={cn}", "-addext",
         "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)  # nginx's workers run as nobody
    return cert, key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = ORIGIN_SOCK_TIMEOUT

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.server.origin._record(self)
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "bytes" and len(parts) == 2:
            n = int(parts[1])
            self._send(200, body(n))
        elif parts[0] == "slow" and len(parts) == 3:
            self._send_slow(int(parts[1]), int(parts[2]))
        elif parts[0] == "echo-headers":
            data = json.dumps(list(self.headers.items())).encode()
            self._send(200, data, "application/json")
        else:
            self._send(200, f"path {self.path}\n".encode())

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        self.server.origin._record(self)
        self._send(200, hashlib.sha256(data).hexdigest().encode())

    def _send(self, code, data, ctype="application/octet-stream"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_slow(self, n, ms):
        data = body(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        self.wfile.flush()
        for off in range(0, n, SLOW_CHUNK):
            self.wfile.write(data[off:off + SLOW_CHUNK])
            self.wfile.flush()
            time.sleep(ms / 1000.0)  # the origin's pace, not a test wait


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = ORIGIN_BACKLOG

    def __init__(self, origin, addr, family):
        self.address_family = family
        self.origin = origin
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        self.origin._accepted()
        if self.origin.ssl_ctx is not None:
            # The handshake happens in the handler's thread (finish_request)
            # so a client that stalls cannot stop the accept loop.
            sock = self.origin.ssl_ctx.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        request.settimeout(ORIGIN_SOCK_TIMEOUT)
        if self.origin.ssl_ctx is not None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-body is expected in some tests


class HttpOrigin:
    """A plain HTTP/1.1 origin on loopback. .port, .connections (accepted
    TCP connections), .requests (dicts: line, headers, client)."""

    ssl_ctx = None

    def __init__(self, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._lock = threading.Lock()
        self.connections = 0
        self.requests = []
        self._srv = _Server(self, (host, 0), family)
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    @property
    def hostport(self):
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{h}:{self.port}"

    def _accepted(self):
        with self._lock:
            self.connections += 1

    def _record(self, handler):
        with self._lock:
            self.requests.append({
                "line": handler.requestline,
                "headers": list(handler.headers.items()),
                "client": handler.client_address,
            })

    def reset(self):
        with self._lock:
            self.connections = 0
            self.requests = []

    def close(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)


class HttpsOrigin(HttpOrigin):
    """The same behind TLS with the certificate from make_cert()."""

    def __init__(self, certfile, keyfile, host="127.0.0.1"):
        self.certfile = certfile
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self.ssl_ctx = ctx
        super().__init__(host)

    def client_context(self):
        """An SSL client context that trusts this origin only."""
        ctx = ssl.create_default_context(cafile=self.certfile)
        return ctx


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type application/octet-stream;
    types {{ text/event-stream sse; }}
    sendfile on;
    server {{
        listen 127.0.0.1:{port}{ssl}{h2};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {dir}/www;
{extra}
    }}
}}
"""


class NginxOrigin:
    """nginx serving {dir}/www over TLS on a free loopback port. Files put
    there must be world-readable: nginx run as root drops its workers to
    nobody. extra: directives added to its server block."""

    def __init__(self, dirpath, certfile, keyfile, http2=False, tls=True,
                 extra=""):
        self.dir = dirpath
        self.certfile = certfile
        self.www = os.path.join(dirpath, "www")
        os.makedirs(self.www, exist_ok=True)
        os.makedirs(os.path.join(dirpath, "tmp"), exist_ok=True)
        for d in (dirpath, self.www):
            os.chmod(d, 0o755)
        self.port = util.free_port()
        conf = os.path.join(dirpath, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=dirpath, port=self.port,
                                      cert=certfile, key=keyfile,
                                      h2=" http2" if http2 else "",
                                      ssl=" ssl" if tls else "",
                                      extra=extra))
        self.proc = subprocess.Popen(
            [shutil.which("nginx") or "/usr/sbin/nginx", "-p", dirpath,
             "-e", os.path.join(dirpath, "error.log"), "-c", conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(dirpath, "stderr.log"), "wb"))
        try:
            util.wait_until(self._listening, 15, "nginx to listen")
        except AssertionError:
            self.close()
            raise

    def _listening(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "stderr.log")) as f:
                raise AssertionError(f"nginx exited: {f.read()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def put(self, name, data):
        """Write www/name with data (str or bytes), world-readable."""
        path = os.path.join(self.www, name)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(path, 0o644)

    def add_file(self, name, data_len, chunk=8 << 20):
        """Write www/name of data_len deterministic bytes; return its
        sha256."""
        path = os.path.join(self.www, name)
        h = hashlib.sha256()
        rnd = random.Random(data_len)
        with open(path, "wb") as f:
            left = data_len
            while left:
                n = min(chunk, left)
                b = rnd.randbytes(n)
                h.update(b)
                f.write(b)
                left -= n
        os.chmod(path, 0o644)
        return h.hexdigest()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # nginx: fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
