"""Gateway API keys: made once and shown once, stored as a sha256 hash, checked in constant time,
with an optional budget (USD), requests and tokens per minute, EU-only routing and allowed routes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..store import Store

PREFIX = "crk-"


@dataclass(frozen=True)
class Key:
    id: str
    name: str
    created_at: float
    revoked_at: float | None
    budget_usd: float | None
    spent_usd: float
    rpm: int | None
    tpm: int | None
    eu_only: bool
    routes: tuple[str, ...] | None  # None: every route

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> "Key":
        routes = json.loads(r["routes_json"]) if r["routes_json"] else None
        return cls(r["id"], r["name"], r["created_at"], r["revoked_at"], r["budget_usd"], r["spent_usd"] or 0.0,
                   r["rpm"], r["tpm"], bool(r["eu_only"]), tuple(routes) if routes is not None else None)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: Store, name: str, *, budget_usd: float | None = None, rpm: int | None = None,
               tpm: int | None = None, eu_only: bool = False, routes: list[str] | None = None) -> tuple[Key, str]:
    """A new key: (its record, the key itself, which is never stored and cannot be shown again)."""
    if not name.strip():
        raise UsageError("a key needs a name")
    for label, v in (("--budget-usd", budget_usd), ("--rpm", rpm), ("--tpm", tpm)):
        if v is not None and v <= 0:
            raise UsageError(f"{label} must be greater than 0, got {v}")
    key_id = secrets.token_hex(6)
    secret = PREFIX + key_id + "-" + secrets.token_urlsafe(32)
    store.add_gateway_key(id=key_id, name=name, key_hash=_hash(secret), created_at=time.time(), revoked_at=None,
                          budget_usd=budget_usd, spent_usd=0.0, rpm=rpm, tpm=tpm, eu_only=int(eu_only),
                          routes_json=json.dumps(routes) if routes else None)
    return get_key(store, key_id), secret


def list_keys(store: Store) -> list[Key]:
    return [Key.from_row(r) for r in store.gateway_keys()]


def revoke_key(store: Store, key_id: str) -> None:
    if not store.gateway_keys(key_id=key_id):
        raise UsageError(f"no key with id {key_id!r} (coderouge keys list shows them)")
    store.revoke_gateway_key(key_id, time.time())


def get_key(store: Store, key_id: str) -> Key:
    (row,) = store.gateway_keys(key_id=key_id)
    return Key.from_row(row)


def find_key(store: Store, presented: str) -> Key | None:
    """The live key matching what a client presented, or None. The lookup is by hash; the final
    comparison is constant-time."""
    if not presented.startswith(PREFIX):
        return None
    h = _hash(presented)
    for r in store.gateway_keys(key_hash=h):
        if hmac.compare_digest(r["key_hash"], h) and r["revoked_at"] is None:
            return Key.from_row(r)
    return None


@dataclass
class RateWindow:
    """Requests and tokens per key in the last 60 s (this process; Redis shares it across replicas)."""

    events: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def wait(self, key: Key, now: float, tokens: int) -> float:
        """0 when a request of `tokens` may go now (and it is counted), else seconds to wait."""
        q = self.events.setdefault(key.id, deque())
        while q and now - q[0][0] >= 60.0:
            q.popleft()
        if key.rpm is not None and len(q) >= key.rpm:
            return 60.0 - (now - q[0][0])
        if key.tpm is not None and q and sum(t for _, t in q) + tokens > key.tpm:
            return 60.0 - (now - q[0][0])
        q.append((now, tokens))
        return 0.0

    def add_tokens(self, key: Key, tokens: int) -> None:
        q = self.events.get(key.id)
        if q:
            t, n = q[-1]
            q[-1] = (t, n + tokens)
