"""Battle logs in FastChat's clean_battle JSON format, read and written. Pure I/O of records.

A log is a JSON array of records, or JSON Lines (one record per line). Each record has at least::

    {"model_a": str, "model_b": str, "winner": "model_a" | "model_b" | "tie" | "tie (bothbad)",
     "tstamp": number, "anony": bool}

Any other fields (question_id, judge, conversation_a, language, ...) are kept as they are. A record
that breaks these rules is rejected with :class:`coderouge.errors.BattleLogError`, which names the file, the record
(1-based) and the field. :func:`write_battles` writes a JSON array, one record per line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import BattleLogError
from ..types import WINNERS

__all__ = ["REQUIRED", "read_battles", "write_battles", "check_record"]

REQUIRED = ("model_a", "model_b", "winner", "tstamp", "anony")


def check_record(rec: Any, number: int, path: str | os.PathLike[str] = "<records>") -> dict[str, Any]:
    """Return ``rec`` if it is a valid clean_battle record, else raise BattleLogError naming ``number``."""
    if not isinstance(rec, Mapping):
        raise BattleLogError(path, number, None, f"a record must be a JSON object, got {type(rec).__name__}")
    for field in REQUIRED:
        if field not in rec:
            raise BattleLogError(path, number, field, "missing")
    for field in ("model_a", "model_b"):
        if not isinstance(rec[field], str) or not rec[field].strip():
            raise BattleLogError(path, number, field, f"must be a non-empty model name, got {rec[field]!r}")
    if rec["winner"] not in WINNERS:
        raise BattleLogError(path, number, "winner", f"{rec['winner']!r} is not one of {', '.join(WINNERS)}")
    t = rec["tstamp"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise BattleLogError(path, number, "tstamp", f"must be a finite number (seconds since the epoch), got {t!r}")
    if not isinstance(rec["anony"], bool):
        raise BattleLogError(path, number, "anony", f"must be true or false, got {rec['anony']!r}")
    if rec["model_a"] == rec["model_b"]:
        raise BattleLogError(path, number, "model_b", f"a self-battle: model_a and model_b are both {rec['model_a']!r}")
    return dict(rec)


def read_battles(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and check a clean_battle log: a JSON array or JSON Lines. Extra fields are kept."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BattleLogError(path, None, None, f"cannot read the battle log: {e}") from None
    body = text.lstrip()
    if body.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            problem = f"not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}"
            raise BattleLogError(path, None, None, problem) from None
        if not isinstance(records, list):
            raise BattleLogError(path, None, None, "expected a JSON array of records")
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BattleLogError(path, len(records) + 1, None,
                                     f"line {lineno} is not valid JSON (column {e.colno}): {e.msg}") from None
    return [check_record(rec, k, path) for k, rec in enumerate(records, 1)]


def write_battles(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Check and write records as a JSON array (one record per line), atomically. Returns the count."""
    lines = []
    for k, rec in enumerate(records, 1):
        try:
            lines.append(json.dumps(check_record(rec, k, path), ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as e:
            if isinstance(e, BattleLogError):
                raise
            raise BattleLogError(path, k, None, f"cannot be written as JSON: {e}") from None
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as e:
        raise BattleLogError(path, None, None, f"cannot write the battle log: {e}") from None
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines)
