"""webui: a status page with the CA fingerprint, the CA certificate as PEM
and as DER (the same certificate, never a key), 404 elsewhere; ECDSA P-256
by default, RSA 3072 with `ca key rsa`."""

import hashlib
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from pylib import util

FETCH_TIMEOUT = 10
CA_TIMEOUT = 20     # certd creates the CA (RSA 3072 takes a while)


def _get(m, path):
    """(status, content type, body) of a GET on the webui, no proxies."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://127.0.0.1:{m.webui_port}{path}"
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _wait_ca(m):
    def ok():
        st, _, body = _get(m, "/ca.pem")
        return body if st == 200 else None
    return util.wait_until(ok, CA_TIMEOUT, "the CA certificate on the webui")


def _openssl(args, data):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def _check_ca(m, key_text_re):
    pem = _wait_ca(m)
    assert b"PRIVATE KEY" not in pem
    der_from_pem = _openssl(["x509", "-outform", "der"], pem)
    st, ctype, der = _get(m, "/ca.der")
    assert st == 200
    assert b"PRIVATE" not in der
    der_parsed = _openssl(["x509", "-inform", "der", "-outform", "der"], der)
    assert der_parsed == der_from_pem == der, "ca.pem and ca.der differ"
    text = _openssl(["x509", "-inform", "der", "-noout", "-text"],
                    der).decode()
    assert re.search(key_text_re, text), text
    assert re.search(r"CA:TRUE", text), text
    # The certificate is the one certd keeps in the state directory.
    with open(os.path.join(m.state_dir, "ca", "ca.pem"), "rb") as f:
        assert _openssl(["x509", "-outform", "der"], f.read()) == der
    # The index page: HTML with the SHA-256 fingerprint of that DER.
    st, ctype, page = _get(m, "/")
    assert st == 200 and ctype.startswith("text/html"), ctype
    fpr = hashlib.sha256(der).hexdigest()
    flat = re.sub(r"[^0-9a-f]", "", page.decode().lower())
    assert fpr in flat, "the page does not show the CA's SHA-256"
    assert b"<html" in page.lower()
    return der


def test_default_ca_ecdsa_p256(mitmd_factory):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    _check_ca(m, r"(?s)id-ecPublicKey.*(prime256v1|P-256)")


def test_ca_key_rsa_3072(mitmd_factory):
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'],
                      extra=["ca key rsa"])
    _check_ca(m, r"(?s)rsaEncryption.*Public-Key: \(3072 bit\)")


def test_ca_survives_restart(mitmd_factory, tmp_path):
    """A second start on the same state directory serves the same CA."""
    m = mitmd_factory(rules=['tunnel host "127.0.0.1"'])
    first = _check_ca(m, r"id-ecPublicKey")
    m.close()
    m2 = mitmd_factory(rules=['tunnel host "127.0.0.1"'], base=m.base)
    assert _check_ca(m2, r"id-ecPublicKey") == first


@pytest.mark.parametrize("path", ["/nope", "/ca.key", "/../ca.key",
                                  "/ca.pem/x", "/index.html.bak"])
def test_unknown_path_404(shared_mitmd, path):
    st, _, body = _get(shared_mitmd, path)
    assert st == 404
    assert b"PRIVATE" not in body


def test_content_types(shared_mitmd):
    _wait_ca(shared_mitmd)
    st, ctype, _ = _get(shared_mitmd, "/ca.pem")
    assert st == 200 and ("x509" in ctype or "pem" in ctype), ctype
    st, ctype, _ = _get(shared_mitmd, "/ca.der")
    assert st == 200 and ("x509" in ctype or "der" in ctype), ctype
