"""Password hashing with Argon2id (argon2-cffi) and Dify's password rule.

`verify_password` always does the same amount of work, also when there is no stored hash,
so a login for an unknown email costs what a login for a known one costs.
"""

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet baseline for Argon2id: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")
PASSWORD_PATTERN = re.compile(r"^(?=.*[a-zA-Z])(?=.*\d).{8,}$")
PASSWORD_RULE_MESSAGE = "Password must contain letters and numbers, and the length must be greater than 8."


def is_valid_password(password: str) -> bool:
    return bool(PASSWORD_PATTERN.match(password or "")) and len(password) <= 256


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """True when `password` matches `stored_hash`; constant work when the hash is missing."""
    try:
        ok = _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
