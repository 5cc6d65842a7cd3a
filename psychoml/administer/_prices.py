"""Estimated cost of a run: list prices per million tokens for a few hosted models.

Prices are the providers' published list prices in USD per million input / output tokens (OpenAI and
Anthropic pricing pages, as of early 2025).  They change; the estimate is labelled as one and is ``None`` for a
model this table does not know.  Local and simulated models cost nothing.
"""

from __future__ import annotations

__all__ = ["PRICES", "estimate_cost"]

#: model name -> (USD per 1M input tokens, USD per 1M output tokens)
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-5-sonnet-latest": (3.00, 15.00),
    "claude-3-7-sonnet-latest": (3.00, 15.00),
    "claude-3-haiku-20240307": (0.25, 1.25),
}

_FREE_PREFIXES = ("local:", "hf:", "simulated:")


def estimate_cost(spec: str, tokens_in: int, tokens_out: int) -> float | None:
    """Estimated USD cost of ``tokens_in`` / ``tokens_out`` on model ``spec``; None when the price is unknown."""
    if spec.startswith(_FREE_PREFIXES):
        return 0.0
    prefix, _, model = spec.partition(":")
    if prefix not in ("openai", "anthropic"):
        return None  # openai-compatible servers: self-hosted or unknown pricing
    price = PRICES.get(model.strip())
    if price is None:
        return None
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6
