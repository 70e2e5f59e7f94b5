"""`coderouge report` on a large store: 100,000 calls, 50 eval runs (of 10 models on 5 tasks, 200 items
each) and 50,000 decided battles among the 10 models. It times the HTML report in a process of its own
and reads that process's peak RSS (goals: under 10 s and under 500 MB).

    .venv/bin/python benchmarks/report_scale.py [--calls 100000] [--battles 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time

from sqlalchemy import insert

from coderouge.store import Store
from coderouge.store import tables as T

MODELS = [f"fake/m{i}" for i in range(10)]
TASKS = ["business", "arc_easy", "piqa", "boolq", "winogrande"]
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def fill(path: str, n_calls: int, n_battles: int) -> None:
    rng = random.Random(0)
    s = Store(path)
    now = time.time()
    with s.transaction() as tx:
        rows = []
        for i in range(n_calls):
            m = MODELS[i % len(MODELS)]
            ok = rng.random() > 0.02
            lat = rng.lognormvariate(-0.5, 0.6)
            rows.append({"key": f"k{i}", "created_at": now - rng.random() * 86400, "model": m, "base_url": None,
                         "request_json": "{}", "status": "ok" if ok else "error", "attempt": 1,
                         "text": "answer " * 20 if ok else None, "stop_reason": "stop" if ok else None,
                         "input_tokens": 200, "output_tokens": rng.randint(5, 300) if ok else None,
                         "ttft_s": lat * 0.2 if ok else None, "latency_s": lat if ok else None,
                         "cost_usd": 0.0 if ok else None, "error_kind": None if ok else "server_error",
                         "error_status": None if ok else 500, "error_message": None if ok else "boom"})
            if len(rows) == 5000:
                tx.execute(insert(T.calls), rows)
                rows = []
        if rows:
            tx.execute(insert(T.calls), rows)
        for m in MODELS:
            for t in TASKS:
                strength = 0.4 + 0.05 * MODELS.index(m)
                scores = [1.0 if rng.random() < strength else 0.0 for _ in range(200)]
                v = sum(scores) / 200
                res = {"model": m, "task": t, "metric": "acc", "value": v, "ci_low": max(0, v - 0.07),
                       "ci_high": min(1, v + 0.07), "n": 200, "errors": 0, "cost_usd": 0.0, "method": "loglikelihood",
                       "shots": 0}
                run = tx.execute(insert(T.eval_runs).values(created_at=now, model=m, task=t, config_json="{}",
                                                            result_json=json.dumps(res)).returning(T.eval_runs.c.id))
                rid = int(run.scalar_one())
                tx.execute(insert(T.eval_items), [{"run_id": rid, "item_id": f"i{j}", "status": "ok", "score": sc,
                                                   "detail": "", "call_key": None} for j, sc in enumerate(scores)])
        rows = []
        for i in range(n_battles):
            a, b = rng.sample(MODELS, 2)
            rows.append({"created_at": now, "source": "bench", "judge": "bench", "model_a": a, "model_b": b,
                         "winner": rng.choice(WINNERS), "anony": 1})
            if len(rows) == 5000:
                tx.execute(insert(T.battles), rows)
                rows = []
        if rows:
            tx.execute(insert(T.battles), rows)
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--battles", type=int, default=50_000)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    d = tempfile.mkdtemp()
    path = os.path.join(d, "big.db")
    t0 = time.perf_counter()
    fill(path, a.calls, a.battles)
    print(f"store filled in {time.perf_counter() - t0:.1f} s: {a.calls:,} calls, 50 eval runs, {a.battles:,} battles")
    out = os.path.join(d, "report.html")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "coderouge", "report", "--out", out, "--store", path],
                       capture_output=True, text=True)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert r.returncode == 0, r.stderr
    print(f"coderouge report: {took:.1f} s (goal < 10 s), peak RSS {peak:.0f} MB (goal < 500 MB), "
          f"{os.path.getsize(out) / 1e6:.2f} MB of HTML")


if __name__ == "__main__":
    main()
