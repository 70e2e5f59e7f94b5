"""The store interface on both backends (SQLite file, real PostgreSQL server): migrations, cache,
read side, transactions, and bad input that is refused without writing anything."""

import json
import sqlite3
import time

import pytest

from coderouge.errors import RateLimitError, StoreOpenError
from coderouge.store import MIGRATIONS, Store
from coderouge.types import Completion, Message, Request, Usage


def req(text="hi", model="fake/x"):
    return Request(model, (Message("user", text),))


def ok(text="hello", model="fake/x"):
    return Completion(model, text, "stop", Usage(3, 1), 0.1, 0.2, 0.0)


def test_migrations_are_named_and_recorded(any_store):
    assert any_store.schema_version == len(MIGRATIONS)
    names = [n for n, _ in MIGRATIONS]
    assert names[:4] == ["m001_calls", "m002_loglik", "m003_eval_runs", "m004_battles"]
    assert len(set(names)) == len(names)


def test_reopen_keeps_data_and_does_not_remigrate(store_url):
    s = Store(store_url)
    s.record(req().key(), req(), None, 1, ok())
    s.close()
    s2 = Store(store_url)
    assert s2.count_calls("ok") == 1
    assert s2.cached([req().key()])[req().key()].text == "hello"
    assert s2.schema_version == len(MIGRATIONS)
    s2.close()


def test_store_from_a_newer_coderouge_is_refused_without_touching_it(store_url):
    s = Store(store_url)
    with s.transaction() as c:
        from coderouge.store import migrations

        migrations.record(c, "m999_from_the_future")
    s.record(req().key(), req(), None, 1, ok())
    s.close()
    with pytest.raises(StoreOpenError, match="newer coderouge"):
        Store(store_url)
    # still there, untouched: a newer release can open it
    from sqlalchemy import text

    from coderouge.store import _backend

    eng = _backend(store_url).engine()
    with eng.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM calls")).scalar() == 1
        assert "m999_from_the_future" in {r[0] for r in c.execute(text("SELECT name FROM coderouge_migrations"))}
    eng.dispose()


def test_sqlite_user_version_from_a_newer_release_is_refused(store_path):
    Store(store_path).close()
    db = sqlite3.connect(store_path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(StoreOpenError, match="newer coderouge"):
        Store(store_path)


# The schema that releases with numbered migrations (schema version 4) wrote, as they wrote it.
V4_SCHEMA = """
CREATE TABLE calls (id INTEGER PRIMARY KEY, key TEXT NOT NULL, created_at REAL NOT NULL, model TEXT NOT NULL,
  base_url TEXT, request_json TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
  attempt INTEGER NOT NULL DEFAULT 1, text TEXT, stop_reason TEXT, input_tokens INTEGER, output_tokens INTEGER,
  ttft_s REAL, latency_s REAL, cost_usd REAL, error_kind TEXT, error_status INTEGER, error_message TEXT);
CREATE INDEX calls_key_status ON calls(key, status);
CREATE TABLE loglik (key TEXT PRIMARY KEY, model TEXT NOT NULL, logprob REAL NOT NULL, is_greedy INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE eval_runs (id INTEGER PRIMARY KEY, created_at REAL NOT NULL, model TEXT NOT NULL, task TEXT NOT NULL,
  config_json TEXT NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE eval_items (run_id INTEGER NOT NULL REFERENCES eval_runs(id), item_id TEXT NOT NULL, status TEXT NOT NULL,
  score REAL, detail TEXT, call_key TEXT, PRIMARY KEY (run_id, item_id));
CREATE TABLE battles (id INTEGER PRIMARY KEY, created_at REAL NOT NULL, source TEXT NOT NULL, judge TEXT NOT NULL,
  prompt_set TEXT, prompt_id TEXT, prompt_json TEXT, model_a TEXT NOT NULL, model_b TEXT NOT NULL, answer_a TEXT,
  answer_b TEXT, key_a TEXT, key_b TEXT,
  winner TEXT CHECK (winner IS NULL OR winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')),
  judge_raw TEXT, tstamp REAL, anony INTEGER NOT NULL DEFAULT 1, token TEXT, shown_at REAL, plan_key TEXT UNIQUE,
  CHECK (model_a <> model_b));
CREATE INDEX battles_judge_winner ON battles(judge, winner);
PRAGMA user_version=4;
"""


def test_a_schema_4_store_opens_and_keeps_all_its_data(tmp_path):
    p = tmp_path / "old.db"
    db = sqlite3.connect(p)
    db.executescript(V4_SCHEMA)
    r = req()
    db.execute("INSERT INTO calls (key, created_at, model, request_json, status, text, stop_reason) "
               "VALUES (?, 1.0, 'fake/x', ?, 'ok', 'from v4', 'stop')", (r.key(), r.canonical_json))
    db.execute("INSERT INTO loglik VALUES ('k1', 'local/x', -1.5, 1, 3, 1.0)")
    db.execute("INSERT INTO eval_runs VALUES (7, 1.0, 'fake/x', 'business', '{}', '{\"value\": 0.5}')")
    db.execute("INSERT INTO eval_items VALUES (7, 'i1', 'ok', 1.0, '', NULL)")
    db.execute("INSERT INTO battles (created_at, source, judge, model_a, model_b, winner) "
               "VALUES (1.0, 'run', 'reference', 'a/x', 'b/y', 'model_a')")
    db.commit()
    db.close()
    s = Store(p)
    assert s.cached([r.key()])[r.key()].text == "from v4"
    assert s.loglik_get(["k1"]) == {"k1": (-1.5, True, 3)}
    (run,) = s.eval_runs()
    assert (run.id, run.task, run.result) == (7, "business", {"value": 0.5})
    assert [i.item_id for i in s.eval_items(7)] == ["i1"]
    assert [b["winner"] for b in s.battles()] == ["model_a"]
    assert s.schema_version == len(MIGRATIONS)
    s.close()
    assert sqlite3.connect(p).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_errors_are_stored_but_never_served_from_cache(any_store):
    r = req()
    any_store.record(r.key(), r, None, 1, error=RateLimitError("slow down", provider="fake", status=429, retry_after=2))
    assert any_store.cached([r.key()]) == {}
    (row,) = any_store.calls()
    assert (row.status, row.error_kind, row.error_status) == ("error", "rate_limited", 429)


def test_latest_success_wins(any_store):
    r = req()
    any_store.record(r.key(), r, None, 1, ok("old"))
    any_store.flush()
    any_store.record(r.key(), r, None, 1, ok("new"))
    assert any_store.cached([r.key()])[r.key()].text == "new"


def test_secrets_never_reach_the_store(any_store):
    from coderouge.secrets import register_secret

    register_secret("sk-test-SECRET-123456789")
    r = req()
    any_store.record(r.key(), r, None, 1, error=RateLimitError("bad key sk-test-SECRET-123456789", provider="openai"))
    (row,) = any_store.calls()
    assert "SECRET-123456789" not in json.dumps(row.__dict__)
    assert "[REDACTED]" in row.error_message


def test_loglik_upsert(any_store):
    any_store.loglik_put("local/x", [("k", -1.0, True, 2), ("j", -2.0, False, 1)])
    any_store.loglik_put("local/x", [("k", -3.0, False, 4)])
    assert any_store.loglik_get(["k", "j", "missing"]) == {"k": (-3.0, False, 4), "j": (-2.0, False, 1)}


def test_read_side_filters_by_model_task_and_time(any_store):
    t0 = time.time()
    a = any_store.save_eval("fake/a", "business", {"limit": 2}, {"value": 1.0},
                            [("i1", "ok", 1.0, "", "k1"), ("i2", "error", None, "timeout", None)])
    b = any_store.save_eval("fake/b", "arc_easy", {}, {"value": 0.5}, [("j1", "ok", 0.0, "chose B", None)])
    assert [r.id for r in any_store.eval_runs()] == [b, a]  # newest first
    assert [r.id for r in any_store.eval_runs(model="fake/a")] == [a]
    assert [r.id for r in any_store.eval_runs(task="arc_easy")] == [b]
    assert any_store.eval_runs(since=time.time() + 60) == []
    assert [r.id for r in any_store.eval_runs(since=t0 - 1, until=time.time() + 1)] == [b, a]
    items = {i.item_id: i for i in any_store.eval_items(a)}
    assert items["i2"].status == "error" and items["i2"].score is None and items["i1"].call_key == "k1"
    for m in ("fake/a", "fake/b"):
        any_store.record(req(m, model=m).key(), req(m, model=m), None, 1, ok(model=m))
    assert [c.model for c in any_store.calls(model="fake/b")] == ["fake/b"]
    assert len(any_store.calls(since=t0 - 1)) == 2 and any_store.calls(until=t0 - 1) == []


def test_a_transaction_is_all_or_nothing(any_store):
    from coderouge.arena import battles as bt

    with pytest.raises(RuntimeError):
        with any_store.transaction():
            bt.add_battle(any_store, source="import", judge="x", model_a="a/1", model_b="b/2", winner="tie")
            bt.add_battle(any_store, source="import", judge="x", model_a="a/1", model_b="b/2", winner="model_a")
            raise RuntimeError("halfway")
    assert any_store.battles() == []
    with any_store.transaction():
        bt.add_battle(any_store, source="import", judge="x", model_a="a/1", model_b="b/2", winner="tie")
    assert len(any_store.battles()) == 1


def test_one_vote_per_battle_is_a_single_conditional_update(any_store):
    from coderouge.arena import battles as bt

    bid = bt.add_battle(any_store, source="serve", judge="human", model_a="a/1", model_b="b/2", with_token=True)
    assert any_store.update_battle(bid, only_undecided=True, winner="tie")
    assert not any_store.update_battle(bid, only_undecided=True, winner="model_a")
    assert bt.get_battle(any_store, bid).winner == "tie"


def test_cache_key_covers_model_params_base_url():
    a = Request("openai/m", (Message("user", "x"),))
    assert a.key() != Request("openai/m2", (Message("user", "x"),)).key()
    assert a.key() != Request("openai/m", (Message("user", "x"),), temperature=0.5).key()
    assert a.key() != a.key("http://127.0.0.1:1/v1")
    assert a.key() != Request("openai/m", (Message("user", "y"),)).key()
    assert a.key() == Request("openai/m", (Message("user", "x"),)).key()


# --- bad stores: one clear line, nothing written --------------------------------------------------

def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_bytes(b"these are my notes, not a database\n" * 100)
    before = p.read_bytes()
    with pytest.raises(StoreOpenError, match="not a coderouge store"):
        Store(p)
    assert p.read_bytes() == before


def test_another_programs_database_is_refused_untouched(tmp_path):
    p = tmp_path / "other.db"
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreOpenError, match="not a coderouge store.*customers"):
        Store(p)
    names = {r[0] for r in sqlite3.connect(p).execute("SELECT name FROM sqlite_master")}
    assert names == {"customers"}


def test_unreachable_postgresql_is_one_clear_line(tmp_path):
    with pytest.raises(StoreOpenError, match="cannot open the store postgresql://") as e:
        Store(f"postgresql://postgres:hunter22@/x?host={tmp_path}&port=1")
    assert "hunter22" not in str(e.value) and "\n" not in str(e.value)


def test_wrong_postgresql_credentials_and_database(pg_server, pg_url):
    from pg_server import PORT as PG_PORT

    with pytest.raises(StoreOpenError, match="nobody"):
        Store(f"postgresql://nobody:pw@/x?host={pg_server}&port={PG_PORT}")
    with pytest.raises(StoreOpenError, match="no_such_db"):
        Store(f"postgresql://postgres@/no_such_db?host={pg_server}&port={PG_PORT}")


def test_unknown_url_scheme():
    with pytest.raises(StoreOpenError, match="unknown store URL"):
        Store("mysql://root@localhost/x")
