"""Symmetric encryption of secrets at rest (provider credentials): Fernet (AES-128-CBC + HMAC-SHA256)
with a key derived from SECRET_KEY by HKDF-SHA256, so the same SECRET_KEY decrypts everywhere."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    pass


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"openify-credentials",
               info=b"provider-credentials-v1").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("credentials cannot be decrypted with the current SECRET_KEY")


def mask_secret(value: str) -> str:
    """Dify-style masking: first 6 + stars + last 2 (short values fully starred)."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:6] + "*" * 12 + value[-2:]
