from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body
from api.controllers.console import api
from api.controllers.sse import sse_response
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.chat import (
    ChatMessageResultSchema,
    DebugChatMessageCreateSchema,
    DebugCompletionMessageCreateSchema,
)
from api.services import app_service, run_service, service_auth_service
from api.services.run_service import Caller
from api.services.workspace_service import EDITORS

_chat, _completion = DebugChatMessageCreateSchema(), DebugCompletionMessageCreateSchema()


def _run(principal, app_id, args, route):
    principal.require(EDITORS)
    app_service.get_app(db.session, tenant_id=principal.tenant_id, app_id=app_id)
    snapshot = service_auth_service.load_snapshot(db.session, app_id)
    runtime = get_runtime()
    handle = run_service.start_chat_run(
        db.session, runtime=runtime, snapshot=snapshot, caller=Caller(account_id=principal.account_id), route=route,
        query=(args.get("query") or "").replace("\x00", ""), inputs=args["inputs"],
        conversation_id=args.get("conversation_id"), files=args["files"], invoke_from="debugger",
        auto_generate_name=args.get("auto_generate_name", False), model_config_override=args["model_config"])
    if args["response_mode"] == "streaming":
        response = sse_response(run_service.stream_events(handle, runtime))
        response.call_on_close(lambda: run_service.release(handle, runtime))
        return response
    return run_service.wait_for_result(handle, runtime)


class DebugChatMessagesApi(Resource):
    @doc("Debug-run a chat app with a draft model config (editor+)", body=DebugChatMessageCreateSchema,
         response=ChatMessageResultSchema, errors=(400, 401, 403, 404, 429, 503))
    @console_login
    def post(self, principal, app_id):
        return _run(principal, app_id, json_body(_chat), "chat")


class DebugCompletionMessagesApi(Resource):
    @doc("Debug-run a completion app with a draft model config (editor+)", body=DebugCompletionMessageCreateSchema,
         response=ChatMessageResultSchema, errors=(400, 401, 403, 404, 429, 503))
    @console_login
    def post(self, principal, app_id):
        return _run(principal, app_id, json_body(_completion), "completion")


class DebugStopApi(Resource):
    @doc("Stop a debug run started by the caller (editor+)", response=ResultSchema, errors=(401, 403, 404))
    @console_login
    def post(self, principal, app_id, task_id):
        principal.require(EDITORS)
        app_service.get_app(db.session, tenant_id=principal.tenant_id, app_id=app_id)
        run_service.stop_run(db.session, get_runtime(), task_id=task_id, caller=Caller(account_id=principal.account_id))
        return {"result": "success"}


api.add_resource(DebugChatMessagesApi, "/apps/<uuid:app_id>/chat-messages", endpoint="app_debug_chat")
api.add_resource(DebugCompletionMessagesApi, "/apps/<uuid:app_id>/completion-messages",
                 endpoint="app_debug_completion")
api.add_resource(DebugStopApi, "/apps/<uuid:app_id>/chat-messages/<uuid:task_id>/stop", endpoint="app_debug_stop")
api.add_resource(DebugStopApi, "/apps/<uuid:app_id>/completion-messages/<uuid:task_id>/stop",
                 endpoint="app_debug_completion_stop")
