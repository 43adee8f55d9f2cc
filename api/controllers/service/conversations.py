from flask_restful import Resource

from api.controllers.auth import app_key_required
from api.controllers.common import json_body, query_args
from api.controllers.restful import Api
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc
from api.models.conversation import Conversation, Message
from api.models.enums import CHAT_MODES
from api.schemas.base import ResultSchema
from api.schemas.chat import (
    ConversationDeleteSchema,
    ConversationListArgsSchema,
    ConversationPageSchema,
    ConversationRenameSchema,
    ConversationSchema,
    FeedbackSchema,
    MessageListArgsSchema,
    MessagePageSchema,
    MessageSchema,
    SuggestedArgsSchema,
    SuggestedSchema,
)
from api.services import conversation_service
from api.services.errors import NotChatAppError
from api.services.run_service import Caller

_conv_args, _conversation, _rename = ConversationListArgsSchema(), ConversationSchema(), ConversationRenameSchema()
_delete = ConversationDeleteSchema()
_msg_args, _message, _feedback, _suggested = MessageListArgsSchema(), MessageSchema(), FeedbackSchema(), \
    SuggestedArgsSchema()


def _chat_only(caller) -> Caller:
    if caller.app.mode not in CHAT_MODES:
        raise NotChatAppError()
    return Caller(end_user_id=caller.end_user.id)


def dump_conversation(conversation: Conversation) -> dict:
    return _conversation.dump(conversation)


def dump_message(message: Message, extras: dict) -> dict:
    metadata = message.message_metadata or {}
    return _message.dump({
        "id": message.id, "conversation_id": message.conversation_id, "parent_message_id": message.parent_message_id,
        "inputs": message.inputs or {}, "query": message.query, "answer": message.answer,
        "feedback": extras["feedback"], "retriever_resources": metadata.get("retriever_resources") or [],
        "created_at": message.created_at, "agent_thoughts": [], "status": message.status, "error": message.error,
        "extra_contents": [],
        "message_files": [{"id": f.id, "filename": None, "type": f.type, "url": f.url, "mime_type": None,
                           "size": None, "transfer_method": f.transfer_method, "belongs_to": f.belongs_to,
                           "upload_file_id": f.upload_file_id} for f in extras["files"]],
    })


class ConversationListApi(Resource):
    @doc("The user's conversations (last_id cursor)", query=ConversationListArgsSchema,
         response=ConversationPageSchema, auth="app_key", errors=(400, 401, 403, 404))
    @app_key_required(user_from="query")
    def get(self, caller):
        args = query_args(_conv_args)
        page = conversation_service.list_conversations(db.session, app_id=caller.app.id, caller=_chat_only(caller),
                                                       last_id=args["last_id"], limit=args["limit"],
                                                       sort_by=args["sort_by"])
        return {"limit": page.limit, "has_more": page.has_more, "data": [dump_conversation(c) for c in page.items]}


class ConversationApi(Resource):
    @doc("Delete a conversation", body=ConversationDeleteSchema, body_required=False, status=204, auth="app_key",
         errors=(400, 401, 403, 404))
    @app_key_required(user_from="json")
    def delete(self, caller, conversation_id):
        json_body(_delete, optional=True)  # a malformed or non-object body is a 400, as on every JSON route
        conversation_service.delete_conversation(db.session, app_id=caller.app.id, caller=_chat_only(caller),
                                                 conversation_id=conversation_id)
        return "", 204


class ConversationNameApi(Resource):
    @doc("Rename a conversation, or generate its name with the model", body=ConversationRenameSchema,
         response=ConversationSchema, auth="app_key", errors=(400, 401, 403, 404))
    @app_key_required(user_from="json")
    def post(self, caller, conversation_id):
        args = json_body(_rename)
        conversation = conversation_service.rename_conversation(
            db.session, runtime=get_runtime(), app_id=caller.app.id, caller=_chat_only(caller),
            conversation_id=conversation_id, name=args["name"], auto_generate=args["auto_generate"])
        return dump_conversation(conversation)


class MessageListApi(Resource):
    @doc("Messages of a conversation, oldest first (first_id cursor)", query=MessageListArgsSchema,
         response=MessagePageSchema, auth="app_key", errors=(400, 401, 403, 404))
    @app_key_required(user_from="query")
    def get(self, caller):
        args = query_args(_msg_args)
        chat_caller = _chat_only(caller)
        if not args["conversation_id"]:
            return {"limit": args["limit"], "has_more": False, "data": []}
        page = conversation_service.list_messages(db.session, app_id=caller.app.id, caller=chat_caller,
                                                  conversation_id=args["conversation_id"],
                                                  first_id=args["first_id"], limit=args["limit"])
        extras = conversation_service.message_extras(db.session, page.items, chat_caller)
        return {"limit": page.limit, "has_more": page.has_more,
                "data": [dump_message(m, extras[m.id]) for m in page.items]}


class MessageFeedbackApi(Resource):
    @doc("Like, dislike or clear feedback on a message", body=FeedbackSchema, response=ResultSchema,
         auth="app_key", errors=(400, 401, 403, 404))
    @app_key_required(user_from="json", user_required=True)
    def post(self, caller, message_id):
        args = json_body(_feedback)
        conversation_service.give_feedback(db.session, app_id=caller.app.id, caller=Caller(
            end_user_id=caller.end_user.id), message_id=message_id, rating=args["rating"], content=args["content"])
        return {"result": "success"}


class MessageSuggestedApi(Resource):
    @doc("Suggested next questions for a message", query=SuggestedArgsSchema, response=SuggestedSchema,
         auth="app_key", errors=(400, 401, 403, 404))
    @app_key_required(user_from="query", user_required=True)
    def get(self, caller, message_id):
        config = caller.app.model_config or {}
        enabled = bool((config.get("suggested_questions_after_answer") or {}).get("enabled"))
        questions = conversation_service.suggested_questions(
            db.session, runtime=get_runtime(), app_id=caller.app.id, caller=Caller(end_user_id=caller.end_user.id),
            message_id=message_id, enabled=enabled)
        return {"result": "success", "data": questions}


def register(api: Api) -> None:
    api.add_resource(ConversationListApi, "/conversations", endpoint="conversations")
    api.add_resource(ConversationApi, "/conversations/<uuid:conversation_id>", endpoint="conversation")
    api.add_resource(ConversationNameApi, "/conversations/<uuid:conversation_id>/name", endpoint="conversation_name")
    api.add_resource(MessageListApi, "/messages", endpoint="messages")
    api.add_resource(MessageFeedbackApi, "/messages/<uuid:message_id>/feedbacks", endpoint="message_feedbacks")
    api.add_resource(MessageSuggestedApi, "/messages/<uuid:message_id>/suggested", endpoint="message_suggested")
