"""Prompt sets for battles: MT-Bench questions (first turn, from the data directory), the built-in
`business` suite (with its checks, so the reference judge can decide), or a user's JSONL file
(one object a line: "prompt" required; "id", "system" and "check" optional)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckSpecError, TaskFileError, UsageError
from ..evals import data
from ..evals.checks import validate_check
from ..evals.mt_bench import MT_BENCH_QUESTIONS
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


MT_BENCH = MT_BENCH_QUESTIONS  # one definition of the file, in evals/mt_bench.py


def _mt_bench() -> list[PromptItem]:
    path = data.resolve(MT_BENCH)
    items = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
                items.append(PromptItem(f"mt_bench-{q['question_id']}", (Message("user", q["turns"][0]),), None, q.get("category", "")))
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
                raise TaskFileError(str(path), lineno, f"MT-Bench question: {e}") from None
    return items


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
