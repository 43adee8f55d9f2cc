"""Validate a request's `inputs` against an app's `user_input_form` (Dify's rules).

Unknown keys are dropped; missing optional values take their default; strings lose NUL
characters. Violations raise InputValidationError naming the variable.
"""

from __future__ import annotations

from typing import Any

from api.core.errors import CoreError

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class InputValidationError(CoreError):
    code = "invalid_param"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _text(variable: str, value: Any, spec: dict[str, Any]) -> str:
    if not isinstance(value, str):
        raise InputValidationError(variable, f"{variable} in input form must be a string")
    value = value.replace("\x00", "")
    max_length = spec.get("max_length") or 0
    if max_length and len(value) > max_length:
        raise InputValidationError(variable, f"{variable} in input form must be less than {max_length} characters")
    return value


def _number(variable: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise InputValidationError(variable, f"{variable} in input form must be a valid number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            pass
    raise InputValidationError(variable, f"{variable} in input form must be a valid number")


def _checkbox(variable: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise InputValidationError(variable, f"{variable} in input form must be a boolean")


def _coerce(kind: str, variable: str, value: Any, spec: dict[str, Any]) -> Any:
    if kind in ("text-input", "paragraph"):
        return _text(variable, value, spec)
    if kind == "select":
        value = _text(variable, value, {})
        if value not in (spec.get("options") or []):
            raise InputValidationError(variable, f"{variable} in input form must be one of the following: "
                                                 f"{spec.get('options') or []}")
        return value
    if kind == "number":
        return _number(variable, value)
    if kind == "checkbox":
        return _checkbox(variable, value)
    if kind == "json_object":
        if not isinstance(value, dict):
            raise InputValidationError(variable, f"{variable} in input form must be an object")
        return value
    if kind == "file":
        if not isinstance(value, dict):
            raise InputValidationError(variable, f"{variable} in input form must be a file")
        return value
    if kind == "file-list":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InputValidationError(variable, f"{variable} in input form must be a list of files")
        if spec.get("max_length") and len(value) > spec["max_length"]:
            raise InputValidationError(variable, f"{variable} in input form accepts at most {spec['max_length']} files")
        return value
    return value


def validate_inputs(form: list[dict[str, Any]], inputs: dict[str, Any]) -> dict[str, Any]:
    """Return the cleaned inputs for `form`; raise InputValidationError on the first violation."""
    clean: dict[str, Any] = {}
    for item in form or []:
        kind, spec = next(iter(item.items()))
        variable = spec["variable"]
        value = inputs.get(variable)
        if value is None or value == "":
            if spec.get("required"):
                raise InputValidationError(variable, f"{variable} is required in input form")
            default = spec.get("default")
            clean[variable] = default if default is not None else ("" if kind in ("text-input", "paragraph",
                                                                                   "select") else None)
            continue
        clean[variable] = _coerce(kind, variable, value, spec)
    return clean
