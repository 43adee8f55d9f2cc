"""Tags of apps and datasets, and their bindings (reference §4.13 console, §7.2 Service API).

A tag belongs to one workspace and has a type: `knowledge` tags bind to datasets, `app` tags to apps. Names are
unique per workspace and type (Dify answers 400 "Tag name already exists"). Every lookup filters by tenant: a tag,
dataset or app of another workspace is 404, exactly like an unknown id.

Roles follow Dify, kept consistent with this codebase's app and dataset rules: knowledge tags are created, renamed
and bound by dataset editors (owner, admin, editor, dataset_operator), app tags by editors (dataset operators
cannot touch apps); deleting a tag takes an editor (Dify's `is_editor`); listing app tags takes an app reader.
Binding also checks the target: a dataset the caller may see (dataset_permission_service) or a live app of the
workspace. Writes that change an app's tag names invalidate its cached snapshot (the Service API `/info` lists
them). Deleting a dataset or an app removes its bindings (`remove_target_bindings`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.extensions import redis_keys
from api.extensions.cache import InvalidatingCache
from api.libs.clock import utcnow
from api.models.app import App
from api.models.dataset import Dataset
from api.models.tag import Tag, TagBinding
from api.services import dataset_permission_service
from api.services.errors import (
    AppNotFoundError,
    DatasetNotFoundError,
    PermissionDeniedError,
    TagNameDuplicateError,
    TagNotFoundError,
)
from api.services.workspace_service import APP_READERS, DATASET_EDITORS, EDITORS, Principal

KNOWLEDGE, APP = "knowledge", "app"
TAG_TYPES = (KNOWLEDGE, APP)


@dataclass(frozen=True)
class TagView:
    id: str
    name: str
    type: str
    binding_count: int


def _writers(tag_type: str) -> frozenset[str]:
    return DATASET_EDITORS if tag_type == KNOWLEDGE else EDITORS


def _escape(keyword: str) -> str:
    return keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_tags(session: Session, *, principal: Principal, tag_type: str, keyword: str | None = None
              ) -> list[TagView]:
    """The workspace's tags of `tag_type`, newest first, with their binding counts; `keyword` keeps names that
    contain it (case-insensitive). An empty type lists nothing (Dify). App tags need an app reader.

    Raises: PermissionDeniedError.
    """
    if tag_type == APP:
        principal.require(APP_READERS)
    if tag_type not in TAG_TYPES:
        return []
    count = sa.func.count(TagBinding.id)
    stmt = (sa.select(Tag.id, Tag.name, Tag.type, count).outerjoin(TagBinding, TagBinding.tag_id == Tag.id)
            .where(Tag.tenant_id == principal.tenant_id, Tag.type == tag_type)
            .group_by(Tag.id, Tag.name, Tag.type, Tag.created_at).order_by(Tag.created_at.desc(), Tag.id.desc()))
    if keyword:
        stmt = stmt.where(Tag.name.ilike(f"%{_escape(keyword[:255])}%", escape="\\"))
    return [TagView(i, n, t, int(c)) for i, n, t, c in session.execute(stmt).all()]


def get_tag(session: Session, *, tenant_id: str, tag_id: str, tag_type: str | None = None) -> Tag:
    """The tag `tag_id` of the workspace (of `tag_type` when given). Raises TagNotFoundError."""
    cond = [Tag.id == tag_id.lower(), Tag.tenant_id == tenant_id]
    if tag_type is not None:
        cond.append(Tag.type == tag_type)
    tag = session.scalar(sa.select(Tag).where(*cond))
    if tag is None:
        raise TagNotFoundError()
    return tag


def _check_name(session: Session, tenant_id: str, tag_type: str, name: str, exclude_id: str | None = None) -> None:
    cond = [Tag.tenant_id == tenant_id, Tag.type == tag_type, Tag.name == name]
    if exclude_id is not None:
        cond.append(Tag.id != exclude_id)
    if session.scalar(sa.select(Tag.id).where(*cond).limit(1)) is not None:
        raise TagNameDuplicateError(field="name")


def _binding_count(session: Session, tag_id: str) -> int:
    return session.scalar(sa.select(sa.func.count(TagBinding.id)).where(TagBinding.tag_id == tag_id)) or 0


def _bound_apps(session: Session, tag_ids: list[str]) -> list[str]:
    return list(session.scalars(sa.select(TagBinding.target_id).where(TagBinding.tag_id.in_(tag_ids)).distinct()))


def _invalidate_apps(cache: InvalidatingCache, app_ids: Iterable[str]) -> None:
    keys = [redis_keys.cache_app(i) for i in dict.fromkeys(app_ids)]
    if keys:
        cache.invalidate(*keys)


def create_tag(session: Session, *, principal: Principal, name: str, tag_type: str) -> TagView:
    """Create a tag (knowledge: dataset editors; app: editors). Commits.

    Raises: PermissionDeniedError, TagNameDuplicateError (400 invalid_param).
    """
    principal.require(_writers(tag_type))
    _check_name(session, principal.tenant_id, tag_type, name)
    tag = Tag(tenant_id=principal.tenant_id, type=tag_type, name=name, created_by=principal.account_id,
              created_at=utcnow())
    session.add(tag)
    session.commit()
    return TagView(tag.id, tag.name, tag.type, 0)


def update_tag(session: Session, *, principal: Principal, cache: InvalidatingCache, tag_id: str, name: str,
               tag_type: str | None = None) -> TagView:
    """Rename a tag (writers of its type); its type never changes. `tag_type` restricts the lookup (the Service
    API reaches knowledge tags only). Commits; the apps an app tag is bound to are invalidated.

    Raises: TagNotFoundError, PermissionDeniedError, TagNameDuplicateError.
    """
    tag = get_tag(session, tenant_id=principal.tenant_id, tag_id=tag_id, tag_type=tag_type)
    principal.require(_writers(tag.type))
    _check_name(session, principal.tenant_id, tag.type, name, exclude_id=tag.id)
    tag.name = name
    session.commit()
    if tag.type == APP:
        _invalidate_apps(cache, _bound_apps(session, [tag.id]))
    return TagView(tag.id, tag.name, tag.type, _binding_count(session, tag.id))


def delete_tag(session: Session, *, principal: Principal, cache: InvalidatingCache, tag_id: str,
               tag_type: str | None = None) -> None:
    """Delete a tag and all its bindings (editors, as Dify). Commits; bound apps are invalidated.

    Raises: PermissionDeniedError, TagNotFoundError.
    """
    principal.require(EDITORS)
    tag = get_tag(session, tenant_id=principal.tenant_id, tag_id=tag_id, tag_type=tag_type)
    apps = _bound_apps(session, [tag.id]) if tag.type == APP else []
    session.execute(sa.delete(TagBinding).where(TagBinding.tag_id == tag.id))
    session.delete(tag)
    session.commit()
    _invalidate_apps(cache, apps)


def _check_target(session: Session, principal: Principal, tag_type: str, target_id: str) -> None:
    if tag_type == KNOWLEDGE:
        dataset = session.scalar(sa.select(Dataset).where(Dataset.id == target_id,
                                                          Dataset.tenant_id == principal.tenant_id))
        if dataset is None:
            raise DatasetNotFoundError()
        if not dataset_permission_service.can_see(session, principal=principal, dataset=dataset):
            raise PermissionDeniedError("You do not have permission to access this dataset.")
        return
    if session.scalar(sa.select(App.id).where(App.id == target_id, App.tenant_id == principal.tenant_id,
                                              App.status == "normal")) is None:
        raise AppNotFoundError()


def _tags_of_type(session: Session, principal: Principal, tag_type: str, tag_ids: list[str]) -> list[str]:
    ids = list(dict.fromkeys(t.lower() for t in tag_ids))
    found = set(session.scalars(sa.select(Tag.id).where(Tag.id.in_(ids), Tag.tenant_id == principal.tenant_id,
                                                        Tag.type == tag_type))) if ids else set()
    if len(found) != len(ids):
        raise TagNotFoundError()
    return ids


def bind(session: Session, *, principal: Principal, cache: InvalidatingCache, tag_type: str, tag_ids: list[str],
         target_id: str) -> None:
    """Bind tags of `tag_type` to a dataset (knowledge) or an app; already bound tags are skipped. Commits.

    Raises: PermissionDeniedError (role, or a dataset the caller may not see), DatasetNotFoundError /
    AppNotFoundError (no such target in the workspace), TagNotFoundError (any tag unknown, of another workspace
    or of the other type: nothing is bound).
    """
    principal.require(_writers(tag_type))
    target_id = target_id.lower()
    _check_target(session, principal, tag_type, target_id)
    ids = _tags_of_type(session, principal, tag_type, tag_ids)
    for attempt in range(2):  # a concurrent bind of the same tag loses on the unique key: recompute once
        bound = set(session.scalars(sa.select(TagBinding.tag_id).where(TagBinding.target_id == target_id,
                                                                       TagBinding.tag_id.in_(ids)))) if ids else set()
        now = utcnow()
        session.add_all(TagBinding(tenant_id=principal.tenant_id, tag_id=tag_id, target_id=target_id,
                                   created_by=principal.account_id, created_at=now)
                        for tag_id in ids if tag_id not in bound)
        try:
            session.commit()
            break
        except sa.exc.IntegrityError:
            session.rollback()
            if attempt:
                raise
    if tag_type == APP:
        _invalidate_apps(cache, [target_id])


def unbind(session: Session, *, principal: Principal, cache: InvalidatingCache, tag_type: str, tag_ids: list[str],
           target_id: str) -> None:
    """Remove bindings of tags of `tag_type` from a dataset or an app; tags not bound are skipped. Commits.

    Raises: as `bind`.
    """
    principal.require(_writers(tag_type))
    target_id = target_id.lower()
    _check_target(session, principal, tag_type, target_id)
    ids = _tags_of_type(session, principal, tag_type, tag_ids)
    if ids:
        session.execute(sa.delete(TagBinding).where(TagBinding.target_id == target_id, TagBinding.tag_id.in_(ids)))
    session.commit()
    if tag_type == APP:
        _invalidate_apps(cache, [target_id])


def tags_of(session: Session, *, tenant_id: str, tag_type: str, target_ids: list[str]) -> dict[str, list[Tag]]:
    """target id → its tags of `tag_type` (by name), in one query."""
    result: dict[str, list[Tag]] = {i: [] for i in target_ids}
    if not target_ids:
        return result
    rows = session.execute(sa.select(TagBinding.target_id, Tag).join(Tag, Tag.id == TagBinding.tag_id)
                           .where(TagBinding.target_id.in_(target_ids), TagBinding.tenant_id == tenant_id,
                                  Tag.tenant_id == tenant_id, Tag.type == tag_type)
                           .order_by(Tag.name, Tag.id)).all()
    for target_id, tag in rows:
        result[target_id].append(tag)
    return result


def tagged_targets(*, tenant_id: str, tag_type: str, tag_ids: list[str]) -> sa.Select:
    """A subquery of the ids of the workspace's targets that carry any of `tag_ids` (of `tag_type`): for list
    filters (`Dataset.id.in_(...)`). Unknown ids match nothing."""
    return (sa.select(TagBinding.target_id).join(Tag, Tag.id == TagBinding.tag_id)
            .where(Tag.id.in_([t.lower() for t in tag_ids]), Tag.tenant_id == tenant_id, Tag.type == tag_type,
                   TagBinding.tenant_id == tenant_id))


def remove_target_bindings(session: Session, *, tenant_id: str, target_id: str) -> None:
    """Drop every tag binding of a dataset or app that is being deleted. Flushes only."""
    session.execute(sa.delete(TagBinding).where(TagBinding.tenant_id == tenant_id, TagBinding.target_id == target_id))
    session.flush()
