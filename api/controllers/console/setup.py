from flask_restful import Resource

from api.controllers.common import json_body
from api.controllers.console import api
from api.extensions.database import db
from api.libs.apidoc import doc
from api.schemas.auth import SetupCreateSchema, SetupStatusSchema
from api.schemas.base import ResultSchema
from api.services import auth_service

_create = SetupCreateSchema()


class SetupApi(Resource):
    @doc("Installation status", response=SetupStatusSchema, auth="none")
    def get(self):
        marker = auth_service.get_setup(db.session)
        if marker is None:
            return {"step": "not_started"}
        return {"step": "finished", "setup_at": marker.setup_at.isoformat()}

    @doc("Create the first account and workspace", body=SetupCreateSchema, response=ResultSchema, status=201,
         auth="none", errors=(400, 403))
    def post(self):
        args = json_body(_create)
        auth_service.setup(db.session, email=args["email"], name=args["name"], password=args["password"],
                           language=args["language"])
        return {"result": "success"}, 201


class PingApi(Resource):
    @doc("Liveness of the console API", response=ResultSchema, auth="none")
    def get(self):
        return {"result": "pong"}


api.add_resource(SetupApi, "/setup", endpoint="setup")
api.add_resource(PingApi, "/ping", endpoint="ping")
