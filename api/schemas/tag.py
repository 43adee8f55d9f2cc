"""Tags and tag bindings: request and response payloads (reference §4.13 console, §7.2 Service API)."""

from marshmallow import ValidationError, fields, validate, validates_schema

from api.schemas.base import BaseSchema, TrimmedStr

TAG_TYPES = ["knowledge", "app"]
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
uuid_string = validate.Regexp(UUID_PATTERN, error="Must be a UUID.")

_name = validate.Length(min=1, max=50)
_id = validate.Length(max=36)


class TagListArgsSchema(BaseSchema):
    type = fields.String(load_default="", validate=validate.OneOf([*TAG_TYPES, ""]))
    keyword = fields.String(load_default=None, validate=validate.Length(max=255))


class TagCreateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=_name)
    type = fields.String(required=True, validate=validate.OneOf(TAG_TYPES))


class TagUpdateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=_name)
    type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TAG_TYPES))  # a tag keeps its type


class TagBindingCreateSchema(BaseSchema):
    tag_ids = fields.List(fields.String(validate=_id), required=True, validate=validate.Length(max=100))
    target_id = fields.String(required=True, validate=_id)
    type = fields.String(required=True, validate=validate.OneOf(TAG_TYPES))


class TagBindingRemoveSchema(BaseSchema):
    """Dify's `tag_id` (newer releases send `tag_ids`; either is accepted)."""

    tag_id = fields.String(load_default=None, validate=_id)
    tag_ids = fields.List(fields.String(validate=_id), load_default=None, validate=validate.Length(min=1, max=100))
    target_id = fields.String(required=True, validate=_id)
    type = fields.String(required=True, validate=validate.OneOf(TAG_TYPES))

    @validates_schema
    def _one_tag(self, data, **kwargs):
        if data.get("tag_id") is None and data.get("tag_ids") is None:
            raise ValidationError("Missing data for required field.", "tag_id")


class TagSchema(BaseSchema):
    """A tag in a list: `binding_count` is a string, as Dify marshals it."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String()
    binding_count = fields.String()


class TagSavedSchema(TagSchema):
    """A created or renamed tag: Dify answers with an integer `binding_count` there."""

    binding_count = fields.Integer()


# ---- Service API (knowledge tags only) ----------------------------------------------------------------------

class DatasetTagCreateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=_name)


class DatasetTagUpdateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=_name)
    tag_id = fields.String(required=True, validate=_id)


class DatasetTagDeleteSchema(BaseSchema):
    tag_id = fields.String(required=True, validate=_id)


class DatasetTagBindingSchema(BaseSchema):
    tag_ids = fields.List(fields.String(validate=_id), required=True, validate=validate.Length(max=100))
    target_id = fields.String(required=True, validate=_id)


class DatasetTagUnbindingSchema(BaseSchema):
    tag_id = fields.String(load_default=None, validate=_id)
    tag_ids = fields.List(fields.String(validate=_id), load_default=None, validate=validate.Length(min=1, max=100))
    target_id = fields.String(required=True, validate=_id)

    @validates_schema
    def _one_tag(self, data, **kwargs):
        if data.get("tag_id") is None and data.get("tag_ids") is None:
            raise ValidationError("Missing data for required field.", "tag_id")


class TargetTagSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class TargetTagListSchema(BaseSchema):
    data = fields.List(fields.Nested(TargetTagSchema))
    total = fields.Integer()
