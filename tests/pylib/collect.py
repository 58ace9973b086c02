"""Unix datagram collectors: a syslog socket and a NOTIFY_SOCKET.

mitmd's master writes RFC 3164 datagrams to the path of "syslog socket" and
sd_notify datagrams to $NOTIFY_SOCKET. A collector binds the socket, a
thread appends every datagram to a list, and tests wait for a line that
matches a pattern, optionally only among the lines after a mark.
"""

import os
import re
import socket
import threading
import time

RECV_MAX = 65536
# "<30>Nov 22 02:43:00 mitmd[123]: tlsworker 1[456]: audit: conn=..."
SYSLOG_RE = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) "
                       r"(\S+?)\[(\d+)\]: (.*)$", re.S)


class Collector:
    """Collects datagrams on a Unix socket at path; thread-safe reads."""

    def __init__(self, path, split_lines=False, mode=0o666):
        self.path = path
        self.split_lines = split_lines
        self.lines = []
        self.raw = []
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(path):
            os.unlink(path)
        # Bursts of audit lines (the 500-tunnel test) must not be lost
        # to a short queue while the thread is descheduled.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._sock.bind(path)
        # A master that runs as another user (the non-root test) must be
        # able to write here.
        os.chmod(path, mode)
        self._sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"collector {path}")
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self._sock.recv(RECV_MAX)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            with self._cond:
                self.raw.append(text)
                if self.split_lines:
                    self.lines.extend(text.splitlines())
                else:
                    self.lines.append(text.rstrip("\n"))
                self._cond.notify_all()

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self._sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def mark(self):
        """The index of the next line, to wait only for what follows."""
        with self._cond:
            return len(self.lines)

    def snapshot(self, start=0):
        with self._cond:
            return list(self.lines[start:])

    def find(self, pattern, start=0):
        rx = re.compile(pattern)
        for line in self.snapshot(start):
            m = rx.search(line)
            if m:
                return m
        return None

    def findall(self, pattern, start=0):
        rx = re.compile(pattern)
        return [m for m in (rx.search(line) for line in self.snapshot(start))
                if m]

    def wait_for(self, pattern, timeout=10.0, start=0):
        """The first match of pattern in a line at index >= start; waits
        for one to arrive until timeout, then fails the test with the
        last lines seen."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(self.lines[-25:])
                    raise AssertionError(
                        f"{self.path}: no line matching {pattern!r} within "
                        f"{timeout}s; last lines:\n  {tail}")
                self._cond.wait(left)

    def tail(self, n=60):
        with self._cond:
            return "\n".join(self.lines[-n:])


class Syslog(Collector):
    """The syslog collector. Lines are kept whole; message() strips the
    "<PRI>timestamp mitmd[pid]: " prefix."""

    def __init__(self, path):
        super().__init__(path, split_lines=False)

    @staticmethod
    def parse(line):
        """(pri, tag, pid, message) of one record, or None."""
        m = SYSLOG_RE.match(line)
        if not m:
            return None
        return int(m.group(1)), m.group(3), int(m.group(4)), m.group(5)


class Notify(Collector):
    """The NOTIFY_SOCKET collector: one line per "KEY=VALUE"."""

    def __init__(self, path):
        super().__init__(path, split_lines=True)
