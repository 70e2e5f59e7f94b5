"""Confidence intervals against known values, and never excluding their point estimate."""

import math
import random

import pytest

from coderouge.evals.engine import macro_mean_ci
from coderouge.stats import mean_ci, paired_bootstrap_diff, score_ci, wilson, wilson_p

# Wilson score 95% intervals, from SciPy 1.17.1:
#   scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
# (statsmodels' proportion_confint(k, n, method="wilson") gives the same). 81/263, 15/148, 0/20 and
# 1/29 are the worked examples of Newcombe (1998), "Two-sided confidence intervals for the single
# proportion", Statistics in Medicine 17:857-872, Table II, method 3: 0.2553-0.3662, 0.0624-0.1605,
# 0-0.1611, 0.0061-0.1718.
WILSON_95 = [
    (0, 10, 0.0, 0.27753279986288926),
    (10, 10, 0.7224672001371109, 1.0),
    (5, 10, 0.236593090512564, 0.7634069094874361),
    (81, 263, 0.2552885198782742, 0.36620957698280004),
    (15, 148, 0.06238639953073629, 0.16048724172330803),
    (0, 20, 0.0, 0.16112515805281935),
    (1, 29, 0.006113214292762667, 0.17175521879320282),
    (37, 50, 0.6044684273515115, 0.8412847250644762),
    (0, 1, 0.0, 0.7934506856227626),
    (1, 1, 0.20654931437723745, 1.0),
]


@pytest.mark.parametrize("k,n,lo,hi", WILSON_95)
def test_wilson_matches_reference_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-12)
    assert score_ci([1.0] * k + [0.0] * (n - k)) == pytest.approx((k / n, lo, hi), abs=1e-12)


def test_newcombes_published_values_to_four_places():
    for (k, n), want in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                         (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        assert tuple(round(x, 4) for x in wilson(k, n)) == want


def test_wilson_is_exactly_0_and_1_at_the_ends():
    # the two terms of the lower bound at p = 0 cancel only up to rounding: `coderouge eval fake/echo
    # --task business` showed a score of 0.0 with a lower bound of 6.9e-18
    for n in range(1, 2000):
        lo, hi = wilson(0, n)
        assert lo == 0.0 and 0.0 < hi < 1.0
        lo, hi = wilson(n, n)
        assert hi == 1.0 and 0.0 < lo < 1.0
    assert wilson(0, 12)[0] == 0.0
    z2 = 1.959963984540054**2
    assert score_ci([0.0] * 12) == (0.0, 0.0, pytest.approx(z2 / (12 + z2)))  # closed form at k = 0
    assert score_ci([1.0] * 12)[0] == score_ci([1.0] * 12)[2] == 1.0
    # the fractional sample sizes of the macro average too
    for n in (1.5, 7.3, 12.0, 263.9):
        assert wilson_p(0.0, n)[0] == 0.0 and wilson_p(1.0, n)[1] == 1.0
    assert macro_mean_ci({"a": [0, 0], "b": [0, 0, 0]})[:2] == (0.0, 0.0)
    v, lo, hi = macro_mean_ci({"a": [1, 1], "b": [1, 1, 1]})
    assert v == hi == 1.0 and lo < 1.0


def test_wilson_edge_inputs():
    assert all(math.isnan(x) for x in wilson(0, 0))
    assert all(math.isnan(x) for x in score_ci([]))


def test_intervals_never_exclude_the_estimate():
    rng = random.Random(7)
    for _ in range(3000):
        n = rng.randint(1, 300)
        k = rng.randint(0, n)
        lo, hi = wilson(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
        p = rng.random()
        m = rng.choice([0.5, 3.7, 12.0, 100.25])
        lo, hi = wilson_p(p, m)
        assert 0.0 <= lo <= p <= hi <= 1.0
    for _ in range(300):
        xs = [rng.random() for _ in range(rng.randint(2, 40))]
        v, lo, hi = score_ci(xs)
        assert 0.0 <= lo <= v <= hi <= 1.0
        v, lo, hi = mean_ci([10 * x for x in xs])
        assert lo <= v <= hi


def test_non_binary_scores_stay_within_0_and_1():
    # mostly ones with one near-zero score: the normal interval would reach above 1
    v, lo, hi = score_ci([1.0] * 9 + [0.05])
    assert v == pytest.approx(0.905) and hi == 1.0 and lo < v
    # scores on another scale (MT-Bench's 1-10) are not clamped
    v, lo, hi = mean_ci([1.0, 10.0, 1.0, 10.0])
    assert v == 5.5 and lo == pytest.approx(5.5 - 1.959963984540054 * math.sqrt(27 / 4))


def test_mean_ci_known_value():
    # mean 2, sample sd 1 (n - 1 in the denominator), n 4: 2 +- 1.96 * 1 / 2
    v, lo, hi = mean_ci([1.0, 2.0, 2.0, 3.0])
    sd = math.sqrt(2 / 3)
    assert v == 2.0 and (lo, hi) == pytest.approx((2 - 1.959963984540054 * sd / 2, 2 + 1.959963984540054 * sd / 2))


# --- the paired bootstrap ---------------------------------------------------------------------


def test_bootstrap_known_cases():
    # two items, differences 0 and 1: a resample mean is 0, 1/2 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5th and 97.5th percentiles of 10000 resamples are 0 and 1 (each end has ~2500 draws)
    assert paired_bootstrap_diff([1, 1], [1, 0], seed=0) == (0.5, 0.0, 1.0)
    # no spread: every resample has the same mean
    assert paired_bootstrap_diff([0.3] * 7, [0.1] * 7, seed=3) == pytest.approx((0.2, 0.2, 0.2))
    m, lo, hi = paired_bootstrap_diff([0.3] * 7, [0.1] * 7, seed=3)
    assert lo <= m <= hi
    # equal answers: a difference of exactly 0
    assert paired_bootstrap_diff([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)


def test_bootstrap_agrees_with_the_normal_interval_on_a_large_sample():
    rng = random.Random(1)
    x = [float(rng.random() < 0.7) for _ in range(400)]
    y = [float(rng.random() < 0.5) for _ in range(400)]
    m, lo, hi = paired_bootstrap_diff(x, y, rounds=20000, seed=0)
    d = [a - b for a, b in zip(x, y)]
    mn, nlo, nhi = mean_ci(d)
    assert m == pytest.approx(mn)
    assert lo == pytest.approx(nlo, abs=0.01) and hi == pytest.approx(nhi, abs=0.01)
    assert lo <= m <= hi


def test_bootstrap_is_seeded():
    x, y = [1, 0, 1, 1, 0, 1, 0, 1], [0, 0, 1, 0, 0, 1, 1, 0]
    assert paired_bootstrap_diff(x, y, seed=5) == paired_bootstrap_diff(x, y, seed=5)
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1, 0], [1])
