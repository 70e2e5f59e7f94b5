"""Every multiple-choice benchmark end to end on the embedded Gemma 3 270M, by log-likelihood,
through `coderouge eval … --json`, on a few items each (the same seeded sample as --limit gives)."""

import json
import sqlite3

import pytest
from test_mc_tasks import data_dir_with_hellaswag

from coderouge.cli import main
from coderouge.providers import get_provider

pytestmark = pytest.mark.local_model

HEADLINE = {"arc_easy": "acc", "arc_challenge": "acc", "piqa": "acc", "boolq": "acc", "winogrande": "acc",
            "hellaswag": "acc_norm", "truthfulqa_mc1": "acc", "truthfulqa_mc2": "mc2", "mmlu": "acc"}


def _eval(tasks, limit, capsys, seed=1234):
    args = ["eval", "local/gemma-3-270m"]
    for t in tasks:
        args += ["--task", t]
    assert main(args + ["--limit", str(limit), "--seed", str(seed), "--json"]) == 0
    return {r["task"]: r for r in json.loads(capsys.readouterr().out)["results"]}


def test_every_mc_task_by_loglikelihood(tmp_path, monkeypatch, store_path, capsys):
    monkeypatch.setenv("CODEROUGE_DATA", str(data_dir_with_hellaswag(tmp_path / "data")))
    # the short-prompt tasks on 4 items; MMLU (5-shot) and TruthfulQA (6-example primer, up to 13
    # answers) carry long contexts: 3 items, from a sample seed whose prompts are among the shorter
    # ones, keep this CPU test quick (every choice is a full forward pass of its context)
    settings = get_provider("local/gemma-3-270m").scoring_settings()
    rows = _eval(["arc_easy", "arc_challenge", "piqa", "boolq", "winogrande", "hellaswag"], 4, capsys)
    rows |= _eval(["truthfulqa_mc1", "truthfulqa_mc2", "mmlu"], 3, capsys, seed=9)
    assert set(rows) == set(HEADLINE)
    for name, r in rows.items():
        want = 3 if name in ("truthfulqa_mc1", "truthfulqa_mc2", "mmlu") else 4
        assert r["method"] == "loglikelihood" and r["metric"] == HEADLINE[name], name
        assert r["n"] == want and r["errors"] == 0, (name, r)
        assert 0.0 <= r["value"] <= 1.0
        # the scoring settings (what a cached log-likelihood depends on) are recorded in the JSON too
        assert r["settings"] == settings and r["settings"]["flash_attn"] is False and r["prompt_format"], name
    assert rows["mmlu"]["shots"] == 5 and rows["winogrande"]["shots"] == 0
    assert 0.0 < rows["truthfulqa_mc2"]["value"] < 1.0  # a probability mass, not a 0/1 score
    con = sqlite3.connect(store_path)
    stored = {t: (json.loads(c), json.loads(r)) for t, c, r in con.execute("SELECT task, config_json, result_json FROM eval_runs")}
    for name, (cfg, res) in stored.items():
        assert cfg["method"] == "loglikelihood" and cfg.items() >= settings.items() and cfg["prompt_format"], name
        assert "shots" in cfg and cfg["sample_seed"] in (1234, 9)
        assert "acc_norm" in res["extra_metrics"] and "acc" in res["extra_metrics"], name
    groups = stored["mmlu"][1]["groups"]
    assert sum(g["n"] for g in groups.values()) == 3
    assert stored["mmlu"][1]["value"] == pytest.approx(sum(g["acc"] for g in groups.values()) / len(groups))
