"""Documents, segments and child chunks: request and response payloads (reference §4.11, §7.3, §7.4)."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema, PageArgsSchema, Timestamp, TrimmedStr, UploadedFile
from api.schemas.dataset import INDEXING_TECHNIQUES

DOC_FORMS = ["text_model", "qa_model", "hierarchical_model"]
DISPLAY_STATUSES = ["queuing", "paused", "indexing", "error", "available", "disabled", "archived", "active",
                    "enabled"]
SEGMENT_STATUSES = ["waiting", "indexing", "completed", "error", "paused", "re_segment"]

_short = validate.Length(max=255)


class DocumentOptionsSchema(BaseSchema):
    """What a create/update call may say about indexing (also the `data` JSON of the file variants)."""

    indexing_technique = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(INDEXING_TECHNIQUES))
    process_rule = fields.Dict(load_default=None, allow_none=True)
    doc_form = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DOC_FORMS))
    doc_language = fields.String(load_default=None, allow_none=True, validate=_short)
    retrieval_model = fields.Dict(load_default=None, allow_none=True)
    embedding_model = fields.String(load_default=None, allow_none=True, validate=_short)
    embedding_model_provider = fields.String(load_default=None, allow_none=True, validate=_short)
    original_document_id = fields.String(load_default=None, allow_none=True, validate=_short)


class DocumentCreateByTextSchema(DocumentOptionsSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    text = fields.String(required=True, validate=validate.Length(min=1))


class DocumentUpdateByTextSchema(DocumentOptionsSchema):
    name = TrimmedStr(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))
    text = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))


class DocumentFileDataSchema(DocumentOptionsSchema):
    name = TrimmedStr(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))


class DocumentFileFormSchema(BaseSchema):
    """create-by-file's multipart form."""

    file = UploadedFile(required=True)
    data = fields.String(metadata={"description": "JSON object of indexing options (DocumentFileData)"})


class DocumentFileUpdateFormSchema(DocumentFileFormSchema):
    """update-by-file's multipart form: the file is optional."""

    file = UploadedFile()


class FileInfoListSchema(BaseSchema):
    file_ids = fields.List(fields.String(validate=_short), required=True, validate=validate.Length(min=1, max=20))


class InfoListSchema(BaseSchema):
    data_source_type = fields.String(required=True, validate=validate.OneOf(
        ["upload_file"], error="Only the upload_file data source is supported."))
    file_info_list = fields.Nested(FileInfoListSchema, required=True)


class DataSourceSchema(BaseSchema):
    info_list = fields.Nested(InfoListSchema, required=True)


class KnowledgeConfigSchema(DocumentOptionsSchema):
    data_source = fields.Nested(DataSourceSchema, required=True)
    duplicate = fields.Boolean(load_default=True)


class DocumentListArgsSchema(PageArgsSchema):
    keyword = fields.String(load_default=None, validate=_short)
    status = fields.String(load_default=None, validate=validate.OneOf(DISPLAY_STATUSES))
    fetch = fields.Boolean(load_default=False)


class DocumentDetailArgsSchema(BaseSchema):
    metadata = fields.String(load_default="all", validate=validate.OneOf(["all", "only", "without"]))


class DocumentIdsSchema(BaseSchema):
    document_ids = fields.List(fields.String(validate=_short), required=True, validate=validate.Length(min=1, max=100))


class DocumentSchema(BaseSchema):
    id = fields.String(required=True)
    position = fields.Integer()
    data_source_type = fields.String()
    data_source_info = fields.Dict(allow_none=True)
    data_source_detail_dict = fields.Dict(allow_none=True)
    dataset_process_rule_id = fields.String(allow_none=True)
    name = fields.String()
    created_from = fields.String()
    created_by = fields.String(allow_none=True)
    created_at = Timestamp()
    tokens = fields.Integer()
    indexing_status = fields.String()
    error = fields.String(allow_none=True)
    enabled = fields.Boolean()
    disabled_at = Timestamp(allow_none=True)
    disabled_by = fields.String(allow_none=True)
    archived = fields.Boolean()
    display_status = fields.String()
    word_count = fields.Integer()
    hit_count = fields.Integer()
    doc_form = fields.String()
    doc_metadata = fields.List(fields.Dict())
    summary_index_status = fields.String(allow_none=True)
    need_summary = fields.Boolean()
    completed_segments = fields.Integer()
    total_segments = fields.Integer()


class DocumentDetailSchema(DocumentSchema):
    dataset_process_rule = fields.Dict(allow_none=True)
    document_process_rule = fields.Dict(allow_none=True)
    completed_at = Timestamp(allow_none=True)
    updated_at = Timestamp(allow_none=True)
    indexing_latency = fields.Float(allow_none=True)
    segment_count = fields.Integer()
    average_segment_length = fields.Integer()
    doc_type = fields.String(allow_none=True)
    doc_language = fields.String(allow_none=True)


class DocumentPageSchema(BaseSchema):
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    has_more = fields.Boolean()
    data = fields.List(fields.Nested(DocumentSchema))


class DocumentCreatedSchema(BaseSchema):
    document = fields.Nested(DocumentSchema)
    batch = fields.String()


class DocumentsCreatedSchema(BaseSchema):
    dataset = fields.Dict()
    documents = fields.List(fields.Nested(DocumentSchema))
    batch = fields.String()


class DocumentStatusSchema(BaseSchema):
    id = fields.String()
    indexing_status = fields.String()
    processing_started_at = Timestamp(allow_none=True)
    parsing_completed_at = Timestamp(allow_none=True)
    cleaning_completed_at = Timestamp(allow_none=True)
    splitting_completed_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)
    paused_at = Timestamp(allow_none=True)
    error = fields.String(allow_none=True)
    stopped_at = Timestamp(allow_none=True)
    completed_segments = fields.Integer()
    total_segments = fields.Integer()


class DocumentStatusListSchema(BaseSchema):
    data = fields.List(fields.Nested(DocumentStatusSchema))


class DownloadUrlSchema(BaseSchema):
    url = fields.String()


# ---- segments and child chunks -------------------------------------------------------------------------------

class SegmentListArgsSchema(PageArgsSchema):
    keyword = fields.String(load_default=None, validate=_short)
    status = fields.String(load_default=None, validate=validate.OneOf(SEGMENT_STATUSES))
    enabled = fields.String(load_default="all", validate=validate.OneOf(["all", "true", "false"]))


class SegmentCreateSchema(BaseSchema):
    content = fields.String(required=True, validate=validate.Length(min=1))
    answer = fields.String(load_default=None, allow_none=True)
    keywords = fields.List(fields.String(validate=_short), load_default=None, allow_none=True,
                           validate=validate.Length(max=100))


class SegmentsCreateSchema(BaseSchema):
    segments = fields.List(fields.Nested(SegmentCreateSchema), required=True,
                           validate=validate.Length(min=1, max=100))


class SegmentUpdateSchema(BaseSchema):
    content = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))
    answer = fields.String(load_default=None, allow_none=True)
    keywords = fields.List(fields.String(validate=_short), load_default=None, allow_none=True,
                           validate=validate.Length(max=100))
    enabled = fields.Boolean(load_default=None, allow_none=True)
    regenerate_child_chunks = fields.Boolean(load_default=False)


class SegmentUpdateBodySchema(BaseSchema):
    segment = fields.Nested(SegmentUpdateSchema, required=True)


class ChildChunkSchema(BaseSchema):
    id = fields.String()
    segment_id = fields.String()
    content = fields.String()
    position = fields.Integer()
    word_count = fields.Integer()
    type = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()


class SegmentSchema(BaseSchema):
    id = fields.String(required=True)
    position = fields.Integer()
    document_id = fields.String()
    content = fields.String()
    sign_content = fields.String()
    answer = fields.String(allow_none=True)
    word_count = fields.Integer()
    tokens = fields.Integer()
    keywords = fields.List(fields.String())
    index_node_id = fields.String(allow_none=True)
    index_node_hash = fields.String(allow_none=True)
    hit_count = fields.Integer()
    enabled = fields.Boolean()
    disabled_at = Timestamp(allow_none=True)
    disabled_by = fields.String(allow_none=True)
    status = fields.String()
    created_by = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()
    updated_by = fields.String(allow_none=True)
    indexing_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)
    error = fields.String(allow_none=True)
    stopped_at = Timestamp(allow_none=True)
    child_chunks = fields.List(fields.Nested(ChildChunkSchema))
    attachments = fields.List(fields.Dict())
    summary = fields.String(allow_none=True)


class SegmentPageSchema(BaseSchema):
    data = fields.List(fields.Nested(SegmentSchema))
    doc_form = fields.String()
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    total_pages = fields.Integer()
    has_more = fields.Boolean()


class SegmentResultSchema(BaseSchema):
    data = fields.Nested(SegmentSchema)
    doc_form = fields.String()


class SegmentsResultSchema(BaseSchema):
    data = fields.List(fields.Nested(SegmentSchema))
    doc_form = fields.String()


class ChildChunkListArgsSchema(PageArgsSchema):
    keyword = fields.String(load_default=None, validate=_short)


class ChildChunkPageSchema(BaseSchema):
    data = fields.List(fields.Nested(ChildChunkSchema))
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    total_pages = fields.Integer()


class ChildChunkContentSchema(BaseSchema):
    content = fields.String(required=True, validate=validate.Length(min=1))


class ChildChunkBatchItemSchema(BaseSchema):
    id = fields.String(load_default=None, allow_none=True, validate=_short)
    content = fields.String(required=True, validate=validate.Length(min=1))


class ChildChunkBatchUpdateSchema(BaseSchema):
    chunks = fields.List(fields.Nested(ChildChunkBatchItemSchema), required=True,
                         validate=validate.Length(max=1000))


class ChildChunkResultSchema(BaseSchema):
    data = fields.Nested(ChildChunkSchema)


class ChildChunksResultSchema(BaseSchema):
    data = fields.List(fields.Nested(ChildChunkSchema))


# ---- document operations ---------------------------------------------------------------------------------------

class DocumentRenameSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))


class DocumentZipSchema(BaseSchema):
    document_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=100))
