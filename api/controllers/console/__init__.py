"""Console API blueprint (`/console/api`): one flask-restful Api, one Resource per URL."""

from flask import Blueprint

from api.controllers.restful import Api

bp = Blueprint("console", __name__, url_prefix="/console/api")
api = Api(bp)

from api.controllers.console import (  # noqa: E402,F401
    account,
    api_keys,
    apps,
    auth,
    datasets,
    debug,
    document_processing,
    documents,
    indexing,
    members,
    model_providers,
    segments,
    setup,
    tags,
    workspaces,
)
