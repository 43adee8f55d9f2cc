from marshmallow import fields, validate

from api.schemas.base import BaseSchema, Timestamp, UploadedFile

_user = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
# Where the app-key decorator requires `user` (it answers "Arg user must be provided." first; this documents it).
_required_user = fields.String(required=True, validate=validate.Length(min=1, max=255))
_mode = fields.String(load_default="blocking", allow_none=True, validate=validate.OneOf(["blocking", "streaming"]))


class ChatMessageCreateSchema(BaseSchema):
    query = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    inputs = fields.Dict(required=True)
    user = _required_user
    response_mode = _mode
    conversation_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    files = fields.List(fields.Dict(), load_default=None, allow_none=True, validate=validate.Length(max=20))
    auto_generate_name = fields.Boolean(load_default=True)


class CompletionMessageCreateSchema(BaseSchema):
    inputs = fields.Dict(required=True)
    query = fields.String(load_default="", allow_none=True, validate=validate.Length(max=100_000))
    user = _required_user
    response_mode = _mode
    files = fields.List(fields.Dict(), load_default=None, allow_none=True, validate=validate.Length(max=20))


class DebugChatMessageCreateSchema(ChatMessageCreateSchema):
    model_config = fields.Dict(required=True)
    user = _user  # the console debugger runs as the signed-in account


class DebugCompletionMessageCreateSchema(CompletionMessageCreateSchema):
    model_config = fields.Dict(required=True)
    user = _user


class UsageSchema(BaseSchema):
    prompt_tokens = fields.Integer()
    prompt_unit_price = fields.String()
    prompt_price_unit = fields.String()
    prompt_price = fields.String()
    completion_tokens = fields.Integer()
    completion_unit_price = fields.String()
    completion_price_unit = fields.String()
    completion_price = fields.String()
    total_tokens = fields.Integer()
    total_price = fields.String()
    currency = fields.String()
    latency = fields.Float()
    time_to_first_token = fields.Float(allow_none=True)
    time_to_generate = fields.Float(allow_none=True)


class ModelRefSchema(BaseSchema):
    provider = fields.String()
    name = fields.String()


class MessageMetadataSchema(BaseSchema):
    annotation_reply = fields.Dict(allow_none=True)
    retriever_resources = fields.List(fields.Dict())
    usage = fields.Nested(UsageSchema)
    model = fields.Nested(ModelRefSchema)


class ChatMessageResultSchema(BaseSchema):
    event = fields.String()
    task_id = fields.String()
    id = fields.String()
    message_id = fields.String()
    conversation_id = fields.String()
    mode = fields.String()
    answer = fields.String()
    metadata = fields.Nested(MessageMetadataSchema)
    created_at = fields.Integer()


class StopSchema(BaseSchema):
    user = _required_user


class ConversationListArgsSchema(BaseSchema):
    user = _user
    last_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    sort_by = fields.String(load_default="-updated_at",
                            validate=validate.OneOf(["created_at", "-created_at", "updated_at", "-updated_at"]))
    pinned = fields.Raw(load_default=None, allow_none=True)


class ConversationSchema(BaseSchema):
    id = fields.String()
    name = fields.String()
    inputs = fields.Dict()
    status = fields.String()
    introduction = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class ConversationPageSchema(BaseSchema):
    limit = fields.Integer()
    has_more = fields.Boolean()
    data = fields.List(fields.Nested(ConversationSchema))


class ConversationDeleteSchema(BaseSchema):
    user = _user


class ConversationRenameSchema(BaseSchema):
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    auto_generate = fields.Boolean(load_default=False)
    user = _user


class MessageListArgsSchema(BaseSchema):
    conversation_id = fields.String(required=True, validate=validate.Length(max=64))
    user = _user
    first_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class MessageFileSchema(BaseSchema):
    id = fields.String()
    filename = fields.String(allow_none=True)
    type = fields.String()
    url = fields.String(allow_none=True)
    mime_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    transfer_method = fields.String()
    belongs_to = fields.String(allow_none=True)
    upload_file_id = fields.String(allow_none=True)


class MessageSchema(BaseSchema):
    id = fields.String()
    conversation_id = fields.String()
    parent_message_id = fields.String(allow_none=True)
    inputs = fields.Dict()
    query = fields.String()
    answer = fields.String()
    feedback = fields.Dict(allow_none=True)
    retriever_resources = fields.List(fields.Dict())
    created_at = Timestamp()
    agent_thoughts = fields.List(fields.Dict())
    message_files = fields.List(fields.Nested(MessageFileSchema))
    status = fields.String()
    error = fields.String(allow_none=True)
    extra_contents = fields.List(fields.Dict())


class MessagePageSchema(BaseSchema):
    limit = fields.Integer()
    has_more = fields.Boolean()
    data = fields.List(fields.Nested(MessageSchema))


class FeedbackSchema(BaseSchema):
    rating = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["like", "dislike"]))
    content = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10_000))
    user = _required_user


class SuggestedArgsSchema(BaseSchema):
    user = _required_user


class SuggestedSchema(BaseSchema):
    result = fields.String()
    data = fields.List(fields.String())


class FileUploadFormSchema(BaseSchema):
    file = UploadedFile(required=True)
    user = _user


class FileUploadResultSchema(BaseSchema):
    id = fields.String()
    name = fields.String()
    size = fields.Integer()
    extension = fields.String()
    mime_type = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()
    preview_url = fields.String(allow_none=True)
    source_url = fields.String(allow_none=True)
    original_url = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    tenant_id = fields.String()
    conversation_id = fields.String(allow_none=True)
    file_key = fields.String(allow_none=True)


class FilePreviewArgsSchema(BaseSchema):
    timestamp = fields.String(required=True, validate=validate.Length(max=20))
    nonce = fields.String(required=True, validate=validate.Length(max=64))
    sign = fields.String(required=True, validate=validate.Length(max=128))
    as_attachment = fields.Boolean(load_default=False)


