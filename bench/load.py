"""A low-overhead HTTP/1.1 keep-alive load generator (closed loop: one request in flight per connection).

`concurrency` connections are spread over a few client processes; each process drives its connections
from one epoll loop over raw non-blocking sockets (no HTTP library, no coroutines), so the client steals
as little CPU as possible from the server it shares the machine with. After `warmup` seconds every
response completed inside the `duration` window is counted; its latency is measured from the moment
its request was written to the moment its last byte was read.
"""

from __future__ import annotations

import multiprocessing
import queue
import selectors
import socket
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadResult:
    requests: int
    errors: int  # non-200 answers plus broken connections inside the window
    duration: float
    latencies_ms: list[float] = field(repr=False)  # sorted
    probe_delta: float | None = None  # change of the caller's probe (e.g. server CPU seconds) over the window

    @property
    def probe_per_request_ms(self) -> float:
        if self.probe_delta is None or not self.requests:
            return float("nan")
        return self.probe_delta / self.requests * 1000.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        index = min(len(self.latencies_ms) - 1, max(0, round(q * len(self.latencies_ms)) - 1))
        return self.latencies_ms[index]

    @classmethod
    def merge(cls, parts: list[LoadResult]) -> LoadResult:
        """One result from several measurement windows of the same target."""
        latencies = sorted(x for part in parts for x in part.latencies_ms)
        probes = [p.probe_delta for p in parts if p.probe_delta is not None]
        return cls(requests=sum(p.requests for p in parts), errors=sum(p.errors for p in parts),
                   duration=sum(p.duration for p in parts), latencies_ms=latencies,
                   probe_delta=sum(probes) if len(probes) == len(parts) else None)

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def build_request(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Conn:
    __slots__ = ("buf", "sent_at", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.sent_at = 0.0


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _parse(buf: bytearray) -> tuple[int, int, bool] | None:
    """(status, bytes used, connection-close) of the complete response at the head of buf, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    status = int(head[9:12])
    body_start = head_end + 4
    close = b"\r\nconnection: close" in head
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17:end if end >= 0 else len(head)])
        total = body_start + length
        return (status, total, close) if len(buf) >= total else None
    if b"\r\ntransfer-encoding: chunked" in head:
        last = buf.find(b"\r\n0\r\n\r\n", body_start - 2)  # the last chunk follows the previous CRLF
        return (status, last + 7, close) if last >= 0 else None
    return status, body_start, close  # no body (e.g. 204/304)


def split_shares(concurrency: int, processes: int) -> list[int]:
    """Connections per client process: `concurrency` spread as evenly as possible over at most `processes`."""
    n = max(1, min(processes, concurrency))
    return [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]


def collect_results(results: Any, procs: list[Any], *, deadline: float) -> list[Any]:
    """One result per client process: wait until all reported, all died, or `deadline` (monotonic) passed."""
    collected: list[Any] = []
    while len(collected) < len(procs):
        try:
            collected.append(results.get(timeout=1.0))
        except queue.Empty:
            gone = time.monotonic() > deadline or not any(p.is_alive() for p in procs)
            if gone and results.empty():
                break
    for proc in procs:
        proc.join(timeout=5)
    return collected


def kill_stragglers(procs: list[Any]) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)


def _worker(host: str, port: int, request: bytes, n_conns: int, warmup: float, duration: float,
            barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    sel = selectors.DefaultSelector()
    try:
        conns = [_Conn(_connect(host, port)) for _ in range(n_conns)]
        barrier.wait(timeout=60)
    except Exception:
        barrier.abort()
        results.put((0, n_conns, b""))
        return
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    latencies = array("d")
    count = errors = 0
    perf = time.perf_counter
    start = perf()
    measure_from, stop_at = start + warmup, start + warmup + duration

    def send(conn: _Conn) -> None:
        conn.sent_at = perf()
        conn.sock.send(request)  # a few hundred bytes always fit an empty socket buffer

    def reconnect(conn: _Conn) -> None:
        sel.unregister(conn.sock)
        conn.sock.close()
        conn.buf.clear()
        while True:
            try:
                conn.sock = _connect(host, port)
                break
            except OSError:
                if perf() >= stop_at:
                    raise
                time.sleep(0.01)
        sel.register(conn.sock, selectors.EVENT_READ, conn)
        send(conn)

    for conn in conns:
        send(conn)
    try:
        while True:
            events = sel.select(timeout=0.25)
            now = perf()
            if now >= stop_at:
                break
            for key, _ in events:
                conn = key.data
                try:
                    chunk = conn.sock.recv(262144)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:  # the server closed the connection (or reset it) mid-request
                    if now >= measure_from:
                        errors += 1
                    reconnect(conn)
                    continue
                conn.buf += chunk
                parsed = _parse(conn.buf)
                if parsed is None:
                    continue
                status, used, close = parsed
                done = perf()
                if measure_from <= done < stop_at:
                    count += 1
                    latencies.append((done - conn.sent_at) * 1000.0)
                    if status != 200:
                        errors += 1
                del conn.buf[:used]
                if close:
                    reconnect(conn)
                else:
                    send(conn)
    except OSError:
        pass  # the server went away; report what was measured
    finally:
        for conn in conns:
            conn.sock.close()
        sel.close()
        results.put((count, errors, latencies.tobytes()))


def run_load(host: str, port: int, path: str, *, headers: dict[str, str] | None = None, concurrency: int = 1,
             duration: float = 8.0, warmup: float = 2.0, processes: int = 2,
             probe: Callable[[], float] | None = None) -> LoadResult:
    """Drive `concurrency` keep-alive connections for warmup + duration seconds; return the window's figures.

    `probe` (optional) is read at the start and end of the measured window, e.g. the server's CPU seconds.
    """
    request = build_request(host, port, path, headers)
    shares = split_shares(concurrency, processes)
    n_procs = len(shares)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n_procs + 1)  # the clients and this process start the clock together
    results: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(host, port, request, share, warmup, duration, barrier, results),
                         daemon=True) for share in shares]
    for proc in procs:
        proc.start()
    collected: list[tuple[int, int, bytes]] = []
    probe_delta = None
    try:
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass  # a client could not connect; it reports the failure below
        else:
            if probe is not None:
                start = time.perf_counter()
                time.sleep(warmup)
                before = probe()
                time.sleep(max(0.0, start + warmup + duration - time.perf_counter()))
                probe_delta = probe() - before
        collected = collect_results(results, procs, deadline=time.monotonic() + warmup + duration + 90)
    finally:
        kill_stragglers(procs)
    latencies: list[float] = []
    count = errors = 0
    for n, e, raw in collected:
        count += n
        errors += e
        block = array("d")
        block.frombytes(raw)
        latencies.extend(block)
    if len(collected) < n_procs:
        errors += 1  # a client process died: make the row visibly suspect
    latencies.sort()
    return LoadResult(requests=count, errors=errors, duration=duration, latencies_ms=latencies,
                      probe_delta=probe_delta)
