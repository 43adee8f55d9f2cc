"""Console: pause and resume a document's indexing, rename a document, download documents as a zip (§4.11)."""

from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import console_login
from api.controllers.common import json_body
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.document import DocumentRenameSchema, DocumentSchema, DocumentZipSchema
from api.services import document_service

_rename, _zip = DocumentRenameSchema(), DocumentZipSchema()


class DocumentPauseApi(Resource):
    @doc("Pause a document that is waiting or being indexed; the worker stops at its next step (dataset editors)",
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id):
        document_service.pause_document(db.session, principal=principal, dataset_id=dataset_id,
                                        document_id=document_id)
        return {"result": "success"}


class DocumentResumeApi(Resource):
    @doc("Resume a paused document: it is queued again and indexed to completion (dataset editors)",
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, dataset_id, document_id):
        document_service.resume_document(db.session, principal=principal, runtime=get_runtime(),
                                         dataset_id=dataset_id, document_id=document_id)
        return {"result": "success"}


class DocumentRenameApi(Resource):
    @doc("Rename a document (dataset editors)", body=DocumentRenameSchema, response=DocumentSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id, document_id):
        document = document_service.rename_document(db.session, principal=principal, dataset_id=dataset_id,
                                                    document_id=document_id, name=json_body(_rename)["name"])
        return views.document(document)


class DocumentZipApi(Resource):
    @doc("The original files of 1–100 documents as one zip archive (`application/zip`, streamed; repeated file "
         "names get ` (1)`, ` (2)`…)", body=DocumentZipSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id):
        ids = [str(i) for i in json_body(_zip)["document_ids"]]
        name, chunks = document_service.download_zip(db.session, principal=principal, runtime=get_runtime(),
                                                     dataset_id=dataset_id, document_ids=ids)
        return views.zip_response(name, chunks)


PREFIX = "/datasets/<uuid:dataset_id>"
DOCUMENT = f"{PREFIX}/documents/<uuid:document_id>"
api.add_resource(DocumentPauseApi, f"{DOCUMENT}/processing/pause", endpoint="document_pause")
api.add_resource(DocumentResumeApi, f"{DOCUMENT}/processing/resume", endpoint="document_resume")
api.add_resource(DocumentRenameApi, f"{DOCUMENT}/rename", endpoint="document_rename")
api.add_resource(DocumentZipApi, f"{PREFIX}/documents/download-zip", endpoint="documents_download_zip")
