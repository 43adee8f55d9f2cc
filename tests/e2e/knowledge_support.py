"""Helpers for the knowledge end-to-end tests: a workspace's dataset API key on a real server, models on the fake
model server, uploads through the service API, polling of indexing-status, and the expected segments of a file.

The expected segments come from the product's own extract → clean → split steps run here in the test process,
on the same bytes and process rule (the "splitter directly"): a document indexed by a server, whatever happened
to its workers, must end with exactly those segments, once each, at positions 1..n.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import docx
import openpyxl

from api.core.rag.cleaner import clean
from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.extractors import extract
from api.core.rag.processor import transform
from tests.e2e.chat_support import Stack
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import bearer
from tests.unit.core.rag.files import FIXTURES, make_pdf

PROVIDER = "openai_api_compatible"
EMBEDDINGS_PATH = "/v1/embeddings"
# One segment per line: every file below splits into a few short segments, one of them holding the marker.
LINE_RULE = {"mode": "custom", "rules": {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
                                         "segmentation": {"separator": "\\n", "max_tokens": 100,
                                                          "chunk_overlap": 0}}}
TERMINAL = ("completed", "error")


@dataclass(frozen=True)
class SampleFile:
    """A file of one type whose segments include exactly one holding `marker` (a word found nowhere else)."""

    name: str
    data: bytes
    marker: str

    @property
    def segments(self) -> list[str]:
        return expected_segments(self.name, self.data)

    @property
    def marker_segment(self) -> str:
        [segment] = [s for s in self.segments if self.marker in s.lower()]
        return segment


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Field notes", level=1)
    document.add_paragraph("Plain words about nothing in particular.")
    document.add_paragraph("The wombat digs burrows at dusk.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Animal", "Habit"])
    sheet.append(["pangolin", "curls into a ball"])
    sheet.append(["heron", "waits by the water"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sample_files() -> dict[str, SampleFile]:
    """One small real file per supported type, by extension."""
    files = [
        SampleFile("notes.txt", b"Apples grow on trees.\nThe quokka smiles at visitors.\nOranges are citrus.\n",
                   "quokka"),
        SampleFile("guide.md", b"# Sea notes\n\nSome intro text.\n\n- The narwhal has a long tusk.\n", "narwhal"),
        SampleFile("page.html", b"<html><head><title>Pond</title></head><body><h1>Pond life</h1>"
                                b"<p>Intro paragraph.</p><p>The axolotl regrows its limbs.</p></body></html>",
                   "axolotl"),
        SampleFile("report.pdf", make_pdf(["First page words.", "The platypus lays eggs.\nMore text here."]),
                   "platypus"),
        SampleFile("notes.docx", _docx(), "wombat"),
        SampleFile("facts.csv", b"animal,fact\nokapi,has a long tongue\nmole,digs tunnels\n", "okapi"),
        SampleFile("habits.xlsx", _xlsx(), "pangolin"),
        SampleFile("legacy.xls", (FIXTURES / "sample.xls").read_bytes(), "alice"),
        SampleFile("animals.json", json.dumps({"animals": [{"name": "tapir", "fact": "It has a short trunk."}]})
                   .encode(), "trunk"),
    ]
    return {file.name.rsplit(".", 1)[1]: file for file in files}


def expected_segments(name: str, data: bytes, rule: dict[str, Any] | None = None) -> list[str]:
    """The segment contents, in order, that indexing `data` (a file called `name`) by `rule` must produce."""
    process_rule = ProcessRule.from_dict(rule or LINE_RULE)
    cleaned = [SourceDocument(clean(source.text, process_rule), dict(source.metadata))
               for source in extract(name, data)]
    return [chunk.content for chunk in transform(cleaned, replace(process_rule, pre_processing_rules=()))]


def search(method: str, **fields: Any) -> dict[str, Any]:
    """A retrieval_model body for `method` (no rerank, no score threshold, top 5 unless given)."""
    return {"search_method": method, "reranking_enable": False, "top_k": 5, "score_threshold_enabled": False,
            **fields}


@dataclass
class Knowledge:
    """The knowledge service API of one server, with a dataset API key of the stack's workspace."""

    stack: Stack
    key: dict[str, str] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        response = self.stack.console.call("post", "/datasets/api-keys", token=self.stack.owner.token, expect=200)
        self.key = bearer(response.json()["token"])

    @property
    def mode(self) -> str:
        return self.stack.mode

    def call(self, method: str, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
        response = getattr(self.stack.http, method)(f"/v1{path}", headers=self.key, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def register(self, llm: FakeLLMServer, name: str, model_type: str = "text-embedding") -> str:
        """An openai_api_compatible model of `model_type` on the fake (validated there with a real call)."""
        if name not in self.models:
            self.stack.console.call("post", f"/workspaces/current/model-providers/{PROVIDER}/models",
                                    token=self.stack.owner.token, expect=200, json={
                                        "model": name, "model_type": model_type,
                                        "credentials": {"endpoint_url": llm.url + "/v1", "context_size": "8192"}})
            self.models.add(name)
        return name

    def dataset(self, technique: str = "high_quality", embedding_model: str | None = None) -> str:
        body: dict[str, Any] = {"name": f"kb-{uuid.uuid4().hex[:8]}", "indexing_technique": technique}
        if embedding_model is not None:
            body.update(embedding_model=embedding_model, embedding_model_provider=PROVIDER)
        return self.call("post", "/datasets", json=body)["id"]

    def upload(self, dataset_id: str, name: str, data: bytes,
               rule: dict[str, Any] | None = None) -> tuple[str, str]:
        """create-by-file; returns (document id, batch)."""
        created = self.call("post", f"/datasets/{dataset_id}/document/create-by-file",
                            files={"file": (name, data)},
                            data={"data": json.dumps({"process_rule": rule or LINE_RULE})})
        return created["document"]["id"], created["batch"]

    def status(self, dataset_id: str, batch: str) -> dict[str, Any]:
        [row] = self.call("get", f"/datasets/{dataset_id}/documents/{batch}/indexing-status")["data"]
        return row

    def wait_until(self, dataset_id: str, batch: str, done: tuple[str, ...] = TERMINAL,
                   timeout: float = 30.0) -> dict[str, Any]:
        """Poll indexing-status until the batch's document is in one of `done` (bounded wait)."""
        return self.wait_for(dataset_id, batch, lambda row: row["indexing_status"] in done, timeout=timeout)

    def wait_for(self, dataset_id: str, batch: str, condition: Callable[[dict[str, Any]], bool],
                 timeout: float = 30.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll indexing-status until `condition(row)` holds for the batch's document (bounded wait)."""
        deadline = time.monotonic() + timeout
        row = self.status(dataset_id, batch)
        while not condition(row) and time.monotonic() < deadline:
            time.sleep(interval)
            row = self.status(dataset_id, batch)
        assert condition(row), f"condition not met within {timeout}s: {row}"
        return row

    def segments(self, dataset_id: str, document_id: str) -> list[dict[str, Any]]:
        """Every segment of the document (all pages), in position order."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.call("get", f"/datasets/{dataset_id}/documents/{document_id}/segments",
                             params={"page": page, "limit": 100})
            found += body["data"]
            if not body["has_more"]:
                return sorted(found, key=lambda s: s["position"])
            page += 1

    def retrieve(self, dataset_id: str, query: str, model: dict[str, Any]) -> list[dict[str, Any]]:
        return self.call("post", f"/datasets/{dataset_id}/retrieve",
                         json={"query": query, "retrieval_model": model})["records"]


class Knowledges:
    """One Knowledge per server (its dataset key made once), shared by the tests of a module."""

    def __init__(self) -> None:
        self._by_url: dict[str, Knowledge] = {}

    def get(self, stack: Stack) -> Knowledge:
        if stack.server.base_url not in self._by_url:
            self._by_url[stack.server.base_url] = Knowledge(stack)
        return self._by_url[stack.server.base_url]


def embedded_texts(llm: FakeLLMServer, model: str, since: int = 0) -> list[str]:
    """Every text sent to the fake's embeddings route for `model` (failed requests included), in order, from
    request number `since` on."""
    texts: list[str] = []
    for request in llm.requests[since:]:
        if request.path == EMBEDDINGS_PATH and request.model == model:
            inputs = request.body.get("input") or []
            texts += [inputs] if isinstance(inputs, str) else list(inputs)
    return texts
