"""Arena ratings, side by side with FastChat (Chatbot Arena's own code).

1.8M simulated battles among 130 models with known strengths (seeded). Both sides start from the same
Python lists of model names and winners and end with Bradley–Terry ratings and 95% bootstrap intervals
(one fit + 100 bootstrap rounds):

  FastChat: pandas DataFrame → ``rating_systems.compute_bt`` + ``compute_bootstrap_bt`` (its own
            installed package, run in its own virtual environment through a subprocess);
  coderouge: ``ratings.encode`` → ``ratings.rate``.

Prints both times and their ratio (goal: ours ≥ 20× faster), the largest rating difference between the
two on the same battles (goal ≤ 0.5 points), the Spearman correlation of ours with the true strengths
(goal ≥ 0.99), and the machine.

    .venv/bin/python benchmarks/arena_ratings.py [--battles 1800000] [--models 130] [--rounds 100]
        [--seed 0] [--repeat 3] [--peer-venv DIR | env FASTCHAT_VENV] [--ours-only]

The peer's venv (default /tmp/fastchat_venv) is made by ``bash benchmarks/fastchat_peer_setup.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coderouge.arena import ratings

WINNER_NAMES = np.array(["model_b", "tie", "model_a", "tie (bothbad)"], dtype=object)

# Run by the peer's own Python: it only imports FastChat and calls it; the timing brackets what FastChat
# needs from the lists of names to ratings with intervals.
PEER = r"""
import json, os, sys, time
import numpy as np, pandas as pd
from fastchat.serve.monitor.rating_systems import compute_bt, compute_bootstrap_bt
data = np.load(sys.argv[1], allow_pickle=False)
names, winners = data["names"].tolist(), data["winners"].tolist()
model_a = [names[i] for i in data["a"].tolist()]
model_b = [names[i] for i in data["b"].tolist()]
winner = [winners[i] for i in data["w"].tolist()]
times, out = [], None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    df = pd.DataFrame({"model_a": model_a, "model_b": model_b, "winner": winner})
    t1 = time.perf_counter()
    rating = compute_bt(df)
    t2 = time.perf_counter()
    boot = compute_bootstrap_bt(df, num_round=int(sys.argv[4]))
    t3 = time.perf_counter()
    times.append([t3 - t0, t1 - t0, t2 - t1, t3 - t2])
    out = {"rating": rating.to_dict(), "lo": boot.quantile(0.025).to_dict(), "hi": boot.quantile(0.975).to_dict()}
out["times"] = times
out["cpu_count"] = os.cpu_count()
json.dump(out, open(sys.argv[2], "w"))
"""

SETUP = """  bash benchmarks/fastchat_peer_setup.sh            # makes /tmp/fastchat_venv
  (or FASTCHAT_VENV=DIR bash benchmarks/fastchat_peer_setup.sh, then --peer-venv DIR)"""


def simulate(n: int, p: int, seed: int):
    """Battles from known BT strengths, ties consistent with 'a tie is half a win': E[outcome] = P(a beats b)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(1000.0, 120.0, p)
    a = rng.integers(0, p, n)
    b = rng.integers(0, p - 1, n)
    b += b >= a
    s = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    tie = s * (1.0 - s)
    u = rng.random(n)
    w = np.where(u < s - tie / 2, 2, np.where(u < s + tie / 2, 1, 0))  # 2 a won, 1 tie, 0 b won
    w[(w == 1) & (rng.random(n) < 0.3)] = 3  # some ties are "tie (bothbad)"
    names = [f"org{k % 9}/model-{k:03d}" for k in range(p)]
    return true, names, a.astype(np.int16), b.astype(np.int16), w.astype(np.int8)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def run_peer(venv: Path, names, a, b, w, repeat: int, rounds: int) -> dict:
    py = venv / "bin" / "python"
    if not py.exists():
        sys.exit(f"FastChat's virtual environment is missing: no {py}\nMake it with:\n{SETUP}")
    check = subprocess.run([str(py), "-c", "import fastchat.serve.monitor.rating_systems"], capture_output=True,
                           text=True)
    if check.returncode:
        sys.exit(f"{py} cannot import fastchat.serve.monitor.rating_systems (FastChat's compute_bt):\n"
                 f"{check.stderr.strip().splitlines()[-1]}\nMake the venv with:\n{SETUP}")
    with tempfile.TemporaryDirectory() as d:
        data, result = Path(d) / "battles.npz", Path(d) / "fastchat.json"
        np.savez(data, names=np.array(names), winners=np.array(WINNER_NAMES.tolist()), a=a, b=b, w=w)
        env = {**os.environ, "TQDM_DISABLE": "1"}
        run = subprocess.run([str(py), "-c", PEER, str(data), str(result), str(repeat), str(rounds)], env=env,
                             capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"FastChat failed:\n{run.stderr[-3000:]}")
        return json.loads(result.read_text())


def run_ours(names, a, b, w, repeat: int, rounds: int, seed: int):
    model_a = [names[i] for i in a.tolist()]
    model_b = [names[i] for i in b.tolist()]
    winner = WINNER_NAMES[w].tolist()
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        battles = ratings.encode(model_a, model_b, winner)
        t1 = time.perf_counter()
        result = ratings.rate(*battles, rounds=rounds, seed=seed)
        t2 = time.perf_counter()
        times.append((t2 - t0, t1 - t0, t2 - t1))
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--battles", type=int, default=1_800_000)
    ap.add_argument("--models", type=int, default=130)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the best time counts")
    ap.add_argument("--peer-venv", default=os.environ.get("FASTCHAT_VENV", "/tmp/fastchat_venv"))
    ap.add_argument("--ours-only", action="store_true")
    args = ap.parse_args()

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")
    true, names, a, b, w = simulate(args.battles, args.models, args.seed)
    print(f"data: {args.battles:,} simulated battles among {args.models} models (seed {args.seed}), "
          f"{(w % 2 == 1).mean():.1%} ties; one BT fit + {args.rounds} bootstrap rounds")

    runs, res = run_ours(names, a, b, w, args.repeat, args.rounds, args.seed)
    ours_t, encode_t, rate_t = min(runs)
    order = [names.index(m) for m in res.models]
    print(f"coderouge: {ours_t:.3f} s  (encode names {encode_t:.3f} s, fit + bootstrap {rate_t:.3f} s; "
          f"best of {args.repeat}: {', '.join(f'{t[0]:.3f}' for t in runs)})")
    print(f"coderouge vs true strengths: Spearman {spearman(res.rating, true[order]):.5f} (goal ≥ 0.99), "
          f"max |rating − truth| {np.abs(res.rating - (true[order] - true.mean() + 1000)).max():.2f} points")
    if args.ours_only:
        return

    peer = run_peer(Path(args.peer_venv), names, a, b, w, args.repeat, args.rounds)
    best = min(peer["times"])
    fc = np.array([peer["rating"][m] for m in res.models])
    lo = np.array([peer["lo"][m] for m in res.models])
    hi = np.array([peer["hi"][m] for m in res.models])
    print(f"FastChat:  {best[0]:.3f} s  (DataFrame {best[1]:.3f} s, compute_bt {best[2]:.3f} s, "
          f"compute_bootstrap_bt {best[3]:.3f} s with {peer['cpu_count']} processes; best of {args.repeat}: "
          f"{', '.join(f'{t[0]:.3f}' for t in peer['times'])})")
    print(f"FastChat vs true strengths: Spearman {spearman(fc, true[order]):.5f}")
    print(f"max |coderouge − FastChat| rating: {np.abs(res.rating - fc).max():.4f} points (goal ≤ 0.5); "
          f"mean ratings {res.rating.mean():.3f} vs {fc.mean():.3f}")
    print(f"95% intervals: mean width {np.mean(res.ci_high - res.ci_low):.2f} vs {np.mean(hi - lo):.2f} points, "
          f"max bound difference {max(np.abs(res.ci_low - lo).max(), np.abs(res.ci_high - hi).max()):.2f} "
          "(different random draws: bootstrap noise)")
    ratio = best[0] / ours_t
    print(f"ratio FastChat / coderouge: {ratio:.1f}× faster (goal ≥ 20×) on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
