from flask_restful import Resource

from api.controllers import knowledge_views as views
from api.controllers.auth import console_login
from api.controllers.common import TOGGLE_ACTIONS, json_body, query_args
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
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
from api.services.errors import InvalidActionError

_list_args, _create, _update, _hit = DatasetListArgsSchema(), DatasetCreateSchema(), DatasetUpdateSchema(), \
    HitTestingSchema()


class DatasetListApi(Resource):
    @doc("Datasets the caller may see (keyword search, tag_ids filter, page/limit)", query=DatasetListArgsSchema,
         response=DatasetPageSchema, errors=(400, 401, 403))
    @console_login
    def get(self, principal):
        args = query_args(_list_args)
        page = dataset_service.list_datasets(db.session, principal=principal, page=args["page"], limit=args["limit"],
                                             keyword=args["keyword"], tag_ids=args["tag_ids"])
        return {"page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more,
                "data": views.datasets(page.items)}

    @doc("Create an empty dataset (dataset editors)", body=DatasetCreateSchema, response=DatasetDetailSchema,
         status=201, errors=(400, 401, 403, 409))
    @console_login
    def post(self, principal):
        args = views.dataset_create_args(json_body(_create))
        dataset = dataset_service.create_dataset(db.session, principal=principal, **args)
        return views.dataset(dataset), 201


class DatasetApi(Resource):
    @doc("One dataset", response=DatasetDetailSchema, errors=(401, 403, 404))
    @console_login
    def get(self, principal, dataset_id):
        return views.dataset(dataset_service.get_dataset(db.session, principal=principal, dataset_id=dataset_id))

    @doc("Update a dataset (dataset editors); a new indexing technique or embedding model re-indexes it",
         body=DatasetUpdateSchema, response=DatasetDetailSchema, errors=(400, 401, 403, 404, 409))
    @console_login
    def patch(self, principal, dataset_id):
        dataset = dataset_service.update_dataset(db.session, principal=principal, runtime=get_runtime(),
                                                 dataset_id=dataset_id, changes=json_body(_update))
        return views.dataset(dataset)

    @doc("Delete a dataset with its documents, index and files (dataset editors)", status=204,
         errors=(401, 403, 404, 409))
    @console_login
    def delete(self, principal, dataset_id):
        dataset_service.delete_dataset(db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id)
        return "", 204


class DatasetApiAccessApi(Resource):
    @doc("Turn the dataset's Service API access on (`enable`) or off (`disable`) (dataset editors)",
         response=ResultSchema, path={"status": TOGGLE_ACTIONS}, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id, status):
        if status not in TOGGLE_ACTIONS:
            raise InvalidActionError(f"Invalid action: {status}. Use enable or disable.")
        dataset_service.set_api_access(db.session, principal=principal, dataset_id=dataset_id,
                                       enabled=status == "enable")
        return {"result": "success"}


class HitTestingApi(Resource):
    @doc("Retrieval test: the dataset's best segments for a query", body=HitTestingSchema,
         response=HitTestingResultSchema, errors=(400, 401, 403, 404))
    @console_login
    def post(self, principal, dataset_id):
        args = json_body(_hit)
        records = retrieval_service.hit_test(db.session, principal=principal, runtime=get_runtime(),
                                             dataset_id=dataset_id, query=args["query"],
                                             retrieval_model=args["retrieval_model"])
        return views.hit_testing(args["query"], records)


api.add_resource(DatasetListApi, "/datasets", endpoint="datasets")
api.add_resource(DatasetApi, "/datasets/<uuid:dataset_id>", endpoint="dataset")
api.add_resource(DatasetApiAccessApi, "/datasets/<uuid:dataset_id>/api-keys/<string:status>",
                 endpoint="dataset_api_access")
api.add_resource(HitTestingApi, "/datasets/<uuid:dataset_id>/hit-testing", endpoint="dataset_hit_testing")
