"""IFEval (Zhou et al. 2023, google-research `instruction_following_eval`), as lm-evaluation-harness's
`ifeval` task: 541 prompts, each with one or more verifiable instructions ("answer in fewer than 50
words", "wrap the answer in double quotes", ...), zero-shot, the prompt as one user turn, greedy,
up to 1280 new tokens.

Scoring, as the reference's evaluation_main.py:
  strict  the response as it is must follow the instruction (an empty response follows none);
  loose   the instruction passes if any of eight variants follows it: the response, with its
          first line removed, its last line, both, and each of those four with every "*" removed.
Metrics: prompt_level_strict_acc (every instruction of a prompt followed, strict: the headline and
each item's score), inst_level_strict_acc (over all instructions), prompt_level_loose_acc and
inst_level_loose_acc: `ifeval_metrics(texts_by_item_id, task)` computes all four.

The verifiers are in instructions.py; sentence counting, word tokenising for capital words and
language identification are dependency-free approximations of nltk/langdetect (see there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskFileError
from ...types import Message
from .. import data
from ..data import read_jsonl
from ..checks import CheckResult
from ..task_types import GenItem, Task
from .instructions import INSTRUCTIONS, Instruction, build

__all__ = [
    "IFEVAL",
    "INSTRUCTIONS",
    "METRICS",
    "IFEvalCheck",
    "Instruction",
    "build",
    "ifeval_metrics",
    "load_ifeval",
    "loose_variants",
    "read_ifeval",
]

IFEVAL = data.DataFile(
    "ifeval/input_data.jsonl",
    "https://raw.githubusercontent.com/google-research/google-research/master/"
    "instruction_following_eval/data/input_data.jsonl",
    "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49",
    "IFEval prompts (google-research instruction_following_eval)",
)

METRICS = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")


def loose_variants(text: str) -> list[str]:
    """The reference's eight loose variants of a response (the response itself first)."""
    lines = text.split("\n")
    no_first = "\n".join(lines[1:]).strip()
    no_last = "\n".join(lines[:-1]).strip()
    no_both = "\n".join(lines[1:-1]).strip()
    base = [text, no_first, no_last, no_both]
    return [text, text.replace("*", ""), no_first, no_last, no_both] + [v.replace("*", "") for v in base[1:]]


@dataclass(frozen=True)
class IFEvalCheck:
    """A GenItem check: `.score(text)` is prompt-level strict; `.evaluate(text)` gives every
    instruction's strict and loose verdicts."""

    instruction_ids: tuple[str, ...]
    instructions: tuple[Instruction, ...]

    def evaluate(self, text: str) -> tuple[list[bool], list[bool]]:
        text = text or ""
        variants = [v for v in loose_variants(text) if v.strip()]
        strict = [bool(text.strip()) and ins.check(text) for ins in self.instructions]
        loose = [s or any(ins.check(v) for v in variants) for s, ins in zip(strict, self.instructions)]
        return strict, loose

    def score(self, text: str) -> CheckResult:
        strict, loose = self.evaluate(text)
        n = len(strict)
        detail = f"strict {sum(strict)}/{n} loose {sum(loose)}/{n}"
        failed = [i for i, ok in zip(self.instruction_ids, strict) if not ok]
        if failed:
            detail += "; strict failed: " + ", ".join(failed)
        passed = all(strict)
        return CheckResult(passed, 1.0 if passed else 0.0, detail)


def ifeval_metrics(texts_by_item_id: Mapping[str, str], task: Task) -> dict[str, float]:
    """The four IFEval accuracies over the task's items that have a response in `texts_by_item_id`
    (items without one, e.g. failed calls, are left out; empty when none has)."""
    p_strict = p_loose = i_strict = i_loose = n_inst = n_prompts = 0
    for it in task.items:
        if it.id not in texts_by_item_id or not isinstance(getattr(it, "check", None), IFEvalCheck):
            continue
        strict, loose = it.check.evaluate(texts_by_item_id[it.id])  # type: ignore[union-attr]
        n_prompts += 1
        n_inst += len(strict)
        p_strict += all(strict)
        p_loose += all(loose)
        i_strict += sum(strict)
        i_loose += sum(loose)
    if not n_prompts:
        return {}
    return {
        "prompt_level_strict_acc": p_strict / n_prompts,
        "inst_level_strict_acc": i_strict / n_inst if n_inst else 0.0,
        "prompt_level_loose_acc": p_loose / n_prompts,
        "inst_level_loose_acc": i_loose / n_inst if n_inst else 0.0,
    }


def _record(row: Any) -> tuple[str, str, IFEvalCheck]:
    if not isinstance(row, dict):
        raise ValueError("each line must be a JSON object")  # noqa: TRY004 - reported as a data error
    prompt, ids, kwargs = row.get("prompt"), row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("field 'prompt' is missing or not a non-empty string")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("field 'instruction_id_list' must be a non-empty list of strings")
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        raise ValueError("field 'kwargs' must be a list of objects, one per instruction")
    if "key" not in row:
        raise ValueError("field 'key' is missing")
    check = IFEvalCheck(tuple(ids), tuple(build(i, k) for i, k in zip(ids, kwargs)))
    return str(row["key"]), prompt, check


def read_ifeval(path: str | Path) -> list[tuple[str, str, IFEvalCheck]]:
    """(key, prompt, check) for each line of an IFEval input_data.jsonl; TaskFileError(path, line)."""
    out = []
    for lineno, row in read_jsonl(path):
        try:
            out.append(_record(row))
        except ValueError as e:
            raise TaskFileError(str(path), lineno, f"IFEval record: {e}") from None
    if not out:
        raise TaskFileError(str(path), None, "no IFEval records")
    return out


def load_ifeval(path: str | Path | None = None) -> Task:
    """The IFEval task (from `path`, else $CODEROUGE_DATA or the pinned download)."""
    src = Path(path) if path is not None else data.resolve(IFEVAL)
    items = tuple(GenItem(f"ifeval-{key}", (Message("user", prompt),), check, category=check.instruction_ids[0].split(":")[0])
                  for key, prompt, check in read_ifeval(src))
    return Task("ifeval", "generate", items, "prompt_level_strict_acc",
                description="IFEval (google-research instruction_following_eval) as lm-eval's ifeval: 541 prompts with "
                            "verifiable instructions; prompt-level strict accuracy (also instruction-level, and loose)",
                max_tokens=1280, shots=0, prompt_format="the prompt as written, one user turn",
                meta={"also": list(METRICS[1:]), "language_detection": "heuristic (no langdetect)",
                      "task_metrics": "coderouge.evals.ifeval:ifeval_metrics"})
