"""What a newcomer hits first: answer budgets, exit codes when everything failed, how battles ended, the
demo's --limit on every task."""

from __future__ import annotations

import json
import subprocess
import sys

from coderouge.store import Store


def cr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=180)


def _task(tmp_path, n=3):
    t = tmp_path / "t.jsonl"
    t.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Say {i}", "check": {"type": "exact", "expected": str(i)}})
                         + "\n" for i in range(n)))
    return str(t)


def test_max_tokens_caps_every_answer(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("eval", "fake/echo", "--task", _task(tmp_path), "--max-tokens", "7", "--store", store)
    assert r.returncode == 0, r.stderr
    with Store(store) as s:
        params = [json.loads(c.request_json)["params"]["max_tokens"] for c in s.calls()]
    assert params == [7, 7, 7]
    r = cr("demo", "--models", "fake/echo", "--limit", "3", "--max-tokens", "5", "--report", str(tmp_path / "d.html"),
           "--store", store)
    assert r.returncode == 0, r.stderr
    assert "business : 3 realistic tasks" in r.stdout and "a seeded sample of 3 ARC-Easy" in r.stdout
    assert "coderouge view" in r.stdout


def test_a_run_where_every_call_failed_exits_non_zero(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("eval", "fake/down?fault_rate=1&fault=500", "--task", _task(tmp_path), "--retries", "0", "--store", store)
    assert r.returncode == 1 and "every call failed" in r.stderr
    assert "fake/down" in r.stdout  # the table is still shown, and the failures are stored
    with Store(store) as s:
        assert s.count_calls("error") == 3
    ok = cr("eval", "fake/echo", "fake/down?fault_rate=1&fault=500", "--task", _task(tmp_path), "--retries", "0",
            "--store", store)
    assert ok.returncode == 0  # one model answered: the run scored something


def test_arena_run_says_how_battles_ended_and_fails_when_none_was_decided(tmp_path):
    store = str(tmp_path / "s.db")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "q", "prompt": "2 + 2?", "check": {"type": "numeric", "expected": 4}}) + "\n")
    r = cr("arena", "run", "fake/four?answer=4", "fake/five?answer=5", "--prompts", str(prompts), "--judge", "reference",
           "--battles", "6", "--store", store)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("outcomes:"))
    won = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
    assert sum(won) == 6 and "tie 0" in line and "both bad 0" in line
    bad = cr("arena", "run", "fake/x?fault_rate=1&fault=500", "fake/y?fault_rate=1&fault=500", "--prompts", str(prompts),
             "--judge", "reference", "--battles", "2", "--retries", "0", "--store", store)
    assert bad.returncode == 1 and "no battle was decided" in bad.stderr


def test_output_files_and_logged_samples(tmp_path):
    store = str(tmp_path / "s.db")
    task = _task(tmp_path)
    out = tmp_path / "res.json"
    r = cr("eval", "fake/echo", "fake/two?answer=2", "--task", task, "--output", str(out), "--log-samples",
           "--store", store)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert [(x["model"], x["n"]) for x in data["results"]] == [("fake/echo", 3), ("fake/two?answer=2", 3)]
    samples = [json.loads(x) for x in (tmp_path / "res.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6
    two = {s["item"]: s for s in samples if s["model"] == "fake/two?answer=2"}
    assert two["q2"]["score"] == 1.0 and two["q2"]["answer"] == "2" and two["q2"]["prompt"] == "Say 2"
    assert two["q1"]["score"] == 0.0 and two["q1"]["detail"]
    csv_out = tmp_path / "res.csv"
    assert cr("eval", "fake/echo", "--task", task, "--output", str(csv_out), "--store", store).returncode == 0
    head = csv_out.read_text().splitlines()[0].split(",")
    assert head[:4] == ["model", "task", "metric", "value"]
    cmp_out = tmp_path / "cmp.csv"
    r = cr("compare", "fake/echo", "fake/two?answer=2", "--task", task, "--output", str(cmp_out), "--store", store)
    assert r.returncode == 0, r.stderr
    assert "sentence" in cmp_out.read_text().splitlines()[0]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "q", "prompt": "2 + 2?", "check": {"type": "numeric", "expected": 4}}) + "\n")
    assert cr("arena", "run", "fake/four?answer=4", "fake/five?answer=5", "fake/six?answer=6", "--prompts",
              str(prompts), "--judge", "reference", "--battles", "30", "--store", store).returncode == 0
    rat = tmp_path / "ratings.json"
    r = cr("arena", "ratings", "--reg", "0.01", "--output", str(rat), "--store", store)
    assert r.returncode == 0, r.stderr
    assert {x["model"] for x in json.loads(rat.read_text())["ratings"]} == {"fake/four?answer=4", "fake/five?answer=5",
                                                                            "fake/six?answer=6"}
    for args, expect in [(["--output", str(tmp_path / "x.txt")], ".json or .csv"),
                         (["--log-samples"], "--output"), (["--output", str(tmp_path / "no" / "x.json")], "no such folder")]:
        r = cr("eval", "fake/echo", "--task", task, *args, "--store", store)
        assert r.returncode == 2 and expect in r.stderr, r.stderr


def test_task_files_with_a_byte_order_mark_and_errors_at_their_column(tmp_path):
    store = str(tmp_path / "s.db")
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "prompt": "x", "check": {"type": "exact",
                                                                                     "expected": "x"}}).encode() + b"\n")
    r = cr("eval", "fake/echo", "--task", str(bom), "--store", store)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "x", "check": {"type": "exact", "expected": "x"}}\n'
                   '{"id": "b", "prompt": "x", "check": }\n')
    r = cr("eval", "fake/echo", "--task", str(bad), "--store", store)
    assert r.returncode == 2 and f"{bad}:2: invalid JSON" in r.stderr and "(column 37)" in r.stderr


def test_answers_from_the_store_keep_their_latency_marked_as_cached(tmp_path):
    store = str(tmp_path / "s.db")
    task = _task(tmp_path)
    first = cr("eval", "fake/slow?latency=0.05", "--task", task, "--store", store)
    again = cr("eval", "fake/slow?latency=0.05", "--task", task, "--store", store)
    line1 = next(x for x in first.stdout.splitlines() if x.startswith("fake/slow"))
    line2 = next(x for x in again.stdout.splitlines() if x.startswith("fake/slow"))
    import re

    assert "*" not in line1 and re.search(r" 5\dms\* ", line2), (line1, line2)  # the original ~50 ms, marked
    assert "some answers came from the store" in again.stdout and "3 of 3" in again.stdout
    js = json.loads(cr("eval", "fake/slow?latency=0.05", "--task", task, "--json", "--store", store).stdout)
    assert js["results"][0]["cached"] == 3 and js["results"][0]["latency_p50_s"] >= 0.05
