"""Datasets (knowledge bases): list, create, read, update, delete, API access, and the figures a detail shows.

Visibility: every query filters by tenant (another workspace's dataset is DatasetNotFoundError, 404). Inside the
workspace the rule of dataset_permission_service applies (owners/admins see all; others see `all_team_members`
datasets, their own, and `partial_members` datasets that list them); a dataset the caller may not see is
PermissionDeniedError (403), as in Dify. Dataset editors (owner, admin, editor, dataset_operator) write; every
member reads; dataset operators may not change a dataset's permission or member list (Dify). The Service API acts
as the workspace owner (see `owner_principal`). Deleting a dataset removes its index
(indexing_service.remove_dataset_index), files, tag bindings and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.rag.errors import RuleError
from api.core.rag.retrieval import default_retrieval_model, normalise_retrieval_model
from api.extensions.runtime import Runtime
from api.libs.pagination import Page
from api.models.account import Account, Tenant, TenantAccountJoin
from api.models.app import App, AppModelConfig
from api.models.dataset import Dataset, Document
from api.models.enums import TenantRole, TenantStatus
from api.services import dataset_permission_service, dispatch, indexing_service, provider_service, tag_service
from api.services.errors import (
    DatasetApiDisabledError,
    DatasetInUseError,
    DatasetNameDuplicateError,
    DatasetNotFoundError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnauthorizedError,
)
from api.services.workspace_service import DATASET_EDITORS, Principal

INDEXING_TECHNIQUES = ("high_quality", "economy")
PERMISSIONS = ("only_me", "all_team_members", "partial_members")
DATASET_READERS = frozenset(TenantRole)
ACTIVE_STATUSES = ("waiting", "parsing", "cleaning", "splitting", "indexing")


@dataclass(frozen=True)
class DatasetStats:
    document_count: int = 0
    word_count: int = 0
    available_document_count: int = 0
    app_count: int = 0


def owner_principal(session: Session, *, tenant_id: str) -> Principal:
    """The workspace owner as a Principal: who a dataset key acts as (Dify runs knowledge API calls as the owner).

    Raises: UnauthorizedError (no owner), PermissionDeniedError (workspace archived).
    """
    row = session.execute(sa.select(Account, Tenant).join(TenantAccountJoin, TenantAccountJoin.account_id == Account.id)
                          .join(Tenant, Tenant.id == TenantAccountJoin.tenant_id)
                          .where(TenantAccountJoin.tenant_id == tenant_id, TenantAccountJoin.role == TenantRole.OWNER)
                          ).first()
    if row is None:
        raise UnauthorizedError("Access token is invalid")
    if row[1].status == TenantStatus.ARCHIVE:
        raise PermissionDeniedError("The workspace's status is archived.")
    return Principal(account=row[0], tenant=row[1], role=TenantRole.OWNER)


def list_datasets(session: Session, *, principal: Principal, page: int, limit: int, keyword: str | None = None,
                  tag_ids: list[str] | None = None) -> Page:
    """A page of the datasets the caller may see, newest first, optionally filtered by name and by tags (datasets
    carrying any of `tag_ids`; unknown tags match nothing, as in Dify)."""
    principal.require(DATASET_READERS)
    cond = [dataset_permission_service.visible_condition(principal)]
    if tag_ids:
        cond.append(Dataset.id.in_(tag_service.tagged_targets(tenant_id=principal.tenant_id,
                                                              tag_type=tag_service.KNOWLEDGE, tag_ids=tag_ids)))
    if keyword:
        escaped = keyword[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(Dataset.name.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(sa.select(sa.func.count(Dataset.id)).where(*cond)) or 0
    items = session.scalars(sa.select(Dataset).where(*cond).order_by(Dataset.created_at.desc(), Dataset.id.desc())
                            .offset((page - 1) * limit).limit(limit)).all()
    return Page(items=list(items), total=total, page=page, limit=limit)


def get_dataset(session: Session, *, principal: Principal, dataset_id: str, write: bool = False) -> Dataset:
    """The dataset `dataset_id` of the caller's workspace, checked for reading (or writing).

    Raises: DatasetNotFoundError (unknown or another workspace's), PermissionDeniedError (role, or a private
    dataset of another member).
    """
    principal.require(DATASET_EDITORS if write else DATASET_READERS)
    dataset = session.scalar(sa.select(Dataset).where(Dataset.id == dataset_id,
                                                      Dataset.tenant_id == principal.tenant_id))
    if dataset is None:
        raise DatasetNotFoundError()
    if not dataset_permission_service.can_see(session, principal=principal, dataset=dataset):
        raise PermissionDeniedError("You do not have permission to access this dataset.")
    return dataset


def get_api_dataset(session: Session, *, tenant_id: str, dataset_id: str) -> Dataset:
    """A dataset reached with a dataset key: it must be in the key's workspace and have API access on.

    Raises: DatasetNotFoundError, DatasetApiDisabledError (403).
    """
    dataset = session.scalar(sa.select(Dataset).where(Dataset.id == dataset_id, Dataset.tenant_id == tenant_id))
    if dataset is None:
        raise DatasetNotFoundError()
    if not dataset.enable_api:
        raise DatasetApiDisabledError()
    return dataset


def _check_name(session: Session, tenant_id: str, name: str, exclude_id: str | None = None) -> None:
    cond = [Dataset.tenant_id == tenant_id, Dataset.name == name]
    if exclude_id:
        cond.append(Dataset.id != exclude_id)
    if session.scalar(sa.select(Dataset.id).where(*cond).limit(1)):
        raise DatasetNameDuplicateError()


def validate_retrieval_model(raw: Any) -> dict[str, Any]:
    """Normalise a client's retrieval_model. Raises InvalidInputError naming the field."""
    try:
        return normalise_retrieval_model(raw)
    except RuleError as exc:
        raise InvalidInputError(exc.message, field=exc.field)


def normalise_embedding(session: Session, tenant_id: str, provider: str | None, model: str | None
                        ) -> tuple[str | None, str | None]:
    """(provider, model) with the provider id normalised; both None when neither is given.

    Raises: InvalidInputError (only one given, or an unknown provider).
    """
    if not provider and not model:
        return None, None
    if not provider or not model:
        raise InvalidInputError("embedding_model and embedding_model_provider go together.",
                                field="embedding_model_provider" if not provider else "embedding_model")
    try:
        return provider_service.normalise(provider), model
    except NotFoundError as exc:
        raise InvalidInputError(exc.message, field="embedding_model_provider")


def create_dataset(session: Session, *, principal: Principal, name: str, description: str = "",
                   indexing_technique: str | None = None, permission: str | None = None, provider: str = "vendor",
                   embedding_model: str | None = None, embedding_model_provider: str | None = None,
                   retrieval_model: dict[str, Any] | None = None,
                   partial_member_list: list[dict[str, str]] | None = None) -> Dataset:
    """Create an empty dataset (dataset editors). With permission `partial_members`, `partial_member_list`
    (`[{"user_id"}]`, members of the workspace) becomes its member list. Commits.

    Raises: PermissionDeniedError, DatasetNameDuplicateError (409), InvalidInputError (external provider,
    malformed retrieval model or embedding model, a listed user who is not a member).
    """
    principal.require(DATASET_EDITORS)
    if provider != "vendor":
        raise InvalidInputError("External knowledge bases are not supported.", field="provider")
    _check_name(session, principal.tenant_id, name)
    member_ids = _member_ids(session, principal, permission, partial_member_list)
    emb_provider, emb_model = normalise_embedding(session, principal.tenant_id, embedding_model_provider,
                                                  embedding_model)
    if indexing_technique == "high_quality" and emb_model is None:
        emb_provider, emb_model = default_embedding(session, tenant_id=principal.tenant_id)
    dataset = Dataset(tenant_id=principal.tenant_id, name=name, description=description or "", provider="vendor",
                      permission=permission or "only_me", indexing_technique=indexing_technique,
                      embedding_model=emb_model, embedding_model_provider=emb_provider,
                      retrieval_model=validate_retrieval_model(retrieval_model) if retrieval_model else None,
                      created_by=principal.account_id, updated_by=principal.account_id, enable_api=True)
    session.add(dataset)
    try:
        session.flush()
        if member_ids:
            dataset_permission_service.replace_members(session, dataset=dataset, account_ids=member_ids)
        session.commit()
    except sa.exc.IntegrityError:  # a concurrent create took the name first
        session.rollback()
        raise DatasetNameDuplicateError()
    return dataset


def _member_ids(session: Session, principal: Principal, permission: str | None,
                members: list[dict[str, str]] | None) -> list[str] | None:
    """The validated ids of a partial_member_list that applies (permission `partial_members`), else None."""
    if members is None or permission != dataset_permission_service.PARTIAL_MEMBERS:
        return None
    return dataset_permission_service.validate_member_ids(session, tenant_id=principal.tenant_id, members=members)


def default_embedding(session: Session, *, tenant_id: str) -> tuple[str | None, str | None]:
    """The workspace's default text-embedding model as (provider, model), or (None, None)."""
    row = provider_service.get_default_model(session, tenant_id=tenant_id, model_type="text-embedding")
    return (row.provider_name, row.model_name) if row else (None, None)


def update_dataset(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                   changes: dict[str, Any]) -> Dataset:
    """Apply name, description, permission, partial_member_list, indexing_technique, embedding model,
    retrieval_model (dataset editors who may see the dataset). Commits; when the indexing technique or embedding
    model changes, the dataset's index is dropped and every document is re-queued (dispatched after commit).

    Member list: while the (new or current) permission is `partial_members`, a given `partial_member_list`
    (`[{"user_id"}]`, even empty) replaces the list and an absent one keeps it; any other permission clears it.

    Raises: PermissionDeniedError (also a dataset operator changing the permission or the member list, as in
    Dify), DatasetNotFoundError, DatasetNameDuplicateError, InvalidInputError (incl. a listed user who is not a
    member of the workspace).
    """
    dataset = get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    member_ids = _member_ids(session, principal, changes.get("permission") or dataset.permission,
                             changes.get("partial_member_list"))
    if principal.role == TenantRole.DATASET_OPERATOR and (
            changes.get("permission") not in (None, dataset.permission)
            or (member_ids is not None and set(member_ids) != set(
                dataset_permission_service.member_lists(session, [dataset.id])[dataset.id]))):
        raise PermissionDeniedError("Dataset operators cannot change the dataset permissions.")
    if changes.get("name") is not None and changes["name"] != dataset.name:
        _check_name(session, principal.tenant_id, changes["name"], exclude_id=dataset.id)
        dataset.name = changes["name"]
    for key in ("description", "permission"):
        if changes.get(key) is not None:
            setattr(dataset, key, changes[key])
    if changes.get("retrieval_model") is not None:
        dataset.retrieval_model = validate_retrieval_model(changes["retrieval_model"])
    before = (dataset.indexing_technique, dataset.embedding_model_provider, dataset.embedding_model)
    if changes.get("indexing_technique") is not None:
        dataset.indexing_technique = changes["indexing_technique"]
    emb_provider, emb_model = normalise_embedding(session, principal.tenant_id, changes.get("embedding_model_provider"),
                                                  changes.get("embedding_model"))
    if emb_model is not None:
        dataset.embedding_model_provider, dataset.embedding_model = emb_provider, emb_model
    if dataset.indexing_technique == "high_quality" and not dataset.embedding_model:
        dataset.embedding_model_provider, dataset.embedding_model = default_embedding(session,
                                                                                      tenant_id=dataset.tenant_id)
    changed_index = before[0] is not None and before != (dataset.indexing_technique, dataset.embedding_model_provider,
                                                         dataset.embedding_model)
    dataset.updated_by = principal.account_id
    requeued = _requeue_all(session, dataset) if changed_index else []
    try:
        if dataset.permission != dataset_permission_service.PARTIAL_MEMBERS:
            dataset_permission_service.clear_members(session, dataset_id=dataset.id)
        elif member_ids is not None:
            dataset_permission_service.replace_members(session, dataset=dataset, account_ids=member_ids)
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise DatasetNameDuplicateError()
    if changed_index:
        # vectors of another model (or of a technique no longer used) must go; sources and segments stay, and
        # re-indexing rewrites the segments in place
        runtime.vector_store.delete_dataset(dataset.id)
        for document_id in requeued:
            dispatch.enqueue_index_document(runtime.dispatcher, document_id)
    return dataset


def _requeue_all(session: Session, dataset: Dataset) -> list[str]:
    """Reset every non-archived document to `waiting` (flushes only); their ids, to dispatch after commit."""
    ids = list(session.scalars(sa.select(Document.id).where(Document.dataset_id == dataset.id,
                                                            Document.archived.is_(False))))
    if ids:
        session.execute(sa.update(Document).where(Document.id.in_(ids)).values(
            indexing_status="waiting", error=None, completed_at=None, stopped_at=None, processing_started_at=None,
            lease_owner=None, lease_expires_at=None, attempts=0))
        session.flush()
    return ids


def set_api_access(session: Session, *, principal: Principal, dataset_id: str, enabled: bool) -> Dataset:
    """Turn the Service API on or off for one dataset (dataset editors). Commits."""
    dataset = get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    dataset.enable_api = enabled
    dataset.updated_by = principal.account_id
    session.commit()
    return dataset


def _apps_using(session: Session, tenant_id: str, dataset_ids: list[str]) -> dict[str, int]:
    """dataset id → number of the workspace's apps whose live model config lists it."""
    if not dataset_ids:
        return {}
    configs = session.execute(sa.select(AppModelConfig.dataset_configs).join(
        App, App.app_model_config_id == AppModelConfig.id).where(App.tenant_id == tenant_id,
                                                                 AppModelConfig.dataset_configs.is_not(None))).all()
    counts = dict.fromkeys(dataset_ids, 0)
    for (config,) in configs:
        items = ((config or {}).get("datasets") or {}).get("datasets") or [] if isinstance(config, dict) else []
        listed = {((item or {}).get("dataset") or {}).get("id") for item in items if isinstance(item, dict)}
        for dataset_id in listed & counts.keys():
            counts[dataset_id] += 1
    return counts


def delete_dataset(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str) -> None:
    """Delete a dataset with its documents, segments, index entries and files (dataset editors). Commits.

    Raises: PermissionDeniedError, DatasetNotFoundError, DatasetInUseError (409: an app uses it).
    """
    dataset = get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    if _apps_using(session, dataset.tenant_id, [dataset.id]).get(dataset.id):
        raise DatasetInUseError()
    # index entries, keywords, segments and source files first (commits), then the rows
    indexing_service.remove_dataset_index(session, runtime=runtime, dataset_id=dataset.id)
    tag_service.remove_target_bindings(session, tenant_id=dataset.tenant_id, target_id=dataset.id)
    # documents, segments, child chunks, keywords and the member list go with it (ON DELETE CASCADE)
    session.delete(dataset)
    session.commit()


def dataset_stats(session: Session, *, tenant_id: str, dataset_ids: list[str]) -> dict[str, DatasetStats]:
    """Document, word, available-document and app counts per dataset, in two queries."""
    if not dataset_ids:
        return {}
    available = sa.and_(Document.indexing_status == "completed", Document.enabled.is_(True),
                        Document.archived.is_(False))
    rows = session.execute(sa.select(Document.dataset_id, sa.func.count(Document.id),
                                     sa.func.coalesce(sa.func.sum(Document.word_count), 0),
                                     sa.func.sum(sa.case((available, 1), else_=0)))
                           .where(Document.dataset_id.in_(dataset_ids)).group_by(Document.dataset_id)).all()
    apps = _apps_using(session, tenant_id, dataset_ids)
    stats = {i: DatasetStats(app_count=apps.get(i, 0)) for i in dataset_ids}
    for dataset_id, count, words, avail in rows:
        stats[dataset_id] = DatasetStats(int(count), int(words or 0), int(avail or 0), apps.get(dataset_id, 0))
    return stats


def embedding_available(session: Session, *, tenant_id: str, datasets: list[Dataset]) -> dict[str, bool]:
    """Dify's `embedding_available`: false only for a high_quality dataset whose embedding model has no
    credentials in the workspace."""
    configured = provider_service.configured_providers(session, tenant_id)
    result = {}
    for dataset in datasets:
        if dataset.indexing_technique != "high_quality" or not dataset.embedding_model_provider:
            result[dataset.id] = True
            continue
        models = configured.get(dataset.embedding_model_provider)
        result[dataset.id] = models is not None and (
            dataset.embedding_model_provider in provider_service.PROVIDER_LEVEL
            or (dataset.embedding_model, "text-embedding") in models)
    return result


def retrieval_model_of(dataset: Dataset) -> dict[str, Any]:
    """The dataset's retrieval model with every key present (Dify's default when unset)."""
    return {**default_retrieval_model(), **(dataset.retrieval_model or {})}
