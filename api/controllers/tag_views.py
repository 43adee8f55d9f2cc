"""Response bodies of the tag routes, shared by the console and the Service API (reference §4.13, §7.2)."""

from __future__ import annotations

from typing import Any

from api.schemas.tag import TagSavedSchema, TagSchema
from api.services.tag_service import TagView

_tag, _saved = TagSchema(), TagSavedSchema()


def tag_list(views: list[TagView]) -> list[dict[str, Any]]:
    """Dify's tag list: `binding_count` as a string."""
    return [_tag.dump({"id": v.id, "name": v.name, "type": v.type, "binding_count": str(v.binding_count)})
            for v in views]


def saved_tag(view: TagView) -> dict[str, Any]:
    """A created or renamed tag: `binding_count` as an integer (Dify)."""
    return _saved.dump({"id": view.id, "name": view.name, "type": view.type, "binding_count": view.binding_count})
