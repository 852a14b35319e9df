"""Model prices, cost estimates and context-window levels.

Prices are USD per million tokens from the vendors' published list prices (base
tier: long-prompt surcharges and cache discounts are not modelled). A model
missing from the table is *unpriced*: we never fall back to a guessed rate (the
seed's ``(1.00, 3.00)`` default silently invented costs). Local models (embedded,
scripted, self-hosted servers) cost nothing and are marked ``local``.
"""

from __future__ import annotations

import enum
import re

import msgspec

from ._tokens import TokenCounts

__all__ = [
    "ContextLevel",
    "ContextLimit",
    "CostEstimate",
    "ModelPrice",
    "context_window",
    "model_price",
    "normalize_model",
]


class ModelPrice(msgspec.Struct, frozen=True):
    input_per_million: float
    output_per_million: float
    local: bool = False


_LOCAL = ModelPrice(0.0, 0.0, local=True)
_FREE = ModelPrice(0.0, 0.0)

# (input, output) USD per 1M tokens. Keys are normalized ids (see normalize_model).
_PRICES: dict[str, tuple[float, float]] = {
    # seed table (gemini-2.0-flash corrected to Google's list price)
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-opus": (15.00, 75.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "glm-4": (0.50, 0.50),
    "k1.5": (8.00, 8.00),
    "k1.6": (6.00, 6.00),
    # OpenAI
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o1-pro": (150.00, 600.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o3-pro": (20.00, 80.00),
    "o4-mini": (1.10, 4.40),
    # Anthropic (direct, Bedrock and Azure ids normalize to these)
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4-6": (5.00, 25.00),
    "claude-haiku-4-5": (1.00, 5.00),
    # Google (<=200k-token prompts)
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    # Moonshot, Z.AI, StepFun (cache-miss input price)
    "kimi-k2.5": (0.60, 3.00),
    "glm-5": (1.00, 3.20),
    "step-3.5-flash": (0.10, 0.30),
}
_ALIASES = {"claude-3.5-sonnet": "claude-3-5-sonnet", "claude-3.5-haiku": "claude-3-5-haiku"}

# Providers whose models run on the user's machine, and models known to be local.
_LOCAL_PROVIDERS = frozenset({"embedded", "local", "scripted", "ollama", "llamacpp", "vllm"})
_LOCAL_MODELS = frozenset({"smollm2-135m", "scripted"})
# Billed per seat, not per token: a per-token figure would be invented.
_SUBSCRIPTION_PROVIDERS = frozenset({"github-copilot", "copilot"})

_CONTEXT: dict[str, int] = {
    # seed table
    "gpt-4": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "claude-3-5-sonnet": 200_000,
    "claude-3-5-haiku": 200_000,
    "claude-3-opus": 200_000,
    "gemini-2.0-flash": 1_000_000,
    "gemini-1.5-flash": 1_000_000,
    "gemini-1.5-pro": 2_000_000,
    "k1.5": 200_000,
    "k1.6": 200_000,
    # current models
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o1-pro": 200_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o3-pro": 200_000,
    "o4-mini": 200_000,
    **{k: 200_000 for k in _PRICES if k.startswith("claude-")},
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-2.5-flash-lite": 1_048_576,
    "kimi-k2.5": 262_144,
    "glm-5": 200_000,
    "step-3.5-flash": 262_144,
    "smollm2-135m": 8_192,
    "scripted": 32_768,
}

_BEDROCK_PREFIX = re.compile(r"^(?:(?:us|eu|apac|au|jp|ca|global)\.)?(?:anthropic\.)")
_SUFFIXES = re.compile(r"(?:-v\d+(?::\d+)?)?(?:-\d{8}|-\d{4}-\d{2}-\d{2}|-latest)?(?:-v\d+(?::\d+)?)?$")


def _split(model: str) -> tuple[str | None, str, bool]:
    """(provider or None, normalized id, free tier) of ``provider/model`` or a bare id."""
    name = model.strip().lower()
    provider = None
    if "/" in name:
        provider, name = name.split("/", 1)
        name = name.rsplit("/", 1)[-1]  # openrouter ids carry a vendor: stepfun/step-3.5-flash
    free = name.endswith(":free")
    if free:
        name = name[: -len(":free")]
    name = _BEDROCK_PREFIX.sub("", name)
    name = _SUFFIXES.sub("", name) or name
    return provider, _ALIASES.get(name, name), free


def normalize_model(model: str) -> str:
    """``us.anthropic.claude-sonnet-4-20250514-v1:0`` -> ``claude-sonnet-4``."""
    return _split(model)[1]


def model_price(model: str) -> ModelPrice | None:
    """The price of ``model`` (``provider/id`` or bare id), or None when unpriced."""
    provider, name, free = _split(model)
    if provider in _LOCAL_PROVIDERS or (provider is None and name in _LOCAL_MODELS):
        return _LOCAL
    if provider in _SUBSCRIPTION_PROVIDERS:
        return None
    if free:
        return _FREE
    rates = _PRICES.get(name)
    return ModelPrice(*rates) if rates else None


def context_window(model: str) -> int | None:
    return _CONTEXT.get(normalize_model(model))


class CostEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """Approximate cost of some tokens. ``unpriced`` means no price is known:
    the amounts are then 0 and must not be shown as a cost."""

    input_cost: float = 0.0
    output_cost: float = 0.0
    total_cost: float = 0.0
    model: str | None = None
    unpriced: bool = False
    local: bool = False

    @classmethod
    def from_tokens(cls, model: str, counts: TokenCounts) -> CostEstimate:
        price = model_price(model)
        if price is None:
            return cls(model=model, unpriced=True)
        return cls.from_rates(counts, price.input_per_million, price.output_per_million, model, price.local)

    @classmethod
    def from_rates(
        cls,
        counts: TokenCounts,
        input_per_million: float,
        output_per_million: float,
        model: str | None = None,
        local: bool = False,
    ) -> CostEstimate:
        inp = counts.input / 1_000_000 * input_per_million
        out = counts.output / 1_000_000 * output_per_million
        return cls(input_cost=inp, output_cost=out, total_cost=inp + out, model=model, local=local)

    def format_currency(self) -> str:
        """``$0.0125``; ``unpriced`` when no price is known."""
        if self.unpriced:
            return "unpriced"
        return f"${self.total_cost:.4f}" + (" (local)" if self.local else "")

    def format_smart(self) -> str:
        """Precision by magnitude: ``< $0.0001``, ``$0.0042``, ``$0.125``, ``$12.50``."""
        if self.unpriced:
            return "unpriced"
        if self.local:
            return "$0 (local)"
        return format_usd(self.total_cost)


def format_usd(amount: float) -> str:
    if amount == 0:
        return "$0.00"
    if amount < 0.0001:
        return "< $0.0001"
    if amount < 0.01:
        return f"${amount:.4f}"
    if amount < 1.0:
        return f"${amount:.3f}"
    return f"${amount:.2f}"


class ContextLevel(enum.Enum):
    """Seed thresholds on percent used: >=50 LOW, >=75 MEDIUM, >=90 HIGH, >=100 CRITICAL."""

    OK = "OK"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


_LEVELS = ((100.0, ContextLevel.CRITICAL), (90.0, ContextLevel.HIGH), (75.0, ContextLevel.MEDIUM), (50.0, ContextLevel.LOW))


class ContextLimit(msgspec.Struct, frozen=True):
    """How much of a context window is used."""

    current: int
    limit: int

    @classmethod
    def for_model(cls, model: str, current: int, limit: int | None = None) -> ContextLimit | None:
        """None when ``model``'s window is unknown and no ``limit`` is given."""
        limit = limit or context_window(model)
        return cls(current, limit) if limit else None

    @property
    def percent(self) -> float:
        return self.current / self.limit * 100.0 if self.limit > 0 else 0.0

    percentage = percent  # the seed's name

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.current)

    @property
    def level(self) -> ContextLevel:
        pct = self.percent
        for threshold, level in _LEVELS:
            if pct >= threshold:
                return level
        return ContextLevel.OK

    def warning_level(self) -> str:
        return self.level.value
