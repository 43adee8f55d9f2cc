"""Console API blueprint (`/console/api`): one flask-restful Api, one Resource per URL."""

from flask import Blueprint

from api.controllers.restful import Api

bp = Blueprint("console", __name__, url_prefix="/console/api")
api = Api(bp)

from api.controllers.console import account, api_keys, apps, auth, members, setup, workspaces  # noqa: E402,F401
