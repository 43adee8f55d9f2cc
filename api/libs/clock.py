"""Naive-UTC clock used for every stored timestamp (as Dify stores them)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_timestamp(value: datetime | None) -> int | None:
    """Naive UTC datetime → integer Unix seconds (the wire format of every `*_at` field)."""
    if value is None:
        return None
    return int(value.replace(tzinfo=UTC).timestamp())
