"""`--output FILE` (JSON or CSV, by the file's extension) for eval, compare and arena ratings, and
`--log-samples`: every item's prompt, answer and score, one JSON object per line beside the output
(`results.json` → `results.samples.jsonl`), as lm-evaluation-harness's `--log_samples` writes them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError


def check_path(path: str | None, log_samples: bool = False) -> Path | None:
    """The output path, checked before any model is called: a .json or .csv file in a folder that exists."""
    if log_samples and not path:
        raise UsageError("--log-samples writes beside --output FILE: give --output results.json")
    if not path:
        return None
    p = Path(path)
    if p.suffix.lower() not in (".json", ".csv"):
        raise UsageError(f"--output {path}: name a .json or .csv file (the format follows the extension)")
    if not p.parent.exists():
        raise UsageError(f"--output {path}: no such folder {p.parent}")
    return p


def write_rows(p: Path, payload: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    """`payload` as JSON, or `rows` (flat dicts) as CSV."""
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        return
    buf = io.StringIO()
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()})
    p.write_text(buf.getvalue(), encoding="utf-8")


def samples_path(p: Path) -> Path:
    return p.with_name(p.stem + ".samples.jsonl")


def write_samples(p: Path, store: Any, results: Sequence[Any]) -> int:
    """Every item of every result: model, task, item, status, score, the prompt and the answer as the model
    saw and wrote them (from the store's calls), the check's verdict. Returns the number of lines."""
    from .runs import prompt_text

    n = 0
    with samples_path(p).open("w", encoding="utf-8") as f:
        for r in results:
            calls = store.calls_by_key(o.call_key for o in r.items if o.call_key)
            for o in r.items:
                c = calls.get(o.call_key) if o.call_key else None
                f.write(json.dumps({"model": r.model, "task": r.task, "item": o.item_id, "status": o.status,
                                    "score": o.score, "prompt": prompt_text(c.request_json) if c else None,
                                    "answer": (c.text if c else None) if o.text is None else o.text,
                                    "detail": o.detail}, ensure_ascii=False) + "\n")
                n += 1
    return n
