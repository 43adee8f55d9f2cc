from marshmallow import fields, validate

from api.schemas.base import BaseSchema, TrimmedStr, new_password_field

_email = TrimmedStr(required=True, validate=[validate.Length(min=3, max=255), validate.Email()])


class SetupStatusSchema(BaseSchema):
    step = fields.String(required=True, validate=validate.OneOf(["not_started", "finished"]))
    setup_at = fields.String()


class SetupCreateSchema(BaseSchema):
    email = _email
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=30))
    password = new_password_field()
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


class LoginSchema(BaseSchema):
    email = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    remember_me = fields.Boolean(load_default=False)


class TokenDataSchema(BaseSchema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class TokenResultSchema(BaseSchema):
    result = fields.String(required=True)
    data = fields.Nested(TokenDataSchema, required=True)


class RefreshTokenSchema(BaseSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=512))


class LogoutSchema(BaseSchema):
    refresh_token = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=512))


class ActivateCheckArgsSchema(BaseSchema):
    workspace_id = fields.String(load_default=None, allow_none=True)
    email = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class ActivateCheckSchema(BaseSchema):
    is_valid = fields.Boolean(required=True)
    data = fields.Dict(allow_none=True)


class ActivateSchema(BaseSchema):
    workspace_id = fields.String(load_default=None, allow_none=True)
    email = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))
    token = fields.String(required=True, validate=validate.Length(min=1, max=256))
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=30))
    password = new_password_field()
    interface_language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    timezone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
