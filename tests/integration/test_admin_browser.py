"""The admin pages in a real browser (issue 6): headless Chromium that
trusts the mitmd CA, as a device that installed it would, browses
through mitmd to a local HTTPS origin (nginx, gzip on), while a second
tab holds the admin flow list signed in with the token. The origin's
page loads; the list shows each new flow through its live feed (wss
/api/feed), without being reloaded, within FEED_WAIT; the flow detail
shows the response body decoded (gzip, then JSON) with its heads, and
the events. Without JavaScript the same list is a plain page.

Skips only when Chromium cannot start at all (pylib/browser.py)."""

import json
import os
import shutil
import signal

import pytest
from selenium.webdriver.common.by import By

from pylib import browser, origins, tls, util
from pylib import mitmd as mitmd_mod
from test_admin import Admin, admin_port_conf, token
from test_ctl_flows import curl

FEED_WAIT = 20       # seconds for a flow to show in the live list
DECODED_WAIT = 20    # for the store to have decoded a body
PAGE_WAIT = 20

DATA = {"greeting": "hello from the origin",
        "items": [{"n": i, "name": f"item {i}"} for i in range(40)]}
PAGE = ("<!DOCTYPE html><html><head><title>origin page</title></head>"
        "<body><p id=\"o\">served by nginx</p></body></html>\n")

NGINX_EXTRA = """
        types { text/html html; application/json json;
                text/event-stream sse; }
        gzip on;
        gzip_types application/json;
        gzip_min_length 1;
"""


@pytest.fixture(scope="module")
def origin(test_ca):
    d = mitmd_mod.tempdir("ngx")    # nginx's workers, as nobody, read it
    cert, key = test_ca.issue("admin-browser", dns=["localhost"],
                              ips=["127.0.0.1"])
    o = origins.NginxOrigin(d, cert, key, extra=NGINX_EXTRA)
    o.put("index.html", PAGE)
    o.put("data.json", json.dumps(DATA))
    yield o
    o.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def env(build, test_ca):
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=[
        "capture bodies max 32 KiB", *admin_port_conf(port)])
    util.wait_until(lambda: os.path.exists(tls.mitmd_ca(m)), PAGE_WAIT,
                    "the mitmd CA")
    yield m, port
    tls.stop_mitmd(m)


def _browser(m, admin_port, **kw):
    with open(tls.mitmd_ca(m), "rb") as f:
        spki = browser.spki_of(f.read())
    try:
        return browser.Browser(proxy=f"127.0.0.1:{m.proxy_port}",
                               bypass=[f"127.0.0.1:{admin_port}"],
                               trust_spki=[spki], **kw)
    except browser.NoBrowser as e:
        pytest.skip(str(e))


def _sign_in(d, m, port):
    d.get(f"https://127.0.0.1:{port}/login")
    f = d.find_element(By.NAME, "token")
    f.send_keys(token(m))
    f.submit()
    try:
        util.wait_until(lambda: d.find_elements(By.ID, "flows"), PAGE_WAIT,
                        "the flow list after signing in")
    except AssertionError:
        raise AssertionError("not the flow list after signing in: "
                             f"{d.current_url} {d.title!r}")


def _live(d):
    return d.find_element(By.ID, "live").text == "live"


def _row(d, url):
    """The list's row (its cells' texts) of the flow whose URL is url."""
    for r in d.find_elements(By.CSS_SELECTOR, "#flows tr"):
        cells = [c.text for c in r.find_elements(By.TAG_NAME, "td")]
        if len(cells) == 8 and cells[7] == url:
            return r.get_attribute("data-flow"), cells
    return None


def test_live_list_and_decoded_detail(env, origin):
    m, port = env
    page_url = f"https://localhost:{origin.port}/index.html"
    # another origin name: a tunnel of its own, so a flow of its own
    data_url = f"https://127.0.0.1:{origin.port}/data.json"
    b = _browser(m, port)
    try:
        d = b.driver
        _sign_in(d, m, port)
        util.wait_until(lambda: _live(d), FEED_WAIT, "the feed to be live")
        admin = d.current_window_handle
        # Set on the list page: still there after the flows came in, so
        # the page was not reloaded.
        d.execute_script("window.mitmdMark = 1;")

        d.switch_to.new_window("tab")
        d.get(page_url)
        assert d.title == "origin page"
        assert d.find_element(By.ID, "o").text == "served by nginx"
        d.get(data_url)
        assert "hello from the origin" in d.page_source

        d.switch_to.window(admin)
        flow, cells = util.wait_until(lambda: _row(d, page_url), FEED_WAIT,
                                      "the page's flow in the live list")
        assert cells[4] == "GET"
        assert cells[6] == f"localhost:{origin.port}"
        util.wait_until(lambda: (_row(d, page_url) or (0, []))[1][5] ==
                        "200", FEED_WAIT, "the page's status in the list")
        data_flow, _ = util.wait_until(lambda: _row(d, data_url),
                                       FEED_WAIT, "the JSON flow")
        assert d.execute_script("return window.mitmdMark;") == 1
        assert _live(d)

        # The detail page, once the store has decoded the body.
        def decoded():
            d.get(f"https://127.0.0.1:{port}/flows/{data_flow}")
            return [p for p in d.find_elements(By.CSS_SELECTOR, "p.dec")
                    if "gzip → json" in p.text]
        # (a favicon's 404 page may be an exchange of the flow too)
        util.wait_until(decoded, DECODED_WAIT,
                        "the decoded body on the detail page")
        pre = d.find_elements(By.CSS_SELECTOR, "pre.body.json")
        shown = [json.loads(p.text) for p in pre if p.text]
        assert DATA in shown
        # admin.js indented it
        assert any('\n  "greeting": "hello from the origin"' in p.text
                   for p in pre)
        heads = d.find_elements(By.CSS_SELECTOR, "table.hdrs")
        text = "\n".join(h.text for h in heads)
        assert "content-encoding gzip" in text.lower()
        events = [r.text for r in
                  d.find_elements(By.CSS_SELECTOR, "tr.ev")]
        assert any("request_headers" in e and data_url in e
                   for e in events)
        assert any("response_headers" in e and "200" in e for e in events)
    finally:
        b.close()


def test_live_filtered_list(env, origin):
    """A filtered list follows the feed too: a new flow that matches its
    filters comes in, one that does not stays out."""
    m, port = env
    b = _browser(m, port)
    try:
        d = b.driver
        _sign_in(d, m, port)
        d.get(f"https://127.0.0.1:{port}/?host=localhost")
        util.wait_until(lambda: _live(d), FEED_WAIT, "the feed to be live")
        admin = d.current_window_handle
        d.execute_script("window.mitmdMark = 1;")
        other = f"https://127.0.0.1:{origin.port}/index.html?filtered"
        match = f"https://localhost:{origin.port}/index.html?filtered"
        # the one that does not match first: its events come before
        assert curl(m, other, cacert=tls.mitmd_ca(m)) == 200
        assert curl(m, match, cacert=tls.mitmd_ca(m)) == 200
        flow, cells = util.wait_until(lambda: _row(d, match), FEED_WAIT,
                                      "the matching flow in the list")
        assert cells[4] == "GET" and cells[5] == "200"
        assert cells[6] == f"localhost:{origin.port}"
        assert _row(d, other) is None
        assert all(c.text.startswith("localhost:") for c in
                   d.find_elements(By.CSS_SELECTOR, "#flows td:nth-child(7)"))
        assert d.execute_script("return window.mitmdMark;") == 1
        assert d.current_window_handle == admin
    finally:
        b.close()


def test_live_list_resumes_after_webui_restart(env, origin):
    """webui killed: master starts another, the page's script reconnects
    with the last event id it had, and the flows made meanwhile come in
    once each, the page never reloaded."""
    m, port = env
    b = _browser(m, port)
    try:
        d = b.driver
        _sign_in(d, m, port)
        util.wait_until(lambda: _live(d), FEED_WAIT, "the feed to be live")
        d.execute_script("window.mitmdMark = 1;")
        (old,) = m.pids("webui")
        os.kill(old, signal.SIGKILL)
        util.wait_until(lambda: m.pids("webui") not in ([], [old]),
                        FEED_WAIT, "webui restarted")
        a = Admin(m, port)
        util.wait_until(lambda: a.get("/api/flows", token(m))[0] == 200,
                        FEED_WAIT, "the new webui's admin listener")
        urls = [f"https://localhost:{origin.port}/index.html?resume{i}"
                for i in range(3)]
        for u in urls:
            assert curl(m, u, cacert=tls.mitmd_ca(m)) == 200
        for u in urls:
            util.wait_until(lambda: _row(d, u), FEED_WAIT,
                            f"the flow of {u} in the list")
        util.wait_until(lambda: _live(d), FEED_WAIT, "the feed live again")
        assert d.execute_script("return window.mitmdMark;") == 1
        ids = [r.get_attribute("data-flow") for r in
               d.find_elements(By.CSS_SELECTOR, "#flows tr")]
        assert len(ids) == len(set(ids))
    finally:
        b.close()


def test_list_without_javascript(env, origin):
    m, port = env
    b = _browser(m, port, js=False)
    try:
        d = b.driver
        d.get(f"https://localhost:{origin.port}/index.html?nojs")
        assert d.title == "origin page"
        _sign_in(d, m, port)
        url = f"https://localhost:{origin.port}/index.html?nojs"
        flow, cells = util.wait_until(
            lambda: (d.refresh() or _row(d, url)), FEED_WAIT,
            "the flow on the reloaded list")
        assert cells[4] == "GET"
        assert "needs JavaScript" in d.find_element(By.ID, "live").text
        # signing out ends the session: the list asks for the token again
        d.find_element(By.CSS_SELECTOR, "form.out button").click()
        util.wait_until(lambda: d.find_elements(By.NAME, "token"),
                        PAGE_WAIT, "the login form after signing out")
        d.get(f"https://127.0.0.1:{port}/")
        assert d.find_elements(By.NAME, "token")
        assert not d.find_elements(By.ID, "flows")
    finally:
        b.close()
