import pytest

from tests.helpers import Console, body

MEMBERS = "/console/api/workspaces/current/members"


def test_workspaces_list_and_create_and_switch(client):
    console = Console(client)
    owner = console.setup_owner()

    created = client.post("/console/api/workspaces", headers=owner.headers, json={"name": "Second"})
    listed = body(client.get("/console/api/workspaces", headers=owner.headers))["workspaces"]
    switched = client.post("/console/api/workspaces/switch", headers=owner.headers,
                           json={"tenant_id": owner.tenant_id})
    current = body(client.post("/console/api/workspaces/current", headers=owner.headers))

    assert created.status_code == 201
    assert body(created)["role"] == "owner"
    assert body(created)["current"] is True
    assert {w["name"] for w in listed} == {"Owner's Workspace", "Second"}
    assert [w["current"] for w in listed if w["name"] == "Second"] == [True]
    assert switched.status_code == 200
    assert body(switched)["new_tenant"]["id"] == owner.tenant_id
    assert current["id"] == owner.tenant_id
    assert current["role"] == "owner"


def test_switch_to_a_workspace_you_are_not_in_is_404(client):
    console = Console(client)
    owner = console.setup_owner()
    stranger = console.new_workspace_owner(owner, "s@example.com", "Stranger's")
    client.delete(f"{MEMBERS}/{stranger.account_id}", headers=owner.headers)

    response = client.post("/console/api/workspaces/switch", headers=stranger.headers,
                           json={"tenant_id": owner.tenant_id})

    assert response.status_code == 404


def test_rename_workspace_requires_owner_or_admin(client):
    console = Console(client)
    owner = console.setup_owner()
    editor = console.invite(owner, "e@example.com", "editor")

    denied = client.post("/console/api/workspaces/info", headers=editor.headers, json={"name": "Nope"})
    allowed = client.post("/console/api/workspaces/info", headers=owner.headers, json={"name": "Renamed"})

    assert denied.status_code == 403
    assert body(allowed)["tenant"]["name"] == "Renamed"


def test_invite_returns_activation_link_and_lists_pending_member(client):
    owner = Console(client).setup_owner()

    result = body(client.post(f"{MEMBERS}/invite-email", headers=owner.headers,
                              json={"emails": ["new@example.com"], "role": "normal"}))
    members = body(client.get(MEMBERS, headers=owner.headers))["accounts"]

    url = result["invitation_results"][0]["url"]
    assert result["result"] == "success"
    assert result["tenant_id"] == owner.tenant_id
    assert "/activate?" in url
    assert "email=new%40example.com" in url
    assert "token=" in url
    assert {(m["email"], m["role"], m["status"]) for m in members} >= {("new@example.com", "normal", "pending")}


def test_invite_existing_account_adds_it_and_points_to_signin(client):
    console = Console(client)
    owner = console.setup_owner()
    other = console.new_workspace_owner(owner, "o@example.com", "Other")
    owner2 = console.login(owner.email)
    client.delete(f"{MEMBERS}/{other.account_id}", headers=owner2.headers)

    result = body(client.post(f"{MEMBERS}/invite-email", headers=owner.headers,
                              json={"emails": ["o@example.com"], "role": "editor"}))

    assert result["invitation_results"][0]["url"].endswith("/signin")


@pytest.mark.parametrize("role", ["owner", "superuser"])
def test_invite_with_owner_or_unknown_role_is_invalid_role(client, role):
    owner = Console(client).setup_owner()

    response = client.post(f"{MEMBERS}/invite-email", headers=owner.headers, json={"emails": ["x@example.com"],
                                                                                   "role": role})

    assert response.status_code == 400
    assert body(response)["code"] == "invalid-role"


def test_owner_changes_role_and_owner_transfer_demotes_to_admin(client):
    console = Console(client)
    owner = console.setup_owner()
    member = console.invite(owner, "m@example.com", "normal")

    to_admin = client.put(f"{MEMBERS}/{member.account_id}/update-role", headers=owner.headers, json={"role": "admin"})
    same = client.put(f"{MEMBERS}/{member.account_id}/update-role", headers=owner.headers, json={"role": "admin"})
    to_owner = client.put(f"{MEMBERS}/{member.account_id}/update-role", headers=owner.headers, json={"role": "owner"})
    roles = {m["email"]: m["role"] for m in body(client.get(MEMBERS, headers=member.headers))["accounts"]}

    assert to_admin.status_code == 200
    assert same.status_code == 400
    assert to_owner.status_code == 200
    assert roles == {"owner@example.com": "admin", "m@example.com": "owner"}


def test_owner_cannot_operate_on_self(client):
    owner = Console(client).setup_owner()

    remove = client.delete(f"{MEMBERS}/{owner.account_id}", headers=owner.headers)
    demote = client.put(f"{MEMBERS}/{owner.account_id}/update-role", headers=owner.headers, json={"role": "admin"})

    assert body(remove)["code"] == body(demote)["code"] == "cannot-operate-self"


def test_removed_member_loses_access_to_workspace(client):
    console = Console(client)
    owner = console.setup_owner()
    member = console.invite(owner, "m@example.com", "editor")

    removed = client.delete(f"{MEMBERS}/{member.account_id}", headers=owner.headers)
    after = client.get("/console/api/apps", headers=member.headers)

    assert body(removed) == {"result": "success", "tenant_id": owner.tenant_id}
    assert after.status_code == 403
    assert body(after)["code"] == "account_not_link_tenant"


def test_unknown_member_is_404(client):
    owner = Console(client).setup_owner()

    response = client.delete(f"{MEMBERS}/00000000-0000-4000-8000-000000000000", headers=owner.headers)

    assert response.status_code == 404
    assert body(response)["code"] == "member-not-found"


def test_dataset_operators_list_only_that_role(client):
    console = Console(client)
    owner = console.setup_owner()
    console.invite(owner, "d@example.com", "dataset_operator")
    console.invite(owner, "e@example.com", "editor")

    accounts = body(client.get("/console/api/workspaces/current/dataset-operators", headers=owner.headers))["accounts"]

    assert [a["email"] for a in accounts] == ["d@example.com"]
