"""Headless Chromium driven by chromedriver (Debian's chromium,
chromium-driver, python3-selenium), for the tests of the web pages.

Browser(...) starts one; close() quits it, then kills by pid whatever of
chromedriver and its descendants is left. NoBrowser is raised when
Chromium cannot start at all, so a test can skip with the reason."""

import os
import shutil
import signal
import tempfile

from . import util

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE_TIMEOUT = 20     # seconds for a page load or a script
EXIT_TIMEOUT = 10


class NoBrowser(Exception):
    pass


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in util.proc_children_all(p):
            out.append(c)
            todo.append(c)
    return out


def spki_of(pem):
    """The base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo,
    as --ignore-certificate-errors-spki-list takes it."""
    import base64
    import hashlib
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate(pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class Browser:
    """ua: the User-Agent (--user-agent); js: False disables JavaScript
    (the content-settings preference); proxy: "127.0.0.1:PORT" to browse
    through mitmd, except to the "host:port" of bypass; trust_spki: the
    base64 SHA-256 of public keys (spki_of) whose chains are trusted, as
    a CA installed on the device would be."""

    def __init__(self, ua=None, js=True, proxy=None, bypass=(),
                 trust_spki=()):
        try:
            from selenium import webdriver
            from selenium.common.exceptions import WebDriverException
            from selenium.webdriver.chrome.service import Service
        except ImportError as e:
            raise NoBrowser(f"python3-selenium is missing: {e}")
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise NoBrowser(f"{path} is missing (chromium, "
                                "chromium-driver)")
        self.profile = tempfile.mkdtemp(prefix="mtchrome")
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        args = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--no-first-run", "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-features=HttpsUpgrades",
                f"--user-data-dir={self.profile}"]
        if ua:
            args.append(f"--user-agent={ua}")
        if proxy:
            args += [f"--proxy-server=http://{proxy}",
                     "--proxy-bypass-list=" + ";".join(["<-loopback>",
                                                        *bypass])]
        if trust_spki:
            args.append("--ignore-certificate-errors-spki-list=" +
                        ",".join(trust_spki))
        for a in args:
            o.add_argument(a)
        if not js:
            o.add_experimental_option("prefs", {
                "profile.managed_default_content_settings.javascript": 2})
        self.service = Service(executable_path=CHROMEDRIVER)
        self.pids = []
        try:
            self.driver = webdriver.Chrome(service=self.service, options=o)
        except WebDriverException as e:
            self._kill()
            shutil.rmtree(self.profile, ignore_errors=True)
            raise NoBrowser(f"chromium did not start: {e.msg}")
        self.driver.set_page_load_timeout(PAGE_TIMEOUT)
        self.driver.set_script_timeout(PAGE_TIMEOUT)

    def _kill(self):
        proc = getattr(self.service, "process", None)
        if proc is None:
            return
        pids = [proc.pid] + _descendants(proc.pid) + self.pids
        for pid in pids:
            if util.proc_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=EXIT_TIMEOUT)
        except Exception:
            pass
        # The browser's processes that chromedriver left are reparented
        # to the tests (conftest makes them a subreaper): reap them, by
        # pid, so no zombie outlives the test.
        for pid in util.proc_children_all(os.getpid()):
            try:
                comm = util.proc_stat(pid)[0]
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if comm.startswith("chrom"):
                if util.proc_alive(pid):
                    os.kill(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass

    def close(self):
        proc = getattr(self.service, "process", None)
        if proc is not None:
            # The browser's pids, before quit() orphans them.
            self.pids = _descendants(proc.pid)
        try:
            self.driver.quit()
        except Exception:
            pass
        self._kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
