"""Value objects of the model runtime: prompts in, chunks/usage/vectors out.

Pure dataclasses with no I/O. `Usage.to_dict()` is the wire shape of Dify's `usage` object (prices as
decimal strings, everything else as numbers), so callers can put it into `message_end` and blocking bodies
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
Mode = Literal["chat", "completion"]

PRICE_QUANTUM = Decimal("0.0000001")  # Dify quantises every price to 7 decimal places


@dataclass(frozen=True)
class ImageInput:
    """An image for a vision model: an http(s) URL or a `data:` URI; `detail` is OpenAI's low/high/auto."""

    url: str
    detail: str = "high"


@dataclass(frozen=True)
class PromptMessage:
    role: Role
    content: str
    images: tuple[ImageInput, ...] = ()


def quantize_price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def _dec(value: Decimal) -> str:
    return format(value, "f")  # never exponent notation: Decimal("0E-7") → "0.0000000"


@dataclass(frozen=True)
class Usage:
    """Token counts and prices of one model call.

    Dify semantics: `*_unit_price` is the price of one `*_price_unit` block, so
    `price = tokens × unit_price × price_unit` (unit_price 0.0025 with price_unit 0.001 is $2.50 per 1M tokens).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_unit_price: Decimal = Decimal("0")
    prompt_price_unit: Decimal = Decimal("0")
    prompt_price: Decimal = Decimal("0")
    completion_unit_price: Decimal = Decimal("0")
    completion_price_unit: Decimal = Decimal("0")
    completion_price: Decimal = Decimal("0")
    total_price: Decimal = Decimal("0")
    currency: str = "USD"
    latency: float = 0.0
    time_to_first_token: float | None = None
    time_to_generate: float | None = None

    @classmethod
    def empty(cls) -> Usage:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """Dify's Usage object: prices as decimal strings (e.g. "0.0000250"), counts and timings as numbers."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_unit_price": _dec(self.prompt_unit_price),
            "prompt_price_unit": _dec(self.prompt_price_unit),
            "prompt_price": _dec(self.prompt_price),
            "completion_tokens": self.completion_tokens,
            "completion_unit_price": _dec(self.completion_unit_price),
            "completion_price_unit": _dec(self.completion_price_unit),
            "completion_price": _dec(self.completion_price),
            "total_tokens": self.total_tokens,
            "total_price": _dec(self.total_price),
            "currency": self.currency,
            "latency": self.latency,
            "time_to_first_token": self.time_to_first_token,
            "time_to_generate": self.time_to_generate,
        }


@dataclass(frozen=True)
class LLMChunk:
    """One piece of an answer. The last chunk of every invocation carries `usage` (and `finish_reason`)."""

    delta: str
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ModelTarget:
    """One model to try: the primary or a fallback of an app's model config."""

    provider: str
    name: str
    credentials: dict[str, Any]
    completion_params: dict[str, Any] = field(default_factory=dict)
    mode: Mode = "chat"


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    usage_tokens: int


@dataclass(frozen=True)
class RerankHit:
    index: int
    score: float


@dataclass(frozen=True)
class Timeouts:
    """Seconds: TCP connect, silence between reads, and the whole wait for the first token of a stream."""

    connect: float = 10.0
    read: float = 60.0
    total_first_token: float = 60.0
