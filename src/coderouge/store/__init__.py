"""The store: every call, log-likelihood, eval run and battle, behind one interface.

`Store(location)` opens a store by URL — `sqlite:///path/to/store.db` (the default; a bare path
works too) or `postgresql://user:pass@host:port/db` — through SQLAlchemy Core, so the same
queries run on both (the backends in `sqlite.py` and `postgres.py` only differ in how they
connect and lock). All SQL of coderouge lives in this package; callers ask for what they need.

Every call (request, answer or error, timing, usage, cost) is a row of `calls`; a successful
call is the cache for an identical request (same key), which is what makes a killed run resume
without doing anything twice. Calls are buffered and written together by `flush()` (the call
path flushes once per event-loop turn; every read flushes first). A write that fails raises
`StoreError`: the run stops, and nothing is reported that was not stored.

Default location: $CODEROUGE_STORE, else $CODEROUGE_HOME/store.db, else
~/.local/share/coderouge/store.db.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import exc as sa_exc

from ..errors import ProviderError, StoreError, StoreOpenError
from ..secrets import redact
from ..types import Completion, Request, Usage
from . import migrations, tables as T
from .migrations import MIGRATIONS
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend

__all__ = ["Store", "open_store", "default_location", "EvalRunRecord", "EvalItemRecord", "CallRecord", "MIGRATIONS"]


def default_location() -> str:
    if os.environ.get("CODEROUGE_STORE"):
        return os.environ["CODEROUGE_STORE"]
    home = os.environ.get("CODEROUGE_HOME")
    if home:
        return str(Path(home) / "store.db")
    return str(Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "coderouge" / "store.db")


def _backend(location: str | os.PathLike[str] | None) -> SQLiteBackend | PostgresBackend:
    loc = str(location) if location else default_location()
    if loc.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresBackend(loc.replace("postgres://", "postgresql://", 1))
    if loc.startswith("sqlite:///"):
        return SQLiteBackend(Path(loc[len("sqlite:///"):]))
    if "://" in loc:
        raise StoreOpenError(f"unknown store URL {loc.split('://')[0]}://…: use sqlite:///path or postgresql://user@host/db")
    return SQLiteBackend(Path(loc))


@dataclass(frozen=True)
class EvalRunRecord:
    id: int
    created_at: float
    model: str
    task: str
    config: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True)
class StressRunRecord:
    id: int
    created_at: float
    target: str
    model: str | None
    config: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True)
class EvalItemRecord:
    run_id: int
    item_id: str
    status: str
    score: float | None
    detail: str | None
    call_key: str | None


@dataclass(frozen=True)
class CallRecord:
    id: int
    key: str
    created_at: float
    model: str
    base_url: str | None
    status: str
    attempt: int
    text: str | None
    stop_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    ttft_s: float | None
    latency_s: float | None
    cost_usd: float | None
    error_kind: str | None
    error_status: int | None
    error_message: str | None
    request_json: str


def _describe(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    return redact(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)


class Store:
    """One store, opened by location (URL or path). Thread-safe: one connection behind a lock."""

    def __init__(self, location: str | os.PathLike[str] | None = None):
        self.backend = _backend(location)
        self.path: Path | None = self.backend.path
        self.location = self.backend.location
        self._lock = threading.RLock()
        self._depth = 0
        self._pending: list[dict[str, Any]] = []
        self._conn: Connection | None = None
        engine = self.backend.engine()
        try:
            self._conn = engine.connect()
            self._migrate()
        except StoreOpenError:
            self._close_quietly()
            raise
        except sa_exc.SQLAlchemyError as e:
            self._close_quietly()
            raise StoreOpenError(self._open_message(e)) from None

    def _open_message(self, e: BaseException) -> str:
        msg = _describe(e)
        if "not a database" in msg or "malformed" in msg:
            return f"{self.location} is not a coderouge store (not an SQLite database: {msg})"
        if "readonly" in msg or "read-only" in msg:
            return f"cannot write to the store {self.location}: {msg}"
        return f"cannot open the store {self.location}: {msg}"

    def _close_quietly(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # --- transactions ------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """One transaction (re-entrant: an inner one joins the outer). Commits at the end, rolls back on error."""
        with self._lock:
            c = self._conn
            if c is None:
                raise StoreError(f"the store {self.location} is closed")
            if self._depth:
                self._depth += 1
                try:
                    yield c
                finally:
                    self._depth -= 1
                return
            c.info["write"] = write
            self._depth = 1
            try:
                try:
                    tx = c.begin()
                except sa_exc.SQLAlchemyError as e:
                    raise StoreError(f"cannot use the store {self.location}: {_describe(e)}") from None
                try:
                    yield c
                except BaseException:
                    with contextlib.suppress(Exception):
                        tx.rollback()
                    raise
                try:
                    tx.commit()
                except sa_exc.SQLAlchemyError as e:
                    with contextlib.suppress(Exception):
                        tx.rollback()
                    raise StoreError(f"could not write to the store {self.location}: {_describe(e)}") from None
            except sa_exc.SQLAlchemyError as e:
                raise StoreError(f"could not {'write to' if write else 'read'} the store {self.location}: "
                                 f"{_describe(e)}") from None
            finally:
                self._depth = 0

    def _migrate(self) -> None:
        known = migrations.names()
        with self.transaction(write=False) as tx:
            tables = self.backend.table_names(tx)
            legacy = self.backend.legacy_version(tx)
            done = migrations.applied(tx) if "coderouge_migrations" in tables else []
        if "coderouge_migrations" not in tables and tables and not legacy:
            raise StoreOpenError(f"{self.location} is not a coderouge store (it has other tables: "
                                 f"{', '.join(sorted(tables)[:5])})")
        newer = [n for n in done if n not in known]
        if newer or legacy > len(known):
            raise StoreOpenError(f"the store {self.location} was written by a newer coderouge "
                                 f"(schema {', '.join(newer) or legacy}); upgrade coderouge to use it")
        if len(done) == len(known) and "coderouge_migrations" in tables:
            return
        with self.transaction(write=True) as tx:
            self.backend.lock_for_migration(tx)
            if "coderouge_migrations" not in self.backend.table_names(tx):
                migrations.ledger_metadata.create_all(tx)
                for name in known[:legacy]:  # a store of releases 1-4: adopt its numbered steps by name
                    migrations.record(tx, name)
            done = set(migrations.applied(tx))  # again, inside the write lock: another process may have migrated
            for name, step in MIGRATIONS:
                if name not in done:
                    step(tx)
                    migrations.record(tx, name)
            self.backend.set_legacy_version(tx, len(known))

    @property
    def schema_version(self) -> int:
        with self.transaction(write=False) as c:
            return len(migrations.applied(c))

    def flush(self) -> None:
        """Write the buffered calls in one transaction. Raises StoreError (and keeps them) if that fails."""
        with self._lock:
            if not self._pending or self._depth:
                return
            rows = self._pending
            with self.transaction() as c:
                c.execute(insert(T.calls), rows)
            self._pending = []

    def close(self) -> None:
        with self._lock:
            try:
                self.flush()
            finally:
                self._close_quietly()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- calls -----------------------------------------------------------
    def record(self, key: str, request: Request, base_url: str | None, attempt: int,
               completion: Completion | None = None, error: ProviderError | None = None) -> None:
        """Buffer one call (written by the next `flush()`)."""
        row: dict[str, Any] = dict.fromkeys(
            ("text", "stop_reason", "input_tokens", "output_tokens", "ttft_s", "latency_s", "cost_usd",
             "error_kind", "error_status", "error_message"))
        row.update(key=key, created_at=time.time(), model=request.model, base_url=base_url,
                   request_json=request.canonical_json, attempt=attempt)
        if completion is not None:
            u = completion.usage
            row.update(status="ok", text=completion.text, stop_reason=completion.stop_reason,
                       input_tokens=u.input_tokens, output_tokens=u.output_tokens, ttft_s=completion.ttft_s,
                       latency_s=completion.latency_s, cost_usd=completion.cost_usd)
        else:
            assert error is not None
            row.update(status="error", error_kind=error.kind, error_status=error.status, error_message=redact(str(error)))
        with self._lock:
            self._pending.append(row)

    def cached(self, keys: Iterable[str]) -> dict[str, Completion]:
        """The latest successful answer for each key that has one."""
        self.flush()
        keys = list(dict.fromkeys(keys))
        out: dict[str, Completion] = {}
        c = T.calls.c
        with self.transaction(write=False) as tx:
            for i in range(0, len(keys), 500):
                q = (select(c.key, c.model, c.text, c.stop_reason, c.input_tokens, c.output_tokens, c.ttft_s,
                            c.latency_s, c.cost_usd)
                     .where(c.status == "ok", c.key.in_(keys[i:i + 500])).order_by(c.id))
                for k, model, text, stop, it, ot, ttft, lat, cost in tx.execute(q):
                    out[k] = Completion(model, text, stop, Usage(it or 0, ot or 0), ttft, lat or 0.0, cost, cached=True)
        return out

    def count_calls(self, status: str | None = None, key: str | None = None) -> int:
        self.flush()
        q = select(func.count()).select_from(T.calls)
        if status:
            q = q.where(T.calls.c.status == status)
        if key:
            q = q.where(T.calls.c.key == key)
        with self.transaction(write=False) as tx:
            return int(tx.execute(q).scalar() or 0)

    def calls(self, *, model: str | None = None, status: str | None = None, since: float | None = None,
              until: float | None = None, limit: int | None = None) -> list[CallRecord]:
        """Calls, oldest first, filtered by model, status and time (seconds since the epoch)."""
        self.flush()
        c = T.calls.c
        q = select(*(getattr(c, f) for f in CallRecord.__dataclass_fields__)).order_by(c.id)
        q = q.where(*_filters(c, model=model, since=since, until=until), *([c.status == status] if status else []))
        if limit:
            q = q.limit(limit)
        with self.transaction(write=False) as tx:
            return [CallRecord(**r._mapping) for r in tx.execute(q)]

    def calls_by_key(self, keys: Iterable[str]) -> dict[str, CallRecord]:
        """The latest call of each key (its answer, or its last failure)."""
        self.flush()
        keys = [k for k in dict.fromkeys(keys) if k]
        c = T.calls.c
        out: dict[str, CallRecord] = {}
        with self.transaction(write=False) as tx:
            for i in range(0, len(keys), 500):
                q = (select(*(getattr(c, f) for f in CallRecord.__dataclass_fields__))
                     .where(c.key.in_(keys[i:i + 500])).order_by(c.id))
                for r in tx.execute(q):
                    rec = CallRecord(**r._mapping)
                    if rec.status == "ok" or out.get(rec.key) is None or out[rec.key].status != "ok":
                        out[rec.key] = rec
        return out

    def call_timings(self, *, models: Sequence[str] | None = None, since: float | None = None
                     ) -> dict[str, dict[str, list[Any]]]:
        """Per model, the columns a report needs from its calls (no text, no request): status, latency_s,
        ttft_s, input_tokens, output_tokens, cost_usd, one list each, oldest first."""
        self.flush()
        c = T.calls.c
        cols = ("status", "latency_s", "ttft_s", "input_tokens", "output_tokens", "cost_usd")
        q = select(c.model, *(getattr(c, n) for n in cols)).order_by(c.id)
        if models:
            q = q.where(c.model.in_(list(models)))
        if since is not None:
            q = q.where(c.created_at >= since)
        out: dict[str, dict[str, list[Any]]] = {}
        with self.transaction(write=False) as tx:
            for row in tx.execute(q):
                d = out.get(row[0])
                if d is None:
                    d = out[row[0]] = {n: [] for n in cols}
                for n, v in zip(cols, row[1:]):
                    d[n].append(v)
        return out

    # --- log-likelihoods -------------------------------------------------
    def loglik_get(self, keys: Sequence[str]) -> dict[str, tuple[float, bool, int]]:
        out: dict[str, tuple[float, bool, int]] = {}
        keys = list(dict.fromkeys(keys))
        c = T.loglik.c
        with self.transaction(write=False) as tx:
            for i in range(0, len(keys), 500):
                for k, lp, g, n in tx.execute(select(c.key, c.logprob, c.is_greedy, c.n_tokens)
                                              .where(c.key.in_(keys[i:i + 500]))):
                    out[k] = (lp, bool(g), n)
        return out

    def logliks(self, model: str | None = None) -> dict[str, tuple[float, bool, int, float]]:
        """Every stored log-likelihood: key → (logprob, greedy, tokens, when it was computed)."""
        c = T.loglik.c
        q = select(c.key, c.logprob, c.is_greedy, c.n_tokens, c.created_at).where(*([c.model == model] if model else []))
        with self.transaction(write=False) as tx:
            return {k: (lp, bool(g), n, t) for k, lp, g, n, t in tx.execute(q)}

    def count_logliks(self) -> int:
        with self.transaction(write=False) as tx:
            return int(tx.execute(select(func.count()).select_from(T.loglik)).scalar() or 0)

    def loglik_put(self, model: str, rows: Sequence[tuple[str, float, bool, int]]) -> None:
        if not rows:
            return
        now = time.time()
        values = [{"key": k, "model": model, "logprob": lp, "is_greedy": int(g), "n_tokens": n, "created_at": now}
                  for k, lp, g, n in dict((r[0], r) for r in rows).values()]
        stmt = self.backend.insert(T.loglik)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
            "model": stmt.excluded.model, "logprob": stmt.excluded.logprob, "is_greedy": stmt.excluded.is_greedy,
            "n_tokens": stmt.excluded.n_tokens, "created_at": stmt.excluded.created_at})
        self.flush()
        with self.transaction() as tx:
            tx.execute(stmt, values)

    # --- eval runs -------------------------------------------------------
    def save_eval(self, model: str, task: str, config: dict[str, Any], result: dict[str, Any],
                  items: Sequence[tuple[str, str, float | None, str, str | None]]) -> int:
        self.flush()
        with self.transaction() as tx:
            run_id = int(tx.execute(insert(T.eval_runs).values(
                created_at=time.time(), model=model, task=task, config_json=json.dumps(config),
                result_json=json.dumps(result)).returning(T.eval_runs.c.id)).scalar_one())
            if items:
                tx.execute(insert(T.eval_items), [
                    {"run_id": run_id, "item_id": i, "status": s, "score": sc, "detail": d, "call_key": k}
                    for i, s, sc, d, k in items])
        return run_id

    def eval_runs(self, *, model: str | None = None, task: str | None = None, since: float | None = None,
                  until: float | None = None, run_id: int | None = None) -> list[EvalRunRecord]:
        """Eval runs, newest first."""
        c = T.eval_runs.c
        q = select(c.id, c.created_at, c.model, c.task, c.config_json, c.result_json).order_by(c.id.desc())
        q = q.where(*_filters(c, model=model, since=since, until=until), *([c.task == task] if task else []),
                    *([c.id == run_id] if run_id is not None else []))
        with self.transaction(write=False) as tx:
            return [EvalRunRecord(i, t, m, k, json.loads(cfg), json.loads(res)) for i, t, m, k, cfg, res in tx.execute(q)]

    def eval_items(self, run_id: int) -> list[EvalItemRecord]:
        c = T.eval_items.c
        q = select(c.run_id, c.item_id, c.status, c.score, c.detail, c.call_key).where(c.run_id == run_id)
        with self.transaction(write=False) as tx:
            return [EvalItemRecord(*r) for r in tx.execute(q)]

    # --- battles -----------------------------------------------------------
    def add_battle(self, **fields: Any) -> int:
        """Insert one battle (columns of `tables.BATTLE_COLUMNS` but `id`); returns its id."""
        unknown = set(fields) - set(T.BATTLE_COLUMNS[1:])
        if unknown:
            raise ValueError(f"unknown battle fields: {', '.join(sorted(unknown))}")
        self.flush()
        with self.transaction() as tx:
            return int(tx.execute(insert(T.battles).values(**fields).returning(T.battles.c.id)).scalar_one())

    def update_battle(self, battle_id: int, *, only_undecided: bool = False, **fields: Any) -> bool:
        """Set fields of one battle; with `only_undecided`, only while it has no winner (one vote, ever).
        True when the battle was changed."""
        self.flush()
        c = T.battles.c
        q = update(T.battles).where(c.id == battle_id, *([c.winner.is_(None)] if only_undecided else [])).values(**fields)
        with self.transaction() as tx:
            return tx.execute(q).rowcount == 1

    def battles(self, *, ids: Sequence[int] | None = None, decided: bool | None = None, judge: str | None = None,
                plan_keys: Sequence[str] | None = None, since: float | None = None) -> list[dict[str, Any]]:
        """Battles as rows (dicts of `tables.BATTLE_COLUMNS`), oldest first."""
        self.flush()
        c = T.battles.c
        where = []
        if ids is not None:
            where.append(c.id.in_(list(ids)))
        if decided is True:
            where.append(c.winner.is_not(None))
        elif decided is False:
            where.append(c.winner.is_(None))
        if judge is not None:
            where.append(c.judge == judge)
        if plan_keys is not None:
            where.append(c.plan_key.in_(list(plan_keys)))
        if since is not None:
            where.append(c.created_at >= since)
        q = select(*(getattr(c, n) for n in T.BATTLE_COLUMNS)).where(*where).order_by(c.id)
        with self.transaction(write=False) as tx:
            return [dict(r._mapping) for r in tx.execute(q)]

    # --- the gateway's keys and request log ---------------------------------------------------
    def add_gateway_key(self, **fields: Any) -> None:
        with self.transaction() as tx:
            tx.execute(insert(T.gateway_keys).values(**fields))

    def gateway_keys(self, *, key_hash: str | None = None, key_id: str | None = None) -> list[dict[str, Any]]:
        c = T.gateway_keys.c
        q = select(*(getattr(c, n) for n in T.GATEWAY_KEY_COLUMNS)).order_by(c.created_at)
        if key_hash is not None:
            q = q.where(c.key_hash == key_hash)
        if key_id is not None:
            q = q.where(c.id == key_id)
        with self.transaction(write=False) as tx:
            return [dict(r._mapping) for r in tx.execute(q)]

    def revoke_gateway_key(self, key_id: str, when: float) -> bool:
        c = T.gateway_keys.c
        with self.transaction() as tx:
            return tx.execute(update(T.gateway_keys).where(c.id == key_id, c.revoked_at.is_(None))
                              .values(revoked_at=when)).rowcount == 1

    def log_gateway_requests(self, rows: Sequence[dict[str, Any]], spend: dict[str, float] | None = None) -> None:
        """Request rows, and each key's added cost, in one transaction (`… SET spent = spent + x`, so several
        gateway processes on one store add up correctly)."""
        with self.transaction() as tx:
            if rows:
                tx.execute(insert(T.gateway_requests), list(rows))
            c = T.gateway_keys.c
            for key_id, cost in (spend or {}).items():
                if cost:
                    tx.execute(update(T.gateway_keys).where(c.id == key_id).values(spent_usd=c.spent_usd + cost))

    def gateway_requests(self, *, key_id: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
        c = T.gateway_requests.c
        q = select(*(getattr(c, n) for n in T.GATEWAY_REQUEST_COLUMNS)).order_by(c.id)
        if key_id is not None:
            q = q.where(c.key_id == key_id)
        if since is not None:
            q = q.where(c.created_at >= since)
        with self.transaction(write=False) as tx:
            return [dict(r._mapping) for r in tx.execute(q)]

    def gateway_usage(self) -> dict[str, tuple[int, float]]:
        """Per key id: (requests, cost in USD) from the request log."""
        c = T.gateway_requests.c
        q = select(c.key_id, func.count(), func.coalesce(func.sum(c.cost_usd), 0.0)).group_by(c.key_id)
        with self.transaction(write=False) as tx:
            return {k: (int(n), float(cost)) for k, n, cost in tx.execute(q) if k is not None}


    # --- stress runs ------------------------------------------------------------------------------
    def save_stress(self, target: str, model: str | None, config: dict[str, Any], result: dict[str, Any],
                    requests: Sequence[dict[str, Any]]) -> int:
        """A load test and its requests (dicts of `tables.STRESS_REQUEST_COLUMNS` less run_id), in one transaction."""
        self.flush()
        with self.transaction() as tx:
            run_id = int(tx.execute(insert(T.stress_runs).values(
                created_at=time.time(), target=target, model=model, config_json=json.dumps(config),
                result_json=json.dumps(result)).returning(T.stress_runs.c.id)).scalar_one())
            rows = [{**r, "run_id": run_id} for r in requests]
            for i in range(0, len(rows), 5000):
                tx.execute(insert(T.stress_requests), rows[i:i + 5000])
        return run_id

    def stress_runs(self, *, target: str | None = None, model: str | None = None, since: float | None = None,
                    until: float | None = None, run_id: int | None = None) -> list[StressRunRecord]:
        """Load tests, newest first."""
        c = T.stress_runs.c
        q = select(c.id, c.created_at, c.target, c.model, c.config_json, c.result_json).order_by(c.id.desc())
        q = q.where(*_filters(c, model=model, since=since, until=until), *([c.target == target] if target else []),
                    *([c.id == run_id] if run_id is not None else []))
        with self.transaction(write=False) as tx:
            return [StressRunRecord(i, t, g, m, json.loads(cfg), json.loads(res))
                    for i, t, g, m, cfg, res in tx.execute(q)]

    def stress_requests(self, run_id: int) -> list[dict[str, Any]]:
        c = T.stress_requests.c
        q = select(*(getattr(c, n) for n in T.STRESS_REQUEST_COLUMNS)).where(c.run_id == run_id).order_by(c.seq)
        with self.transaction(write=False) as tx:
            return [dict(r._mapping) for r in tx.execute(q)]


def _filters(c: Any, *, model: str | None, since: float | None, until: float | None) -> list[Any]:
    out = []
    if model:
        out.append(c.model == model)
    if since is not None:
        out.append(c.created_at >= since)
    if until is not None:
        out.append(c.created_at < until)
    return out


def open_store(location: str | os.PathLike[str] | None = None) -> Store:
    return Store(location)
