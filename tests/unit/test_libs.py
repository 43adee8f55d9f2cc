import time

import argon2
import jwt as pyjwt
import pytest

from api.libs import jwt, passwords, secret_tokens
from api.libs.uuid7 import is_uuid, uuid7

SECRET = "s" * 40


def test_hash_password_roundtrip_and_rejects_wrong_password(production_password_hashing):
    stored = passwords.hash_password("passw0rd1")

    assert stored.startswith("$argon2id$")
    parameters = argon2.extract_parameters(stored)  # OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19456, 2, 1)
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


def test_sse_encode_matches_the_standard_encoder_compactly():
    import dataclasses
    import datetime
    import decimal
    import json

    from api.libs import sse

    @dataclasses.dataclass
    class Point:
        x: int

    event = {"event": "message", "answer": "héllo 世界", "n": 3, "f": 0.1, "none": None, "nested": {"a": [1, 2]},
             "when": datetime.datetime(2026, 1, 2, 3, 4, 5), "price": decimal.Decimal("0.0012"), 7: "int key",
             "point": Point(1), "big": 2**70}
    standard = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    assert sse.encode(event) == standard
    small = {k: v for k, v in event.items() if k != "big"}
    assert sse.encode(small) == json.dumps(small, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    raw = sse.RawEvent.of(sse.encode({"event": "message_end", "id": "x"}))
    assert raw.name == "message_end"
    assert raw.decode() == {"event": "message_end", "id": "x"}


@pytest.mark.parametrize(("chunks", "lines"), [
    ([b"a\nb\n"], [b"a", b"b"]),
    ([b"a\r", b"\nb\r\n"], [b"a", b"b"]),  # a CRLF split over two chunks is one line break
    ([b"a\r\n\r\n", b"data: x"], [b"a", b"", b"data: x"]),  # an unterminated last line still comes out
    ([b"da", b"ta: 1\n", b"", b"\n"], [b"data: 1", b""]),
    ([b"x\ry\rz"], [b"x", b"y", b"z"]),
    ([b"x\r", b"\r\n"], [b"x", b""]),
    ([b"x\r", b"y\n"], [b"x", b"y"]),
])
def test_byte_lines_split_on_lf_crlf_and_cr_across_chunks(chunks, lines):
    from api.core.model_runtime.providers._base import iter_byte_lines

    assert list(iter_byte_lines(iter(chunks))) == lines
