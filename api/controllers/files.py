"""Signed file previews: `/files/<id>/file-preview?timestamp&nonce&sign` (no other auth)."""

from flask import Blueprint, Response
from flask_restful import Resource

from api.controllers.common import query_args
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.chat import FilePreviewArgsSchema
from api.services import file_service

bp = Blueprint("files", __name__, url_prefix="/files")
api = Api(bp)
_args = FilePreviewArgsSchema()


class FilePreviewApi(Resource):
    @doc("Download a file through a signed, expiring link", query=FilePreviewArgsSchema, auth="none",
         errors=(400, 404), content_type="application/octet-stream")
    def get(self, file_id):
        args = query_args(_args)
        runtime = get_runtime()
        row = file_service.get_signed_file(db.session, settings=runtime.settings, file_id=file_id,
                                           timestamp=args["timestamp"], nonce=args["nonce"], sign=args["sign"])
        disposition = "attachment" if args["as_attachment"] else "inline"
        return Response(runtime.storage.load(row.key), mimetype=row.mime_type or "application/octet-stream",
                        headers={"Content-Disposition": f'{disposition}; filename="{row.name}"',
                                 "X-Content-Type-Options": "nosniff"})


api.add_resource(FilePreviewApi, "/<uuid:file_id>/file-preview", endpoint="file_preview")
