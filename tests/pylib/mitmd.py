"""Start and drive a real mitmd for a test.

A Mitmd owns a short directory under /tmp (Unix socket paths must fit in
108 bytes) holding its config, state and runtime directories, its syslog
and NOTIFY_SOCKET collectors and the master's stderr. It runs
`$MITMD_BUILD/mitmd -d -f CONF`, waits for READY=1 on the notify socket,
and on close stops the master by pid (SIGTERM, then SIGKILL after a
timeout) and checks that no process it started is left.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from . import util
from .collect import Notify, Syslog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("MITMD_BUILD", os.path.join(ROOT, "build", "test"))

ROLES = ("acceptor", "tlsworker", "certd", "webui")
START_TIMEOUT = 30   # seconds from exec to READY=1
CTL_TIMEOUT = 30
DEFAULT_DRAIN = 3    # seconds; keeps teardowns short
STOP_GRACE = 15      # seconds past the drain timeout before SIGKILL


def binary(name):
    return os.path.join(BUILD, name)


def role_of(comm):
    """'tlsworker' for a process named mitmd-tlsworker; None otherwise
    (also for a child forked but not yet exec'd, still named mitmd)."""
    if comm.startswith("mitmd-"):
        r = comm[len("mitmd-"):]
        if r in ROLES:
            return r
    return None


def tempdir(prefix="mt"):
    """A short world-traversable directory under /tmp."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


# The Popen pids of the masters (or their wrappers) running now: children
# of this process that are not orphans.
_RUNNING = set()


class Mitmd:
    """One mitmd master and its children.

    rules: policy lines in order, e.g. ['tunnel host "127.0.0.1"'].
    extra: further config lines placed before the rules.
    workers, webui, drain: the matching settings.
    run_as: (uid, gid) to start mitmd unprivileged; None for root.
    """

    def __init__(self, rules=(), extra=(), workers=2, webui=True,
                 drain=DEFAULT_DRAIN, run_as=None, base=None,
                 argv_prefix=(), start=True, bindir=None):
        self.base = base or tempdir()
        self.state_dir = os.path.join(self.base, "state")
        self.run_dir = os.path.join(self.base, "run")
        self.ctl_sock = os.path.join(self.run_dir, "mitmd.sock")
        self.chroot = os.path.join(self.run_dir, "empty")
        self.conf = os.path.join(self.base, "mitmd.conf")
        self.stderr_path = os.path.join(self.base, "stderr.log")
        self.workers = workers
        self.run_as = run_as
        self.drain = drain
        self.argv_prefix = list(argv_prefix)
        # Another build (the release one): its mitmd execs the children
        # from the directory it was built for.
        self.bindir = bindir or BUILD
        self.proxy_port, self.webui_port = util.free_ports(2)
        self.has_webui = webui
        self.syslog = Syslog(os.path.join(self.base, "log"))
        self.notify = Notify(os.path.join(self.base, "notify"))
        self.proc = None
        self._closed = False
        self.seen = set()        # every child pid seen, for the teardown
        self.exit_status = None
        self.rules = []          # (index, line, action, pattern)
        self.write_config(rules, extra)
        if run_as is not None:
            for d in (self.state_dir, self.run_dir):
                os.makedirs(d, exist_ok=True)
                os.chown(d, run_as[0], run_as[1])
        if start:
            self.start()

    # --- configuration ----------------------------------------------------

    def config_text(self, rules=(), extra=()):
        """The config and the (index, line, action, pattern) of each rule
        pattern, counted the way mitmd numbers them."""
        lines = [
            "# written by tests/pylib/mitmd.py",
            f'state directory "{self.state_dir}"',
            f'runtime directory "{self.run_dir}"',
            f'syslog socket "{self.syslog.path}"',
            f"workers {self.workers}",
            f"listen on 127.0.0.1 port {self.proxy_port}",
        ]
        if self.has_webui:
            lines.append(f"webui listen on 127.0.0.1 port {self.webui_port}")
        lines.append(f"timeout drain {self.drain}")
        lines.extend(extra)
        out = []
        for r in rules:
            lines.append(r)
            m = re.match(r"\s*(block|tunnel|intercept)\s+host\s+(.*)$", r)
            if m:
                for pat in re.findall(r'"([^"]*)"', m.group(2)):
                    out.append((len(out) + 1, len(lines), m.group(1), pat))
        return "\n".join(lines) + "\n", out

    def write_config(self, rules=(), extra=(), raw=None):
        """Write the config file (atomically: a reload never reads half of
        it). raw replaces the generated text entirely."""
        if raw is None:
            text, self.rules = self.config_text(rules, extra)
        else:
            text = raw
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.conf)
        return text

    def rule(self, pattern):
        """(index, line) of the rule with that pattern."""
        for idx, line, _, pat in self.rules:
            if pat == pattern:
                return idx, line
        raise KeyError(pattern)

    # --- life cycle -------------------------------------------------------

    def start(self, timeout=START_TIMEOUT):
        mark = self.notify.mark()
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify.path
        kw = {}
        if self.run_as is not None:
            kw = {"user": self.run_as[0], "group": self.run_as[1],
                  "extra_groups": []}
        self.proc = subprocess.Popen(
            [*self.argv_prefix, os.path.join(self.bindir, "mitmd"), "-d",
             "-f", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "wb"), env=env,
            start_new_session=True, **kw)
        self.pid = self.proc.pid
        _RUNNING.add(self.proc.pid)
        try:
            self.wait_ready(mark, timeout)
            if self.argv_prefix:
                # Under a wrapper (strace): the master is the wrapper's
                # child named mitmd.
                kids = [p for p, c in util.proc_children(self.proc.pid)
                        .items() if c == "mitmd"]
                assert len(kids) == 1, f"master under wrapper: {kids}"
                self.pid = kids[0]
        except AssertionError:
            self.close(check=False)
            self.cleanup()
            raise
        return self

    def wait_ready(self, mark=0, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"mitmd exited with {self.proc.returncode} before "
                    f"READY=1:\n{self.stderr()}")
            return self.notify.find(r"^READY=1$", mark)
        util.wait_until(ready, timeout, "READY=1 from mitmd")

    def stderr(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.exit_status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_status

    def close(self, check=True):
        """Stop mitmd by pid and make sure nothing it started survives.
        Raises AssertionError (after cleaning up) if it had to SIGKILL or
        found a leftover process."""
        if self._closed:
            return
        self._closed = True
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            self.seen.update(self.children())
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait_exit(self.drain + STOP_GRACE) is None:
                problems.append(f"mitmd {self.pid} did not exit within "
                                f"{self.drain + STOP_GRACE}s of SIGTERM")
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None:
            self.exit_status = self.proc.returncode
            _RUNNING.discard(self.proc.pid)
        left = [p for p in self.seen if util.proc_alive(p)]
        if left:
            try:
                util.wait_until(lambda: not any(util.proc_alive(p)
                                                for p in left),
                                5, "children to exit")
            except AssertionError:
                problems.append(f"children left running: {left}")
                for p in left:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        orphans = util.reap_orphans("mitmd", exclude=_RUNNING)
        if orphans:
            problems.append(f"orphaned processes: {orphans}")
        self.syslog.close()
        self.notify.close()
        if check and problems:
            raise AssertionError("; ".join(problems) + "\nstderr:\n" +
                                 self.stderr())

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)

    # --- processes --------------------------------------------------------

    def children(self):
        """{pid: role} of the live, exec'd children."""
        out = {}
        for pid, comm in util.proc_children(self.pid).items():
            r = role_of(comm)
            if r is not None:
                out[pid] = r
        self.seen.update(out)
        return out

    def pids(self, role):
        return sorted(p for p, r in self.children().items() if r == role)

    def by_role(self):
        out = {r: [] for r in ROLES}
        for pid, r in self.children().items():
            out[r].append(pid)
        for r in out:
            out[r].sort()
        return out

    def wait_children(self, timeout=15):
        """Wait until every role runs: one of each single role and
        `workers` tlsworkers; returns by_role()."""
        want = {"acceptor": 1, "certd": 1, "tlsworker": self.workers,
                "webui": 1 if self.has_webui else 0}

        def full():
            b = self.by_role()
            return b if all(len(b[r]) == n for r, n in want.items()) \
                else None
        return util.wait_until(full, timeout, "all children running")

    # --- control ----------------------------------------------------------

    def ctl(self, *args, check=True, timeout=CTL_TIMEOUT):
        p = subprocess.run([os.path.join(self.bindir, "mitmctl"), "-s",
                            self.ctl_sock, *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"mitmctl {' '.join(args)} exited "
                                 f"{p.returncode}: {p.stderr}{p.stdout}")
        return p

    def status(self):
        return json.loads(self.ctl("-j", "status").stdout)

    def reload(self):
        return self.ctl("reload", check=False)

    def sighup(self):
        os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout=None):
        """SIGTERM and wait; returns the exit status."""
        os.kill(self.pid, signal.SIGTERM)
        st = self.wait_exit(timeout or self.drain + STOP_GRACE)
        assert st is not None, "mitmd did not exit after SIGTERM"
        return st

    # --- waiting on the log -----------------------------------------------

    def wait_log(self, pattern, timeout=10, start=0):
        return self.syslog.wait_for(pattern, timeout, start)

    def audit(self, start=0):
        """The audit messages seen since start, as dicts of key=value
        (plus 'closed': True on close lines)."""
        out = []
        for line in self.syslog.snapshot(start):
            i = line.find("audit: ")
            if i < 0:
                continue
            d = {}
            for tok in line[i + len("audit: "):].split():
                k, eq, v = tok.partition("=")
                if eq:
                    d[k] = v
                else:
                    d[k] = True
            d["_line"] = line
            out.append(d)
        return out

    def wait_audit(self, timeout=10, start=0, **want):
        """The first audit record with all the given key=value pairs."""
        def find():
            for d in self.audit(start):
                if all(str(d.get(k)) == str(v) if v is not True
                       else d.get(k) is True for k, v in want.items()):
                    return d
            return None
        try:
            return util.wait_until(find, timeout, f"audit line {want}")
        except AssertionError as e:
            lines = "\n  ".join(d["_line"] for d in self.audit(start)[-20:])
            raise AssertionError(f"{e}; audit lines seen:\n  {lines}")


def sample_rss(pids, stop_event, out, interval=0.02):
    """Thread body: record the max VmRSS (KiB) of each pid until stop_event
    is set. out: {pid: max_kib}."""
    while not stop_event.is_set():
        for p in pids:
            try:
                out[p] = max(out.get(p, 0), util.rss_kib(p))
            except (OSError, ValueError):
                pass
        stop_event.wait(interval)


def config_accepted(build, lines):
    """Does `mitmd -n` take these config lines? (ok, stderr)."""
    m = Mitmd(extra=lines, start=False)
    try:
        p = subprocess.run([os.path.join(build, "mitmd"), "-n", "-f",
                            m.conf], capture_output=True, text=True,
                           timeout=30)
        return p.returncode == 0, p.stderr
    finally:
        m.close(check=False)
        m.cleanup()


class Download:
    """What download_sampling_rss saw: curl's exit code and stderr, the
    bytes and their SHA-256, and each pid's VmRSS (KiB) before and at its
    peak during the transfer."""

    def __init__(self, rc, stderr, nbytes, sha256, base, peak):
        self.rc, self.stderr = rc, stderr
        self.nbytes, self.sha256 = nbytes, sha256
        self.base, self.peak = base, peak

    def growth(self):
        return {p: self.peak.get(p, 0) - self.base.get(p, 0)
                for p in self.base}


def download_sampling_rss(cmd, pids, timeout):
    """Run cmd (curl writing a body to stdout, proxy variables dropped
    from its environment), hash the body as it streams, and sample the
    VmRSS of pids meanwhile. The child is killed if it outlives timeout."""
    base = {p: util.rss_kib(p) for p in pids}
    peak = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(pids, stop, peak),
                               daemon=True)
    sampler.start()
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy")}
    h = hashlib.sha256()
    n = 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        rc = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        sampler.join(5)
    return Download(rc, proc.stderr.read().decode(), n, h.hexdigest(),
                    base, peak)


def monotonic_ms():
    return int(time.monotonic() * 1000)
