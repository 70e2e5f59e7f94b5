"""The command line: real subprocesses, bad input gives one clear line and a non-zero exit."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from coderouge.cli import main


def cli(*args, env=None, timeout=120):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=timeout, env=e)


def test_eval_json_shape(store_path, capsys):
    rc = main(["eval", "fake/echo", "fake/x?answer=%7B%7D", "--task", "business", "--limit", "5", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert [r["model"] for r in rows] == ["fake/echo", "fake/x?answer=%7B%7D"]
    for r in rows:
        for k in ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "errors", "latency_p50_s", "latency_p95_s", "cost_usd"]:
            assert k in r
        assert r["n"] == 5 and r["errors"] == 0 and r["task"] == "business"
        assert 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 1


def test_eval_table_shows_errors_as_errors(store_path, capsys):
    rc = main(["eval", "fake/x?faults=401", "--task", "business", "--limit", "4"])
    assert rc == 1  # nothing was scored: a failure of the run (CI gating), the table still shown
    out = capsys.readouterr().out
    assert "4 item(s) failed and are not scored" in out
    line = [l for l in out.splitlines() if l.startswith("fake/x")][0]
    assert line.split()[4:8] == ["—", "—", "0", "4"]  # no score, no CI, n = 0 scored, 4 errors


def test_arc_easy_letter_method_on_chat_model(store_path, capsys):
    rc = main(["eval", "fake/x?answer=B", "--task", "arc_easy", "--limit", "30", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["method"] == "letter" and r["n"] == 30
    assert 0 < r["value"] < 1  # "always B" is right exactly when gold is B


@pytest.mark.parametrize(
    "args,needle",
    [
        (["eval", "nope/model", "--task", "business"], "unknown provider 'nope'"),
        (["eval", "gpt4", "--task", "business"], "must be written provider/model"),
        (["eval", "openai/gpt-4o-mini", "--task", "business"], "OPENAI_API_KEY"),
        (["eval", "fake/echo", "--task", "busines"], "did you mean business"),
        (["eval", "fake/echo", "--task", "business", "--limit", "0"], "positive integer"),
        (["eval", "fake/echo", "--task", "business", "--bogus"], "unrecognized arguments: --bogus"),
        (["eval", "local/missing-file.gguf", "--task", "business"], "missing-file.gguf"),
    ],
)
def test_bad_input_one_line_no_traceback(store_path, args, needle):
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_malformed_task_file_names_file_and_line(tmp_path, store_path):
    f = tmp_path / "mine.jsonl"
    f.write_text('{"prompt": "ok", "check": {"type": "exact", "expected": "x"}}\n{"prompt": "broken", \n')
    r = cli("eval", "fake/echo", "--task", str(f))
    assert r.returncode == 2 and f"{f}:2: invalid JSON" in r.stderr and "Traceback" not in r.stderr
    f.write_text('{"prompt": "ok", "check": {"type": "nosuch"}}\n')
    r = cli("eval", "fake/echo", "--task", str(f))
    assert r.returncode == 2 and f"{f}:1: field 'check'" in r.stderr
    f.write_text('{"prompt": "a", "check": {"type": "exact", "expected": "x"}}\n\n{"prompt": "b", "max_tokens": -3, "check": {"type": "exact", "expected": "x"}}\n')
    r = cli("eval", "fake/echo", "--task", str(f))
    assert r.returncode == 2 and f"{f}:3: field 'max_tokens'" in r.stderr


def test_missing_data_directory(tmp_path, store_path):
    r = cli("eval", "fake/echo", "--task", "arc_easy", env={"CODEROUGE_DATA": str(tmp_path / "nowhere")})
    assert r.returncode == 2 and "CODEROUGE_DATA" in r.stderr and "not a directory" in r.stderr


def test_debug_shows_traceback(store_path):
    r = cli("eval", "nope/model", "--task", "business", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_bad_input_loses_nothing_stored(store_path, capsys):
    assert main(["eval", "fake/echo", "--task", "business", "--limit", "3"]) == 0
    before = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert before == 3
    assert cli("eval", "nope/x", "--task", "business").returncode == 2
    assert cli("eval", "fake/echo", "--task", "missing.jsonl").returncode == 2
    after = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert after == before


def test_models_lists_every_provider_and_why(store_path):
    r = cli("models", "--json")
    assert r.returncode == 0
    st = {p["provider"]: p for p in json.loads(r.stdout)["providers"]}
    assert set(st) == {"openai", "gemini", "anthropic", "local", "fake"}
    assert st["openai"]["usable"] is False and "OPENAI_API_KEY" in st["openai"]["detail"]
    assert st["fake"]["usable"] is True
    r2 = cli("models", "--json", env={"ANTHROPIC_API_KEY": "sk-ant-test-abcdefghijkl"})
    st2 = {p["provider"]: p for p in json.loads(r2.stdout)["providers"]}
    assert st2["anthropic"]["usable"] is True
    assert "abcdefghijkl" not in r2.stdout


def test_pass_at_k_from_the_command_line(store_path, capsys):
    # fake/x echoes the prompt back: the program is the prompt twice, never the solution
    assert main(["eval", "fake/x?answer=%20%20%20%20return%20None", "--task", "humaneval", "--limit", "3",
                 "--samples", "2", "--k", "1,2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["samples"] == 2 and r["pass@1"] == 0.0 and r["pass@2"] == 0.0 and r["errors"] == 0
    r2 = cli("eval", "fake/x", "--task", "business", "--samples", "2")
    assert r2.returncode == 2 and "humaneval only" in r2.stderr


def test_shots_and_chat_template_options(store_path, capsys):
    assert main(["eval", "fake/x?answer=A", "--task", "mmlu", "--limit", "3", "--shots", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["shots"] == 2 and "groups" in r
    from coderouge.cli.eval import with_chat_template

    assert with_chat_template("local/gemma-3-270m") == "local/gemma-3-270m?chat=1"
    assert with_chat_template("local/m.gguf?n_ctx=8192") == "local/m.gguf?n_ctx=8192&chat=1"
    assert with_chat_template("openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    r3 = cli("eval", "fake/x", "--task", "business", "--shots", "3")
    assert r3.returncode == 2 and "no few-shot examples" in r3.stderr


def test_mt_bench_and_ifeval_from_the_command_line(store_path, capsys):
    judge = "fake/j?answer=Rating:%20%5B%5B6%5D%5D"
    assert main(["eval", "fake/x?answer=Hello", "--task", "mt_bench", "--judge", judge, "--limit", "3"]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("fake/x")][0]
    assert " 6.00 " in line and "6.00–6.00" in line and "600.0%" not in line  # a 1-10 rating, not a share
    assert main(["eval", "fake/x", "--task", "ifeval", "--limit", "10", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert set(r["extra_metrics"]) == {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"}
    assert r["extra_metrics"]["prompt_level_strict_acc"] == pytest.approx(r["value"])
    for args, needle in ((["eval", "fake/x", "--task", "mt_bench"], "needs --judge"),
                         (["eval", "fake/x", "--task", "business", "--judge", "fake/j"], "mt_bench only"),
                         (["eval", "fake/x", "--task", "mt_bench", "--task", "business", "--judge", "fake/j"], "on its own")):
        r = cli(*args)
        assert r.returncode == 2 and needle in r.stderr


def test_demo_prints_the_table_and_writes_the_report(tmp_path, store_path, capsys):
    report = tmp_path / "out" / "demo.html"
    assert main(["demo", "--models", "fake/echo", "fake/x?answer=B", "--limit", "10", "--business-limit", "3",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "models: fake/echo, fake/x?answer=B" in out
    assert "business : 3 realistic tasks" in out and "arc_easy : a seeded sample of 10 ARC-Easy" in out
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith("fake/")]
    assert rows == [["fake/echo", "business"], ["fake/x?answer=B", "business"], ["fake/echo", "arc_easy"],
                    ["fake/x?answer=B", "arc_easy"]]
    assert f"Report: {report.resolve()}" in out and "Next:" in out
    page = report.read_text()  # the KPI report of coderouge report, for the demo's models and tasks
    assert "<h1>coderouge demo</h1>" in page and page.count("<tr><td>fake/") == 2
    embedded = json.loads(__import__("html").unescape(page.split('id="report-data">')[1].split("</script>")[0]))
    assert [(m["model"], t, m["tasks"][t]["n"]) for m in embedded["models"] for t in sorted(m["tasks"])] == [
        ("fake/echo", "arc_easy", 10), ("fake/echo", "business", 3), ("fake/x?answer=B", "arc_easy", 10),
        ("fake/x?answer=B", "business", 3)]
