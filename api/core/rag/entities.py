"""Value objects of the knowledge pipeline: extracted documents, chunks and process rules.

`ProcessRule` mirrors Dify's `process_rule` payload:

    {"mode": "automatic" | "custom" | "hierarchical",
     "rules": {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": true}, ...],
               "segmentation": {"separator": "\\n", "max_tokens": 500, "chunk_overlap": 50},
               "parent_mode": "paragraph" | "full-doc",
               "subchunk_segmentation": {"separator": "\\n", "max_tokens": 200, "chunk_overlap": 0}}}

`ProcessRule.from_dict` accepts that shape, or the same keys without the `rules` wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.core.rag.errors import RuleError

MODES = ("automatic", "custom", "hierarchical")
PARENT_MODES = ("paragraph", "full-doc")
PRE_PROCESSING_RULE_IDS = ("remove_extra_spaces", "remove_urls_emails", "remove_stopwords")
MIN_TOKENS = 50
MAX_TOKENS = 4000
# Dify's AUTOMATIC_RULES constant (stored with the key "delimiter"; we use "separator" throughout).
AUTOMATIC_SEPARATOR = "\n"
AUTOMATIC_MAX_TOKENS = 500
AUTOMATIC_CHUNK_OVERLAP = 50
# Defaults Dify's UI sends for parent-child chunking.
HIERARCHICAL_PARENT = {"separator": "\n\n", "max_tokens": 1024, "chunk_overlap": 0}
HIERARCHICAL_CHILD = {"separator": "\n", "max_tokens": 512, "chunk_overlap": 0}
FULL_DOC_MAX_TOKENS = 10_000


@dataclass
class SourceDocument:
    """Text extracted from a file; `metadata` carries e.g. `{"page": 3}` or `{"sheet": "Q1"}`."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """One segment. `position` is 1-based and contiguous within its list; `tokens` counts `content`.

    In hierarchical mode a chunk is a parent and `children` holds its child chunks (positions 1-based per parent).
    """

    content: str
    position: int
    tokens: int
    children: list[Chunk] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreProcessingRule:
    id: str
    enabled: bool


@dataclass(frozen=True)
class Segmentation:
    """How to cut text: at every `separator` (may hold the escape `\\n`), then to `max_tokens` with overlap."""

    separator: str = AUTOMATIC_SEPARATOR
    max_tokens: int = AUTOMATIC_MAX_TOKENS
    chunk_overlap: int = AUTOMATIC_CHUNK_OVERLAP

    def to_dict(self) -> dict[str, Any]:
        return {"separator": self.separator, "max_tokens": self.max_tokens, "chunk_overlap": self.chunk_overlap}


@dataclass(frozen=True)
class ProcessRule:
    """A validated process rule; build it with `from_dict` or `automatic()`."""

    mode: str = "automatic"
    pre_processing_rules: tuple[PreProcessingRule, ...] = ()
    segmentation: Segmentation = field(default_factory=Segmentation)
    parent_mode: str | None = None
    subchunk_segmentation: Segmentation | None = None

    def is_enabled(self, rule_id: str) -> bool:
        """True when the pre-processing rule `rule_id` is present and enabled."""
        return any(r.id == rule_id and r.enabled for r in self.pre_processing_rules)

    @classmethod
    def automatic(cls) -> ProcessRule:
        """Dify's automatic rule: remove_extra_spaces on, remove_urls_emails off, 500 tokens, 50 overlap."""
        return cls(
            mode="automatic",
            pre_processing_rules=(
                PreProcessingRule("remove_extra_spaces", True),
                PreProcessingRule("remove_urls_emails", False),
            ),
            segmentation=Segmentation(AUTOMATIC_SEPARATOR, AUTOMATIC_MAX_TOKENS, AUTOMATIC_CHUNK_OVERLAP),
        )

    @classmethod
    def from_dict(cls, data: Any) -> ProcessRule:
        """Validate a Dify-shaped process rule dict.

        Raises RuleError (with `field`) for an unknown mode, a malformed pre-processing rule, max_tokens outside
        50..4000, or chunk_overlap negative or not below max_tokens. Mode "automatic" ignores the rest and returns
        `automatic()`. Missing `chunk_overlap` defaults to 0 (Dify's default for user rules).
        """
        if not isinstance(data, dict):
            raise RuleError("The process rule must be an object.", field="process_rule")
        mode = data.get("mode", "automatic") or "automatic"
        if mode not in MODES:
            raise RuleError(f"mode must be one of {', '.join(MODES)}.", field="mode")
        if mode == "automatic":
            return cls.automatic()
        rules = data.get("rules", data)
        if not isinstance(rules, dict):
            raise RuleError("rules must be an object.", field="rules")
        pre = _parse_pre_processing(rules.get("pre_processing_rules") or [])
        if mode == "custom":
            segmentation = _parse_segmentation(rules.get("segmentation"), "segmentation", None)
            return cls(mode=mode, pre_processing_rules=pre, segmentation=segmentation)
        parent_mode = rules.get("parent_mode") or "paragraph"
        if parent_mode not in PARENT_MODES:
            raise RuleError(f"parent_mode must be one of {', '.join(PARENT_MODES)}.", field="parent_mode")
        segmentation = _parse_segmentation(rules.get("segmentation"), "segmentation", HIERARCHICAL_PARENT)
        child = _parse_segmentation(rules.get("subchunk_segmentation"), "subchunk_segmentation", HIERARCHICAL_CHILD)
        return cls(
            mode=mode,
            pre_processing_rules=pre,
            segmentation=segmentation,
            parent_mode=parent_mode,
            subchunk_segmentation=child,
        )

    def to_dict(self) -> dict[str, Any]:
        """The Dify payload shape: `{"mode": ..., "rules": {...}}`."""
        rules: dict[str, Any] = {
            "pre_processing_rules": [{"id": r.id, "enabled": r.enabled} for r in self.pre_processing_rules],
            "segmentation": self.segmentation.to_dict(),
        }
        if self.mode == "hierarchical":
            rules["parent_mode"] = self.parent_mode
            child = self.subchunk_segmentation
            rules["subchunk_segmentation"] = child.to_dict() if child else None
        return {"mode": self.mode, "rules": rules}


def _parse_pre_processing(items: Any) -> tuple[PreProcessingRule, ...]:
    if not isinstance(items, list):
        raise RuleError("pre_processing_rules must be a list.", field="pre_processing_rules")
    parsed: dict[str, PreProcessingRule] = {}
    for item in items:
        if not isinstance(item, dict) or item.get("id") not in PRE_PROCESSING_RULE_IDS:
            raise RuleError(
                f"Each pre-processing rule needs an id among {', '.join(PRE_PROCESSING_RULE_IDS)}.",
                field="pre_processing_rules",
            )
        enabled = item.get("enabled", False)
        if not isinstance(enabled, bool):
            raise RuleError("pre-processing rule 'enabled' must be a boolean.", field="pre_processing_rules")
        parsed[item["id"]] = PreProcessingRule(item["id"], enabled)
    return tuple(parsed.values())


def _parse_segmentation(raw: Any, name: str, defaults: dict[str, Any] | None) -> Segmentation:
    if raw is None and defaults is not None:
        raw = {}
    if not isinstance(raw, dict):
        raise RuleError(f"{name} is required and must be an object.", field=name)
    values = {**(defaults or {}), **{k: v for k, v in raw.items() if v is not None}}
    separator = values.get("separator", values.get("delimiter"))
    if separator is None:
        raise RuleError(f"{name}.separator is required.", field=f"{name}.separator")
    if not isinstance(separator, str):
        raise RuleError(f"{name}.separator must be a string.", field=f"{name}.separator")
    if "max_tokens" not in values:
        raise RuleError(f"{name}.max_tokens is required.", field=f"{name}.max_tokens")
    max_tokens = _as_int(values["max_tokens"], f"{name}.max_tokens")
    if not MIN_TOKENS <= max_tokens <= MAX_TOKENS:
        raise RuleError(f"{name}.max_tokens must be between {MIN_TOKENS} and {MAX_TOKENS}.", field=f"{name}.max_tokens")
    overlap = _as_int(values.get("chunk_overlap", 0), f"{name}.chunk_overlap")
    if overlap < 0 or overlap >= max_tokens:
        raise RuleError(
            f"{name}.chunk_overlap must be at least 0 and less than max_tokens.", field=f"{name}.chunk_overlap"
        )
    return Segmentation(separator, max_tokens, overlap)


def _as_int(value: Any, field_name: str) -> int:
    if isinstance(value, bool):
        raise RuleError(f"{field_name} must be an integer.", field=field_name)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise RuleError(f"{field_name} must be an integer.", field=field_name)
