"""Uploaded files: Dify's size limits per kind, storage under `upload_files/{tenant}/{uuid}.{ext}`,
signed preview URLs, and validation of `files` mappings sent with a message.
"""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.config import Settings
from api.core.ports import Storage
from api.libs import signing
from api.libs.clock import utcnow
from api.libs.uuid7 import is_uuid
from api.models.file import UploadFile
from api.services.errors import (
    FilenameNotExistsError,
    InvalidInputError,
    PayloadTooLargeError,
    StoredFileNotFoundError,
    UnsupportedMediaTypeError,
)

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "mpeg", "webm"})
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "amr", "mpga"})
DOCUMENT_EXTENSIONS = frozenset({"txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv",
                                 "eml", "msg", "pptx", "xml", "epub", "ppt", "json"})


def file_kind(extension: str) -> str:
    """Dify's file type for an extension: image, video, audio, document or custom."""
    ext = extension.lower()
    for kind, extensions in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS), ("audio", AUDIO_EXTENSIONS),
                             ("document", DOCUMENT_EXTENSIONS)):
        if ext in extensions:
            return kind
    return "custom"


def _size_limit_mb(settings: Settings, extension: str) -> int:
    return {"image": settings.upload_image_file_size_limit, "video": settings.upload_video_file_size_limit,
            "audio": settings.upload_audio_file_size_limit}.get(file_kind(extension), settings.upload_file_size_limit)


def upload_file(session: Session, *, storage: Storage, settings: Settings, tenant_id: str, created_by: str,
                created_by_role: str, filename: str | None, mimetype: str | None, data: bytes) -> UploadFile:
    """Store one uploaded file and its row. Commits.

    Raises: FilenameNotExistsError, InvalidInputError (path separators, blacklisted extension),
    UnsupportedFileTypeError (415: no mimetype), FileTooLargeError (413).
    """
    if not filename:
        raise FilenameNotExistsError()
    if "/" in filename or "\\" in filename:
        raise InvalidInputError("Filename contains invalid characters.", field="file")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension in settings.upload_file_extension_blacklist:
        raise InvalidInputError(f"File extension '.{extension}' is not allowed.", field="file")
    mimetype = mimetype or mimetypes.guess_type(filename)[0]
    if not mimetype or mimetype == "application/octet-stream" and not extension:
        raise UnsupportedMediaTypeError()
    limit = _size_limit_mb(settings, extension)
    if len(data) > limit * 1024 * 1024:
        raise PayloadTooLargeError(f"File size exceeded. {filename} is larger than {limit} MB.")
    name = filename[:200]
    key = f"upload_files/{tenant_id}/{uuid.uuid4()}.{extension or 'bin'}"
    storage.save(key, data)
    row = UploadFile(tenant_id=tenant_id, storage_type=settings.storage_type, key=key, name=name, size=len(data),
                     extension=extension, mime_type=mimetype, created_by_role=created_by_role, created_by=created_by,
                     created_at=utcnow(), used=False, hash=hashlib.sha3_256(data).hexdigest())
    session.add(row)
    session.commit()
    return row


def preview_url(settings: Settings, base_url: str, file_id: str) -> str:
    """The signed, expiring preview URL of `file_id` under FILES_URL (else `base_url`); no database access."""
    query = signing.signed_query(settings.secret_key, file_id)
    return f"{settings.files_url or base_url}/files/{file_id}/file-preview?{query}"


def get_signed_file(session: Session, *, settings: Settings, file_id: str, timestamp: str, nonce: str,
                    sign: str) -> UploadFile:
    """The file behind a valid, unexpired signed URL. Raises StoredFileNotFoundError otherwise (never says why)."""
    if not signing.verify(settings.secret_key, file_id, timestamp, nonce, sign, max_age=300):
        raise StoredFileNotFoundError()
    row = session.get(UploadFile, file_id)
    if row is None:
        raise StoredFileNotFoundError()
    return row


@dataclass(frozen=True)
class MessageFileSpec:
    type: str
    transfer_method: str
    upload_file_id: str | None
    url: str | None


def _allowed(file_upload: dict[str, Any]) -> tuple[bool, set[str], set[str], int]:
    image = file_upload.get("image") or {}
    if file_upload.get("enabled"):
        types = set(file_upload.get("allowed_file_types") or ["image"])
        methods = set(file_upload.get("allowed_file_upload_methods") or ["local_file", "remote_url"])
        return True, types, methods, int(file_upload.get("number_limits") or image.get("number_limits") or 3)
    if image.get("enabled"):
        return True, {"image"}, set(image.get("transfer_methods") or ["local_file", "remote_url"]), int(
            image.get("number_limits") or 3)
    return False, set(), set(), 0


def resolve_message_files(session: Session, *, tenant_id: str, file_upload: dict[str, Any] | None,
                          files: list[Any] | None) -> list[MessageFileSpec]:
    """Validate `files` mappings against the app's file_upload feature (disabled ⇒ ignored).

    Raises: InvalidInputError "File validation failed for file: …" / "Invalid upload file".
    """
    enabled, types, methods, limit = _allowed(file_upload or {})
    if not files or not enabled:
        return []
    if not isinstance(files, list) or len(files) > limit:
        raise InvalidInputError(f"Number of files exceeds the limit of {limit}.", field="files")
    specs = []
    for item in files:
        if not isinstance(item, dict):
            raise InvalidInputError("Each file must be an object.", field="files")
        kind, method = item.get("type") or "image", item.get("transfer_method")
        label = item.get("upload_file_id") or item.get("url") or kind
        if kind not in types or method not in methods:
            raise InvalidInputError(f"File validation failed for file: {label}", field="files")
        if method == "local_file":
            upload_id = item.get("upload_file_id")
            row = session.get(UploadFile, upload_id) if is_uuid(upload_id) else None
            if row is None or row.tenant_id != tenant_id or (kind == "image" and file_kind(row.extension) != "image"):
                raise InvalidInputError("Invalid upload file", field="files")
            specs.append(MessageFileSpec(kind, method, row.id, None))
        else:
            url = item.get("url") or item.get("remote_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise InvalidInputError(f"File validation failed for file: {label}", field="files")
            specs.append(MessageFileSpec(kind, method, None, url))
    return specs


def find_upload(session: Session, file_id: str) -> UploadFile | None:
    """The uploaded file `file_id` of any tenant, or None; callers check the tenant. Reads only."""
    return session.scalar(sa.select(UploadFile).where(UploadFile.id == file_id))
