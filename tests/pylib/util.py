"""Deadlines, free ports, and what /proc says about a process."""

import ctypes
import os
import re
import socket
import time

POLL_INTERVAL = 0.02  # seconds between two looks at a condition


class Timeout(AssertionError):
    pass


def wait_until(cond, timeout, what="condition", interval=POLL_INTERVAL):
    """Call cond() until it returns something true; return that value.

    Raises Timeout (an AssertionError, so pytest shows it as a failure)
    naming what was awaited once the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except (OSError, ValueError) as e:  # a process vanished, a file moved
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise Timeout(f"timed out after {timeout}s waiting for {what}"
                          f"{extra}")
        time.sleep(interval)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on now (the usual small race remains)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n, host="127.0.0.1"):
    """n distinct free ports, held open together so they differ."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# --- /proc ----------------------------------------------------------------

def proc_stat(pid):
    """(comm, state, ppid) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may hold spaces and parentheses: it ends at the last ')'.
    lp, rp = data.index("("), data.rindex(")")
    comm = data[lp + 1:rp]
    rest = data[rp + 2:].split()
    return comm, rest[0], int(rest[1])


def proc_status(pid):
    """/proc/PID/status as a dict of str -> str (values stripped)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        return proc_stat(pid)[1] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def proc_children(ppid):
    """{pid: comm} of the live processes whose parent is ppid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            comm, state, parent = proc_stat(int(d))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if parent == ppid and state != "Z":
            out[int(d)] = comm
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    """VmRSS in KiB."""
    m = re.match(r"(\d+)", proc_status(pid).get("VmRSS", ""))
    if not m:
        raise ValueError(f"pid {pid} has no VmRSS")
    return int(m.group(1))


def socket_inodes(pid):
    """The socket inodes a process holds open."""
    out = set()
    d = f"/proc/{pid}/fd"
    for fd in os.listdir(d):
        try:
            link = os.readlink(f"{d}/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out.add(int(m.group(1)))
    return out


def tcp_inode(local_port, remote_port, v6=False):
    """The inode of the TCP socket bound to local_port and connected to
    remote_port on loopback, from /proc/net/tcp (or tcp6); None if none."""
    path = "/proc/net/tcp6" if v6 else "/proc/net/tcp"
    with open(path) as f:
        next(f)
        for line in f:
            cols = line.split()
            lport = int(cols[1].rsplit(":", 1)[1], 16)
            rport = int(cols[2].rsplit(":", 1)[1], 16)
            if lport == local_port and rport == remote_port:
                return int(cols[9])
    return None


# --- process control ------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans of what the tests start (a mitmd child whose master died)
    are reparented to this process, so the teardown finds them by ppid."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans(prefix="mitmd", exclude=()):
    """Kill and reap processes reparented to us whose comm starts with
    prefix, except the pids in exclude (what we started ourselves and
    still run); return what was found as {pid: comm}."""
    found = {}
    for pid, comm in proc_children(os.getpid()).items():
        if comm.startswith(prefix) and pid not in exclude:
            found[pid] = comm
    for pid in found:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    # Zombies included: reap exactly those pids, never waitpid(-1), which
    # would steal the exit status of a subprocess.Popen.
    for pid in list(proc_children_all(os.getpid())):
        if pid in exclude:
            continue
        comm = found.get(pid)
        if comm is None:
            try:
                comm = proc_stat(pid)[0]
            except (FileNotFoundError, ProcessLookupError):
                continue
        if comm.startswith(prefix):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return found


def proc_children_all(ppid):
    """Pids whose parent is ppid, zombies included."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if proc_stat(int(d))[2] == ppid:
                out.append(int(d))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return out
