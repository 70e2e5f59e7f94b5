"""Battles in the store: create, answer, vote (exactly once), list, import and export."""

from __future__ import annotations

import enum
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..store import Store
from ..types import Message

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")

_COLUMNS = ("id, created_at, source, judge, prompt_set, prompt_id, prompt_json, model_a, model_b, answer_a, answer_b, "
            "key_a, key_b, winner, judge_raw, tstamp, anony, token, shown_at")


@dataclass
class Battle:
    id: int
    created_at: float
    source: str
    judge: str
    prompt_set: str | None
    prompt_id: str | None
    messages: tuple[Message, ...]
    model_a: str
    model_b: str
    answer_a: str | None
    answer_b: str | None
    key_a: str | None
    key_b: str | None
    winner: str | None
    judge_raw: Any
    tstamp: float | None
    anony: bool
    token: str | None
    shown_at: float | None

    @classmethod
    def from_row(cls, row: tuple) -> "Battle":
        (id_, created, source, judge, pset, pid, pjson, a, b, ans_a, ans_b, ka, kb, winner, raw, ts, anony, token, shown) = row
        msgs = tuple(Message.from_json(m) for m in json.loads(pjson)) if pjson else ()
        return cls(id_, created, source, judge, pset, pid, msgs, a, b, ans_a, ans_b, ka, kb, winner,
                   json.loads(raw) if raw else None, ts, bool(anony), token, shown)

    @property
    def prompt(self) -> str:
        users = [m for m in self.messages if m.role == "user"]
        return users[-1].text if users else ""

    def clean_battle(self) -> dict[str, Any]:
        """This battle as a FastChat clean_battle record."""
        return {"model_a": self.model_a, "model_b": self.model_b, "winner": self.winner,
                "tstamp": self.tstamp if self.tstamp is not None else self.created_at, "anony": self.anony,
                "judge": self.judge, "question_id": self.prompt_id,
                "len_a": len(self.answer_a) if self.answer_a is not None else None,
                "len_b": len(self.answer_b) if self.answer_b is not None else None}


def add_battle(store: Store, *, source: str, judge: str, model_a: str, model_b: str, prompt_set: str | None = None,
               prompt_id: str | None = None, messages: tuple[Message, ...] = (), answer_a: str | None = None,
               answer_b: str | None = None, key_a: str | None = None, key_b: str | None = None,
               winner: str | None = None, judge_raw: Any = None, tstamp: float | None = None, anony: bool = True,
               with_token: bool = False, plan_key: str | None = None, _in_transaction: bool = False) -> int:
    if model_a == model_b:
        raise ValueError(f"a battle needs two different models, got {model_a} twice")
    if winner is not None and winner not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, got {winner!r}")
    if not _in_transaction:
        store.commit_batch()
    cur = store.db.execute(
        f"INSERT INTO battles ({_COLUMNS.replace('id, ', '', 1)}, plan_key) VALUES ({','.join('?' * 19)})",
        (time.time(), source, judge, prompt_set, prompt_id, json.dumps([m.to_json() for m in messages]) if messages else None,
         model_a, model_b, answer_a, answer_b, key_a, key_b, winner, json.dumps(judge_raw) if judge_raw is not None else None,
         tstamp, int(anony), secrets.token_urlsafe(16) if with_token else None, None, plan_key),
    )
    return int(cur.lastrowid or 0)


def set_answers(store: Store, battle_id: int, answer_a: str, answer_b: str, key_a: str | None, key_b: str | None,
                shown_at: float | None = None) -> None:
    store.commit_batch()
    store.db.execute("UPDATE battles SET answer_a=?, answer_b=?, key_a=?, key_b=?, shown_at=? WHERE id=?",
                     (answer_a, answer_b, key_a, key_b, shown_at, battle_id))


def set_verdict(store: Store, battle_id: int, winner: str, judge_raw: Any = None) -> None:
    if winner not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, got {winner!r}")
    store.commit_batch()
    store.db.execute("UPDATE battles SET winner=?, judge_raw=?, tstamp=? WHERE id=?",
                     (winner, json.dumps(judge_raw) if judge_raw is not None else None, time.time(), battle_id))


def get_battle(store: Store, battle_id: int) -> Battle | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM battles WHERE id=?", (battle_id,)).fetchone()
    return Battle.from_row(row) if row else None


def list_battles(store: Store, *, decided: bool | None = True, judge: str | None = None) -> list[Battle]:
    where, args = [], []
    if decided is True:
        where.append("winner IS NOT NULL")
    elif decided is False:
        where.append("winner IS NULL")
    if judge is not None:
        where.append("judge = ?")
        args.append(judge)
    sql = f"SELECT {_COLUMNS} FROM battles" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    return [Battle.from_row(r) for r in store.db.execute(sql, args)]


class Vote(enum.Enum):
    RECORDED = "recorded"
    ALREADY_VOTED = "already_voted"
    BAD_TOKEN = "bad_token"
    NOT_READY = "not_ready"  # the answers have not been fully shown yet
    TOO_FAST = "too_fast"  # faster than a person could read two answers
    UNKNOWN = "unknown_battle"
    BAD_WINNER = "bad_winner"


def record_vote(store: Store, battle_id: int, token: str, winner: str, *, min_seconds: float,
                now: float | None = None) -> tuple[Vote, Battle | None]:
    """Record a person's vote, once. The UPDATE only matches a pending battle, so a reload, a double
    click or a replayed request can never record a second vote."""
    now = time.time() if now is None else now
    b = get_battle(store, battle_id)
    if b is None or b.judge != "human":
        return Vote.UNKNOWN, None
    if winner not in WINNERS:
        return Vote.BAD_WINNER, None
    if not b.token or not secrets.compare_digest(b.token, token or ""):
        return Vote.BAD_TOKEN, None
    if b.winner is not None:
        return Vote.ALREADY_VOTED, b
    if b.shown_at is None:
        return Vote.NOT_READY, None
    if now - b.shown_at < min_seconds:
        return Vote.TOO_FAST, None
    store.commit_batch()
    cur = store.db.execute("UPDATE battles SET winner=?, tstamp=? WHERE id=? AND winner IS NULL", (winner, now, battle_id))
    if cur.rowcount != 1:
        return Vote.ALREADY_VOTED, get_battle(store, battle_id)
    return Vote.RECORDED, get_battle(store, battle_id)
