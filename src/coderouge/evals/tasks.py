"""The task registry: the built-in `business` suite, the multiple-choice benchmarks named as in
lm-evaluation-harness (one small module each under `evals/mc/`), the generation benchmarks (gsm8k,
humaneval, ifeval, each in its own module, imported only when asked for), and a team's own JSONL files.
`Task`, `GenItem` and `MCItem` are defined in `task_types.py`, which the benchmark modules import
(they never import this registry).

A task file is JSON Lines, one item a line:
    {"id": "...", "prompt": "...", "system": "... (optional)", "check": {...}, "max_tokens": 400 (optional)}
`check` is one of the programmatic checks in `checks.py` (or a list of them, all must pass).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..errors import CheckSpecError, TaskFileError, UsageError
from ..types import Message
from . import data
from .checks import validate_check
from .task_types import GenItem, Task

__all__ = ["FEWSHOT_SEED", "get_task", "load_task_file", "register_task", "task_names"]

FEWSHOT_SEED = 1234  # lm-evaluation-harness's default fewshot_seed


def load_task_file(path: str | Path, name: str | None = None) -> Task:
    path = Path(path)
    items: list[GenItem] = []
    seen: set[str] = set()
    for lineno, obj in data.read_jsonl(path):
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


def _business(shots: int | None, fewshot_seed: int) -> Task:
    _no_shots("business", shots)
    ref = resources.files("coderouge.evals") / "data" / "business.jsonl"
    with resources.as_file(ref) as p:
        t = load_task_file(p, "business")
    return Task("business", "generate", t.items, "pass_rate",
                description="built-in business suite: extraction, classification, summaries, grounded QA, figures, rewriting",
                max_tokens=400, prompt_format="chat, user prompt as written")


def _no_shots(name: str, shots: int | None) -> None:
    if shots:
        raise UsageError(f"{name} has no few-shot examples; --shots applies to the multiple-choice benchmarks")


# --- registry ----------------------------------------------------------------------------------
# A builder takes (shots, fewshot_seed): shots None means the task's own default (lm-eval's).

Builder = Callable[[int | None, int], Task]


def _lazy(module: str, func: str) -> Builder:
    """A builder that imports its module only when the task is asked for."""

    def build(shots: int | None, fewshot_seed: int) -> Task:
        mod = importlib.import_module(module, __package__)
        return getattr(mod, func)(shots=shots, seed=fewshot_seed)

    return build


def _gsm8k(shots: int | None, fewshot_seed: int) -> Task:
    from .gsm8k import load_gsm8k

    return load_gsm8k(8 if shots is None else shots)  # lm-eval's gsm8k_cot: its 8 fixed exemplars


def _humaneval(shots: int | None, fewshot_seed: int) -> Task:
    from .humaneval import load_humaneval

    _no_shots("humaneval", shots)
    return load_humaneval()


def _ifeval(shots: int | None, fewshot_seed: int) -> Task:
    from .ifeval import load_ifeval

    _no_shots("ifeval", shots)
    return load_ifeval()


BUILTIN: dict[str, Builder] = {
    "business": _business,
    "arc_easy": _lazy(".mc.arc", "arc_easy"),
    "arc_challenge": _lazy(".mc.arc", "arc_challenge"),
    "piqa": _lazy(".mc.piqa", "piqa"),
    "boolq": _lazy(".mc.boolq", "boolq"),
    "winogrande": _lazy(".mc.winogrande", "winogrande"),
    "hellaswag": _lazy(".mc.hellaswag", "hellaswag"),
    "truthfulqa_mc1": _lazy(".mc.truthfulqa", "truthfulqa_mc1"),
    "truthfulqa_mc2": _lazy(".mc.truthfulqa", "truthfulqa_mc2"),
    "mmlu": _lazy(".mc.mmlu", "mmlu"),
    "gsm8k": _gsm8k,
    "humaneval": _humaneval,
    "ifeval": _ifeval,
}
# tasks that are not a list of items but a procedure of their own (see cli/eval.py): listed for discovery
SPECIAL = {"mt_bench": "two turns, judged 1-10 by an LLM: coderouge eval MODEL --task mt_bench --judge JUDGE_MODEL"}


def register_task(name: str, builder: Builder) -> None:
    """Add a built-in task: `builder(shots, fewshot_seed)` returns the Task (shots None: its default)."""
    BUILTIN[name] = builder


def task_names() -> list[str]:
    return sorted([*BUILTIN, *SPECIAL])


def get_task(name: str, shots: int | None = None, fewshot_seed: int = FEWSHOT_SEED) -> Task:
    """A built-in task by name, or a .jsonl task file. `shots` overrides the task's number of few-shot
    examples (None: the task's default, lm-evaluation-harness's); `fewshot_seed` seeds their choice."""
    if shots is not None and shots < 0:
        raise UsageError(f"--shots must be 0 or more, got {shots}")
    if name in BUILTIN:
        return BUILTIN[name](shots, fewshot_seed)
    if name in SPECIAL:
        raise UsageError(f"{name} runs on its own: {SPECIAL[name]}")
    p = Path(name)
    if p.suffix in (".jsonl", ".json") or p.exists():
        if not p.exists():
            raise TaskFileError(name, None, "no such file")
        _no_shots(name, shots)
        return load_task_file(p)
    close = difflib.get_close_matches(name, task_names(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"unknown task {name!r}{hint} (built-in tasks: {', '.join(task_names())}; or give a .jsonl task file)")
