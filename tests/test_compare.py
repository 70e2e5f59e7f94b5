import json

import pytest

from coderouge.cli import main
from coderouge.stats import mcnemar_exact, paired_bootstrap_diff


def test_mcnemar_exact_hand_values():
    # b=0, c=5: 2 * (1/2)^5 = 0.0625
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    # b=1, c=9: 2 * (1 + 10) / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 7) == mcnemar_exact(7, 3)
    # large n stays finite and sensible: 60 vs 40 of 100
    p = mcnemar_exact(60, 40)
    assert 0.05 < p < 0.07  # scipy.stats.binomtest(40, 100).pvalue = 0.0569


def test_paired_bootstrap_is_seeded_and_covers_the_difference():
    x = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1] * 10
    y = [1, 0, 1, 0, 0, 0, 1, 0, 0, 1] * 10
    d, lo, hi = paired_bootstrap_diff(x, y, rounds=2000, seed=3)
    assert d == pytest.approx(0.3) and lo < 0.3 < hi and lo > 0
    assert paired_bootstrap_diff(x, y, rounds=2000, seed=3) == (d, lo, hi)


def test_compare_command(store_path, capsys, tmp_path):
    f = tmp_path / "t.jsonl"
    # 40 items: model "good" answers yes (right on 30), model "bad" answers no (right on 10)
    f.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"q{i}", "check": {"type": "exact", "expected": "yes" if i < 30 else "no"}}) + "\n"
                         for i in range(40)))
    assert main(["compare", "fake/good?answer=yes", "fake/bad?answer=no", "--task", str(f), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["n"] == 40 and c["a_only"] == 30 and c["b_only"] == 10 and c["differ"] == 40
    assert c["share_a"] == pytest.approx(0.75)
    assert c["p_value"] == pytest.approx(mcnemar_exact(30, 10))
    assert c["diff"] == pytest.approx(0.5) and c["diff_low"] < 0.5 < c["diff_high"]
    assert main(["compare", "fake/good?answer=yes", "fake/bad?answer=no", "--task", str(f)]) == 0
    out = capsys.readouterr().out
    assert "wins 75% of the 40 items where the two differ (30 of 40)" in out and "p = " in out


def test_compare_pairs_only_items_both_answered(store_path, capsys, tmp_path):
    r = main(["compare", "fake/a?answer=A", "fake/down?faults=401", "--task", "arc_easy", "--limit", "10"])
    assert r == 2 and "no successfully scored item in common" in capsys.readouterr().err
    assert main(["compare", "fake/a?answer=A", "fake/flaky?answer=B&fault_rate=0.3&fault=401&seed=4", "--task", "arc_easy",
                 "--limit", "30", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert 0 < c["n"] < 30 and any("left out" in w for w in c["warnings"])
    assert c["method_a"] == c["method_b"] == "letter"
