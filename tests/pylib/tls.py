"""TLS fixtures for the interception tests.

- TestCA: a CA of the tests' own that issues origin certificates of any
  shape (DNS names, wildcards, IP addresses, validity in the past or the
  future), written as PEM files; also self-signed certificates.
- TlsOrigin: a threaded HTTPS/1.1 origin with the bodies the tests need:
  Content-Length, chunked with trailers, close-delimited, HEAD, 204, 304,
  an echo of request bodies, and a count of TCP connections.
- Helpers to read what a client saw: the peer certificate's issuer and
  SANs, a client context that trusts the mitmd CA, a TLS GET through the
  proxy's CONNECT.

Certificates come from python3-cryptography (Debian's), not from the
openssl command, so that expired and not-yet-valid ones need no clock
tricks.
"""

import datetime
import hashlib
import http.server
import ipaddress
import os
import shutil
import socket
import socketserver
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import client, origins
from . import mitmd as _mitmd

SOCK_TIMEOUT = 60      # seconds an origin handler waits on a silent client
CHUNK = 64 * 1024      # piece size of the chunked and close-delimited bodies
BACKLOG = 1024

# Start mitmd with -v (debug logs to the syslog collector) through the
# harness's wrapper hook: sh forks mitmd, which stays the wrapper's child
# named "mitmd", as the harness expects of a wrapper.
VERBOSE_PREFIX = ("/bin/sh", "-c", '"$0" -v "$@"')


# The tests ask this module whether a keyword is accepted yet.
config_accepted = _mitmd.config_accepted


def assert_no_violation(m):
    """No process of m was killed by its seccomp filter (SIGSYS): the
    TLS path needs no call beyond the worker's list."""
    bad = [line for line in m.syslog.snapshot() if "SIGSYS" in line or
           "sandbox violation" in line]
    assert not bad, bad


# --- a mitmd that intercepts -------------------------------------------------

def start_mitmd(build, test_ca, extra=(), events=True, workers=1, **kw):
    """A Mitmd that trusts test_ca's origins (`upstream ca-file`), with
    one worker unless told. events: its events go to a file in its
    directory, m.events_path (None without). extra: config lines after
    those two; kw: the rest of Mitmd's arguments (rules, drain,
    argv_prefix...). Every keyword the tests use exists now: a config
    that `mitmd -n` refuses fails the test."""
    base = _mitmd.tempdir()
    lines = [f'upstream ca-file "{test_ca.certfile}"']
    path = None
    if events:
        path = os.path.join(base, "events.jsonl")
        lines.append(f'events file "{path}"')
    lines += list(extra)
    ok, err = config_accepted(build, lines)
    if not ok:
        shutil.rmtree(base, ignore_errors=True)
    assert ok, f"config refused: {err}"
    m = _mitmd.Mitmd(extra=lines, workers=workers, base=base, **kw)
    m.events_path = path
    return m


def stop_mitmd(m):
    """The end of a start_mitmd: no seccomp violation, then close (no
    process left) and remove its directory whatever happened."""
    try:
        assert_no_violation(m)
        m.close()
    finally:
        m.cleanup()


def running_mitmd(build, test_ca, extra=(), **kw):
    """start_mitmd, then stop_mitmd, for a fixture:
    `yield from tls.running_mitmd(build, test_ca, [...])`."""
    m = start_mitmd(build, test_ca, extra, **kw)
    yield m
    stop_mitmd(m)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _write_pem(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)  # nginx's workers run as nobody


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _sans(dns, ips):
    names = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return x509.SubjectAlternativeName(names)


class TestCA:
    """A CA for the origins; .certfile is what `upstream ca-file` names."""

    def __init__(self, dirpath, name="mitmd tests origin CA"):
        self.dir = dirpath
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                  name)])
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.certfile = os.path.join(dirpath, "test-ca.pem")
        _write_pem(self.certfile,
                   self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, label, dns=(), ips=(), cn=None, days_from=-1,
              days_to=10, self_signed=False):
        """An origin certificate; returns (certfile, keyfile). days_from
        and days_to place its validity around now (both negative: it has
        expired)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subj = x509.Name([x509.NameAttribute(
            NameOID.COMMON_NAME, cn or (list(dns) + list(ips))[0])])
        now = _now()
        b = (x509.CertificateBuilder()
             .subject_name(subj)
             .issuer_name(subj if self_signed else self.name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now + datetime.timedelta(days=days_from))
             .not_valid_after(now + datetime.timedelta(days=days_to)))
        if dns or ips:
            b = b.add_extension(_sans(dns, ips), critical=False)
        cert = b.sign(key if self_signed else self.key, hashes.SHA256())
        certfile = os.path.join(self.dir, f"{label}.pem")
        keyfile = os.path.join(self.dir, f"{label}.key")
        _write_pem(certfile, cert.public_bytes(serialization.Encoding.PEM))
        _write_pem(keyfile, _key_pem(key))
        return certfile, keyfile


# --- what a client saw ------------------------------------------------------

def mitmd_ca(m):
    """The mitmd CA certificate file of a running Mitmd."""
    return os.path.join(m.state_dir, "ca", "ca.pem")


def mitmd_context(m, alpn=("http/1.1",)):
    """A client context that trusts the mitmd CA alone."""
    ctx = ssl.create_default_context(cafile=mitmd_ca(m))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def cert_info(der):
    """(issuer CN, sorted SAN strings, certificate) of a DER certificate;
    SANs read "DNS:name" or "IP:addr"."""
    c = x509.load_der_x509_certificate(der)
    issuer = c.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sans = []
    try:
        ext = c.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        sans += [f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
        sans += [f"IP:{n}" for n in ext.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return issuer, sorted(sans), c


def connect_tls(port, target, ctx, server_hostname, timeout=30):
    """CONNECT target through the proxy on port and run the TLS handshake
    with ctx; returns the TLS socket (raises ssl.SSLError and the like)."""
    s, resp, rest = client.proxy_connect(port, target, timeout=timeout)
    if resp.status != 200 or rest:
        s.close()
        raise AssertionError(f"CONNECT {target} answered {resp} "
                             f"(extra {rest!r})")
    try:
        return ctx.wrap_socket(s, server_hostname=server_hostname)
    except BaseException:
        s.close()
        raise


def request(t, path, host, method="GET", headers=(), body=None):
    """One request on an open TLS socket; returns the Response with its
    whole body (Content-Length, chunked or close-delimited)."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    head += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        head.append(f"Content-Length: {len(body)}")
    t.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
    return read_response(t, method)


def read_response(sock, method="GET"):
    """A whole response: Content-Length, chunked (trailers kept in
    .trailers) or until EOF."""
    resp, rest = client.read_head(sock)
    resp.trailers = []
    if method == "HEAD" or resp.status in (204, 304) or \
            resp.status // 100 == 1:
        resp.body = rest
        return resp
    te = (resp.header("Transfer-Encoding") or "").lower()
    n = resp.header("Content-Length")
    if te == "chunked":
        resp.body, resp.trailers = _read_chunked(sock, rest)
    elif n is not None:
        resp.body = client.read_exact(sock, int(n), rest)
    else:
        resp.body = client.read_to_eof(sock, rest)
    return resp


class _Reader:
    def __init__(self, sock, first):
        self.sock = sock
        self.buf = bytearray(first)

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _more(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("EOF in a chunked body")
        self.buf += data


def _read_chunked(sock, first):
    r = _Reader(sock, first)
    body = bytearray()
    while True:
        size = int(r.line().split(b";")[0], 16)
        if size == 0:
            break
        body += r.exact(size)
        if r.exact(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
    trailers = []
    while True:
        line = r.line()
        if not line:
            break
        k, _, v = line.decode("latin-1").partition(":")
        trailers.append((k.strip(), v.strip()))
    return bytes(body), trailers


# --- ClientHellos -----------------------------------------------------------

PQ_GROUP = 0x11ec      # X25519MLKEM768
PQ_SHARE = 1216        # bytes of its client key share


def client_hello(server_hostname="localhost", alpn=("http/1.1",)):
    """The handshake message of a real ClientHello (Python's OpenSSL),
    without its record header."""
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[0] == 22 and data[5] == 1, data[:6]
    return data[5:]


def with_pq_share(msg):
    """The ClientHello msg with a post-quantum-sized key share (group
    X25519MLKEM768, random bytes) added in front, as browsers send them:
    over 1 KiB. A server that does not know the group uses the next."""
    body = msg[4:]
    p = 2 + 32
    p += 1 + body[p]                                  # session id
    p += 2 + int.from_bytes(body[p:p + 2], "big")     # cipher suites
    p += 1 + body[p]                                  # compression
    head, p = body[:p], p + 2
    exts = []
    while p < len(body):
        t = int.from_bytes(body[p:p + 2], "big")
        n = int.from_bytes(body[p + 2:p + 4], "big")
        exts.append([t, body[p + 4:p + 4 + n]])
        p += 4 + n
    for e in exts:
        if e[0] == 51:       # key_share
            shares = (PQ_GROUP.to_bytes(2, "big") +
                      PQ_SHARE.to_bytes(2, "big") + os.urandom(PQ_SHARE) +
                      e[1][2:])
            e[1] = len(shares).to_bytes(2, "big") + shares
        elif e[0] == 10:     # supported_groups
            g = PQ_GROUP.to_bytes(2, "big") + e[1][2:]
            e[1] = len(g).to_bytes(2, "big") + g
    ext = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d
                   for t, d in exts)
    body = head + len(ext).to_bytes(2, "big") + ext
    return b"\x01" + len(body).to_bytes(3, "big") + body


def records(msg, size):
    """msg as TLS handshake records of at most size bytes each."""
    return b"".join(b"\x16\x03\x01" + len(msg[i:i + size]).to_bytes(2, "big")
                    + msg[i:i + size] for i in range(0, len(msg), size))


# --- the origin -------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    """Paths:
      /bytes/N      N bytes of origins.body(N), Content-Length
      /chunked/N    the same in chunks, then trailers X-Digest and X-End
      /close/N      the same until the origin closes (no length)
      /status/C     an empty response with status C (204, 304, ...)
      POST /echo    the SHA-256 of the request body, as hex
      anything else a short text naming the path
    """
    protocol_version = "HTTP/1.1"
    timeout = SOCK_TIMEOUT

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.server.origin.requests += 1
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 2 and parts[0] in ("bytes", "chunked", "close"):
            data = origins.body(int(parts[1]))
            getattr(self, "_" + parts[0])(data)
        elif len(parts) == 2 and parts[0] == "status":
            self.send_response(int(parts[1]))
            self.end_headers()
        else:
            self._bytes(f"path {self.path}\n".encode(), "text/plain")

    do_HEAD = do_GET

    def do_POST(self):
        self.server.origin.requests += 1
        h = hashlib.sha256()
        if (self.headers.get("Transfer-Encoding") or "").lower() == \
                "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                h.update(self.rfile.read(size))
                self.rfile.read(2)
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    break
                h.update(data)
                left -= len(data)
        self._bytes(h.hexdigest().encode(), "text/plain")

    def _bytes(self, data, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _chunked(self, data):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Digest, X-End")
        self.end_headers()
        if self.command == "HEAD":
            return
        for off in range(0, len(data), CHUNK):
            piece = data[off:off + CHUNK]
            self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\nX-Digest: " +
                         hashlib.sha256(data).hexdigest().encode() +
                         b"\r\nX-End: yes\r\n\r\n")

    def _close(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        for off in range(0, len(data), CHUNK):
            self.wfile.write(data[off:off + CHUNK])


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(self, origin, addr):
        self.origin = origin
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        self.origin.connections += 1
        sock = self.origin.ssl_ctx.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        request.settimeout(SOCK_TIMEOUT)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        if request.session_reused:
            self.origin.resumed += 1
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class TlsOrigin:
    """An HTTPS origin on 127.0.0.1 with the given certificate. .port,
    .connections (TCP connections accepted), .resumed (of them, TLS
    handshakes that resumed a session), .requests."""

    def __init__(self, certfile, keyfile):
        self.certfile = certfile
        self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_ctx.load_cert_chain(certfile, keyfile)
        self.ssl_ctx.set_alpn_protocols(["http/1.1"])
        self.connections = 0
        self.resumed = 0
        self.requests = 0
        self._srv = _Server(self, ("127.0.0.1", 0))
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def close(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)


class RawServer:
    """A TCP server that writes greeting to each client, then echoes what
    it reads back upper-cased, until EOF: a server-first protocol that is
    neither TLS nor HTTP."""

    def __init__(self, greeting=b"220 raw ready\r\n"):
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        with c:
            try:
                if self.greeting:
                    c.sendall(self.greeting)
                while True:
                    data = c.recv(65536)
                    if not data:
                        return
                    c.sendall(data.upper())
            except OSError:
                return

    def close(self):
        self.sock.close()
