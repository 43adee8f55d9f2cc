"""Shared pieces of the knowledge benchmarks (bench_indexing, bench_queue_latency, bench_retrieve_http).

- `corpus(total_bytes)`: deterministic, varied English-like documents (titles, headings, paragraphs, lists,
  numbers): real words (whole-word tokens of the bundled cl100k vocabulary, Zipf by rank) mixed with made-up
  syllable words, function words and a topic vocabulary per document; log-normal sizes; same seed, same bytes.
- `embedding_server(logs)`: bench/mock_llm.py in its own process; it also serves `POST /v1/embeddings` with
  vectors and timing read from the model name (`embed_model(...)`, bench/mock_embeddings.py) and reports how long
  the model was busy.
- `pgvector_server()`, `redis_db()`, `migrate(env)`, `in_process_app(env)`: the distributed (PostgreSQL 18 +
  pgvector + Redis db 12) and embedded (SQLite) setups driven in-process; `server_stack(...)`: the same as real
  processes (gunicorn, Celery worker and beat); owners, workspaces, embedding models, dataset keys over HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.core.rag.keywords import STOPWORDS  # noqa: E402
from bench.bench_foundation import HOST, VENV_BIN, _base_env  # noqa: E402
from tests.e2e import servers as e2e  # noqa: E402

MB = 1 << 20
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
PROVIDER = "openai_api_compatible"

# --- corpus ------------------------------------------------------------------------------------------------

_ONSETS = ["b", "bl", "br", "c", "ch", "cl", "cr", "d", "dr", "f", "fl", "fr", "g", "gl", "gr", "h", "j", "k", "l",
           "m", "n", "p", "ph", "pl", "pr", "qu", "r", "s", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "st", "str", "sw",
           "t", "th", "tr", "tw", "v", "w", "wh", "y", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "ie", "oa", "ou", "io", "ia"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "nt", "st", "rk", "ng", "ck", "m", "x", "ll", "ss", "rd"]
_SUFFIXES = ["", "", "", "", "ing", "ed", "s", "er", "ion", "ly", "ment", "ness", "al", "ity", "ive", "ous"]


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """Real English words first (whole-word tokens of the bundled cl100k_base vocabulary, in BPE rank order, which
    roughly follows frequency), then syllable-built words (names, jargon: several tokens each), shuffled in."""
    from api.core.rag.tokenizer import get_encoding

    encoding = get_encoding()
    real: dict[str, None] = {}
    for rank in range(encoding.n_vocab):
        try:
            piece = encoding.decode_single_token_bytes(rank)
        except KeyError:
            continue
        if re.fullmatch(rb" [a-z]{3,14}", piece) and re.search(rb"[aeiouy]", piece):
            real[piece[1:].decode()] = None
    made: dict[str, None] = {}
    while len(made) < size // 5:
        syllables = int(rng.choice([1, 2, 2, 2, 3]))
        word = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                       + _CODAS[rng.integers(len(_CODAS))] for _ in range(syllables))
        made[word + _SUFFIXES[rng.integers(len(_SUFFIXES))]] = None
    words = [w for w in real if w not in made][: size - len(made)]
    for word in made:  # spread the made-up words over the frequency ranks
        words.insert(int(rng.integers(50, len(words))), word)
    return words


@dataclass(frozen=True)
class CorpusDocument:
    name: str
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


class _Writer:
    """Sentences from a global Zipf vocabulary mixed with function words and the document's topic words."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = np.array(_vocabulary(self.rng, 40_000), dtype=object)
        weights = 1.0 / np.arange(1, len(self.vocab) + 1) ** 1.05
        self.cdf = np.cumsum(weights / weights.sum())
        self.function = np.array(sorted(STOPWORDS), dtype=object)  # real function words

    def words(self, n: int, topic: np.ndarray) -> np.ndarray:
        kind = self.rng.random(n)
        out = self.function[self.rng.integers(0, len(self.function), n)]
        content = kind >= 0.45
        picks = np.searchsorted(self.cdf, self.rng.random(int(content.sum())))
        out[content] = self.vocab[np.minimum(picks, len(self.vocab) - 1)]
        on_topic = kind >= 0.88
        out[on_topic] = topic[self.rng.integers(0, len(topic), int(on_topic.sum()))]
        return out

    def paragraph(self, topic: np.ndarray) -> str:
        lengths = self.rng.integers(6, 29, size=int(self.rng.integers(2, 8)))
        words = list(self.words(int(lengths.sum()), topic))
        sentences, start = [], 0
        for length in lengths:
            chunk = words[start:start + length]
            start += length
            if length > 12 and self.rng.random() < 0.5:
                chunk[int(self.rng.integers(3, length - 3))] += ","
            if self.rng.random() < 0.08:
                chunk[-1] = f"{chunk[-1]} {int(self.rng.integers(2, 2030))}"
            end = "." if self.rng.random() < 0.9 else ("?" if self.rng.random() < 0.6 else "!")
            sentences.append(" ".join(chunk).capitalize() + end)
        return " ".join(sentences)

    def document(self, index: int, size: int) -> CorpusDocument:
        topic = self.vocab[self.rng.integers(200, len(self.vocab), 40)]
        title = " ".join(self.words(int(self.rng.integers(3, 8)), topic)).title()
        parts, length = [f"# {title}"], len(title) + 2
        while length < size:
            roll = self.rng.random()
            if roll < 0.08:
                block = "## " + " ".join(self.words(int(self.rng.integers(2, 6)), topic)).capitalize()
            elif roll < 0.14:
                block = "\n".join(f"- {' '.join(self.words(int(self.rng.integers(3, 12)), topic))}"
                                  for _ in range(int(self.rng.integers(2, 7))))
            else:
                block = self.paragraph(topic)
            parts.append(block)
            length += len(block) + 2
        return CorpusDocument(f"doc-{index:05d}-{'-'.join(title.lower().split()[:3])}.txt", "\n\n".join(parts) + "\n")


def corpus(total_bytes: int, *, seed: int = 20240601, median_kb: float = 48.0, min_kb: float = 2.0,
           max_kb: float = 1024.0) -> list[CorpusDocument]:
    """Documents of log-normal size (median `median_kb`, clipped to [min_kb, max_kb]) until `total_bytes`."""
    writer = _Writer(seed)
    docs: list[CorpusDocument] = []
    total = 0
    while total < total_bytes:
        size_kb = float(np.clip(writer.rng.lognormal(np.log(median_kb), 1.0), min_kb, max_kb))
        doc = writer.document(len(docs), int(size_kb * 1024))
        docs.append(doc)
        total += doc.size
    return docs


def describe(docs: list[CorpusDocument]) -> str:
    sizes = np.array([d.size for d in docs])
    words = sum(len(d.text.split()) for d in docs[:50]) / max(1, sum(sizes[:50])) * sizes.sum()
    return (f"{len(docs)} documents, {sizes.sum() / MB:.1f} MB (MB = 2^20 bytes), sizes p50 "
            f"{np.median(sizes) / 1024:.0f} KB / max {sizes.max() / 1024:.0f} KB, ~{words / 1e6:.1f}M words")


# --- the embedding server ----------------------------------------------------------------------------------

def embed_model(dim: int, *, latency_ms: int = 0, per_token_us: int = 0, capacity: int = 0, tag: str = "") -> str:
    """A model name mock_llm.py understands: vectors of `dim`; optional latency model (fixed ms per request + µs
    per token, at most `capacity` requests served at once, 0 = unlimited); `tag` makes the name unique, so the
    embedding cache (keyed by model name) never serves one run's vectors to another."""
    name = f"embed-d{dim}"
    if latency_ms or per_token_us:
        name += f"-l{latency_ms}-t{per_token_us}"
    if capacity:
        name += f"-c{capacity}"
    return name + (f"-x{tag}" if tag else f"-x{uuid.uuid4().hex[:8]}")


@dataclass
class EmbeddingServer:
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stats(self) -> dict[str, float]:
        """Embedding requests since the last call (and reset): busy_s = time at least one request was being
        served, served_s = sum of service times, requests, texts, tokens."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request("GET", "/_embed_stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()


@contextmanager
def embedding_server(logs: Path) -> Iterator[EmbeddingServer]:
    """bench/mock_llm.py (chat and embeddings) in its own process group."""
    proc = e2e.start("mock-llm", [str(VENV_BIN / "python"), str(ROOT / "bench" / "mock_llm.py"), "--port", "0"],
                     _base_env(), logs)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = proc.log.read_text(errors="replace")
            if "READY " in text:
                yield EmbeddingServer(int(text.split("READY ", 1)[1].split()[0]), proc.popen.pid)
                return
            if proc.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"mock model server did not start:\n{proc.tail()}")
    finally:
        e2e.stop(proc)


# --- databases and apps ------------------------------------------------------------------------------------

@dataclass
class PgServer:
    url: str
    pid: int  # the postmaster: its direct children are the backends
    stop: Callable[[], None]


def pgvector_server(settings: tuple[str, ...] = ("shared_buffers=1GB", "max_parallel_maintenance_workers=2",
                                                 "max_connections=300")) -> PgServer:
    """A throwaway PostgreSQL 18 + pgvector (tests/pgvector_server.py); stop() removes it."""
    from tests.pgvector_server import start_pgvector_server

    server = start_pgvector_server(list(settings))
    pid = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    return PgServer(url=server.url, pid=pid, stop=server.stop)


def redis_db(url: str = REDIS_URL) -> AbstractContextManager[str]:
    """Hold the Redis db of `url` (the lock file tests/e2e takes before using a db, so an end-to-end run picks
    another one meanwhile), flushed before and after."""
    from tests.e2e.servers import hold_redis_db

    db = int(url.rsplit("/", 1)[-1] or "0")
    return hold_redis_db(url, (db,), on_wait=lambda busy: print(
        f"   waiting for Redis db {busy} (an end-to-end run holds it)", flush=True))


def app_env(storage: Path, database_url: str = "", redis_url: str = "", **extra: str) -> dict[str, str]:
    """Environment of a server process (or in-process settings): distributed when `redis_url` is given."""
    env = {"STORAGE_DIR": str(storage), "LOG_LEVEL": "warning", "LOG_FORMAT": "text", **extra}
    if redis_url:
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=SECRET)
    else:
        env.update(DATABASE_URL=database_url, REDIS_URL="", CELERY_BROKER_URL="")
    return env


def migrate(env: dict[str, str]) -> None:
    """`flask db upgrade` with `env` (a server's environment), in a child process."""
    full = {**_base_env(), **env}
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "api.wsgi", "db", "upgrade"], cwd=ROOT, env=full,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")


def in_process_app(env: dict[str, str]) -> Any:
    """The real Flask app (create_app) with these settings, in this process."""
    from api.app import create_app
    from api.config import load_settings

    return create_app(load_settings({k: v for k, v in env.items() if v}))


@dataclass
class Workspace:
    tenant_id: str
    account_id: str
    token: str  # console JWT
    dataset_key: str = ""


def setup_owner(client: Any) -> Workspace:
    """Set up the instance (first account + workspace) over `client` (Flask test client or httpx)."""
    from tests.helpers import Console

    owner = Console(client).setup_owner(email=f"bench-{uuid.uuid4().hex[:6]}@example.com")
    return Workspace(owner.tenant_id, owner.account_id, owner.token)


def register_embedding_model(client: Any, ws: Workspace, server: EmbeddingServer, model: str) -> None:
    """An openai_api_compatible text-embedding model on the mock (validated there with a real call)."""
    from tests.helpers import Console

    Console(client).call("post", f"/workspaces/current/model-providers/{PROVIDER}/models", token=ws.token,
                         expect=200, json={"model": model, "model_type": "text-embedding",
                                           "credentials": {"endpoint_url": server.url + "/v1"}})


def new_dataset_key(client: Any, ws: Workspace) -> str:
    from tests.helpers import Console, body

    response = Console(client).call("post", "/datasets/api-keys", token=ws.token, expect=200)
    ws.dataset_key = body(response)["token"]
    return ws.dataset_key


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_summary(rows: list[tuple[str, str, float, bool | None]], started: float, *, width: int = 62,
                  digits: int = 2) -> None:
    """The closing table of a benchmark: one line per (metric, target, value, met; None = informational)."""
    print(f"\nload average (1/5/15 min) at the end: {loadavg()}; total wall time {time.perf_counter() - started:.0f}s")
    print(f"{'metric':{width}s} {'target':>8s} {'value':>9s}  status")
    for metric, target, value, met in rows:
        status = "-" if met is None else ("MET" if met else "NOT MET")
        print(f"{metric:{width}s} {target:>8s} {value:9.{digits}f}  {status}")


def proc_cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of `pid` (and its direct children: a postmaster's backends, gunicorn workers)."""
    from bench.bench_foundation import tree_cpu_seconds

    if children:
        return tree_cpu_seconds(pid)
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# --- real server processes -----------------------------------------------------------------------------------

@dataclass
class Stack:
    """A running server of one mode: gunicorn (+ a Celery worker and beat in distributed mode)."""

    mode: str
    base_url: str
    database_url: str  # what the bench reads documents from (the same database)
    cpu_pids: list[int]
    env: dict[str, str]

    def cpu(self) -> float:
        return sum(proc_cpu_seconds(pid) for pid in self.cpu_pids)


@contextmanager
def server_stack(mode: str, tmp: Path, pg: PgServer | None, *, worker_concurrency: int = 0, celery: bool = True,
                 log_level: str = "info", **extra: str) -> Iterator[Stack]:
    """gunicorn -c docker/gunicorn.conf.py api.wsgi:app on a free port (distributed: with `pg`, Redis db 12 and,
    with `celery`, a Celery worker with the configured pool, or `worker_concurrency` threads, and Celery beat);
    every process is stopped at the end. Logs under `tmp`."""
    from bench.bench_foundation import gunicorn
    from bench.chat_common import _checked

    with contextlib.ExitStack() as stack:
        storage = tmp / f"{mode}-storage"
        if mode == "distributed":
            assert pg is not None
            env = app_env(storage, pg.url, stack.enter_context(redis_db(REDIS_URL)), **extra)
            database_url = pg.url
        else:
            env = app_env(storage, **extra)
            database_url = f"sqlite:///{storage / 'app.db'}"
        env["LOG_LEVEL"] = log_level
        migrate(env)
        full = {**_base_env(), **env}
        if mode == "distributed":
            (tmp / "prometheus").mkdir(exist_ok=True)
            full["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prometheus")
        server = stack.enter_context(gunicorn(f"{mode}-api", "api.wsgi:app", full, tmp, "/health"))
        pids = [server.proc.pid]
        if mode == "distributed" and celery:
            command = [str(VENV_BIN / "celery"), "-A", "api.worker:celery", "worker", "--loglevel=INFO",
                       "-n", f"bench-{uuid.uuid4().hex[:8]}@%h"]
            if worker_concurrency:
                command.append(f"--concurrency={worker_concurrency}")
            worker = e2e.start("celery", command, {**full, "LOG_LEVEL": "info"}, tmp)
            stack.callback(e2e.stop, worker)
            _checked("celery worker", e2e.wait_worker_ready, worker)
            beat = e2e.celery_beat({**full, "LOG_LEVEL": "info"}, tmp)
            stack.callback(e2e.stop, beat)
            pids += [worker.popen.pid]
        yield Stack(mode, f"http://{HOST}:{server.port}", database_url, pids, env)
        if server.proc.poll() is not None:
            print(f"   WARNING: the {mode} gunicorn died during the run:\n{server.log_tail()}")


def http_client(base_url: str, timeout: float = 60.0) -> Any:
    import httpx

    return httpx.Client(base_url=base_url, timeout=timeout, limits=httpx.Limits(max_connections=64))


def create_dataset(client: Any, key: str, name: str, model: str | None, **fields: Any) -> str:
    """POST /v1/datasets (high_quality with `model`, else economy); returns its id."""
    payload: dict[str, Any] = {"name": name, "indexing_technique": "high_quality" if model else "economy", **fields}
    if model:
        payload.update(embedding_model=model, embedding_model_provider=PROVIDER)
    response = client.post("/v1/datasets", json=payload, headers={"Authorization": f"Bearer {key}"})
    if response.status_code != 200:
        raise RuntimeError(f"create dataset: HTTP {response.status_code}: {response.text}")
    return response.json()["id"]


def new_workspace(client: Any, ws: Workspace, name: str) -> Workspace:
    """A further workspace of the same owner (created and switched to); its own dataset key."""
    from tests.helpers import Console, body

    created = body(Console(client).call("post", "/workspaces", token=ws.token, json={"name": name}, expect=201))
    other = Workspace(created["id"], ws.account_id, ws.token)
    new_dataset_key(client, other)
    return other
