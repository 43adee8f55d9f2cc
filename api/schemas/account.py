from marshmallow import fields, validate

from api.schemas.base import BaseSchema, Timestamp, TrimmedStr, new_password_field


class ProfileSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    avatar = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    email = fields.String(required=True)
    is_password_set = fields.Boolean()
    interface_language = fields.String(allow_none=True)
    interface_theme = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    last_login_at = Timestamp(allow_none=True)
    last_login_ip = fields.String(allow_none=True)
    created_at = Timestamp()


class AccountNameSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=3, max=30))


class AccountPasswordSchema(BaseSchema):
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))
    new_password = new_password_field(min_length=1)
    repeat_new_password = new_password_field(min_length=1)
