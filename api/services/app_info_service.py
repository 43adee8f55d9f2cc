"""What the Service API tells a client about its app: parameters, meta, info, site.

All answers are computed from the cached AppSnapshot, so they need no database round trip.
"""

from __future__ import annotations

from typing import Any

from api.config import Settings
from api.core.app.model_config import DEFAULT_FEATURES
from api.services.errors import AppUnavailableError, PermissionDeniedError
from api.services.service_auth_service import AppSnapshot

_FEATURE_KEYS = ("suggested_questions_after_answer", "speech_to_text", "text_to_speech", "retriever_resource",
                 "annotation_reply", "more_like_this", "sensitive_word_avoidance", "file_upload")


def get_parameters(snapshot: AppSnapshot, settings: Settings) -> dict[str, Any]:
    """Dify's `/parameters` body from the app's live model config.

    Raises: AppUnavailableError when the app has no model config (e.g. an unpublished workflow app).
    """
    config = snapshot.model_config
    if config is None:
        raise AppUnavailableError()
    body: dict[str, Any] = {
        "opening_statement": config.get("opening_statement"),
        "suggested_questions": config.get("suggested_questions") or [],
        "user_input_form": config.get("user_input_form") or [],
    }
    for key in _FEATURE_KEYS:
        body[key] = config.get(key) or DEFAULT_FEATURES[key]
    body["system_parameters"] = {
        "image_file_size_limit": settings.upload_image_file_size_limit,
        "video_file_size_limit": settings.upload_video_file_size_limit,
        "audio_file_size_limit": settings.upload_audio_file_size_limit,
        "file_size_limit": settings.upload_file_size_limit,
        "workflow_file_upload_limit": settings.workflow_file_upload_limit,
    }
    return body


def get_meta(snapshot: AppSnapshot) -> dict[str, Any]:
    """Tool icons of the app's agent tools (none until tools land)."""
    tools = ((snapshot.model_config or {}).get("agent_mode") or {}).get("tools") or []
    icons = {t["tool_name"]: "" for t in tools if isinstance(t, dict) and t.get("tool_name")}
    return {"tool_icons": icons}


def get_info(snapshot: AppSnapshot) -> dict[str, Any]:
    """Name, description, tag names, mode and author of the app."""
    return {"name": snapshot.name, "description": snapshot.description, "tags": list(snapshot.tags),
            "mode": snapshot.mode, "author_name": snapshot.author_name}


def get_site(snapshot: AppSnapshot) -> dict[str, Any]:
    """The app's web-site settings. Raises PermissionDeniedError when the app has no site."""
    if snapshot.site is None:
        raise PermissionDeniedError("Site not found.")
    site = dict(snapshot.site)
    site.pop("code", None)
    site["icon_url"] = None
    return site
