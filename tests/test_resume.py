"""A run killed with kill -9 resumes from the store: no item lost, none done twice."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from coderouge.errors import CoderougeError
from coderouge.store import Store


def _ok_calls(url: str) -> int:
    try:
        with Store(url) as s:
            return s.count_calls("ok")
    except CoderougeError:  # not created yet, or being migrated by the run
        return 0


def test_kill_9_then_resume(tmp_path, store_url):
    n = 200
    task = tmp_path / "t.jsonl"
    task.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"say {i}", "check": {"type": "exact", "expected": f"say {i}"}}) + "\n" for i in range(n)))
    env = {**os.environ, "CODEROUGE_STORE": store_url}
    cmd = [sys.executable, "-m", "coderouge", "eval", "fake/slow?latency=0.03", "--task", str(task), "--concurrency", "4", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline:
            done = _ok_calls(store_url)
            if done >= 20:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _ok_calls(store_url)
    assert 20 <= killed_at < n, "the run must have been killed midway"

    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"][0]
    assert res["n"] == n and res["errors"] == 0 and res["value"] == 1.0
    # every item answered exactly once across both runs
    with Store(store_url) as s:
        per_key = Counter(c.key for c in s.calls(status="ok"))
        assert len(per_key) == n
        assert all(c == 1 for c in per_key.values())
        last = s.eval_runs()[0]
        assert sum(1 for i in s.eval_items(last.id) if i.status == "ok") == n


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path):
    n = 150
    task = tmp_path / "t.jsonl"
    task.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"say {i}", "check": {"type": "exact", "expected": f"say {i}"}}) + "\n" for i in range(n)))
    db = tmp_path / "store.db"
    env = {**os.environ, "CODEROUGE_STORE": str(db)}
    # 150 calls of 0.2 s, two at a time: 15 s, so the interrupt (after 10) lands midway even on a loaded machine
    cmd = [sys.executable, "-m", "coderouge", "eval", "fake/slow?latency=0.2", "--task", str(task)]
    # a shell that starts jobs in the background sets SIGINT to "ignore", and children inherit that: give the
    # child the default disposition back, as a terminal would, so that Python installs its Ctrl-C handler
    proc = subprocess.Popen(cmd + ["--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _ok_calls(str(db))
            if seen >= 10:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be interrupted (saw {seen} calls): {proc.communicate()}"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Run the same command again to resume" in err
    assert "Traceback" not in err
    saved = _ok_calls(str(db))
    assert 10 <= saved < n
    r = subprocess.run(cmd + ["--json", "--concurrency", "32"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["n"] == n
    assert _ok_calls(str(db)) == n


def _wait_for_logliks(proc: subprocess.Popen, db, timeout_s: float = 240) -> None:
    """Until the run has stored its first batch of log-likelihoods, or ended, or `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with Store(db) as s:
                if s.count_logliks():
                    return
        except CoderougeError:
            pass
        time.sleep(0.05)


@pytest.mark.local_model
@pytest.mark.timeout(300)
def test_kill_9_during_loglikelihood_scoring_then_resume(tmp_path):
    """Log-likelihoods are stored batch by batch; a run killed midway resumes without scoring any
    stored (context, continuation) again, and ends with every item scored."""
    db = tmp_path / "store.db"
    env = {**os.environ, "CODEROUGE_STORE": str(db)}
    cmd = [sys.executable, "-m", "coderouge", "eval", "local/gemma-3-270m", "--task", "arc_easy", "--limit", "100",
           "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_logliks(proc, db)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run must have been killed midway"
    with Store(db) as s:
        before = s.logliks()
    assert before, "a first batch was stored before the kill"

    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"][0]
    assert res["n"] == 100 and res["errors"] == 0 and res["method"] == "loglikelihood"
    with Store(db) as s:
        after = s.logliks()
        assert s.eval_runs()[0].result["value"] == res["value"]
    # nothing stored before the kill was computed again (its row is the same one, same time), and the
    # rerun added the rest: every choice of every item has exactly one row
    assert all(after[k] == v for k, v in before.items())
    assert len(after) > len(before)



@pytest.mark.local_model
@pytest.mark.timeout(300)
def test_ctrl_c_during_loglikelihood_scoring_stops_between_decode_calls(tmp_path):
    """Ctrl-C while llama.cpp is scoring: the scoring thread is told to stop before its next decode call, so
    the run ends long before the next stored batch would, with what it scored kept. The time it takes is
    measured against the time one batch of scoring took in the same run (the noise floor of this machine),
    not against a fixed number of seconds."""
    db = tmp_path / "store.db"
    env = {**os.environ, "CODEROUGE_STORE": str(db)}
    cmd = [sys.executable, "-m", "coderouge", "eval", "local/gemma-3-270m", "--task", "arc_easy", "--limit", "300"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_logliks(proc, db)
        first_batch = time.monotonic() - started  # model load and one stored batch of scoring
        assert proc.poll() is None, "the run ended before it could be interrupted"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        stop = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert stop < first_batch, f"stopping took {stop:.1f} s, longer than loading and scoring a batch ({first_batch:.1f} s)"
    with Store(db) as s:
        assert 0 < s.count_logliks() < 300 * 4
