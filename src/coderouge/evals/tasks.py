"""Task definitions and loading: the built-in `business` suite, ARC-Easy, and a team's own JSONL files.

A task file is JSON Lines, one item a line:
    {"id": "...", "prompt": "...", "system": "... (optional)", "check": {...}, "max_tokens": 400 (optional)}
`check` is one of the programmatic checks in `checks.py` (or a list of them, all must pass).
"""

from __future__ import annotations

import difflib
import json
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import TaskFileError, UsageError
from ..types import Message
from . import data
from .checks import CheckSpecError, validate_check


@dataclass(frozen=True)
class GenItem:
    id: str
    messages: tuple[Message, ...]
    check: Any
    category: str = ""
    max_tokens: int | None = None  # this item's answer budget; else the task's


@dataclass(frozen=True)
class MCItem:
    id: str
    question: str  # the bare question, for the letter prompt
    context: str  # the context for log-likelihood scoring
    choices: tuple[str, ...]
    gold: int


@dataclass(frozen=True)
class Task:
    name: str
    kind: Literal["generate", "multiple_choice"]
    items: tuple[GenItem, ...] | tuple[MCItem, ...]
    metric: str
    description: str = ""
    max_tokens: int = 512
    shots: int = 0
    prompt_format: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def sample(self, limit: int | None, seed: int = 1234) -> "Task":
        """A seeded sample of `limit` items (all items, in order, when limit is None or large enough)."""
        if limit is None or limit >= len(self.items):
            return self
        if limit <= 0:
            raise UsageError(f"--limit must be positive, got {limit}")
        idx = sorted(random.Random(seed).sample(range(len(self.items)), limit))
        items = tuple(self.items[i] for i in idx)
        return Task(self.name, self.kind, items, self.metric, self.description, self.max_tokens, self.shots,
                    self.prompt_format, {**self.meta, "sample_seed": seed, "sampled_from": len(self.items)})  # type: ignore[arg-type]


def load_task_file(path: str | Path, name: str | None = None) -> Task:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskFileError(str(path), None, f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise TaskFileError(str(path), None, f"not UTF-8 text: {e}") from None
    items: list[GenItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskFileError(str(path), lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(obj, dict):
            raise TaskFileError(str(path), lineno, "each line must be a JSON object")
        prompt = obj.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskFileError(str(path), lineno, "field 'prompt' is missing or not a non-empty string")
        if "check" not in obj:
            raise TaskFileError(str(path), lineno, "field 'check' is missing")
        try:
            validate_check(obj["check"])
        except CheckSpecError as e:
            raise TaskFileError(str(path), lineno, f"field 'check': {e}") from None
        item_id = str(obj.get("id", f"line-{lineno}"))
        if item_id in seen:
            raise TaskFileError(str(path), lineno, f"field 'id': duplicate id {item_id!r}")
        seen.add(item_id)
        system = obj.get("system")
        if system is not None and not isinstance(system, str):
            raise TaskFileError(str(path), lineno, "field 'system' must be a string")
        max_tokens = obj.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0):
            raise TaskFileError(str(path), lineno, "field 'max_tokens' must be a positive integer")
        msgs = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
        items.append(GenItem(item_id, msgs, obj["check"], str(obj.get("category", "")), max_tokens))
    if not items:
        raise TaskFileError(str(path), None, "no items (expected one JSON object per line)")
    return Task(name or path.stem, "generate", tuple(items), "pass_rate",
                description=f"tasks from {path}", max_tokens=512, prompt_format="chat, user prompt as written")


def _business() -> Task:
    ref = resources.files("coderouge.evals") / "data" / "business.jsonl"
    with resources.as_file(ref) as p:
        t = load_task_file(p, "business")
    return Task("business", "generate", t.items, "pass_rate",
                description="built-in business suite: extraction, classification, summaries, grounded QA, figures, rewriting",
                max_tokens=400, prompt_format="chat, user prompt as written")


def _read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise TaskFileError(str(path), lineno, f"{what}: invalid JSON: {e.msg}") from None
    return rows


def _arc_easy() -> Task:
    path = data.resolve(data.ARC_EASY)
    items = []
    for i, row in enumerate(_read_jsonl(path, "ARC-Easy"), start=1):
        try:
            query, choices, gold = row["query"], tuple(row["choices"]), int(row["gold"])
        except (KeyError, TypeError, ValueError) as e:
            raise TaskFileError(str(path), i, f"ARC-Easy record lacks query/choices/gold: {e}") from None
        question = query[len("Question: "):] if query.startswith("Question: ") else query
        # lm-evaluation-harness arc_easy: "Question: {q}\nAnswer:" + " {choice}"
        items.append(MCItem(f"arc_easy-{i}", question, f"Question: {question}\nAnswer:", choices, gold))
    return Task("arc_easy", "multiple_choice", tuple(items), "acc",
                description="ARC-Easy test (AI2 Reasoning Challenge), 0-shot",
                max_tokens=32, prompt_format="Question: {question}\\nAnswer: {choice}")


BUILTIN = {"business": _business, "arc_easy": _arc_easy}


def task_names() -> list[str]:
    return sorted(BUILTIN)


def get_task(name: str) -> Task:
    if name in BUILTIN:
        return BUILTIN[name]()
    p = Path(name)
    if p.suffix in (".jsonl", ".json") or p.exists():
        if not p.exists():
            raise TaskFileError(name, None, "no such file")
        return load_task_file(p)
    close = difflib.get_close_matches(name, task_names(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"unknown task {name!r}{hint} (built-in tasks: {', '.join(task_names())}; or give a .jsonl task file)")
