import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("CODEROUGE_DATA", str(SHARED_DATA))
# tests never reach the internet and never read a developer's keys or store
for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "CODEROUGE_PRICES"):
    os.environ.pop(var, None)


@pytest.fixture()
def store_path(tmp_path, monkeypatch):
    p = tmp_path / "store.db"
    monkeypatch.setenv("CODEROUGE_STORE", str(p))
    return p


@pytest.fixture()
def store(store_path):
    from coderouge.store import Store

    s = Store(store_path)
    yield s
    s.close()
