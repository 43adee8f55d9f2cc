"""Tags and tag bindings of apps and datasets (reference §4.13)."""

from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body, query_args
from api.controllers.console import api
from api.controllers.tag_views import saved_tag, tag_list
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.tag import (
    TagBindingCreateSchema,
    TagBindingRemoveSchema,
    TagCreateSchema,
    TagListArgsSchema,
    TagSavedSchema,
    TagSchema,
    TagUpdateSchema,
)
from api.services import tag_service

_list_args, _create, _update = TagListArgsSchema(), TagCreateSchema(), TagUpdateSchema()
_bind, _unbind = TagBindingCreateSchema(), TagBindingRemoveSchema()


class TagListApi(Resource):
    @doc("The workspace's tags of one type, newest first, with binding counts (app tags: app readers)",
         query=TagListArgsSchema, response=TagSchema(many=True), errors=(400, 401, 403))
    @console_login
    def get(self, principal):
        args = query_args(_list_args)
        return tag_list(tag_service.list_tags(db.session, principal=principal, tag_type=args["type"],
                                              keyword=args["keyword"]))

    @doc("Create a tag (knowledge: dataset editors; app: editors)", body=TagCreateSchema, response=TagSavedSchema,
         errors=(400, 401, 403))
    @console_login
    def post(self, principal):
        args = json_body(_create)
        return saved_tag(tag_service.create_tag(db.session, principal=principal, name=args["name"],
                                                tag_type=args["type"]))


class TagApi(Resource):
    @doc("Rename a tag; its type never changes (knowledge: dataset editors; app: editors)", body=TagUpdateSchema,
         response=TagSavedSchema, errors=(400, 401, 403, 404))
    @console_login
    def patch(self, principal, tag_id):
        args = json_body(_update)
        return saved_tag(tag_service.update_tag(db.session, principal=principal, cache=get_runtime().cache,
                                                tag_id=tag_id, name=args["name"]))

    @doc("Delete a tag and its bindings (editors)", status=204, errors=(401, 403, 404))
    @console_login
    def delete(self, principal, tag_id):
        tag_service.delete_tag(db.session, principal=principal, cache=get_runtime().cache, tag_id=tag_id)
        return "", 204


class TagBindingCreateApi(Resource):
    @doc("Bind tags to a dataset (`knowledge`) or an app (`app`) of the workspace", body=TagBindingCreateSchema,
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal):
        args = json_body(_bind)
        tag_service.bind(db.session, principal=principal, cache=get_runtime().cache, tag_type=args["type"],
                         tag_ids=args["tag_ids"], target_id=args["target_id"])
        return {"result": "success"}


class TagBindingRemoveApi(Resource):
    @doc("Remove a tag (`tag_id`, or several: `tag_ids`) from a dataset or an app", body=TagBindingRemoveSchema,
         response=ResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal):
        args = json_body(_unbind)
        tag_ids = args["tag_ids"] if args["tag_ids"] is not None else [args["tag_id"]]
        tag_service.unbind(db.session, principal=principal, cache=get_runtime().cache, tag_type=args["type"],
                           tag_ids=tag_ids, target_id=args["target_id"])
        return {"result": "success"}


api.add_resource(TagListApi, "/tags", endpoint="tags")
api.add_resource(TagApi, "/tags/<uuid:tag_id>", endpoint="tag")
api.add_resource(TagBindingCreateApi, "/tag-bindings/create", endpoint="tag_bindings_create")
api.add_resource(TagBindingRemoveApi, "/tag-bindings/remove", endpoint="tag_bindings_remove")
