"""Several writers on one store (real processes, both backends), and stores that cannot be written:
a full disk (a 1 MiB tmpfs of the test's own), a read-only filesystem. Nothing is lost or duplicated,
no "database is locked" reaches the user, and a result that was not stored is never printed."""

import json
import subprocess
import time
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest

from coderouge.store import Store


def _task(path: Path, n: int, size: int = 0) -> Path:
    pad = "x" * size
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"say {i} {pad}".strip(),
                                        "check": {"type": "exact", "expected": f"say {i} {pad}".strip()}}) + "\n"
                            for i in range(n)))
    return path


def _eval(model: str, task: Path, store: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "coderouge", "eval", model, "--task", str(task), "--concurrency", "16", "--json",
           "--store", store]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_eval_processes_on_one_store(tmp_path, store_url):
    n = 300
    task = _task(tmp_path / "t.jsonl", n)
    Store(store_url).close()  # created (and migrated) once; then both processes open it at the same time
    procs = [_eval(f"fake/w{k}?latency=0.002", task, store_url) for k in (1, 2)]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
        outs.append(json.loads(out)["results"][0])
    assert all(r["n"] == n and r["errors"] == 0 and r["value"] == 1.0 for r in outs)
    with Store(store_url) as s:
        per_key = Counter(c.key for c in s.calls())
        assert len(per_key) == 2 * n and set(per_key.values()) == {1}  # nothing lost, nothing twice
        runs = s.eval_runs()
        assert sorted(r.model for r in runs) == ["fake/w1?latency=0.002", "fake/w2?latency=0.002"]
        assert all(len(s.eval_items(r.id)) == n for r in runs)


def test_two_processes_migrate_a_new_store_at_once(tmp_path, store_url):
    task = _task(tmp_path / "t.jsonl", 20)
    procs = [_eval(f"fake/m{k}", task, store_url) for k in (1, 2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store(store_url) as s:
        assert len(s.eval_runs()) == 2 and s.count_calls("ok") == 40


@contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, timeout=10)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], timeout=10)


def test_a_full_disk_stops_the_run_with_a_clear_error(tmp_path):
    """The store lives on a 1 MiB filesystem of its own; the answers do not fit. The run must stop,
    say why, exit non-zero, and print no result."""
    task = _task(tmp_path / "t.jsonl", 400, size=2000)
    with _tmpfs(tmp_path / "small", "1m") as fs:
        db = fs / "store.db"
        Store(db).close()
        r = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/echo", "--task", str(task), "--json",
                            "--store", str(db)], capture_output=True, text=True, timeout=120)
        assert r.returncode not in (0, 2), r.stderr  # a failure of the run, not of the user's input
        assert "full" in r.stderr and str(db) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert r.stdout.strip() == ""  # no result printed that was not stored
        # what was stored before the disk filled up is still readable, and no eval run claims success
        with _readable(db) as s:
            assert s.eval_runs() == []


@contextmanager
def _readable(db: Path):
    """Open a store read-only where it lies (its filesystem is full): copy it out first."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp())
    for f in db.parent.glob(db.name + "*"):
        shutil.copy(f, d / f.name)
    s = Store(d / db.name)
    try:
        yield s
    finally:
        s.close()
        shutil.rmtree(d)


def test_a_read_only_store_is_a_clear_error_not_a_result(tmp_path):
    task = _task(tmp_path / "t.jsonl", 5)
    with _tmpfs(tmp_path / "ro", "4m") as fs:
        db = fs / "store.db"
        Store(db).close()
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True, timeout=10)
        r = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/echo", "--task", str(task), "--json",
                            "--store", str(db)], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "store" in r.stderr and str(db) in r.stderr and "Traceback" not in r.stderr
        assert r.stdout.strip() == ""


@pytest.mark.parametrize("content", [b"not a database at all\n" * 50, b""])
def test_cli_on_a_file_that_is_not_a_store(tmp_path, content):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content or b"SQLite format 3\x00" + b"\x01" * 200)
    task = _task(tmp_path / "t.jsonl", 2)
    r = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/echo", "--task", str(task),
                        "--store", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "not a coderouge store" in r.stderr
    assert bad.read_bytes() == (content or b"SQLite format 3\x00" + b"\x01" * 200)


def test_votes_are_taken_while_an_arena_run_writes(tmp_path, store_url):
    from test_arena_web import arena as voting_page, fake, http

    from coderouge.arena.battles import list_battles
    from coderouge.arena.web import ArenaLimits

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}?",
                                           "check": {"type": "numeric", "expected": 2 * i}}) + "\n" for i in range(20)))
    Store(store_url).close()
    run = subprocess.Popen([sys.executable, "-m", "coderouge", "arena", "run", "fake/p?latency=0.005",
                            "fake/q?latency=0.005", "--prompts", str(prompts), "--judge", "reference", "--battles", "200",
                            "--store", store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    votes = 0
    try:
        models = [fake("zebra-model", "Stripes."), fake("yak-model", "Shaggy.")]
        with voting_page(store_url, models, min_vote_seconds=0.05,
                         limits=ArenaLimits(battles_per_minute=100, votes_per_minute=100)) as url:
            for _ in range(12):
                b = json.loads(http("POST", f"{url}/api/battles", {})[1])
                api = f"{url}/api/battles/{b['id']}"
                http("GET", f"{api}/stream", headers={"X-Arena-Token": b["token"]})
                time.sleep(0.06)
                status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "tie"})
                assert status == 200, text
                votes += 1
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err
    assert "locked" not in err.lower()
    with Store(store_url) as s:
        assert len(list_battles(s, decided=True, judge="human")) == votes == 12
        ref = list_battles(s, decided=None, judge="reference")
        assert len(ref) == 200 and len({b.id for b in ref}) == 200
