"""WinoGrande dev set (xl), in llm-foundry's converted format: context_options [sentence up to the
blank with option 1 / option 2 filled in], continuation (the rest of the sentence), gold.

lm-eval winogrande scores by PARTIAL evaluation: each option gives its own context and the rest
of the sentence is the shared continuation, log P(" " + rest | sentence[:blank] + option_i).
lm-eval's default is 0-shot; Gemma's reports use 5-shot (--shots 5). Few-shot examples are the
gold-filled sentences of other dev items (the public file holds the dev split only), seeded.
"""

from __future__ import annotations

from pathlib import Path

from .. import data
from ..data import DataFile
from ..task_types import Task
from .common import (
    FOUNDRY,
    Doc,
    Fields,
    build_task,
    fewshot_items,
    matches_pin,
    read_jsonl,
    resolve_shots,
)

WINOGRANDE = DataFile(
    "winogrande/winogrande_dev.jsonl",
    f"{FOUNDRY}/language_understanding/winogrande.jsonl",
    "ea1592526f3bfdd0948ed3acb1b4dfa3f83d23698917118688ee1df7f8d4b8d7",
    "WinoGrande dev set",
)


def split_options(contexts: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The sentence up to the blank, and the options, from the option-filled contexts (for the
    letter prompt): their common prefix, cut back to a word boundary."""
    a = contexts[0]
    n = 0
    while n < len(a) and all(len(c) > n and c[n] == a[n] for c in contexts):
        n += 1
    if n < len(a) or any(len(c) > n for c in contexts):  # they differ from position n on
        n = a.rfind(" ", 0, n) + 1
    return a[:n], tuple(c[n:] for c in contexts)


def load_docs(path: Path) -> list[Doc]:
    docs = []
    for i, (line, row) in enumerate(read_jsonl(path, "WinoGrande"), start=1):
        f = Fields(path, line, row, "WinoGrande")
        contexts, rest = f.texts("context_options", 2), f.text("continuation")
        head, options = split_options(contexts)
        question = f"{head}_ {rest}\nWhich option fills the blank (_)?"
        docs.append(Doc(f"winogrande-{i}", contexts[0], options, f.index("gold", 2), question,
                        queries=contexts, continuation=rest))
    return docs


def winogrande(shots: int | None = None, seed: int = 1234) -> Task:
    k = resolve_shots("winogrande", shots, 0)
    path = data.resolve(WINOGRANDE)
    return build_task("winogrande", fewshot_items("winogrande", load_docs(path), k, seed), metric="acc", shots=k,
                      seed=seed, description=f"WinoGrande dev (xl), partial scoring, {k}-shot",
                      prompt_format="{sentence up to the blank}{option_i}" + " {rest of the sentence} (partial scoring)",
                      pinned=matches_pin([(path, WINOGRANDE)]), source=WINOGRANDE.url,
                      fewshot_source="dev split, item excluded (the public file has no train split)")
