from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body, json_object, query_args, service_api_base
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.models.app import App, AppModelConfig
from api.schemas.app import (
    AppApiEnableSchema,
    AppCopySchema,
    AppCreateSchema,
    AppDetailSchema,
    AppDetailWithSiteSchema,
    AppIconSchema,
    AppListArgsSchema,
    AppNameSchema,
    AppPageSchema,
    AppPartialSchema,
    AppSiteEnableSchema,
    AppUpdateSchema,
    ModelConfigBodySchema,
)
from api.schemas.base import ResultSchema
from api.services import app_service, tag_service
from api.services.workspace_service import APP_READERS

_list_args, _create, _update, _copy = AppListArgsSchema(), AppCreateSchema(), AppUpdateSchema(), AppCopySchema()
_name, _icon, _api_enable, _site_enable = AppNameSchema(), AppIconSchema(), AppApiEnableSchema(), AppSiteEnableSchema()
_partial, _detail_site = AppPartialSchema(), AppDetailWithSiteSchema()
_model_config_body = ModelConfigBodySchema()


def _tags(app_ids: list[str], tenant_id: str) -> dict[str, list[dict]]:
    found = tag_service.tags_of(db.session, tenant_id=tenant_id, tag_type=tag_service.APP, target_ids=app_ids)
    return {i: [{"id": t.id, "name": t.name, "type": t.type} for t in tags] for i, tags in found.items()}


def _partial_dict(app: App, config: AppModelConfig | None, names: dict[str, str], tags: list[dict]) -> dict:
    description = app.description or ((config.pre_prompt or "")[:200] + "..." if config and config.pre_prompt
                                      and len(config.pre_prompt) > 200 else (config.pre_prompt if config else ""))
    return {
        "id": app.id, "name": app.name, "max_active_requests": app.max_active_requests, "description": description,
        "mode": app.mode, "icon_type": app.icon_type, "icon": app.icon, "icon_background": app.icon_background,
        "icon_url": None, "workflow": None, "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        "model_config": {"model": config.model, "pre_prompt": config.pre_prompt, "created_by": config.created_by,
                         "created_at": config.created_at, "updated_by": config.updated_by,
                         "updated_at": config.updated_at} if config else None,
        "created_by": app.created_by, "created_at": app.created_at, "updated_by": app.updated_by,
        "updated_at": app.updated_at, "tags": tags, "access_mode": None, "has_draft_trigger": False,
        "create_user_name": names.get(app.created_by or ""), "author_name": names.get(app.created_by or ""),
    }


def detail_with_site(app: App) -> dict:
    site = app_service.get_site(db.session, app)
    config = app_service.get_model_config(db.session, app)
    site_dict = None
    if site is not None:
        site_dict = {c.name: getattr(site, c.name) for c in site.__table__.columns}
        site_dict.update(access_token=site.code, icon_url=None, app_base_url=None)
    return _detail_site.dump({
        "id": app.id, "name": app.name, "description": app.description, "mode": app.mode, "icon": app.icon,
        "icon_background": app.icon_background, "icon_type": app.icon_type, "icon_url": None,
        "enable_site": app.enable_site, "enable_api": app.enable_api,
        "model_config": ({**config.to_dict(), "created_by": config.created_by,
                          "created_at": int(config.created_at.timestamp()), "updated_by": config.updated_by,
                          "updated_at": int(config.updated_at.timestamp())} if config else None),
        "workflow": None, "tracing": None, "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        "created_by": app.created_by, "created_at": app.created_at, "updated_by": app.updated_by,
        "updated_at": app.updated_at, "access_mode": None, "tags": _tags([app.id], app.tenant_id)[app.id],
        "api_base_url": service_api_base(),
        "max_active_requests": app.max_active_requests, "api_rpm": app.api_rpm, "api_rph": app.api_rph,
        "deleted_tools": [], "site": site_dict,
    })


class AppListApi(Resource):
    @doc("Apps of the current workspace (mode, name, tag_ids, is_created_by_me filters)", query=AppListArgsSchema,
         response=AppPageSchema, errors=(400, 401, 403))
    @console_login
    def get(self, principal):
        principal.require(APP_READERS)
        args = query_args(_list_args)
        page = app_service.list_apps(db.session, tenant_id=principal.tenant_id, page=args["page"],
                                     limit=args["limit"], mode=args["mode"], name=args["name"],
                                     created_by=principal.account_id if args["is_created_by_me"] else None,
                                     tag_ids=args["tag_ids"].split(",") if args["tag_ids"] else None)
        names = app_service.get_creator_names(db.session, {a.created_by for a in page.items})
        configs = app_service.get_model_configs(db.session, page.items)
        tags = _tags([a.id for a in page.items], principal.tenant_id)
        return {"page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more,
                "data": [_partial.dump(_partial_dict(a, configs.get(a.app_model_config_id or ""), names, tags[a.id]))
                         for a in page.items]}

    @doc("Create an app (editor+)", body=AppCreateSchema, response=AppDetailWithSiteSchema, status=201,
         errors=(400, 401, 403))
    @console_login
    def post(self, principal):
        args = json_body(_create)
        app = app_service.create_app(db.session, principal=principal, **args)
        return detail_with_site(app), 201


class AppApi(Resource):
    @doc("One app with its site", response=AppDetailWithSiteSchema, errors=(401, 403, 404))
    @console_login
    def get(self, principal, app_id):
        principal.require(APP_READERS)
        return detail_with_site(app_service.get_app(db.session, tenant_id=principal.tenant_id, app_id=app_id))

    @doc("Update an app, incl. api_rpm, api_rph and max_active_requests (editor+)", body=AppUpdateSchema,
         response=AppDetailWithSiteSchema, errors=(400, 401, 403, 404))
    @console_login
    def put(self, principal, app_id):
        args = json_body(_update)
        app = app_service.update_app(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                     changes=args)
        return detail_with_site(app)

    @doc("Delete an app and its keys (editor+)", status=204, errors=(401, 403, 404))
    @console_login
    def delete(self, principal, app_id):
        app_service.delete_app(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id)
        return "", 204


class AppCopyApi(Resource):
    @doc("Copy an app (editor+)", body=AppCopySchema, response=AppDetailWithSiteSchema, status=201,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        args = json_body(_copy, optional=True)
        app = app_service.copy_app(db.session, principal=principal, app_id=app_id, **args)
        return detail_with_site(app), 201


class AppNameApi(Resource):
    @doc("Rename an app (editor+)", body=AppNameSchema, response=AppDetailSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        args = json_body(_name)
        app = app_service.update_app(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                     changes=args)
        return detail_with_site(app)


class AppIconApi(Resource):
    @doc("Change an app's icon (editor+)", body=AppIconSchema, response=AppDetailSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        args = json_body(_icon)
        app = app_service.update_app(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                     changes=args)
        return detail_with_site(app)


class AppApiEnableApi(Resource):
    @doc("Enable or disable the Service API for an app (owner/admin)", body=AppApiEnableSchema,
         response=AppDetailSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        args = json_body(_api_enable)
        app = app_service.set_flags(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                    enable_api=args["enable_api"])
        return detail_with_site(app)


class AppSiteEnableApi(Resource):
    @doc("Enable or disable the web site for an app (editor+)", body=AppSiteEnableSchema, response=AppDetailSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        args = json_body(_site_enable)
        app = app_service.set_flags(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                    enable_site=args["enable_site"])
        return detail_with_site(app)


class AppModelConfigApi(Resource):
    @doc("Save the app's model config (chat, agent-chat, completion; editor+)", body=ModelConfigBodySchema,
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, app_id):
        config = json_object()
        _model_config_body.load(config)  # shape check: an object with a `model`
        app_service.save_model_config(db.session, principal=principal, cache=get_runtime().cache, app_id=app_id,
                                      config=config)
        return {"result": "success"}


api.add_resource(AppListApi, "/apps", endpoint="apps")
api.add_resource(AppApi, "/apps/<uuid:app_id>", endpoint="app")
api.add_resource(AppCopyApi, "/apps/<uuid:app_id>/copy", endpoint="app_copy")
api.add_resource(AppNameApi, "/apps/<uuid:app_id>/name", endpoint="app_name")
api.add_resource(AppIconApi, "/apps/<uuid:app_id>/icon", endpoint="app_icon")
api.add_resource(AppApiEnableApi, "/apps/<uuid:app_id>/api-enable", endpoint="app_api_enable")
api.add_resource(AppSiteEnableApi, "/apps/<uuid:app_id>/site-enable", endpoint="app_site_enable")
api.add_resource(AppModelConfigApi, "/apps/<uuid:app_id>/model-config", endpoint="app_model_config")
