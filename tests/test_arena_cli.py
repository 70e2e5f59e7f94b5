"""`coderouge arena run | ratings | import | export` from the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from coderouge.cli import main
from coderouge.errors import UsageError


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def simulated(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    names = ["alpha", "bravo", "charlie", "delta"]
    strength = np.array([200.0, 100.0, 0.0, -150.0])
    recs = []
    for t in range(n):
        i, j = rng.choice(4, 2, replace=False)
        p = 1 / (1 + 10 ** ((strength[j] - strength[i]) / 400))
        u = rng.random()
        winner = "tie" if abs(u - p) < 0.05 else ("model_a" if u < p else "model_b")
        recs.append({"model_a": names[i], "model_b": names[j], "winner": winner, "tstamp": 1700000000 + t, "anony": True})
    return recs


def test_arena_run_then_ratings_json(store_path, tmp_path, capsys):
    f = tmp_path / "p.jsonl"
    # "yes" is right on 4 prompts of 5, "no" on 1: the "no" model is worse but not hopeless
    f.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"q{i}", "check": {"type": "exact", "expected": "no" if i == 0 else "yes"}}) + "\n" for i in range(5)))
    assert main(["arena", "run", "fake/good?answer=yes", "fake/bad?answer=no", "fake/ok?answer=yes", "--prompts", str(f),
                 "--judge", "reference", "--battles", "60", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "60 battles planned: 60 judged now" in out
    assert main(["arena", "ratings", "--judge", "reference", "--json", "--bootstrap", "50"]) == 0
    rows = json.loads(capsys.readouterr().out)["ratings"]
    by = {r["model"].split("?")[0]: r for r in rows}
    assert set(rows[0]) >= {"model", "rating", "ci_low", "ci_high", "rank", "battles"}
    assert by["fake/bad"]["rating"] < by["fake/good"]["rating"] and by["fake/bad"]["rating"] < by["fake/ok"]["rating"]
    assert by["fake/bad"]["rank"] == 3
    assert sum(r["battles"] for r in rows) == 120


def test_ratings_from_a_fastchat_file_recover_the_order(tmp_path, capsys, store_path):
    f = tmp_path / "battles.json"
    f.write_text(json.dumps(simulated()))
    assert main(["arena", "ratings", "--battles", str(f), "--json", "--bootstrap", "30", "--matrix"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in out["ratings"]] == ["alpha", "bravo", "charlie", "delta"]
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in out["ratings"])
    assert out["predicted_win"]["models"] == sorted(["alpha", "bravo", "charlie", "delta"])
    assert main(["arena", "ratings", "--battles", str(f), "--matrix"]) == 0
    table = capsys.readouterr().out
    assert "rank" in table and "observed win rate" in table and "alpha" in table


def test_import_export_round_trip(tmp_path, store_path, capsys):
    recs = simulated(200)
    src = tmp_path / "in.json"
    src.write_text("\n".join(json.dumps(r) for r in recs))  # JSON Lines in
    assert main(["arena", "import", str(src), "--label", "published"]) == 0
    dst = tmp_path / "out.json"
    assert main(["arena", "export", str(dst), "--judge", "published"]) == 0
    back = json.loads(dst.read_text())  # a JSON array out
    assert [(r["model_a"], r["model_b"], r["winner"], r["tstamp"], r["anony"]) for r in back] == \
           [(r["model_a"], r["model_b"], r["winner"], r["tstamp"], r["anony"]) for r in recs]


@pytest.mark.parametrize("record,needle", [
    ({"model_a": "x", "model_b": "y", "winner": "draw", "tstamp": 1, "anony": True}, "winner"),
    ({"model_a": "x", "model_b": "x", "winner": "tie", "tstamp": 1, "anony": True}, "model_b"),
    ({"model_a": "x", "winner": "tie", "tstamp": 1, "anony": True}, "model_b"),
])
def test_bad_battle_files_name_record_and_field(tmp_path, store_path, record, needle):
    good = {"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": 1, "anony": True}
    f = tmp_path / "bad.json"
    f.write_text(json.dumps([good, good, record]))
    for args in (["arena", "ratings", "--battles", str(f)], ["arena", "import", str(f)]):
        r = cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "3" in r.stderr and needle in r.stderr and str(f) in r.stderr
    # nothing was imported from the bad file
    r = cli("arena", "export", str(tmp_path / "o.json"))
    assert r.returncode == 2 and "no decided battles" in r.stderr


def test_a_model_that_never_won_gets_a_clear_message_and_reg_helps(tmp_path, store_path, capsys):
    f = tmp_path / "b.json"
    recs = [{"model_a": "a", "model_b": "b", "winner": "model_a", "tstamp": t, "anony": True} for t in range(5)]
    recs += [{"model_a": "a", "model_b": "c", "winner": w, "tstamp": 9, "anony": True} for w in ("model_a", "model_b")]
    recs += [{"model_a": "b", "model_b": "c", "winner": "model_b", "tstamp": 9, "anony": True}]
    f.write_text(json.dumps(recs))
    r = cli("arena", "ratings", "--battles", str(f))
    assert r.returncode == 2 and "never won" in r.stderr and "--reg" in r.stderr and "{b}" in r.stderr
    assert main(["arena", "ratings", "--battles", str(f), "--reg", "0.01", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["ratings"]
    assert rows[-1]["model"] == "b"


def test_one_model_or_models_that_never_met(tmp_path, store_path):
    f = tmp_path / "b.json"
    f.write_text(json.dumps([{"model_a": "a", "model_b": "b", "winner": "model_a", "tstamp": 1, "anony": True},
                             {"model_a": "b", "model_b": "a", "winner": "model_a", "tstamp": 2, "anony": True},
                             {"model_a": "c", "model_b": "d", "winner": "tie", "tstamp": 3, "anony": True},
                             {"model_a": "d", "model_b": "c", "winner": "model_a", "tstamp": 4, "anony": True}]))
    r = cli("arena", "ratings", "--battles", str(f))
    assert r.returncode == 2 and ("never" in r.stderr.lower() or "not comparable" in r.stderr.lower()), r.stderr
    assert "a, b" in r.stderr.replace("'", "") or "{a, b}" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("arena", "ratings")
    assert r.returncode == 2 and "no decided battles" in r.stderr
    for body in ("[]", ""):
        f.write_text(body)
        r = cli("arena", "ratings", "--battles", str(f))
        assert r.returncode == 2 and "no battles" in r.stderr and "Traceback" not in r.stderr


def test_mt_bench_prompts_and_its_judge_prompt(store_path, capsys):
    from coderouge.arena.judges import judge_prompt
    from coderouge.arena.prompts import load_prompts

    qs = load_prompts("mt_bench")
    assert len(qs) == 80 and qs[0].id == "mt_bench-81" and qs[0].check is None
    jp = judge_prompt("mt_bench")
    assert jp.name == "pair-v2" and "[[A]]" in jp.system and "{answer_b}" in jp.template
    # read through evals/mt_bench.py, the one reader of MT-Bench's files
    from coderouge.evals import mt_bench

    first = {q.question_id: q.turns[0] for q in mt_bench.load_mt_bench_questions(with_references=False)}
    assert [(q.id, q.text) for q in qs] == [(f"mt_bench-{i}", t) for i, t in first.items()]
    assert (jp.system, jp.template) == mt_bench.load_pair_judge_prompt("pair-v2")
    with pytest.raises(UsageError, match="no single-turn pairwise judge prompt named 'single-v1'"):
        judge_prompt("single-v1")
    # an LLM judge with MT-Bench's prompt, end to end; a fake judge that always says [[C]]
    assert main(["arena", "run", "fake/a?answer=one", "fake/b?answer=two", "--prompts", "mt_bench", "--judge",
                 "llm:fake/judge?answer=%5B%5BC%5D%5D", "--judge-prompt", "mt_bench", "--battles", "5"]) == 0
    assert "5 judged now" in capsys.readouterr().out


def test_style_control_from_the_store(tmp_path, store_path, capsys):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"q{i}", "check": {"type": "contains", "any": ["yes"]}}) + "\n" for i in range(6)))
    # the long answers pass the check more often here: length and quality go together
    assert main(["arena", "run", "fake/long?answer=yes%20indeed%20it%20is%20so", "fake/short?answer=no", "fake/mid?answer=yes",
                 "--prompts", str(f), "--judge", "reference", "--battles", "40"]) == 0
    capsys.readouterr()
    assert main(["arena", "ratings", "--style-control", "--reg", "0.01", "--json", "--bootstrap", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "style_coefficient" in out and all("rating_style_controlled" in r for r in out["ratings"])


def test_arena_serve_starts_on_loopback_and_stops(tmp_path, store_path):
    import re
    import signal
    import time
    import urllib.request

    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "Say hi"}\n')
    proc = subprocess.Popen([sys.executable, "-m", "coderouge", "arena", "serve", "fake/a", "fake/b", "--prompts", str(f),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            m = re.search(r"http://127\.0\.0\.1:\d+/", line or "")
            url = m.group(0) if m else None
        assert url, "the server did not print its address"
        page = None
        while page is None and time.monotonic() < deadline:  # printed as it binds; serving starts a moment later
            try:
                page = urllib.request.urlopen(url, timeout=10).read().decode()
            except OSError:
                time.sleep(0.1)
        assert "A is better" in page and "fake/a" not in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
