"""Workspace members: list, invite by email (activation link, no mail server), change role, remove.

Capabilities follow Dify: owner and admin invite; only the owner changes roles or removes
members; nobody operates on themselves; making someone owner demotes the current owner to admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.config import Settings
from api.models.account import Account, Invitation, TenantAccountJoin
from api.models.enums import AccountStatus, TenantRole
from api.services import auth_service, dataset_permission_service
from api.services.errors import CannotOperateSelfError, InvalidRoleError, MemberNotFoundError
from api.services.workspace_service import PRIVILEGED, Principal

INVITABLE_ROLES = frozenset({TenantRole.ADMIN, TenantRole.EDITOR, TenantRole.NORMAL, TenantRole.DATASET_OPERATOR})
ALL_ROLES = INVITABLE_ROLES | {TenantRole.OWNER}


@dataclass(frozen=True)
class InvitationResult:
    status: str
    email: str
    url: str | None = None
    message: str | None = None


def list_members(session: Session, *, tenant_id: str, roles: frozenset[str] | None = None
                 ) -> list[tuple[Account, str]]:
    """(account, role) for every member of the workspace, oldest membership first."""
    stmt = (sa.select(Account, TenantAccountJoin.role)
            .join(TenantAccountJoin, TenantAccountJoin.account_id == Account.id)
            .where(TenantAccountJoin.tenant_id == tenant_id)
            .order_by(TenantAccountJoin.created_at))
    if roles:
        stmt = stmt.where(TenantAccountJoin.role.in_(roles))
    return [(a, r) for a, r in session.execute(stmt).all()]


def invite_members(session: Session, *, settings: Settings, principal: Principal, emails: list[str], role: str,
                   language: str | None, console_web_url: str) -> list[InvitationResult]:
    """Invite each email with `role`; return Dify's per-email results.

    New emails get a pending account and a single-use activation link; existing accounts
    are added directly and pointed at sign-in (an invitation never resets a password).
    Writes: accounts, tenant_account_joins, invitations; commits once.
    Raises: PermissionDeniedError (not owner/admin), InvalidRoleError (owner or unknown role).
    """
    principal.require(PRIVILEGED)
    if role not in INVITABLE_ROLES:
        raise InvalidRoleError()
    results: list[InvitationResult] = []
    for raw in dict.fromkeys(e.strip().lower() for e in emails):
        account = session.scalar(sa.select(Account).where(Account.email == raw))
        if account is None:
            account = Account(email=raw, name=raw.split("@")[0], status=AccountStatus.PENDING,
                              interface_language=language or "en-US")
            session.add(account)
            session.flush()
        join = session.scalar(sa.select(TenantAccountJoin).where(
            TenantAccountJoin.tenant_id == principal.tenant_id, TenantAccountJoin.account_id == account.id))
        if join is None:
            session.add(TenantAccountJoin(tenant_id=principal.tenant_id, account_id=account.id, role=role,
                                          invited_by=principal.account_id, current=False))
            session.flush()
        if account.status == AccountStatus.PENDING:
            token = auth_service.issue_invitation(session, settings=settings, tenant_id=principal.tenant_id,
                                                  account_id=account.id, invited_by=principal.account_id)
            query = urlencode({"email": raw, "token": token})
            results.append(InvitationResult("success", raw, url=f"{console_web_url}/activate?{query}"))
        else:
            results.append(InvitationResult("success", raw, url=f"{console_web_url}/signin"))
    session.commit()
    return results


def _get_member(session: Session, tenant_id: str, member_id: str) -> TenantAccountJoin:
    join = session.scalar(sa.select(TenantAccountJoin).where(
        TenantAccountJoin.tenant_id == tenant_id, TenantAccountJoin.account_id == member_id))
    if join is None:
        raise MemberNotFoundError()
    return join


def update_role(session: Session, *, principal: Principal, member_id: str, role: str) -> None:
    """Change a member's role (owner only). Commits.

    Raises: PermissionDeniedError, InvalidRoleError (unknown or unchanged role),
    CannotOperateSelfError, MemberNotFoundError.
    """
    principal.require(frozenset({TenantRole.OWNER}))
    if role not in ALL_ROLES:
        raise InvalidRoleError()
    join = _get_member(session, principal.tenant_id, member_id)
    if member_id == principal.account_id:
        raise CannotOperateSelfError()
    if join.role == role:
        raise InvalidRoleError("The member already has this role.")
    if role == TenantRole.OWNER:
        session.execute(sa.update(TenantAccountJoin).where(
            TenantAccountJoin.tenant_id == principal.tenant_id, TenantAccountJoin.role == TenantRole.OWNER,
        ).values(role=TenantRole.ADMIN))
    join.role = role
    session.commit()


def remove_member(session: Session, *, principal: Principal, member_id: str) -> None:
    """Remove a member from the workspace (owner only), void their open invitations and take them off every
    partial-member list of the workspace's datasets. Commits.

    Raises: PermissionDeniedError, CannotOperateSelfError, MemberNotFoundError.
    """
    principal.require(frozenset({TenantRole.OWNER}))
    join = _get_member(session, principal.tenant_id, member_id)
    if member_id == principal.account_id:
        raise CannotOperateSelfError()
    session.delete(join)
    session.execute(sa.delete(Invitation).where(Invitation.tenant_id == principal.tenant_id,
                                                Invitation.account_id == member_id))
    dataset_permission_service.remove_member_everywhere(session, tenant_id=principal.tenant_id, account_id=member_id)
    session.commit()
