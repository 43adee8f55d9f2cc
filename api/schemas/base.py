"""Shared schema pieces: unknown fields are ignored (as Dify does), timestamps are Unix ints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from api.libs.passwords import PASSWORD_PATTERN


class BaseSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class Timestamp(fields.Field):
    """Naive-UTC datetime ↔ integer Unix seconds."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        return int(value.replace(tzinfo=UTC).timestamp())

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError("Must be an integer timestamp.")
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


class TrimmedStr(fields.String):
    """A string with surrounding whitespace and NUL characters removed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).replace("\x00", "").strip()


class UploadedFile(fields.Raw):
    """A multipart file part (documentation only: views read it from request.files)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"type": "string", "format": "binary"}, **kwargs)


def new_password_field(min_length: int | None = None) -> fields.String:
    """A password being set. Dify's rule (letters and digits, at least 8 characters) is checked by the services with
    its own message; the pattern documents it."""
    return fields.String(required=True, validate=validate.Length(min=min_length, max=256),
                         metadata={"pattern": PASSWORD_PATTERN.pattern})


class ErrorSchema(BaseSchema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    status = fields.Integer(required=True)
    params = fields.String()


class ResultSchema(BaseSchema):
    result = fields.String(required=True, metadata={"example": "success"})


class PageArgsSchema(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=99999))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
