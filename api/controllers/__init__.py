"""HTTP layer: blueprints, the error table and the operational endpoints."""

from flask import Flask

from api.controllers.errors import register_error_handlers
from api.controllers.ops import register_ops
from api.controllers.restful import UUIDStringConverter


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["uuid"] = UUIDStringConverter
    from api.controllers.console import bp as console_bp
    from api.controllers.files import bp as files_bp
    from api.controllers.service import build_blueprints

    app.register_blueprint(console_bp)
    app.register_blueprint(files_bp)
    for bp in build_blueprints():
        app.register_blueprint(bp)
    register_ops(app)
    register_error_handlers(app)
