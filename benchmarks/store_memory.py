"""Peak memory and time while running and storing 10,000 results, in SQLite and in PostgreSQL
(goals: peak RSS under 300 MB; PostgreSQL within 2× of SQLite's time).

Runs in a fresh process so the figure is this workload's alone; the peer is a bare Python
interpreter that imports coderouge and does nothing, measured the same way.

    .venv/bin/python benchmarks/store_memory.py [--requests 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, os, resource, sys, time
from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig, Runner
from coderouge.store import Store
from coderouge.types import Message, Request
n, path = int(sys.argv[1]), sys.argv[2]
if n:
    store = Store(path)
    p = FakeProvider("mem", options={"answer": "A typical answer of a few dozen words " * 4})
    runner = Runner(store, RunConfig(concurrency=64, progress=False), providers={"fake/mem": p})
    reqs = [Request("fake/mem", (Message("user", f"prompt {i} " + "context " * 60),)) for i in range(n)]
    t0 = time.perf_counter()
    res = asyncio.run(runner.batch(reqs))
    store.close()
    dt = time.perf_counter() - t0
    assert sum(r.ok for r in res) == n and Store(path).count_calls("ok") == n
    print(f"{dt:.3f}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def measure(n: int, location: str | None = None) -> tuple[float, float]:
    """(seconds to run and store, peak RSS in MB) in a fresh process."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), location or os.path.join(d, "m.db")],
                             capture_output=True, text=True, check=True)
        lines = out.stdout.strip().splitlines()
        return (float(lines[0]) if n else 0.0), float(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10000)
    a = ap.parse_args()
    _, base = measure(0)
    print(f"bare interpreter + coderouge imports: {base:.0f} MB peak RSS")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import create_database, temp_postgres

    with temp_postgres() as sock:
        t_sql, m_sql = measure(a.requests)
        t_pg, m_pg = measure(a.requests, create_database(sock, "memory"))
    for name, t, m in (("sqlite", t_sql, m_sql), ("postgresql", t_pg, m_pg)):
        print(f"{name}: running and storing {a.requests} results: {t:.2f} s, {m:.0f} MB peak RSS   "
              f"({m / 300:.2f}× the 300 MB budget; goal < 1.0×)")
    print(f"postgresql / sqlite time: {t_pg / t_sql:.2f}×   (goal ≤ 2×)")


if __name__ == "__main__":
    main()
