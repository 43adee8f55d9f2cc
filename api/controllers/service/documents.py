"""Knowledge API (dataset keys): documents (reference §7.3)."""

import json

from flask import request
from flask_restful import Resource
from marshmallow import ValidationError

from api.controllers import knowledge_views as views
from api.controllers.auth import dataset_key_required
from api.controllers.common import json_body, query_args
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.document import (
    DocumentCreateByTextSchema,
    DocumentCreatedSchema,
    DocumentDetailArgsSchema,
    DocumentDetailSchema,
    DocumentFileDataSchema,
    DocumentFileFormSchema,
    DocumentFileUpdateFormSchema,
    DocumentIdsSchema,
    DocumentListArgsSchema,
    DocumentPageSchema,
    DocumentStatusListSchema,
    DocumentUpdateByTextSchema,
    DocumentZipSchema,
    DownloadUrlSchema,
)
from api.services import document_ingest_service, document_service
from api.services.document_ingest_service import FileUpload
from api.services.errors import NoFileUploadedError, TooManyFilesError

_create_text, _update_text, _file_data = DocumentCreateByTextSchema(), DocumentUpdateByTextSchema(), \
    DocumentFileDataSchema()
_list_args, _detail_args, _ids = DocumentListArgsSchema(), DocumentDetailArgsSchema(), DocumentIdsSchema()
_zip = DocumentZipSchema()
AUTH, MULTIPART = "dataset_key", "multipart/form-data"


def _upload(*, required: bool) -> FileUpload | None:
    if "file" not in request.files:
        if required:
            raise NoFileUploadedError()
        return None
    if len(request.files.getlist("file")) > 1 or len(request.files) > 1:
        raise TooManyFilesError()
    upload = request.files["file"]
    limit = get_runtime().settings.max_content_length_mb * 1024 * 1024 + 1
    return FileUpload(filename=upload.filename, data=upload.read(limit),
                      mimetype=upload.mimetype if upload.mimetype != "application/octet-stream" else None)


def _data() -> dict:
    """The multipart form field `data`: a JSON object of indexing options (optional)."""
    raw = (request.form.get("data") or "").replace("\x00", "")
    if not raw.strip():
        return _file_data.load({})
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationError({"data": ["data must be a JSON object."]})
    if not isinstance(value, dict):
        raise ValidationError({"data": ["data must be a JSON object."]})
    return _file_data.load(value)


def _created(document, batch: str) -> dict:
    return {"document": views.document(document), "batch": batch}


class CreateByTextApi(Resource):
    @doc("Add a document from text; indexing starts in the background (poll indexing-status with `batch`)",
         body=DocumentCreateByTextSchema, response=DocumentCreatedSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id):
        args = json_body(_create_text)
        document, batch = document_ingest_service.create_by_text(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id, name=args["name"],
            text=args["text"], options=views.document_options(args))
        return _created(document, batch)


class CreateByFileApi(Resource):
    @doc("Add a document from a file (multipart `file` + optional `data` JSON of indexing options)",
         body=DocumentFileFormSchema, response=DocumentCreatedSchema, auth=AUTH, errors=(400, 401, 403, 404, 413, 415),
         content_type=MULTIPART)
    @dataset_key_required
    def post(self, caller, dataset_id):
        upload = _upload(required=True)
        document, batch = document_ingest_service.create_by_file(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id, upload=upload,
            options=views.document_options(_data()))
        return _created(document, batch)


class UpdateByTextApi(Resource):
    @doc("Replace a document's text/name/process rule and re-index it", body=DocumentUpdateByTextSchema,
         response=DocumentCreatedSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id, document_id):
        args = json_body(_update_text)
        document, batch = document_ingest_service.update_document(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, options=views.document_options(args), name=args["name"], text=args["text"])
        return _created(document, batch)


class UpdateByFileApi(Resource):
    @doc("Replace a document's file (optional) and options, and re-index it (multipart `file` + `data`)",
         body=DocumentFileUpdateFormSchema, response=DocumentCreatedSchema, auth=AUTH,
         errors=(400, 401, 403, 404, 413, 415), content_type=MULTIPART)
    @dataset_key_required
    def post(self, caller, dataset_id, document_id):
        upload, data = _upload(required=False), _data()
        document, batch = document_ingest_service.update_document(
            db.session, principal=caller.principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id, options=views.document_options(data), name=data["name"], upload=upload)
        return _created(document, batch)


class DocumentListApi(Resource):
    @doc("Documents of a dataset, newest first (keyword, status, page/limit)", query=DocumentListArgsSchema,
         response=DocumentPageSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id):
        args = query_args(_list_args)
        _, page = document_service.list_documents(db.session, principal=caller.principal, dataset_id=dataset_id,
                                                  page=args["page"], limit=args["limit"], keyword=args["keyword"],
                                                  status=args["status"])
        return {"page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more,
                "data": views.documents(page.items)}


class DocumentApi(Resource):
    @doc("One document (metadata=all|only|without)", query=DocumentDetailArgsSchema, response=DocumentDetailSchema,
         auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, document_id):
        args = query_args(_detail_args)
        dataset, document = document_service.get_document(db.session, principal=caller.principal,
                                                          dataset_id=dataset_id, document_id=document_id)
        return views.document_detail(dataset, document, args["metadata"])

    @doc("Delete a document with its segments, index entries and file", status=204, auth=AUTH,
         errors=(400, 401, 403, 404))
    @dataset_key_required
    def delete(self, caller, dataset_id, document_id):
        document_service.delete_documents(db.session, principal=caller.principal, runtime=get_runtime(),
                                          dataset_id=dataset_id, document_ids=[document_id], refuse_archived=True)
        return "", 204


class BatchIndexingStatusApi(Resource):
    @doc("Indexing progress of the documents of a batch", response=DocumentStatusListSchema, auth=AUTH,
         errors=(401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, batch):
        rows = document_service.batch_status(db.session, principal=caller.principal, dataset_id=dataset_id,
                                             batch=batch)
        return {"data": [views.status(d, c) for d, c in rows]}


class DocumentStatusActionApi(Resource):
    @doc("enable | disable | archive | un_archive documents", body=DocumentIdsSchema, response=ResultSchema,
         path={"action": document_service.ACTIONS},
         auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def patch(self, caller, dataset_id, action):
        args = json_body(_ids)
        document_service.update_status(db.session, principal=caller.principal, dataset_id=dataset_id, action=action,
                                       document_ids=args["document_ids"])
        return {"result": "success"}


class DocumentDownloadApi(Resource):
    @doc("A signed, expiring link to the document's original file", response=DownloadUrlSchema, auth=AUTH,
         errors=(401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id, document_id):
        return views.download_url(document_service.download_file(db.session, principal=caller.principal,
                                                                 dataset_id=dataset_id, document_id=document_id))


class DocumentZipApi(Resource):
    @doc("The original files of 1–100 documents as one zip archive (`application/zip`, streamed; repeated file "
         "names get ` (1)`, ` (2)`…)", body=DocumentZipSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id):
        ids = [str(i) for i in json_body(_zip)["document_ids"]]
        name, chunks = document_service.download_zip(db.session, principal=caller.principal, runtime=get_runtime(),
                                                     dataset_id=dataset_id, document_ids=ids)
        return views.zip_response(name, chunks)


def register(api: Api) -> None:
    base = "/datasets/<uuid:dataset_id>"
    doc_base = f"{base}/documents/<uuid:document_id>"
    api.add_resource(CreateByTextApi, f"{base}/document/create-by-text", f"{base}/document/create_by_text",
                     endpoint="document_create_by_text")
    api.add_resource(CreateByFileApi, f"{base}/document/create-by-file", f"{base}/document/create_by_file",
                     endpoint="document_create_by_file")
    api.add_resource(UpdateByTextApi, f"{doc_base}/update-by-text", f"{doc_base}/update_by_text",
                     endpoint="document_update_by_text")
    api.add_resource(UpdateByFileApi, f"{doc_base}/update-by-file", f"{doc_base}/update_by_file",
                     endpoint="document_update_by_file")
    api.add_resource(DocumentListApi, f"{base}/documents", endpoint="documents")
    api.add_resource(DocumentApi, doc_base, endpoint="document")
    api.add_resource(BatchIndexingStatusApi, f"{base}/documents/<string:batch>/indexing-status",
                     endpoint="batch_indexing_status")
    api.add_resource(DocumentStatusActionApi, f"{base}/documents/status/<string:action>",
                     endpoint="documents_status_action")
    api.add_resource(DocumentDownloadApi, f"{doc_base}/download", endpoint="document_download")
    api.add_resource(DocumentZipApi, f"{base}/documents/download-zip", endpoint="documents_download_zip")
