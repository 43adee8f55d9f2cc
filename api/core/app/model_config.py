"""Validation and defaults for an app's model config (reference §9.3), per app mode.

`validate_model_config(mode, config)` returns a normalised copy with every feature key
present (Dify's defaults), or raises ModelConfigError naming the offending field. Unknown
keys are dropped, as Dify drops them.
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

from api.core.errors import CoreError

PROVIDERS = ("openai", "openai_api_compatible", "anthropic", "azure_openai", "ollama")
INPUT_TYPES = ("text-input", "select", "paragraph", "number", "file", "file-list", "checkbox", "json_object",
               "external_data_tool")
FILE_TYPES = ("image", "document", "audio", "video", "custom")
TRANSFER_METHODS = ("remote_url", "local_file")
_VARIABLE = re.compile(r"^(?!\d)[\w\u4e00-\u9fa5]{1,100}$")

DEFAULT_FEATURES: dict[str, Any] = {
    "opening_statement": "",
    "suggested_questions": [],
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False, "voice": "", "language": ""},
    "retriever_resource": {"enabled": True},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "external_data_tools": [],
    "user_input_form": [],
    "dataset_query_variable": "",
    "pre_prompt": "",
    "agent_mode": {"enabled": False, "strategy": None, "tools": [], "prompt": None},
    "prompt_type": "simple",
    "chat_prompt_config": {},
    "completion_prompt_config": {},
    "dataset_configs": {"retrieval_model": "multiple", "datasets": {"datasets": []}},
    "file_upload": {"image": {"enabled": False, "number_limits": 3, "detail": "high",
                              "transfer_methods": ["remote_url", "local_file"]}},
}
DEFAULT_MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}


class ModelConfigError(CoreError):
    code = "invalid_param"
    default_message = "Invalid model config."

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def normalise_provider(provider: str) -> str:
    """`langgenius/openai/openai` → `openai`; short names pass through."""
    if not isinstance(provider, str):  # a JSON number/list/object is no provider (and has no rsplit)
        return ""
    return provider.rsplit("/", 1)[-1].strip() if provider else provider


def _dict(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    if value is None:
        return deepcopy(DEFAULT_FEATURES[key])
    if not isinstance(value, dict):
        raise ModelConfigError(key, f"{key} must be of object type")
    return value


def _enabled_feature(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = _dict(config, key)
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ModelConfigError(key, f"{key}.enabled must be of boolean type")
    return {**value, "enabled": enabled}


def _model(config: dict[str, Any]) -> dict[str, Any]:
    model = config.get("model")
    if not isinstance(model, dict):
        raise ModelConfigError("model", "model must be of object type")
    provider = normalise_provider(model.get("provider") or "")
    if provider not in PROVIDERS:
        raise ModelConfigError("model.provider", f"model.provider is required and must be in {list(PROVIDERS)}")
    name = model.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ModelConfigError("model.name", "model.name is required")
    if len(name.strip()) > 255:  # app_model_configs.model_id is VARCHAR(255)
        raise ModelConfigError("model.name", "model.name must be at most 255 characters")
    mode = model.get("mode") or "chat"
    if mode not in ("chat", "completion"):
        raise ModelConfigError("model.mode", "model.mode must be chat or completion")
    params = model.get("completion_params") or {}
    if not isinstance(params, dict):
        raise ModelConfigError("model.completion_params", "model.completion_params must be of object type")
    stop = params.get("stop", [])
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise ModelConfigError("model.completion_params.stop", "stop must be a list of at most 4 strings")
    fallbacks = model.get("fallbacks") or []
    if not isinstance(fallbacks, list) or len(fallbacks) > 5:
        raise ModelConfigError("model.fallbacks", "model.fallbacks must be a list of at most 5 models")
    clean_fallbacks = []
    for i, item in enumerate(fallbacks):
        fb_provider = normalise_provider(item.get("provider") or "") if isinstance(item, dict) else ""
        if fb_provider not in PROVIDERS or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ModelConfigError(f"model.fallbacks[{i}]", "each fallback needs a known provider and a name")
        fb_params = item.get("completion_params")
        if fb_params is not None and not isinstance(fb_params, dict):
            raise ModelConfigError(f"model.fallbacks[{i}].completion_params", "completion_params must be an object")
        clean_fallbacks.append({"provider": fb_provider, "name": item["name"].strip(),
                                **({"completion_params": fb_params} if fb_params is not None else {})})
    result = {"provider": provider, "name": name.strip(), "mode": mode, "completion_params": params}
    if clean_fallbacks:
        result["fallbacks"] = clean_fallbacks
    return result


def _form_item(index: int, item: Any, seen: set[str]) -> dict[str, Any]:
    field = f"user_input_form[{index}]"
    if not isinstance(item, dict) or len(item) != 1:
        raise ModelConfigError(field, "each user_input_form item must be an object with a single type key")
    kind, spec = next(iter(item.items()))
    if kind not in INPUT_TYPES:
        raise ModelConfigError(field, f"user_input_form type must be in {list(INPUT_TYPES)}")
    if not isinstance(spec, dict):
        raise ModelConfigError(field, "user_input_form item must be of object type")
    variable = spec.get("variable")
    if not isinstance(variable, str) or not _VARIABLE.match(variable):
        raise ModelConfigError(f"{field}.variable", "variable in user_input_form is invalid")
    if variable in seen:
        raise ModelConfigError(f"{field}.variable", f"variable {variable} in user_input_form must be unique")
    seen.add(variable)
    label = spec.get("label")
    if not isinstance(label, str) or not label:
        raise ModelConfigError(f"{field}.label", "label is required in user_input_form")
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise ModelConfigError(f"{field}.required", "required in user_input_form must be of boolean type")
    clean = {**spec, "label": label, "variable": variable, "required": required}
    if kind in ("text-input", "paragraph"):
        max_length = spec.get("max_length", 48 if kind == "text-input" else 0)
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 0:
            raise ModelConfigError(f"{field}.max_length", "max_length must be a non-negative integer")
        clean["max_length"] = max_length
    if kind == "select":
        options = spec.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ModelConfigError(f"{field}.options", "options in user_input_form must be a list of strings")
        default = spec.get("default")
        if default not in (None, "") and default not in options:
            raise ModelConfigError(f"{field}.default", "default value in user_input_form must be in the options")
        clean["options"] = options
    if kind in ("file", "file-list"):
        types = spec.get("allowed_file_types", [])
        if not isinstance(types, list) or any(t not in FILE_TYPES for t in types):
            raise ModelConfigError(f"{field}.allowed_file_types", f"allowed_file_types must be in {list(FILE_TYPES)}")
        methods = spec.get("allowed_file_upload_methods", list(TRANSFER_METHODS))
        if not isinstance(methods, list) or any(m not in TRANSFER_METHODS for m in methods):
            raise ModelConfigError(f"{field}.allowed_file_upload_methods", "unknown upload method")
    return {kind: clean}


def _user_input_form(config: dict[str, Any]) -> list[dict[str, Any]]:
    form = config.get("user_input_form") or []
    if not isinstance(form, list):
        raise ModelConfigError("user_input_form", "user_input_form must be a list of objects")
    seen: set[str] = set()
    return [_form_item(i, item, seen) for i, item in enumerate(form)]


def _strings(config: dict[str, Any], key: str) -> list[str]:
    value = config.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelConfigError(key, f"{key} must be a list of strings")
    return value


def _text(config: dict[str, Any], key: str) -> str:
    value = config.get(key) or ""
    if not isinstance(value, str):
        raise ModelConfigError(key, f"{key} must be of string type")
    return value


def _dataset_configs(config: dict[str, Any]) -> dict[str, Any]:
    value = _dict(config, "dataset_configs")
    retrieval = value.get("retrieval_model", "multiple")
    if retrieval not in ("single", "multiple"):
        raise ModelConfigError("dataset_configs.retrieval_model", "retrieval_model must be single or multiple")
    for key in ("top_k",):
        if key in value and value[key] is not None and (not isinstance(value[key], int) or value[key] < 1):
            raise ModelConfigError(f"dataset_configs.{key}", f"{key} must be a positive integer")
    threshold = value.get("score_threshold")
    if threshold is not None and (not isinstance(threshold, int | float) or not 0 <= threshold <= 1):
        raise ModelConfigError("dataset_configs.score_threshold", "score_threshold must be between 0 and 1")
    datasets = value.get("datasets") or {"datasets": []}
    if not isinstance(datasets, dict) or not isinstance(datasets.get("datasets", []), list):
        raise ModelConfigError("dataset_configs.datasets", "datasets must be of object type")
    return {**value, "retrieval_model": retrieval, "datasets": datasets}


def _agent_mode(config: dict[str, Any], mode: str) -> dict[str, Any]:
    value = _dict(config, "agent_mode")
    enabled = value.get("enabled", mode == "agent-chat")
    if not isinstance(enabled, bool):
        raise ModelConfigError("agent_mode.enabled", "enabled in agent_mode must be of boolean type")
    strategy = value.get("strategy")
    if strategy not in (None, "function_call", "react", "router", "react_router"):
        raise ModelConfigError("agent_mode.strategy", "agent_mode.strategy is invalid")
    tools = value.get("tools") or []
    if not isinstance(tools, list):
        raise ModelConfigError("agent_mode.tools", "agent_mode.tools must be of list type")
    max_iteration = value.get("max_iteration", 5)
    if not isinstance(max_iteration, int) or not 1 <= max_iteration <= 99:
        raise ModelConfigError("agent_mode.max_iteration", "max_iteration must be between 1 and 99")
    return {**value, "enabled": bool(enabled), "strategy": strategy, "tools": tools, "max_iteration": max_iteration}


def _file_upload(config: dict[str, Any]) -> dict[str, Any]:
    value = _dict(config, "file_upload")
    image = value.get("image")
    if image is not None:
        if not isinstance(image, dict):
            raise ModelConfigError("file_upload.image", "file_upload.image must be of object type")
        limits = image.get("number_limits", 3)
        if not isinstance(limits, int) or not 0 <= limits <= 10:
            raise ModelConfigError("file_upload.image.number_limits", "number_limits must be between 0 and 10")
        methods = image.get("transfer_methods", list(TRANSFER_METHODS))
        if not isinstance(methods, list) or any(m not in TRANSFER_METHODS for m in methods):
            raise ModelConfigError("file_upload.image.transfer_methods", "unknown transfer method")
    types = value.get("allowed_file_types")
    if types is not None and (not isinstance(types, list) or any(t not in FILE_TYPES for t in types)):
        raise ModelConfigError("file_upload.allowed_file_types", f"allowed_file_types must be in {list(FILE_TYPES)}")
    return value


def validate_model_config(mode: str, config: Any) -> dict[str, Any]:
    """Return the normalised model config for an app of `mode`; raise ModelConfigError otherwise."""
    if not isinstance(config, dict):
        raise ModelConfigError("model_config", "model config must be of object type")
    out: dict[str, Any] = {"model": _model(config)}
    out["user_input_form"] = _user_input_form(config)
    out["opening_statement"] = _text(config, "opening_statement")
    out["suggested_questions"] = _strings(config, "suggested_questions")
    for key in ("suggested_questions_after_answer", "speech_to_text", "text_to_speech", "retriever_resource",
                "annotation_reply", "more_like_this", "sensitive_word_avoidance"):
        out[key] = _enabled_feature(config, key)
    out["external_data_tools"] = config.get("external_data_tools") or []
    if not isinstance(out["external_data_tools"], list):
        raise ModelConfigError("external_data_tools", "external_data_tools must be of list type")
    out["pre_prompt"] = _text(config, "pre_prompt")
    out["prompt_type"] = config.get("prompt_type") or "simple"
    if out["prompt_type"] not in ("simple", "advanced"):
        raise ModelConfigError("prompt_type", "prompt_type must be simple or advanced")
    out["chat_prompt_config"] = _dict(config, "chat_prompt_config")
    out["completion_prompt_config"] = _dict(config, "completion_prompt_config")
    out["dataset_configs"] = _dataset_configs(config)
    out["dataset_query_variable"] = _text(config, "dataset_query_variable")
    out["agent_mode"] = _agent_mode(config, mode)
    out["file_upload"] = _file_upload(config)
    variables = {next(iter(item.values()))["variable"] for item in out["user_input_form"]}
    if out["dataset_query_variable"] and out["dataset_query_variable"] not in variables:
        raise ModelConfigError("dataset_query_variable", "dataset_query_variable must be a variable of the form")
    if mode == "completion":
        has_datasets = bool(out["dataset_configs"]["datasets"].get("datasets"))
        if has_datasets and not out["dataset_query_variable"]:
            raise ModelConfigError("dataset_query_variable", "Dataset query variable is required when dataset is exist")
    return out


def default_model_config(mode: str, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template a newly created chat/agent-chat/completion app starts from."""
    config: dict[str, Any] = {"model": deepcopy(model or DEFAULT_MODEL)}
    if mode == "completion":
        config["user_input_form"] = [{"paragraph": {"label": "Query", "variable": "query", "required": True,
                                                    "default": ""}}]
        config["pre_prompt"] = "{{query}}"
    if mode == "agent-chat":
        config["agent_mode"] = {"enabled": True, "strategy": "function_call", "tools": [], "max_iteration": 5}
    return validate_model_config(mode, config)
