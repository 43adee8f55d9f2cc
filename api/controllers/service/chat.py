from flask_restful import Resource

from api.controllers.auth import app_key_required
from api.controllers.common import json_body
from api.controllers.restful import Api
from api.controllers.sse import sse_response
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.schemas.base import ResultSchema
from api.schemas.chat import ChatMessageCreateSchema, ChatMessageResultSchema, CompletionMessageCreateSchema, StopSchema
from api.services import run_service
from api.services.run_service import Caller

_chat, _completion, _stop = ChatMessageCreateSchema(), CompletionMessageCreateSchema(), StopSchema()


def _respond(handle, response_mode):
    runtime = get_runtime()
    if response_mode == "streaming":
        response = sse_response(run_service.stream_events(handle, runtime))
        response.call_on_close(lambda: run_service.release(handle, runtime))
        return response
    return run_service.wait_for_result(handle, runtime)


class ChatMessagesApi(Resource):
    @doc("Send a chat message (blocking JSON or SSE stream)", body=ChatMessageCreateSchema,
         response=ChatMessageResultSchema, auth="app_key", errors=(400, 401, 403, 404, 429, 503))
    @app_key_required(user_from="json", user_required=True)
    def post(self, caller):
        args = json_body(_chat)
        handle = run_service.start_chat_run(
            db.session, runtime=get_runtime(), snapshot=caller.app, caller=Caller(end_user_id=caller.end_user.id),
            route="chat", query=args["query"].replace("\x00", ""), inputs=args["inputs"],
            conversation_id=args["conversation_id"], files=args["files"], invoke_from="service-api",
            auto_generate_name=args["auto_generate_name"])
        return _respond(handle, args["response_mode"])


class CompletionMessagesApi(Resource):
    @doc("Run a completion app (blocking JSON or SSE stream)", body=CompletionMessageCreateSchema,
         response=ChatMessageResultSchema, auth="app_key", errors=(400, 401, 403, 429, 503))
    @app_key_required(user_from="json", user_required=True)
    def post(self, caller):
        args = json_body(_completion)
        handle = run_service.start_chat_run(
            db.session, runtime=get_runtime(), snapshot=caller.app, caller=Caller(end_user_id=caller.end_user.id),
            route="completion", query=(args["query"] or "").replace("\x00", ""), inputs=args["inputs"],
            conversation_id=None, files=args["files"], invoke_from="service-api", auto_generate_name=False)
        return _respond(handle, args["response_mode"])


class ChatMessageStopApi(Resource):
    @doc("Stop a running chat message (only its own user can)", body=StopSchema, response=ResultSchema,
         auth="app_key", errors=(400, 401, 403))
    @app_key_required(user_from="json", user_required=True)
    def post(self, caller, task_id):
        run_service.stop_run(db.session, get_runtime(), task_id=task_id, caller=Caller(end_user_id=caller.end_user.id))
        return {"result": "success"}


class CompletionMessageStopApi(ChatMessageStopApi):
    @doc("Stop a running completion (only its own user can)", body=StopSchema, response=ResultSchema,
         auth="app_key", errors=(400, 401, 403))
    def post(self, task_id):
        return super().post(task_id)


def register(api: Api) -> None:
    api.add_resource(ChatMessagesApi, "/chat-messages", endpoint="chat_messages")
    api.add_resource(CompletionMessagesApi, "/completion-messages", endpoint="completion_messages")
    api.add_resource(ChatMessageStopApi, "/chat-messages/<uuid:task_id>/stop", endpoint="chat_message_stop")
    api.add_resource(CompletionMessageStopApi, "/completion-messages/<uuid:task_id>/stop",
                     endpoint="completion_message_stop")
