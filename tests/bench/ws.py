"""WebSocket message throughput through mitmd (`make bench-ws`).

One python3-websockets echo origin on loopback (ws and wss), one client
connection per run that sends COUNT messages of SIZE bytes while reading
the echoes back; the time from the first send to the last echo gives
messages/s and MiB/s each way. Seats: direct to the origin (ws, and wss), mitmd with a
CONNECT tunnel carrying ws (intercepted: plain HTTP then the WebSocket
relay), mitmd intercepting wss, and the same with `store off` (no events
encoded). The client is Python, so the absolute numbers are its own;
quote the ratios to "direct" (ws seats) or "direct-wss" (wss seats)
of one run. Not part of make check.

Environment: WSB_ROUNDS ("count:size,..."), WSB_SEATS.
"""

import asyncio
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import websockets  # noqa: E402

from pylib import tls  # noqa: E402
from pylib.mitmd import Mitmd, tempdir  # noqa: E402

RELEASE = os.path.join(os.path.dirname(__file__), "..", "..", "build")
ROUNDS = os.environ.get("WSB_ROUNDS", "20000:1024,2000:65536,100:1048576")
SEATS = os.environ.get("WSB_SEATS",
                       "direct,direct-wss,ws,wss,wss-store-off")


async def echo(ws):
    async for m in ws:
        await ws.send(m)


def connect_tunnel(proxy_port, target):
    s = socket.create_connection(("127.0.0.1", proxy_port), 10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
              .encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            raise RuntimeError("proxy closed the CONNECT")
        head += b
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    s.setblocking(False)
    return s


async def one_run(uri, count, size, **kw):
    msg = os.urandom(size)
    async with websockets.connect(uri, max_size=None, compression=None,
                                  **kw) as ws:
        t0 = time.monotonic()

        async def sender():
            for _ in range(count):
                await ws.send(msg)

        async def receiver():
            for _ in range(count):
                r = await ws.recv()
                assert len(r) == size
        await asyncio.gather(sender(), receiver())
        return time.monotonic() - t0


async def main():
    ca = tls.TestCA(tempdir("wsbca"))
    cert, key = ca.issue("origin", dns=["localhost"], ips=["127.0.0.1"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    plain = await websockets.serve(echo, "127.0.0.1", 0, max_size=None,
                                   compression=None)
    secure = await websockets.serve(echo, "127.0.0.1", 0, ssl=sctx,
                                    max_size=None, compression=None)
    pport = plain.sockets[0].getsockname()[1]
    sport = secure.sockets[0].getsockname()[1]
    rounds = [tuple(int(x) for x in r.split(":")) for r in ROUNDS.split(",")]
    results = {}
    for seat in SEATS.split(","):
        m = None
        if not seat.startswith("direct"):
            extra = [f'upstream ca-file "{ca.certfile}"']
            if seat.endswith("store-off"):
                extra.append("store off")
            m = Mitmd(extra=extra, workers=1, bindir=RELEASE)
        try:
            for count, size in rounds:
                if seat == "direct":
                    dt = await one_run(f"ws://127.0.0.1:{pport}/", count,
                                       size)
                elif seat == "direct-wss":
                    cctx = ssl.create_default_context(cafile=ca.certfile)
                    dt = await one_run(f"wss://localhost:{sport}/", count,
                                       size, ssl=cctx)
                elif seat == "ws":
                    s = connect_tunnel(m.proxy_port, f"127.0.0.1:{pport}")
                    dt = await one_run(f"ws://127.0.0.1:{pport}/", count,
                                       size, sock=s)
                else:
                    s = connect_tunnel(m.proxy_port, f"localhost:{sport}")
                    cctx = ssl.create_default_context(
                        cafile=tls.mitmd_ca(m))
                    dt = await one_run(f"wss://localhost:{sport}/", count,
                                       size, sock=s, ssl=cctx,
                                       server_hostname="localhost")
                results[(seat, count, size)] = dt
                print(f"{seat:14s} {count:6d} x {size:8d} B: "
                      f"{count / dt:9.0f} msg/s {count * size / dt / 2**20:8.1f}"
                      f" MiB/s each way", flush=True)
        finally:
            if m is not None:
                m.close(check=False)
                m.cleanup()
    plain.close()
    secure.close()
    print("\n== ratio to direct of the same scheme (msg/s), this run")
    for seat in SEATS.split(","):
        cells = []
        base = "direct-wss" if "wss" in seat else "direct"
        for count, size in rounds:
            d = results.get((base, count, size))
            r = results.get((seat, count, size))
            cells.append(f"{size}B {d / r:.2f}" if d and r else "-")
        print(f"{seat:14s} " + "  ".join(cells))


if __name__ == "__main__":
    asyncio.run(main())
