"""Service API, mounted at both `/v1` (Dify's SDKs) and `/api`: same resources, same behaviour."""

from flask import Blueprint

from api.controllers.restful import Api
from api.controllers.service import (
    app_info,
    chat,
    conversations,
    dataset_tags,
    datasets,
    documents,
    files,
    segments,
)

PREFIXES = {"service_v1": "/v1", "service_api": "/api"}


def build_blueprints() -> list[Blueprint]:
    blueprints = []
    for name, prefix in PREFIXES.items():
        bp = Blueprint(name, __name__, url_prefix=prefix)
        api = Api(bp)
        for module in (app_info, chat, conversations, files, datasets, dataset_tags, documents, segments):
            module.register(api)
        blueprints.append(bp)
    return blueprints
