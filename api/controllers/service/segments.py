"""Knowledge API (dataset keys): segments and child chunks (reference §7.4)."""

from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import dataset_key_required
from api.controllers.common import json_body, query_args
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.document import (
    ChildChunkContentSchema,
    ChildChunkListArgsSchema,
    ChildChunkPageSchema,
    ChildChunkResultSchema,
    SegmentListArgsSchema,
    SegmentPageSchema,
    SegmentResultSchema,
    SegmentsCreateSchema,
    SegmentsResultSchema,
    SegmentUpdateBodySchema,
)
from api.services import child_chunk_service, segment_service

_list_args, _create, _update, _child_args = SegmentListArgsSchema(), SegmentsCreateSchema(), \
    SegmentUpdateBodySchema(), ChildChunkListArgsSchema()
_child_content = ChildChunkContentSchema()
AUTH = "dataset_key"


class SegmentListApi(Resource):
    @doc("Segments of a document (keyword, status, page/limit)", query=SegmentListArgsSchema,
         response=SegmentPageSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, document_id):
        args = query_args(_list_args)
        document, page = segment_service.list_segments(
            db.session, principal=caller.principal, dataset_id=dataset_id, document_id=document_id,
            page=args["page"], limit=args["limit"], keyword=args["keyword"], status=args["status"],
            enabled=args["enabled"])
        return views.segment_page(document, page)

    @doc("Add segments to a completed document and index them", body=SegmentsCreateSchema,
         response=SegmentsResultSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id, document_id):
        args = json_body(_create)
        document, created = segment_service.create_segments(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, items=args["segments"])
        return {"data": views.segments(created), "doc_form": document.doc_form}


class SegmentApi(Resource):
    @doc("One segment", response=SegmentResultSchema, auth=AUTH, errors=(401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, document_id, segment_id):
        _, document, segment = segment_service.get_segment(db.session, principal=caller.principal,
                                                           dataset_id=dataset_id, document_id=document_id,
                                                           segment_id=segment_id)
        return {"data": views.segment(segment), "doc_form": document.doc_form}

    @doc("Edit a segment (content, answer, keywords, enabled); changed text is re-indexed",
         body=SegmentUpdateBodySchema, response=SegmentResultSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id, document_id, segment_id):
        args = json_body(_update)
        document, segment = segment_service.update_segment(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, segment_id=segment_id, changes=args["segment"])
        return {"data": views.segment(segment), "doc_form": document.doc_form}

    @doc("Delete a segment and re-store the document's index", status=204, auth=AUTH, errors=(401, 403, 404))
    @dataset_key_required
    def delete(self, caller, dataset_id, document_id, segment_id):
        segment_service.delete_segments(db.session, principal=caller.principal, runtime=get_runtime(),
                                        dataset_id=dataset_id, document_id=document_id, segment_ids=[segment_id])
        return "", 204


class ChildChunkListApi(Resource):
    @doc("Child chunks of a parent segment (parent-child documents)", query=ChildChunkListArgsSchema,
         response=ChildChunkPageSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, document_id, segment_id):
        args = query_args(_child_args)
        page = segment_service.list_child_chunks(db.session, principal=caller.principal, dataset_id=dataset_id,
                                                 document_id=document_id, segment_id=segment_id, page=args["page"],
                                                 limit=args["limit"], keyword=args["keyword"])
        return views.child_chunk_page(page)

    @doc("Add a child chunk to a parent segment and index it (parent-child documents)", body=ChildChunkContentSchema,
         response=ChildChunkResultSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id, document_id, segment_id):
        child = child_chunk_service.create_child_chunk(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, segment_id=segment_id, content=json_body(_child_content)["content"])
        return {"data": views.child_chunk(child)}


class ChildChunkApi(Resource):
    @doc("Edit a child chunk's text and re-index it", body=ChildChunkContentSchema, response=ChildChunkResultSchema,
         auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def patch(self, caller, dataset_id, document_id, segment_id, child_chunk_id):
        child = child_chunk_service.update_child_chunk(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, segment_id=segment_id, child_chunk_id=child_chunk_id,
            content=json_body(_child_content)["content"])
        return {"data": views.child_chunk(child)}

    @doc("Delete a child chunk and its index entries", status=204, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def delete(self, caller, dataset_id, document_id, segment_id, child_chunk_id):
        child_chunk_service.delete_child_chunk(db.session, principal=caller.principal, runtime=get_runtime(),
                                               dataset_id=dataset_id, document_id=document_id,
                                               segment_id=segment_id, child_chunk_id=child_chunk_id)
        return "", 204


def register(api: Api) -> None:
    base = "/datasets/<uuid:dataset_id>/documents/<uuid:document_id>/segments"
    api.add_resource(SegmentListApi, base, endpoint="segments")
    api.add_resource(SegmentApi, f"{base}/<uuid:segment_id>", endpoint="segment")
    api.add_resource(ChildChunkListApi, f"{base}/<uuid:segment_id>/child_chunks", endpoint="child_chunks")
    api.add_resource(ChildChunkApi, f"{base}/<uuid:segment_id>/child_chunks/<uuid:child_chunk_id>",
                     endpoint="child_chunk")
