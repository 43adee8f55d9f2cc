from flask_restful import Resource

from api.controllers.auth import app_key_required
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_settings
from api.libs.apidoc import doc
from api.schemas.service import (
    EndUserSchema,
    InfoSchema,
    MetaSchema,
    ParametersSchema,
    ServiceIndexSchema,
    SiteInfoSchema,
)
from api.services import app_info_service, service_auth_service

_end_user = EndUserSchema()


class IndexApi(Resource):
    @doc("API welcome and versions", response=ServiceIndexSchema, auth="none")
    def get(self):
        return {"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": get_settings().server_version}


class ParametersApi(Resource):
    @doc("The app's input form and features", response=ParametersSchema, auth="app_key", errors=(400, 401, 403))
    @app_key_required()
    def get(self, caller):
        return app_info_service.get_parameters(caller.app, get_settings())


class MetaApi(Resource):
    @doc("Tool icons of the app", response=MetaSchema, auth="app_key", errors=(401, 403))
    @app_key_required()
    def get(self, caller):
        return app_info_service.get_meta(caller.app)


class InfoApi(Resource):
    @doc("Name, description, mode and author of the app", response=InfoSchema, auth="app_key", errors=(401, 403))
    @app_key_required()
    def get(self, caller):
        return app_info_service.get_info(caller.app)


class SiteApi(Resource):
    @doc("The app's web-site settings", response=SiteInfoSchema, auth="app_key", errors=(401, 403))
    @app_key_required()
    def get(self, caller):
        return app_info_service.get_site(caller.app)


class EndUserApi(Resource):
    @doc("One end user of the app", response=EndUserSchema, auth="app_key", errors=(401, 403, 404))
    @app_key_required()
    def get(self, caller, end_user_id):
        end_user = service_auth_service.get_end_user(db.session, snapshot=caller.app, end_user_id=end_user_id)
        return _end_user.dump(end_user)


def register(api: Api) -> None:
    api.add_resource(IndexApi, "/", endpoint="index")
    api.add_resource(ParametersApi, "/parameters", endpoint="parameters")
    api.add_resource(MetaApi, "/meta", endpoint="meta")
    api.add_resource(InfoApi, "/info", endpoint="info")
    api.add_resource(SiteApi, "/site", endpoint="site")
    api.add_resource(EndUserApi, "/end-users/<uuid:end_user_id>", endpoint="end_user")
