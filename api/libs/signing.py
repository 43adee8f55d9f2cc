"""HMAC-signed, expiring file URLs (Dify's file-preview scheme)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time


def _sign(secret: str, file_id: str, timestamp: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def signed_query(secret: str, file_id: str) -> str:
    timestamp, nonce = str(int(time.time())), os.urandom(16).hex()
    return f"timestamp={timestamp}&nonce={nonce}&sign={_sign(secret, file_id, timestamp, nonce)}"


def verify(secret: str, file_id: str, timestamp: str, nonce: str, sign: str, *, max_age: int) -> bool:
    if not timestamp.isdigit() or int(time.time()) - int(timestamp) > max_age:
        return False
    return hmac.compare_digest(_sign(secret, file_id, timestamp, nonce), sign)
