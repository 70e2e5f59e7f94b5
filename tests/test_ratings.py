import json
import math

import numpy as np
import pytest

from coderouge import errors as E
from coderouge.arena import ratings as R
from coderouge.errors import UsageError

TRUE = np.array([1180.0, 1120.0, 1060.0, 1010.0, 990.0, 940.0, 880.0, 820.0])  # mean 1000


def simulate(true, n, seed, lengths=None, beta=0.0):
    """Battles from known BT strengths with ties: P(a) = s - t/2, P(tie) = t, P(b) = 1 - s - t/2, t = s(1 - s).

    So E[outcome] = s = P(a beats b) exactly, the model that counts a tie as half a win.
    With ``lengths``, the answer-length feature (standardised) adds ``beta`` to the logit.
    """
    rng = np.random.default_rng(seed)
    p = len(true)
    a = rng.integers(0, p, n)
    b = rng.integers(0, p - 1, n)
    b += b >= a
    logit = (true[a] - true[b]) * math.log(10) / 400
    la = lb = None
    if lengths is not None:
        la = rng.normal(lengths[a], 40).clip(1)
        lb = rng.normal(lengths[b], 40).clip(1)
        logit = logit + beta * R.length_feature(la, lb)[:, 0]
    s = 1 / (1 + np.exp(-logit))
    t = s * (1 - s)
    u = rng.random(n)
    outcome = np.where(u < s - t / 2, 1.0, np.where(u < s + t / 2, 0.5, 0.0))
    models = [f"m{k}" for k in range(p)]
    return a, b, outcome, models, la, lb


def spearman(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return np.corrcoef(rx, ry)[0, 1]


@pytest.fixture(scope="module")
def sim():
    return simulate(TRUE, 20_000, seed=7)[:4]


def test_bradley_terry_recovers_true_strengths(sim):
    rating = R.bradley_terry(*sim)
    assert rating.mean() == pytest.approx(1000.0, abs=1e-9)  # FastChat's convention: mean = init
    assert spearman(rating, TRUE) >= 0.99
    err = np.abs(rating - TRUE)
    assert err.max() < 20 and err.mean() < 8, err


def test_bootstrap_intervals_cover_the_truth(sim):
    r = R.rate(*sim, rounds=200, seed=3)
    assert np.all(r.ci_low < r.rating) and np.all(r.rating < r.ci_high)
    width = r.ci_high - r.ci_low
    assert np.all((width > 5) & (width < 60)), width
    assert ((r.ci_low <= TRUE) & (TRUE <= r.ci_high)).sum() >= 6
    assert r.samples.shape == (200, 8) and np.allclose(r.samples.mean(1), 1000.0)
    assert r.rank[0] == 1 and np.all(np.diff(r.rank) >= 0) and np.all(r.rank <= np.arange(1, 9))
    assert list(r.rank) == list(R.rank_by_ci(r.rating, r.ci_low, r.ci_high))


def test_same_seed_same_numbers_whatever_the_threads(sim):
    one = R.rate(*sim, rounds=30, seed=11, workers=1)
    four = R.rate(*sim, rounds=30, seed=11, workers=4)
    assert np.array_equal(one.samples, four.samples)
    assert np.array_equal(one.ci_low, four.ci_low) and np.array_equal(one.rating, four.rating)
    other = R.rate(*sim, rounds=30, seed=12, workers=1)
    assert not np.array_equal(one.samples, other.samples)
    lo, hi = R.bootstrap(*sim, rounds=30, seed=11)
    assert np.array_equal(lo, one.ci_low) and np.array_equal(hi, one.ci_high)


def test_bootstrap_rounds_are_exact_fits():
    """Each bootstrap round must be the MLE of its own resample (the fast path agrees with Newton)."""
    a, b, y, models = simulate(TRUE, 3000, seed=5)[:4]
    s = R.bootstrap_samples(a, b, y, models, rounds=10, seed=2, workers=1)
    pr = R._pairs(a, b, y, models)
    cells = pr.counts.ravel()
    nz, n = np.flatnonzero(cells), int(cells.sum())
    counts = np.zeros((10, cells.size))
    stream = np.random.SeedSequence(2).spawn(1)[0]
    counts[:, nz] = np.random.default_rng(stream).multinomial(n, cells[nz] / n, size=10)
    f = R._objective(counts.reshape(10, -1, 3), pr, math.log(10), 0.0)
    exact = R._newton(f, np.zeros((10, 8))) * 400 + 1000
    assert np.abs(s - exact).max() < 1e-3


def test_ties_count_as_half_a_win():
    # A: 1 win, 2 ties, 1 loss against B scores 2 of 4 → equal; 2 wins + 2 ties of 4 → P = 3/4
    even = R.battles_from_records([("A", "B", "model_a"), ("A", "B", "tie"), ("B", "A", "tie (bothbad)"),
                                   ("B", "A", "model_a")])
    assert R.bradley_terry(*even) == pytest.approx([1000.0, 1000.0])
    rec = [("A", "B", "model_a"), ("B", "A", "model_b"), ("A", "B", "tie"), ("B", "A", "tie (bothbad)")]
    gap = 400 * math.log10(3)  # P(A beats B) = 3/4 = 1 / (1 + 10^(-gap/400))
    assert R.bradley_terry(*R.battles_from_records(rec)) == pytest.approx([1000 + gap / 2, 1000 - gap / 2])
    assert R.bradley_terry(*R.battles_from_records([("A", "B", "tie")] * 3)) == pytest.approx([1000.0, 1000.0])


def test_ties_as_half_equal_a_win_and_a_loss_in_three_models():
    tie = [("A", "B", "tie"), ("B", "C", "model_a"), ("C", "A", "model_a"), ("A", "C", "model_a"),
           ("B", "C", "model_b")]
    split = [("A", "B", "model_a"), ("A", "B", "model_b")] + [r for r in tie[1:] for _ in range(2)]
    assert R.bradley_terry(*R.battles_from_records(tie)) == pytest.approx(
        R.bradley_terry(*R.battles_from_records(split)), abs=1e-6)


# FastChat's own numbers (rating_systems.compute_bt, compute_elo and fit_contextual_bt with the length
# feature only; FastChat at lm-sys/FastChat commit 2bdb2e0c) on fixed_battles(), computed once with FastChat in
# its own virtual environment. FastChat's L-BFGS stops ~3e-4 points from the optimum; ours is exact to 1e-6.
FASTCHAT_BT = {"bravo": 1304.075168, "alpha": 1134.850094, "charlie": 948.43808, "delta": 856.582962,
               "echo": 756.053696}
FASTCHAT_BT_ANCHORED = {"bravo": 1469.637088, "alpha": 1300.412015, "mixtral-8x7b-instruct-v0.1": 1114.0,
                        "delta": 1022.144882, "echo": 921.615617}
FASTCHAT_ELO = {"alpha": 1052.325631943, "bravo": 1105.218022288, "charlie": 982.266484499,
                "delta": 948.752701621, "echo": 911.43715965}
FASTCHAT_STYLE = {"alpha": 1134.289887, "bravo": 1304.672099, "charlie": 947.433515, "delta": 860.033165,
                  "echo": 753.571335}
FASTCHAT_STYLE_COEF = -0.03943578


def fixed_battles():
    """5 models, 240 battles with ties of both kinds, from arithmetic alone."""
    names, strength, out = ["alpha", "bravo", "charlie", "delta", "echo"], [3, 5, 2, 4, 1], []
    for k in range(240):
        a = k % 5
        b = (a + 1 + (k * 7 // 5) % 4) % 5
        edge, u = strength[a] - strength[b], (k * k * 13 + k * 37 + 11) % 20
        w = "model_a" if u < 8 + edge else ("tie" if k % 3 else "tie (bothbad)") if u < 11 + edge else "model_b"
        out.append((names[a], names[b], w, 200 + (k * 53) % 400 + 60 * strength[a],
                    200 + (k * 29) % 400 + 60 * strength[b]))
    return out


def test_matches_fastchat_on_a_fixed_battle_set():
    rows = fixed_battles()
    bt = R.battles_from_records([r[:3] for r in rows])
    got = dict(zip(bt.models, R.bradley_terry(*bt)))
    assert got == pytest.approx(FASTCHAT_BT, abs=2e-3)
    assert dict(zip(bt.models, R.online_elo(*bt))) == pytest.approx(FASTCHAT_ELO, abs=1e-9)
    sc = R.style_control(*bt, [r[3] for r in rows], [r[4] for r in rows])
    assert dict(zip(bt.models, sc.ratings.rating)) == pytest.approx(FASTCHAT_STYLE, abs=2e-3)
    assert sc.coef[0] == pytest.approx(FASTCHAT_STYLE_COEF, abs=1e-5)
    renamed = [(*(("mixtral-8x7b-instruct-v0.1" if m == "charlie" else m) for m in r[:2]), r[2]) for r in rows]
    bt2 = R.battles_from_records(renamed)
    anchored = dict(zip(bt2.models, R.bradley_terry(*bt2, anchor=R.FASTCHAT_ANCHOR)))
    assert anchored == pytest.approx(FASTCHAT_BT_ANCHORED, abs=2e-3)


def test_rank_by_ci_on_hand_made_intervals():
    rating = np.array([1100.0, 1090.0, 1000.0, 900.0])
    lo = np.array([1080.0, 1070.0, 985.0, 880.0])
    hi = np.array([1120.0, 1110.0, 1015.0, 920.0])
    assert list(R.rank_by_ci(rating, lo, hi)) == [1, 1, 3, 4]
    assert list(R.rank_by_ci(rating, lo + 0.0, np.array([1120.0, 1079.0, 1015.0, 920.0]))) == [1, 2, 3, 4]
    nan = np.full(4, np.nan)
    assert list(R.rank_by_ci(np.array([5.0, 7.0, 7.0, 1.0]), nan, nan)) == [3, 1, 1, 4]


def test_win_rate_matrix_by_hand():
    bt = R.battles_from_records([("A", "B", "model_a"), ("B", "A", "tie"), ("A", "B", "model_b"),
                                 ("C", "A", "model_a"), ("C", "A", "tie (bothbad)")])
    m = R.win_rate_matrix(*bt)
    assert m[0, 1] == pytest.approx(1.5 / 3) and m[1, 0] == pytest.approx(1.5 / 3)
    assert m[2, 0] == pytest.approx(1.5 / 2) and m[0, 2] == pytest.approx(0.5 / 2)
    assert np.isnan(m[1, 2]) and np.isnan(m[2, 1]) and np.isnan(np.diag(m)).all()


def test_predicted_win_matrix_by_hand():
    p = R.predicted_win_matrix([1000.0, 1400.0, 1200.0])
    assert p[0, 1] == pytest.approx(1 / 11) and p[1, 0] == pytest.approx(10 / 11)
    assert p[2, 0] == pytest.approx(1 / (1 + 10 ** -0.5)) and np.allclose(np.diag(p), 0.5)
    assert np.allclose(p + p.T, 1.0)


def test_online_elo_three_battles_by_hand():
    # k = 4 from 1000 each. 1) A beats B: E_A = 0.5, u = 4 (1 - 0.5) = 2: A = 1002, B = 998.
    # 2) B ties C: E_B = 1 / (1 + 10^(2/400)) = 0.49712180, u = 4 (0.5 - E_B) = 0.01151280: B = 998.01151280,
    #    C = 999.98848720. 3) C beats A: E_C = 1 / (1 + 10^((1002 - 999.98848720) / 400)) = 0.49710523,
    #    u = 4 (1 - E_C) = 2.01157907: C = 1002.00006627, A = 999.98842093.
    bt = R.battles_from_records([("A", "B", "model_a"), ("B", "C", "tie"), ("C", "A", "model_a")])
    got = R.online_elo(*bt)
    assert got == pytest.approx([999.98842093, 998.01151280, 1002.00006627], abs=1e-7)
    assert got.sum() == pytest.approx(3000.0)


def test_elo_bootstrap_is_seeded():
    a, b, y, models = simulate(TRUE[:4], 400, seed=1)[:4]
    s1 = R.bootstrap_samples(a, b, y, models, rounds=20, seed=4, method="elo")
    assert s1.shape == (20, 4) and np.array_equal(s1, R.bootstrap_samples(a, b, y, models, rounds=20, seed=4,
                                                                          method="elo"))
    assert np.allclose(s1.mean(1), 1000.0)


def test_errors_are_clear_value_errors():
    def raises(exc, match, *args, **kw):
        with pytest.raises(exc, match=match) as e:
            (kw.pop("fn", R.bradley_terry))(*args, **kw)
        assert isinstance(e.value, ValueError) and isinstance(e.value, UsageError)
        return e.value

    one = np.array([0])
    raises(E.TooFewModelsError, "at least 2 models", one, one, np.array([1.0]), ["A"])
    raises(E.NoBattlesError, "no battles", np.array([], int), np.array([], int), np.array([]), ["A", "B"])
    raises(E.SelfBattleError, "battle 2 is a self-battle of 'B'", np.array([0, 1]), np.array([1, 1]),
           np.array([1.0, 0.0]), ["A", "B"])
    with pytest.raises(E.SelfBattleError, match="battle 1: model_a and model_b are both 'A'"):
        R.battles_from_records([("A", "A", "tie")])
    with pytest.raises(E.BadBattleError, match=r"battle 2: winner is 'draw'"):
        R.battles_from_records([("A", "B", "tie"), ("A", "B", "draw")])
    with pytest.raises(E.BadBattleError, match=r"battle 1: model_b is 'Z'"):
        R.battles_from_records([("A", "Z", "tie")], models=["A", "B"])
    raises(E.BadBattleError, "outcome 0.7", np.array([0]), np.array([1]), np.array([0.7]), ["A", "B"])
    err = raises(E.DisconnectedModelsError, r"\{A, B\} \| \{C, D\} \| \{E\}",
                 *R.battles_from_records([("A", "B", "tie"), ("C", "D", "model_a"), ("D", "C", "model_a")],
                                         models=["A", "B", "C", "D", "E"]))
    assert err.components == [["A", "B"], ["C", "D"], ["E"]]
    chain = R.battles_from_records([("A", "B", "model_a"), ("B", "C", "tie"), ("A", "C", "model_a")])
    err = raises(E.UnboundedRatingsError, "never lost", *chain)
    assert err.never_lost == ["A"] and err.never_won == ["B", "C"]
    raises(E.UnboundedRatingsError, "reg > 0", *chain, fn=R.rate)
    ridge = R.bradley_terry(*chain, reg=1.0)
    assert np.isfinite(ridge).all() and ridge[0] > ridge[1] == pytest.approx(ridge[2])


def test_sparse_data_bootstrap_stays_finite():
    bt = R.battles_from_records([("A", "B", "model_a"), ("B", "A", "model_a"), ("B", "C", "model_a"),
                                 ("C", "B", "tie"), ("C", "A", "model_a"), ("A", "C", "model_a")])
    r = R.rate(*bt, rounds=50, seed=1)
    assert np.isfinite(r.samples).all() and np.all(r.ci_low <= r.rating) and np.all(r.rating <= r.ci_high)


def test_to_json_is_sorted_and_json_ready(sim):
    r = R.rate(*sim, rounds=20, seed=0)
    out = r.to_json()
    rows = out["ratings"]
    assert [x["model"] for x in rows] == [f"m{k}" for k in range(8)]
    assert set(rows[0]) == {"model", "rating", "ci_low", "ci_high", "rank", "battles"}
    assert sum(x["battles"] for x in rows) == 2 * 20_000 and rows[0]["rank"] == 1
    assert json.loads(json.dumps(out)) == out
    bare = R.rate(*sim, rounds=0).to_json()["ratings"]
    assert bare[0]["ci_low"] is None and [x["rank"] for x in bare] == list(range(1, 9))


def test_style_control_removes_a_planted_length_bias():
    true = np.array([1080.0, 1040.0, 1000.0, 960.0, 920.0])  # m4 is the weakest...
    lengths = np.array([300.0, 300.0, 300.0, 300.0, 900.0])  # ...but writes three times as much
    a, b, y, models, la, lb = simulate(true, 20_000, seed=9, lengths=lengths, beta=0.8)
    plain = R.bradley_terry(a, b, y, models)
    assert np.argmax(plain) == 4  # the verbose model wins on length alone
    sc = R.style_control(a, b, y, models, la, lb)
    assert sc.coef[0] == pytest.approx(0.8, abs=0.08)
    assert np.argmin(sc.ratings.rating) == 4 and spearman(sc.ratings.rating, true) == pytest.approx(1.0)
    assert np.abs(sc.ratings.rating - true).max() < 25
    boot = R.style_control(a[:3000], b[:3000], y[:3000], models, la[:3000], lb[:3000], rounds=20, seed=1)
    assert boot.coef_samples.shape == (20, 1) and np.all(boot.ratings.ci_low < boot.ratings.ci_high)
    with pytest.raises(E.RatingsError, match="different lengths"):
        R.style_control(a, b, y, models, np.ones(a.size), np.ones(a.size))
