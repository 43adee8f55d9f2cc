"""`@doc(...)`: OpenAPI metadata attached to a view method; api/openapi.py reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def doc(summary: str, *, body: Any = None, query: Any = None, response: Any = None, status: int = 200,
        auth: str = "console", errors: tuple[int, ...] = (),
        content_type: str = "application/json") -> Callable[[F], F]:
    """Describe an operation: request body/query schemas, success schema and status, auth scheme
    (`console` bearer JWT, `app_key`, `dataset_key` or `none`) and the error statuses it can answer."""

    def decorate(fn: F) -> F:
        fn.__apidoc__ = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "query": query, "response": response, "status": status,
            "auth": auth, "errors": errors, "content_type": content_type,
        }
        return fn

    return decorate
