from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import console_web_base, json_body
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_settings
from api.libs.apidoc import doc
from api.models.enums import TenantRole
from api.schemas.base import ResultSchema
from api.schemas.workspace import (
    MemberInviteResultSchema,
    MemberInviteSchema,
    MemberListSchema,
    MemberRemoveResultSchema,
    MemberRoleUpdateSchema,
    MemberSchema,
)
from api.services import member_service

_member, _invite, _role = MemberSchema(), MemberInviteSchema(), MemberRoleUpdateSchema()


def _members(principal, roles=None) -> dict:
    rows = member_service.list_members(db.session, tenant_id=principal.tenant_id, roles=roles)
    return {"accounts": [_member.dump({
        "id": a.id, "name": a.name, "avatar": a.avatar, "avatar_url": None, "email": a.email,
        "last_login_at": a.last_login_at, "last_active_at": a.last_active_at, "created_at": a.created_at,
        "role": role, "status": a.status}) for a, role in rows]}


class MemberListApi(Resource):
    @doc("Members of the current workspace", response=MemberListSchema, errors=(401,))
    @console_login
    def get(self, principal):
        return _members(principal)


class DatasetOperatorListApi(Resource):
    @doc("Dataset operators of the current workspace", response=MemberListSchema, errors=(401,))
    @console_login
    def get(self, principal):
        return _members(principal, roles=frozenset({TenantRole.DATASET_OPERATOR}))


class MemberInviteApi(Resource):
    @doc("Invite members by email (owner/admin); returns activation links", body=MemberInviteSchema,
         response=MemberInviteResultSchema, status=201, errors=(400, 401, 403))
    @console_login
    def post(self, principal):
        args = json_body(_invite)
        results = member_service.invite_members(
            db.session, settings=get_settings(), principal=principal, emails=args["emails"], role=args["role"],
            language=args["language"], console_web_url=console_web_base())
        return {"result": "success", "tenant_id": principal.tenant_id,
                "invitation_results": [{k: v for k, v in vars(r).items() if v is not None} for r in results]}, 201


class MemberApi(Resource):
    @doc("Remove a member (owner)", response=MemberRemoveResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def delete(self, principal, member_id):
        member_service.remove_member(db.session, principal=principal, member_id=member_id)
        return {"result": "success", "tenant_id": principal.tenant_id}


class MemberRoleApi(Resource):
    @doc("Change a member's role (owner)", body=MemberRoleUpdateSchema, response=ResultSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def put(self, principal, member_id):
        args = json_body(_role)
        member_service.update_role(db.session, principal=principal, member_id=member_id, role=args["role"])
        return {"result": "success"}


api.add_resource(MemberListApi, "/workspaces/current/members", endpoint="members")
api.add_resource(DatasetOperatorListApi, "/workspaces/current/dataset-operators", endpoint="dataset_operators")
api.add_resource(MemberInviteApi, "/workspaces/current/members/invite-email", endpoint="members_invite")
api.add_resource(MemberApi, "/workspaces/current/members/<uuid:member_id>", endpoint="member")
api.add_resource(MemberRoleApi, "/workspaces/current/members/<uuid:member_id>/update-role", endpoint="member_role")
