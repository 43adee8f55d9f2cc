"""Indexing throughput: a generated corpus through the real indexing task, beside the raw extract+clean+split.

    .venv/bin/python bench/bench_indexing.py [--quick] [--mb 50] [--dims 1536,384] [--modes distributed,embedded]
        [--runs economy,high_quality,real_model] [--real-mb 8] [--real-model l50-t25-c1] [--profile]

Corpus: `--mb` MB (2^20 bytes) of deterministic English-like documents (bench/knowledge_common.corpus: real
words from the cl100k vocabulary plus made-up ones, titles, headings, paragraphs, lists; log-normal sizes).
Documents are created by text through document_ingest_service.create_by_text (the API's path: each becomes a
.txt upload in storage) with the automatic process rule (500 tokens, 50 overlap), while the dispatcher holds
the messages; then every message is released at once to a local worker that runs the real Celery task object
(`indexing.index_document`, task.apply on threads: Celery's wrapper, app context, lease, heartbeat, tenant cap),
and the clock runs until every document is terminal. Figures: MB/min of source text, segments, CPU seconds of
this process / PostgreSQL / the mock model, and where the documents' time went (their stage timestamps).

- baseline: extract + clean + split of every document in this process (api/core/rag only), no database;
- economy: keyword table + full-text index, no model call (target >= 100 MB/min);
- high_quality: embeddings from bench/mock_llm.py answering at once (each of `--dims`) into pgvector with its HNSW
  index live (distributed) or the embedded vector store (target >= 30 MB/min);
- real_model: the same against a latency model of a real embedding provider (`--real-model`: l<ms per request>,
  t<µs per token>, c<requests served at once>; default 50 ms + 25 µs/token, one request at a time: ~40k tokens/s,
  a text-embeddings-inference server on one mid-range GPU or a hosted API) over `--real-mb` MB: the time the
  model was busy vs wall time (target: wall <= 1.3 x busy).
Distributed: a throwaway PostgreSQL 18 + pgvector (tests/pgvector_server.py) and Redis db 12, the worker with
INDEXING_TENANT_CONCURRENCY threads; embedded: SQLite + FTS5 + numpy under a temp STORAGE_DIR with the app's own
embedded dispatcher. A run that misses its target is re-run on `--profile-mb` MB under cProfile (every worker
thread) and its hot spots are printed (`--profile`: always). It PRINTS figures and never fails on timings.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.knowledge_common import (  # noqa: E402
    MB,
    PROVIDER,
    REDIS_URL,
    CorpusDocument,
    EmbeddingServer,
    Workspace,
    app_env,
    corpus,
    describe,
    embed_model,
    embedding_server,
    in_process_app,
    loadavg,
    migrate,
    pgvector_server,
    print_summary,
    proc_cpu_seconds,
    redis_db,
    register_embedding_model,
    setup_owner,
)

ROWS: list[tuple[str, str, float, bool | None]] = []  # (metric, target, value, met or None = informational)
RULE = {"mode": "automatic"}


def record(metric: str, target: str, value: float, met: bool | None) -> None:
    ROWS.append((metric, target, value, met))


# --- baseline ----------------------------------------------------------------------------------------------

def baseline(docs: list[CorpusDocument]) -> float:
    """extract + clean + split exactly as indexing_service._pipeline does, without any store; MB/min."""
    from api.core.rag.cleaner import clean
    from api.core.rag.entities import ProcessRule, SourceDocument
    from api.core.rag.extractors import extract
    from api.core.rag.processor import transform

    rule = ProcessRule.from_dict(RULE)
    data = [(doc.name, doc.text.encode("utf-8")) for doc in docs]
    started, cpu = time.perf_counter(), time.process_time()
    segments = tokens = 0
    for name, raw in data:
        cleaned = [SourceDocument(clean(s.text, rule), dict(s.metadata)) for s in extract(name, raw)]
        chunks = transform(cleaned, dataclasses.replace(rule, pre_processing_rules=()))
        segments += len(chunks)
        tokens += sum(chunk.tokens for chunk in chunks)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = sum(len(raw) for _, raw in data) / MB
    rate = size / elapsed * 60
    print(f"baseline extract+clean+split: {size:.1f} MB in {elapsed:.1f}s = {rate:.0f} MB/min (CPU {cpu:.1f}s), "
          f"{segments} segments, {tokens / 1e6:.1f}M tokens", flush=True)
    record("baseline: extract+clean+split MB/min (one thread)", "-", rate, None)
    return rate


# --- the app of one mode -------------------------------------------------------------------------------------

class HoldingDispatcher:
    """Keeps the messages while documents are created, so the clock starts with every document queued."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[object, ...]]] = []

    def send(self, task_name: str, *args: object) -> None:
        self.sent.append((task_name, args))


def _thread_dispatcher_class() -> Any:
    from api.extensions.celery import ThreadDispatcher

    class ProfilingDispatcher(ThreadDispatcher):
        """The embedded dispatcher (task.apply on a thread pool) with a cProfile per task execution."""

        def __init__(self, celery: Any, threads: int, profile: bool) -> None:
            super().__init__(celery, threads, 1)
            self.profile, self.profiles, self._guard = profile, [], threading.Lock()

        def _run(self, task: Any, args: tuple[object, ...]) -> None:  # type: ignore[override]
            if not self.profile:
                ThreadDispatcher._run(task, args)
                return
            profiler = cProfile.Profile()
            profiler.enable()
            try:
                ThreadDispatcher._run(task, args)
            finally:
                profiler.disable()
                with self._guard:
                    self.profiles.append(profiler)

    return ProfilingDispatcher


@dataclass
class ModeApp:
    mode: str
    app: Any
    workspace: Workspace
    pg_pid: int | None
    threads: int

    def set_dispatcher(self, dispatcher: Any) -> None:
        runtime = self.app.extensions["runtime"]
        self.app.extensions["runtime"] = dataclasses.replace(runtime, dispatcher=dispatcher)

    def pg_cpu(self) -> float:
        return proc_cpu_seconds(self.pg_pid) if self.pg_pid else 0.0


@contextmanager
def mode_app(mode: str, tmp: Path) -> Iterator[ModeApp]:
    with ExitStack() as stack:
        storage = tmp / f"{mode}-storage"
        pg_pid = None
        if mode == "distributed":
            pg = pgvector_server()
            stack.callback(pg.stop)
            env = app_env(storage, pg.url, stack.enter_context(redis_db(REDIS_URL)))
            pg_pid = pg.pid
        else:
            env = app_env(storage)
        migrate(env)
        app = in_process_app(env)
        workspace = setup_owner(app.test_client())
        settings = app.extensions["runtime"].settings
        from api.services.indexing_lease_service import tenant_cap

        # distributed: a worker's threads beyond the workspace's cap would only be deferred
        threads = tenant_cap(settings) if mode == "distributed" else settings.embedded_worker_threads
        yield ModeApp(mode, app, workspace, pg_pid, threads)
        from api.extensions.database import db

        with app.app_context():
            db.engine.dispose()


# --- one indexing run --------------------------------------------------------------------------------------

@dataclass
class RunResult:
    label: str
    mb: float
    wall: float
    documents: int
    failed: int
    segments: int
    cpu_self: float
    cpu_pg: float
    cpu_mock: float
    stages: dict[str, float]
    embed: dict[str, float]
    profiles: list[cProfile.Profile]
    first_error: str | None

    @property
    def rate(self) -> float:
        return self.mb / self.wall * 60 if self.wall else float("nan")


def create_documents(ma: ModeApp, docs: list[CorpusDocument], technique: str, model: str | None) -> tuple[str, Any]:
    """A dataset and its documents (create_by_text) with the messages held; returns (dataset id, the holder)."""
    from api.extensions.database import db
    from api.extensions.runtime import get_runtime
    from api.services import dataset_service, document_ingest_service
    from api.services.document_ingest_service import DocumentOptions

    holder = HoldingDispatcher()
    ma.set_dispatcher(holder)
    with ma.app.app_context():
        principal = dataset_service.owner_principal(db.session, tenant_id=ma.workspace.tenant_id)
        dataset = dataset_service.create_dataset(
            db.session, principal=principal, name=f"bench-{technique[:4]}-{uuid.uuid4().hex[:8]}",
            indexing_technique=technique, embedding_model=model,
            embedding_model_provider=PROVIDER if model else None)
        dataset_id = dataset.id
        options = DocumentOptions(indexing_technique=technique, process_rule=RULE)
        for doc in docs:
            document_ingest_service.create_by_text(db.session, principal=principal, runtime=get_runtime(),
                                                   dataset_id=dataset_id, name=doc.name, text=doc.text,
                                                   options=options)
        db.session.remove()
    return dataset_id, holder


def _progress(ma: ModeApp, dataset_id: str) -> tuple[int, int]:
    import sqlalchemy as sa

    from api.extensions.database import db
    from api.models.dataset import Document

    with ma.app.app_context():
        rows = db.session.execute(sa.select(Document.indexing_status, sa.func.count()).where(
            Document.dataset_id == dataset_id).group_by(Document.indexing_status)).all()
        db.session.remove()
    counts = dict(rows)
    return counts.get("completed", 0), counts.get("error", 0)


def _summary(ma: ModeApp, dataset_id: str) -> tuple[int, dict[str, float], str | None]:
    import sqlalchemy as sa

    from api.extensions.database import db
    from api.models.dataset import Document, DocumentSegment

    with ma.app.app_context():
        segments = db.session.scalar(sa.select(sa.func.count()).select_from(DocumentSegment)
                                     .where(DocumentSegment.dataset_id == dataset_id)) or 0
        rows = db.session.execute(sa.select(
            Document.created_at, Document.processing_started_at, Document.parsing_completed_at,
            Document.cleaning_completed_at, Document.splitting_completed_at, Document.completed_at, Document.error)
            .where(Document.dataset_id == dataset_id)).all()
        db.session.remove()
    stages = {"extract": 0.0, "clean": 0.0, "split + segment rows": 0.0, "embed + store (indexing)": 0.0}
    first_error = next((row.error for row in rows if row.error), None)
    for row in rows:
        marks = [row.processing_started_at, row.parsing_completed_at, row.cleaning_completed_at,
                 row.splitting_completed_at, row.completed_at]
        if any(mark is None for mark in marks):
            continue
        for name, (a, b) in zip(stages, zip(marks, marks[1:], strict=False), strict=True):
            stages[name] += (b - a).total_seconds()
    return int(segments), stages, first_error


def index_run(ma: ModeApp, server: EmbeddingServer, mock_pid: int, docs: list[CorpusDocument], label: str,
              technique: str, model: str | None, profile: bool = False, timeout: float = 3600) -> RunResult:
    if model:
        register_embedding_model(ma.app.test_client(), ma.workspace, server, model)
    dataset_id, holder = create_documents(ma, docs, technique, model)
    dispatcher = _thread_dispatcher_class()(ma.app.extensions["celery"], ma.threads, profile)
    ma.set_dispatcher(dispatcher)
    server.stats()  # reset
    cpu_self, cpu_pg, cpu_mock = time.process_time(), ma.pg_cpu(), proc_cpu_seconds(mock_pid)
    started = time.perf_counter()
    for task_name, args in holder.sent:
        dispatcher.send(task_name, *args)
    done = failed = 0
    while done + failed < len(docs) and time.perf_counter() - started < timeout:
        time.sleep(0.1)
        done, failed = _progress(ma, dataset_id)
    wall = time.perf_counter() - started
    result = RunResult(label=label, mb=sum(d.size for d in docs) / MB, wall=wall, documents=len(docs),
                       failed=failed + (len(docs) - done - failed), segments=0,
                       cpu_self=time.process_time() - cpu_self, cpu_pg=ma.pg_cpu() - cpu_pg,
                       cpu_mock=proc_cpu_seconds(mock_pid) - cpu_mock, stages={}, embed=server.stats(),
                       profiles=dispatcher.profiles, first_error=None)
    dispatcher._pool.shutdown(wait=True)
    result.segments, result.stages, result.first_error = _summary(ma, dataset_id)
    return result


def print_run(mode: str, r: RunResult) -> None:
    total = sum(r.stages.values()) or 1.0
    stages = ", ".join(f"{name} {100 * seconds / total:.0f}%" for name, seconds in r.stages.items())
    print(f"   {r.label:<18} {r.mb:6.1f} MB in {r.wall:6.1f}s = {r.rate:7.1f} MB/min  docs {r.documents} "
          f"(failed {r.failed})  segments {r.segments}", flush=True)
    print(f"   {'':<18} CPU s: this process {r.cpu_self:.1f}, PostgreSQL {r.cpu_pg:.1f}, mock model {r.cpu_mock:.1f} "
          f"(per MB: {r.cpu_self / r.mb:.2f} + {r.cpu_pg / r.mb:.2f} + {r.cpu_mock / r.mb:.2f}; other load on the "
          f"machine does not inflate these)", flush=True)
    print(f"   {'':<18} documents' time by stage: {stages}", flush=True)
    if r.embed.get("requests"):
        print(f"   {'':<18} embedding: {int(r.embed['requests'])} requests, {int(r.embed['texts'])} texts, "
              f"{r.embed['tokens'] / 1e6:.2f}M tokens; model busy {r.embed['busy_s']:.1f}s "
              f"(served {r.embed['served_s']:.1f}s)", flush=True)
    if r.first_error:
        print(f"   {'':<18} first error: {r.first_error[:300]}", flush=True)


def hot_spots(profiles: list[cProfile.Profile], top: int) -> None:
    if not profiles:
        return
    stats = pstats.Stats(profiles[0], stream=io.StringIO())
    for profiler in profiles[1:]:
        stats.add(profiler)
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        out = io.StringIO()
        stats.stream = out
        stats.sort_stats(key).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
        print(f"      hot spots by {title} (all worker threads, cProfile):")
        for line in lines[start:start + top + 1]:
            print("      " + line.replace(str(ROOT) + "/", "").replace(str(Path(sys.prefix)) + "/", "")[:170])


# --- main ---------------------------------------------------------------------------------------------------

def run_mode(mode: str, args: argparse.Namespace, tmp: Path, docs: list[CorpusDocument],
             server: EmbeddingServer, mock_pid: int) -> None:
    print(f"\n== {mode}: starting ({'PostgreSQL 18 + pgvector, Redis db 12' if mode == 'distributed' else 'SQLite'})",
          flush=True)
    with mode_app(mode, tmp) as ma:
        print(f"   worker: {ma.threads} threads running indexing.index_document (task.apply)", flush=True)
        real = docs[: max(1, _prefix(docs, args.real_mb))]
        profile_docs = docs[: max(1, _prefix(docs, args.profile_mb))]
        latency = dict(zip("ltc", (int(x[1:]) for x in args.real_model.split("-")), strict=True))
        plans: list[tuple[str, str, Any, list[CorpusDocument], str, Any]] = []  # label, technique, model, docs, …
        for run in args.runs:
            if run == "economy":
                plans.append(("economy", "economy", None, docs, "100", lambda r: r.rate >= 100))
            elif run == "high_quality":
                plans += [(f"high_quality {dim}d", "high_quality", lambda dim=dim: embed_model(dim), docs, "30",
                           lambda r: r.rate >= 30) for dim in args.dims]
            elif run == "real_model":
                plans.append(("real_model", "high_quality", lambda: embed_model(
                    args.dims[0], latency_ms=latency["l"], per_token_us=latency["t"], capacity=latency["c"]), real,
                    "1.3", lambda r: r.wall <= 1.3 * r.embed.get("busy_s", 0)))
        for label, technique, model, subset, target, met in plans:
            result = index_run(ma, server, mock_pid, subset, label, technique, model() if model else None)
            print_run(mode, result)
            ok = met(result) and result.failed == 0
            if label == "real_model":
                busy = result.embed.get("busy_s", 0.0)
                ratio = result.wall / busy if busy else float("nan")
                print(f"   {'':<18} real model = latency model {args.real_model} ({latency['l']} ms per request + "
                      f"{latency['t']} µs per token, {latency['c'] or 'unlimited'} request(s) at a time, "
                      f"{args.dims[0]} dims): wall {result.wall:.1f}s / model busy {busy:.1f}s = {ratio:.2f}",
                      flush=True)
                record(f"[{mode}] real model: wall / embedding time", f"<= {target}", ratio, ok)
            else:
                record(f"[{mode}] {label} MB/min", f">= {target}", result.rate, ok)
            if args.profile or not ok:
                print(f"   profiling {label} on {_size(profile_docs):.1f} MB (cProfile slows it down; shares matter)",
                      flush=True)
                profiled = index_run(ma, server, mock_pid, profile_docs, label, technique,
                                     model() if model else None, profile=True)
                print_run(mode, profiled)
                hot_spots(profiled.profiles, args.top)


def _prefix(docs: list[CorpusDocument], mb: float) -> int:
    total = 0
    for i, doc in enumerate(docs):
        total += doc.size
        if total >= mb * MB:
            return i + 1
    return len(docs)


def _size(docs: list[CorpusDocument]) -> float:
    return sum(d.size for d in docs) / MB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 MB, 0.5 MB real model, 1 MB profiles")
    parser.add_argument("--mb", type=float, default=50.0, help="corpus size in MB (2^20 bytes)")
    parser.add_argument("--dims", default="1536,384",
                        help="embedding dimensions of the high_quality runs (1536: text-embedding-3-small, 384: "
                             "bge-small / all-MiniLM); the real-model run uses the first")
    parser.add_argument("--modes", default="distributed,embedded")
    parser.add_argument("--runs", default="economy,high_quality,real_model")
    parser.add_argument("--real-mb", type=float, default=8.0, help="MB indexed against the real-model latency model")
    parser.add_argument("--real-model", default="l50-t25-c1", help="l<ms per request>-t<µs per token>-c<capacity>")
    parser.add_argument("--profile", action="store_true", help="profile every run (default: only missed targets)")
    parser.add_argument("--profile-mb", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=18, help="functions listed per hot-spot table")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.real_mb, args.profile_mb = min(args.mb, 4.0), min(args.real_mb, 0.5), min(args.profile_mb, 1.0)
    args.runs = [run for run in args.runs.split(",") if run]
    args.dims = [int(dim) for dim in args.dims.split(",") if dim]
    print(f"load average (1/5/15 min) at the start: {loadavg()}")
    started = time.perf_counter()
    docs = corpus(int(args.mb * MB))
    print(f"corpus: {describe(docs)} (generated in {time.perf_counter() - started:.1f}s)", flush=True)
    if not args.skip_baseline:
        baseline(docs)
    tmp = Path(tempfile.mkdtemp(prefix="openify-bench-indexing-"))
    try:
        with embedding_server(tmp) as server:
            for mode in [m for m in args.modes.split(",") if m]:
                run_mode(mode, args, tmp, docs, server, server.pid)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_summary(ROWS, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
