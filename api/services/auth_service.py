"""Setup, login, refresh-token rotation, logout and invitation activation.

Invariants:
- Answers for a known and an unknown email are identical in status, body and work done
  (one Argon2 operation on every path), so accounts cannot be enumerated.
- Refresh and activation tokens come from `secrets` and only their SHA-256 digests are stored;
  both are consumed with a conditional UPDATE, so each works at most once.
- Failed logins are counted per account (email) and per client IP in the shared CounterStore.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.config import Settings
from api.core.ports import CounterStore
from api.extensions import redis_keys
from api.libs import jwt, passwords, secret_tokens
from api.libs.clock import utcnow
from api.models.account import Account, DifySetup, Invitation, RefreshToken, Tenant
from api.models.enums import AccountStatus
from api.services import workspace_service
from api.services.errors import (
    AccountBannedError,
    AlreadySetupError,
    AuthenticationFailedError,
    InvalidActivationTokenError,
    InvalidInputError,
    InvalidRefreshTokenError,
    LoginLimitError,
    TooManyRequestsError,
)

SETUP_VERSION = "0.1.0"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def get_setup(session: Session) -> DifySetup | None:
    """The setup marker row, or None before the first account exists."""
    return session.scalar(sa.select(DifySetup).limit(1))


def setup(session: Session, *, email: str, name: str, password: str, language: str | None) -> Account:
    """Create the first account, its workspace (as owner) and the setup marker.

    Writes: accounts, tenants, tenant_account_joins, dify_setups; commits once.
    Raises: AlreadySetupError when setup already ran or any workspace exists;
    InvalidInputError when the password breaks the rule.
    """
    if not passwords.is_valid_password(password):
        raise InvalidInputError(passwords.PASSWORD_RULE_MESSAGE, field="password")
    if get_setup(session) is not None or session.scalar(sa.select(sa.func.count(Tenant.id))):
        raise AlreadySetupError()
    account = Account(email=email.strip().lower(), name=name, password=passwords.hash_password(password),
                      status=AccountStatus.ACTIVE, interface_language=language or "en-US", initialized_at=utcnow())
    session.add(account)
    session.flush()
    workspace_service.create_workspace_for(session, account=account, name=f"{name}'s Workspace")
    session.add(DifySetup(version=SETUP_VERSION, setup_at=utcnow()))
    session.commit()
    return account


def _check_login_limits(counters: CounterStore, settings: Settings, email: str, ip: str) -> None:
    account_key, ip_key = redis_keys.login_failures_account(email), redis_keys.login_failures_ip(ip)
    if counters.get_int(account_key) >= settings.login_max_failures_per_account:
        raise LoginLimitError(retry_after=counters.ttl(account_key), limit=settings.login_max_failures_per_account)
    if counters.get_int(ip_key) >= settings.login_max_failures_per_ip:
        raise TooManyRequestsError("Too many failed login attempts from this address. Please try again later.",
                                   retry_after=counters.ttl(ip_key), limit=settings.login_max_failures_per_ip)


def login(session: Session, *, counters: CounterStore, settings: Settings, email: str, password: str,
          ip: str) -> TokenPair:
    """Verify credentials and issue a token pair.

    Writes: last_login_at/ip, pending → active, one refresh_tokens row; commits once.
    Raises: LoginLimitError / TooManyRequestsError (429) before checking the password when the
    account or the IP has too many recent failures; AuthenticationFailedError for a wrong
    password or unknown email (same answer); AccountBannedError for banned/closed accounts.
    """
    email = email.strip().lower()
    _check_login_limits(counters, settings, email, ip)
    account = session.scalar(sa.select(Account).where(Account.email == email))
    if not passwords.verify_password(password, account.password if account else None) or account is None:
        counters.incr(redis_keys.login_failures_account(email), ttl_seconds=settings.login_lockout_duration)
        counters.incr(redis_keys.login_failures_ip(ip), ttl_seconds=settings.login_ip_window_seconds)
        raise AuthenticationFailedError()
    if account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
        raise AccountBannedError()
    counters.delete(redis_keys.login_failures_account(email))
    if account.password and passwords.needs_rehash(account.password):
        account.password = passwords.hash_password(password)
    if account.status == AccountStatus.PENDING:
        account.status = AccountStatus.ACTIVE
        account.initialized_at = account.initialized_at or utcnow()
    account.last_login_at, account.last_login_ip = utcnow(), ip
    pair = _issue_pair(session, settings, account.id)
    session.commit()
    return pair


def _issue_pair(session: Session, settings: Settings, account_id: str) -> TokenPair:
    ttl = settings.access_token_expire_minutes * 60
    refresh = secrets.token_hex(64)  # 128 hex characters, as Dify's
    now = utcnow()
    session.add(RefreshToken(account_id=account_id, token_hash=secret_tokens.digest(refresh), created_at=now,
                             expires_at=now + timedelta(days=settings.refresh_token_expire_days)))
    access = jwt.issue_access_token(settings.secret_key, account_id=account_id, ttl_seconds=ttl)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def refresh(session: Session, *, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate: revoke the presented refresh token and issue a new pair.

    Writes: marks the old token revoked, inserts the new one; commits once.
    Raises: InvalidRefreshTokenError for unknown, revoked, expired or already-rotated tokens.
    """
    now = utcnow()
    token_hash = secret_tokens.digest(refresh_token)
    account_id = session.scalar(
        sa.update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.revoked_at.is_(None),
               RefreshToken.expires_at > now)
        .values(revoked_at=now)
        .returning(RefreshToken.account_id)
    )
    if account_id is None:
        session.rollback()
        raise InvalidRefreshTokenError()
    account = session.get(Account, account_id)
    if account is None or account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
        session.rollback()
        raise InvalidRefreshTokenError()
    pair = _issue_pair(session, settings, account_id)
    session.commit()
    return pair


def logout(session: Session, *, account_id: str, refresh_token: str | None) -> None:
    """Revoke one refresh token of the caller, or all of them when none is given. Commits."""
    stmt = sa.update(RefreshToken).where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
    if refresh_token:
        stmt = stmt.where(RefreshToken.token_hash == secret_tokens.digest(refresh_token))
    session.execute(stmt.values(revoked_at=utcnow()))
    session.commit()


def _find_open_invitation(session: Session, token: str, now: datetime) -> Invitation | None:
    return session.scalar(sa.select(Invitation).where(
        Invitation.token_hash == secret_tokens.digest(token), Invitation.used_at.is_(None),
        Invitation.expires_at > now))


def check_activation(session: Session, *, email: str, token: str, workspace_id: str | None) -> dict | None:
    """Workspace and email an invitation token is good for, or None (same for every failure)."""
    invitation = _find_open_invitation(session, token, utcnow())
    if invitation is None or (workspace_id and invitation.tenant_id != workspace_id):
        return None
    account = session.get(Account, invitation.account_id)
    tenant = session.get(Tenant, invitation.tenant_id)
    if account is None or tenant is None or account.email != email.strip().lower():
        return None
    return {"workspace_name": tenant.name, "workspace_id": tenant.id, "email": account.email}


def activate(session: Session, *, email: str, token: str, workspace_id: str | None, name: str, password: str,
             interface_language: str | None, timezone: str | None) -> None:
    """Consume an invitation: set the invitee's name and password and make the account active.

    The password is hashed before the token is looked up, so every answer costs the same.
    Writes: invitations.used_at (conditional: single use), the account; commits once.
    Raises: InvalidActivationTokenError for any unknown, used, expired or mismatched token.
    """
    if not passwords.is_valid_password(password):
        raise InvalidInputError(passwords.PASSWORD_RULE_MESSAGE, field="password")
    password_hash = passwords.hash_password(password)
    now = utcnow()
    invitation = _find_open_invitation(session, token, now)
    account = session.get(Account, invitation.account_id) if invitation else None
    if (invitation is None or account is None or account.email != email.strip().lower()
            or (workspace_id and invitation.tenant_id != workspace_id)):
        raise InvalidActivationTokenError()
    claimed = session.execute(
        sa.update(Invitation).where(Invitation.id == invitation.id, Invitation.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise InvalidActivationTokenError()
    account.name, account.password = name, password_hash
    account.status, account.initialized_at = AccountStatus.ACTIVE, now
    account.interface_language = interface_language or account.interface_language
    account.timezone = timezone or account.timezone
    workspace_service.set_current(session, account_id=account.id, tenant_id=invitation.tenant_id)
    session.commit()


def issue_invitation(session: Session, *, settings: Settings, tenant_id: str, account_id: str,
                     invited_by: str) -> str:
    """Create a fresh activation token (older open ones for the same pair are revoked). Flushes only."""
    now = utcnow()
    session.execute(sa.update(Invitation).where(
        Invitation.tenant_id == tenant_id, Invitation.account_id == account_id, Invitation.used_at.is_(None),
    ).values(used_at=now))
    token = secret_tokens.random_alnum(43)
    session.add(Invitation(tenant_id=tenant_id, account_id=account_id, invited_by=invited_by, created_at=now,
                           token_hash=secret_tokens.digest(token),
                           expires_at=now + timedelta(hours=settings.invite_expiry_hours)))
    session.flush()
    return token

