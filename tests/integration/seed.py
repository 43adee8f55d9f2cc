"""A fully populated workspace for the route-walking tests (tenant isolation, bad input).

Built through the HTTP API where one exists; rows no API creates without a model run and a worker
(an end user, a conversation with a message, a running task's owner key) are written by the same
service code or models the API uses.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask

from api.extensions import redis_keys
from api.extensions.runtime import get_runtime
from api.libs import crypto
from api.models.conversation import Conversation, Message
from api.models.dataset import ChildChunk, DocumentSegment
from api.models.provider import ProviderCredential
from api.services import service_auth_service
from tests.helpers import Console, Member, body
from tests.integration.knowledge_support import text_document, upload

MODES = ("chat", "completion", "workflow")


@dataclass
class Seed:
    owner: Member
    member_id: str  # invited as `normal` (pending: an invitation needs no activation to be a member)
    apps: dict[str, dict[str, Any]]  # mode -> app detail
    app_key_id: str
    app_key: str
    dataset_key_id: str
    dataset_key: str
    dataset_id: str  # economy, all_team_members, API access on
    document_id: str  # indexed (completed), created by text
    segment_id: str  # the document's first segment
    batch: str  # the document's batch
    upload_file_id: str  # an uploaded .txt file of the workspace, not yet used by a document
    end_user_id: str
    conversation_id: str
    message_id: str
    task_id: str  # a run of the end user, still owned (its stop flag must stay unset unless the end user stops it)
    provider_secret: str
    tag_id: str  # a knowledge tag named "<tag>-tag", bound to the dataset
    parent_child_dataset_id: str  # a second economy dataset holding one parent-child (hierarchical_model) document
    parent_child_document_id: str  # indexed, with two parent segments
    parent_segment_id: str  # its first parent segment (two child chunks)
    child_chunk_id: str  # the first child chunk of that segment

    def app_id(self, mode: str = "chat") -> str:
        return self.apps[mode]["id"]


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), body(response)
    return body(response)


def seed_workspace(console: Console, db_session: Any, app: Flask, owner: Member, llm_url: str, *, tag: str,
                   member_email: str) -> Seed:
    """Fill `owner`'s current workspace: an app per mode (named with `tag`), an app key, a dataset key, a
    `normal` member, OpenAI credentials pointing at `llm_url`, an end user with a conversation, a message and
    a registered running task, and knowledge: a dataset with an indexed document, a knowledge tag bound to the
    dataset, and an unused upload file."""
    apps = {mode: console.create_app(owner, mode=mode, name=f"{tag}-{mode}-app") for mode in MODES}
    app_key = _created(console.call("post", f"/apps/{apps['chat']['id']}/api-keys", token=owner.token))
    dataset_key = _created(console.call("post", "/datasets/api-keys", token=owner.token))
    console.call("post", "/workspaces/current/members/invite-email", token=owner.token, expect=201,
                 json={"emails": [member_email], "role": "normal"})
    accounts = body(console.call("get", "/workspaces/current/members", token=owner.token, expect=200))["accounts"]
    member_id = next(a["id"] for a in accounts if a["email"] == member_email)
    secret = f"sk-{tag}-{uuid.uuid4().hex}"
    store_provider_credentials(db_session, app, owner.tenant_id, "openai",
                               {"openai_api_key": secret, "openai_api_base": llm_url})
    snapshot = service_auth_service.load_snapshot(db_session, apps["chat"]["id"])
    assert snapshot is not None
    end_user = service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user=f"{tag}-end-user",
                                                           required=True)
    conversation = Conversation(app_id=snapshot.id, mode="chat", name=f"{tag}-conversation", inputs={},
                                model_provider="openai", model_id="gpt-4o", status="normal",
                                invoke_from="service-api", from_source="api", from_end_user_id=end_user.id,
                                dialogue_count=1)
    db_session.add(conversation)
    db_session.flush()
    task_id = str(uuid.uuid4())
    message = Message(app_id=snapshot.id, conversation_id=conversation.id, inputs={}, query="hello",
                      answer=f"{tag}-answer", model_provider="openai", model_id="gpt-4o", status="normal",
                      invoke_from="service-api", from_source="api", from_end_user_id=end_user.id, app_mode="chat",
                      task_id=task_id)
    db_session.add(message)
    db_session.commit()
    dataset = _created(console.call("post", "/datasets", token=owner.token, json={
        "name": f"{tag}-dataset", "indexing_technique": "economy", "permission": "all_team_members"}))
    document = text_document(app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"],
                             name=f"{tag}-document", text=f"{tag}-segment-one about foxes.\n\n{tag}-segment-two.")
    segment_id = db_session.scalar(sa.select(DocumentSegment.id).where(DocumentSegment.document_id == document.id)
                                   .order_by(DocumentSegment.position).limit(1))
    upload_file_id = upload(app, db_session, tenant_id=owner.tenant_id, account_id=owner.account_id,
                            name=f"{tag}-upload.txt")
    knowledge_tag = _created(console.call("post", "/tags", token=owner.token,
                                          json={"name": f"{tag}-tag", "type": "knowledge"}))
    console.call("post", "/tag-bindings/create", token=owner.token, expect=200,
                 json={"tag_ids": [knowledge_tag["id"]], "target_id": dataset["id"], "type": "knowledge"})
    return Seed(owner=owner, member_id=member_id, apps=apps, app_key_id=app_key["id"], app_key=app_key["token"],
                dataset_key_id=dataset_key["id"], dataset_key=dataset_key["token"], dataset_id=dataset["id"],
                document_id=document.id, segment_id=segment_id, batch=document.batch, upload_file_id=upload_file_id,
                end_user_id=end_user.id, conversation_id=conversation.id, message_id=message.id, task_id=task_id,
                provider_secret=secret, tag_id=knowledge_tag["id"],
                **_parent_child(console, db_session, app, owner, tag))


PARENT_CHILD_RULE = {"mode": "hierarchical", "rules": {
    "parent_mode": "paragraph", "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
    "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}}


def _parent_child(console: Console, db_session: Any, app: Flask, owner: Member, tag: str) -> dict[str, str]:
    """A dataset with an indexed parent-child document: ids of the dataset, document, first parent segment and its
    first child chunk."""
    dataset = _created(console.call("post", "/datasets", token=owner.token, json={
        "name": f"{tag}-parent-child", "indexing_technique": "economy", "permission": "all_team_members"}))
    document = text_document(app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"],
                             name=f"{tag}-parent-child-document", rule=PARENT_CHILD_RULE,
                             text=f"{tag}-parent-one first child. Second child.\n\n{tag}-parent-two.")
    segment_id = db_session.scalar(sa.select(DocumentSegment.id).where(DocumentSegment.document_id == document.id)
                                   .order_by(DocumentSegment.position).limit(1))
    child_id = db_session.scalar(sa.select(ChildChunk.id).where(ChildChunk.segment_id == segment_id)
                                 .order_by(ChildChunk.position).limit(1))
    return {"parent_child_dataset_id": dataset["id"], "parent_child_document_id": document.id,
            "parent_segment_id": segment_id, "child_chunk_id": child_id}


def store_provider_credentials(db_session: Any, app: Flask, tenant_id: str, provider: str,
                               credentials: dict[str, Any]) -> None:
    """Store provider-level credentials as provider_service does, without its validation call."""
    with app.app_context():
        secret_key = get_runtime().settings.secret_key
    row = db_session.scalar(sa.select(ProviderCredential).where(ProviderCredential.tenant_id == tenant_id,
                                                                ProviderCredential.provider_name == provider))
    if row is None:
        row = ProviderCredential(tenant_id=tenant_id, provider_name=provider, encrypted_config="")
        db_session.add(row)
    row.encrypted_config = crypto.encrypt(secret_key, json.dumps(credentials))
    db_session.commit()


def stop_requested(app: Flask, task_id: str) -> bool:
    with app.app_context():
        return get_runtime().counters.get(redis_keys.run_stop_flag(task_id)) is not None
