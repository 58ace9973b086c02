"""The interception keywords of mitmd.conf(5) through the real binary:
`mitmd -n` accepts each of them and refuses bad ones with file:line
errors; `upstream verify no` logs a WARNING for -n, at start and on every
reload; the event sinks are created at start (file 0640, socket 0660),
refused with a clear error when they cannot be, and a changed path takes
a restart."""

import os
import re
import socket
import stat
import subprocess

import pytest

from pylib import mitmd as mitmd_mod, util

EVERY = """\
listen on 127.0.0.1 port 8080
upstream ca-file "/etc/ssl/certs/ca-certificates.crt"
upstream verify yes
tls min-version 1.3
tls ciphers "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
tls-passthrough learn after 2 for all ttl 60
events file "/var/log/mitmd/events.jsonl"
events socket "/run/mitmd/events.sock"
capture bodies max 16 KiB
store keep 500 flows
store keep 3 days
"""

WARNING = r"WARNING: 'upstream verify no'"


def _mitmd_n(tmp_path, text, *flags):
    conf = tmp_path / "t.conf"
    conf.write_text(text)
    os.chmod(conf, 0o644)
    p = subprocess.run([mitmd_mod.binary("mitmd"), *(flags or ("-n",)),
                        "-f", str(conf)],
                       capture_output=True, text=True, timeout=10)
    return conf, p


def test_n_accepts_every_new_keyword(tmp_path):
    _, p = _mitmd_n(tmp_path, EVERY, "-nv")
    assert p.returncode == 0, p.stderr
    for line in EVERY.splitlines()[1:]:
        if line.startswith("tls-passthrough"):
            line = "tls-passthrough learn after 2 for all ttl 60"
        assert line in p.stdout.splitlines(), (line, p.stdout)
    # The normalised form parses back to itself.
    again = tmp_path / "again.conf"
    again.write_text(p.stdout)
    p2 = subprocess.run([mitmd_mod.binary("mitmd"), "-nv", "-f",
                         str(again)], capture_output=True, text=True,
                        timeout=10)
    assert p2.returncode == 0 and p2.stdout == p.stdout, p2.stderr


def test_nv_prints_the_defaults(tmp_path):
    _, p = _mitmd_n(tmp_path, "listen on 127.0.0.1 port 8080\n", "-nv")
    assert p.returncode == 0, p.stderr
    want = ['upstream ca-file "/etc/ssl/certs/ca-certificates.crt"',
            "upstream verify yes", "tls min-version 1.2",
            'tls ciphers "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"',
            "tls-passthrough learn after 3 ttl 3600",
            "# no events file (the default)",
            "# no events socket (the default)",
            "capture bodies max 0 KiB", "http2 yes",
            "http2 max-concurrent-streams 100",
            "http2 max-header-list-size 65536", "store keep 100000 flows",
            "store keep 7 days"]
    lines = p.stdout.splitlines()
    assert lines[-len(want):] == want, p.stdout


@pytest.mark.parametrize("stmt,msg", [
    ("upstream verify maybe", "expected 'yes' or 'no' after 'verify'"),
    ("upstream ca-file /etc/ssl/x.pem", "expected a quoted path"),
    ("tls min-version 1.1", "expected '1.2' or '1.3'"),
    ('tls ciphers "HIGH MEDIUM"', "invalid character ' ' in tls ciphers"),
    ('tls ciphers "' + "A" * 600 + '"', "tls ciphers is longer than 511"),
    ("tls-passthrough learn after 0",
     "tls-passthrough learn after must be between 1 and 1000"),
    ("tls-passthrough learn after 3 ttl 2592001",
     "tls-passthrough ttl must be between 1 and 2592000"),
    ("tls-passthrough learn after 3 for everyone", "expected 'all'"),
    ("tls-passthrough maybe", "expected 'learn' or 'no'"),
    ("events pipe \"/x\"", "expected 'file' or 'socket'"),
    ('events socket "/' + "s" * 120 + '"',
     "events socket is longer than 107 bytes"),
    ("capture bodies max 33 KiB",
     "capture bodies max must be between 0 and 32"),
    ("capture bodies max 8 MiB", "expected 'KiB' after '8'"),
    ("store keep 0 flows", "store keep flows must be between 1"),
    ("store keep 3651 days", "store keep days must be between 1 and 3650"),
    ("store keep 7 weeks", "expected 'flows' or 'days' after '7'"),
])
def test_n_refuses_bad_values(tmp_path, stmt, msg):
    conf, p = _mitmd_n(tmp_path, "# c\nlisten on 127.0.0.1 port 8080\n"
                       f"{stmt}\n")
    assert p.returncode != 0
    assert re.search(rf"(^|: ){re.escape(str(conf))}:3: "
                     rf"{re.escape(msg)}", p.stderr, re.M), p.stderr


@pytest.mark.parametrize("stmts,line,msg", [
    (["upstream verify no", "upstream verify yes"], 4,
     "'upstream verify' is already set on line 3"),
    (['events file "/a"', 'events file "/b"'], 4,
     "'events file' is already set on line 3"),
    (['events socket "/a"', 'events socket "/b"'], 4,
     "'events socket' is already set on line 3"),
    (['events file "/a"', 'events socket "/a"'], 4,
     "'events socket' must differ from 'events file'"),
    (['runtime directory "/run/x"', 'events socket "/run/x/mitmd.sock"'], 4,
     "'events socket' must differ from the control socket"),
    (["store keep 5 days", "store keep 6 day"], 4,
     "'store keep days' is already set on line 3"),
])
def test_n_refuses_twice_and_collisions(tmp_path, stmts, line, msg):
    conf, p = _mitmd_n(tmp_path, "# c\nlisten on 127.0.0.1 port 8080\n" +
                       "".join(s + "\n" for s in stmts))
    assert p.returncode != 0
    assert re.search(rf"(^|: ){re.escape(str(conf))}:{line}: "
                     rf"{re.escape(msg)}", p.stderr, re.M), p.stderr


def test_n_warns_on_verify_no(tmp_path):
    _, p = _mitmd_n(tmp_path, "listen on 127.0.0.1 port 8080\n"
                    "upstream verify no\n")
    assert p.returncode == 0, p.stderr
    assert re.search(WARNING, p.stderr) and "NOT verified" in p.stderr, \
        p.stderr
    _, p = _mitmd_n(tmp_path, "listen on 127.0.0.1 port 8080\n")
    assert p.returncode == 0 and "WARNING" not in p.stderr, p.stderr


def test_n_warns_on_missing_ca_file(tmp_path):
    _, p = _mitmd_n(tmp_path, "listen on 127.0.0.1 port 8080\n"
                    'upstream ca-file "/nonexistent/ca.pem"\n')
    assert p.returncode == 0, p.stderr
    assert "upstream ca-file /nonexistent/ca.pem: No such file" in \
        p.stderr, p.stderr


def test_verify_no_warns_at_start_and_reload(mitmd_factory):
    m = mitmd_factory(extra=["upstream verify no"])
    m.wait_log(WARNING)
    mark = m.syslog.mark()
    p = m.reload()
    assert p.returncode == 0, p.stderr
    m.wait_log(WARNING, start=mark)
    # Turned off by a reload: no more warning on the next one.
    m.write_config(extra=[])
    assert m.reload().returncode == 0
    mark = m.syslog.mark()
    assert m.reload().returncode == 0
    m.wait_log(r"configuration reloaded", start=mark)
    assert not [line for line in m.syslog.snapshot(mark)
                if "WARNING" in line]


def test_verify_yes_is_quiet(mitmd_factory):
    m = mitmd_factory()
    m.wait_log(r"mitmd ready")
    assert not [line for line in m.syslog.snapshot(0)
                if "upstream verify no" in line]


def _sinks(base):
    return (os.path.join(base, "state", "events.jsonl"),
            os.path.join(base, "run", "events.sock"))


def test_event_sinks_created(mitmd_factory):
    base = mitmd_mod.tempdir()
    evfile, evsock = _sinks(base)
    m = mitmd_factory(base=base, extra=[f'events file "{evfile}"',
                                        f'events socket "{evsock}"'])
    st = os.lstat(evfile)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    st = os.lstat(evsock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    m.wait_log(rf"events file {re.escape(evfile)} opened")
    m.wait_log(rf"events socket {re.escape(evsock)} listening")
    # Somebody listens there: a subscriber can connect.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(evsock)
    finally:
        s.close()


def test_event_sinks_survive_a_restart(mitmd_factory):
    """The file is appended to, never truncated; the stale socket of the
    first run is replaced."""
    base = mitmd_mod.tempdir()
    evfile, evsock = _sinks(base)
    extra = [f'events file "{evfile}"', f'events socket "{evsock}"']
    m = mitmd_factory(base=base, extra=extra)
    m.close()
    with open(evfile, "a") as f:
        f.write("{\"marker\": true}\n")
    assert stat.S_ISSOCK(os.lstat(evsock).st_mode)  # left behind
    m2 = mitmd_factory(base=base, extra=extra)
    m2.wait_log(rf"events socket {re.escape(evsock)} listening")
    with open(evfile) as f:
        assert "{\"marker\": true}" in f.read()


def _start_fails(m, timeout=15):
    """Run the master of an unstarted Mitmd in the foreground; it must exit
    non-zero before starting anything. Returns its stderr."""
    p = subprocess.Popen([mitmd_mod.binary("mitmd"), "-d", "-f", m.conf],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("mitmd started despite a bad events sink")
    assert p.returncode != 0, err
    return err


@pytest.mark.parametrize("kind", ["file", "socket"])
def test_event_sink_directory_missing(build, kind):
    m = mitmd_mod.Mitmd(start=False)
    try:
        path = os.path.join(m.base, "nodir", "events")
        m.write_config(extra=[f'events {kind} "{path}"'])
        err = _start_fails(m)
        assert re.search(rf"events {kind} {re.escape(path)}: its directory "
                         r"does not exist", err), err
    finally:
        m.close(check=False)
        m.cleanup()


def test_event_socket_path_taken_by_a_file(build):
    m = mitmd_mod.Mitmd(start=False)
    try:
        os.makedirs(m.run_dir, exist_ok=True)
        path = os.path.join(m.run_dir, "events.sock")
        with open(path, "w") as f:
            f.write("not a socket\n")
        m.write_config(extra=[f'events socket "{path}"'])
        err = _start_fails(m)
        assert "exists and is not a socket" in err, err
        with open(path) as f:
            assert f.read() == "not a socket\n"
    finally:
        m.close(check=False)
        m.cleanup()


def test_event_file_symlink_refused(build):
    m = mitmd_mod.Mitmd(start=False)
    try:
        os.makedirs(m.state_dir, exist_ok=True)
        target = os.path.join(m.base, "elsewhere")
        path = os.path.join(m.state_dir, "events.jsonl")
        os.symlink(target, path)
        m.write_config(extra=[f'events file "{path}"'])
        err = _start_fails(m)
        assert "a symbolic link" in err, err
        assert not os.path.exists(target)
    finally:
        m.close(check=False)
        m.cleanup()


def test_changed_sink_takes_a_restart(mitmd_factory):
    base = mitmd_mod.tempdir()
    evfile, _ = _sinks(base)
    m = mitmd_factory(base=base, extra=[f'events file "{evfile}"'])
    other = os.path.join(base, "state", "other.jsonl")
    m.write_config(extra=[f'events file "{other}"'])
    mark = m.syslog.mark()
    assert m.reload().returncode == 0
    m.wait_log(r"events file or socket changed: this takes a restart",
               start=mark)
    assert not os.path.exists(other)
    util.wait_until(lambda: len(m.pids("tlsworker")) == m.workers, 10,
                    "the workers to keep running")
