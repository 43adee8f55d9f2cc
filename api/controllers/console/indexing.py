"""Console: process rule settings, retrieval settings and indexing estimates (§4.11)."""

from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body, query_args
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.indexing import (
    IndexingEstimateBodySchema,
    IndexingEstimateSchema,
    ProcessRuleArgsSchema,
    ProcessRuleSettingSchema,
    RetrievalSettingSchema,
)
from api.services import indexing_estimate_service, retrieval_service

_rule_args, _estimate = ProcessRuleArgsSchema(), IndexingEstimateBodySchema()


class ProcessRuleApi(Resource):
    @doc("The default process rule, or with `document_id` the latest rule of that document's dataset, with the "
         "segmentation limits", query=ProcessRuleArgsSchema, response=ProcessRuleSettingSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal):
        args = query_args(_rule_args)
        return indexing_estimate_service.process_rule_setting(db.session, principal=principal,
                                                              document_id=args["document_id"])


class RetrievalSettingApi(Resource):
    @doc("The search methods the configured vector store and full-text index support",
         response=RetrievalSettingSchema, errors=(401,))
    @console_login
    def get(self, principal):
        return {"retrieval_method": retrieval_service.supported_methods(get_runtime())}


class IndexingEstimateApi(Resource):
    @doc("Segments that uploaded files would give under a process rule (extract, clean and split; nothing is "
         "embedded or stored); the preview holds the first 10", body=IndexingEstimateBodySchema,
         response=IndexingEstimateSchema, errors=(400, 401, 403, 404, 415))
    @console_login
    def post(self, principal):
        args = json_body(_estimate)
        result = indexing_estimate_service.estimate_files(
            db.session, principal=principal, runtime=get_runtime(),
            file_ids=args["info_list"]["file_info_list"]["file_ids"], process_rule=args["process_rule"],
            doc_form=args["doc_form"], dataset_id=args["dataset_id"])
        return result.to_dict()


class DocumentIndexingEstimateApi(Resource):
    @doc("Estimate of a document that has not finished indexing, by its own process rule",
         response=IndexingEstimateSchema, errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, document_id):
        return indexing_estimate_service.estimate_document(
            db.session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id,
            document_id=document_id).to_dict()


class BatchIndexingEstimateApi(Resource):
    @doc("Estimate of the documents of a batch that have not finished indexing", response=IndexingEstimateSchema,
         errors=(400, 401, 403, 404))
    @console_login
    def get(self, principal, dataset_id, batch):
        return indexing_estimate_service.estimate_batch(db.session, principal=principal, runtime=get_runtime(),
                                                        dataset_id=dataset_id, batch=batch).to_dict()


api.add_resource(ProcessRuleApi, "/datasets/process-rule", endpoint="process_rule")
api.add_resource(RetrievalSettingApi, "/datasets/retrieval-setting", endpoint="retrieval_setting")
api.add_resource(IndexingEstimateApi, "/datasets/indexing-estimate", endpoint="indexing_estimate")
api.add_resource(DocumentIndexingEstimateApi,
                 "/datasets/<uuid:dataset_id>/documents/<uuid:document_id>/indexing-estimate",
                 endpoint="document_indexing_estimate")
api.add_resource(BatchIndexingEstimateApi, "/datasets/<uuid:dataset_id>/batch/<string:batch>/indexing-estimate",
                 endpoint="batch_indexing_estimate")
