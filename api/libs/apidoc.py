"""`@doc(...)`: OpenAPI metadata attached to a view method; api/openapi.py reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def doc(summary: str, *, body: Any = None, query: Any = None, response: Any = None, status: int = 200,
        auth: str = "console", errors: tuple[int, ...] = (),
        content_type: str = "application/json", body_required: bool = True,
        path: dict[str, tuple[str, ...]] | None = None) -> Callable[[F], F]:
    """Describe an operation: request body/query schemas (`body_required=False`: the body may be left out), the
    values a path parameter takes (`path`, name → allowed values; others answer 400), success schema and status, auth
    scheme (`console` bearer JWT, `app_key`, `dataset_key` or `none`) and the error statuses it can answer."""

    def decorate(fn: F) -> F:
        fn.__apidoc__ = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "query": query, "response": response, "status": status,
            "auth": auth, "errors": errors, "content_type": content_type,
            "body_required": body_required, "path": path or {},
        }
        return fn

    return decorate
