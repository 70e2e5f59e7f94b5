import sqlite3

import pytest

from coderouge.errors import RateLimitError, UsageError
from coderouge.store import MIGRATIONS, Store
from coderouge.types import Completion, Message, Request, Usage


def req(text="hi"):
    return Request("fake/x", (Message("user", text),))


def test_wal_and_migrations(store):
    mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert store.schema_version == len(MIGRATIONS)
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"calls", "loglik", "eval_runs", "eval_items"} <= tables


def test_reopen_keeps_data_and_does_not_remigrate(store_path):
    s = Store(store_path)
    s.record(req().key(), req(), None, 1, Completion("fake/x", "hello", "stop", Usage(3, 1), 0.1, 0.2, 0.0))
    s.close()
    s2 = Store(store_path)
    assert s2.count_calls("ok") == 1
    assert s2.cached([req().key()])[req().key()].text == "hello"
    s2.close()


def test_newer_schema_is_refused_without_touching_it(store_path):
    s = Store(store_path)
    s.db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    s.close()
    with pytest.raises(UsageError, match="newer coderouge"):
        Store(store_path)
    db = sqlite3.connect(store_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 5


def test_errors_are_stored_but_never_served_from_cache(store):
    r = req()
    store.record(r.key(), r, None, 1, error=RateLimitError("slow down", provider="fake", status=429, retry_after=2))
    assert store.cached([r.key()]) == {}
    row = store.db.execute("SELECT status, error_kind, error_status FROM calls").fetchone()
    assert row == ("error", "rate_limited", 429)


def test_latest_success_wins(store):
    r = req()
    store.record(r.key(), r, None, 1, Completion("fake/x", "old", "stop"))
    store.record(r.key(), r, None, 1, Completion("fake/x", "new", "stop"))
    assert store.cached([r.key()])[r.key()].text == "new"


def test_secrets_never_reach_the_store(store):
    from coderouge.providers.base import register_secret

    register_secret("sk-test-SECRET-123456789")
    r = req()
    store.record(r.key(), r, None, 1, error=RateLimitError("bad key sk-test-SECRET-123456789", provider="openai"))
    dump = "\n".join(store.db.iterdump())
    assert "SECRET-123456789" not in dump


def test_cache_key_covers_model_params_base_url():
    a = Request("openai/m", (Message("user", "x"),))
    assert a.key() != Request("openai/m2", (Message("user", "x"),)).key()
    assert a.key() != Request("openai/m", (Message("user", "x"),), temperature=0.5).key()
    assert a.key() != a.key("http://127.0.0.1:1/v1")
    assert a.key() != Request("openai/m", (Message("user", "y"),)).key()
    assert a.key() == Request("openai/m", (Message("user", "x"),)).key()
