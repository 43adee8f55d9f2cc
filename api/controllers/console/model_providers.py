from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body, query_args
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.provider import (
    CredentialsBodySchema,
    CredentialsSchema,
    DefaultModelArgsSchema,
    DefaultModelBodySchema,
    DefaultModelSchema,
    ModelCredentialsBodySchema,
    ModelRefBodySchema,
    ModelsByTypeSchema,
    ProviderListArgsSchema,
    ProviderListSchema,
    ProviderModelListSchema,
    ValidateResultSchema,
)
from api.services import provider_catalog_service, provider_service

_list_args, _creds, _model_creds, _model_ref = (ProviderListArgsSchema(), CredentialsBodySchema(),
                                                ModelCredentialsBodySchema(), ModelRefBodySchema())
_default_args, _default_body = DefaultModelArgsSchema(), DefaultModelBodySchema()
PREFIX = "/workspaces/current"


def _validation(error: str | None) -> dict:
    return {"result": "success"} if error is None else {"result": "error", "error": error}


class ModelProviderListApi(Resource):
    @doc("Model providers with their configuration status", query=ProviderListArgsSchema,
         response=ProviderListSchema, errors=(400, 401))
    @console_login
    def get(self, principal):
        args = query_args(_list_args)
        return {"data": provider_catalog_service.list_providers(db.session, tenant_id=principal.tenant_id,
                                                                model_type=args["model_type"])}


class ProviderCredentialsApi(Resource):
    @doc("A provider's credentials, masked", response=CredentialsSchema, errors=(401, 404))
    @console_login
    def get(self, principal, provider):
        return {"credentials": provider_service.get_provider_credentials(
            db.session, secret_key=get_runtime().settings.secret_key, tenant_id=principal.tenant_id,
            provider=provider)}

    @doc("Validate (real call) and save provider credentials (owner/admin)", body=CredentialsBodySchema,
         response=ResultSchema, status=201, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, provider):
        args = json_body(_creds)
        runtime = get_runtime()
        provider_service.save_provider_credentials(db.session, principal=principal, cache=runtime.cache,
                                                   secret_key=runtime.settings.secret_key, provider=provider,
                                                   credentials=args["credentials"], name=args["name"])
        return {"result": "success"}, 201

    @doc("Validate (real call) and replace provider credentials (owner/admin)", body=CredentialsBodySchema,
         response=ResultSchema, errors=(400, 401, 403, 404))
    def put(self, provider):
        return self.post(provider)[0]

    @doc("Remove provider credentials (owner/admin)", status=204, errors=(401, 403, 404))
    @console_login
    def delete(self, principal, provider):
        provider_service.delete_provider_credentials(db.session, principal=principal, cache=get_runtime().cache,
                                                     provider=provider)
        return "", 204


class ProviderCredentialsValidateApi(Resource):
    @doc("Check provider credentials with a real minimal call (owner/admin)", body=CredentialsBodySchema,
         response=ValidateResultSchema, errors=(400, 401, 404))
    @console_login
    def post(self, principal, provider):
        args = json_body(_creds)
        return _validation(provider_service.validate_credentials(principal=principal, provider=provider,
                                                                 credentials=args["credentials"]))


class ProviderModelsApi(Resource):
    @doc("Per-model credentials of a provider, masked", response=ProviderModelListSchema, errors=(401, 404))
    @console_login
    def get(self, principal, provider):
        return {"data": provider_service.list_models(db.session, secret_key=get_runtime().settings.secret_key,
                                                     tenant_id=principal.tenant_id, provider=provider)}

    @doc("Validate (real call) and save one model's credentials (owner/admin)", body=ModelCredentialsBodySchema,
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, provider):
        args = json_body(_model_creds)
        runtime = get_runtime()
        provider_service.save_model_credentials(db.session, principal=principal, cache=runtime.cache,
                                                secret_key=runtime.settings.secret_key, provider=provider,
                                                model=args["model"], model_type=args["model_type"],
                                                credentials=args["credentials"])
        return {"result": "success"}

    @doc("Remove one model's credentials (owner/admin)", body=ModelRefBodySchema, status=204,
         errors=(400, 401, 403, 404))
    @console_login
    def delete(self, principal, provider):
        args = json_body(_model_ref)
        provider_service.delete_model(db.session, principal=principal, cache=get_runtime().cache, provider=provider,
                                      model=args["model"], model_type=args["model_type"])
        return "", 204


class ProviderModelCredentialsValidateApi(Resource):
    @doc("Check one model's credentials with a real minimal call (owner/admin)", body=ModelCredentialsBodySchema,
         response=ValidateResultSchema, errors=(400, 401, 404))
    @console_login
    def post(self, principal, provider):
        args = json_body(_model_creds)
        return _validation(provider_service.validate_credentials(
            principal=principal, provider=provider, credentials=args["credentials"], model=args["model"],
            model_type=args["model_type"]))


class DefaultModelApi(Resource):
    @doc("The workspace's default model of a type", query=DefaultModelArgsSchema, response=DefaultModelSchema,
         errors=(400, 401))
    @console_login
    def get(self, principal):
        args = query_args(_default_args)
        row = provider_service.get_default_model(db.session, tenant_id=principal.tenant_id,
                                                 model_type=args["model_type"])
        if row is None:
            return {"data": None}
        return {"data": {"model": row.model_name, "model_type": row.model_type,
                         "provider": {"tenant_id": principal.tenant_id, "provider": row.provider_name}}}

    @doc("Set default models per type (owner/admin)", body=DefaultModelBodySchema, response=ResultSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal):
        args = json_body(_default_body)
        provider_service.set_default_models(db.session, principal=principal, settings=args["model_settings"])
        return {"result": "success"}


class ModelsByTypeApi(Resource):
    @doc("Usable models of a type, per provider", response=ModelsByTypeSchema, errors=(401, 404))
    @console_login
    def get(self, principal, model_type):
        return {"data": provider_catalog_service.models_by_type(db.session, tenant_id=principal.tenant_id,
                                                                model_type=model_type)}


_P = f"{PREFIX}/model-providers/<path:provider>"
api.add_resource(ModelProviderListApi, f"{PREFIX}/model-providers", endpoint="model_providers")
api.add_resource(ProviderCredentialsApi, f"{_P}/credentials", endpoint="provider_credentials")
api.add_resource(ProviderCredentialsValidateApi, f"{_P}/credentials/validate", endpoint="provider_credentials_validate")
api.add_resource(ProviderModelsApi, f"{_P}/models", endpoint="provider_models")
api.add_resource(ProviderModelCredentialsValidateApi, f"{_P}/models/credentials/validate",
                 endpoint="provider_model_credentials_validate")
api.add_resource(DefaultModelApi, f"{PREFIX}/default-model", endpoint="default_model")
api.add_resource(ModelsByTypeApi, f"{PREFIX}/models/model-types/<model_type>",
                 endpoint="models_by_type")
