"""Prices per token: a built-in table of the major models, overridable by LiteLLM-format files.

Built-in prices are USD per million tokens (standard tier, text, no caching, prompts
under 200k tokens), each with the page it comes from and the date it was checked.
They move: set CODEROUGE_PRICES to one or more files or URLs (comma-separated) in
LiteLLM's `model_prices_and_context_window.json` format to override them.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..types import Usage

OPENAI_SRC = "https://openai.com/api/pricing/"
GEMINI_SRC = "https://ai.google.dev/gemini-api/docs/pricing"
ANTHROPIC_SRC = "https://docs.anthropic.com/en/docs/about-claude/pricing"
CHECKED = "2025-11-24"


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    source: str
    as_of: str

    def cost(self, usage: Usage) -> float:
        return (usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok) / 1e6


def _p(i: float, o: float, src: str) -> Price:
    return Price(i, o, src, CHECKED)


BUILTIN: dict[str, Price] = {
    "openai/gpt-5.1": _p(1.25, 10.0, OPENAI_SRC),
    "openai/gpt-5": _p(1.25, 10.0, OPENAI_SRC),
    "openai/gpt-5-mini": _p(0.25, 2.0, OPENAI_SRC),
    "openai/gpt-5-nano": _p(0.05, 0.40, OPENAI_SRC),
    "openai/gpt-4.1": _p(2.0, 8.0, OPENAI_SRC),
    "openai/gpt-4.1-mini": _p(0.40, 1.60, OPENAI_SRC),
    "openai/gpt-4.1-nano": _p(0.10, 0.40, OPENAI_SRC),
    "openai/gpt-4o": _p(2.50, 10.0, OPENAI_SRC),
    "openai/gpt-4o-mini": _p(0.15, 0.60, OPENAI_SRC),
    "openai/o3": _p(2.0, 8.0, OPENAI_SRC),
    "openai/o4-mini": _p(1.10, 4.40, OPENAI_SRC),
    "gemini/gemini-3-pro-preview": _p(2.0, 12.0, GEMINI_SRC),
    "gemini/gemini-2.5-pro": _p(1.25, 10.0, GEMINI_SRC),
    "gemini/gemini-2.5-flash": _p(0.30, 2.50, GEMINI_SRC),
    "gemini/gemini-2.5-flash-lite": _p(0.10, 0.40, GEMINI_SRC),
    "gemini/gemini-2.0-flash": _p(0.10, 0.40, GEMINI_SRC),
    "anthropic/claude-opus-4-5": _p(5.0, 25.0, ANTHROPIC_SRC),
    "anthropic/claude-opus-4-1": _p(15.0, 75.0, ANTHROPIC_SRC),
    "anthropic/claude-sonnet-4-5": _p(3.0, 15.0, ANTHROPIC_SRC),
    "anthropic/claude-sonnet-4": _p(3.0, 15.0, ANTHROPIC_SRC),
    "anthropic/claude-haiku-4-5": _p(1.0, 5.0, ANTHROPIC_SRC),
    "anthropic/claude-3-5-haiku": _p(0.80, 4.0, ANTHROPIC_SRC),
}

FREE_PROVIDERS = {"local", "fake"}
OUR_PROVIDERS = {"openai", "gemini", "anthropic", "local", "fake"}
_DATE_SUFFIX = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|-latest)$")
_overrides: dict[str, Price] | None = None


def parse_litellm(data: dict, source: str) -> dict[str, Price]:
    """Read LiteLLM's price table: {model_id: {litellm_provider, input_cost_per_token, output_cost_per_token}}."""
    out: dict[str, Price] = {}
    provider_names = {"openai": "openai", "text-completion-openai": "openai", "gemini": "gemini", "anthropic": "anthropic"}
    for key, entry in data.items():
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        inp, outp = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if not isinstance(inp, (int, float)) or not isinstance(outp, (int, float)):
            continue
        if key.split("/", 1)[0] in OUR_PROVIDERS and "/" in key:  # a coderouge model name, whatever its provider field
            out[key] = Price(inp * 1e6, outp * 1e6, source, "")
            continue
        prov = provider_names.get(str(entry.get("litellm_provider", "")))
        if prov is None:
            continue
        model = key.split("/", 1)[1] if key.startswith(prov + "/") else key
        out[f"{prov}/{model}"] = Price(inp * 1e6, outp * 1e6, source, "")
    return out


def load_table(location: str) -> dict[str, Price]:
    """Load a LiteLLM-format price table from a file path or an http(s) URL."""
    try:
        if location.startswith(("http://", "https://")):
            with urllib.request.urlopen(location, timeout=30) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        else:
            data = json.loads(Path(location).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read price table {location}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"price table {location}: expected a JSON object of models")
    return parse_litellm(data, location)


def set_overrides(locations: list[str] | None) -> None:
    """Replace the override tables (later locations win over earlier ones)."""
    global _overrides
    merged: dict[str, Price] = {}
    for loc in locations or []:
        merged.update(load_table(loc))
    _overrides = merged


def _current_overrides() -> dict[str, Price]:
    if _overrides is None:
        env = os.environ.get("CODEROUGE_PRICES", "")
        set_overrides([x.strip() for x in env.split(",") if x.strip()])
    return _overrides or {}


def lookup(provider: str, model: str) -> Price | None:
    """The price of provider/model: a `--prices` entry first (by the full name with its options, then
    without them), then the free default of local and fake/ models, then the built-in table."""
    base = model.split("?", 1)[0]
    candidates = list(dict.fromkeys([f"{provider}/{model}", f"{provider}/{base}"]))
    stripped = _DATE_SUFFIX.sub("", base)
    if stripped != base:
        candidates.append(f"{provider}/{stripped}")
    overrides = _current_overrides()
    for c in candidates:
        if c in overrides:
            return overrides[c]
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0, "runs locally", "")
    for c in candidates:
        if c in BUILTIN:
            return BUILTIN[c]
    return None


def cost(provider: str, model: str, usage: Usage) -> float | None:
    price = lookup(provider, model)
    return None if price is None else price.cost(usage)
