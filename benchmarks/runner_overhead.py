"""Runner overhead: 2,000 requests to fake/ with 50 ms latency at concurrency 64, stored in SQLite,
then the same stored in PostgreSQL (a throw-away server started here, on a unix socket).

The peer is the ideal: a runner with zero overhead finishes in 2,000 / 64 × 50 ms = 1.5625 s
(a perfectly packed schedule of whole 50 ms calls needs ceil(2000/64) × 50 ms = 1.6 s).
Goals: within 1.15× of the ideal on SQLite, 1.3× on PostgreSQL. Prints each and the ratio.

    .venv/bin/python benchmarks/runner_overhead.py [--requests 2000] [--concurrency 64] [--latency 0.05] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
from pathlib import Path
import tempfile
import time

from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig, Runner
from coderouge.store import Store
from coderouge.types import Message, Request


def once(n: int, conc: int, latency: float, location: str | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(location or os.path.join(d, "bench.db"))
        p = FakeProvider("bench", options={"latency": str(latency)})
        runner = Runner(store, RunConfig(concurrency=conc, progress=False), providers={"fake/bench": p})
        reqs = [Request("fake/bench", (Message("user", f"request number {i}"),)) for i in range(n)]
        t0 = time.perf_counter()
        results = asyncio.run(runner.batch(reqs))
        dt = time.perf_counter() - t0
        ok = sum(r.ok for r in results)
        stored = store.count_calls("ok")
        store.close()
        assert ok == n and stored == n, (ok, stored)
        return dt, stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    ideal = a.requests / a.concurrency * a.latency
    packed = math.ceil(a.requests / a.concurrency) * a.latency
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"ideal (n/c × latency): {ideal:.4f} s   packed ideal (ceil(n/c) × latency): {packed:.4f} s")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import create_database, temp_postgres

    with temp_postgres() as sock:
        for backend, goal in (("sqlite", 1.15), ("postgresql", 1.3)):
            times = []
            for i in range(a.repeat):
                loc = create_database(sock, f"bench{i}") if backend == "postgresql" else None
                dt, stored = once(a.requests, a.concurrency, a.latency, loc)
                times.append(dt)
                print(f"{backend} run {i + 1}: {dt:.3f} s, {stored} results stored")
            best, median = min(times), sorted(times)[len(times) // 2]
            print(f"{backend}: coderouge median {median:.3f} s   ratio to ideal: {median / ideal:.3f}×   "
                  f"(goal ≤ {goal}×)   best: {best / ideal:.3f}×")


if __name__ == "__main__":
    main()
