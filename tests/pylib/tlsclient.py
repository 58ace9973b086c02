"""A TLS client through mitmd's interception, for tests that look at the
certificate a client is given: CONNECT, a handshake that trusts the
mitmd CA alone, one GET, and the leaf as DER; plus what the tests compare
it with (its fields, parsed with python3-cryptography) and origin
certificates with chosen SANs.
"""

import datetime
import hashlib
import ipaddress
import os
import ssl
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import client


class Leaf:
    """What a test checks on a certificate (from DER)."""

    def __init__(self, der):
        self.der = der
        c = x509.load_der_x509_certificate(der)
        self.cert = c
        self.issuer = c.issuer.rfc4514_string()
        self.subject = c.subject.rfc4514_string()
        self.serial = c.serial_number
        self.not_before = epoch(c.not_valid_before)
        self.not_after = epoch(c.not_valid_after)
        spki = c.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.spki_sha256 = hashlib.sha256(spki).hexdigest()
        self.sans = []
        try:
            san = c.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
            for g in san:
                if isinstance(g, x509.DNSName):
                    self.sans.append("DNS:" + g.value)
                elif isinstance(g, x509.IPAddress):
                    self.sans.append("IP:" + str(g.value))
        except x509.ExtensionNotFound:
            pass

    def ext(self, cls):
        """(critical, value) of an extension, or None."""
        try:
            e = self.cert.extensions.get_extension_for_class(cls)
        except x509.ExtensionNotFound:
            return None
        return e.critical, e.value


def epoch(dt):
    """Seconds since the epoch of a naive UTC datetime."""
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


def load_pem(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def intercept(proxy_port, target, cafile, server_hostname, path="/",
              timeout=client.IO_TIMEOUT):
    """CONNECT target, TLS trusting cafile only, GET path. server_hostname
    is the SNI and the name checked (an IP literal sends no SNI and is
    checked against the IP SANs). Returns (Leaf, Response)."""
    s, resp, rest = client.proxy_connect(proxy_port, target,
                                         timeout=timeout)
    if resp.status != 200 or rest:
        s.close()
        raise AssertionError(f"CONNECT {target} answered {resp}")
    ctx = ssl.create_default_context(cafile=cafile)
    with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
        der = t.getpeercert(binary_form=True)
        t.sendall(f"GET {path} HTTP/1.1\r\nHost: {target}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        r = client.read_response(t)
    return Leaf(der), r


def make_cert(dirpath, name, cn, sans, days=2):
    """A self-signed ECDSA certificate (and key) with these SANs, e.g.
    "DNS:*.example.test,DNS:localhost". Returns (certfile, keyfile)."""
    cert = os.path.join(dirpath, f"{name}.pem")
    key = os.path.join(dirpath, f"{name}.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", str(days),
         "-subj", f"/CN={cn}", "-addext", f"subjectAltName={sans}",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def san_strings(cert):
    """The SANs of a cryptography certificate as "DNS:x"/"IP:y"."""
    out = []
    san = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    for g in san:
        if isinstance(g, x509.DNSName):
            out.append("DNS:" + g.value)
        elif isinstance(g, x509.IPAddress):
            out.append("IP:" + str(ipaddress.ip_address(g.value)))
    return out
