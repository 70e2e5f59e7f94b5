"""Arena ratings as pure functions: arrays in, arrays out, an explicit seed for anything random.

Battles are three arrays — ``a``, ``b`` (indices into ``models``) and ``outcome`` (1.0 = a won,
0.0 = b won, 0.5 = tie; "tie" and "tie (bothbad)" are both 0.5) — plus ``models: list[str]``;
:func:`encode` and :func:`battles_from_records` build them from model names.

Bradley–Terry is fitted as Chatbot Arena does today (FastChat ``rating_systems.compute_bt``): maximum
likelihood of P(i beats j) = 1 / (1 + base^((R_j - R_i) / scale)), a tie counted as half a win and
half a loss, no prior. The battles are first reduced to counts per (pair, outcome) cell and fitted by
Newton's method on that small table. A bootstrap round resamples the battles with replacement as one
multinomial draw over those cells, so it costs O(cells), not O(battles).

Convention, as FastChat: the likelihood only fixes differences; FastChat starts L-BFGS at 0 and every
gradient sums to zero, so its ratings have mean ``init`` (1000) — ours too. FastChat then re-anchors
``mixtral-8x7b-instruct-v0.1`` at 1114 when that model is present, in the fit and in each bootstrap
round: pass ``anchor=FASTCHAT_ANCHOR`` (or any ``(model, rating)``) to do the same.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from typing import NamedTuple

import numpy as np

from ..errors import (
    BadBattleError,
    DisconnectedModelsError,
    NoBattlesError,
    RatingsError,
    SelfBattleError,
    TooFewModelsError,
    UnboundedRatingsError,
)
from ..types import WINNER_SCORE

__all__ = [
    "FASTCHAT_ANCHOR", "Battles", "Ratings", "StyleControlled",
    "encode", "battles_from_records", "bradley_terry", "online_elo", "bootstrap_samples", "bootstrap",
    "rank_by_ci", "rate", "rate_records", "win_rate_matrix", "predicted_win_matrix", "length_feature",
    "style_control",
]

FASTCHAT_ANCHOR = ("mixtral-8x7b-instruct-v0.1", 1114.0)
_BLOCK = 10  # bootstrap rounds per random stream, so results never depend on the number of threads


class Battles(NamedTuple):
    a: np.ndarray  # intp indices into models
    b: np.ndarray
    outcome: np.ndarray  # float64: 1.0 a won, 0.0 b won, 0.5 tie
    models: list[str]


def _column(name: str, col: Sequence, table: Mapping, dtype, n: int) -> np.ndarray:
    try:
        return np.fromiter(map(table.__getitem__, col), dtype=dtype, count=n)
    except (KeyError, TypeError):
        k = next(k for k, v in enumerate(col) if not isinstance(v, str) or v not in table)
        what = (f"one of {sorted(WINNER_SCORE)}" if name == "winner" else
                "one of the models given" if isinstance(col[k], str) else "a model name (a string)")
        raise BadBattleError(f"battle {k + 1}: {name} is {col[k]!r}, expected {what}") from None


def encode(model_a: Sequence[str], model_b: Sequence[str], winner: Sequence[str],
           models: Sequence[str] | None = None) -> Battles:
    """Columns of model names and winners → :class:`Battles` (models sorted by name unless given)."""
    n = len(model_a)
    if len(model_b) != n or len(winner) != n:
        raise BadBattleError(f"model_a, model_b and winner differ in length: {n}, {len(model_b)}, {len(winner)}")
    a = b = None
    if models is None:  # the first battles usually name every model: try those before collecting all names
        try:
            head = sorted(set(islice(model_a, 4096)) | set(islice(model_b, 4096)))
            if not all(isinstance(m, str) for m in head):
                raise TypeError
            index = {m: i for i, m in enumerate(head)}
            a, b = (np.fromiter(map(index.__getitem__, c), dtype=np.intp, count=n) for c in (model_a, model_b))
            models = head
        except (KeyError, TypeError):
            models = sorted({m for m in chain(model_a, model_b) if isinstance(m, str)})
    models = list(models)
    if a is None or b is None:
        index = {m: i for i, m in enumerate(models)}
        a, b = _column("model_a", model_a, index, np.intp, n), _column("model_b", model_b, index, np.intp, n)
    outcome = _column("winner", winner, WINNER_SCORE, np.float64, n)
    same = np.flatnonzero(a == b)
    if same.size:
        raise SelfBattleError(f"battle {same[0] + 1}: model_a and model_b are both {models[a[same[0]]]!r} "
                              f"({same.size} self-battles in all)")
    return Battles(a, b, outcome, models)


def battles_from_records(records: Iterable[Sequence[str] | Mapping[str, object]],
                         models: Sequence[str] | None = None) -> Battles:
    """Records ``(model_a, model_b, winner)``, or dicts with those keys (clean_battle records) → :class:`Battles`."""
    rows = list(records)
    if rows and isinstance(rows[0], Mapping):
        cols = [[r[k] for r in rows] for k in ("model_a", "model_b", "winner")]  # type: ignore[index]
    else:
        cols = [list(c) for c in zip(*rows)] if rows else [[], [], []]
    return encode(cols[0], cols[1], cols[2], models)


class _Pairs(NamedTuple):
    i: np.ndarray  # (m,) with i < j: the pairs that met
    j: np.ndarray
    counts: np.ndarray  # (m, 3) battles won by i, tied, won by j
    p: int


def _check(a, b, outcome, models) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, outcome = np.asarray(a), np.asarray(b), np.asarray(outcome, dtype=np.float64)
    p = len(models)
    if p < 2:
        raise TooFewModelsError(f"ratings need at least 2 models, got {p}: {list(models)}")
    if a.shape != b.shape or a.shape != outcome.shape or a.ndim != 1:
        raise BadBattleError(f"a, b and outcome must be 1-D and of one length: {a.shape}, {b.shape}, {outcome.shape}")
    if a.size == 0:
        raise NoBattlesError(f"no battles to rate among {p} models")
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise BadBattleError("a and b must be integer indices into models")
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= p:
        raise BadBattleError(f"a model index is outside 0..{p - 1}")
    same = np.flatnonzero(a == b)
    if same.size:
        raise SelfBattleError(f"battle {same[0] + 1} is a self-battle of {models[a[same[0]]]!r} "
                              f"({same.size} in all): a model cannot be rated against itself")
    bad = np.flatnonzero((outcome != 0.0) & (outcome != 0.5) & (outcome != 1.0))
    if bad.size:
        raise BadBattleError(f"battle {bad[0] + 1}: outcome {float(outcome[bad[0]])} is not 1.0, 0.5 or 0.0")
    return a.astype(np.intp, copy=False), b.astype(np.intp, copy=False), outcome


def _closure(adj: np.ndarray) -> np.ndarray:
    """reach[x, y]: a path leads from x to y (boolean matrix squaring; p is a few hundred at most)."""
    reach = (adj | np.eye(len(adj), dtype=bool)).astype(np.float32)
    for _ in range(math.ceil(math.log2(len(adj))) + 1):
        reach = (reach @ reach > 0).astype(np.float32)
    return reach > 0


def _groups(reach: np.ndarray) -> list[tuple[int, ...]]:
    return list(dict.fromkeys(tuple(np.flatnonzero(row)) for row in reach & reach.T))


def _connected(i, j, models) -> None:
    adj = np.zeros((len(models), len(models)), bool)
    adj[i, j] = adj[j, i] = True
    groups = _groups(_closure(adj))
    if len(groups) > 1:
        raise DisconnectedModelsError([[models[k] for k in g] for g in groups])


def _pairs(a, b, outcome, models) -> _Pairs:
    a, b, outcome = _check(a, b, outcome, models)
    p = len(models)
    o = (outcome * 2).astype(np.intp)  # 2 a won, 1 tie, 0 b won
    code = np.where(a < b, 2 - o, o)  # 0 lower index won, 1 tie, 2 higher index won
    cell = (np.minimum(a, b) * p + np.maximum(a, b)) * 3 + code
    table = np.bincount(cell, minlength=p * p * 3).reshape(p * p, 3)
    met = np.flatnonzero(table.sum(1))
    _connected(met // p, met % p, models)
    return _Pairs(met // p, met % p, table[met].astype(np.float64), p)


def _check_bounded(pr: _Pairs, models) -> None:
    """The unregularised MLE is finite iff the 'won or tied against' graph is strongly connected (Ford 1957)."""
    c = pr.counts
    beat = np.zeros((pr.p, pr.p), bool)
    beat[pr.i[c[:, 0] + c[:, 1] > 0], pr.j[c[:, 0] + c[:, 1] > 0]] = True
    beat[pr.j[c[:, 2] + c[:, 1] > 0], pr.i[c[:, 2] + c[:, 1] > 0]] = True
    reach = _closure(beat)
    if reach.all():
        return
    outside = beat & ~(reach & reach.T)  # x won against y of another group
    groups = _groups(reach)
    never_lost = next(g for g in groups if not outside[:, list(g)].any())
    never_won = next(g for g in groups if not outside[list(g), :].any())
    raise UnboundedRatingsError([models[k] for k in never_lost], [models[k] for k in never_won])


class _BT:
    """-sum(w_ij log σ(α(r_i - r_j)) + w_ji log σ(α(r_j - r_i))) + reg/2 |r|² for R rounds at once.

    wij, wji: (R, m) scores of i against j and of j against i over the pairs (a tie gives 0.5 to each).
    """

    def __init__(self, i, j, wij, wji, p, alpha, reg):
        self.i, self.j, self.wij, self.wji, self.n = i, j, wij, wji, wij + wji
        self.R, self.p, self.alpha, self.reg = wij.shape[0], p, alpha, reg
        rows = np.arange(self.R)[:, None] * p
        self.fi, self.fj = (rows + i).ravel(), (rows + j).ravel()

    def scatter(self, v):  # per pair → per model: (+v to i and -v to j, v to both)
        plus = np.bincount(self.fi, weights=v.ravel(), minlength=self.R * self.p).reshape(self.R, self.p)
        minus = np.bincount(self.fj, weights=v.ravel(), minlength=self.R * self.p).reshape(self.R, self.p)
        return plus - minus, plus + minus

    def at(self, r):  # P(i beats j) and the gradient; the hot loop, so p exponentials rather than one per pair
        ra = self.alpha * r
        ra -= ra.max(1, keepdims=True)
        e = np.exp(ra)  # P(i beats j) = e_i / (e_i + e_j)
        if e.all():
            ei = np.take(e, self.i, axis=1)
            prob = np.add(ei, np.take(e, self.j, axis=1))
            np.divide(ei, prob, out=prob)
        else:  # ratings hundreds of logits apart (a model that never lost, mid-divergence)
            with np.errstate(over="ignore"):
                prob = 1.0 / (1.0 + np.exp(np.take(ra, self.j, axis=1) - np.take(ra, self.i, axis=1)))
        resid = np.multiply(self.n, prob)
        np.subtract(self.wij, resid, out=resid)
        return prob, -self.alpha * self.scatter(resid)[0] + self.reg * r

    def loss(self, r):
        x = self.alpha * (np.take(r, self.i, axis=1) - np.take(r, self.j, axis=1))
        return (self.n * np.logaddexp(0.0, -x) + self.wji * x).sum(1) + 0.5 * self.reg * (r * r).sum(1)

    def hessian(self, prob):
        v = self.alpha ** 2 * self.n * prob * (1.0 - prob)
        h = np.zeros((self.R, self.p, self.p))
        h[:, self.i, self.j] = h[:, self.j, self.i] = -v
        top = self.alpha ** 2 * self.scatter(self.n)[1].mean(1)[:, None, None] / 4  # the largest curvature
        if self.reg == 0:
            h += top / self.p  # pins the free direction (all ratings + c): steps keep the sum of r
        diag = np.arange(self.p)  # damping: a model absent from a round stays put; H stays invertible
        h[:, diag, diag] += self.scatter(v)[1] + self.reg + 1e-9 * top[:, :, 0]
        return h


def _newton(f: _BT, r0, tol=1e-9, max_iter=100) -> np.ndarray:
    """Minimise f from r0 (R, p); without reg the sum of each row of r stays as in r0."""
    r = np.array(r0, dtype=np.float64)
    prob, g = f.at(r)
    for _ in range(max_iter):
        step = np.linalg.solve(f.hessian(prob), -g[..., None])[..., 0]
        t = np.ones(f.R)
        new = r + step
        nprob, ng = f.at(new)
        # Skip the loss where the step provably lowers it: a Newton step that moves no logit by more than 1
        # does (the logistic loss is generalised self-concordant, |l'''| <= l'', Bach 2010), and so does a step
        # along which the loss is still falling at its end (convexity). Elsewhere backtrack.
        check = (f.alpha * (step.max(1) - step.min(1)) > 1.0) & ((ng * step).sum(1) > 0)
        if check.any():
            before = f.loss(r)
            for _ in range(40):
                bad = check & (f.loss(new) > before + 1e-12 * np.abs(before))
                if not bad.any():
                    break
                t[bad] *= 0.5
                new = r + t[:, None] * step
                nprob, ng = f.at(new)
        r, prob, g = new, nprob, ng
        if np.max(np.abs(t[:, None] * step)) < tol:
            break
    return r


def _chord(f: _BT, r0, hinv, tol, max_iter=30) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps with one fixed inverse Hessian (the full data's), for rounds near r0; flags rows that stall."""
    r = np.array(r0, dtype=np.float64)
    last, ok = np.full(f.R, np.inf), np.ones(f.R, bool)
    for _ in range(max_iter):
        step = -f.at(r)[1] @ hinv
        size = np.abs(step).max(1)
        ok &= size < 0.5 * last  # contracting; a row that is not is left to Newton
        r += np.where(ok[:, None], step, 0.0)
        last = size
        if (size[ok] < tol).all():
            break
    return r, ok & (size < tol)


def _to_points(r, models, scale, init, anchor) -> np.ndarray:
    pts = r * scale + init
    if anchor is not None and anchor[0] in models:
        pts = pts + (anchor[1] - pts[..., [list(models).index(anchor[0])]])
    return pts


def _objective(counts, pr: _Pairs, alpha, reg) -> _BT:
    half = 0.5 * counts[..., 1]  # counts: (R, m, 3) won by i, tied, won by j
    return _BT(pr.i, pr.j, counts[..., 0] + half, counts[..., 2] + half, pr.p, alpha, reg)


def _fit(a, b, outcome, models, base, reg) -> tuple[_Pairs, np.ndarray]:
    """Checks, (pair, outcome) counts and the MLE on the natural scale (mean 0)."""
    pr = _pairs(a, b, outcome, models)
    if reg == 0:
        _check_bounded(pr, models)
    return pr, _newton(_objective(pr.counts[None], pr, math.log(base), reg), np.zeros((1, pr.p)))[0]


def bradley_terry(a, b, outcome, models: Sequence[str], *, base: float = 10.0, scale: float = 400.0,
                  init: float = 1000.0, anchor: tuple[str, float] | None = None, reg: float = 0.0) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry ratings (ties = half a win), mean ``init`` unless ``anchor``.

    ``reg`` > 0 adds a ridge penalty reg/2·|r|² on the natural (log-base) scale, which keeps ratings finite
    when a model never lost; with reg = 0 that case raises :class:`UnboundedRatingsError`.
    """
    return _to_points(_fit(a, b, outcome, models, base, reg)[1], models, scale, init, anchor)


def _bt_samples(pr: _Pairs, r_hat, rounds, seed, alpha, reg, workers, tol=1e-7) -> np.ndarray:
    """Bootstrap rounds: multinomial draws over the (pair, outcome) cells, each fitted from r_hat.

    Worker threads draw (one random stream per block of rounds, so the numbers do not depend on the
    thread count) while this thread fits, with the full data's inverse Hessian, and Newton where that stalls.
    """
    cells = pr.counts.ravel()
    nz, n = np.flatnonzero(cells), int(cells.sum())
    pvals = cells[nz] / n
    streams = np.random.SeedSequence(seed).spawn(math.ceil(rounds / _BLOCK))
    full = _objective(pr.counts[None], pr, alpha, reg)
    hinv = np.linalg.inv(full.hessian(full.at(r_hat[None])[0])[0])

    def draw(k: int) -> np.ndarray:
        size = min(_BLOCK, rounds - k * _BLOCK)
        counts = np.zeros((size, cells.size))
        counts[:, nz] = np.random.default_rng(streams[k]).multinomial(n, pvals, size=size)
        return counts.reshape(size, -1, 3)

    def fit(counts: np.ndarray) -> np.ndarray:
        r0 = np.repeat(r_hat[None], len(counts), 0)
        r, ok = _chord(_objective(counts, pr, alpha, reg), r0, hinv, tol)
        if not ok.all():
            r[~ok] = _newton(_objective(counts[~ok], pr, alpha, reg), r0[~ok], tol)
        return r

    workers = workers or min(4, os.cpu_count() or 1)
    out: list[np.ndarray] = []
    with ThreadPoolExecutor(workers) as ex:  # Generator.multinomial releases the GIL
        ahead = {k: ex.submit(draw, k) for k in range(min(len(streams), workers + 1))}
        for k in range(len(streams)):
            if k + workers + 1 < len(streams):
                ahead[k + workers + 1] = ex.submit(draw, k + workers + 1)
            out.append(fit(ahead.pop(k).result()))
    return np.concatenate(out)


def online_elo(a, b, outcome, models: Sequence[str], *, k: float = 4.0, base: float = 10.0,
               scale: float = 400.0, init: float = 1000.0) -> np.ndarray:
    """Sequential Elo in battle order (FastChat ``compute_elo``): R_a += k(s - E_a), R_b -= k(s - E_a)."""
    a, b, outcome = _check(a, b, outcome, models)
    r = [float(init)] * len(models)
    for x, y, s in zip(a.tolist(), b.tolist(), outcome.tolist()):
        u = k * (s - 1.0 / (1.0 + base ** ((r[y] - r[x]) / scale)))
        r[x] += u
        r[y] -= u
    return np.array(r)


def _elo_samples(a, b, outcome, p, rounds, seed, k, base, scale, init) -> np.ndarray:
    """FastChat's bootstrap Elo: each round replays n battles drawn with replacement, in random order."""
    idx = np.random.default_rng(seed).integers(0, len(a), size=(len(a), rounds))
    r, cols, alpha = np.full((rounds, p), float(init)), np.arange(rounds), math.log(base) / scale
    for row in idx:
        x, y = a[row], b[row]
        u = k * (outcome[row] - 1.0 / (1.0 + np.exp(alpha * (r[cols, y] - r[cols, x]))))
        r[cols, x] += u
        r[cols, y] -= u
    return r


def bootstrap_samples(a, b, outcome, models: Sequence[str], *, rounds: int = 100, seed: int = 0,
                      method: str = "bt", base: float = 10.0, scale: float = 400.0, init: float = 1000.0,
                      anchor: tuple[str, float] | None = None, reg: float = 0.0, k: float = 4.0,
                      workers: int | None = None) -> np.ndarray:
    """(rounds, models) ratings on battles resampled with replacement; ``method`` "bt" or "elo".

    "elo" replays each round's battles in random order (FastChat's bootstrap Elo), O(battles) Python steps.
    """
    if rounds < 1:
        raise RatingsError(f"rounds must be at least 1, got {rounds}")
    if method == "elo":
        a, b, outcome = _check(a, b, outcome, models)
        return _elo_samples(a, b, outcome, len(models), rounds, seed, k, base, scale, init)
    if method != "bt":
        raise RatingsError(f"unknown bootstrap method {method!r}: use 'bt' or 'elo'")
    pr, r_hat = _fit(a, b, outcome, models, base, reg)
    return _to_points(_bt_samples(pr, r_hat, rounds, seed, math.log(base), reg, workers), models, scale, init, anchor)


def bootstrap(a, b, outcome, models: Sequence[str], *, rounds: int = 100, seed: int = 0,
              **kw) -> tuple[np.ndarray, np.ndarray]:
    """Per-model 95% interval: the 2.5th and 97.5th percentiles of :func:`bootstrap_samples`."""
    lo, hi = np.percentile(bootstrap_samples(a, b, outcome, models, rounds=rounds, seed=seed, **kw), [2.5, 97.5], 0)
    return lo, hi


def rank_by_ci(ratings, lo, hi) -> np.ndarray:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound.

    Where an interval is missing (NaN) the rating stands in for it, which gives plain competition ranks.
    """
    r = np.asarray(ratings, dtype=np.float64)
    lo, hi = np.where(np.isnan(lo), r, lo), np.where(np.isnan(hi), r, hi)
    return 1 + (lo[None, :] > hi[:, None]).sum(1)


@dataclass(frozen=True, eq=False)
class Ratings:
    models: list[str]
    rating: np.ndarray
    ci_low: np.ndarray  # NaN where no bootstrap was run
    ci_high: np.ndarray
    rank: np.ndarray
    battles_per_model: np.ndarray
    rounds: int = 0
    seed: int | None = None
    samples: np.ndarray | None = None  # (rounds, models) bootstrap ratings

    def to_json(self) -> dict:
        """A JSON-ready dict ``{"ratings": [{model, rating, ci_low, ci_high, rank, battles}]}``, best first."""
        def num(x) -> float | None:
            return None if math.isnan(x) else float(x)

        return {"ratings": [{"model": self.models[k], "rating": float(self.rating[k]), "ci_low": num(self.ci_low[k]),
                             "ci_high": num(self.ci_high[k]), "rank": int(self.rank[k]),
                             "battles": int(self.battles_per_model[k])}
                            for k in np.argsort(-self.rating, kind="stable")]}


def _result(models, rating, samples, a, b, rounds, seed) -> Ratings:
    lo = hi = np.full(len(models), np.nan)
    if samples is not None:
        lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    played = np.bincount(a, minlength=len(models)) + np.bincount(b, minlength=len(models))
    return Ratings(models, rating, lo, hi, rank_by_ci(rating, lo, hi), played, rounds, seed if rounds else None,
                   samples)


def rate(a, b, outcome, models: Sequence[str], *, rounds: int = 100, seed: int = 0, base: float = 10.0,
         scale: float = 400.0, init: float = 1000.0, anchor: tuple[str, float] | None = None, reg: float = 0.0,
         workers: int | None = None) -> Ratings:
    """The leaderboard: BT ratings on all battles, bootstrap 95% intervals (``rounds`` = 0: none), CI ranks.

    ``workers`` threads draw the bootstrap samples; the numbers depend on ``seed`` only. A resample in which
    some model never lost has no finite MLE: like FastChat's, that round's ratings are where the optimiser
    stops, far out, so with very few battles the intervals come out very wide — as they should.
    """
    models = list(models)
    pr, r_hat = _fit(a, b, outcome, models, base, reg)
    samples = None
    if rounds > 0:
        samples = _to_points(_bt_samples(pr, r_hat, rounds, seed, math.log(base), reg, workers), models, scale, init,
                             anchor)
    return _result(models, _to_points(r_hat, models, scale, init, anchor), samples, np.asarray(a), np.asarray(b),
                   max(rounds, 0), seed)


def rate_records(records: Iterable[Sequence[str] | Mapping[str, object]], **kw) -> Ratings:
    """:func:`rate` on ``(model_a, model_b, winner)`` records or clean_battle dicts."""
    return rate(*battles_from_records(records), **kw)


def win_rate_matrix(a, b, outcome, models: Sequence[str]) -> np.ndarray:
    """M[i, j]: the share of i's battles against j that i won, ties counted half; NaN where they never met."""
    a, b, outcome = _check(a, b, outcome, models)
    p = len(models)
    ab, ba = a * p + b, b * p + a
    score = np.bincount(ab, outcome, p * p) + np.bincount(ba, 1.0 - outcome, p * p)
    met = np.bincount(ab, minlength=p * p) + np.bincount(ba, minlength=p * p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(met > 0, score / met, np.nan).reshape(p, p)


def predicted_win_matrix(ratings, *, base: float = 10.0, scale: float = 400.0) -> np.ndarray:
    """P[i, j] = 1 / (1 + base^((R_j - R_i) / scale)): the chance that i beats j (0.5 on the diagonal)."""
    r = np.asarray(ratings, dtype=np.float64)
    return 1.0 / (1.0 + np.power(base, (r[None, :] - r[:, None]) / scale))


def length_feature(len_a, len_b) -> np.ndarray:
    """FastChat's length feature: (len_a - len_b) / (len_a + len_b + 1), standardised over the battles. (n, 1)."""
    la, lb = np.asarray(len_a, dtype=np.float64), np.asarray(len_b, dtype=np.float64)
    if la.shape != lb.shape or la.ndim != 1 or (la < 0).any() or (lb < 0).any():
        raise BadBattleError("len_a and len_b must be 1-D arrays of non-negative lengths, one per battle")
    x = (la - lb) / (la + lb + 1.0)
    if not x.std() > 0:
        raise RatingsError("style control needs answers of different lengths: every length difference is the same")
    return ((x - x.mean()) / x.std())[:, None]


def _contextual(a, b, y, x, p, alpha, reg, theta0, tol=1e-9, max_iter=100) -> np.ndarray:
    """Newton for logit = α(r_a - r_b) + x·β with ridge reg/2·|θ|², θ = (r, β): FastChat's contextual BT."""
    q = x.shape[1]
    theta = theta0.copy()

    def state(th):
        lg = alpha * (th[a] - th[b]) + x @ th[p:]
        sp = np.logaddexp(0.0, -lg)
        return (sp + (1.0 - y) * lg).sum() + 0.5 * reg * th @ th, np.exp(-sp)

    loss, prob = state(theta)
    for _ in range(max_iter):
        e, w = y - prob, prob * (1.0 - prob)
        g = reg * theta
        g[:p] -= alpha * (np.bincount(a, e, p) - np.bincount(b, e, p))
        g[p:] -= x.T @ e
        h = np.zeros((p + q, p + q))
        c = np.bincount(a * p + b, w, p * p).reshape(p, p)
        c = c + c.T
        h[:p, :p] = alpha * alpha * (np.diag(c.sum(1)) - c)
        xw = x * w[:, None]
        cross = alpha * np.stack([np.bincount(a, xw[:, f], p) - np.bincount(b, xw[:, f], p) for f in range(q)], 1)
        h[:p, p:], h[p:, :p], h[p:, p:] = cross, cross.T, x.T @ xw
        h[np.arange(p + q), np.arange(p + q)] += reg + 1e-12 * np.trace(h) / (p + q)
        if reg == 0:
            h[:p, :p] += np.trace(h[:p, :p]) / p / p  # pins the free direction, as in _BT.hessian
        step = np.linalg.solve(h, -g)
        t = 1.0
        for _ in range(40):
            new_loss, new_prob = state(theta + t * step)
            if new_loss <= loss + 1e-12 * abs(loss):
                break
            t *= 0.5
        theta, loss, prob = theta + t * step, new_loss, new_prob
        if np.max(np.abs(t * step)) < tol:
            break
    return theta


@dataclass(frozen=True, eq=False)
class StyleControlled:
    ratings: Ratings  # how the models compare at equal answer length
    coef: np.ndarray  # per feature: logit change per standard deviation of the feature (FastChat's params)
    coef_samples: np.ndarray | None = None  # (rounds, features)


def style_control(a, b, outcome, models: Sequence[str], len_a, len_b, *, reg: float = 0.5, rounds: int = 0,
                  seed: int = 0, base: float = 10.0, scale: float = 400.0, init: float = 1000.0,
                  anchor: tuple[str, float] | None = None) -> StyleControlled:
    """BT with answer length as a covariate (FastChat's style control, length feature only).

    ``coef[0]`` > 0: the longer answer tends to win. ``reg`` = 0.5 is FastChat's ridge on all parameters.
    Bootstrap rounds resample the battles with replacement (O(battles) each).
    """
    a, b, y = _check(a, b, outcome, models)
    models = list(models)
    x = length_feature(len_a, len_b)
    if x.shape[0] != a.size:
        raise BadBattleError(f"{x.shape[0]} answer lengths for {a.size} battles")
    _connected(a, b, models)
    p, alpha = len(models), math.log(base)
    theta = _contextual(a, b, y, x, p, alpha, reg, np.zeros(p + x.shape[1]))
    samples = coef_samples = None
    if rounds > 0:
        rng = np.random.default_rng(seed)
        th = np.array([_contextual(a[k], b[k], y[k], x[k], p, alpha, reg, theta)
                       for k in (rng.integers(0, a.size, a.size) for _ in range(rounds))])
        samples, coef_samples = _to_points(th[:, :p], models, scale, init, anchor), th[:, p:]
    rating = _to_points(theta[:p], models, scale, init, anchor)
    return StyleControlled(_result(models, rating, samples, a, b, max(rounds, 0), seed), theta[p:], coef_samples)
