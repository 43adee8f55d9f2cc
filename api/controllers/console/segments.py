from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import console_login
from api.controllers.common import TOGGLE_ACTIONS, json_body, query_args
from api.controllers.console import api
from api.controllers.console.documents import query_ids
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.document import (
    ChildChunkBatchUpdateSchema,
    ChildChunkContentSchema,
    ChildChunkListArgsSchema,
    ChildChunkPageSchema,
    ChildChunkResultSchema,
    ChildChunksResultSchema,
    SegmentCreateSchema,
    SegmentListArgsSchema,
    SegmentPageSchema,
    SegmentResultSchema,
    SegmentUpdateSchema,
)
from api.services import child_chunk_service, segment_service
from api.services.errors import InvalidActionError

_list_args, _create, _update, _child_args = SegmentListArgsSchema(), SegmentCreateSchema(), SegmentUpdateSchema(), \
    ChildChunkListArgsSchema()
_child_content, _child_batch = ChildChunkContentSchema(), ChildChunkBatchUpdateSchema()


class SegmentListApi(Resource):
    @doc("Segments of a document (keyword, status, enabled, page/limit)", query=SegmentListArgsSchema,
         response=SegmentPageSchema, errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id):
        args = query_args(_list_args)
        document, page = segment_service.list_segments(
            db.session, principal=principal, dataset_id=dataset_id, document_id=document_id, page=args["page"],
            limit=args["limit"], keyword=args["keyword"], status=args["status"], enabled=args["enabled"])
        return views.segment_page(document, page)

    @doc("Delete segments `?segment_id=...` and re-store the document's index (dataset editors)", status=204,
         errors=(401, 403, 404))
    @console_login
    def delete(self, principal, dataset_id, document_id):
        segment_service.delete_segments(db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id,
                                        document_id=document_id, segment_ids=query_ids("segment_id"))
        return "", 204


class SegmentCreateApi(Resource):
    @doc("Add a segment to a completed document and index it (dataset editors)", body=SegmentCreateSchema,
         response=SegmentResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id, document_id):
        document, created = segment_service.create_segments(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, document_id=document_id,
            items=[json_body(_create)])
        return {"data": views.segment(created[0]), "doc_form": document.doc_form}


class SegmentActionApi(Resource):
    @doc("enable | disable segments `?segment_id=...` (dataset editors)", response=ResultSchema,
         path={"action": TOGGLE_ACTIONS},
         errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id, action):
        if action not in TOGGLE_ACTIONS:
            raise InvalidActionError(f"Invalid action: {action}. Use enable or disable.")
        segment_service.set_enabled(db.session, principal=principal, dataset_id=dataset_id, document_id=document_id,
                                    segment_ids=query_ids("segment_id"), enabled=action == "enable")
        return {"result": "success"}


class SegmentApi(Resource):
    @doc("Edit a segment; changed text is re-indexed (dataset editors)", body=SegmentUpdateSchema,
         response=SegmentResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id, segment_id):
        document, segment = segment_service.update_segment(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, document_id=document_id,
            segment_id=segment_id, changes=json_body(_update))
        return {"data": views.segment(segment), "doc_form": document.doc_form}

    @doc("Delete a segment and re-store the document's index (dataset editors)", status=204,
         errors=(401, 403, 404))
    @console_login
    def delete(self, principal, dataset_id, document_id, segment_id):
        segment_service.delete_segments(db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id,
                                        document_id=document_id, segment_ids=[segment_id])
        return "", 204


class ChildChunkListApi(Resource):
    @doc("Child chunks of a parent segment (parent-child documents)", query=ChildChunkListArgsSchema,
         response=ChildChunkPageSchema, errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id, segment_id):
        args = query_args(_child_args)
        page = segment_service.list_child_chunks(db.session, principal=principal, dataset_id=dataset_id,
                                                 document_id=document_id, segment_id=segment_id, page=args["page"],
                                                 limit=args["limit"], keyword=args["keyword"])
        return views.child_chunk_page(page)

    @doc("Add a child chunk to a parent segment and index it (parent-child documents; dataset editors)",
         body=ChildChunkContentSchema, response=ChildChunkResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id, document_id, segment_id):
        child = child_chunk_service.create_child_chunk(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, document_id=document_id,
            segment_id=segment_id, content=json_body(_child_content)["content"])
        return {"data": views.child_chunk(child)}

    @doc("Set a segment's child chunks: items with an `id` edit that child, items without add one, children not "
         "named are deleted; changes are re-indexed (dataset editors)", body=ChildChunkBatchUpdateSchema,
         response=ChildChunksResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id, segment_id):
        children = child_chunk_service.update_child_chunks(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, document_id=document_id,
            segment_id=segment_id, chunks=json_body(_child_batch)["chunks"])
        return {"data": [views.child_chunk(c) for c in children]}


class ChildChunkApi(Resource):
    @doc("Edit a child chunk's text and re-index it (dataset editors)", body=ChildChunkContentSchema,
         response=ChildChunkResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id, segment_id, child_chunk_id):
        child = child_chunk_service.update_child_chunk(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, document_id=document_id,
            segment_id=segment_id, child_chunk_id=child_chunk_id, content=json_body(_child_content)["content"])
        return {"data": views.child_chunk(child)}

    @doc("Delete a child chunk and its index entries (dataset editors)", status=204, errors=(400, 401, 403, 404))
    @console_login
    def delete(self, principal, dataset_id, document_id, segment_id, child_chunk_id):
        child_chunk_service.delete_child_chunk(db.session, principal=principal, runtime=get_runtime(),
                                               dataset_id=dataset_id, document_id=document_id,
                                               segment_id=segment_id, child_chunk_id=child_chunk_id)
        return "", 204


PREFIX = "/datasets/<uuid:dataset_id>/documents/<uuid:document_id>"
api.add_resource(SegmentListApi, f"{PREFIX}/segments", endpoint="segments")
api.add_resource(SegmentCreateApi, f"{PREFIX}/segment", endpoint="segment_create")
api.add_resource(SegmentActionApi, f"{PREFIX}/segment/<string:action>", endpoint="segment_action")
api.add_resource(SegmentApi, f"{PREFIX}/segments/<uuid:segment_id>", endpoint="segment")
api.add_resource(ChildChunkListApi, f"{PREFIX}/segments/<uuid:segment_id>/child_chunks", endpoint="child_chunks")
api.add_resource(ChildChunkApi, f"{PREFIX}/segments/<uuid:segment_id>/child_chunks/<uuid:child_chunk_id>",
                 endpoint="child_chunk")
