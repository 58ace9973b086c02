"""`admin token file "PATH"`: the admin token from a file the admin
chose instead of the state directory's admin.token. The admin listener
takes that token (Bearer and the login cookie) and no other, mitmd
neither makes nor touches admin.token, `mitmctl token` prints the
configured one, a reload picks up a new token and ends the sessions of
the old one, and a file that is group-readable, a symbolic link, too
short or empty is refused by `mitmd -n`, at start and on reload with a
message naming the config line, the file and the reason.
"""

import http.client
import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from pylib import tls, util
from pylib.mitmd import Mitmd, binary, tempdir

HTTP_TIMEOUT = 30
UP_WAIT = 15         # seconds for the admin listener's certificate
RELOAD_WAIT = 10     # seconds for webui to take a reloaded token

TOKEN1 = "correct-horse-battery-staple-" + "1" * 16
TOKEN2 = "~!a-second/token_with+symbols=" + "2" * 16
STATE_TOKEN = "ab" * 32   # a good admin.token left in the state dir


def write_token(path, text, mode=0o600):
    """Atomically, as an admin would replace it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Admin:
    def __init__(self, m, port):
        self.m, self.port = m, port
        self.ctx = ssl.create_default_context(cafile=tls.mitmd_ca(m))

    def status(self, path="/api/flows?limit=1", tok=None, cookie=None):
        h = {}
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        if cookie is not None:
            h["Cookie"] = cookie
        c = http.client.HTTPSConnection("127.0.0.1", self.port,
                                        context=self.ctx,
                                        timeout=HTTP_TIMEOUT)
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def up(self, tok):
        def answered():
            try:
                return self.status(tok=tok) == 200
            except (ssl.SSLError, OSError):
                return False
        util.wait_until(answered, UP_WAIT, "the admin listener")

    def login(self, tok):
        """The session cookie POST /login gives for tok, as a Cookie
        header."""
        jar = urllib.request.HTTPCookieProcessor()
        op = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.ctx), jar)
        op.open(f"https://localhost:{self.port}/login",
                data=urllib.parse.urlencode({"token": tok}).encode(),
                timeout=HTTP_TIMEOUT)
        (c,) = list(jar.cookiejar)
        return f"{c.name}={c.value}"


def ctl(m, *args):
    return subprocess.run([binary("mitmctl"), "-f", m.conf, *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def tokdir():
    d = tempdir("mttok")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(build, test_ca, tokdir):
    """A mitmd whose admin token is TOKEN1 from a file, with a good
    admin.token of another value already in its state directory."""
    path = os.path.join(tokdir, "admin.token")
    write_token(path, TOKEN1 + "\n")
    port = util.free_port()
    m = Mitmd(extra=[f'upstream ca-file "{test_ca.certfile}"',
                     f"admin listen on 127.0.0.1 port {port}",
                     f'admin token file "{path}"'], workers=1, start=False)
    os.makedirs(m.state_dir, mode=0o755)
    state_token = os.path.join(m.state_dir, "admin.token")
    write_token(state_token, STATE_TOKEN + "\n")
    before = os.stat(state_token)
    try:
        m.start()
        a = Admin(m, port)
        a.up(TOKEN1)
        yield a, path, state_token, before
    finally:
        tls.stop_mitmd(m)


def test_token_file_is_the_token(env):
    a, _, state_token, before = env
    assert a.status(tok=TOKEN1) == 200
    assert a.status() == 401
    assert a.status(tok=STATE_TOKEN) == 401
    assert a.status(tok=TOKEN1[:-1]) == 401
    assert a.status(tok=TOKEN1 + "1") == 401
    # admin.token was neither made anew nor rewritten
    after = os.stat(state_token)
    assert (after.st_ino, after.st_mtime_ns) == \
        (before.st_ino, before.st_mtime_ns)
    with open(state_token) as f:
        assert f.read() == STATE_TOKEN + "\n"


def test_no_state_token_made(build, test_ca, tokdir):
    path = os.path.join(tokdir, "tok")
    write_token(path, TOKEN1)       # no newline: allowed too
    port = util.free_port()
    m = tls.start_mitmd(build, test_ca, extra=[
        f"admin listen on 127.0.0.1 port {port}",
        f'admin token file "{path}"'])
    try:
        Admin(m, port).up(TOKEN1)
        assert not os.path.exists(os.path.join(m.state_dir, "admin.token"))
    finally:
        tls.stop_mitmd(m)


def test_mitmctl_token_prints_the_file(env):
    a, _, _, _ = env
    p = ctl(a.m, "token")
    assert p.returncode == 0 and p.stdout == TOKEN1 + "\n", p.stderr
    p = ctl(a.m, "-j", "token")
    assert p.returncode == 0 and p.stdout == '{"token": "%s"}\n' % TOKEN1


def test_mitmctl_token_refuses_a_bad_file(env):
    a, path, _, _ = env
    os.chmod(path, 0o644)
    try:
        p = ctl(a.m, "token")
        assert p.returncode == 1 and p.stdout == ""
        assert f"admin token file {path}: permissions 0644 are too " \
            "open" in p.stderr, p.stderr
    finally:
        os.chmod(path, 0o600)


def test_reload_switches_the_token(env):
    a, path, _, _ = env
    old_cookie = a.login(TOKEN1)
    assert a.status("/", cookie=old_cookie) == 200
    write_token(path, TOKEN2 + "\n")
    p = a.m.reload()
    assert p.returncode == 0, p.stderr
    util.wait_until(lambda: a.status(tok=TOKEN2) == 200, RELOAD_WAIT,
                    "the new token")
    assert a.status(tok=TOKEN1) == 401
    # the session of the old token is over; the new one logs in
    assert a.status("/", cookie=old_cookie) == 401
    new_cookie = a.login(TOKEN2)
    assert new_cookie != old_cookie
    assert a.status("/", cookie=new_cookie) == 200
    assert ctl(a.m, "token").stdout == TOKEN2 + "\n"
    # SIGHUP as well
    write_token(path, TOKEN1 + "\n")
    a.m.sighup()
    util.wait_until(lambda: a.status(tok=TOKEN1) == 200, RELOAD_WAIT,
                    "the token after SIGHUP")
    assert a.status(tok=TOKEN2) == 401


def test_reload_with_a_bad_file_keeps_the_token(env):
    a, path, _, _ = env
    write_token(path, "short\n")
    p = a.m.reload()
    assert p.returncode == 1
    assert re.search(r'mitmd\.conf:\d+: admin token file "%s": a token of '
                     r'5 characters is too short' % re.escape(path),
                     p.stderr), p.stderr
    assert a.status(tok=TOKEN1) == 200


# --- refused files ----------------------------------------------------------

def _group_readable(path):
    write_token(path, TOKEN1 + "\n", 0o640)
    return path, "permissions 0640 are too open"


def _world_writable(path):
    write_token(path, TOKEN1 + "\n", 0o602)
    return path, "permissions 0602 are too open"


def _symlink(path):
    write_token(path, TOKEN1 + "\n")
    link = path + ".link"
    os.symlink(path, link)
    return link, "a symbolic link"


def _too_short(path):
    write_token(path, "0123456789abcdef0123456789abcde\n")   # 31
    return path, "a token of 31 characters is too short: 32 to 256"


def _empty(path):
    write_token(path, "")
    return path, "empty"


def _two_lines(path):
    write_token(path, TOKEN1 + "\n" + TOKEN2 + "\n")
    return path, "more than one line"


def _space(path):
    write_token(path, "correct horse battery staple 0123456789\n")
    return path, "character 8 is a space"


def _missing(path):
    return path, "No such file or directory"


def _directory(path):
    os.mkdir(path, 0o700)
    return path, "not a regular file"


@pytest.mark.parametrize("make", [
    _group_readable, _world_writable, _symlink, _too_short, _empty,
    _two_lines, _space, _missing, _directory])
def test_mitmd_n_refuses(build, tokdir, make):
    path, why = make(os.path.join(tokdir, "tok"))
    conf = os.path.join(tokdir, "mitmd.conf")
    with open(conf, "w") as f:
        f.write("listen on 127.0.0.1 port 8080\n"
                "admin listen on 127.0.0.1 port 8443\n"
                f'admin token file "{path}"\n')
    p = subprocess.run([binary("mitmd"), "-n", "-f", conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert f'{conf}:3: admin token file "{path}": {why}' in p.stderr, \
        p.stderr


def test_start_refuses_a_group_readable_file(build, tokdir):
    path = os.path.join(tokdir, "tok")
    write_token(path, TOKEN1 + "\n", 0o640)
    m = Mitmd(extra=["admin listen on 127.0.0.1 port 8443",
                     f'admin token file "{path}"'], start=False)
    try:
        with pytest.raises(AssertionError) as e:
            m.start()
        assert "exited with 1 before READY" in str(e.value)
        assert f'admin token file "{path}": permissions 0640 are too ' \
            "open" in str(e.value)
        assert not os.path.exists(os.path.join(m.state_dir, "admin.token"))
    finally:
        m.close(check=False)
        m.cleanup()


def test_parse_errors(build, tokdir):
    conf = os.path.join(tokdir, "mitmd.conf")
    with open(conf, "w") as f:
        f.write("listen on 127.0.0.1 port 8080\n"
                'admin token file "/etc/mitmd/admin.token"\n')
    p = subprocess.run([binary("mitmd"), "-n", "-f", conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert f"{conf}:2: 'admin' settings without 'admin listen on'" in \
        p.stderr, p.stderr
