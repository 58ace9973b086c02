#!/usr/bin/python3
"""Client of tests/bench/memory.sh: hold many intercepted TLS connections.

Opens up to --conns connections to an explicit proxy, at most --inflight
at a time. Each one sends "CONNECT target", starts TLS inside the tunnel
(no verification, or against --cafile), sends one keep-alive HTTP/1.1
GET, reads the whole response (Content-Length) and then stays open and
silent. It stops opening at --conns held connections, after --deadline
seconds, or when attempts keep failing and none has succeeded for
--stall seconds (the proxy is at a limit), and prints one line on stdout:

    READY held=N failed=F secs=S errors=KIND:COUNT,...

then holds everything until SIGUSR1, prints

    ALIVE held=N dropped=D

(D: connections the proxy closed while they were idle), closes them all
and prints "CLOSED". Progress goes to stderr. Runs with Debian's
/usr/bin/python3 (3.11: StreamWriter.start_tls), standard library only.
Loopback only; the caller picks the addresses.
"""

import argparse
import asyncio
import collections
import signal
import ssl
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", required=True, help="HOST:PORT of the proxy")
    ap.add_argument("--target", required=True, help="HOST:PORT to CONNECT to")
    ap.add_argument("--path", default="/small")
    ap.add_argument("--expect", type=int, default=13, help="body bytes")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--inflight", type=int, default=200)
    ap.add_argument("--deadline", type=float, default=300.0)
    ap.add_argument("--io-timeout", type=float, default=30.0,
                    help="bound on each step of one connection")
    ap.add_argument("--stall", type=float, default=30.0,
                    help="give up when attempts fail and nothing new has "
                    "opened for this long")
    ap.add_argument("--cafile", help="verify the forged leaf against this CA")
    return ap.parse_args()


def host_port(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


class Bench:
    def __init__(self, a):
        self.a = a
        self.proxy = host_port(a.proxy)
        self.target = a.target
        self.thost = host_port(a.target)[0]
        if a.cafile:
            self.ctx = ssl.create_default_context(cafile=a.cafile)
        else:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.connect = ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
                        (self.target, self.target)).encode()
        self.get = ("GET %s HTTP/1.1\r\nHost: %s\r\n"
                    "User-Agent: mitmd-memclient\r\n\r\n" %
                    (a.path, self.target)).encode()
        self.held = []          # writers of open, idle connections
        self.failed = 0
        self.dropped = 0
        self.errors = collections.Counter()
        self.release = asyncio.Event()
        self.last_ok = 0.0      # loop time of the last connection held

    async def one(self):
        """One connection, up to the idle hold; returns its (reader, writer)."""
        t = self.a.io_timeout
        r, w = await asyncio.wait_for(
            asyncio.open_connection(*self.proxy), t)
        try:
            w.write(self.connect)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), t)
            status = head.split(b" ", 2)[1] if b" " in head else b"?"
            if status != b"200":
                raise RuntimeError("connect-%s" % status.decode("latin-1"))
            await asyncio.wait_for(
                w.start_tls(self.ctx, server_hostname=self.thost), t)
            w.write(self.get)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), t)
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ", 2)[1] if " " in lines[0] else "?"
            length = None
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if status != "200":
                raise RuntimeError("http-%s" % status)
            if length is None:
                raise RuntimeError("no-content-length")
            body = await asyncio.wait_for(r.readexactly(length), t)
            if len(body) != self.a.expect:
                raise RuntimeError("body-%d" % len(body))
            return r, w
        except BaseException:
            w.transport.abort()
            raise

    async def hold(self, r, w):
        """Wait for the proxy to close an idle connection (it should not)."""
        try:
            data = await r.read(1)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            data = b""
        except asyncio.CancelledError:
            return
        if not self.release.is_set():
            self.dropped += 1
            self.errors["dropped-%s" % ("eof" if not data else "data")] += 1

    async def worker(self, todo, stop_at, holders):
        loop = asyncio.get_running_loop()
        while todo[0] > 0 and loop.time() < stop_at:
            if self.failed and loop.time() - self.last_ok > self.a.stall:
                return              # stuck at the proxy's limit
            todo[0] -= 1
            try:
                r, w = await self.one()
            except Exception as e:      # noqa: BLE001 -- counted by kind
                self.failed += 1
                kind = type(e).__name__
                if isinstance(e, RuntimeError):
                    kind = str(e)
                elif isinstance(e, OSError) and e.errno:
                    kind = "%s-%d" % (kind, e.errno)
                self.errors[kind] += 1
                todo[0] += 1            # try again, until the deadline
                if self.failed > max(1000, self.a.conns):
                    return              # hopeless: give up early
                await asyncio.sleep(0.05)
                continue
            self.held.append(w)
            self.last_ok = loop.time()
            holders.append(asyncio.create_task(self.hold(r, w)))

    async def progress(self, t0):
        last = -1
        while True:
            await asyncio.sleep(5)
            n = len(self.held)
            if n != last:
                print("memclient: %5.0fs held=%d failed=%d dropped=%d" %
                      (time.monotonic() - t0, n, self.failed, self.dropped),
                      file=sys.stderr, flush=True)
                last = n

    async def run(self):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.release.set)
        t0 = time.monotonic()
        stop_at = loop.time() + self.a.deadline
        self.last_ok = loop.time()
        todo = [self.a.conns]
        holders = []
        prog = asyncio.create_task(self.progress(t0))
        workers = [asyncio.create_task(self.worker(todo, stop_at, holders))
                   for _ in range(min(self.a.inflight, self.a.conns))]
        # The deadline also ends the attempts in progress (each aborts
        # its socket on cancellation), so READY comes on time.
        _, late = await asyncio.wait(workers, timeout=self.a.deadline + 1)
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        secs = time.monotonic() - t0
        errs = ",".join("%s:%d" % kv for kv in self.errors.most_common(8))
        print("READY held=%d failed=%d secs=%.1f errors=%s" %
              (len(self.held), self.failed, secs, errs or "none"), flush=True)
        await self.release.wait()
        prog.cancel()
        alive = len(self.held) - self.dropped
        print("ALIVE held=%d dropped=%d" % (alive, self.dropped), flush=True)
        for w in self.held:
            w.transport.abort()
        for h in holders:
            h.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        print("CLOSED", flush=True)


def main():
    a = parse_args()
    asyncio.run(Bench(a).run())


if __name__ == "__main__":
    main()
