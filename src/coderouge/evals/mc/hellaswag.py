"""HellaSwag validation set (commonsense sentence completion), the official file
rowanz/hellaswag data/hellaswag_val.jsonl (10,042 records: ind, activity_label, ctx_a, ctx_b,
ctx, endings[4], label, split, split_type, source_id).

lm-eval hellaswag: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()),
choices = [preprocess(ending)], headline metric acc_norm. The file is not in the offline data
mirror; put it at $CODEROUGE_DATA/hellaswag/hellaswag_val.jsonl or let it download (pinned sha256).
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import data
from ..data import DataFile
from ..task_types import Task
from .common import (
    Doc,
    Fields,
    build_task,
    fewshot_items,
    matches_pin,
    read_jsonl,
    resolve_shots,
)

HELLASWAG = DataFile(
    "hellaswag/hellaswag_val.jsonl",
    "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl",
    # 12,246,618 bytes; the checksum TensorFlow Datasets pins for this URL (url_checksums/hellaswag.txt)
    "0aa3b88843990f3f10a97b9575c94d7b71fb2205240ba04ae4884d9e9c992588",
    "HellaSwag validation set",
)


def preprocess(text: str) -> str:
    """lm-eval's clean-up of WikiHow artefacts: " [title]" becomes ". ", other [bracketed] tags go,
    double spaces become single."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def load_docs(path: Path) -> list[Doc]:
    docs = []
    for i, (line, row) in enumerate(read_jsonl(path, "HellaSwag"), start=1):
        f = Fields(path, line, row, "HellaSwag")
        label = row.get("activity_label")
        ctx_a, ctx_b = row.get("ctx_a"), row.get("ctx_b")
        if not isinstance(label, str) or not isinstance(ctx_a, str) or not isinstance(ctx_b, str):
            raise f.error("fields 'activity_label', 'ctx_a' and 'ctx_b' must be strings")
        endings = f.texts("endings", 4)
        if "label" not in row or row["label"] in ("", None):
            raise f.error("field 'label' is missing (the unlabelled test file cannot be scored)")
        query = preprocess(label + ": " + ctx_a + " " + ctx_b.capitalize())
        docs.append(Doc(f"hellaswag-{i}", query, tuple(preprocess(e) for e in endings), f.index("label", 4),
                        f"{query} …\nWhich ending is the most likely continuation?"))
    return docs


def hellaswag(shots: int | None = None, seed: int = 1234) -> Task:
    k = resolve_shots("hellaswag", shots, 0)
    path = data.resolve(HELLASWAG)
    return build_task("hellaswag", fewshot_items("hellaswag", load_docs(path), k, seed), metric="acc_norm", shots=k,
                      seed=seed, description=f"HellaSwag validation (sentence completion, 4 endings), {k}-shot",
                      prompt_format="{activity_label}: {ctx_a} {ctx_b.capitalize()}" + " {ending} (lm-eval preprocessing)",
                      pinned=matches_pin([(path, HELLASWAG)]), source=HELLASWAG.url,
                      fewshot_source="validation split, item excluded (lm-eval draws from train)")
