"""Indexing queue latency over HTTP: a real server (+ a real Celery worker and beat in distributed mode).

    .venv/bin/python bench/bench_queue_latency.py [--quick] [--modes distributed,embedded] [--uploads 5]
        [--backlog 400] [--backlog-kb 48] [--dim 1536] [--model l50-t25] [--worker-concurrency 0]

Distributed: gunicorn (docker/gunicorn.conf.py) + `celery worker` (the configured pool: threads,
CELERY_WORKER_CONCURRENCY) + `celery beat`, on a throwaway PostgreSQL 18 + pgvector and Redis db 12; embedded: one
gunicorn process on SQLite (its local task threads). Documents are high_quality, embedded by bench/mock_llm.py with
a latency model of a real provider (`--model`: l<ms per request>-t<µs per token>, any number of requests at once,
as a hosted API), `--dim` dims into pgvector's live HNSW index / the embedded store. Scenarios, in order:

1. one page: `--uploads` times, on an idle system, upload a one-page .txt (POST .../document/create-by-file) and
   poll GET .../documents/{batch}/indexing-status every 10 ms; the time from the upload's response to `completed`
   (target <= 2 s), with the queue wait (created_at -> processing_started_at) and indexing time from the database;
2. 5 workspaces x 4 documents queued together (20 concurrent create-by-text calls): each document's wait before
   its indexing started, and whether any waited more than 60 s;
3. skewed: workspace A queues `--backlog` documents of ~`--backlog-kb` KB, then B..E queue one each: their waits
   (target: none waits behind A's backlog for more than 60 s) and A's backlog drain.
It PRINTS the figures and never fails on timings. Timestamps come from the database (one clock, microseconds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.knowledge_common import (  # noqa: E402
    EmbeddingServer,
    Stack,
    Workspace,
    corpus,
    create_dataset,
    embed_model,
    embedding_server,
    http_client,
    loadavg,
    new_dataset_key,
    new_workspace,
    pct,
    pgvector_server,
    print_summary,
    register_embedding_model,
    server_stack,
    setup_owner,
)

ROWS: list[tuple[str, str, float, bool]] = []
RULE = {"mode": "automatic"}
OPTIONS = {"indexing_technique": "high_quality", "process_rule": RULE}


@dataclass
class Space:
    name: str
    workspace: Workspace
    dataset_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.workspace.dataset_key}"}


def prepare(client: Any, server: EmbeddingServer, model: str, count: int) -> list[Space]:
    """`count` workspaces of one owner, each with the embedding model, a dataset key and a high_quality dataset."""
    first = setup_owner(client)
    spaces = []
    for index in range(count):
        name = "ABCDEFGHIJ"[index]
        ws = first if index == 0 else new_workspace(client, first, f"bench {name}")
        if index == 0:
            new_dataset_key(client, ws)
        register_embedding_model(client, ws, server, model)
        spaces.append(Space(name, ws, create_dataset(client, ws.dataset_key, f"queue {name}", model)))
    return spaces


def add_text(client: Any, space: Space, name: str, text: str) -> tuple[str, float]:
    """create-by-text; (document id, perf_counter when the response arrived)."""
    response = client.post(f"/v1/datasets/{space.dataset_id}/document/create-by-text", headers=space.headers,
                           json={"name": name, "text": text, **OPTIONS})
    if response.status_code != 200:
        raise RuntimeError(f"create-by-text: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()["document"]["id"], time.perf_counter()


def timings(engine: sa.Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            for row in conn.execute(sa.text(
                    "SELECT id, indexing_status, created_at, processing_started_at, completed_at, error, attempts "
                    "FROM documents WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": ids[start:start + 500]}).mappings():
                rows[str(row["id"])] = dict(row)
    return rows


def _seconds(a: Any, b: Any) -> float:
    if isinstance(a, str):  # SQLite returns text
        from datetime import datetime

        a, b = datetime.fromisoformat(a), datetime.fromisoformat(b)
    return (b - a).total_seconds() if a is not None and b is not None else float("nan")


def wait_all(engine: sa.Engine, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = timings(engine, ids)
        if all(r["indexing_status"] in ("completed", "error") for r in rows.values()) and len(rows) == len(ids):
            return rows
        if time.monotonic() > deadline:
            print(f"   WARNING: not all documents finished within {timeout:.0f}s")
            return rows
        time.sleep(0.2)


# --- scenarios ---------------------------------------------------------------------------------------------

def one_page(stack: Stack, client: Any, engine: sa.Engine, space: Space, uploads: int) -> None:
    # a different page each time: the embedding cache would answer a repeated one without the model
    pages = corpus(uploads * 3 * 1024, seed=7, median_kb=3.0, min_kb=2.8, max_kb=3.2)
    print(f"   one page: ~{pages[0].size} bytes of text, {uploads} different pages uploaded 3 s apart", flush=True)
    seen, waits, indexing = [], [], []
    for n in range(uploads):
        data = pages[n % len(pages)].text.encode()
        time.sleep(3.0)  # idle: the previous document and its backlog dispatch are long done
        response = client.post(f"/v1/datasets/{space.dataset_id}/document/create-by-file", headers=space.headers,
                               files={"file": (f"page-{n}.txt", data, "text/plain")},
                               data={"data": json.dumps(OPTIONS)})
        returned = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"create-by-file: HTTP {response.status_code}: {response.text[:300]}")
        batch, document_id = response.json()["batch"], response.json()["document"]["id"]
        status = ""
        while status not in ("completed", "error") and time.perf_counter() - returned < 60:
            time.sleep(0.01)
            poll = client.get(f"/v1/datasets/{space.dataset_id}/documents/{batch}/indexing-status",
                              headers=space.headers)
            status = poll.json()["data"][0]["indexing_status"] if poll.status_code == 200 else ""
        seen.append(time.perf_counter() - returned)
        row = timings(engine, [document_id])[document_id]
        waits.append(_seconds(row["created_at"], row["processing_started_at"]))
        indexing.append(_seconds(row["processing_started_at"], row["completed_at"]))
        print(f"      upload {n + 1}: {status} {seen[-1]:.3f}s after the upload returned (queue wait "
              f"{waits[-1] * 1000:.0f} ms, indexing {indexing[-1] * 1000:.0f} ms)", flush=True)
    worst = max(seen)
    print(f"   one page: upload returned -> completed p50 {pct(seen, 50):.3f}s max {worst:.3f}s; queue wait p50 "
          f"{pct(waits, 50) * 1000:.0f} ms; indexing p50 {pct(indexing, 50) * 1000:.0f} ms", flush=True)
    ROWS.append((f"[{stack.mode}] one page: upload returned -> completed, max s", "<= 2", worst, worst <= 2.0))


def together(stack: Stack, client: Any, engine: sa.Engine, spaces: list[Space], per_space: int) -> None:
    docs = corpus(len(spaces) * per_space * 12 * 1024, seed=11, median_kb=12.0, min_kb=4.0, max_kb=30.0)
    jobs = [(space, docs[(i * per_space + j) % len(docs)]) for i, space in enumerate(spaces) for j in range(per_space)]
    print(f"   {len(spaces)} workspaces x {per_space} documents queued together ({len(jobs)} concurrent "
          f"create-by-text calls, {sum(d.size for _, d in jobs) / 1024:.0f} KB)", flush=True)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        created = list(pool.map(lambda job: add_text(client, job[0], job[1].name, job[1].text), jobs))
    ids = [document_id for document_id, _ in created]
    rows = wait_all(engine, ids, timeout=600)
    print(f"      {'workspace':>9} {'doc':>4} {'status':>10} {'wait s':>8} {'indexing s':>11}")
    worst = 0.0
    for number, ((space, _), document_id) in enumerate(zip(jobs, ids, strict=True)):
        row = rows.get(document_id, {})
        wait = _seconds(row.get("created_at"), row.get("processing_started_at"))
        worst = max(worst, wait if wait == wait else 0.0)
        print(f"      {space.name:>9} {number % per_space + 1:>4} {row.get('indexing_status', '?'):>10} {wait:8.3f} "
              f"{_seconds(row.get('processing_started_at'), row.get('completed_at')):11.3f}")
    print(f"   together: longest wait before indexing started {worst:.3f}s; any > 60 s: "
          f"{'YES' if worst > 60 else 'no'}", flush=True)
    ROWS.append((f"[{stack.mode}] 5 workspaces x 4 docs: longest wait s", "<= 60", worst, worst <= 60))


def skewed(stack: Stack, client: Any, engine: sa.Engine, spaces: list[Space], backlog: int, kb: float) -> None:
    docs = corpus(int(backlog * kb * 1024), seed=13, median_kb=kb, min_kb=kb * 0.8, max_kb=kb * 1.25)
    late_docs = corpus(int(4 * kb * 1024), seed=17, median_kb=kb, min_kb=kb * 0.8, max_kb=kb * 1.25)
    heavy, others = spaces[0], spaces[1:]
    print(f"   skewed: workspace {heavy.name} queues {backlog} documents (~{kb:.0f} KB each), then "
          f"{', '.join(s.name for s in others)} queue one each", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        backlog_ids = [doc_id for doc_id, _ in pool.map(lambda i: add_text(client, heavy, f"backlog-{i}.txt",
                                                                              docs[i % len(docs)].text),
                                                         range(backlog))]
    queued = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        other_ids = [doc_id for doc_id, _ in pool.map(
            lambda n: add_text(client, others[n], f"late-{others[n].name}.txt", late_docs[n % len(late_docs)].text),
            range(len(others)))]
    print(f"      {heavy.name}'s backlog queued in {queued:.1f}s; the others' documents queued right after", flush=True)
    rows = wait_all(engine, other_ids, timeout=600)
    late = time.perf_counter()
    worst = 0.0
    for space, document_id in zip(others, other_ids, strict=True):
        row = rows[document_id]
        wait = _seconds(row["created_at"], row["processing_started_at"])
        worst = max(worst, wait)
        print(f"      workspace {space.name}: {row['indexing_status']}, waited {wait:.3f}s, indexed in "
              f"{_seconds(row['processing_started_at'], row['completed_at']):.3f}s", flush=True)
    heavy_rows = timings(engine, backlog_ids)
    pending = sum(1 for r in heavy_rows.values() if r["indexing_status"] not in ("completed", "error"))
    print(f"      when the others were done ({late - started:.1f}s in), {heavy.name} still had {pending} of {backlog} "
          f"documents to finish", flush=True)
    heavy_rows = wait_all(engine, backlog_ids, timeout=3600)
    drained = time.perf_counter() - started
    waits = [_seconds(r["created_at"], r["processing_started_at"]) for r in heavy_rows.values()]
    errors = sum(1 for r in heavy_rows.values() if r["indexing_status"] == "error")
    print(f"      {heavy.name}'s backlog drained in {drained:.1f}s (errors {errors}); its own waits p50 "
          f"{pct(waits, 50):.1f}s max {max(waits):.1f}s (expected: it queues behind itself)", flush=True)
    print(f"   skewed: the other workspaces' longest wait {worst:.3f}s; any behind {heavy.name}'s backlog > 60 s: "
          f"{'YES' if worst > 60 else 'no'}", flush=True)
    ROWS.append((f"[{stack.mode}] skewed: other workspaces' longest wait s", "<= 60", worst, worst <= 60))


def run_mode(mode: str, args: argparse.Namespace, tmp: Path, server: EmbeddingServer) -> None:
    print(f"\n== {mode}", flush=True)
    with ExitStack() as stack:
        pg = None
        if mode == "distributed":
            pg = pgvector_server()
            stack.callback(pg.stop)
        srv = stack.enter_context(server_stack(mode, tmp, pg, worker_concurrency=args.worker_concurrency))
        client = stack.enter_context(http_client(srv.base_url))
        engine = sa.create_engine(srv.database_url)
        stack.callback(engine.dispose)
        latency = dict(zip("lt", (int(x[1:]) for x in args.model.split("-")), strict=True))
        model = embed_model(args.dim, latency_ms=latency["l"], per_token_us=latency["t"])
        spaces = prepare(client, server, model, 5)
        workers = (f"Celery worker ({args.worker_concurrency or 'configured'} threads) + beat"
                   if mode == "distributed" else "in-process task threads")
        print(f"   server {srv.base_url}: gunicorn + {workers}; model {model} ({latency['l']} ms per request + "
              f"{latency['t']} µs per token), {args.dim} dims", flush=True)
        one_page(srv, client, engine, spaces[0], args.uploads)
        together(srv, client, engine, spaces, 4)
        skewed(srv, client, engine, spaces, args.backlog, args.backlog_kb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 uploads, a backlog of 12 small docs")
    parser.add_argument("--modes", default="distributed,embedded")
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--backlog", type=int, default=400, help="documents workspace A queues in the skewed case")
    parser.add_argument("--backlog-kb", type=float, default=48.0)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--model", default="l50-t25", help="embedding latency model: l<ms per request>-t<µs/token>")
    parser.add_argument("--worker-concurrency", type=int, default=0,
                        help="Celery worker threads (0: the configured CELERY_WORKER_CONCURRENCY)")
    args = parser.parse_args()
    if args.quick:
        args.uploads, args.backlog, args.backlog_kb = min(args.uploads, 2), min(args.backlog, 12), 8.0
    print(f"load average (1/5/15 min) at the start: {loadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="openify-bench-queue-"))
    started = time.perf_counter()
    try:
        with embedding_server(tmp) as server:
            for mode in [m for m in args.modes.split(",") if m]:
                run_mode(mode, args, tmp, server)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_summary(ROWS, started, digits=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
