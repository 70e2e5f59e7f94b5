"""Prompt sets for battles: MT-Bench questions (first turn, from the data directory), the built-in
`business` suite (with its checks, so the reference judge can decide), or a user's JSONL file
(one object a line: "prompt" required; "id", "system" and "check" optional)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckSpecError, TaskFileError, UsageError
from ..evals import data
from ..evals.checks import validate_check
from ..evals.mt_bench import load_mt_bench_questions, turn1_messages
from ..types import Message


@dataclass(frozen=True)
class PromptItem:
    id: str
    messages: tuple[Message, ...]
    check: Any = None  # a programmatic check, when the answer is checkable
    category: str = ""

    @property
    def text(self) -> str:
        return self.messages[-1].text


def _mt_bench() -> list[PromptItem]:
    """MT-Bench's first turns, read through evals/mt_bench.py (the one reader of its files)."""
    return [PromptItem(f"mt_bench-{q.question_id}", turn1_messages(q), None, q.category)
            for q in load_mt_bench_questions(with_references=False)]


def _business() -> list[PromptItem]:
    from ..evals import get_task

    return [PromptItem(it.id, it.messages, it.check, it.category) for it in get_task("business").items]  # type: ignore[union-attr]


def load_prompt_file(path: Path) -> list[PromptItem]:
    items: list[PromptItem] = []
    for lineno, obj in data.read_jsonl(path):
        if not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
            raise TaskFileError(str(path), lineno, "field 'prompt' is missing or not a non-empty string")
        if obj.get("check") is not None:
            try:
                validate_check(obj["check"])
            except CheckSpecError as e:
                raise TaskFileError(str(path), lineno, f"field 'check': {e}") from None
        system = obj.get("system")
        msgs = ((Message("system", system),) if isinstance(system, str) and system else ()) + (Message("user", obj["prompt"]),)
        items.append(PromptItem(str(obj.get("id", f"line-{lineno}")), msgs, obj.get("check"), str(obj.get("category", ""))))
    if not items:
        raise TaskFileError(str(path), None, "no prompts (expected one JSON object per line)")
    return items


def load_prompts(name: str) -> list[PromptItem]:
    if name == "mt_bench":
        return _mt_bench()
    if name == "business":
        return _business()
    p = Path(name)
    if p.exists() or p.suffix in (".jsonl", ".json"):
        if not p.exists():
            raise TaskFileError(name, None, "no such file")
        return load_prompt_file(p)
    raise UsageError(f"unknown prompt set {name!r}: use mt_bench, business, or a .jsonl file of prompts")
