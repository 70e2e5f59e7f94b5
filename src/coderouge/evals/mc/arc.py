"""ARC-Easy and ARC-Challenge test sets (AI2 Reasoning Challenge), in llm-foundry's converted format
(query "Question: …", choices, gold). lm-eval arc_easy / arc_challenge:
"Question: {question}\\nAnswer:" + " {choice}", acc and acc_norm, 0-shot by default."""

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

ARC_CHALLENGE = DataFile(
    "arc/arc_challenge_test.jsonl",
    f"{FOUNDRY}/world_knowledge/arc_challenge.jsonl",
    "1ae3aeedf1951d881cbd5c2e3a31e78a1993d251479afbe4cb413b6707244636",
    "ARC-Challenge test set",
)
PROMPT = "Question: {question}\\nAnswer:" + " {choice}"


def load_docs(path: Path, name: str, what: str) -> list[Doc]:
    docs = []
    for i, (line, row) in enumerate(read_jsonl(path, what), start=1):
        f = Fields(path, line, row, what)
        query, choices = f.text("query", "Question: "), f.texts("choices")
        question = query[len("Question: "):]
        docs.append(Doc(f"{name}-{i}", f"Question: {question}\nAnswer:", choices, f.index("gold", len(choices)), question))
    return docs


def _arc(df: DataFile, name: str, what: str, shots: int | None, seed: int) -> Task:
    k = resolve_shots(name, shots, 0)
    path = data.resolve(df)
    docs = load_docs(path, name, what)
    return build_task(name, fewshot_items(name, docs, k, seed), metric="acc", shots=k, seed=seed,
                      description=f"{what} (AI2 Reasoning Challenge), {k}-shot", prompt_format=PROMPT,
                      pinned=matches_pin([(path, df)]), source=df.url)


def arc_easy(shots: int | None = None, seed: int = 1234) -> Task:
    return _arc(data.ARC_EASY, "arc_easy", "ARC-Easy test", shots, seed)


def arc_challenge(shots: int | None = None, seed: int = 1234) -> Task:
    return _arc(ARC_CHALLENGE, "arc_challenge", "ARC-Challenge test", shots, seed)
