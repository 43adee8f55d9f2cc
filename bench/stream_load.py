"""A low-overhead HTTP/1.1 client for streamed (SSE) and blocking POSTs: time to first token, events, errors.

The sibling of bench/load.py (same approach: a few forked processes, each driving its connections from one
epoll loop over raw non-blocking sockets, no HTTP library) for requests whose interesting moment is not only
the last byte: for every request it records the status, the time to the first occurrence of a marker (the
first token chunk of an OpenAI stream, the first `message` event of a Dify stream), the time to the last byte,
how many times a pattern (one per token / event) occurred, and what went wrong (status, broken connection,
silence longer than `hang_timeout`, a stream without its terminal marker, an in-band error event).

Plans: closed loop for `duration` seconds after `warmup` (each slot sends its next request as soon as the
previous one ends; requests started inside the window are kept, in-flight ones are drained), or `per_slot`
requests per slot fired together (bursts). A slot may cycle over several targets (A, B, A, B, ... on one
connection per target): the direct baseline and the measured path then share the same moments.
"""

from __future__ import annotations

import json
import multiprocessing
import selectors
import socket
import threading
import time
from array import array
from dataclasses import dataclass, field

from bench.load import LoadResult, _connect, collect_results, kill_stragglers, split_shares

OK, ERR_STATUS, ERR_BROKEN, ERR_HANG, ERR_INCOMPLETE, ERR_EVENT = range(6)
ERROR_NAMES = {ERR_STATUS: "status", ERR_BROKEN: "broken", ERR_HANG: "hang", ERR_INCOMPLETE: "incomplete",
               ERR_EVENT: "error-event"}
_FIELDS = 8  # target, status, error, sent (s from start), first ms, total ms, events, sent (perf_counter)
_CHUNKED_END = b"\r\n0\r\n\r\n"


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    request: bytes
    first: bytes = b""  # marks the first token/event; b"" = first byte of the body counts as "first"
    count: bytes = b""  # counted once per occurrence in the body (tokens / events)
    terminal: bytes = b""  # a successful stream contains this
    error: bytes = b""  # a 200 whose body contains this is an error


def post_request(port: int, path: str, body: dict, headers: dict[str, str] | None = None,
                 host: str = "127.0.0.1") -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*", "Content-Type: application/json",
             f"Content-Length: {len(raw)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + raw


@dataclass
class Sample:
    target: int
    status: int
    error: int
    sent: float
    first_ms: float
    total_ms: float
    events: int
    sent_at: float = float("nan")  # time.perf_counter() of the send (CLOCK_MONOTONIC: comparable across processes)


@dataclass
class StreamResult:
    samples: list[Sample]
    wall: float
    error_bodies: list[str] = field(default_factory=list)

    def of(self, target: int) -> list[Sample]:
        return [s for s in self.samples if s.target == target]


def pct(values: list[float], q: float) -> float:
    """Percentile with bench/load.py's definition (nearest rank)."""
    return LoadResult(requests=len(values), errors=0, duration=0.0, latencies_ms=sorted(values)).percentile(q)


class _Slot:
    __slots__ = ("body_start", "buf", "chunked", "close", "conns", "events", "first_at", "head_end", "index",
                 "last_io", "left", "length", "next_at", "pos", "retried", "scan", "sent_at", "sock", "status",
                 "target")

    def __init__(self, index: int) -> None:
        self.index = index
        self.conns: dict[int, socket.socket] = {}
        self.pos = 0
        self.target = -1  # -1: idle
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.left = 0
        self.next_at = 0.0
        self.reset()

    def reset(self) -> None:
        self.buf.clear()
        self.head_end = -1
        self.body_start = 0
        self.length = -1
        self.chunked = False
        self.close = False
        self.status = 0
        self.scan = 0
        self.events = 0
        self.first_at = 0.0
        self.sent_at = 0.0
        self.last_io = 0.0
        self.retried = False


def _client(host: str, targets: list[Target], cycle: list[int], first_slot: int, n_slots: int, total_slots: int,
            plan: dict, barrier: threading.Barrier, results: multiprocessing.Queue) -> None:
    sel = selectors.DefaultSelector()
    perf = time.perf_counter
    samples = array("d")
    error_bodies: list[str] = []
    kinds_seen: dict[tuple[int, int], int] = {}
    slots = [_Slot(first_slot + i) for i in range(n_slots)]
    warmup, duration = plan.get("warmup", 0.0), plan.get("duration")
    per_slot, stagger = plan.get("per_slot"), plan.get("stagger", 0.0)
    hang_timeout, drain = plan.get("hang_timeout", 30.0), plan.get("drain", 30.0)
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        results.put((b"", ["barrier broken"]))
        return
    start = perf()
    measure_from = start + warmup
    stop_at = start + warmup + duration if duration is not None else float("inf")
    # A `per_slot` plan ends when its requests have, however long that takes (a request silent for hang_timeout
    # ends as a hang).
    deadline = stop_at + drain if duration is not None else float("inf")
    for slot in slots:
        slot.left = per_slot if per_slot is not None else -1
        slot.next_at = start + (stagger * slot.index / total_slots if stagger else 0.0)

    def conn_for(slot: _Slot, target: int) -> socket.socket:
        sock = slot.conns.get(target)
        if sock is None:
            sock = _connect(host, targets[target].port)
            slot.conns[target] = sock
            sel.register(sock, selectors.EVENT_READ, (slot, target))
        return sock

    def drop(slot: _Slot, target: int) -> None:
        sock = slot.conns.pop(target, None)
        if sock is not None:
            sel.unregister(sock)
            sock.close()

    def send(slot: _Slot) -> None:
        target = cycle[slot.pos % len(cycle)]
        slot.pos += 1
        slot.reset()
        slot.target = target
        request = targets[target].request
        for attempt in (0, 1):
            try:
                sock = conn_for(slot, target)
                _send_all(sock, request)
                break
            except OSError:
                drop(slot, target)
                if attempt:
                    raise
        slot.sock = sock
        slot.sent_at = slot.last_io = perf()

    def finish(slot: _Slot, now: float, error: int) -> None:
        target = targets[slot.target]
        if error == OK:
            if slot.status != 200:
                error = ERR_STATUS
            elif target.error and slot.buf.find(target.error, slot.body_start) >= 0:
                error = ERR_EVENT
            elif target.terminal and slot.buf.find(target.terminal, slot.body_start) < 0:
                error = ERR_INCOMPLETE
        kind = (error, slot.status)
        if error != OK and kinds_seen.get(kind, 0) < 2 and len(error_bodies) < 20:  # a few of each kind
            kinds_seen[kind] = kinds_seen.get(kind, 0) + 1
            at = slot.buf.find(target.error, slot.body_start) if target.error else -1
            body = slot.buf[at:at + 400] if at >= 0 else slot.buf[slot.body_start:][-400:]
            error_bodies.append(f"{target.label}: {ERROR_NAMES[error]} status={slot.status} "
                                f"{bytes(body).decode(errors='replace')!r}")
        if slot.sent_at >= measure_from:
            first = slot.first_at or now
            samples.extend((slot.target, slot.status, error, slot.sent_at - start, (first - slot.sent_at) * 1e3,
                            (now - slot.sent_at) * 1e3, slot.events, slot.sent_at))
        if error != OK or slot.close:
            drop(slot, slot.target)
        slot.target = -1
        slot.sock = None
        if slot.left > 0:
            slot.left -= 1
        slot.next_at = now

    def receive(slot: _Slot, target_index: int, now: float) -> None:
        sock = slot.conns.get(target_index)
        if sock is None:
            return
        try:
            data = sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if slot.target != target_index or slot.sock is not sock:
            if not data:  # an idle keep-alive connection closed by the server: reconnect lazily
                drop(slot, target_index)
            return
        if not data:
            if not slot.buf and not slot.retried:  # a stale keep-alive connection: resend once
                drop(slot, target_index)
                retried_sent = slot.sent_at
                slot.pos -= 1
                try:
                    send(slot)
                except OSError:
                    finish(slot, now, ERR_BROKEN)
                    return
                slot.sent_at, slot.retried = retried_sent, True
                return
            finish(slot, now, ERR_BROKEN)
            return
        slot.buf += data
        slot.last_io = now
        buf = slot.buf
        if slot.head_end < 0:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(buf[:head_end]).lower()
            slot.head_end, slot.body_start = head_end, head_end + 4
            slot.status = int(head[9:12])
            slot.close = b"\r\nconnection: close" in head
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                end = head.find(b"\r\n", at + 2)
                slot.length = int(head[at + 17:end if end >= 0 else len(head)])
            else:
                slot.chunked = b"\r\ntransfer-encoding: chunked" in head
                slot.length = -1 if slot.chunked else 0
            slot.scan = slot.body_start
        target = targets[target_index]
        if target.first and not slot.first_at:
            if buf.find(target.first, max(slot.body_start, slot.scan - len(target.first) + 1)) >= 0:
                slot.first_at = now
        elif not target.first and not slot.first_at and len(buf) > slot.body_start:
            slot.first_at = now
        if target.count:
            slot.events += buf.count(target.count, max(slot.body_start, slot.scan - len(target.count) + 1))
        if slot.chunked:
            done = buf.find(_CHUNKED_END, max(slot.body_start - 2, slot.scan - len(_CHUNKED_END) + 1)) >= 0
        else:
            done = len(buf) - slot.body_start >= slot.length
        slot.scan = len(buf)
        if done:
            finish(slot, now, OK)

    try:
        while True:
            now = perf()
            busy = False
            next_wake = now + 0.05
            for slot in slots:
                if slot.target >= 0:
                    busy = True
                    if now - slot.last_io > hang_timeout:
                        finish(slot, now, ERR_HANG)
                    continue
                more = slot.left != 0 and (duration is None or now < stop_at)
                if not more:
                    continue
                busy = True
                if now >= slot.next_at:
                    try:
                        send(slot)
                    except OSError:
                        slot.sent_at, slot.target = now, cycle[(slot.pos - 1) % len(cycle)]
                        finish(slot, now, ERR_BROKEN)
                        slot.next_at = now + 0.05
                else:
                    next_wake = min(next_wake, slot.next_at)
            if not busy or now > deadline:
                break
            for key, _ in sel.select(timeout=max(0.0, next_wake - perf())):
                slot, target_index = key.data
                receive(slot, target_index, perf())
        now = perf()
        for slot in slots:  # still in flight at the deadline: never ended
            if slot.target >= 0:
                finish(slot, now, ERR_HANG)
    finally:
        for slot in slots:
            for sock in slot.conns.values():
                sock.close()
        sel.close()
        results.put((samples.tobytes(), error_bodies))


def _send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            selectors.select.select([], [sock], [], 5.0)
            continue
        view = view[sent:]


def run_streams(targets: list[Target], *, concurrency: int, cycle: list[int] | None = None,
                duration: float | None = None, warmup: float = 0.0, per_slot: int | None = None,
                stagger: float = 0.0, hang_timeout: float = 30.0, drain: float = 30.0, processes: int = 2,
                host: str = "127.0.0.1") -> StreamResult:
    """Drive `concurrency` slots over `targets` (see the module docstring); returns every kept sample."""
    if (duration is None) == (per_slot is None):
        raise ValueError("give exactly one of duration / per_slot")
    cycle = cycle or [0]
    plan = {"warmup": warmup, "duration": duration, "per_slot": per_slot, "stagger": stagger,
            "hang_timeout": hang_timeout, "drain": drain}
    shares = split_shares(concurrency, processes)
    n_procs = len(shares)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n_procs + 1)
    results: multiprocessing.Queue = ctx.Queue()
    procs, first = [], 0
    for share in shares:
        procs.append(ctx.Process(target=_client, args=(host, targets, cycle, first, share, concurrency, plan,
                                                       barrier, results), daemon=True))
        first += share
    for proc in procs:
        proc.start()
    collected: list[tuple[bytes, list[str]]] = []
    started = time.perf_counter()
    try:
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        work = duration if duration is not None else per_slot * (hang_timeout + 60)  # type: ignore[operator]
        limit = time.monotonic() + warmup + work + drain + hang_timeout + 60
        collected = collect_results(results, procs, deadline=limit)
    finally:
        kill_stragglers(procs)
    wall = time.perf_counter() - started
    samples: list[Sample] = []
    bodies: list[str] = []
    for raw, errors in collected:
        block = array("d")
        block.frombytes(raw)
        for i in range(0, len(block), _FIELDS):
            t, status, error, sent, first_ms, total_ms, events, sent_at = block[i:i + _FIELDS]
            samples.append(Sample(int(t), int(status), int(error), sent, first_ms, total_ms, int(events), sent_at))
        bodies.extend(errors)
    if len(collected) < n_procs:
        bodies.append(f"{n_procs - len(collected)} client process(es) died")
        samples.append(Sample(cycle[0], 0, ERR_BROKEN, 0.0, float("nan"), float("nan"), 0))
    samples.sort(key=lambda s: s.sent)
    return StreamResult(samples=samples, wall=wall, error_bodies=bodies)
