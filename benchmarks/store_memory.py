"""Peak memory while running and storing 10,000 results (goal, issue 2: peak RSS under 300 MB).

Runs in a fresh process so the figure is this workload's alone; the peer is a bare Python
interpreter that imports coderouge and does nothing, measured the same way.

    .venv/bin/python benchmarks/store_memory.py [--requests 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile

CHILD = r"""
import asyncio, os, resource, sys
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
    res = asyncio.run(runner.run(reqs))
    assert sum(r.ok for r in res) == n and store.count_calls("ok") == n
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_mb(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), os.path.join(d, "m.db")], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10000)
    a = ap.parse_args()
    base = peak_mb(0)
    full = peak_mb(a.requests)
    print(f"bare interpreter + coderouge imports: {base:.0f} MB peak RSS")
    print(f"running and storing {a.requests} results: {full:.0f} MB peak RSS   ({full / 300:.2f}× the 300 MB budget; goal < 1.0×)")


if __name__ == "__main__":
    main()
