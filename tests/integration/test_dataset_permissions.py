"""`partial_members` datasets (§4.11 DatasetDetail and PATCH `partial_member_list[{user_id}]`, §11
dataset_permissions): listed members reach the dataset and everything under it, unlisted ones do not, the creator
and owners/admins always do, and switching to another permission clears the list."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from api.models.dataset import DatasetPermission
from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import dataset_key, text_document

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def console(client) -> Console:
    return Console(client)


@pytest.fixture
def owner(console):
    return console.setup_owner()


@pytest.fixture
def team(console, owner):
    """An editor (who creates the datasets), two normal members and an admin."""
    return {role: console.invite(owner, f"{role}@example.com", role.rstrip("0123456789"))
            for role in ("editor", "normal1", "normal2", "admin")}


def _partial(console, creator, members, name="Restricted"):
    return body(console.call("post", "/datasets", token=creator.token, expect=201, json={
        "name": name, "indexing_technique": "economy", "permission": "partial_members",
        "partial_member_list": [{"user_id": m.account_id} for m in members]}))


def _reach(console, member, dataset_id, document_id) -> list[int]:
    """Status of every dataset-scoped read the member tries: detail, documents, a document, its segments,
    hit-testing."""
    document = f"/datasets/{dataset_id}/documents/{document_id}"
    return [console.call("get", f"/datasets/{dataset_id}", token=member.token).status_code,
            console.call("get", f"/datasets/{dataset_id}/documents", token=member.token).status_code,
            console.call("get", document, token=member.token).status_code,
            console.call("get", f"{document}/segments", token=member.token).status_code,
            console.call("post", f"/datasets/{dataset_id}/hit-testing", token=member.token,
                         json={"query": "fox"}).status_code]


def _listed(console, member) -> list[str]:
    return [d["id"] for d in body(console.call("get", "/datasets", token=member.token, expect=200))["data"]]


def test_listed_member_reaches_the_dataset_and_an_unlisted_one_does_not(console, pg_app, db_session, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"]])
    document = text_document(pg_app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"])

    listed = _reach(console, team["normal1"], dataset["id"], document.id)
    unlisted = _reach(console, team["normal2"], dataset["id"], document.id)

    assert listed == [200] * 5
    assert unlisted == [403] * 5
    assert dataset["id"] in _listed(console, team["normal1"])
    assert dataset["id"] not in _listed(console, team["normal2"])


def test_creator_owner_and_admin_always_reach_a_partial_dataset(console, pg_app, db_session, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"]])  # the creator is not listed
    document = text_document(pg_app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"])

    for member in (team["editor"], owner, team["admin"]):
        assert _reach(console, member, dataset["id"], document.id) == [200] * 5
        assert dataset["id"] in _listed(console, member)


def test_detail_and_patch_answer_the_member_list(console, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"]])

    patched = console.call("patch", f"/datasets/{dataset['id']}", token=team["editor"].token, expect=200, json={
        "permission": "partial_members",
        "partial_member_list": [{"user_id": team["normal2"].account_id}, {"user_id": team["normal1"].account_id},
                                {"user_id": team["normal2"].account_id}]})
    detail = body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token, expect=200))

    assert dataset["partial_member_list"] == [team["normal1"].account_id]
    assert sorted(body(patched)["partial_member_list"]) == sorted([team["normal1"].account_id,
                                                                   team["normal2"].account_id])
    assert sorted(detail["partial_member_list"]) == sorted(body(patched)["partial_member_list"])
    assert detail["permission"] == "partial_members"


def test_patch_without_a_list_keeps_it_and_a_new_list_replaces_it(console, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"]])

    kept = body(console.call("patch", f"/datasets/{dataset['id']}", token=owner.token, expect=200,
                             json={"description": "changed"}))
    replaced = body(console.call("patch", f"/datasets/{dataset['id']}", token=owner.token, expect=200,
                                 json={"partial_member_list": [{"user_id": team["normal2"].account_id}]}))

    assert kept["partial_member_list"] == [team["normal1"].account_id]
    assert replaced["partial_member_list"] == [team["normal2"].account_id]
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["normal1"].token).status_code == 403
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["normal2"].token).status_code == 200


def test_switching_to_another_permission_clears_the_list(console, db_session, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"]])

    shared = body(console.call("patch", f"/datasets/{dataset['id']}", token=owner.token, expect=200,
                               json={"permission": "all_team_members"}))
    rows = db_session.scalars(sa.select(DatasetPermission).where(DatasetPermission.dataset_id == dataset["id"])).all()
    back = body(console.call("patch", f"/datasets/{dataset['id']}", token=owner.token, expect=200,
                             json={"permission": "partial_members"}))

    assert (shared["permission"], shared["partial_member_list"]) == ("all_team_members", [])
    assert rows == []
    assert back["partial_member_list"] == []
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["normal1"].token).status_code == 403
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["editor"].token).status_code == 200


def test_only_me_ignores_a_member_list(console, owner, team):
    created = body(console.call("post", "/datasets", token=owner.token, expect=201, json={
        "name": "Private", "permission": "only_me",
        "partial_member_list": [{"user_id": team["normal1"].account_id}]}))

    assert created["partial_member_list"] == []
    assert console.call("get", f"/datasets/{created['id']}", token=team["normal1"].token).status_code == 403


@pytest.mark.parametrize("case", ["another_workspace", "unknown", "not_a_uuid", "missing_user_id", "not_a_list"])
def test_member_list_rejects_users_who_are_not_members_and_changes_nothing(console, owner, team, case):
    dataset = _partial(console, team["editor"], [team["normal1"]])
    other = console.new_workspace_owner(owner, "other@example.com", "Elsewhere")  # then leaves this workspace
    console.call("delete", f"/workspaces/current/members/{other.account_id}", token=owner.token, expect=200)
    value = {
        "another_workspace": [{"user_id": other.account_id}],
        "unknown": [{"user_id": str(uuid.uuid4())}],
        "not_a_uuid": [{"user_id": "nope"}],
        "missing_user_id": [{"id": team["normal2"].account_id}],
        "not_a_list": {"user_id": team["normal2"].account_id},
    }[case]

    response = console.call("patch", f"/datasets/{dataset['id']}", token=owner.token,
                            json={"name": "Renamed", "permission": "partial_members", "partial_member_list": value})

    assert response.status_code == 400
    assert body(response)["code"] == "invalid_param"
    assert body(response)["params"].startswith("partial_member_list")
    detail = body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token, expect=200))
    assert (detail["name"], detail["partial_member_list"]) == ("Restricted", [team["normal1"].account_id])


def test_create_rejects_a_non_member_and_creates_nothing(console, owner):
    response = console.call("post", "/datasets", token=owner.token, json={
        "name": "Restricted", "permission": "partial_members", "partial_member_list": [{"user_id": str(uuid.uuid4())}]})

    assert (response.status_code, body(response)["params"]) == (400, "partial_member_list")
    assert body(console.call("get", "/datasets", token=owner.token, expect=200))["total"] == 0


def test_dataset_operator_cannot_change_permission_or_members(console, owner, team):
    operator = console.invite(owner, "op@example.com", "dataset_operator")
    dataset = _partial(console, team["editor"], [team["normal1"], operator])

    denied = [
        console.call("patch", f"/datasets/{dataset['id']}", token=operator.token,
                     json={"permission": "all_team_members"}),
        console.call("patch", f"/datasets/{dataset['id']}", token=operator.token,
                     json={"partial_member_list": [{"user_id": operator.account_id}]}),
    ]
    same = console.call("patch", f"/datasets/{dataset['id']}", token=operator.token, json={
        "description": "ok", "permission": "partial_members",
        "partial_member_list": [{"user_id": operator.account_id}, {"user_id": team["normal1"].account_id}]})

    assert [r.status_code for r in denied] == [403, 403]
    assert same.status_code == 200
    assert sorted(body(same)["partial_member_list"]) == sorted([team["normal1"].account_id, operator.account_id])


def test_removed_member_leaves_every_member_list(console, owner, team):
    dataset = _partial(console, team["editor"], [team["normal1"], team["normal2"]])

    console.call("delete", f"/workspaces/current/members/{team['normal1'].account_id}", token=owner.token,
                 expect=200)

    detail = body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token, expect=200))
    assert detail["partial_member_list"] == [team["normal2"].account_id]


def test_service_api_sets_and_reports_the_member_list(console, client, owner, team):
    key = bearer(dataset_key(console, owner.token))
    dataset = body(client.post("/v1/datasets", headers=key, json={"name": "Via API"}))

    patched = client.patch(f"/v1/datasets/{dataset['id']}", headers=key, json={
        "permission": "partial_members", "partial_member_list": [{"user_id": team["normal1"].account_id}]})
    detail = body(client.get(f"/v1/datasets/{dataset['id']}", headers=key))
    listed = body(client.get("/v1/datasets", headers=key))["data"][0]

    assert patched.status_code == 200
    assert body(patched)["partial_member_list"] == [team["normal1"].account_id]
    assert detail["partial_member_list"] == listed["partial_member_list"] == [team["normal1"].account_id]
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["normal1"].token).status_code == 200
    assert console.call("get", f"/datasets/{dataset['id']}", token=team["normal2"].token).status_code == 403
