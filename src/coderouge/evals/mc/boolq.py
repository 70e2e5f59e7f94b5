"""BoolQ dev set (yes/no questions about a passage), in llm-foundry's converted format: query
"Passage: {passage}\\nQuestion: {question}?", choices ["no", "yes"], gold.
lm-eval boolq: "{passage}\\nQuestion: {question}?\\nAnswer:" + [" no", " yes"].
(lm-eval reads SuperGLUE's copy, whose passages begin with the article title and " -- ";
llm-foundry's file, from the original BoolQ release, has no titles, so neither do these prompts.)"""

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

BOOLQ = DataFile(
    "boolq/boolq_dev.jsonl",
    f"{FOUNDRY}/reading_comprehension/boolq.jsonl",
    "454ff101e614370bb1807fe7ebbda6fdb57e794b9662cc1ccae211bf1ff626c8",
    "BoolQ dev set",
)


def load_docs(path: Path) -> list[Doc]:
    docs = []
    for i, (line, row) in enumerate(read_jsonl(path, "BoolQ"), start=1):
        f = Fields(path, line, row, "BoolQ")
        query = f.text("query", "Passage: ")
        choices = f.texts("choices", 2)
        if [c.lower() for c in choices] != ["no", "yes"]:
            raise f.error(f"field 'choices' should be ['no', 'yes'], got {list(choices)}")
        text = query[len("Passage: "):]  # "{passage}\nQuestion: {question}?"
        docs.append(Doc(f"boolq-{i}", text + "\nAnswer:", ("no", "yes"), f.index("gold", 2), text))
    return docs


def boolq(shots: int | None = None, seed: int = 1234) -> Task:
    k = resolve_shots("boolq", shots, 0)
    path = data.resolve(BOOLQ)
    return build_task("boolq", fewshot_items("boolq", load_docs(path), k, seed), metric="acc", shots=k, seed=seed,
                      description=f"BoolQ dev (yes/no questions about a passage), {k}-shot",
                      prompt_format="{passage}\\nQuestion: {question}?\\nAnswer:" + " {no|yes}",
                      pinned=matches_pin([(path, BOOLQ)]), source=BOOLQ.url,
                      note="passages without SuperGLUE's 'title -- ' prefix (llm-foundry's file has none)")
