"""Judges decide a battle: `reference` (programmatic checks), `llm:MODEL` (pairwise prompt, both
orders), `human` (the voting page). A judge's failure is recorded as a failure, never as a tie."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..evals.checks import run_check
from ..evals.mt_bench import load_pair_judge_prompt
from ..types import Message, Request
from .prompts import PromptItem

JUDGE_SYSTEM = (
    "You are an impartial judge. Two AI assistants answered the same user request. Decide which answer "
    "serves the user better: first correctness, then whether it follows every instruction in the request "
    "(format, length, constraints, language), then helpfulness and clarity. Do not let the order of the "
    "answers, their length or their style sway you beyond what the request calls for. Explain your "
    "reasoning in a few sentences, then end with exactly one line holding your verdict: [[A]] if "
    "Assistant A's answer is better, [[B]] if Assistant B's answer is better, [[C]] if they are equally good "
    "or equally bad."
)
JUDGE_TEMPLATE = "[User request]\n{question}\n\n[Assistant A's answer]\n{answer_a}\n\n[Assistant B's answer]\n{answer_b}"

_VERDICT = re.compile(r"\[\[([ABC])\]\]")


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system: str
    template: str  # with {question}, {answer_a}, {answer_b}


def judge_prompt(name: str | None) -> JudgePrompt:
    """This project's pairwise prompt, or one of MT-Bench's pairwise prompts ("mt_bench" = pair-v2)."""
    if not name or name == "coderouge":
        return JudgePrompt("coderouge", JUDGE_SYSTEM, JUDGE_TEMPLATE)
    wanted = "pair-v2" if name == "mt_bench" else name
    system, template = load_pair_judge_prompt(wanted)
    return JudgePrompt(wanted, system, template)


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'C' from the last [[X]] in the judge's text; None when there is none."""
    found = _VERDICT.findall(text)
    return found[-1] if found else None


def judge_requests(judge_model: str, prompt: JudgePrompt, item: PromptItem, answer_a: str, answer_b: str) -> tuple[Request, Request]:
    """The same pair judged in both orders: (a shown first, b shown first)."""

    def one(first: str, second: str) -> Request:
        user = prompt.template.format(question=item.text, answer_a=first, answer_b=second)
        return Request(judge_model, (Message("system", prompt.system), Message("user", user)), max_tokens=1024, temperature=0.0)

    return one(answer_a, answer_b), one(answer_b, answer_a)


def combine_verdicts(first: str | None, second: str | None) -> str | None:
    """Verdicts of the two orders → winner. `second` was given with the answers swapped. A verdict that
    flips with the order counts as a tie; no verdict at all is a failure (None)."""
    if first is None or second is None:
        return None
    as_a = {"A": "model_a", "B": "model_b", "C": "tie"}[first]
    as_b = {"A": "model_b", "B": "model_a", "C": "tie"}[second]
    return as_a if as_a == as_b else "tie"


def reference_verdict(item: PromptItem, answer_a: str, answer_b: str) -> tuple[str, dict[str, Any]]:
    """The correct answer beats the incorrect one; both right is a tie, both wrong a tie (both bad)."""
    if item.check is None:
        raise UsageError(f"the reference judge needs prompts with a check; {item.id} has none")
    ra, rb = run_check(item.check, answer_a), run_check(item.check, answer_b)
    raw = {"a": {"passed": ra.passed, "detail": ra.detail}, "b": {"passed": rb.passed, "detail": rb.detail}}
    if ra.passed and not rb.passed:
        return "model_a", raw
    if rb.passed and not ra.passed:
        return "model_b", raw
    return ("tie" if ra.passed else "tie (bothbad)"), raw
