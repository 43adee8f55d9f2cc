"""Document embeddings through the workspace's embedding model, with a persistent cache.

The cache is the `embeddings` table keyed by (provider, model, SHA-256 of the text), as Dify's: a chunk whose text
was embedded before by the same model is never sent to the provider again (re-runs after a crash or a retry, and
unchanged chunks of an updated document, cost nothing). Vectors are stored as little-endian float32 bytes.

Boundaries: no commits here. The indexing service commits after each batch, so cached vectors survive a failure of
a later batch; concurrent workers inserting the same entry are harmless (`ON CONFLICT DO NOTHING`).
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.core.model_runtime import registry
from api.core.model_runtime.ports import TextEmbeddingModel
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.libs.uuid7 import uuid7_str
from api.models.dataset import Dataset, Embedding
from api.services import provider_service
from api.services.errors import ServiceError

_LOOKUP_CHUNK = 500  # hashes per cache SELECT (bound parameters stay far below any driver limit)


class EmbeddingModelNotConfiguredError(ServiceError):
    code = "embedding_model_not_configured"
    default_message = ("The knowledge base has no embedding model: set one on the knowledge base or a default "
                       "embedding model for the workspace.")


@dataclass(frozen=True)
class BoundEmbedder:
    """An embedding model bound to credentials, with the names its cache entries are keyed by."""

    provider: str
    model_name: str
    model: TextEmbeddingModel


def text_hash(text: str) -> str:
    """SHA-256 hex of `text` (the cache key part that identifies the content)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pack_vector(vector: Sequence[float]) -> bytes:
    """`vector` as little-endian float32 bytes, as the embedding cache table stores it; inverse of `unpack_vector`."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack_vector(data: bytes) -> list[float]:
    """The floats of little-endian float32 `data` written by `pack_vector`."""
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def bind_embedder(session: Session, *, runtime: Runtime, dataset: Dataset) -> BoundEmbedder:
    """The dataset's embedding model (or the workspace default) with decrypted credentials.

    Raises:
        EmbeddingModelNotConfiguredError: neither the dataset nor the workspace names an embedding model.
        ProviderNotInitializeError: the workspace has no credentials for the provider.
        InvokeError: the provider is unknown or a required credential is missing.
    """
    provider, model = dataset.embedding_model_provider, dataset.embedding_model
    if not provider or not model:
        default = provider_service.get_default_model(session, tenant_id=dataset.tenant_id,
                                                     model_type="text-embedding")
        if default is None:
            raise EmbeddingModelNotConfiguredError()
        provider, model = default.provider_name, default.model_name
    target = provider_service.resolve_target(session, cache=runtime.cache, secret_key=runtime.settings.secret_key,
                                             tenant_id=dataset.tenant_id, provider=provider, model=model,
                                             model_type="text-embedding")
    bound = registry.get_embedding(target.provider, target.name, target.credentials)
    return BoundEmbedder(provider=target.provider, model_name=target.name, model=bound)


def embed_documents(session: Session, embedder: BoundEmbedder, texts: Sequence[str], *,
                    batch_size: int) -> list[list[float]]:
    """One vector per text, in order: cached ones from the `embeddings` table, the rest from the model.

    Writes: inserts the new cache entries (flushed, not committed). Raises InvokeError from the model
    (`.retryable` for rate limits, timeouts and connection failures).
    """
    hashes = [text_hash(text) for text in texts]
    found = _lookup(session, embedder, set(hashes))
    missing: dict[str, str] = {}
    for digest, text in zip(hashes, texts, strict=True):
        if digest not in found and digest not in missing:
            missing[digest] = text
    pending = list(missing.items())
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        result = embedder.model.embed([text for _, text in batch])
        vectors = [list(map(float, vector)) for vector in result.vectors]
        for (digest, _), vector in zip(batch, vectors, strict=True):
            found[digest] = vector
        _store(session, embedder, [(digest, vector) for (digest, _), vector in zip(batch, vectors, strict=True)])
    return [found[digest] for digest in hashes]


def _lookup(session: Session, embedder: BoundEmbedder, hashes: set[str]) -> dict[str, list[float]]:
    ordered = sorted(hashes)
    found: dict[str, list[float]] = {}
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        rows = session.execute(sa.select(Embedding.hash, Embedding.embedding).where(
            Embedding.provider_name == embedder.provider, Embedding.model_name == embedder.model_name,
            Embedding.hash.in_(ordered[start:start + _LOOKUP_CHUNK])))
        found.update({digest: unpack_vector(data) for digest, data in rows})
    return found


def _store(session: Session, embedder: BoundEmbedder, entries: list[tuple[str, list[float]]]) -> None:
    if not entries:
        return
    now = utcnow()
    rows = [{"id": uuid7_str(), "provider_name": embedder.provider, "model_name": embedder.model_name,
             "hash": digest, "embedding": pack_vector(vector), "created_at": now} for digest, vector in entries]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Embedding).on_conflict_do_nothing(index_elements=["provider_name", "model_name", "hash"])
    session.execute(stmt, rows)
