"""The caller's own account: profile, name, password."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.libs import passwords
from api.models.account import Account
from api.services.errors import CurrentPasswordIncorrectError, InvalidInputError, RepeatPasswordNotMatchError


def update_name(session: Session, *, account: Account, name: str) -> Account:
    """Set the display name. Commits."""
    account.name = name
    session.commit()
    return account


def change_password(session: Session, *, account: Account, password: str | None, new_password: str,
                    repeat_new_password: str) -> Account:
    """Replace the password after checking the current one. Commits.

    Raises: RepeatPasswordNotMatchError, InvalidInputError (rule), CurrentPasswordIncorrectError.
    """
    if new_password != repeat_new_password:
        raise RepeatPasswordNotMatchError()
    if not passwords.is_valid_password(new_password):
        raise InvalidInputError(passwords.PASSWORD_RULE_MESSAGE, field="new_password")
    if account.password and not passwords.verify_password(password or "", account.password):
        raise CurrentPasswordIncorrectError()
    account.password = passwords.hash_password(new_password)
    session.commit()
    return account
