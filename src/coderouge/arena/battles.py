"""Battles in the store: create, answer, vote (exactly once), list, import and export."""

from __future__ import annotations

import enum
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..store import Store
from ..types import WINNERS, Message


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
    def from_row(cls, r: dict[str, Any]) -> "Battle":
        pjson, raw = r["prompt_json"], r["judge_raw"]
        msgs = tuple(Message.from_json(m) for m in json.loads(pjson)) if pjson else ()
        return cls(r["id"], r["created_at"], r["source"], r["judge"], r["prompt_set"], r["prompt_id"], msgs,
                   r["model_a"], r["model_b"], r["answer_a"], r["answer_b"], r["key_a"], r["key_b"], r["winner"],
                   json.loads(raw) if raw else None, r["tstamp"], bool(r["anony"]), r["token"], r["shown_at"])

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
               with_token: bool = False, plan_key: str | None = None) -> int:
    if model_a == model_b:
        raise ValueError(f"a battle needs two different models, got {model_a} twice")
    if winner is not None and winner not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, got {winner!r}")
    return store.add_battle(
        created_at=time.time(), source=source, judge=judge, prompt_set=prompt_set, prompt_id=prompt_id,
        prompt_json=json.dumps([m.to_json() for m in messages]) if messages else None, model_a=model_a,
        model_b=model_b, answer_a=answer_a, answer_b=answer_b, key_a=key_a, key_b=key_b, winner=winner,
        judge_raw=json.dumps(judge_raw) if judge_raw is not None else None, tstamp=tstamp, anony=int(anony),
        token=secrets.token_urlsafe(16) if with_token else None, shown_at=None, plan_key=plan_key)


def set_answers(store: Store, battle_id: int, answer_a: str, answer_b: str, key_a: str | None, key_b: str | None,
                shown_at: float | None = None) -> None:
    store.update_battle(battle_id, answer_a=answer_a, answer_b=answer_b, key_a=key_a, key_b=key_b, shown_at=shown_at)


def set_verdict(store: Store, battle_id: int, winner: str, judge_raw: Any = None) -> None:
    if winner not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, got {winner!r}")
    store.update_battle(battle_id, winner=winner, judge_raw=json.dumps(judge_raw) if judge_raw is not None else None,
                        tstamp=time.time())


def get_battle(store: Store, battle_id: int) -> Battle | None:
    rows = store.battles(ids=[battle_id])
    return Battle.from_row(rows[0]) if rows else None


def list_battles(store: Store, *, decided: bool | None = True, judge: str | None = None) -> list[Battle]:
    return [Battle.from_row(r) for r in store.battles(decided=decided, judge=judge)]


def planned_battles(store: Store, plan_keys: list[str]) -> dict[str, tuple[int, str | None]]:
    """`arena run`'s battles already in the store: plan_key → (id, winner)."""
    return {r["plan_key"]: (r["id"], r["winner"]) for r in store.battles(plan_keys=plan_keys)}


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
    if not store.update_battle(battle_id, only_undecided=True, winner=winner, tstamp=now):
        return Vote.ALREADY_VOTED, get_battle(store, battle_id)
    return Vote.RECORDED, get_battle(store, battle_id)
