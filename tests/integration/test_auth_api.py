import sqlalchemy as sa

from api.libs import passwords
from api.libs.clock import utcnow
from api.models.account import Account, Invitation
from tests.helpers import PASSWORD, Console, bearer, body

LOGIN = "/console/api/login"


def test_setup_reports_not_started_then_finished(client):
    assert body(client.get("/console/api/setup")) == {"step": "not_started"}

    Console(client).setup_owner()

    status = body(client.get("/console/api/setup"))
    assert status["step"] == "finished"
    assert status["setup_at"]


def test_setup_twice_is_forbidden_with_already_setup(client):
    Console(client).setup_owner()

    response = client.post("/console/api/setup", json={"email": "x@example.com", "name": "X", "password": PASSWORD})

    assert response.status_code == 403
    assert body(response)["code"] == "already_setup"


def test_setup_rejects_weak_password_and_creates_nothing(client, db_session):
    response = client.post("/console/api/setup", json={"email": "a@example.com", "name": "A", "password": "abcdefgh"})

    assert response.status_code == 400
    assert body(response)["code"] == "invalid_param"
    assert db_session.scalar(sa.select(sa.func.count(Account.id))) == 0


def test_console_route_before_setup_answers_not_setup(client):
    response = client.get("/console/api/apps", headers=bearer("whatever"))

    assert response.status_code == 401
    assert body(response)["code"] == "not_setup"


def test_login_returns_token_pair_in_dify_shape(client):
    Console(client).setup_owner()

    response = client.post(LOGIN, json={"email": "OWNER@example.com", "password": PASSWORD, "remember_me": True})

    assert response.status_code == 200
    payload = body(response)
    assert payload["result"] == "success"
    assert set(payload["data"]) == {"access_token", "refresh_token", "expires_in"}
    assert len(payload["data"]["refresh_token"]) == 128


def test_login_answers_identically_for_wrong_password_and_unknown_email(client):
    Console(client).setup_owner()

    wrong = client.post(LOGIN, json={"email": "owner@example.com", "password": "wrong-passw0rd"})
    unknown = client.post(LOGIN, json={"email": "nobody@example.com", "password": "wrong-passw0rd"})

    assert wrong.status_code == unknown.status_code == 401
    assert body(wrong) == body(unknown) == {"code": "authentication_failed", "message": "Invalid email or password.",
                                            "status": 401}
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")


class _CountingHasher:
    def __init__(self, real):
        self.real, self.verifies, self.hashes = real, 0, 0

    def verify(self, *args):
        self.verifies += 1
        return self.real.verify(*args)

    def hash(self, *args):
        self.hashes += 1
        return self.real.hash(*args)

    def check_needs_rehash(self, *args):
        return self.real.check_needs_rehash(*args)


def test_login_does_one_argon2_verification_for_known_and_unknown_emails(client, monkeypatch):
    Console(client).setup_owner()
    counting = _CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)

    client.post(LOGIN, json={"email": "owner@example.com", "password": "wrong-passw0rd"})
    known = counting.verifies
    client.post(LOGIN, json={"email": "nobody@example.com", "password": "wrong-passw0rd"})

    assert known == 1
    assert counting.verifies - known == 1


def test_login_locks_account_after_five_failures_even_for_right_password(client):
    Console(client).setup_owner()
    for _ in range(5):
        assert client.post(LOGIN, json={"email": "owner@example.com", "password": "bad-passw0rd"}).status_code == 401

    response = client.post(LOGIN, json={"email": "owner@example.com", "password": PASSWORD})

    assert response.status_code == 429
    assert body(response)["code"] == "email_code_login_limit"
    assert int(response.headers["Retry-After"]) > 0


def test_login_lockout_looks_the_same_for_unknown_email(client):
    Console(client).setup_owner()
    for _ in range(5):
        client.post(LOGIN, json={"email": "ghost@example.com", "password": "bad-passw0rd"})

    response = client.post(LOGIN, json={"email": "ghost@example.com", "password": "bad-passw0rd"})

    assert response.status_code == 429
    assert body(response)["code"] == "email_code_login_limit"


def test_login_is_rate_limited_per_ip_across_emails(client):
    Console(client).setup_owner()
    for i in range(30):
        client.post(LOGIN, json={"email": f"user{i}@example.com", "password": "bad-passw0rd"})

    response = client.post(LOGIN, json={"email": "owner@example.com", "password": PASSWORD})

    assert response.status_code == 429
    assert body(response)["code"] == "too_many_requests"


def test_refresh_token_rotates_and_old_one_stops_working(client):
    owner = Console(client).setup_owner()

    first = client.post("/console/api/refresh-token", json={"refresh_token": owner.refresh_token})
    replay = client.post("/console/api/refresh-token", json={"refresh_token": owner.refresh_token})

    assert first.status_code == 200
    new = body(first)["data"]
    assert new["refresh_token"] != owner.refresh_token
    assert client.get("/console/api/account/profile", headers=bearer(new["access_token"])).status_code == 200
    assert replay.status_code == 401
    assert body(replay)["code"] == "unauthorized"


def test_logout_revokes_the_given_refresh_token(client):
    console = Console(client)
    owner = console.setup_owner()
    other = console.login(owner.email)

    response = client.post("/console/api/logout", headers=owner.headers, json={"refresh_token": owner.refresh_token})

    assert body(response) == {"result": "success"}
    assert client.post("/console/api/refresh-token", json={"refresh_token": owner.refresh_token}).status_code == 401
    assert client.post("/console/api/refresh-token", json={"refresh_token": other.refresh_token}).status_code == 200


def test_logout_without_body_revokes_every_refresh_token(client):
    console = Console(client)
    owner = console.setup_owner()
    other = console.login(owner.email)

    assert client.post("/console/api/logout", headers=owner.headers).status_code == 200

    for token in (owner.refresh_token, other.refresh_token):
        assert client.post("/console/api/refresh-token", json={"refresh_token": token}).status_code == 401


def test_console_rejects_missing_and_invalid_bearer_tokens(client):
    Console(client).setup_owner()

    missing = client.get("/console/api/account/profile")
    garbage = client.get("/console/api/account/profile", headers=bearer("garbage"))

    assert missing.status_code == garbage.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert body(garbage)["message"] == "Invalid token."


def _invite_link(client, owner, email):
    result = body(client.post("/console/api/workspaces/current/members/invite-email", headers=owner.headers,
                              json={"emails": [email], "role": "editor"}))
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(result["invitation_results"][0]["url"]).query)
    return query["email"][0], query["token"][0]


def test_activation_token_works_once_and_then_login_succeeds(client):
    owner = Console(client).setup_owner()
    email, token = _invite_link(client, owner, "new@example.com")
    payload = {"email": email, "token": token, "name": "New", "password": PASSWORD}

    check = body(client.get("/console/api/activate/check", query_string={"email": email, "token": token}))
    first = client.post("/console/api/activate", json=payload)
    second = client.post("/console/api/activate", json=payload)

    assert check["is_valid"] is True
    assert check["data"]["workspace_id"] == owner.tenant_id
    assert first.status_code == 200
    assert second.status_code == 400
    assert body(second)["code"] == "invalid_or_expired_token"
    assert client.post(LOGIN, json={"email": email, "password": PASSWORD}).status_code == 200


def test_activation_answers_identically_for_wrong_email_unknown_token_and_expired_token(client, db_session):
    owner = Console(client).setup_owner()
    email, token = _invite_link(client, owner, "new@example.com")
    base = {"name": "New", "password": PASSWORD}
    db_session.execute(sa.update(Invitation).values(expires_at=utcnow()))
    db_session.commit()

    answers = [client.post("/console/api/activate", json={**base, "email": e, "token": t})
               for e, t in (("other@example.com", token), (email, "unknown-token"), (email, token))]

    assert {a.status_code for a in answers} == {400}
    assert len({str(body(a)) for a in answers}) == 1


def test_password_change_checks_current_password_and_repeat(client):
    owner = Console(client).setup_owner()
    url = "/console/api/account/password"

    mismatch = client.post(url, headers=owner.headers, json={"password": PASSWORD, "new_password": "newpassw0rd",
                                                             "repeat_new_password": "other"})
    wrong = client.post(url, headers=owner.headers, json={"password": "wrong-passw0rd", "new_password": "newpassw0rd",
                                                          "repeat_new_password": "newpassw0rd"})
    ok = client.post(url, headers=owner.headers, json={"password": PASSWORD, "new_password": "newpassw0rd",
                                                       "repeat_new_password": "newpassw0rd"})

    assert body(mismatch)["code"] == "repeat_password_not_match"
    assert body(wrong)["code"] == "current_password_incorrect"
    assert ok.status_code == 200
    assert client.post(LOGIN, json={"email": owner.email, "password": "newpassw0rd"}).status_code == 200


def test_profile_and_name_change(client):
    owner = Console(client).setup_owner()

    renamed = client.post("/console/api/account/name", headers=owner.headers, json={"name": "Renamed"})
    profile = body(client.get("/console/api/account/profile", headers=owner.headers))

    assert renamed.status_code == 200
    assert profile["name"] == "Renamed"
    assert profile["email"] == owner.email
    assert profile["is_password_set"] is True
