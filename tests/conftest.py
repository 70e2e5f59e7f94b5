import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("CODEROUGE_DATA", str(SHARED_DATA))
# tests never reach the internet and never read a developer's keys or store
for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "CODEROUGE_PRICES"):
    os.environ.pop(var, None)


# --- PostgreSQL: a real server for the whole test session, started and stopped here ----------------
@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server in a temporary directory, on a unix socket only; yields the socket directory."""
    from pg_server import temp_postgres

    try:
        with temp_postgres() as d:
            yield d
    except RuntimeError as e:  # not installed or did not start: a failure, never a skip
        pytest.fail(str(e))


_PG_DBS = iter(range(1, 10**6))


@pytest.fixture()
def pg_url(pg_server):
    """A fresh, empty database on the session's server; dropped afterwards."""
    from pg_server import create_database, drop_database

    name = f"t{os.getpid()}_{next(_PG_DBS)}"
    yield create_database(pg_server, name)
    drop_database(pg_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, monkeypatch):
    """The store's location on each backend: a SQLite file, then a PostgreSQL database (set as CODEROUGE_STORE)."""
    url = str(tmp_path / "store.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("CODEROUGE_STORE", url)
    return url


@pytest.fixture()
def any_store(store_url):
    from coderouge.store import Store

    s = Store(store_url)
    yield s
    s.close()


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


# In CI (CI=true) a skipped test is a failure: a real component that cannot start (browser,
# model, sandbox tool, database) must make the run fail, never hide a whole area.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"
