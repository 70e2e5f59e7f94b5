"""What every multiple-choice benchmark module shares: reading records with file:line errors,
lm-evaluation-harness's few-shot layout, seeded few-shot choice, and building the Task.

A benchmark module turns each record into a `Doc` (lm-eval's doc_to_text / doc_to_choice /
doc_to_target, already rendered), then `build_task` lays out the few-shot examples and makes the
items. lm-eval's layout: description + (shot + "\\n\\n") × k + query, each shot being its query
followed by the target delimiter " " and its gold choice.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskFileError, UsageError
from .. import data
from ..data import DataFile
from ..task_types import MCItem, Task

FOUNDRY = "https://raw.githubusercontent.com/mosaicml/llm-foundry/main/scripts/eval/local_data"
FEWSHOT_DELIMITER = "\n\n"
TARGET_DELIMITER = " "


@dataclass(frozen=True)
class Doc:
    """One record rendered as lm-evaluation-harness renders it.

    `query` is doc_to_text; `choices` doc_to_choice, each scored as " " + choice after the query.
    Partial scoring (WinoGrande): `queries` gives one context per choice and `continuation` the
    shared rest, scored as " " + continuation; `choices` are then the options as a person reads them.
    """

    id: str
    query: str
    choices: tuple[str, ...]
    gold: int
    question: str = ""  # for the letter prompt; default the query
    golds: tuple[int, ...] = ()
    group: str = ""
    queries: tuple[str, ...] = ()
    continuation: str = ""
    targets: tuple[str, ...] = ()  # what follows the delimiter, when not the choice text (MMLU: A/B/C/D)

    def continuations(self) -> tuple[str, ...]:
        if self.queries:
            return (TARGET_DELIMITER + self.continuation,) * len(self.queries)
        return tuple(TARGET_DELIMITER + t for t in (self.targets or self.choices))

    def shot(self) -> str:
        """This record as a solved few-shot example (without the delimiter after it)."""
        ctx = self.queries[self.gold] if self.queries else self.query
        return ctx + self.continuations()[self.gold]


# --- reading ---------------------------------------------------------------------------------------


def read_jsonl(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object is a TaskFileError."""
    rows = data.read_jsonl(path, what)
    if not rows:
        raise TaskFileError(str(path), None, f"{what}: no records")
    return rows


class Fields:
    """Typed access to one record's fields; anything missing or mistyped names the file and line."""

    def __init__(self, path: Path, line: int | None, row: dict[str, Any], what: str):
        self.path, self.line, self.row, self.what = path, line, row, what

    def error(self, problem: str) -> TaskFileError:
        return TaskFileError(str(self.path), self.line, f"{self.what}: {problem}")

    def text(self, key: str, prefix: str = "") -> str:
        v = self.row.get(key)
        if not isinstance(v, str) or not v.strip():
            raise self.error(f"field {key!r} is missing or not a non-empty string")
        if prefix and not v.startswith(prefix):
            raise self.error(f"field {key!r} should start with {prefix!r} (llm-foundry's format)")
        return v

    def texts(self, key: str, n: int | None = None) -> tuple[str, ...]:
        v = self.row.get(key)
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise self.error(f"field {key!r} is missing or not a non-empty list of strings")
        if n is not None and len(v) != n:
            raise self.error(f"field {key!r} has {len(v)} entries, expected {n}")
        return tuple(v)

    def index(self, key: str, n: int) -> int:
        v = self.row.get(key)
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n:
            raise self.error(f"field {key!r} must be an index 0..{n - 1}, got {v!r}")
        return v


def matches_pin(paths: Sequence[tuple[Path, DataFile]]) -> bool:
    """Whether the files read are byte for byte the pinned public files (recorded with each result)."""
    for path, df in paths:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != df.sha256:
            return False
    return True


# --- few-shot --------------------------------------------------------------------------------------


def resolve_shots(name: str, shots: int | None, default: int, maximum: int | None = None, why: str = "") -> int:
    k = default if shots is None else shots
    if k < 0:
        raise UsageError(f"--shots must be 0 or more, got {k}")
    if maximum is not None and k > maximum:
        raise UsageError(f"{name} takes at most {maximum} few-shot examples{f' ({why})' if why else ''}; got --shots {k}")
    return k


def pick_shots(n: int, i: int, k: int, seed: int, name: str) -> list[int]:
    """k indices of other records of the same split, chosen by a generator seeded by (name, seed, i):
    an item's examples do not depend on which other items a --limit sample holds."""
    if k == 0:
        return []
    rng = random.Random(f"{name}:{seed}:{i}")
    return [j + (j >= i) for j in rng.sample(range(n - 1), k)]


def make_item(doc: Doc, prefix: str = "", shots: Sequence[Doc] = (), letter_order: tuple[int, ...] = ()) -> MCItem:
    """The MCItem for `doc` with `prefix` (description and few-shot examples) before its context."""
    conts = doc.continuations()
    default = tuple(TARGET_DELIMITER + c for c in doc.choices)
    return MCItem(
        id=doc.id, question=doc.question or doc.query, context=prefix + doc.query, choices=doc.choices, gold=doc.gold,
        continuations=() if conts == default else conts,
        contexts=tuple(prefix + q for q in doc.queries),
        golds=doc.golds, group=doc.group,
        letter_shots=tuple((s.question or s.query, s.choices, s.gold) for s in shots),
        letter_order=letter_order,
    )


def fewshot_items(name: str, docs: Sequence[Doc], k: int, seed: int,
                  letter_order: Callable[[Doc], tuple[int, ...]] | None = None) -> tuple[MCItem, ...]:
    """Items whose k examples come from the same split, the item itself excluded, seeded.
    (lm-eval draws them from the training split; the public files here hold one split only.)"""
    if k > len(docs) - 1:
        raise UsageError(f"{name}: --shots {k} needs more records than the {len(docs)} in the file")
    out = []
    for i, d in enumerate(docs):
        shots = [docs[j] for j in pick_shots(len(docs), i, k, seed, name)]
        prefix = "".join(s.shot() + FEWSHOT_DELIMITER for s in shots)
        out.append(make_item(d, prefix, shots, letter_order(d) if letter_order else ()))
    return tuple(out)


def build_task(name: str, items: tuple[MCItem, ...], *, metric: str, shots: int, seed: int, description: str,
               prompt_format: str, pinned: bool, source: str, fewshot_source: str = "same split, item excluded",
               letter_ok: bool = True, aggregate: str = "mean", seeded: bool = True, **meta: Any) -> Task:
    m: dict[str, Any] = {"lm_eval_task": name, "data_source": source, "data_matches_pin": pinned}
    if shots:
        m.update(fewshot_source=fewshot_source, **({"fewshot_seed": seed} if seeded else {}))
    m.update(meta)
    return Task(name, "multiple_choice", items, metric, description=description, max_tokens=32, shots=shots,
                prompt_format=prompt_format, meta=m, letter_ok=letter_ok, aggregate=aggregate)  # type: ignore[arg-type]
