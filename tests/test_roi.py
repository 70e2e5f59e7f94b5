"""`coderouge roi` against costs computed by hand from stored results, prices from the built-in table and
from --prices (which overrides the free default of local models, matched by the full model name)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coderouge.store import Store


def cr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=120)


def _save(s: Store, model: str, task: str, scores: list[float], tin: int, tout: int, ids: str = "i") -> None:
    n = len(scores)
    v = sum(scores) / n
    s.save_eval(model, task, {}, {"model": model, "task": task, "metric": "acc", "value": v, "ci_low": max(0, v - 0.1),
                                  "ci_high": min(1, v + 0.1), "n": n, "errors": 0, "input_tokens": tin,
                                  "output_tokens": tout, "method": "generate", "shots": 0, "prompt_format": "p"},
                [(f"{ids}{k}", "ok", sc, "", None) for k, sc in enumerate(scores)])


@pytest.fixture()
def store(tmp_path):
    path = str(tmp_path / "s.db")
    with Store(path) as s:
        # 100 items: gpt-4o right on 80, gpt-4o-mini on 74 (6 where only 4o is right), 1,000 + 200 tokens per item
        _save(s, "openai/gpt-4o", "support", [1.0] * 80 + [0.0] * 20, 100_000, 20_000)
        _save(s, "openai/gpt-4o-mini", "support", [1.0] * 74 + [0.0] * 26, 100_000, 30_000)
        _save(s, "local/gemma-3-270m?threads=2", "support", [1.0] * 30 + [0.0] * 70, 100_000, 10_000, ids="other")
    return path


def test_costs_savings_and_a_paired_difference_by_hand(store):
    r = cr("roi", "--current", "openai/gpt-4o", "--candidate", "openai/gpt-4o-mini", "--task", "support",
           "--monthly-requests", "1000000", "--hybrid", "0.7", "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    cur, cand = out["current"], out["candidate"]
    # gpt-4o: $2.50 / $10 per Mtok; 1,000 in + 200 out per request → 1e6 × (1000 × 2.5 + 200 × 10) / 1e6 = $4,500
    assert cur["input_tokens_per_request"] == 1000 and cur["output_tokens_per_request"] == 200
    assert cur["input_usd_per_mtok"] == 2.5 and cur["output_usd_per_mtok"] == 10.0
    assert cur["monthly_cost_usd"] == pytest.approx(4500.0)
    # gpt-4o-mini: $0.15 / $0.60; 1,000 in + 300 out → 150 + 180 = $330
    assert cand["monthly_cost_usd"] == pytest.approx(330.0)
    assert out["monthly_savings_usd"] == pytest.approx(4170.0)
    assert out["hybrid"]["monthly_cost_usd"] == pytest.approx(0.7 * 330 + 0.3 * 4500)
    assert out["hybrid"]["expected_score"] == pytest.approx(0.7 * 0.74 + 0.3 * 0.80)
    d = out["quality_difference"]
    assert d["paired"] and d["items"] == 100 and d["value"] == pytest.approx(-0.06)
    assert d["ci_low"] < -0.06 < d["ci_high"] <= 0.0 + 1e-9  # 6 discordant items, all one way
    assert "saves $4,170.00 a month" in out["summary"] and "-6.0 points" in out["summary"]
    text = cr("roi", "--current", "openai/gpt-4o", "--candidate", "openai/gpt-4o-mini", "--store", store)
    assert text.returncode == 0 and "Break-even" in text.stdout


def test_prices_override_the_local_default_and_unknown_prices_say_so(store, tmp_path):
    prices = tmp_path / "p.json"  # a team's own cost of running the local model, whatever its litellm_provider
    prices.write_text(json.dumps({"local/gemma-3-270m": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7,
                                                         "litellm_provider": "my-cluster"}}))
    r = cr("roi", "--current", "openai/gpt-4o-mini", "--candidate", "local/gemma-3-270m?threads=2", "--task",
           "support", "--prices", str(prices), "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # 1,000 in + 100 out per request, $0.10 / $0.20 per Mtok, 100,000 requests: 100,000 × (100 + 20) / 1e6 = $12
    assert out["candidate"]["monthly_cost_usd"] == pytest.approx(12.0)
    assert not out["quality_difference"]["paired"]  # no item in common: from the two intervals
    r = cr("roi", "--current", "openai/gpt-4o-mini", "--candidate", "local/gemma-3-270m?threads=2", "--task",
           "support", "--json", "--store", store)
    assert json.loads(r.stdout)["candidate"]["monthly_cost_usd"] == 0.0  # the free default without --prices
    with Store(store) as s:
        _save(s, "openai/my-finetune", "support", [1.0] * 50 + [0.0] * 50, 100_000, 10_000)
    r = cr("roi", "--current", "openai/gpt-4o-mini", "--candidate", "openai/my-finetune", "--task", "support",
           "--json", "--store", store)
    out = json.loads(r.stdout)
    assert out["candidate"]["monthly_cost_usd"] is None and out["monthly_savings_usd"] is None
    assert "No known price for openai/my-finetune" in out["summary"]


def test_bad_input(store, tmp_path):
    for args, expect in [(["--current", "openai/gpt-4o", "--candidate", "openai/nope", "--task", "support"],
                          "no eval results in the store for openai/nope"),
                         (["--current", "openai/gpt-4o", "--candidate", "openai/gpt-4o"], "the same model"),
                         (["--current", "openai/gpt-4o", "--candidate", "openai/gpt-4o-mini", "--hybrid", "2"],
                          "from 0 to 1")]:
        r = cr("roi", *args, "--store", store)
        assert r.returncode == 2 and expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
