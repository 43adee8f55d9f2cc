"""Knowledge API (dataset keys): datasets and retrieval (reference §7.2, §7.5)."""

from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import dataset_key_required
from api.controllers.common import json_body, query_args
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.dataset import (
    DatasetCreateSchema,
    DatasetDetailSchema,
    DatasetListArgsSchema,
    DatasetPageSchema,
    DatasetUpdateSchema,
    HitTestingResultSchema,
    HitTestingSchema,
)
from api.services import dataset_service, retrieval_service

_list_args, _create, _update, _hit = DatasetListArgsSchema(), DatasetCreateSchema(), DatasetUpdateSchema(), \
    HitTestingSchema()
AUTH = "dataset_key"


class DatasetListApi(Resource):
    @doc("The workspace's datasets (keyword search, tag_ids filter, page/limit)", query=DatasetListArgsSchema,
         response=DatasetPageSchema, auth=AUTH, errors=(400, 401, 403))
    @dataset_key_required
    def get(self, caller):
        args = query_args(_list_args)
        page = dataset_service.list_datasets(db.session, principal=caller.principal, page=args["page"],
                                             limit=args["limit"], keyword=args["keyword"], tag_ids=args["tag_ids"])
        return {"page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more,
                "data": views.datasets(page.items)}

    @doc("Create an empty dataset", body=DatasetCreateSchema, response=DatasetDetailSchema, auth=AUTH,
         errors=(400, 401, 403, 409))
    @dataset_key_required
    def post(self, caller):
        args = views.dataset_create_args(json_body(_create))
        return views.dataset(dataset_service.create_dataset(db.session, principal=caller.principal, **args))


class DatasetApi(Resource):
    @doc("One dataset", response=DatasetDetailSchema, auth=AUTH, errors=(401, 403, 404))
    @dataset_key_required
    def get(self, caller, dataset_id):
        return views.dataset(dataset_service.get_dataset(db.session, principal=caller.principal,
                                                         dataset_id=dataset_id))

    @doc("Update a dataset; a new indexing technique or embedding model re-indexes it", body=DatasetUpdateSchema,
         response=DatasetDetailSchema, auth=AUTH, errors=(400, 401, 403, 404, 409))
    @dataset_key_required
    def patch(self, caller, dataset_id):
        dataset = dataset_service.update_dataset(db.session, principal=caller.principal, runtime=get_runtime(),
                                                 dataset_id=dataset_id, changes=json_body(_update))
        return views.dataset(dataset)

    @doc("Delete a dataset with its documents, index and files", status=204, auth=AUTH, errors=(401, 403, 404, 409))
    @dataset_key_required
    def delete(self, caller, dataset_id):
        dataset_service.delete_dataset(db.session, principal=caller.principal, runtime=get_runtime(),
                                       dataset_id=dataset_id)
        return "", 204


class RetrieveApi(Resource):
    @doc("Retrieve the dataset's best segments for a query (alias: hit-testing)", body=HitTestingSchema,
         response=HitTestingResultSchema, auth=AUTH, errors=(400, 401, 403, 404))
    @dataset_key_required
    def post(self, caller, dataset_id):
        args = json_body(_hit)
        records = retrieval_service.hit_test(db.session, principal=caller.principal, runtime=get_runtime(),
                                             dataset_id=dataset_id, query=args["query"],
                                             retrieval_model=args["retrieval_model"])
        return views.hit_testing(args["query"], records)


def register(api: Api) -> None:
    api.add_resource(DatasetListApi, "/datasets", endpoint="datasets")
    api.add_resource(DatasetApi, "/datasets/<uuid:dataset_id>", endpoint="dataset")
    api.add_resource(RetrieveApi, "/datasets/<uuid:dataset_id>/retrieve", "/datasets/<uuid:dataset_id>/hit-testing",
                     endpoint="dataset_retrieve")
