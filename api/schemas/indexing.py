"""Process rule settings, retrieval settings and indexing estimates (reference §4.11)."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema
from api.schemas.dataset import INDEXING_TECHNIQUES
from api.schemas.document import DOC_FORMS, InfoListSchema

_short = validate.Length(max=255)


class ProcessRuleArgsSchema(BaseSchema):
    document_id = fields.String(load_default=None, validate=_short)


class ProcessRuleSettingSchema(BaseSchema):
    mode = fields.String()
    rules = fields.Dict()
    limits = fields.Dict(metadata={"example": {"indexing_max_segmentation_tokens_length": 4000}})


class RetrievalSettingSchema(BaseSchema):
    retrieval_method = fields.List(fields.String(), metadata={
        "example": ["semantic_search", "full_text_search", "hybrid_search"]})


class IndexingEstimateBodySchema(BaseSchema):
    info_list = fields.Nested(InfoListSchema, required=True)
    process_rule = fields.Dict(required=True)
    indexing_technique = fields.String(required=True, validate=validate.OneOf(INDEXING_TECHNIQUES))
    doc_form = fields.String(load_default="text_model", validate=validate.OneOf(DOC_FORMS))
    dataset_id = fields.String(load_default=None, allow_none=True, validate=_short)
    doc_language = fields.String(load_default="English", allow_none=True, validate=_short)


class PreviewDetailSchema(BaseSchema):
    content = fields.String()
    child_chunks = fields.List(fields.String(), allow_none=True)


class IndexingEstimateSchema(BaseSchema):
    total_segments = fields.Integer()
    preview = fields.List(fields.Nested(PreviewDetailSchema))
    qa_preview = fields.List(fields.Dict(), allow_none=True)
