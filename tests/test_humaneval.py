"""HumanEval: the canonical solutions pass in the sandbox, wrong code fails, chat answers work,
pass@k is the Codex paper's estimator, and evaluate_pass_at_k counts samples right."""

import asyncio
import dataclasses
import gzip
import json
import math
import os
from pathlib import Path

import pytest

from coderouge.evals import data, sandbox
from coderouge.evals.humaneval import (
    HUMANEVAL,
    build_program,
    evaluate_pass_at_k,
    load_humaneval,
    pass_at_k,
)
from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig, Runner


@pytest.fixture(scope="module")
def task():
    return load_humaneval()


@pytest.fixture(scope="module")
def rows():
    path = Path(os.environ["CODEROUGE_DATA"]) / HUMANEVAL.relpath
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return {r["task_id"]: r for r in map(json.loads, f)}


def test_loader(task, rows):
    assert len(task.items) == 164 and task.kind == "generate" and task.metric == "pass@1"
    assert task.max_tokens == 512 and task.meta["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    first = task.items[0]
    assert first.id == "HumanEval/0" and first.messages[0].role == "user"
    assert first.messages[0].text == rows["HumanEval/0"]["prompt"]  # the prompt as-is
    assert data._sha256(data.resolve(HUMANEVAL)) == HUMANEVAL.sha256
    # the isolation the programs run under is recorded with the task's settings (stored with each eval)
    assert task.meta["sandbox_isolation"] == sandbox.isolation() and task.meta["sandbox_isolation"].startswith("bwrap ")


def test_refuses_without_an_os_sandbox(monkeypatch):
    monkeypatch.setattr(sandbox, "BWRAP", "coderouge-no-such-bwrap")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    sandbox._reset()
    try:
        with pytest.raises(sandbox.SandboxUnavailableError, match="--unsafe-sandbox"):
            load_humaneval()
        monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")  # what the CLI's --unsafe-sandbox sets
        t = load_humaneval()
        assert t.meta["sandbox_isolation"].startswith("unsafe: no OS sandbox (bubblewrap (bwrap) is not installed")
    finally:
        monkeypatch.undo()
        sandbox._reset()


def test_all_canonical_solutions_pass(task, rows):
    # 164 sandboxed runs, 2 at a time (about 7 s on 2 cores: bwrap and interpreter start each time)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda it: it.check.score(rows[it.id]["canonical_solution"]), task.items))
    failed = [(it.id, r.detail) for it, r in zip(task.items, results) if not r.passed]
    assert failed == []


def test_wrong_completion_fails(task):
    chk = task.items[0].check
    r = chk.score("    return not True\n")
    assert not r.passed and r.score == 0.0 and "AssertionError" in r.detail
    quick = dataclasses.replace(chk, timeout_s=1.0)
    r = quick.score("    while True:\n        pass\n")  # a hang: bounded by the sandbox's timeout
    assert not r.passed and r.detail.startswith("timeout")


def test_program_is_human_evals_convention(rows):
    r = rows["HumanEval/2"]
    prog = build_program(r["prompt"], r["canonical_solution"], r["test"], r["entry_point"])
    assert prog == r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + "\n" + f"check({r['entry_point']})\n"


def test_completion_is_cut_at_stop_sequences(task, rows):
    it = task.items[0]
    rambling = rows[it.id]["canonical_solution"] + "\n\nprint(has_close_elements([1.0], 0.5))\nassert False\n"
    assert it.check.score(rambling).passed
    prog = it.check.program(rambling)
    assert "assert False" not in prog and "print(has_close" not in prog


def test_chat_style_fenced_answer(task, rows):
    it = task.items[0]  # the prompt imports List; the answer does not have to
    body = rows[it.id]["canonical_solution"]
    answer = ("Sure! Here is the implementation:\n\n```python\n"
              "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n" + body + "```\n\n"
              "It compares every pair of numbers.")
    assert it.check.score(answer).passed
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    assert not it.check.score(wrong).passed
    # a prompt with a helper function (HumanEval/10 has is_palindrome): the helper stays defined
    it10 = next(i for i in task.items if i.id == "HumanEval/10")
    r10 = rows["HumanEval/10"]
    full = "```py\ndef make_palindrome(string: str) -> str:\n" + r10["canonical_solution"] + "```"
    assert it10.check.score(full).passed
    # a fence that does not define the entry point is not the program: the text is a continuation
    assert not it.check.score("```python\nprint('hi')\n```").passed


def test_pass_at_k_hand_computed():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 5) == 1.0
    assert pass_at_k(5, 0, 1) == 0.0 and pass_at_k(5, 0, 5) == 0.0
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - math.comb(7, 2) / math.comb(10, 2))
    assert pass_at_k(200, 13, 10) == pytest.approx(1 - math.comb(187, 10) / math.comb(200, 10))
    assert pass_at_k(1, 1, 1) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)


def _runner(script):
    return Runner(None, RunConfig(progress=False, max_retries=0), providers={"fake/coder": FakeProvider("coder", script=script)})


def test_evaluate_pass_at_k_half_right(task, rows):
    sub = task.sample(6, seed=7)
    by_prompt = {r["prompt"]: r for r in rows.values()}

    def script(req):
        r = by_prompt[req.messages[-1].text]
        return r["canonical_solution"] if req.sample % 2 == 0 else "    return None\n"

    runner = _runner(script)
    out = asyncio.run(evaluate_pass_at_k(runner, "fake/coder", sub, n=2, ks=[1, 2], temperature=0.8))
    assert out["pass@1"] == 0.5 and out["pass@2"] == 1.0
    assert out["sandbox"] == task.meta["sandbox_isolation"]
    assert out["errors"] == 0 and len(out["items"]) == 6
    assert all(p["n"] == 2 and p["correct"] == 1 for p in out["items"])
    assert [s["status"] for s in out["items"][0]["samples"]] == ["passed", "failed"]


def test_evaluate_pass_at_k_counts_failed_calls_as_errors(task, rows):
    sub = task.sample(3, seed=1)
    first = sub.items[0].messages[-1].text
    by_prompt = {r["prompt"]: r for r in rows.values()}
    seen = []

    def script(req):
        seen.append((req.sample, req.temperature))
        if req.messages[-1].text == first and req.sample == 1:
            raise RuntimeError("provider broke")
        return by_prompt[req.messages[-1].text]["canonical_solution"]

    out = asyncio.run(evaluate_pass_at_k(_runner(script), "fake/coder", sub, n=3, ks=[1, 3], temperature=0.6))
    assert sorted(seen) == sorted((i, 0.6) for i in range(3) for _ in range(3))
    assert out["errors"] == 1
    item0 = out["items"][0]
    assert item0["errors"] == 1 and item0["n"] == 2 and item0["correct"] == 2  # the error is not failed code
    assert item0["samples"][1]["status"] == "error"
    assert out["pass@1"] == 1.0  # every answered sample passed
    assert out["pass"]["pass@3"]["problems"] == 2 and out["pass"]["pass@3"]["skipped"] == 1


def test_the_eval_result_records_the_isolation(task, tmp_path):
    """`coderouge eval … --task humaneval --json` says how the code was isolated."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CODEROUGE_STORE": str(tmp_path / "s.db")}
    r = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/echo", "--task", "humaneval", "--limit", "2",
                        "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["settings"]["sandbox"] == sandbox.isolation() and res["settings"]["sandbox"].startswith("bwrap ")
