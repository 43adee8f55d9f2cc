from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body
from api.controllers.console import api
from api.extensions.database import db
from api.libs.apidoc import doc
from api.models.account import Tenant
from api.schemas.workspace import (
    WorkspaceCreateSchema,
    WorkspaceDetailSchema,
    WorkspaceListSchema,
    WorkspaceRenameResultSchema,
    WorkspaceSchema,
    WorkspaceSwitchResultSchema,
    WorkspaceSwitchSchema,
)
from api.services import workspace_service

_workspace, _detail = WorkspaceSchema(), WorkspaceDetailSchema()
_create, _switch = WorkspaceCreateSchema(), WorkspaceSwitchSchema()


def _tenant(tenant: Tenant, **extra) -> dict:
    return {"id": tenant.id, "name": tenant.name, "plan": "sandbox" if tenant.plan == "basic" else tenant.plan,
            "status": tenant.status, "created_at": tenant.created_at, **extra}


class WorkspaceListApi(Resource):
    @doc("Workspaces the caller belongs to", response=WorkspaceListSchema, errors=(401,))
    @console_login
    def get(self, principal):
        rows = workspace_service.list_workspaces(db.session, account_id=principal.account_id)
        return {"workspaces": [_workspace.dump(_tenant(t, current=t.id == principal.tenant_id)) for t, _ in rows]}

    @doc("Create a workspace owned by the caller and switch to it", body=WorkspaceCreateSchema,
         response=WorkspaceSchema, status=201, errors=(400, 401))
    @console_login
    def post(self, principal):
        args = json_body(_create)
        tenant, join = workspace_service.create_workspace(db.session, principal=principal, name=args["name"])
        return _workspace.dump(_tenant(tenant, role=join.role, current=True)), 201


class CurrentWorkspaceApi(Resource):
    @doc("The caller's current workspace", response=WorkspaceDetailSchema, errors=(401,))
    @console_login
    def post(self, principal):
        return _detail.dump(_tenant(principal.tenant, role=principal.role, current=True, in_trial=None,
                                    trial_end_reason=None, custom_config=principal.tenant.custom_config or {}))

    get = post


class WorkspaceSwitchApi(Resource):
    @doc("Switch the current workspace", body=WorkspaceSwitchSchema, response=WorkspaceSwitchResultSchema,
         errors=(400, 401, 404))
    @console_login
    def post(self, principal):
        args = json_body(_switch)
        tenant = workspace_service.switch_workspace(db.session, principal=principal, tenant_id=args["tenant_id"])
        return {"result": "success", "new_tenant": _workspace.dump(_tenant(tenant, current=True))}


class WorkspaceInfoApi(Resource):
    @doc("Rename the current workspace (owner/admin)", body=WorkspaceCreateSchema,
         response=WorkspaceRenameResultSchema, errors=(400, 401, 403))
    @console_login
    def post(self, principal):
        args = json_body(_create)
        tenant = workspace_service.rename_workspace(db.session, principal=principal, name=args["name"])
        return {"result": "success", "tenant": _workspace.dump(_tenant(tenant, role=principal.role, current=True))}


api.add_resource(WorkspaceListApi, "/workspaces", endpoint="workspaces")
api.add_resource(CurrentWorkspaceApi, "/workspaces/current", endpoint="workspaces_current")
api.add_resource(WorkspaceSwitchApi, "/workspaces/switch", endpoint="workspaces_switch")
api.add_resource(WorkspaceInfoApi, "/workspaces/info", endpoint="workspaces_info")
