"""What `arena ratings` shows, computed in one call from decided battles: Bradley-Terry ratings with
bootstrap intervals, online Elo, optionally length-controlled ratings and the win-rate matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from . import ratings as R
from .records import decided_records


@dataclass
class Leaderboard:
    where: str  # where the battles came from
    battles: int
    models: list[str]
    ratings: R.Ratings
    elo: np.ndarray
    styled: R.StyleControlled | None = None  # with style control
    win_rate: np.ndarray | None = None  # observed (row beats column), with the matrices
    predicted_win: np.ndarray | None = None


def leaderboard(store_url: str | None, battle_file: str | None = None, judge: str | None = None, *, rounds: int = 100,
                seed: int = 0, k: float = 4.0, reg: float = 0.0, style_control: bool = False,
                matrices: bool = False) -> Leaderboard:
    """Rate the decided battles of `battle_file`, else of the store (one judge's when given). Raises
    UnboundedRatingsError when no finite ratings exist (reg > 0 keeps them finite)."""
    recs, where = decided_records(store_url, battle_file, judge)
    a, b, outcome, models = R.battles_from_records(recs)
    res = R.rate(a, b, outcome, models, rounds=rounds, seed=seed, reg=reg)
    board = Leaderboard(where, len(recs), models, res, R.online_elo(a, b, outcome, models, k=k))
    if style_control:
        if any(r.get("len_a") is None or r.get("len_b") is None for r in recs):
            raise UsageError("--style-control needs the answer lengths (len_a, len_b) of every battle")
        board.styled = R.style_control(a, b, outcome, models, [r["len_a"] for r in recs], [r["len_b"] for r in recs],
                                       seed=seed)
    if matrices:
        board.win_rate = R.win_rate_matrix(a, b, outcome, models)
        board.predicted_win = R.predicted_win_matrix(res.rating)
    return board
