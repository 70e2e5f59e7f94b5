"""Named, append-only schema steps, the same on SQLite and PostgreSQL.

Each step is a function registered with `@migration`; its name is recorded in the table
`coderouge_migrations` when it is applied, in the same transaction as the step, so no step ever
runs twice on any backend (simonw/llm's `_llm_migrations`). A store that has recorded a name this
release does not know was written by a newer coderouge and is refused before anything is written.

Never edit, rename or reorder a step that has shipped: add a new one. Each step declares the
tables it creates itself (its own MetaData), so later changes to the queries never change what an
old step does.

Stores made before named migrations (schema 1-4, numbered with SQLite's `PRAGMA user_version`) are
adopted: their first `user_version` steps are recorded as applied, and their data is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import (CheckConstraint, Column, Connection, Float, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, insert, select)

Step = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Step]] = []

ledger_metadata = MetaData()
ledger = Table(
    "coderouge_migrations", ledger_metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", Float, nullable=False),
)


def migration(fn: Step) -> Step:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def names() -> list[str]:
    return [n for n, _ in MIGRATIONS]


@migration
def m001_calls(c: Connection) -> None:
    md = MetaData()
    t = Table(
        "calls", md,
        Column("id", Integer, primary_key=True),
        Column("key", Text, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("model", Text, nullable=False),
        Column("base_url", Text),
        Column("request_json", Text, nullable=False),
        Column("status", String(8), CheckConstraint("status IN ('ok', 'error')"), nullable=False),
        Column("attempt", Integer, nullable=False, server_default="1"),
        Column("text", Text),
        Column("stop_reason", Text),
        Column("input_tokens", Integer),
        Column("output_tokens", Integer),
        Column("ttft_s", Float),
        Column("latency_s", Float),
        Column("cost_usd", Float),
        Column("error_kind", Text),
        Column("error_status", Integer),
        Column("error_message", Text),
    )
    Index("calls_key_status", t.c.key, t.c.status)
    md.create_all(c)


@migration
def m002_loglik(c: Connection) -> None:
    md = MetaData()
    Table(
        "loglik", md,
        Column("key", String(200), primary_key=True),
        Column("model", Text, nullable=False),
        Column("logprob", Float, nullable=False),
        Column("is_greedy", Integer, nullable=False),
        Column("n_tokens", Integer, nullable=False),
        Column("created_at", Float, nullable=False),
    )
    md.create_all(c)


@migration
def m003_eval_runs(c: Connection) -> None:
    md = MetaData()
    Table(
        "eval_runs", md,
        Column("id", Integer, primary_key=True),
        Column("created_at", Float, nullable=False),
        Column("model", Text, nullable=False),
        Column("task", Text, nullable=False),
        Column("config_json", Text, nullable=False),
        Column("result_json", Text, nullable=False),
    )
    Table(
        "eval_items", md,
        Column("run_id", Integer, nullable=False),
        Column("item_id", String(500), nullable=False),
        Column("status", Text, nullable=False),
        Column("score", Float),
        Column("detail", Text),
        Column("call_key", Text),
        # the SQLite schema of releases 1-4 names run_id a reference to eval_runs(id); kept as a plain
        # column here: rows are written in the same transaction as their run
        UniqueConstraint("run_id", "item_id", name="eval_items_pk"),
    )
    md.create_all(c)


@migration
def m004_battles(c: Connection) -> None:
    md = MetaData()
    t = Table(
        "battles", md,
        Column("id", Integer, primary_key=True),
        Column("created_at", Float, nullable=False),
        Column("source", Text, nullable=False),  # 'run', 'serve' or 'import'
        Column("judge", Text, nullable=False),  # 'human', 'llm:MODEL', 'reference', or an importer's label
        Column("prompt_set", Text),
        Column("prompt_id", Text),
        Column("prompt_json", Text),  # the messages, as JSON
        Column("model_a", Text, nullable=False),
        Column("model_b", Text, nullable=False),
        Column("answer_a", Text),
        Column("answer_b", Text),
        Column("key_a", Text),  # calls.key of each answer
        Column("key_b", Text),
        Column("winner", String(20), CheckConstraint(
            "winner IS NULL OR winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')")),
        Column("judge_raw", Text),  # the judge's verdict text(s), as JSON
        Column("tstamp", Float),  # when it was judged
        Column("anony", Integer, nullable=False, server_default="1"),
        Column("token", Text),  # a human vote must present it
        Column("shown_at", Float),  # when both answers were fully shown to the voter
        Column("plan_key", String(200), unique=True),  # `arena run`: which planned battle (reruns resume)
        CheckConstraint("model_a <> model_b"),
    )
    Index("battles_judge_winner", t.c.judge, t.c.winner)
    md.create_all(c)


@migration
def m005_read_indexes(c: Connection) -> None:
    """Indexes for the read side (runs, report, viewer): by model and time."""
    md = MetaData()
    calls = Table("calls", md, Column("model", Text), Column("created_at", Float))
    runs = Table("eval_runs", md, Column("model", Text), Column("task", Text), Column("created_at", Float))
    battles = Table("battles", md, Column("created_at", Float))
    for ix in (Index("calls_model_time", calls.c.model, calls.c.created_at),
               Index("eval_runs_model_task_time", runs.c.model, runs.c.task, runs.c.created_at),
               Index("battles_time", battles.c.created_at)):
        ix.create(c)


@migration
def m006_gateway(c: Connection) -> None:
    """The gateway: API keys (hashed, never the key itself) and one compact row per request (no text)."""
    md = MetaData()
    Table(
        "gateway_keys", md,
        Column("id", String(40), primary_key=True),
        Column("name", Text, nullable=False),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("created_at", Float, nullable=False),
        Column("revoked_at", Float),
        Column("budget_usd", Float),
        Column("spent_usd", Float, nullable=False, server_default="0"),
        Column("rpm", Integer),
        Column("tpm", Integer),
        Column("eu_only", Integer, nullable=False, server_default="0"),
        Column("routes_json", Text),  # the routes this key may use, as JSON; NULL: all
    )
    req = Table(
        "gateway_requests", md,
        Column("id", Integer, primary_key=True),
        Column("created_at", Float, nullable=False),
        Column("key_id", String(40)),
        Column("route", Text, nullable=False),
        Column("deployment", Text),
        Column("status", Integer, nullable=False),
        Column("input_tokens", Integer),
        Column("output_tokens", Integer),
        Column("cost_usd", Float),
        Column("latency_s", Float),
        Column("ttft_s", Float),
        Column("error", Text),  # the kind of failure, never message text
    )
    Index("gateway_requests_key_time", req.c.key_id, req.c.created_at)
    md.create_all(c)


@migration
def m007_stress(c: Connection) -> None:
    """`coderouge stress`: one row per run (its load, target and summary) and one compact row per request
    (times and tokens, never text), for latency distributions in reports."""
    md = MetaData()
    runs = Table(
        "stress_runs", md,
        Column("id", Integer, primary_key=True),
        Column("created_at", Float, nullable=False),
        Column("target", Text, nullable=False),
        Column("model", Text),
        Column("config_json", Text, nullable=False),
        Column("result_json", Text, nullable=False),
    )
    req = Table(
        "stress_requests", md,
        Column("run_id", Integer, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("sent_s", Float, nullable=False),  # when it left, seconds from the start of the run
        Column("ttft_s", Float),
        Column("e2e_s", Float),
        Column("output_tokens", Integer),
        Column("chunks", Integer),
        Column("error", Text),  # the kind of failure (http_429, timeout, cut_stream…), never message text
        Column("served_by", Text),  # a gateway's x-coderouge-deployment
        Column("warmup", Integer, nullable=False, server_default="0"),
    )
    Index("stress_runs_target_time", runs.c.target, runs.c.created_at)
    Index("stress_requests_run", req.c.run_id, req.c.seq)
    md.create_all(c)


def applied(c: Connection) -> list[str]:
    return [r[0] for r in c.execute(select(ledger.c.name))]


def record(c: Connection, name: str) -> None:
    c.execute(insert(ledger).values(name=name, applied_at=time.time()))
