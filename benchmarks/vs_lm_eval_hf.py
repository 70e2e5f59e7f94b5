"""coderouge against lm-evaluation-harness's `hf` backend (transformers on the CPU), on the same weights and
the same ARC-Easy items: the comparison lm-eval's users actually run.

    bash benchmarks/lmeval_hf_peer_setup.sh               # once: the peer's venv (.bench/lmeval-hf)
    .venv/bin/python benchmarks/vs_lm_eval_hf.py [--limit 250] [--batch-size 16] [--peer-venv .bench/lmeval-hf]

benchmarks/vs_lm_eval.py measures lm-eval's `gguf` model type, which spends its time in llama-cpp-python's
server (a Python sort over the 262,144-entry vocabulary's log-probabilities for every echoed token), not in
lm-eval. Here the peer is lm-eval's `HFLM` (`lm_eval --model hf`), given the embedded GGUF file itself:
`pretrained=DIR,gguf_file=NAME,dtype=float32,device=cpu`. transformers reads the GGUF (tokenizer included,
with HF_HUB_OFFLINE=1) and dequantises the Q4_K_M weights to float32, so both sides start from the same
quantised weights; llama.cpp computes on them quantised, torch on their float32 expansion, so the
log-likelihoods are close, not identical (printed: their per-choice differences).

The peer runs in its own venv as a subprocess: a short driver that does what `lm_eval --model hf ...
--log_samples` does (HFLM, simple_evaluate, EvaluationTracker's sample files), with the model loaded
before its clock starts, as ours is. Its task is lm-eval's own `arc_easy` definition pointed at a local
file of the same items (vs_lm_eval.py's sample and file). Ours: `coderouge eval local/gemma-3-270m --task
arc_easy` on those items (the whole path, fresh store, no cache). Both use all cores.

Prints: the hardware and its load average, each side's time and items/s and the ratio (and the CPU-seconds
each spent, less sensitive than the wall clock to other jobs on a shared machine), each side's acc and
acc_norm with 95% intervals, the agreement of chosen answers (count and share, for acc's and acc_norm's
choice; for each item chosen differently, each side's gap between its two best choices), an exact
McNemar test (two-sided binomial on the discordant items) of whether the two accuracies differ, and how
far apart the two sides' per-choice log-likelihoods are.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vs_lm_eval import (MODEL, ours_chosen, ours_result, peer_samples, sample_items,  # noqa: E402
                        sample_logliks, write_peer_task)

from coderouge.calls import loglik_key  # noqa: E402
from coderouge.evals.engine import LETTERS  # noqa: E402
from coderouge.providers import get_provider  # noqa: E402
from coderouge.providers.local import embedded_model_path  # noqa: E402
from coderouge.stats import wilson  # noqa: E402
from coderouge.store import Store  # noqa: E402

DEFAULT_VENV = str(Path(__file__).resolve().parent.parent / ".bench" / "lmeval-hf")

# Run by the peer venv's python: what `lm_eval --model hf --model_args ... --log_samples` does, with the
# model load timed apart from the evaluation.
PEER_DRIVER = r'''
import json, sys, time
t0 = time.perf_counter()
import torch, transformers, lm_eval
from lm_eval import simple_evaluate
from lm_eval.loggers import EvaluationTracker
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
model_dir, gguf_name, tasks_dir, out, batch_size = sys.argv[1:6]
lm = HFLM(pretrained=model_dir, gguf_file=gguf_name, dtype="float32", device="cpu", batch_size=batch_size)
t1, c1 = time.perf_counter(), time.process_time()
tracker = EvaluationTracker(output_path=out)
res = simple_evaluate(model=lm, tasks=["arc_easy_local"], task_manager=TaskManager(include_path=tasks_dir),
                      log_samples=True, evaluation_tracker=tracker)
t2, c2 = time.perf_counter(), time.process_time()
samples = res.pop("samples")
tracker.save_results_aggregated(results=res, samples=samples)
for name in res["configs"]:
    tracker.save_results_samples(task_name=name, samples=samples[name])
print("PEER " + json.dumps({"load_s": t1 - t0, "eval_s": t2 - t1, "eval_cpu_s": c2 - c1,
                            "threads": torch.get_num_threads(),
                            "torch": torch.__version__, "transformers": transformers.__version__,
                            "lm_eval": lm_eval.__version__, "dtype": str(lm.model.dtype),
                            "model_type": lm.model.config.model_type, "batch_size": batch_size}))
'''


def argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=lambda j: xs[j])  # the first of equal values, as numpy's and coderouge's


def gap(xs: list[float]) -> float:
    """How far the best choice's score is ahead of the second best's."""
    top = sorted(xs, reverse=True)
    return top[0] - top[1] if len(top) > 1 else math.inf


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs b (ours right, peer wrong) and c (the other
    way) as Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def run_peer_hf(venv: str, task, batch_size: str, workdir: str) -> tuple[dict, dict[str, dict], float]:
    tasks_dir = write_peer_task(task, workdir)
    gguf = Path(embedded_model_path())
    model_dir = os.path.join(workdir, "model")  # the GGUF alone in a folder: nothing else there to pick up
    os.makedirs(model_dir)
    os.symlink(gguf, os.path.join(model_dir, gguf.name))
    out = os.path.join(workdir, "out")
    driver = os.path.join(workdir, "peer_driver.py")
    with open(driver, "w") as f:
        f.write(PEER_DRIVER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    p = subprocess.run([os.path.join(venv, "bin", "python"), driver, model_dir, gguf.name, tasks_dir, out,
                        batch_size], env=env, capture_output=True, text=True, timeout=4 * 3600)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-5000:])
        raise RuntimeError(f"the lm-eval hf driver exited with code {p.returncode}")
    (line,) = [ln for ln in p.stdout.splitlines() if ln.startswith("PEER ")]
    return json.loads(line[5:]), peer_samples(out), wall


def share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=250, help="ARC-Easy items (at least 200 to compare accuracy)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch-size", default="16", help="lm-eval's batch_size for the hf model (a number or auto)")
    ap.add_argument("--peer-venv", default=os.environ.get("LMEVAL_HF_VENV", DEFAULT_VENV))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.peer_venv, "bin", "lm_eval")):
        sys.exit(f"no lm-evaluation-harness in {a.peer_venv}: run bash benchmarks/lmeval_hf_peer_setup.sh first")
    n = a.limit
    threads = os.cpu_count() or 2
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"machine: {platform.machine()}, {threads} cores, Python {platform.python_version()}, "
          f"load average at start {load}; {n} ARC-Easy test items (seeded sample, seed {a.seed})", flush=True)
    if n < 200:
        print(f"note: {n} items is too few to compare accuracies (use at least 200)", flush=True)

    with tempfile.TemporaryDirectory() as wd:
        store_path = os.path.join(wd, "ours.db")
        get_provider(MODEL).loaded()  # type: ignore[attr-defined]  # loaded before the CPU clock starts too
        c0 = time.process_time()
        dt_ours, task, res = ours_result(n, a.seed, store_path)
        cpu_ours = time.process_time() - c0
        chosen_ours = ours_chosen(task, res)
        ident = get_provider(MODEL).scoring_identity()  # type: ignore[attr-defined]
        store = Store(store_path)
        keys = [[loglik_key(ident, c, x) for c, x in it.pairs()] for it in task.items]
        got = store.loglik_get([k for ks in keys for k in ks])
        store.close()
    lls_ours = [[got[k][0] for k in ks] for ks in keys]
    print(f"coderouge (llama.cpp, Q4_K_M): {dt_ours:.1f} s ({cpu_ours:.1f} CPU-s), {n / dt_ours:.3f} items/s, "
          f"acc {res.value:.3f}, acc_norm {res.extra_metrics.get('acc_norm', math.nan):.3f}", flush=True)

    with tempfile.TemporaryDirectory() as wd:
        info, samples, wall = run_peer_hf(a.peer_venv, sample_items(n, a.seed), a.batch_size, wd)
    assert len(samples) == n, (len(samples), n)
    dt_peer = info["eval_s"]
    print(f"lm-evaluation-harness {info['lm_eval']} hf (transformers {info['transformers']}, torch {info['torch']}, "
          f"{info['model_type']} from the GGUF, dequantised to {info['dtype']}, {info['threads']} threads, "
          f"batch_size {info['batch_size']}): model load {info['load_s']:.1f} s, evaluation {dt_peer:.1f} s "
          f"({info['eval_cpu_s']:.1f} CPU-s), "
          f"{n / dt_peer:.3f} items/s (whole process {wall:.1f} s)", flush=True)

    golds = [it.correct for it in task.items]
    peer = [samples[it.id] for it in task.items]
    lls_peer = [sample_logliks(s) for s in peer]
    norm = [it.norm_lengths() for it in task.items]
    # our acc choice from the stored log-likelihoods must be the one the run reported
    assert [argmax(ll) for ll in lls_ours] == chosen_ours, "stored log-likelihoods disagree with the run"

    def scores(lls: list[list[float]], normed: bool) -> list[list[float]]:
        return [[x / m for x, m in zip(ll, ls)] if normed else ll for ll, ls in zip(lls, norm)]

    print(f"speed: coderouge {n / dt_ours:.3f} items/s vs lm-eval hf {n / dt_peer:.3f} items/s: "
          f"{dt_peer / dt_ours:.1f}× (with the peer's model load: {wall / dt_ours:.1f}×; "
          f"CPU-seconds per item {cpu_ours / n:.2f} vs {info['eval_cpu_s'] / n:.2f}: "
          f"{info['eval_cpu_s'] / cpu_ours:.1f}×)")
    for metric, normed in (("acc", False), ("acc_norm", True)):
        sc_o, sc_p = scores(lls_ours, normed), scores(lls_peer, normed)
        ours_c, peer_c = [argmax(x) for x in sc_o], [argmax(x) for x in sc_p]
        ok_o = [c in g for c, g in zip(ours_c, golds)]
        ok_p = [c in g for c, g in zip(peer_c, golds)]
        # lm-eval's own per-item score must be the one recomputed from its logged log-likelihoods
        assert [float(x) for x in ok_p] == [float(s[metric]) for s in peer], metric
        same = sum(x == y for x, y in zip(ours_c, peer_c))
        b = sum(o and not p for o, p in zip(ok_o, ok_p))
        c = sum(p and not o for o, p in zip(ok_o, ok_p))
        print(f"{metric}: coderouge {share(sum(ok_o), n)}, lm-eval hf {share(sum(ok_p), n)} (95% Wilson); "
              f"same chosen answer on {same}/{n} ({same / n:.1%}); right only for coderouge {b}, only for "
              f"lm-eval {c}: exact McNemar p = {mcnemar_exact(b, c):.3f}")
        diff = [f"{task.items[i].id} {LETTERS[ours_c[i]]}/{LETTERS[peer_c[i]]} "
                f"gap {gap(sc_o[i]):.3f}/{gap(sc_p[i]):.3f}" for i in range(n) if ours_c[i] != peer_c[i]]
        if diff:
            print(f"  chosen differently (coderouge/lm-eval, gap between the two best {metric} scores): "
                  + "; ".join(diff))
        if metric == "acc":
            print(f"chosen (acc): ours {''.join(LETTERS[x] for x in ours_c)}")
            print(f"              peer {''.join(LETTERS[x] for x in peer_c)}")
    d = [p - o for lo, lp in zip(lls_ours, lls_peer) for o, p in zip(lo, lp)]
    ad = sorted(abs(x) for x in d)
    print(f"per-choice log-likelihood, torch float32 (dequantised) minus llama.cpp (quantised), {len(d)} choices: "
          f"mean {sum(d) / len(d):+.3f}, mean |diff| {sum(ad) / len(ad):.3f}, median |diff| {ad[len(ad) // 2]:.3f}, "
          f"max |diff| {ad[-1]:.3f} nats")
    try:
        print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
