from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import service_api_base
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.models.app import ApiToken
from api.models.enums import ApiTokenType
from api.schemas.app import ApiBaseInfoSchema, ApiKeyListSchema, ApiKeySchema
from api.services import api_key_service

_key = ApiKeySchema()


def _masked(row: ApiToken) -> dict:
    return _key.dump({"id": row.id, "type": row.type, "token": row.token_mask, "last_used_at": row.last_used_at,
                      "created_at": row.created_at})


def _created(created: api_key_service.CreatedKey) -> dict:
    return {**_masked(created.row), "token": created.token}


class AppApiKeyListApi(Resource):
    @doc("An app's API keys, masked", response=ApiKeyListSchema, errors=(401, 403, 404))
    @console_login
    def get(self, principal, app_id):
        rows = api_key_service.list_keys(db.session, principal=principal, key_type=ApiTokenType.APP, app_id=app_id)
        return {"data": [_masked(r) for r in rows]}

    @doc("Create an app API key; the full key is returned only here (editor+)", response=ApiKeySchema, status=201,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        created = api_key_service.create_key(db.session, principal=principal, key_type=ApiTokenType.APP, app_id=app_id)
        return _created(created), 201


class AppApiKeyApi(Resource):
    @doc("Delete an app API key; it stops working at once (owner/admin)", status=204, errors=(401, 403, 404))
    @console_login
    def delete(self, principal, app_id, key_id):
        api_key_service.delete_key(db.session, principal=principal, cache=get_runtime().cache,
                                   key_type=ApiTokenType.APP, key_id=key_id, app_id=app_id)
        return "", 204


class DatasetApiKeyListApi(Resource):
    @doc("The workspace's knowledge API keys, masked", response=ApiKeyListSchema, errors=(401, 403))
    @console_login
    def get(self, principal):
        rows = api_key_service.list_keys(db.session, principal=principal, key_type=ApiTokenType.DATASET)
        return {"data": [_masked(r) for r in rows]}

    @doc("Create a knowledge API key; the full key is returned only here (owner/admin)", response=ApiKeySchema,
         errors=(400, 401, 403))
    @console_login
    def post(self, principal):
        return _created(api_key_service.create_key(db.session, principal=principal, key_type=ApiTokenType.DATASET))


class DatasetApiKeyApi(Resource):
    @doc("Delete a knowledge API key (owner/admin)", status=204, errors=(401, 403, 404))
    @console_login
    def delete(self, principal, key_id):
        api_key_service.delete_key(db.session, principal=principal, cache=get_runtime().cache,
                                   key_type=ApiTokenType.DATASET, key_id=key_id)
        return "", 204


class DatasetApiBaseInfoApi(Resource):
    @doc("Base URL of the knowledge API", response=ApiBaseInfoSchema, errors=(401,))
    @console_login
    def get(self, principal):
        return {"api_base_url": service_api_base()}


api.add_resource(AppApiKeyListApi, "/apps/<uuid:app_id>/api-keys", endpoint="app_api_keys")
api.add_resource(AppApiKeyApi, "/apps/<uuid:app_id>/api-keys/<uuid:key_id>", endpoint="app_api_key")
api.add_resource(DatasetApiKeyListApi, "/datasets/api-keys", endpoint="dataset_api_keys")
api.add_resource(DatasetApiKeyApi, "/datasets/api-keys/<uuid:key_id>", endpoint="dataset_api_key")
api.add_resource(DatasetApiBaseInfoApi, "/datasets/api-base-info", endpoint="dataset_api_base_info")
