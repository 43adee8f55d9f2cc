from flask import request
from flask_restful import Resource

from api.controllers.auth import app_key_required
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.chat import FileUploadFormSchema, FileUploadResultSchema
from api.services import file_service
from api.services.errors import NoFileUploadedError, TooManyFilesError

_result = FileUploadResultSchema()


def upload_result(row, base_url: str) -> dict:
    settings = get_runtime().settings
    return _result.dump({
        "id": row.id, "name": row.name, "size": row.size, "extension": row.extension, "mime_type": row.mime_type,
        "created_by": row.created_by, "created_at": row.created_at, "preview_url": None,
        "source_url": file_service.preview_url(settings, base_url, row.id), "original_url": None, "user_id": None,
        "tenant_id": row.tenant_id, "conversation_id": None, "file_key": None})


class FileUploadApi(Resource):
    @doc("Upload one file (multipart field `file`, optional `user`)", body=FileUploadFormSchema,
         response=FileUploadResultSchema, status=201,
         auth="app_key", errors=(400, 401, 403, 413, 415), content_type="multipart/form-data")
    @app_key_required(user_from="form")
    def post(self, caller):
        if "file" not in request.files:
            raise NoFileUploadedError()
        if len(request.files.getlist("file")) > 1 or len(request.files) > 1:
            raise TooManyFilesError()
        upload = request.files["file"]
        runtime = get_runtime()
        row = file_service.upload_file(
            db.session, storage=runtime.storage, settings=runtime.settings, tenant_id=caller.app.tenant_id,
            created_by=caller.end_user.id, created_by_role="end_user", filename=upload.filename,
            mimetype=upload.mimetype if upload.mimetype != "application/octet-stream" else None,
            data=upload.read(runtime.settings.max_content_length_mb * 1024 * 1024 + 1))
        return upload_result(row, request.host_url.rstrip("/")), 201


def register(api: Api) -> None:
    api.add_resource(FileUploadApi, "/files/upload", endpoint="files_upload")
