"""Where benchmark data comes from: $CODEROUGE_DATA, else a cache filled from the public source,
checked against a pinned sha256. Offline and missing: a message saying what to put where."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataNotFoundError, TaskFileError, UsageError


@dataclass(frozen=True)
class DataFile:
    relpath: str  # path inside a data directory laid out like shared/data
    url: str
    sha256: str
    what: str


def cache_dir() -> Path:
    if os.environ.get("CODEROUGE_CACHE"):
        return Path(os.environ["CODEROUGE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coderouge" / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve(df: DataFile, download: bool = True) -> Path:
    """The local path of a data file: from $CODEROUGE_DATA, the cache, or downloaded into the cache."""
    data_dir = os.environ.get("CODEROUGE_DATA")
    if data_dir:
        root = Path(data_dir)
        if not root.is_dir():
            raise DataNotFoundError(f"CODEROUGE_DATA={data_dir} is not a directory")
        path = root / df.relpath
        if not path.is_file():
            raise DataNotFoundError(f"{df.what}: {path} not found; CODEROUGE_DATA must hold {df.relpath}")
        return path
    cached = cache_dir() / df.relpath
    if cached.is_file():
        return cached
    if not download:
        raise DataNotFoundError(_missing_message(df, cached, "downloads are off"))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
            with urllib.request.urlopen(df.url, timeout=60) as resp:
                shutil.copyfileobj(resp, tmp)
        got = _sha256(Path(tmp.name))
        if got != df.sha256:
            os.unlink(tmp.name)
            raise UsageError(f"{df.what}: download from {df.url} has sha256 {got}, expected {df.sha256}; not used")
        os.replace(tmp.name, cached)
    except OSError as e:
        raise DataNotFoundError(_missing_message(df, cached, f"download failed: {e}")) from None
    return cached


def _missing_message(df: DataFile, cached: Path, why: str) -> str:
    return (
        f"{df.what} is not available ({why}). Either set CODEROUGE_DATA to a directory holding {df.relpath}, "
        f"or put the file from {df.url} at {cached}"
    )


ARC_EASY = DataFile(
    "arc/arc_easy_test.jsonl",
    "https://raw.githubusercontent.com/mosaicml/llm-foundry/main/scripts/eval/local_data/world_knowledge/arc_easy.jsonl",
    "d2d12e59543acf9a5ef6079634a72b30215e36c2fd4236fff3bc855d287b87f5",
    "ARC-Easy test set",
)


def read_jsonl(path: str | os.PathLike[str], what: str | None = None) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file. An unreadable file, or a line
    that is not a JSON object, is a TaskFileError naming the file and line (`what` prefixes the problem)."""
    pre = f"{what}: " if what else ""
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark (some Windows editors) is not an error
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TaskFileError(str(path), lineno, f"{pre}invalid JSON: {e.msg} (column {e.colno})") from None
                if not isinstance(obj, dict):
                    raise TaskFileError(str(path), lineno, f"{pre}each line must be a JSON object")
                rows.append((lineno, obj))
    except OSError as e:
        raise TaskFileError(str(path), None, f"{pre}cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise TaskFileError(str(path), None, f"{pre}not UTF-8 text: {e}") from None
    return rows
