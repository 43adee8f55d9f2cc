"""Chat-path benchmark: POST /v1/chat-messages beside a direct call of the same mock model, same run, same client.

    .venv/bin/python bench/bench_chat.py [--quick] [--soak-minutes 5] [--mode both|distributed|embedded]

A mock OpenAI-compatible model (bench/mock_llm.py, its own asyncio process on 127.0.0.1) answers with fixed
timing: `timed` = first token after 50 ms, then tokens 20 ms apart (10 tokens); `zero` = the same 10 tokens
without delays. For each server mode (embedded: one gunicorn process, SQLite; distributed: gunicorn + real Celery
workers started as the image starts them, `docker/entrypoint.sh` MODE=worker, with the default settings, PostgreSQL
scratch database, Redis) it measures (a) the mock called directly (an OpenAI request) and (b) the same model
through /v1/chat-messages (the Dify request), with one client
(bench/stream_load.py, raw sockets + epoll), and PRINTS p50/p95 of both and of the
difference (b) - (a) at matching percentiles:

  * blocking at concurrency 1 and 20 (latency of the whole answer);
  * streaming time to first token at concurrency 1 and 50; every stream's `message` events are counted and
    compared with the number of upstream chunks (no coalescing), and the time to the last byte is shown too
    (no added per-chunk delay);
  * a soak (distributed by default, `--soak-modes`): 200 concurrent 5-second streams (the timed mock, 248
    tokens), re-issued for --soak-minutes (default 5; --quick: 1): TTFT p50/p95/p99, errors, event mismatches;
  * overload: max_active_requests = N on an app and 2N concurrent requests (429 latencies, no 500, no hang);
    distributed only: a second gunicorn with a one-connection database pool (SQLALCHEMY_POOL_SIZE=1,
    MAX_OVERFLOW=0, POOL_TIMEOUT=--pool-timeout) while a table lock keeps that connection busy, and one whose
    Redis goes away (a TCP proxy in front of Redis, then closed): status codes and latencies (503 expected).

c=1 rows alternate (a) and (b) request by request; rows with concurrency > 1 alternate (a) and (b) windows over
--rounds rounds, so background noise hits both alike. It never asserts: every target line is printed as
MET / NOT MET in a final table (exit code 0 unless the setup itself breaks). Every process, the scratch
database and the Redis db (locked, flushed before and after) are cleaned up at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



TIMED_FIRST_MS, TIMED_INTER_MS, TOKENS = 50, 20, 10

# --- one mode --------------------------------------------------------------------------------------------------

@dataclass
class ModeResult:
    mode: str
    rows: list[Row] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    soak: SoakResult | None = None


def run_mode(mode: str, args: argparse.Namespace, mock_pid: int) -> ModeResult:
    print(f"\n== {mode}: starting servers", flush=True)
    result = ModeResult(mode)
    with mode_servers(mode, args, args.mock_port) as ms:
        print(f"   api on :{ms.port}; apps ready; load average {_load()}", flush=True)
        warm_up(ms, args)
        if "latency" in args.parts:
            for variant in VARIANTS:
                for streaming, concurrencies in ((False, (1, 20)), (True, (1, 50))):
                    for concurrency in concurrencies:
                        result.rows.append(measure_pair(ms, mock_pid, variant, streaming, concurrency, args))
        if "overload" in args.parts:
            result.bursts += overload_limit(ms, args)
            if mode == "distributed":
                result.bursts += overload_db_pool(ms, args)
                result.bursts += overload_redis_down(ms, args)
        if "soak" in args.parts and mode in args.soak_modes and args.soak_minutes > 0:
            result.soak = soak(ms, mock_pid, args)
    return result
from bench.chat_common import (  # noqa: E402
    SOAK_MODEL,
    SOAK_STREAM_MS,
    SOAK_TOKENS,
    VARIANTS,
    Row,
    _fmt,
    _load,
    machine_speed,
    measure_pair,
    mock_server,
    mode_servers,
    warm_up,
)
from bench.chat_overload import (  # noqa: E402
    Burst,
    SoakResult,
    overload_db_pool,
    overload_limit,
    overload_redis_down,
    soak,
)

# --- report ----------------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    mode: str
    requirement: str
    measured: str
    met: bool | None


def _mark(met: bool | None) -> str:
    return "n/a" if met is None else ("MET" if met else "NOT MET")


def report(results: list[ModeResult], args: argparse.Namespace, load_before: str, started: float) -> None:
    line = "-" * 132
    print(f"\n{line}\nRESULTS  (ms; diff = chat - direct at the same percentile; CPU = server CPU ms per request "
          f"(api+worker), mock CPU for direct)\n{line}")
    print(f"{'mode':<12}{'variant':<8}{'kind':<10}{'conc':>5}{'direct p50':>11}{'p95':>8}{'chat p50':>10}{'p95':>8}"
          f"{'diff p50':>10}{'p95':>8}{'last-byte diff p50':>19}{'n a/b':>11}{'err a/b':>9}{'ev!=ch':>7}"
          f"{'CPU a/b':>12}")
    verdicts: list[Verdict] = []
    for res in results:
        for row in res.rows:
            mismatch = str(row.b.mismatches(row.expected_events)) if row.kind == "streaming" else "-"
            print(f"{row.mode:<12}{row.variant:<8}{row.kind:<10}{row.concurrency:>5}{_fmt(row.a.p(0.5, row.what), 11)}"
                  f"{_fmt(row.a.p(0.95, row.what))}{_fmt(row.b.p(0.5, row.what), 10)}{_fmt(row.b.p(0.95, row.what))}"
                  f"{_fmt(row.diff(0.5), 10)}{_fmt(row.diff(0.95))}{_fmt(row.diff_total(0.5), 19)}"
                  f"{f'{len(row.a.samples)}/{len(row.b.samples)}':>11}{f'{row.a.errors}/{row.b.errors}':>9}"
                  f"{mismatch:>7}{_fmt(row.a.cpu_ms_per_req, 6, 2)}/{_fmt(row.b.cpu_ms_per_req, 5, 1).strip():<5}")
            verdicts += _row_verdicts(row)
        splits = [row for row in res.rows if row.split]
        for row in splits:
            (a_before, a_after), (b_before, b_after) = row.split["direct"], row.split["chat"]
            answer = "first token" if row.kind == "streaming" else "answer"
            print(f"{'':<12}{row.variant:<8}{row.kind:<10}{1:>5}  split of the c=1 difference (p50): request -> model "
                  f"called {b_before - a_before:+.1f} ms, model {answer} -> client {b_after - a_after:+.1f} ms")
        for burst in res.bursts:
            verdicts.append(Verdict(res.mode, f"{burst.label}: {burst.expect} < 100 ms, no 500, no hang",
                                    f"{dict(sorted(burst.statuses().items(), key=str))} max {burst.refused_max:.1f} ms",
                                    burst.met()))
        if res.soak is not None:
            s = res.soak
            print(f"{res.mode:<12}soak {args.soak_streams} x {SOAK_STREAM_MS / 1000:.0f}s streams, {s.minutes:g} min: "
                  f"TTFT p50/p95/p99 direct {s.direct.p(0.5, 'first'):.1f}/{s.direct.p(0.95, 'first'):.1f}/"
                  f"{s.direct.p(0.99, 'first'):.1f}  chat {s.chat.p(0.5, 'first'):.1f}/{s.chat.p(0.95, 'first'):.1f}/"
                  f"{s.chat.p(0.99, 'first'):.1f} ms; streams {len(s.chat.samples)}, errors {s.chat.errors} "
                  f"({s.chat.error_kinds()}), events!=chunks {s.chat.mismatches(SOAK_TOKENS)}, stream p50 "
                  f"{s.chat.p(0.5, 'total'):.0f} ms, server CPU {s.cpu_percent:.0f}% of one core, "
                  f"{s.cpu_us_per_event:.0f} µs per event")
            verdicts.append(Verdict(res.mode, f"soak {args.soak_streams} x 5 s streams for {s.minutes:g} min: 0 errors",
                                    f"{s.chat.errors} errors of {len(s.chat.samples)} ({s.chat.error_kinds()})",
                                    s.chat.errors == 0 and len(s.chat.samples) > 0))
            p95 = s.chat.p(0.95, "first")
            verdicts.append(Verdict(res.mode, "soak: TTFT p95 <= 500 ms", f"{p95:.1f} ms (p50 "
                                    f"{s.chat.p(0.5, 'first'):.1f}, p99 {s.chat.p(0.99, 'first'):.1f})",
                                    p95 <= 500.0))
            verdicts.append(Verdict(res.mode, "soak: one event per upstream chunk",
                                    f"{s.chat.mismatches(SOAK_TOKENS)} of {len(s.chat.ok)} streams differ",
                                    s.chat.mismatches(SOAK_TOKENS) == 0 and bool(s.chat.ok)))
        elif args.soak_minutes > 0 and "soak" in args.parts:
            verdicts.append(Verdict(res.mode, "soak 200 x 5 s streams",
                                    f"not run (--soak-modes {','.join(args.soak_modes)})", None))
        if res.mode == "embedded" and "overload" in args.parts:
            verdicts.append(Verdict(res.mode, "DB pool / Redis exhausted: 503 < 100 ms",
                                    "not applicable (SQLite, no Redis)", None))
    print(f"\n{line}\nSUMMARY  (load average before {load_before}, now {_load()}; {os.cpu_count()} CPUs shared by "
          f"client, mock and servers; total {time.monotonic() - started:.0f}s)\n{line}")
    req_width = max([len("requirement"), *(len(v.requirement) for v in verdicts)]) + 2
    measured_width = max([len("measured"), *(len(v.measured) for v in verdicts)]) + 2
    print(f"{'mode':<12}{'requirement':<{req_width}}{'measured':<{measured_width}}verdict")
    for v in verdicts:
        print(f"{v.mode:<12}{v.requirement:<{req_width}}{v.measured:<{measured_width}}{_mark(v.met)}")
    met = sum(1 for v in verdicts if v.met)
    judged = sum(1 for v in verdicts if v.met is not None)
    print(f"\n{met} of {judged} target lines MET")


def _row_verdicts(row: Row) -> list[Verdict]:
    where = f"{row.variant} {row.kind} c={row.concurrency}"
    out = []
    limits: list[tuple[float, float]] = []
    if row.kind == "blocking":
        limits = [(0.5, 15.0), (0.95, 30.0)] if row.concurrency == 1 else [(0.5, 30.0)]
    else:
        limits = [(0.5, 10.0)] if row.concurrency == 1 else [(0.5, 40.0), (0.95, 100.0)]
    label = "latency" if row.kind == "blocking" else "TTFT"
    for q, limit in limits:
        value = row.diff(q)
        out.append(Verdict(row.mode, f"{where}: {label} p{int(q * 100)} diff <= +{limit:g} ms",
                           f"{value:+.1f} ms ({row.a.p(q, row.what):.1f} -> {row.b.p(q, row.what):.1f})",
                           value <= limit if value == value else False))
    errors = row.b.errors
    if errors:
        out.append(Verdict(row.mode, f"{where}: no errors", f"{errors} of {len(row.b.samples)} "
                           f"({row.b.error_kinds()})", False))
    if row.kind == "streaming":
        mismatches = row.b.mismatches(row.expected_events)
        out.append(Verdict(row.mode, f"{where}: one event per upstream chunk, no added delay",
                           f"{mismatches} of {len(row.b.ok)} differ; last-byte diff p50 {row.diff_total(0.5):+.1f} "
                           f"ms vs TTFT {row.diff(0.5):+.1f}", mismatches == 0 and bool(row.b.ok)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and a 1-minute soak (about 6 minutes)")
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    parser.add_argument("--soak-minutes", type=float, default=None, help="minutes (default 5; quick 1; 0 skips)")
    parser.add_argument("--soak-modes", default="distributed",
                        help="comma-separated modes that run the soak (default distributed: the compose setup)")
    parser.add_argument("--parts", default="latency,overload,soak",
                        help="comma-separated parts to run (default latency,overload,soak)")
    parser.add_argument("--soak-streams", type=int, default=200)
    parser.add_argument("--soak-baseline", type=float, default=None, help="seconds of direct soak baseline")
    parser.add_argument("--samples", type=int, default=None, help="per side, c=1 rows (default 40; quick 20)")
    parser.add_argument("--window", type=float, default=None, help="s per side per round (default 4; quick 2)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds excluded at the start of each window")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds for c>1 rows (default 2)")
    parser.add_argument("--limit-n", type=int, default=10, help="max_active_requests N of the overload app")
    parser.add_argument("--burst-n", type=int, default=20, help="concurrent requests in the DB/Redis bursts")
    parser.add_argument("--pool-timeout", default="0.05", help="SQLALCHEMY_POOL_TIMEOUT of the tiny-pool server")
    parser.add_argument("--lock-seconds", type=float, default=1.5, help="how long the table lock holds the pool")
    parser.add_argument("--hang-timeout", type=float, default=30.0, help="silence counted as a hang (seconds)")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dirs with the server logs")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.soak_minutes = args.soak_minutes if args.soak_minutes is not None else (1.0 if args.quick else 5.0)
    args.samples = args.samples or (20 if args.quick else 40)
    args.window = args.window or (2.0 if args.quick else 4.0)
    args.soak_baseline = args.soak_baseline or (5.0 if args.quick else 10.0)
    args.soak_modes = [m.strip() for m in args.soak_modes.split(",") if m.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if "both" in args.soak_modes:
        args.soak_modes = ["distributed", "embedded"]

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    modes = ["distributed", "embedded"] if args.mode == "both" else [args.mode]
    load_before, started = _load(), time.monotonic()
    print(f"bench_chat: modes {', '.join(modes)}; load average {load_before}; {os.cpu_count()} CPUs "
          f"({machine_speed()}); "
          f"mock models {VARIANTS['timed']} (timed), {VARIANTS['zero']} (zero), {SOAK_MODEL} (soak)", flush=True)
    results: list[ModeResult] = []
    logs = Path(tempfile.mkdtemp(prefix="openify-bench-chat-mock-"))
    try:
        with mock_server(logs) as (mock_port, mock_pid):
            args.mock_port = mock_port
            for mode in modes:
                results.append(run_mode(mode, args, mock_pid))
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, scratch database dropped", file=sys.stderr)
        return 130
    finally:
        if not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    report(results, args, load_before, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
