"""Datasets (knowledge bases) and retrieval: request and response payloads (reference §4.11, §7.2, §7.5)."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema, PageArgsSchema, Timestamp, TrimmedStr
from api.schemas.tag import uuid_string

INDEXING_TECHNIQUES = ["high_quality", "economy"]
PERMISSIONS = ["only_me", "all_team_members", "partial_members"]

_name = validate.Length(max=255)


class DatasetListArgsSchema(PageArgsSchema):
    keyword = fields.String(load_default=None, validate=validate.Length(max=255))
    include_all = fields.Boolean(load_default=False)
    tag_ids = fields.List(fields.String(validate=uuid_string), load_default=None,
                          metadata={"description": "repeatable: datasets carrying any of these tags"})


class PartialMemberSchema(BaseSchema):
    user_id = fields.String(required=True, validate=uuid_string)


class DatasetCreateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=40))
    description = fields.String(load_default="", allow_none=True, validate=validate.Length(max=400))
    indexing_technique = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(INDEXING_TECHNIQUES))
    permission = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PERMISSIONS))
    provider = fields.String(load_default="vendor", validate=validate.OneOf(["vendor", "external"]))
    external_knowledge_api_id = fields.String(load_default=None, allow_none=True, validate=_name)
    external_knowledge_id = fields.String(load_default=None, allow_none=True, validate=_name)
    retrieval_model = fields.Dict(load_default=None, allow_none=True)
    embedding_model = fields.String(load_default=None, allow_none=True, validate=_name)
    embedding_model_provider = fields.String(load_default=None, allow_none=True, validate=_name)
    partial_member_list = fields.List(fields.Nested(PartialMemberSchema), load_default=None, allow_none=True,
                                      validate=validate.Length(max=1000))


class DatasetUpdateSchema(BaseSchema):
    name = TrimmedStr(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=400))
    indexing_technique = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(INDEXING_TECHNIQUES))
    permission = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PERMISSIONS))
    embedding_model = fields.String(load_default=None, allow_none=True, validate=_name)
    embedding_model_provider = fields.String(load_default=None, allow_none=True, validate=_name)
    retrieval_model = fields.Dict(load_default=None, allow_none=True)
    partial_member_list = fields.List(fields.Nested(PartialMemberSchema), load_default=None, allow_none=True,
                                      validate=validate.Length(max=1000))


class RetrievalModelSchema(BaseSchema):
    search_method = fields.String()
    reranking_enable = fields.Boolean()
    reranking_mode = fields.String(allow_none=True)
    reranking_model = fields.Dict(allow_none=True)
    weights = fields.Dict(allow_none=True)
    top_k = fields.Integer()
    score_threshold_enabled = fields.Boolean()
    score_threshold = fields.Float(allow_none=True)


class DatasetDetailSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    provider = fields.String()
    permission = fields.String()
    data_source_type = fields.String(allow_none=True)
    indexing_technique = fields.String(allow_none=True)
    app_count = fields.Integer()
    document_count = fields.Integer()
    word_count = fields.Integer()
    created_by = fields.String(allow_none=True)
    author_name = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_by = fields.String(allow_none=True)
    updated_at = Timestamp()
    embedding_model = fields.String(allow_none=True)
    embedding_model_provider = fields.String(allow_none=True)
    embedding_available = fields.Boolean()
    retrieval_model_dict = fields.Nested(RetrievalModelSchema)
    summary_index_setting = fields.Dict(allow_none=True)
    tags = fields.List(fields.Dict(), metadata={"description": "[{id, name, type}]"})
    doc_form = fields.String(allow_none=True)
    external_knowledge_info = fields.Dict(allow_none=True)
    external_retrieval_model = fields.Dict(allow_none=True)
    doc_metadata = fields.List(fields.Dict())
    built_in_field_enabled = fields.Boolean()
    pipeline_id = fields.String(allow_none=True)
    runtime_mode = fields.String(allow_none=True)
    chunk_structure = fields.String(allow_none=True)
    icon_info = fields.Dict(allow_none=True)
    is_published = fields.Boolean()
    total_documents = fields.Integer()
    total_available_documents = fields.Integer()
    enable_api = fields.Boolean()
    is_multimodal = fields.Boolean()
    partial_member_list = fields.List(fields.String())


class DatasetPageSchema(BaseSchema):
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    has_more = fields.Boolean()
    data = fields.List(fields.Nested(DatasetDetailSchema))


class HitTestingSchema(BaseSchema):
    # an empty or blank query is refused by retrieval_service ("Query is required"); the pattern documents it
    query = fields.String(required=True, validate=validate.Length(max=250), metadata={"pattern": r"\S"})
    retrieval_model = fields.Dict(load_default=None, allow_none=True)
    external_retrieval_model = fields.Dict(load_default=None, allow_none=True)
    attachment_ids = fields.List(fields.String(validate=_name), load_default=None, allow_none=True)


class RetrievalRecordSchema(BaseSchema):
    segment = fields.Dict()
    child_chunks = fields.List(fields.Dict(), allow_none=True)
    score = fields.Float()
    tsne_position = fields.Dict(allow_none=True)
    files = fields.List(fields.Dict())
    summary = fields.String(allow_none=True)


class HitTestingResultSchema(BaseSchema):
    query = fields.Dict()
    records = fields.List(fields.Nested(RetrievalRecordSchema))
