"""Workspaces (tenants): membership resolution, create, switch, rename, and role capabilities.

Every console request resolves the caller's *current* workspace here: the join flagged
`current`, else the oldest join (which then becomes current).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.models.account import Account, Tenant, TenantAccountJoin
from api.models.enums import AccountStatus, TenantRole, TenantStatus
from api.services.errors import (
    PermissionDeniedError,
    UnauthorizedError,
    WorkspaceNotFoundError,
    WorkspaceNotFoundForAccountError,
)

PRIVILEGED = frozenset({TenantRole.OWNER, TenantRole.ADMIN})
EDITORS = frozenset({TenantRole.OWNER, TenantRole.ADMIN, TenantRole.EDITOR})
DATASET_EDITORS = EDITORS | {TenantRole.DATASET_OPERATOR}
APP_READERS = frozenset({TenantRole.OWNER, TenantRole.ADMIN, TenantRole.EDITOR, TenantRole.NORMAL})


@dataclass(frozen=True)
class Principal:
    """The authenticated console caller in their current workspace."""

    account: Account
    tenant: Tenant
    role: str

    @property
    def account_id(self) -> str:
        """The id of the acting account."""
        return self.account.id

    @property
    def tenant_id(self) -> str:
        """The id of the current workspace."""
        return self.tenant.id

    def require(self, roles: frozenset[str]) -> None:
        """Raise PermissionDeniedError unless the caller's role is in `roles`."""
        if self.role not in roles:
            raise PermissionDeniedError()


def create_workspace_for(session: Session, *, account: Account, name: str) -> tuple[Tenant, TenantAccountJoin]:
    """Create a workspace owned by `account` and make it current. Flushes only."""
    tenant = Tenant(name=name, plan="basic", status=TenantStatus.NORMAL)
    session.add(tenant)
    session.flush()
    session.execute(sa.update(TenantAccountJoin).where(TenantAccountJoin.account_id == account.id)
                    .values(current=False))
    join = TenantAccountJoin(tenant_id=tenant.id, account_id=account.id, role=TenantRole.OWNER, current=True)
    session.add(join)
    session.flush()
    return tenant, join


def create_workspace(session: Session, *, principal: Principal, name: str) -> tuple[Tenant, TenantAccountJoin]:
    """Create a workspace owned by the caller and switch to it. Commits."""
    tenant, join = create_workspace_for(session, account=principal.account, name=name)
    session.commit()
    return tenant, join


def resolve_principal(session: Session, *, account_id: str) -> Principal:
    """Load the account and its current workspace membership for an authenticated request.

    Raises: UnauthorizedError (unknown, banned or closed account),
    WorkspaceNotFoundForAccountError (the account belongs to no active workspace).
    """
    rows = session.execute(
        sa.select(Account, Tenant, TenantAccountJoin)
        .join(TenantAccountJoin, TenantAccountJoin.account_id == Account.id)
        .join(Tenant, Tenant.id == TenantAccountJoin.tenant_id)
        .where(Account.id == account_id, Tenant.status == TenantStatus.NORMAL)
        .order_by(TenantAccountJoin.current.desc(), TenantAccountJoin.created_at)
    ).all()
    if not rows:
        account = session.get(Account, account_id)
        if account is None or account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
            raise UnauthorizedError("Account is banned." if account else "Invalid token.")
        raise WorkspaceNotFoundForAccountError()
    account, tenant, join = rows[0]
    if account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
        raise UnauthorizedError("Account is banned.")
    if not join.current:
        join.current = True
        session.commit()
    return Principal(account=account, tenant=tenant, role=join.role)


def list_workspaces(session: Session, *, account_id: str) -> list[tuple[Tenant, TenantAccountJoin]]:
    """Every normal workspace the account belongs to, oldest first."""
    rows = session.execute(
        sa.select(Tenant, TenantAccountJoin)
        .join(TenantAccountJoin, TenantAccountJoin.tenant_id == Tenant.id)
        .where(TenantAccountJoin.account_id == account_id, Tenant.status == TenantStatus.NORMAL)
        .order_by(Tenant.created_at)
    ).all()
    return [(t, j) for t, j in rows]


def set_current(session: Session, *, account_id: str, tenant_id: str) -> None:
    """Flag `tenant_id` as the account's current workspace. Flushes only."""
    session.execute(sa.update(TenantAccountJoin).where(TenantAccountJoin.account_id == account_id)
                    .values(current=sa.case((TenantAccountJoin.tenant_id == tenant_id, True), else_=False)))
    session.flush()


def switch_workspace(session: Session, *, principal: Principal, tenant_id: str) -> Tenant:
    """Make `tenant_id` current for the caller. Commits.

    Raises: WorkspaceNotFoundError when the caller is not a member (404: ids are not probeable).
    """
    tenant = session.scalar(
        sa.select(Tenant).join(TenantAccountJoin, TenantAccountJoin.tenant_id == Tenant.id)
        .where(TenantAccountJoin.account_id == principal.account_id, Tenant.id == tenant_id,
               Tenant.status == TenantStatus.NORMAL)
    )
    if tenant is None:
        raise WorkspaceNotFoundError()
    set_current(session, account_id=principal.account_id, tenant_id=tenant_id)
    session.commit()
    return tenant


def rename_workspace(session: Session, *, principal: Principal, name: str) -> Tenant:
    """Rename the current workspace (owner/admin). Commits. Raises PermissionDeniedError."""
    principal.require(PRIVILEGED)
    principal.tenant.name = name
    session.commit()
    return principal.tenant
