from flask import request
from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import console_login
from api.controllers.common import json_body, query_args
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.libs.clock import to_timestamp
from api.schemas.base import ResultSchema
from api.schemas.document import (
    DocumentDetailArgsSchema,
    DocumentDetailSchema,
    DocumentIdsSchema,
    DocumentListArgsSchema,
    DocumentPageSchema,
    DocumentsCreatedSchema,
    DocumentStatusListSchema,
    DocumentStatusSchema,
    DownloadUrlSchema,
    KnowledgeConfigSchema,
)
from api.services import document_ingest_service, document_service

_list_args, _detail_args, _config, _ids = DocumentListArgsSchema(), DocumentDetailArgsSchema(), \
    KnowledgeConfigSchema(), DocumentIdsSchema()


def query_ids(name: str) -> list[str]:
    return [v.replace("\x00", "") for v in request.args.getlist(name)]


class DocumentListApi(Resource):
    @doc("Documents of a dataset (keyword, display status, page/limit)", query=DocumentListArgsSchema,
         response=DocumentPageSchema, errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id):
        args = query_args(_list_args)
        _, page = document_service.list_documents(db.session, principal=principal, dataset_id=dataset_id,
                                                  page=args["page"], limit=args["limit"], keyword=args["keyword"],
                                                  status=args["status"])
        return {"page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more,
                "data": views.documents(page.items)}

    @doc("Add documents from uploaded files (Dify's KnowledgeConfig; dataset editors)", body=KnowledgeConfigSchema,
         response=DocumentsCreatedSchema, errors=(400, 401, 403, 404, 415))
    @console_login
    def post(self, principal, dataset_id):
        args = json_body(_config)
        file_ids = args["data_source"]["info_list"]["file_info_list"]["file_ids"]
        dataset, documents, batch = document_ingest_service.create_from_files(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, file_ids=file_ids,
            options=views.document_options(args))
        summary = {k: getattr(dataset, k) for k in ("id", "name", "description", "permission", "data_source_type",
                                                    "indexing_technique", "created_by")}
        return {"dataset": {**summary, "created_at": to_timestamp(dataset.created_at)},
                "documents": views.documents(documents), "batch": batch}

    @doc("Delete documents `?document_id=...&document_id=...` (dataset editors)", status=204,
         errors=(400, 401, 403, 404))
    @console_login
    def delete(self, principal, dataset_id):
        document_service.delete_documents(db.session, principal=principal, runtime=get_runtime(),
                                          dataset_id=dataset_id, document_ids=query_ids("document_id"))
        return "", 204


class DocumentApi(Resource):
    @doc("One document (metadata=all|only|without)", query=DocumentDetailArgsSchema, response=DocumentDetailSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id):
        args = query_args(_detail_args)
        dataset, document = document_service.get_document(db.session, principal=principal, dataset_id=dataset_id,
                                                          document_id=document_id)
        return views.document_detail(dataset, document, args["metadata"])

    @doc("Delete a document with its segments, index entries and file (dataset editors)", status=204,
         errors=(400, 401, 403, 404))
    @console_login
    def delete(self, principal, dataset_id, document_id):
        document_service.delete_documents(db.session, principal=principal, runtime=get_runtime(),
                                          dataset_id=dataset_id, document_ids=[document_id])
        return "", 204


class DocumentIndexingStatusApi(Resource):
    @doc("Indexing progress of one document", response=DocumentStatusSchema, errors=(401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id):
        document, counts = document_service.document_status(db.session, principal=principal, dataset_id=dataset_id,
                                                             document_id=document_id)
        return views.status(document, counts)


class BatchIndexingStatusApi(Resource):
    @doc("Indexing progress of every document of a batch", response=DocumentStatusListSchema,
         errors=(401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, batch):
        rows = document_service.batch_status(db.session, principal=principal, dataset_id=dataset_id, batch=batch)
        return {"data": [views.status(d, c) for d, c in rows]}


class DocumentBatchActionApi(Resource):
    @doc("enable | disable | archive | un_archive documents `?document_id=...` (dataset editors)",
         path={"action": document_service.ACTIONS},
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, action):
        document_service.update_status(db.session, principal=principal, dataset_id=dataset_id, action=action,
                                       document_ids=query_ids("document_id"))
        return {"result": "success"}


class DocumentRetryApi(Resource):
    @doc("Re-queue documents that failed to index (dataset editors)", body=DocumentIdsSchema, response=ResultSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id):
        args = json_body(_ids)
        document_service.retry_documents(db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id,
                                         document_ids=args["document_ids"])
        return {"result": "success"}


class DocumentDownloadApi(Resource):
    @doc("A signed, expiring link to the document's original file", response=DownloadUrlSchema,
         errors=(401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id):
        return views.download_url(document_service.download_file(db.session, principal=principal,
                                                                 dataset_id=dataset_id, document_id=document_id))


PREFIX = "/datasets/<uuid:dataset_id>"
api.add_resource(DocumentListApi, f"{PREFIX}/documents", endpoint="documents")
api.add_resource(DocumentApi, f"{PREFIX}/documents/<uuid:document_id>", endpoint="document")
api.add_resource(DocumentIndexingStatusApi, f"{PREFIX}/documents/<uuid:document_id>/indexing-status",
                 endpoint="document_indexing_status")
api.add_resource(BatchIndexingStatusApi, f"{PREFIX}/batch/<string:batch>/indexing-status",
                 endpoint="batch_indexing_status")
api.add_resource(DocumentBatchActionApi, f"{PREFIX}/documents/status/<string:action>/batch",
                 endpoint="documents_status_action")
api.add_resource(DocumentRetryApi, f"{PREFIX}/retry", endpoint="documents_retry")
api.add_resource(DocumentDownloadApi, f"{PREFIX}/documents/<uuid:document_id>/download",
                 endpoint="document_download")
