"""What callers of the model runtime depend on: one Protocol per model type.

Providers implement these structurally; services and the app runner type against them, and unit tests of core
logic may pass in-process fakes that satisfy them. `endpoint` is the provider base URL the model talks to, part of
the circuit-breaker key (provider, endpoint, model).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from api.core.model_runtime.entities import EmbeddingResult, LLMChunk, PromptMessage, RerankHit


class LargeLanguageModel(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def invoke(
        self,
        messages: list[PromptMessage],
        *,
        params: Mapping[str, Any],
        stop: list[str] | None = None,
        stream: bool = True,
    ) -> Iterator[LLMChunk]:
        """Generate an answer. Nothing is sent until the iterator is first advanced.

        Streaming yields text deltas as they arrive; blocking yields one chunk with the whole text. Either way the
        last chunk carries the priced `usage` and the `finish_reason`. Raises InvokeError subclasses only.
        """


class TextEmbeddingModel(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """One vector per text, in input order (batched internally). Raises InvokeError subclasses only."""


class RerankModel(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def rerank(self, query: str, documents: list[str], top_n: int | None = None) -> list[RerankHit]:
        """Hits (index into `documents`, score), best first, at most `top_n`. Raises InvokeError subclasses only."""
