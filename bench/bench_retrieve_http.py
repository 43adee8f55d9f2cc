"""`POST /v1/datasets/{id}/retrieve` over HTTP beside retrieval_service.hit_test called in this process.

    .venv/bin/python bench/bench_retrieve_http.py [--quick] [--segments 100000] [--words 150] [--dim 384]
        [--samples 200] [--modes distributed,embedded] [--methods full_text_search,hybrid_search,semantic_search]

One dataset of `--segments` segments (1000 per document) is bulk-loaded into the server's database: document and
segment rows, vectors (bench_retrieval.clustered: `--dim` dims in gaussian clusters; pgvector by binary COPY, then
its HNSW index built as the store defines it; the embedded store by its own upserts) and the full-text index
(bench_retrieval.corpus: `--words` words per segment from a Zipf vocabulary, "commonterm" in ~90% of the
segments, "rareterm" in 10). Query embeddings come from bench/mock_llm.py (answers at once).
The server is gunicorn -c docker/gunicorn.conf.py (distributed: a throwaway PostgreSQL 18 + pgvector and Redis db
12, GUNICORN_WORKERS processes; embedded: one process on SQLite). The baseline is the same service call the
handler makes (retrieval_service.hit_test, same retrieval_model) from an app built in this process with the same
settings. For each search method and query, --samples direct calls and --samples HTTP calls (one keep-alive
connection, sequential) alternate, so other load on the machine hits both alike; it prints p50/p95 of each side
and the added p50 (HTTP - direct; target <= 10 ms), and the API's p95 for full-text and hybrid search (target
<= 50 ms). It PRINTS the figures and never fails on timings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.bench_foundation import HOST  # noqa: E402
from bench.bench_retrieval import FT_QUERIES, clustered, copy_vectors, corpus  # noqa: E402
from bench.knowledge_common import (  # noqa: E402
    EmbeddingServer,
    Stack,
    create_dataset,
    embed_model,
    embedding_server,
    http_client,
    in_process_app,
    loadavg,
    new_dataset_key,
    pct,
    pgvector_server,
    print_summary,
    register_embedding_model,
    server_stack,
    setup_owner,
)

ROWS: list[tuple[str, str, float, bool]] = []
PER_DOCUMENT = 1000


def retrieval_model(method: str) -> dict[str, Any]:
    model: dict[str, Any] = {"search_method": method, "reranking_enable": False, "top_k": 10,
                             "score_threshold_enabled": False}
    if method == "hybrid_search":
        model["weights"] = {"weight_type": "customized", "vector_setting": {"vector_weight": 0.5},
                            "keyword_setting": {"keyword_weight": 0.5}}
    return model


# --- bulk load ---------------------------------------------------------------------------------------------

def load(engine: sa.Engine, mode: str, tenant_id: str, dataset_id: str, texts: list[str], points: np.ndarray) -> None:
    from api.core.rag.ports import IndexedChunk
    from api.extensions.fulltext import PgFullTextIndex, SqliteFullTextIndex
    from api.extensions.vector_store import EmbeddedVectorStore, PgVectorStore
    from api.libs.clock import utcnow
    from api.models.dataset import Document, DocumentSegment

    n, now = len(texts), utcnow()
    docs = [str(uuid.uuid4()) for _ in range(-(-n // PER_DOCUMENT))]
    segs = [str(uuid.uuid4()) for _ in range(n)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(Document.__table__.insert(), [
            {"id": doc, "tenant_id": tenant_id, "dataset_id": dataset_id, "position": i + 1,
             "data_source_type": "upload_file", "data_source_info": None, "batch": "bench", "name": f"doc-{i}.txt",
             "created_from": "api", "created_at": now, "updated_at": now, "indexing_status": "completed",
             "completed_at": now, "enabled": True, "archived": False, "is_paused": False, "doc_form": "text_model",
             "word_count": 0, "tokens": 0, "attempts": 0} for i, doc in enumerate(docs)])
        for begin in range(0, n, 5000):
            conn.execute(DocumentSegment.__table__.insert(), [
                {"id": segs[i], "tenant_id": tenant_id, "dataset_id": dataset_id,
                 "document_id": docs[i // PER_DOCUMENT], "position": i % PER_DOCUMENT + 1, "content": texts[i],
                 "word_count": len(texts[i]),
                 "tokens": len(texts[i]) // 4, "index_node_id": segs[i], "index_node_hash": "", "hit_count": 0,
                 "enabled": True, "status": "completed", "created_at": now, "updated_at": now, "completed_at": now}
                for i in range(begin, min(n, begin + 5000))])
    rows = time.perf_counter() - started
    chunks = [IndexedChunk(id=segs[i], dataset_id=dataset_id, document_id=docs[i // PER_DOCUMENT],
                           segment_id=segs[i], content=texts[i]) for i in range(n)]
    started = time.perf_counter()
    if mode == "distributed":
        store = PgVectorStore(engine)
        dim = points.shape[1]
        store.ensure_table(dim, index=False)
        copy_vectors(engine, store.table_name(dim), dataset_id, points,
                     names=lambda i: (segs[i], docs[i // PER_DOCUMENT], segs[i]))
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
            conn.execute(sa.text(store.index_ddl(dim) or "SELECT 1"))
            conn.execute(sa.text(f"ANALYZE {store.table_name(dim)}"))
        fulltext: Any = PgFullTextIndex(engine)
    else:
        vectors = EmbeddedVectorStore(engine)
        for begin in range(0, n, 5000):
            vectors.upsert([IndexedChunk(id=c.id, dataset_id=c.dataset_id, document_id=c.document_id,
                                         segment_id=c.segment_id, content="", vector=points[begin + k])
                            for k, c in enumerate(chunks[begin:begin + 5000])])
        fulltext = SqliteFullTextIndex(engine)
    indexed_vectors = time.perf_counter() - started
    started = time.perf_counter()
    for begin in range(0, n, 2000):
        fulltext.upsert(chunks[begin:begin + 2000])
    if mode == "distributed":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE knowledge_fulltext"))
            conn.execute(sa.text("ANALYZE document_segments"))
            conn.execute(sa.text("ANALYZE documents"))
    print(f"   loaded {n} segments in {len(docs)} documents: rows {rows:.0f}s, vectors ({points.shape[1]} dims"
          f"{', HNSW built' if mode == 'distributed' else ''}) {indexed_vectors:.0f}s, full text "
          f"{time.perf_counter() - started:.0f}s", flush=True)


# --- measuring ---------------------------------------------------------------------------------------------

class KeepAlive:
    """One persistent HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, {**headers, "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def post(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        body = json.dumps(payload)
        for attempt in (1, 2):
            try:
                self.conn.request("POST", path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def measure(stack: Stack, args: argparse.Namespace, key: str, tenant_id: str, dataset_id: str) -> None:
    from api.extensions.database import db
    from api.extensions.runtime import get_runtime
    from api.services import dataset_service, retrieval_service

    app = in_process_app(stack.env)
    port = int(stack.base_url.rsplit(":", 1)[1])
    remote = KeepAlive(port, {"Authorization": f"Bearer {key}"})
    path = f"/v1/datasets/{dataset_id}/retrieve"
    print(f"   {'method':<17}{'query':<34}{'direct p50/p95 ms':>19}{'HTTP p50/p95 ms':>19}{'added p50':>11}"
          f"{'hits':>6}", flush=True)
    with app.app_context():
        principal = dataset_service.owner_principal(db.session, tenant_id=tenant_id)
        runtime = get_runtime()

        def direct(query: str, model: dict[str, Any]) -> int:
            return len(retrieval_service.hit_test(db.session, principal=principal, runtime=runtime,
                                                  dataset_id=dataset_id, query=query, retrieval_model=model))

        def over_http(query: str, model: dict[str, Any]) -> int:
            status, raw = remote.post(path, {"query": query, "retrieval_model": model})
            if status != 200:
                raise RuntimeError(f"retrieve: HTTP {status}: {raw[:300]!r}")
            return len(json.loads(raw)["records"])

        for method in args.methods:
            model = retrieval_model(method)
            worst_added = worst_p95 = 0.0
            for label, query in FT_QUERIES.items():
                for _ in range(5):  # warm-up: caches, pools, the embedded matrix of this process
                    direct(query, model)
                    over_http(query, model)
                a, b, hits = [], [], (0, 0)
                for _ in range(args.samples):
                    started = time.perf_counter()
                    hits = (direct(query, model), hits[1])
                    a.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    hits = (hits[0], over_http(query, model))
                    b.append((time.perf_counter() - started) * 1000)
                added = pct(b, 50) - pct(a, 50)
                worst_added, worst_p95 = max(worst_added, added), max(worst_p95, pct(b, 95))
                print(f"   {method:<17}{label:<34}{pct(a, 50):9.2f}/{pct(a, 95):7.2f}  {pct(b, 50):9.2f}/"
                      f"{pct(b, 95):7.2f}  {added:+8.2f}  {hits[0]}/{hits[1]}", flush=True)
            ROWS.append((f"[{stack.mode}] {method}: added p50 ms (HTTP - direct), worst query", "<= 10",
                         worst_added, worst_added <= 10))
            if method != "semantic_search":
                ROWS.append((f"[{stack.mode}] {method}: p95 ms through the API, worst query", "<= 50", worst_p95,
                             worst_p95 <= 50))
        db.session.remove()
        db.engine.dispose()
    remote.close()


def run_mode(mode: str, args: argparse.Namespace, tmp: Path, server: EmbeddingServer, texts: list[str],
             points: np.ndarray) -> None:
    print(f"\n== {mode}", flush=True)
    with ExitStack() as stack:
        pg = None
        if mode == "distributed":
            pg = pgvector_server()
            stack.callback(pg.stop)
        srv = stack.enter_context(server_stack(mode, tmp, pg, celery=False, log_level="warning"))
        client = stack.enter_context(http_client(srv.base_url))
        model = embed_model(points.shape[1])
        ws = setup_owner(client)
        register_embedding_model(client, ws, server, model)
        key = new_dataset_key(client, ws)
        dataset_id = create_dataset(client, key, "retrieve bench", model)
        options = {"executemany_mode": "values_plus_batch"} if mode == "distributed" else {}
        engine = sa.create_engine(srv.database_url, **options)
        stack.callback(engine.dispose)
        load(engine, mode, ws.tenant_id, dataset_id, texts, points)
        workers = "GUNICORN_WORKERS (CPU count) processes" if mode == "distributed" else "one process"
        print(f"   server {srv.base_url}: gunicorn, {workers}; {args.samples} samples per side and query", flush=True)
        measure(srv, args, key, ws.tenant_id, dataset_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5000 segments, 30 samples")
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--modes", default="distributed,embedded")
    parser.add_argument("--methods", default="full_text_search,hybrid_search,semantic_search")
    args = parser.parse_args()
    if args.quick:
        args.segments, args.samples = min(args.segments, 5000), min(args.samples, 30)
    args.methods = [m for m in args.methods.split(",") if m]
    print(f"load average (1/5/15 min) at the start: {loadavg()}")
    started = time.perf_counter()
    texts = corpus(args.segments, args.words)
    points, _ = clustered(args.segments, args.dim, clusters=max(10, args.segments // 100), queries=1, spread=2.0)
    print(f"{args.segments} segments of {args.words} words, {args.dim}-dim vectors (generated in "
          f"{time.perf_counter() - started:.0f}s)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="openify-bench-retrieve-"))
    try:
        with embedding_server(tmp) as server:
            for mode in [m for m in args.modes.split(",") if m]:
                run_mode(mode, args, tmp, server, texts, points)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_summary(ROWS, started, width=74)
    return 0


if __name__ == "__main__":
    sys.exit(main())
