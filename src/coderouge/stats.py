"""Pure statistics: confidence intervals and percentiles. Arrays in, numbers out."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (well-behaved at 0 and 1, unlike the normal one):
    exactly 0 below at 0 successes and exactly 1 above at n."""
    if n <= 0:
        return (math.nan, math.nan)
    return wilson_p(successes / n, n, z)


def wilson_p(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson interval of a proportion p observed over a (possibly fractional, e.g. Kish's
    effective) sample size n. Clamped to [0, p] below and [p, 1] above, so it never excludes p,
    not even by a rounding error (at p = 0 the two terms of the lower bound cancel to ~1e-18)."""
    if n <= 0:
        return (math.nan, math.nan)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denom
    return (min(max(0.0, centre - half), p), max(min(1.0, centre + half), p))


def _around(m: float, lo: float, hi: float, floor: float = -math.inf, ceil: float = math.inf) -> tuple[float, float, float]:
    """(m, lo, hi) with lo <= m <= hi guaranteed and the bounds kept within [floor, ceil]."""
    return (m, min(max(lo, floor), m), max(min(hi, ceil), m))


def mean_ci(values: Sequence[float], z: float = Z95) -> tuple[float, float, float]:
    """Mean and a normal-approximation 95% interval (sample standard error, as lm-evaluation-harness reports)."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = sum(values) / n
    if n == 1:
        return (m, math.nan, math.nan)
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return _around(m, m - half, m + half)


def score_ci(scores: Sequence[float]) -> tuple[float, float, float]:
    """Mean score with a 95% interval: Wilson when every score is 0 or 1, else normal approximation
    (kept within [0, 1] when every score is). The interval always contains the mean."""
    n = len(scores)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    if all(s in (0.0, 1.0) for s in scores):
        k = sum(scores)
        lo, hi = wilson(k, n)
        return (k / n, lo, hi)
    m, lo, hi = mean_ci(scores)
    if math.isnan(lo) or not all(0.0 <= s <= 1.0 for s in scores):
        return (m, lo, hi)
    return _around(m, lo, hi, 0.0, 1.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact (binomial) two-sided McNemar p-value for the discordant counts b (A right, B wrong) and
    c (A wrong, B right): P(X <= min(b, c)) doubled, X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # sum of C(n, i) / 2^n for i <= k, in logs to stay exact enough for large n
    log_half_n = -n * math.log(2)
    total = 0.0
    log_c = 0.0  # log C(n, 0)
    for i in range(k + 1):
        if i:
            log_c += math.log(n - i + 1) - math.log(i)
        total += math.exp(log_c + log_half_n)
    return min(1.0, 2 * total)


def paired_bootstrap_diff(x: Sequence[float], y: Sequence[float], rounds: int = 10000, seed: int = 0,
                          level: float = 0.95) -> tuple[float, float, float]:
    """Mean difference x - y over paired items and its percentile bootstrap interval (items resampled
    with replacement, the pairing kept), widened where needed to contain the mean difference."""
    import numpy as np

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.size == 0:
        raise ValueError("paired samples must be non-empty and of equal length")
    d = xs - ys
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(rounds, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return _around(float(d.mean()), float(lo), float(hi))


# two-sided 95% quantiles of Student's t for 1-30 degrees of freedom (beyond: the normal's 1.96)
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_ci(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, low, high): Student's t 95% interval of the mean of a few values (repeat runs); None for
    fewer than two."""
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = (_T95[n - 2] if n - 1 <= len(_T95) else Z95) * sd / math.sqrt(n)
    return m, m - half, m + half
