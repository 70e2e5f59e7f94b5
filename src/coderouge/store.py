"""The embedded store: SQLite in WAL mode, append-only migrations.

Every call (request, answer or error, timing, usage, cost) is a row of `calls`; a
successful call is the cache for an identical request (same key), which is what makes
a killed run resume without doing anything twice. Default path: $CODEROUGE_STORE, else
$CODEROUGE_HOME/store.db, else ~/.local/share/coderouge/store.db.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import ProviderError, UsageError
from .providers.base import redact
from .types import Completion, Request, Usage

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    """Register a schema step. Steps are append-only: never edit or reorder one that has shipped."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_calls(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            created_at REAL NOT NULL,
            model TEXT NOT NULL,
            base_url TEXT,
            request_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            attempt INTEGER NOT NULL DEFAULT 1,
            text TEXT,
            stop_reason TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            ttft_s REAL,
            latency_s REAL,
            cost_usd REAL,
            error_kind TEXT,
            error_status INTEGER,
            error_message TEXT
        )"""
    )
    db.execute("CREATE INDEX calls_key_status ON calls(key, status)")


@migration
def m002_loglik(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE loglik (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            logprob REAL NOT NULL,
            is_greedy INTEGER NOT NULL,
            n_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL
        )"""
    )


@migration
def m003_eval_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE eval_runs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            model TEXT NOT NULL,
            task TEXT NOT NULL,
            config_json TEXT NOT NULL,
            result_json TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE eval_items (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id),
            item_id TEXT NOT NULL,
            status TEXT NOT NULL,
            score REAL,
            detail TEXT,
            call_key TEXT,
            PRIMARY KEY (run_id, item_id)
        )"""
    )


@migration
def m004_battles(db: sqlite3.Connection) -> None:
    """Arena battles: two models' answers to one prompt and who won (NULL while a vote is pending)."""
    db.execute(
        """CREATE TABLE battles (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            source TEXT NOT NULL,              -- 'run', 'serve' or 'import'
            judge TEXT NOT NULL,               -- 'human', 'llm:MODEL', 'reference', or the importer's label
            prompt_set TEXT,
            prompt_id TEXT,
            prompt_json TEXT,                  -- the messages, as JSON
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            answer_a TEXT,
            answer_b TEXT,
            key_a TEXT,                        -- calls.key of each answer
            key_b TEXT,
            winner TEXT CHECK (winner IS NULL OR winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')),
            judge_raw TEXT,                    -- the judge's verdict text(s), as JSON
            tstamp REAL,                       -- when it was judged
            anony INTEGER NOT NULL DEFAULT 1,
            token TEXT,                        -- a human vote must present it
            shown_at REAL,                     -- when both answers were fully shown to the voter
            plan_key TEXT UNIQUE,              -- `arena run`: which planned battle this is (makes reruns resume)
            CHECK (model_a <> model_b)
        )"""
    )
    db.execute("CREATE INDEX battles_judge_winner ON battles(judge, winner)")


def default_path() -> Path:
    if os.environ.get("CODEROUGE_STORE"):
        return Path(os.environ["CODEROUGE_STORE"])
    home = os.environ.get("CODEROUGE_HOME")
    if home:
        return Path(home) / "store.db"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "coderouge" / "store.db"


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise UsageError(f"cannot open the store at {self.path}: {e}") from None
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def _migrate(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise UsageError(f"the store at {self.path} was written by a newer coderouge (schema {version}); upgrade coderouge")
        for i, step in enumerate(MIGRATIONS[version:], start=version + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                step(self.db)
                self.db.execute(f"PRAGMA user_version={i}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.commit_batch()
        self.db.close()

    # --- calls -----------------------------------------------------------
    def cached(self, keys: Iterable[str]) -> dict[str, Completion]:
        """The latest successful answer for each key that has one."""
        keys = list(keys)
        out: dict[str, Completion] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.db.execute(
                f"""SELECT key, model, text, stop_reason, input_tokens, output_tokens, ttft_s, latency_s, cost_usd
                    FROM calls WHERE status='ok' AND key IN ({','.join('?' * len(chunk))}) ORDER BY id""",
                chunk,
            ).fetchall()
            for k, model, text, stop, it, ot, ttft, lat, cost in rows:
                out[k] = Completion(model, text, stop, Usage(it or 0, ot or 0), ttft, lat or 0.0, cost, cached=True)
        return out

    def record(
        self,
        key: str,
        request: Request,
        base_url: str | None,
        attempt: int,
        completion: Completion | None = None,
        error: ProviderError | None = None,
    ) -> None:
        req_json = request.canonical_json
        if completion is not None:
            u = completion.usage
            self.db.execute(
                """INSERT INTO calls (key, created_at, model, base_url, request_json, status, attempt, text, stop_reason,
                   input_tokens, output_tokens, ttft_s, latency_s, cost_usd) VALUES (?,?,?,?,?,'ok',?,?,?,?,?,?,?,?)""",
                (key, time.time(), request.model, base_url, req_json, attempt, completion.text, completion.stop_reason,
                 u.input_tokens, u.output_tokens, completion.ttft_s, completion.latency_s, completion.cost_usd),
            )
        else:
            assert error is not None
            self.db.execute(
                """INSERT INTO calls (key, created_at, model, base_url, request_json, status, attempt,
                   error_kind, error_status, error_message) VALUES (?,?,?,?,?,'error',?,?,?,?)""",
                (key, time.time(), request.model, base_url, req_json, attempt, error.kind, error.status, redact(str(error))),
            )

    def begin_batch(self) -> None:
        """Group the following writes into one transaction until `commit_batch()` (the runner commits
        once per event-loop turn: a crash loses at most the answers of that instant)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit_batch(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def count_calls(self, status: str | None = None) -> int:
        if status:
            return self.db.execute("SELECT COUNT(*) FROM calls WHERE status=?", (status,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    # --- log-likelihoods -------------------------------------------------
    def loglik_get(self, keys: list[str]) -> dict[str, tuple[float, bool, int]]:
        out: dict[str, tuple[float, bool, int]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for k, lp, g, n in self.db.execute(
                f"SELECT key, logprob, is_greedy, n_tokens FROM loglik WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ):
                out[k] = (lp, bool(g), n)
        return out

    def loglik_put(self, model: str, rows: list[tuple[str, float, bool, int]]) -> None:
        now = time.time()
        self.commit_batch()
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR REPLACE INTO loglik (key, model, logprob, is_greedy, n_tokens, created_at) VALUES (?,?,?,?,?,?)",
            [(k, model, lp, int(g), n, now) for k, lp, g, n in rows],
        )
        self.db.execute("COMMIT")

    # --- eval runs -------------------------------------------------------
    def save_eval(self, model: str, task: str, config: dict[str, Any], result: dict[str, Any],
                  items: list[tuple[str, str, float | None, str, str | None]]) -> int:
        self.commit_batch()
        self.db.execute("BEGIN")
        cur = self.db.execute(
            "INSERT INTO eval_runs (created_at, model, task, config_json, result_json) VALUES (?,?,?,?,?)",
            (time.time(), model, task, json.dumps(config), json.dumps(result)),
        )
        run_id = int(cur.lastrowid or 0)
        self.db.executemany(
            "INSERT INTO eval_items (run_id, item_id, status, score, detail, call_key) VALUES (?,?,?,?,?,?)",
            [(run_id, *it) for it in items],
        )
        self.db.execute("COMMIT")
        return run_id
