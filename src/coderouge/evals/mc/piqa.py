"""PIQA validation set (physical commonsense), in llm-foundry's converted format: query
"Question: {goal}\\n", choices [sol1, sol2], gold. lm-eval piqa: "Question: {goal}\\nAnswer:" + " {sol}"."""

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

PIQA = DataFile(
    "piqa/piqa_validation.jsonl",
    f"{FOUNDRY}/commonsense_reasoning/piqa.jsonl",
    "d2870e73aec5154df3faf259b7700876e11608eebdf69e9d6667435673dbe4e0",
    "PIQA validation set",
)


def load_docs(path: Path) -> list[Doc]:
    docs = []
    for i, (line, row) in enumerate(read_jsonl(path, "PIQA"), start=1):
        f = Fields(path, line, row, "PIQA")
        query, choices = f.text("query", "Question: "), f.texts("choices", 2)
        goal = query[len("Question: "):]
        goal = goal.removesuffix("\n")  # llm-foundry ends the query with one newline
        docs.append(Doc(f"piqa-{i}", f"Question: {goal}\nAnswer:", choices, f.index("gold", 2), goal))
    return docs


def piqa(shots: int | None = None, seed: int = 1234) -> Task:
    k = resolve_shots("piqa", shots, 0)
    path = data.resolve(PIQA)
    return build_task("piqa", fewshot_items("piqa", load_docs(path), k, seed), metric="acc", shots=k, seed=seed,
                      description=f"PIQA validation (physical commonsense, 2 solutions), {k}-shot",
                      prompt_format="Question: {goal}\\nAnswer:" + " {solution}",
                      pinned=matches_pin([(path, PIQA)]), source=PIQA.url)
