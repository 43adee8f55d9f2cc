"""Knowledge API (dataset keys): knowledge tags and their bindings to datasets (reference §7.2).

`/datasets/tags…` cannot be taken for `/datasets/<uuid:dataset_id>`: the uuid converter matches UUIDs only.
"""

from flask_restful import Resource

from api.controllers.auth import dataset_key_required
from api.controllers.common import json_body
from api.controllers.restful import Api
from api.controllers.tag_views import saved_tag, tag_list
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.tag import (
    DatasetTagBindingSchema,
    DatasetTagCreateSchema,
    DatasetTagDeleteSchema,
    DatasetTagUnbindingSchema,
    DatasetTagUpdateSchema,
    TagSavedSchema,
    TagSchema,
    TargetTagListSchema,
)
from api.services import dataset_service, tag_service

_create, _update, _delete = DatasetTagCreateSchema(), DatasetTagUpdateSchema(), DatasetTagDeleteSchema()
_bind, _unbind = DatasetTagBindingSchema(), DatasetTagUnbindingSchema()
AUTH = "dataset_key"
KNOWLEDGE = tag_service.KNOWLEDGE


class DatasetTagListApi(Resource):
    @doc("The workspace's knowledge tags, newest first, with binding counts", response=TagSchema(many=True),
         auth=AUTH, errors=(401, 403))
    @dataset_key_required
    def get(self, caller):
        return tag_list(tag_service.list_tags(db.session, principal=caller.principal, tag_type=KNOWLEDGE))

    @doc("Create a knowledge tag", body=DatasetTagCreateSchema, response=TagSavedSchema, auth=AUTH,
         errors=(400, 401, 403))
    @dataset_key_required
    def post(self, caller):
        args = json_body(_create)
        return saved_tag(tag_service.create_tag(db.session, principal=caller.principal, name=args["name"],
                                                tag_type=KNOWLEDGE))

    @doc("Rename a knowledge tag", body=DatasetTagUpdateSchema, response=TagSavedSchema, auth=AUTH,
         errors=(400, 401, 403, 404))
    @dataset_key_required
    def patch(self, caller):
        args = json_body(_update)
        return saved_tag(tag_service.update_tag(db.session, principal=caller.principal, cache=get_runtime().cache,
                                                tag_id=args["tag_id"], name=args["name"], tag_type=KNOWLEDGE))

    @doc("Delete a knowledge tag and its bindings", body=DatasetTagDeleteSchema, status=204, auth=AUTH,
         errors=(400, 401, 403, 404))
    @dataset_key_required
    def delete(self, caller):
        args = json_body(_delete)
        tag_service.delete_tag(db.session, principal=caller.principal, cache=get_runtime().cache,
                               tag_id=args["tag_id"], tag_type=KNOWLEDGE)
        return "", 204


class DatasetTagBindingApi(Resource):
    @doc("Bind knowledge tags to a dataset", body=DatasetTagBindingSchema, status=204, auth=AUTH,
         errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller):
        args = json_body(_bind)
        tag_service.bind(db.session, principal=caller.principal, cache=get_runtime().cache, tag_type=KNOWLEDGE,
                         tag_ids=args["tag_ids"], target_id=args["target_id"])
        return "", 204


class DatasetTagUnbindingApi(Resource):
    @doc("Remove a knowledge tag (`tag_id`, or several: `tag_ids`) from a dataset", body=DatasetTagUnbindingSchema,
         status=204, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller):
        args = json_body(_unbind)
        tag_ids = args["tag_ids"] if args["tag_ids"] is not None else [args["tag_id"]]
        tag_service.unbind(db.session, principal=caller.principal, cache=get_runtime().cache, tag_type=KNOWLEDGE,
                           tag_ids=tag_ids, target_id=args["target_id"])
        return "", 204


class DatasetTargetTagsApi(Resource):
    @doc("The dataset's knowledge tags", response=TargetTagListSchema, auth=AUTH, errors=(401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id):
        dataset = dataset_service.get_dataset(db.session, principal=caller.principal, dataset_id=dataset_id)
        tags = tag_service.tags_of(db.session, tenant_id=dataset.tenant_id, tag_type=KNOWLEDGE,
                                   target_ids=[dataset.id])[dataset.id]
        return {"data": [{"id": t.id, "name": t.name} for t in tags], "total": len(tags)}


def register(api: Api) -> None:
    api.add_resource(DatasetTagListApi, "/datasets/tags", endpoint="dataset_tags")
    api.add_resource(DatasetTagBindingApi, "/datasets/tags/binding", endpoint="dataset_tags_binding")
    api.add_resource(DatasetTagUnbindingApi, "/datasets/tags/unbinding", endpoint="dataset_tags_unbinding")
    api.add_resource(DatasetTargetTagsApi, "/datasets/<uuid:dataset_id>/tags", endpoint="dataset_target_tags")
