"""No password, token or key ever reaches a log record, even at DEBUG and on errors."""

import logging
from urllib.parse import parse_qs, urlparse

from tests.helpers import PASSWORD, Console, bearer, body


def test_full_flow_logs_no_secret(client, caplog):
    caplog.set_level(logging.DEBUG)
    console = Console(client)
    owner = console.setup_owner()
    app = console.create_app(owner)
    key = console.create_key(owner, app["id"])
    dataset_key = body(client.post("/console/api/datasets/api-keys", headers=owner.headers))["token"]
    invite = body(client.post("/console/api/workspaces/current/members/invite-email", headers=owner.headers,
                              json={"emails": ["n@example.com"], "role": "editor"}))
    invite_token = parse_qs(urlparse(invite["invitation_results"][0]["url"]).query)["token"][0]
    client.get("/console/api/activate/check", query_string={"email": "n@example.com", "token": invite_token})
    client.post("/console/api/activate", json={"email": "n@example.com", "token": invite_token, "name": "N",
                                               "password": "An0ther-passw0rd"})
    refreshed = body(client.post("/console/api/refresh-token", json={"refresh_token": owner.refresh_token}))
    client.post("/console/api/login", json={"email": owner.email, "password": "wrong-" + PASSWORD})
    client.get("/v1/parameters", headers=bearer(key))
    client.get("/v1/parameters", headers=bearer(key + "x"))
    client.post("/console/api/account/password", headers=owner.headers,
                json={"password": "wrong-" + PASSWORD, "new_password": "x", "repeat_new_password": "x"})

    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    secrets = [PASSWORD, "An0ther-passw0rd", owner.token, owner.refresh_token, refreshed["data"]["access_token"],
               refreshed["data"]["refresh_token"], key, dataset_key, invite_token]
    assert caplog.records, "expected request log lines"
    assert [s[:12] for s in secrets if s in logged] == []
