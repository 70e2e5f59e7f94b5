"""Log-likelihood scoring on the local model: coderouge's whole path against a bare packed llama.cpp loop.

    .venv/bin/python benchmarks/loglik_throughput.py [--task arc_easy] [--shots N] [--limit 300] [--repeat 2]

Ours: `evaluate_many` exactly as `coderouge eval local/gemma-3-270m --task T` runs it, with a fresh store
and no cache: loading the task, tokenising (lm-evaluation-harness's way), planning the decode calls
(a token trie per call: shared contexts and few-shot prefixes computed once), scoring, storing every
log-likelihood and the run in SQLite, and the statistics.

Peer: a bare loop over the very same decode calls (the tokens, positions, sequence ids and logit rows
that ours sent, recorded on the way), every llama_batch filled before the clock starts; timed are only
llama_decode, the log-softmax at each logit row and the sums. Both use the same loaded model and
scoring context, in the same process, alternately. Goal (issue 3): ours ≥ 85% of the peer's items/s.
The model is loaded before either is timed. Needs CODEROUGE_DATA (or the task's download).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from coderouge.evals import get_task
from coderouge.evals.run import evaluate_many
from coderouge.providers import local as local_mod
from coderouge.providers import get_provider
from coderouge.runner import RunConfig
from coderouge.store import Store

MODEL = "local/gemma-3-270m"


def ours(task_name: str, shots: int | None, limit: int, record: list | None) -> tuple[float, float, int]:
    """(seconds, score, items) for the whole path, recording the decode calls when `record` is a list."""
    orig = local_mod._Loaded.decode

    def recording(self, pack):  # type: ignore[no-untyped-def]
        if record is not None:
            record.append(pack)
        return orig(self, pack)

    local_mod._Loaded.decode = recording  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as d:
            store = Store(os.path.join(d, "bench.db"))
            t0 = time.perf_counter()
            task = get_task(task_name, shots=shots)
            task = task.sample(limit, 1234) if limit else task
            (res,) = evaluate_many([MODEL], [task], store, RunConfig(progress=False, use_cache=False))
            dt = time.perf_counter() - t0
            stored = store.count_logliks()
            store.close()
    finally:
        local_mod._Loaded.decode = orig  # type: ignore[method-assign]
    assert res.errors == 0 and stored > 0, (res.errors, stored)
    return dt, res.value, res.n


class Bare:
    """The recorded decode calls as ready-filled llama_batch structs, and the loop that runs them."""

    def __init__(self, m: local_mod._Loaded, packs: list[local_mod.Pack]):
        self.m, self.lc = m, m.lc
        self.ctx = m._scoring_ctx()
        self.calls = []
        for p in packs:
            width = max(len(ids) for ids in p.ids)
            b = self.lc.llama_batch_init(len(p.token), 0, width)
            for k, (t, pos, ids, want) in enumerate(zip(p.token, p.pos, p.ids, p.logits)):
                b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = t, pos, len(ids), want
                for n, s in enumerate(ids):
                    b.seq_id[k][n] = s
            b.n_tokens = len(p.token)
            seq = np.array([w[0] for w in p.wanted], dtype=np.int64)
            row = np.array([w[1] for w in p.wanted], dtype=np.int64)
            tgt = np.array([w[2] for w in p.wanted], dtype=np.int64)
            self.calls.append((b, list(p.out_rows), seq, row, tgt))

    def run(self) -> dict[int, float]:
        lc, ctx, V = self.lc, self.ctx, self.m.n_vocab
        out: dict[int, float] = {}
        for b, out_rows, seq, row, tgt in self.calls:
            lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
            if lc.llama_decode(ctx, b) != 0:
                raise RuntimeError("llama_decode failed")
            lse, picked = {}, {}
            for r in out_rows:
                x = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, r), shape=(V,))
                mx = float(x.max())
                lse[r] = mx + float(np.log(np.exp(x - mx).sum()))
                picked[r] = x
            for s, r, t in zip(seq.tolist(), row.tolist(), tgt.tolist()):
                out[s] = out.get(s, 0.0) + float(picked[r][t]) - lse[r]
        return out

    def close(self) -> None:
        for b, *_ in self.calls:
            self.lc.llama_batch_free(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="arc_easy")
    ap.add_argument("--shots", type=int, default=None)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    prov = get_provider(MODEL)
    m = prov.loaded()  # type: ignore[attr-defined]
    m._scoring_ctx()
    ours_times, bare_times, packs = [], [], []
    score = n = 0
    bare = None
    for i in range(a.repeat):
        rec: list | None = [] if i == 0 else None
        dt, score, n = ours(a.task, a.shots, a.limit, rec)
        ours_times.append(dt)
        print(f"round {i + 1}: coderouge {dt:.2f} s ({n / dt:.2f} items/s, score {score:.4f})", flush=True)
        if bare is None:
            packs = rec or []
            bare = Bare(m, packs)
        t0 = time.perf_counter()
        bare.run()
        bt = time.perf_counter() - t0
        bare_times.append(bt)
        print(f"round {i + 1}: bare loop {bt:.2f} s ({n / bt:.2f} items/s)", flush=True)
    assert bare is not None
    rows = sum(p.n_rows for p in packs)
    outs = sum(p.n_outputs for p in packs)
    flat = sum(len(ids) for p in packs for ids in p.ids)
    print(f"task {a.task}, {n} items, {sum(len(p.seqs) for p in packs)} sequences in {len(packs)} decode calls: "
          f"{rows} token rows computed ({flat} without sharing), {outs} logit rows; flash attention "
          f"{'on' if m.flash_attn else 'off'}")
    best_ours, best_bare = min(ours_times), min(bare_times)
    print(f"coderouge: {n / best_ours:.2f} items/s   bare llama.cpp loop: {n / best_bare:.2f} items/s   "
          f"ratio {best_bare / best_ours:.3f} (goal ≥ 0.85, best of {a.repeat} each)")
    bare.close()


if __name__ == "__main__":
    main()
