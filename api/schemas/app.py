import re

from marshmallow import ValidationError, fields, validate

from api.schemas.base import BaseSchema, PageArgsSchema, Timestamp, TrimmedStr
from api.schemas.tag import UUID_PATTERN

APP_MODES = ["chat", "agent-chat", "advanced-chat", "workflow", "completion"]
ICON_TYPES = ["image", "emoji", "link"]

_icon_type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(ICON_TYPES))
_icon = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
_icon_background = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
_limit = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1_000_000))


def _uuid_list(value: str) -> None:
    if value and not all(re.fullmatch(UUID_PATTERN, item) for item in value.split(",")):
        raise ValidationError("Must be comma-separated UUIDs.")


class AppListArgsSchema(PageArgsSchema):
    mode = fields.String(load_default="all", validate=validate.OneOf([*APP_MODES, "all", "channel"]))
    name = fields.String(load_default=None, validate=validate.Length(max=255))
    is_created_by_me = fields.Boolean(load_default=False)
    tag_ids = fields.String(load_default=None, validate=_uuid_list,
                            metadata={"description": "comma-separated tag ids: apps carrying any of them"})


class AppCreateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", allow_none=True, validate=validate.Length(max=400))
    mode = fields.String(required=True, validate=validate.OneOf(APP_MODES))
    icon_type = _icon_type
    icon = _icon
    icon_background = _icon_background


class AppUpdateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=400))
    icon_type = _icon_type
    icon = _icon
    icon_background = _icon_background
    use_icon_as_answer_icon = fields.Boolean(load_default=None, allow_none=True)
    max_active_requests = _limit
    api_rpm = _limit
    api_rph = _limit


class AppCopySchema(BaseSchema):
    name = TrimmedStr(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=400))
    icon_type = _icon_type
    icon = _icon
    icon_background = _icon_background


class AppNameSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))


class AppIconSchema(BaseSchema):
    icon = fields.String(required=True, validate=validate.Length(max=255))
    icon_background = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    icon_type = _icon_type


class AppApiEnableSchema(BaseSchema):
    enable_api = fields.Boolean(required=True)


class AppSiteEnableSchema(BaseSchema):
    enable_site = fields.Boolean(required=True)


class ModelConfigBodySchema(BaseSchema):
    """The model-config body (reference §9.3); deep validation happens in the service."""

    model = fields.Dict(required=True)


class ModelConfigSummarySchema(BaseSchema):
    model = fields.Dict(allow_none=True)
    pre_prompt = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = Timestamp(allow_none=True)
    updated_by = fields.String(allow_none=True)
    updated_at = Timestamp(allow_none=True)


class AppPartialSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    max_active_requests = fields.Integer(allow_none=True)
    description = fields.String()
    mode = fields.String()
    icon_type = fields.String(allow_none=True)
    icon = fields.String(allow_none=True)
    icon_background = fields.String(allow_none=True)
    icon_url = fields.String(allow_none=True)
    model_config = fields.Nested(ModelConfigSummarySchema, allow_none=True)
    workflow = fields.Dict(allow_none=True)
    use_icon_as_answer_icon = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_by = fields.String(allow_none=True)
    updated_at = Timestamp()
    tags = fields.List(fields.Dict(), metadata={"description": "[{id, name, type}]"})
    access_mode = fields.String(allow_none=True)
    create_user_name = fields.String(allow_none=True)
    author_name = fields.String(allow_none=True)
    has_draft_trigger = fields.Boolean()


class AppPageSchema(BaseSchema):
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    has_more = fields.Boolean()
    data = fields.List(fields.Nested(AppPartialSchema))


class SiteSchema(BaseSchema):
    access_token = fields.String()
    code = fields.String()
    title = fields.String()
    icon_type = fields.String(allow_none=True)
    icon = fields.String(allow_none=True)
    icon_background = fields.String(allow_none=True)
    icon_url = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    default_language = fields.String()
    chat_color_theme = fields.String(allow_none=True)
    chat_color_theme_inverted = fields.Boolean()
    customize_domain = fields.String(allow_none=True)
    copyright = fields.String(allow_none=True)
    privacy_policy = fields.String(allow_none=True)
    custom_disclaimer = fields.String(allow_none=True)
    customize_token_strategy = fields.String()
    prompt_public = fields.Boolean()
    app_base_url = fields.String(allow_none=True)
    show_workflow_steps = fields.Boolean()
    use_icon_as_answer_icon = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_by = fields.String(allow_none=True)
    updated_at = Timestamp()


class AppDetailSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String()
    mode = fields.String()
    icon = fields.String(allow_none=True)
    icon_background = fields.String(allow_none=True)
    enable_site = fields.Boolean()
    enable_api = fields.Boolean()
    model_config = fields.Dict(allow_none=True)
    workflow = fields.Dict(allow_none=True)
    tracing = fields.Raw(allow_none=True)
    use_icon_as_answer_icon = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_by = fields.String(allow_none=True)
    updated_at = Timestamp()
    access_mode = fields.String(allow_none=True)
    tags = fields.List(fields.Dict())


class AppDetailWithSiteSchema(AppDetailSchema):
    icon_type = fields.String(allow_none=True)
    icon_url = fields.String(allow_none=True)
    api_base_url = fields.String()
    max_active_requests = fields.Integer(allow_none=True)
    api_rpm = fields.Integer()
    api_rph = fields.Integer()
    deleted_tools = fields.List(fields.Dict())
    site = fields.Nested(SiteSchema, allow_none=True)


class ApiKeySchema(BaseSchema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    token = fields.String(required=True)
    last_used_at = Timestamp(allow_none=True)
    created_at = Timestamp()


class ApiKeyListSchema(BaseSchema):
    data = fields.List(fields.Nested(ApiKeySchema))


class ApiBaseInfoSchema(BaseSchema):
    api_base_url = fields.String()
