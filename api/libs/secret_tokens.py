"""Random tokens and their at-rest digests (API keys, refresh tokens, activation tokens).

Tokens are 24+ random characters from `secrets`, so a single fast SHA-256 is the right
digest: a slow KDF adds nothing against brute force of 143 bits and would cost every request.
"""

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mask(token: str) -> str:
    """First 8 and last 4 characters, as the key listing shows them."""
    return f"{token[:8]}…{token[-4:]}"
