"""Decided battles as FastChat clean_battle records: read from the store (optionally one judge's) or
from a file, imported into the store, exported to a file."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..store import Store
from . import battles as bt
from .battle_log import read_battles, write_battles


def decided_records(store_url: str | None, battle_file: str | None = None,
                    judge: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """(records, where they came from): from `battle_file` when given, else the store's decided battles."""
    if battle_file:
        recs = read_battles(battle_file)
        if not recs:
            raise UsageError(f"{battle_file}: no battles in the file")
        return recs, battle_file
    store = Store(store_url)
    try:
        recs = [b.clean_battle() for b in bt.list_battles(store, decided=True, judge=judge)]
    finally:
        store.close()
    where = f"the store ({store.location})" + (f", judge {judge}" if judge else "")
    if not recs:
        raise UsageError(f"no decided battles in {where}: run 'coderouge arena run …', vote on 'arena serve', or 'arena import FILE'")
    return recs, where


def import_battles(store_url: str | None, path: str, label: str) -> tuple[int, str]:
    """Add a clean_battle file's battles to the store under judge `label`, all or nothing (every record is
    checked before anything is written). Returns (battles imported, the store's location)."""
    recs = read_battles(path)
    store = Store(store_url)
    with store.transaction():
        for r in recs:
            bt.add_battle(store, source="import", judge=label, model_a=r["model_a"], model_b=r["model_b"],
                          prompt_id=str(r["question_id"]) if r.get("question_id") is not None else None,
                          winner=r["winner"], tstamp=float(r["tstamp"]), anony=bool(r["anony"]))
    return len(recs), store.location


def export_battles(store_url: str | None, path: str, judge: str | None = None) -> tuple[int, str]:
    """Write the store's decided battles (optionally one judge's) to `path`. Returns (battles, where from)."""
    recs, where = decided_records(store_url, None, judge)
    return write_battles(path, recs), where
