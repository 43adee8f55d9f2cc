"""Per-model list prices and the Usage they produce.

Source: the providers' public list prices as of 2025 (openai.com/api/pricing, anthropic.com/pricing), USD per
1M tokens, standard tier, no cached-input or batch discounts. Prices are stored in Dify's form: a unit price per
1K-token block (`PRICE_UNIT` = 0.001), so $2.50 per 1M tokens is `Decimal("0.0025")`.

Only `openai`, `azure_openai` (priced by its `base_model_name`) and `anthropic` have list prices. Self-hosted and
OpenAI-compatible endpoints (`openai_api_compatible`, `ollama`) and unknown models are priced at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from api.core.model_runtime.entities import Usage, quantize_price

PRICE_UNIT = Decimal("0.001")


@dataclass(frozen=True)
class ModelPrice:
    model_type: str  # "llm" | "text-embedding"
    input_per_1m: Decimal
    output_per_1m: Decimal = Decimal("0")

    @property
    def input_unit_price(self) -> Decimal:
        return _per_1k(self.input_per_1m)

    @property
    def output_unit_price(self) -> Decimal:
        return _per_1k(self.output_per_1m)


def _per_1k(per_1m: Decimal) -> Decimal:
    return Decimal(format((per_1m / 1000).normalize(), "f"))


def _p(model_type: str, input_per_1m: str, output_per_1m: str = "0") -> ModelPrice:
    return ModelPrice(model_type, Decimal(input_per_1m), Decimal(output_per_1m))


# Public list prices as of 2025 (USD per 1M tokens: input, output).
OPENAI_PRICES: dict[str, ModelPrice] = {
    "gpt-4o": _p("llm", "2.50", "10.00"),
    "gpt-4o-mini": _p("llm", "0.15", "0.60"),
    "gpt-4.1": _p("llm", "2.00", "8.00"),
    "gpt-4.1-mini": _p("llm", "0.40", "1.60"),
    "gpt-4.1-nano": _p("llm", "0.10", "0.40"),
    "gpt-4-turbo": _p("llm", "10.00", "30.00"),
    "gpt-3.5-turbo": _p("llm", "0.50", "1.50"),
    "gpt-3.5-turbo-instruct": _p("llm", "1.50", "2.00"),
    "o1": _p("llm", "15.00", "60.00"),
    "o3": _p("llm", "2.00", "8.00"),
    "o3-mini": _p("llm", "1.10", "4.40"),
    "o4-mini": _p("llm", "1.10", "4.40"),
    "text-embedding-3-small": _p("text-embedding", "0.02"),
    "text-embedding-3-large": _p("text-embedding", "0.13"),
    "text-embedding-ada-002": _p("text-embedding", "0.10"),
}

ANTHROPIC_PRICES: dict[str, ModelPrice] = {
    "claude-opus-4": _p("llm", "15.00", "75.00"),
    "claude-sonnet-4": _p("llm", "3.00", "15.00"),
    "claude-3-7-sonnet": _p("llm", "3.00", "15.00"),
    "claude-3-5-sonnet": _p("llm", "3.00", "15.00"),
    "claude-3-5-haiku": _p("llm", "0.80", "4.00"),
    "claude-3-opus": _p("llm", "15.00", "75.00"),
    "claude-3-haiku": _p("llm", "0.25", "1.25"),
}

_TABLES: dict[str, dict[str, ModelPrice]] = {
    "openai": OPENAI_PRICES,
    "azure_openai": OPENAI_PRICES,
    "anthropic": ANTHROPIC_PRICES,
}


def find_price(provider: str, model: str) -> ModelPrice | None:
    """The list price of `model`, matching dated snapshots by longest prefix
    (`gpt-4o-2024-08-06` → gpt-4o, `claude-3-5-sonnet-20241022` → claude-3-5-sonnet); None when unknown."""
    table = _TABLES.get(provider, {})
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name + "-")]
    return table[max(matches, key=len)] if matches else None


def predefined_models(provider: str) -> list[dict[str, str]]:
    """Models a predefined provider offers out of the box: `[{"model", "model_type"}]`."""
    if provider not in ("openai", "anthropic"):
        return []
    return [{"model": name, "model_type": price.model_type} for name, price in _TABLES[provider].items()]


def price_usage(
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    latency: float,
    ttft: float | None = None,
    ttg: float | None = None,
) -> Usage:
    """Usage for one call of `model`, priced from the table (zero prices for unknown models).

    Contract: price = tokens × unit_price × PRICE_UNIT, each quantised to 7 decimals; total = prompt + completion.
    """
    price = find_price(provider, model)
    prompt_unit = price.input_unit_price if price else Decimal("0")
    completion_unit = price.output_unit_price if price else Decimal("0")
    prompt_price = quantize_price(prompt_tokens * prompt_unit * PRICE_UNIT)
    completion_price = quantize_price(completion_tokens * completion_unit * PRICE_UNIT)
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        prompt_unit_price=prompt_unit,
        prompt_price_unit=PRICE_UNIT,
        prompt_price=prompt_price,
        completion_unit_price=completion_unit,
        completion_price_unit=PRICE_UNIT,
        completion_price=completion_price,
        total_price=quantize_price(prompt_price + completion_price),
        currency="USD",
        latency=latency,
        time_to_first_token=ttft,
        time_to_generate=ttg,
    )
