import time

import jwt as pyjwt
import pytest

from api.libs import jwt, passwords, secret_tokens
from api.libs.uuid7 import is_uuid, uuid7

SECRET = "s" * 40


def test_hash_password_roundtrip_and_rejects_wrong_password():
    stored = passwords.hash_password("passw0rd1")

    assert stored.startswith("$argon2id$")
    assert passwords.verify_password("passw0rd1", stored)
    assert not passwords.verify_password("passw0rd2", stored)


def test_verify_password_is_false_without_a_stored_hash():
    assert not passwords.verify_password("timing-equaliser-not-a-password", None)


@pytest.mark.parametrize(("password", "ok"), [("abcdefg1", True), ("abcdefgh", False), ("12345678", False),
                                              ("abc1", False), ("", False)])
def test_password_rule_matches_difys(password, ok):
    assert passwords.is_valid_password(password) is ok


def test_access_token_roundtrip_carries_account_id():
    token = jwt.issue_access_token(SECRET, account_id="acc-1", ttl_seconds=60)

    assert jwt.verify_access_token(SECRET, token) == "acc-1"


def test_verify_access_token_rejects_expired_tampered_and_foreign_tokens():
    expired = jwt.issue_access_token(SECRET, account_id="a", ttl_seconds=-1)
    foreign = pyjwt.encode({"user_id": "a", "exp": time.time() + 60, "iss": "SELF_HOSTED",
                            "sub": "Console API Passport"}, "other-secret" * 4, algorithm="HS256")
    passport = pyjwt.encode({"user_id": "a", "exp": time.time() + 60, "iss": "SELF_HOSTED", "token_source": "web",
                             "sub": "Console API Passport"}, SECRET, algorithm="HS256")

    for token, message in ((expired, "expired"), (foreign, "signature"), (passport, "Invalid token"),
                           ("not.a.jwt", "Invalid token")):
        with pytest.raises(jwt.TokenError, match=message):
            jwt.verify_access_token(SECRET, token)


def test_random_alnum_and_mask():
    token = "app-" + secret_tokens.random_alnum(24)

    assert len(token) == 28
    assert token[4:].isalnum()
    assert secret_tokens.mask(token) == f"{token[:8]}…{token[-4:]}"
    assert secret_tokens.digest(token) != token
    assert len(secret_tokens.digest(token)) == 64


def test_uuid7_is_time_ordered_and_valid():
    ids = [str(uuid7()) for _ in range(50)]

    assert all(is_uuid(i) and i[14] == "7" for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
    assert not is_uuid("not-a-uuid")
