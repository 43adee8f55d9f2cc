"""The page/limit envelope shared by every paginated list (apps, datasets, documents, segments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.limit) if self.limit else 0
