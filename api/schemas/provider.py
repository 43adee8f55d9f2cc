from marshmallow import fields, validate

from api.schemas.base import BaseSchema

MODEL_TYPES = ["llm", "text-embedding", "rerank"]


class ProviderListArgsSchema(BaseSchema):
    model_type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(MODEL_TYPES))


class ProviderSchema(BaseSchema):
    tenant_id = fields.String()
    provider = fields.String()
    label = fields.Dict()
    description = fields.Dict(allow_none=True)
    icon_small = fields.Dict(allow_none=True)
    icon_small_dark = fields.Dict(allow_none=True)
    background = fields.String(allow_none=True)
    help = fields.Dict(allow_none=True)
    supported_model_types = fields.List(fields.String())
    configurate_methods = fields.List(fields.String())
    provider_credential_schema = fields.Dict(allow_none=True)
    model_credential_schema = fields.Dict(allow_none=True)
    preferred_provider_type = fields.String()
    custom_configuration = fields.Dict()
    system_configuration = fields.Dict()


class ProviderListSchema(BaseSchema):
    data = fields.List(fields.Nested(ProviderSchema))


class CredentialsBodySchema(BaseSchema):
    credentials = fields.Dict(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))


class CredentialsSchema(BaseSchema):
    credentials = fields.Dict(allow_none=True)


class ValidateResultSchema(BaseSchema):
    result = fields.String()
    error = fields.String()


class ModelCredentialsBodySchema(BaseSchema):
    model = fields.String(required=True, validate=validate.Length(min=1, max=255))
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))
    credentials = fields.Dict(required=True)


class ModelRefBodySchema(BaseSchema):
    model = fields.String(required=True, validate=validate.Length(min=1, max=255))
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))


class ProviderModelSchema(BaseSchema):
    model = fields.String()
    model_type = fields.String()
    status = fields.String()
    credentials = fields.Dict()
    fetch_from = fields.String()


class ProviderModelListSchema(BaseSchema):
    data = fields.List(fields.Nested(ProviderModelSchema))


class DefaultModelArgsSchema(BaseSchema):
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))


class DefaultModelSettingSchema(BaseSchema):
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))
    provider = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    model = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))


class DefaultModelBodySchema(BaseSchema):
    model_settings = fields.List(fields.Nested(DefaultModelSettingSchema), required=True,
                                 validate=validate.Length(max=10))


class DefaultModelSchema(BaseSchema):
    data = fields.Dict(allow_none=True)


class ModelsByTypeSchema(BaseSchema):
    data = fields.List(fields.Dict())
