"""What a task is: `Task` (a name, a kind, items, a headline metric) and its two kinds of item,
`GenItem` (a prompt and a check) and `MCItem` (a multiple-choice question). Plain data: the task
registry (`tasks.py`) and every benchmark module import these; this module imports neither.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import UsageError
from ..types import Message

__all__ = ["GenItem", "MCItem", "Task"]


@dataclass(frozen=True)
class GenItem:
    id: str
    messages: tuple[Message, ...]
    check: Any
    category: str = ""
    max_tokens: int | None = None  # this item's answer budget; else the task's


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice item.

    Log-likelihood scoring asks the model for log P(continuation_i | context_i) for each choice i.
    By default every choice shares `context` and its continuation is " " + choice (lm-eval's target
    delimiter); `continuations` overrides the continuations and `contexts` gives each choice its own
    context (WinoGrande's partial scoring: the option changes the context, the rest of the sentence
    is the shared continuation). The letter method shows `question` and `choices` instead.
    """

    id: str
    question: str  # the bare question, for the letter prompt
    context: str  # the context for log-likelihood scoring (few-shot examples included)
    choices: tuple[str, ...]
    gold: int
    continuations: tuple[str, ...] = ()  # per choice; default " " + choice
    contexts: tuple[str, ...] = ()  # per choice; default `context` for all
    golds: tuple[int, ...] = ()  # every correct choice (TruthfulQA MC2); default (gold,)
    group: str = ""  # e.g. the MMLU subject; results report per-group scores
    letter_shots: tuple[tuple[str, tuple[str, ...], int], ...] = ()  # (question, choices, gold) shown before, letter method
    letter_order: tuple[int, ...] = ()  # the order the letter prompt shows the choices in; default as given

    def pairs(self) -> list[tuple[str, str]]:
        """(context, continuation) for each choice, in choice order."""
        conts = self.continuations or tuple(" " + c for c in self.choices)
        ctxs = self.contexts or (self.context,) * len(conts)
        return list(zip(ctxs, conts))

    @property
    def correct(self) -> tuple[int, ...]:
        return self.golds or (self.gold,)

    def norm_lengths(self) -> list[int]:
        """The lengths acc_norm divides by: lm-evaluation-harness uses len(choice) in characters, the
        choice without the target delimiter (`completion_len = [len(c) for c in doc_to_choice(doc)]`)."""
        conts = self.continuations or tuple(" " + c for c in self.choices)
        return [max(1, len(c.removeprefix(" "))) for c in conts]


@dataclass(frozen=True)
class Task:
    name: str
    kind: Literal["generate", "multiple_choice"]
    items: tuple[GenItem, ...] | tuple[MCItem, ...]
    metric: str  # the headline metric: pass_rate, acc, acc_norm, mc2, …
    description: str = ""
    max_tokens: int = 512
    shots: int = 0
    prompt_format: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    letter_ok: bool = True  # multiple choice: can be scored by asking for the letter (chat APIs)
    aggregate: Literal["mean", "macro"] = "mean"  # macro: the mean over item groups (MMLU subjects)

    def with_max_tokens(self, n: int | None) -> Task:
        """Every answer's budget set to `n` tokens (generation items; multiple choice has no answer to cap)."""
        if n is None:
            return self
        if n < 1:
            raise UsageError(f"--max-tokens must be at least 1, got {n}")
        items = tuple(dataclasses.replace(it, max_tokens=n) if isinstance(it, GenItem) else it for it in self.items)
        return dataclasses.replace(self, max_tokens=n, items=items,  # type: ignore[arg-type]
                                   meta={**self.meta, "max_tokens": n})

    def sample(self, limit: int | None, seed: int = 1234) -> Task:
        """A seeded sample of `limit` items (all items, in order, when limit is None or large enough)."""
        if limit is None or limit >= len(self.items):
            return self
        if limit <= 0:
            raise UsageError(f"--limit must be positive, got {limit}")
        idx = sorted(random.Random(seed).sample(range(len(self.items)), limit))
        items = tuple(self.items[i] for i in idx)
        return dataclasses.replace(self, items=items,  # type: ignore[arg-type]
                                   meta={**self.meta, "sample_seed": seed, "sampled_from": len(self.items)})
