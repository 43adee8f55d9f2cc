"""Who may see a dataset inside its workspace, and the member list of a `partial_members` dataset
(reference §4.11, §11 `dataset_permissions`).

The one place the visibility rule lives (list filter and per-dataset check alike): owners and admins see every
dataset of the workspace; any other member sees `all_team_members` datasets, the datasets they created (whatever
their permission), and `partial_members` datasets whose member list names them. The list is kept only while the
dataset's permission is `partial_members`; switching to another permission clears it.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.libs.clock import utcnow
from api.models.account import TenantAccountJoin
from api.models.dataset import Dataset, DatasetPermission
from api.services.errors import InvalidInputError
from api.services.workspace_service import PRIVILEGED, Principal

PARTIAL_MEMBERS = "partial_members"
ALL_TEAM_MEMBERS = "all_team_members"


def _listed_for(principal: Principal) -> sa.Select:
    return sa.select(DatasetPermission.dataset_id).where(DatasetPermission.account_id == principal.account_id,
                                                         DatasetPermission.tenant_id == principal.tenant_id,
                                                         DatasetPermission.has_permission.is_(True))


def visible_condition(principal: Principal) -> sa.ColumnElement[bool]:
    """SQL condition on Dataset: the datasets of the caller's workspace the caller may see."""
    in_tenant = Dataset.tenant_id == principal.tenant_id
    if principal.role in PRIVILEGED:
        return in_tenant
    return sa.and_(in_tenant, sa.or_(
        Dataset.permission == ALL_TEAM_MEMBERS, Dataset.created_by == principal.account_id,
        sa.and_(Dataset.permission == PARTIAL_MEMBERS, Dataset.id.in_(_listed_for(principal)))))


def can_see(session: Session, *, principal: Principal, dataset: Dataset) -> bool:
    """Whether the caller may see `dataset` (which must be of the caller's workspace: callers check the tenant)."""
    if principal.role in PRIVILEGED or dataset.permission == ALL_TEAM_MEMBERS:
        return True
    if dataset.created_by == principal.account_id:
        return True
    if dataset.permission != PARTIAL_MEMBERS:
        return False
    return session.scalar(_listed_for(principal).where(DatasetPermission.dataset_id == dataset.id).limit(1)) \
        is not None


def member_lists(session: Session, dataset_ids: list[str]) -> dict[str, list[str]]:
    """dataset id → account ids of its partial-member list (oldest grant first), in one query."""
    result: dict[str, list[str]] = {i: [] for i in dataset_ids}
    if not dataset_ids:
        return result
    rows = session.execute(sa.select(DatasetPermission.dataset_id, DatasetPermission.account_id)
                           .where(DatasetPermission.dataset_id.in_(dataset_ids))
                           .order_by(DatasetPermission.created_at, DatasetPermission.id)).all()
    for dataset_id, account_id in rows:
        result[dataset_id].append(account_id)
    return result


def validate_member_ids(session: Session, *, tenant_id: str, members: Iterable[dict[str, str]]) -> list[str]:
    """The distinct `user_id`s of a `partial_member_list` (`[{"user_id"}]`), each checked to be a member of the
    workspace. Reads only.

    Raises: InvalidInputError (400 invalid_param, field `partial_member_list`) naming the first unknown id.
    """
    ids = list(dict.fromkeys(str(m["user_id"]).lower() for m in members))
    if not ids:
        return []
    known = set(session.scalars(sa.select(TenantAccountJoin.account_id).where(
        TenantAccountJoin.tenant_id == tenant_id, TenantAccountJoin.account_id.in_(ids))))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise InvalidInputError(f"User {unknown[0]} is not a member of this workspace.", field="partial_member_list")
    return ids


def replace_members(session: Session, *, dataset: Dataset, account_ids: list[str]) -> None:
    """Make `account_ids` (already validated) the dataset's whole partial-member list. Flushes only."""
    clear_members(session, dataset_id=dataset.id)
    now = utcnow()
    session.add_all(DatasetPermission(dataset_id=dataset.id, account_id=account_id, tenant_id=dataset.tenant_id,
                                      has_permission=True, created_at=now) for account_id in account_ids)
    session.flush()


def clear_members(session: Session, *, dataset_id: str) -> None:
    """Remove the dataset's partial-member list. Flushes only."""
    session.execute(sa.delete(DatasetPermission).where(DatasetPermission.dataset_id == dataset_id))
    session.flush()


def remove_member_everywhere(session: Session, *, tenant_id: str, account_id: str) -> None:
    """Drop an account from every partial-member list of the workspace (it left the workspace). Flushes only."""
    session.execute(sa.delete(DatasetPermission).where(DatasetPermission.tenant_id == tenant_id,
                                                       DatasetPermission.account_id == account_id))
    session.flush()
