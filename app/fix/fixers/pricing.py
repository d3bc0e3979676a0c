"""What a model call cost, from the token counts the provider reported.

The budget gate is only as good as these numbers, so an unknown model is never
free: it is charged at ``DEFAULT_UNKNOWN`` (the most expensive list price we know)
and the result says the price was a guess.  Operators override or extend the
table from configuration with ``PriceTable.from_mapping``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Price:
    """USD per million tokens.  Cache prices follow Anthropic's multipliers by default."""

    input_per_mtok: float
    output_per_mtok: float
    cache_write_per_mtok: float | None = None
    cache_read_per_mtok: float | None = None

    def cost(
        self, input_tokens: int, output_tokens: int, cache_write: int = 0, cache_read: int = 0
    ) -> float:
        write = self.cache_write_per_mtok
        read = self.cache_read_per_mtok
        total = (
            input_tokens * self.input_per_mtok
            + output_tokens * self.output_per_mtok
            + cache_write * (write if write is not None else self.input_per_mtok * 1.25)
            + cache_read * (read if read is not None else self.input_per_mtok * 0.1)
        )
        return total / 1_000_000


# List prices, USD per million input/output tokens (standard context, no batch discount).
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "o3": Price(2.0, 8.0),
    "o4-mini": Price(1.1, 4.4),
}
DEFAULT_UNKNOWN = Price(15.0, 75.0)


@dataclass(frozen=True)
class Cost:
    """A computed cost; ``note`` is set when the price was a conservative guess."""

    usd: float
    note: str | None = None


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; dated ids (``claude-sonnet-4-5-20250929``) match their family."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    unknown: Price = DEFAULT_UNKNOWN

    @classmethod
    def from_mapping(
        cls,
        overrides: Mapping[str, Mapping[str, float]],
        *,
        base: Mapping[str, Price] | None = None,
    ) -> PriceTable:
        """Defaults plus ``{"model": {"input": 3, "output": 15}}`` entries from configuration."""
        prices = dict(DEFAULT_PRICES if base is None else base)
        for model, entry in overrides.items():
            try:
                prices[model] = Price(float(entry["input"]), float(entry["output"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"price for {model!r} needs numeric 'input' and 'output' USD per "
                    f"million tokens, got {entry!r}"
                ) from exc
        return cls(prices)

    def lookup(self, model: str) -> Price | None:
        name = model.split("/", 1)[1] if "/" in model else model
        if name in self.prices:
            return self.prices[name]
        family = [key for key in self.prices if name.startswith(key + "-")]
        return self.prices[max(family, key=len)] if family else None

    def cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_write: int = 0,
        cache_read: int = 0,
    ) -> Cost:
        price = self.lookup(model)
        if price is None:
            usd = self.unknown.cost(input_tokens, output_tokens, cache_write, cache_read)
            return Cost(
                usd,
                f"no price known for model {model!r}; charged the conservative default of "
                f"${self.unknown.input_per_mtok:g}/${self.unknown.output_per_mtok:g} per "
                "million tokens. Add it to the price table.",
            )
        return Cost(price.cost(input_tokens, output_tokens, cache_write, cache_read))
