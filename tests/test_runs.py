"""`coderouge runs` and `coderouge show` on a store filled by real runs, and output cut by a closed pipe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    store = str(d / "s.db")
    task = d / "capitals.jsonl"
    task.write_text("".join(json.dumps({"id": f"c{i}", "prompt": f"Capital of country {i}?",
                                        "check": {"type": "exact", "expected": "Paris"}}) + "\n" for i in range(6)))
    prompts = d / "p.jsonl"
    prompts.write_text(json.dumps({"id": "q", "prompt": "2 + 2?", "check": {"type": "numeric", "expected": 4}}) + "\n")
    for args in [("eval", "fake/paris?answer=Paris", "fake/echo", "--task", str(task)),
                 ("eval", "fake/broken?faults=500,500,500,500,500,500,500,500", "--task", str(task), "--retries", "0",
                  "--limit", "2"),
                 ("arena", "run", "fake/four?answer=4", "fake/five?answer=5", "--prompts", str(prompts),
                  "--judge", "reference"),
                 ("stress", "fake/echo", "--requests", "5")]:
        r = cr(*args, "--store", store)
        assert r.returncode in (0, 1), (args, r.stderr)
    return store, task


def test_runs_lists_every_kind_newest_first(filled):
    store, _ = filled
    r = cr("runs", "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["runs"]
    kinds = [x["kind"] for x in rows]
    assert kinds[0] == "stress" and "arena" in kinds and kinds.count("eval") == 3
    assert [x["created_at"] for x in rows] == sorted((x["created_at"] for x in rows), reverse=True)
    paris = next(x for x in rows if x["model"] == "fake/paris?answer=Paris")
    assert paris["score"] == 1.0 and paris["n"] == 6 and paris["task"] == "capitals" and paris["duration_s"] >= 0
    arena = next(x for x in rows if x["kind"] == "arena")
    assert arena["n"] > 0 and arena["errors"] == 0 and "fake/four?answer=4" in arena["model"]
    text = cr("runs", "--store", store).stdout
    assert "stress:" in text and "100.0% ±" in text and "duration" in text
    only = json.loads(cr("runs", "--model", "fake/echo", "--task", "capitals", "--json", "--store", store).stdout)
    assert [x["model"] for x in only["runs"]] == ["fake/echo"]


def test_show_one_run_item_by_item_and_two_side_by_side(filled):
    store, _ = filled
    rows = json.loads(cr("runs", "--json", "--store", store).stdout)["runs"]
    ids = {x["model"]: x["id"] for x in rows if x["kind"] == "eval"}
    echo, paris = ids["fake/echo"], ids["fake/paris?answer=Paris"]
    r = cr("show", echo, "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["runs"][0]["items"]
    assert len(items) == 6 and all(not x["passed"] for x in items)
    c0 = next(x for x in items if x["item"] == "c0")
    assert c0["prompt"] == "Capital of country 0?" and c0["answer"] == "Capital of country 0?" and c0["detail"]
    text = cr("show", echo, "--store", store).stdout
    assert "[FAIL] c0" in text and "prompt: Capital of country 0?" in text and "check :" in text
    assert json.loads(cr("show", paris, "--failed", "--json", "--store", store).stdout)["runs"][0]["items"] == []
    one = json.loads(cr("show", echo, "--item", "c3", "--json", "--store", store).stdout)["runs"][0]["items"]
    assert [x["item"] for x in one] == ["c3"]
    broken = ids["fake/broken?faults=500,500,500,500,500,500,500,500"]
    err = json.loads(cr("show", broken, "--json", "--store", store).stdout)["runs"][0]["items"]
    assert err and all(x["status"] != "ok" and "HTTP 500" in x["error"] for x in err)
    both = cr("show", echo, paris, "--store", store).stdout
    assert "6 items in common, 6 differ" in both and both.count("\n*") == 6
    for args, expect in [(["show", "999"], "no eval run 999"), (["show", echo, "--item", "zz"], "no item 'zz'"),
                         (["show", "stress:1"], "eval run's number")]:
        r = cr(*args, "--store", store)
        assert r.returncode == 2 and expect in r.stderr, r.stderr


def test_a_closed_pipe_ends_quietly(filled, tmp_path):
    store, _ = filled
    for cmd in ("runs", "models"):
        p = subprocess.run(f"{sys.executable} -m coderouge {cmd} --store {store} | head -1", shell=True,
                           capture_output=True, text=True, timeout=60, executable="/bin/bash")
        assert p.stdout.count("\n") == 1 and p.stderr == "", p.stderr
    r = cr("runs", "--store", str(tmp_path / "empty.db"))
    assert r.returncode == 2 and "no runs in the store" in r.stderr
