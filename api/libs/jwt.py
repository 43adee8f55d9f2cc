"""HS256 access tokens (PyJWT) with Dify's claims."""

import time

import jwt as pyjwt

ISSUER = "SELF_HOSTED"
SUBJECT = "Console API Passport"


class TokenError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def issue_access_token(secret: str, *, account_id: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"user_id": account_id, "exp": now + ttl_seconds, "iat": now, "iss": ISSUER, "sub": SUBJECT}
    return pyjwt.encode(claims, secret, algorithm="HS256")


def verify_access_token(secret: str, token: str) -> str:
    """Return the account id carried by a valid token; raise TokenError otherwise."""
    try:
        claims = pyjwt.decode(
            token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "user_id", "sub"]}
        )
    except pyjwt.ExpiredSignatureError:
        raise TokenError("Token has expired.")
    except pyjwt.InvalidSignatureError:
        raise TokenError("Invalid token signature.")
    except pyjwt.PyJWTError:
        raise TokenError("Invalid token.")
    if claims.get("sub") != SUBJECT or "token_source" in claims or not isinstance(claims.get("user_id"), str):
        raise TokenError("Invalid token.")
    return claims["user_id"]
