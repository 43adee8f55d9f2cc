from marshmallow import fields, validate

from api.schemas.base import BaseSchema, Timestamp, TrimmedStr

ROLES = ["owner", "admin", "editor", "normal", "dataset_operator"]


class WorkspaceSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    plan = fields.String()
    status = fields.String()
    created_at = Timestamp()
    current = fields.Boolean()
    role = fields.String()


class WorkspaceDetailSchema(WorkspaceSchema):
    in_trial = fields.Boolean(allow_none=True)
    trial_end_reason = fields.String(allow_none=True)
    custom_config = fields.Dict(allow_none=True)


class WorkspaceListSchema(BaseSchema):
    workspaces = fields.List(fields.Nested(WorkspaceSchema), required=True)


class WorkspaceCreateSchema(BaseSchema):
    name = TrimmedStr(required=True, validate=validate.Length(min=1, max=255))


class WorkspaceSwitchSchema(BaseSchema):
    tenant_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class WorkspaceSwitchResultSchema(BaseSchema):
    result = fields.String()
    new_tenant = fields.Nested(WorkspaceSchema)


class WorkspaceRenameResultSchema(BaseSchema):
    result = fields.String()
    tenant = fields.Nested(WorkspaceSchema)


class MemberSchema(BaseSchema):
    id = fields.String(required=True)
    name = fields.String()
    avatar = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    email = fields.String()
    last_login_at = Timestamp(allow_none=True)
    last_active_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    role = fields.String()
    status = fields.String()


class MemberListSchema(BaseSchema):
    accounts = fields.List(fields.Nested(MemberSchema), required=True)


class MemberInviteSchema(BaseSchema):
    emails = fields.List(fields.Email(validate=validate.Length(max=255)), required=True,
                         validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.Length(min=1, max=32))
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


class InvitationResultSchema(BaseSchema):
    status = fields.String()
    email = fields.String()
    url = fields.String(allow_none=True)
    message = fields.String(allow_none=True)


class MemberInviteResultSchema(BaseSchema):
    result = fields.String()
    invitation_results = fields.List(fields.Nested(InvitationResultSchema))
    tenant_id = fields.String()


class MemberRoleUpdateSchema(BaseSchema):
    role = fields.String(required=True, validate=validate.Length(min=1, max=32))


class MemberRemoveResultSchema(BaseSchema):
    result = fields.String()
    tenant_id = fields.String()
