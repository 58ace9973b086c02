"""The public page in a real browser: headless Chromium with the
User-Agent of each platform loads the webui's page, which must lead with
that platform's download (the first link of the page) and its steps; the
file behind that link must parse as its format and hold the CA mitmd
serves (PEM, DER, or the iOS profile whose PayloadContent is the CA's
DER). The other platforms are a click away, the page works without
JavaScript, and any client of the proxy reaches it at http://mitmd.cert/.

Skips only when Chromium cannot start at all (pylib/browser.py)."""

import hashlib
import os
import plistlib
import re
import urllib.request
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pylib import browser, util
from pylib import mitmd as mitmd_mod

FETCH_TIMEOUT = 10
CA_TIMEOUT = 20

UA = {
    "ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
           "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
           "Mobile/15E148 Safari/604.1",
    "ipados": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) "
              "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
              "Mobile/15E148 Safari/604.1",
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) "
               "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
               "Mobile Safari/537.36",
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
               "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
               "Safari/537.36",
    "macos": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
             "Safari/605.1.15",
    "linux": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
}

# platform: (file of the lead link, its Content-Type, steps to find)
LEAD = {
    "ios": ("mitmd-ca.mobileconfig", "application/x-apple-aspen-config",
            ["Settings", "Certificate Trust Settings", "full trust"]),
    "ipados": ("mitmd-ca.mobileconfig", "application/x-apple-aspen-config",
               ["Certificate Trust Settings"]),
    "android": ("mitmd-ca.crt", "application/x-x509-ca-cert",
                ["Install a certificate", "CA certificate", "Android 7",
                 "needs root", "Android 14", "APEX"]),
    "windows": ("mitmd-ca.cer", "application/x-x509-ca-cert",
                ["certutil -addstore -f Root mitmd-ca.cer"]),
    "macos": ("mitmd-ca.pem", "application/x-pem-file",
              ["sudo security add-trusted-cert -d -r trustRoot -k "
               "/Library/Keychains/System.keychain mitmd-ca.pem"]),
    "linux": ("mitmd-ca.pem", "application/x-pem-file",
              ["update-ca-certificates",
               "/usr/local/share/ca-certificates/mitmd-ca.crt", "Firefox",
               "Privacy & Security", "Certificates", "Import",
               "policies.json"]),
}


@pytest.fixture(scope="module")
def page_mitmd(build):
    m = mitmd_mod.Mitmd(rules=['tunnel host "127.0.0.1"'])
    try:
        yield m
    finally:
        try:
            m.close()
        finally:
            m.cleanup()


@pytest.fixture(scope="module")
def ca_der(page_mitmd):
    """The CA certificate (DER) as certd wrote it, once webui serves it."""
    path = os.path.join(page_mitmd.state_dir, "ca", "ca.pem")

    def served():
        try:
            with _opener().open(_url(page_mitmd, "/ca.pem"),
                                timeout=FETCH_TIMEOUT) as r:
                return r.status == 200
        except OSError:
            return False
    util.wait_until(served, CA_TIMEOUT, "the CA on the webui")
    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return cert.public_bytes(serialization.Encoding.DER)


def _opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _url(m, path):
    return f"http://127.0.0.1:{m.webui_port}{path}"


def _fetch(url):
    with _opener().open(url, timeout=FETCH_TIMEOUT) as r:
        return r.headers, r.read()


def _browser(**kw):
    try:
        return browser.Browser(**kw)
    except browser.NoBrowser as e:
        pytest.skip(str(e))


def _lead(d):
    """(first link of the page, the steps' text)."""
    from selenium.webdriver.common.by import By
    links = d.find_elements(By.TAG_NAME, "a")
    assert links, "the page has no link"
    steps = d.find_element(By.ID, "steps").text
    return links[0], steps


def _check_file(name, headers, body, ca_der):
    """The downloaded file parses as its format and is the CA."""
    if name.endswith(".mobileconfig"):
        pl = plistlib.loads(body)
        assert pl["PayloadType"] == "Configuration"
        (p,) = pl["PayloadContent"]
        assert p["PayloadType"] == "com.apple.security.root"
        assert p["PayloadContent"] == ca_der
        ids = [pl["PayloadUUID"], p["PayloadUUID"]]
        assert len(set(ids)) == 2
        for u in ids:
            assert str(uuid.UUID(u)).upper() == u
        return ids
    if name.endswith(".pem"):
        assert body.startswith(b"-----BEGIN CERTIFICATE-----")
        cert = x509.load_pem_x509_certificate(body)
    else:
        cert = x509.load_der_x509_certificate(body)
        assert body == ca_der
    assert cert.public_bytes(serialization.Encoding.DER) == ca_der
    assert b"PRIVATE" not in body
    return None


@pytest.mark.parametrize("platform", list(LEAD))
def test_page_leads_with_the_platform(page_mitmd, ca_der, platform):
    from selenium.webdriver.common.by import By
    name, ctype, steps_want = LEAD[platform]
    with _browser(ua=UA[platform]) as b:
        d = b.driver
        d.get(_url(page_mitmd, "/"))
        assert d.execute_script("return navigator.userAgent") == \
            UA[platform]
        first, steps = _lead(d)
        assert first.get_attribute("id") == "download"
        assert first.is_displayed()
        href = first.get_attribute("href")
        assert href == _url(page_mitmd, "/" + name), href
        for s in steps_want:
            assert s in steps, (s, steps)
        # The fingerprint and expiry, to compare.
        fpr = d.find_element(By.ID, "sha256").text
        assert fpr.replace(":", "").lower() == \
            hashlib.sha256(ca_der).hexdigest()
        assert re.match(r"\d{4}-\d\d-\d\d ",
                        d.find_element(By.ID, "not-after").text)
        # The other platforms are links, this one is not among them.
        others = [a.get_attribute("href") for a in
                  d.find_elements(By.CSS_SELECTOR, "#others a")]
        assert len(others) == 4
    headers, body = _fetch(href)
    assert headers["Content-Type"] == ctype
    assert name in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    ids = _check_file(name, headers, body, ca_der)
    if ids:
        # Stable: derived from the CA, the same at the next download.
        assert _check_file(name, *_fetch(href), ca_der) == ids


def test_other_platform_is_a_click_away(page_mitmd, ca_der):
    from selenium.webdriver.common.by import By
    with _browser(ua=UA["ios"]) as b:
        d = b.driver
        d.get(_url(page_mitmd, "/"))
        d.find_element(By.CSS_SELECTOR,
                       "#others a[href='/?os=android']").click()
        util.wait_until(lambda: d.current_url.endswith("/?os=android"),
                        10, "the Android page")
        first, steps = _lead(d)
        assert first.get_attribute("href").endswith("/mitmd-ca.crt")
        assert "Android 7" in steps
        headers, body = _fetch(first.get_attribute("href"))
        _check_file("mitmd-ca.crt", headers, body, ca_der)


def test_page_without_javascript(page_mitmd, ca_der):
    with _browser(ua=UA["android"], js=False) as b:
        d = b.driver
        # JavaScript is off for pages: a script cannot set the title.
        d.get("data:text/html,<title>off</title>"
              "<script>document.title='on'</script>")
        assert d.title == "off"
        d.get(_url(page_mitmd, "/?os=windows"))
        first, steps = _lead(d)
        assert first.is_displayed()
        assert first.get_attribute("href").endswith("/mitmd-ca.cer")
        assert "certutil" in steps
        _check_file("mitmd-ca.cer", *_fetch(first.get_attribute("href")),
                    ca_der)


def test_mitmd_cert_through_the_proxy(page_mitmd, ca_der):
    # Chromium sends http://mitmd.cert/ to the proxy, which answers with
    # the webui: the name is never resolved.
    with _browser(ua=UA["macos"],
                  proxy=f"127.0.0.1:{page_mitmd.proxy_port}") as b:
        d = b.driver
        d.get("http://mitmd.cert/")
        first, steps = _lead(d)
        href = first.get_attribute("href")
        assert href == "http://mitmd.cert/mitmd-ca.pem"
        assert "add-trusted-cert" in steps
    _check_file("mitmd-ca.pem", *_fetch(_url(page_mitmd, "/mitmd-ca.pem")),
                ca_der)
    page_mitmd.wait_audit(target="mitmd.cert:80", rule="mitmd.cert")
