from marshmallow import fields

from api.schemas.base import BaseSchema, Timestamp


class ServiceIndexSchema(BaseSchema):
    welcome = fields.String()
    api_version = fields.String()
    server_version = fields.String()


class ParametersSchema(BaseSchema):
    opening_statement = fields.String(allow_none=True)
    suggested_questions = fields.List(fields.String())
    suggested_questions_after_answer = fields.Dict()
    speech_to_text = fields.Dict()
    text_to_speech = fields.Dict()
    retriever_resource = fields.Dict()
    annotation_reply = fields.Dict()
    more_like_this = fields.Dict()
    user_input_form = fields.List(fields.Dict())
    sensitive_word_avoidance = fields.Dict()
    file_upload = fields.Dict()
    system_parameters = fields.Dict()


class MetaSchema(BaseSchema):
    tool_icons = fields.Dict()


class InfoSchema(BaseSchema):
    name = fields.String()
    description = fields.String()
    tags = fields.List(fields.String())
    mode = fields.String()
    author_name = fields.String()


class SiteInfoSchema(BaseSchema):
    title = fields.String()
    chat_color_theme = fields.String(allow_none=True)
    chat_color_theme_inverted = fields.Boolean()
    icon_type = fields.String(allow_none=True)
    icon = fields.String(allow_none=True)
    icon_background = fields.String(allow_none=True)
    icon_url = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    copyright = fields.String(allow_none=True)
    privacy_policy = fields.String(allow_none=True)
    custom_disclaimer = fields.String(allow_none=True)
    default_language = fields.String()
    show_workflow_steps = fields.Boolean()
    use_icon_as_answer_icon = fields.Boolean()


class EndUserSchema(BaseSchema):
    id = fields.String()
    tenant_id = fields.String()
    app_id = fields.String(allow_none=True)
    type = fields.String()
    external_user_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    is_anonymous = fields.Boolean()
    session_id = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()
