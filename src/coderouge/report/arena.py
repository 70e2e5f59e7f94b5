"""Arena results for people and for programs: the summary of a run and the ratings table (with
Elo, length-controlled ratings and win-rate matrices when asked), or the same as JSON."""

from __future__ import annotations

from typing import Any

import numpy as np

from .text import render


def run_summary(s: Any, store_location: str, judge: str) -> str:
    """`arena run`'s answer (s: arena.run's summary)."""
    out = [f"{s.planned} battles planned: {s.decided} judged now, {s.already} already in the store, "
           f"{s.answer_failures} skipped (a model's call failed), {s.judge_failures} without a verdict (judge failed)"]
    if s.outcomes:
        o = s.outcomes
        out.append(f"outcomes: model A won {o.get('model_a', 0)}, model B won {o.get('model_b', 0)}, tie {o.get('tie', 0)}, "
                   f"both bad {o.get('tie (bothbad)', 0)}")
    out += [f"  - {f}" for f in s.failures[:5]]
    out.append(f"store: {store_location}\nnext: coderouge arena ratings --judge {judge}")
    return "\n".join(out)


def _fmt(x: float) -> str:
    return "—" if x != x else f"{x:.0f}"


def ratings_json(board: Any) -> dict[str, Any]:
    """A leaderboard (arena.leaderboard.Leaderboard) as `arena ratings --json` prints it."""
    res, models = board.ratings, board.models
    out = res.to_json()
    elo_of = dict(zip(models, board.elo.tolist()))
    for row in out["ratings"]:
        row["elo"] = elo_of[row["model"]]
    if board.styled is not None:
        sc = dict(zip(models, board.styled.ratings.rating.tolist()))
        for row in out["ratings"]:
            row["rating_style_controlled"] = sc[row["model"]]
        out["style_coefficient"] = float(board.styled.coef[0])
    if board.win_rate is not None:
        out["win_rate"] = {"models": models, "matrix": [[None if v != v else v for v in row] for row in board.win_rate.tolist()]}
        out["predicted_win"] = {"models": models, "matrix": board.predicted_win.tolist()}
    return out


def ratings_text(board: Any, rounds: int, k: float) -> str:
    """A leaderboard as `arena ratings` prints it: best first, with its rank, interval, Elo and battles."""
    res, models, styled = board.ratings, board.models, board.styled
    order = np.argsort(-res.rating, kind="stable")
    headers = ["rank", "model", "rating", "95% CI", "elo", "battles"] + (["length-controlled"] if styled else [])
    rows = []
    for i in order:
        row = [str(res.rank[i]), models[i], _fmt(res.rating[i]), f"{_fmt(res.ci_low[i])}–{_fmt(res.ci_high[i])}",
               _fmt(board.elo[i]), str(res.battles_per_model[i])]
        if styled:
            row.append(_fmt(styled.ratings.rating[i]))
        rows.append(row)
    out = [f"{board.battles} battles from {board.where}; Bradley-Terry (base 10, scale 400), {rounds} bootstrap rounds, "
           f"online Elo K={k:g}",
           render(headers, rows, right={0, 2, 3, 4, 5, 6})]
    if styled is not None:
        out.append(f"style control: length coefficient {styled.coef[0]:+.3f} (> 0: the longer answer tends to win)")
    if board.win_rate is not None:
        names = [models[i] for i in order]
        for title, m in (("observed win rate (row beats column)", board.win_rate),
                         ("predicted win probability (row beats column)", board.predicted_win)):
            out.append(f"\n{title}")
            out.append(render(["", *names], [[models[i], *["—" if i == j or m[i, j] != m[i, j] else f"{m[i, j]:.2f}"
                                                           for j in order]] for i in order]))
    return "\n".join(out)
