"""coderouge against lm-evaluation-harness on the same GGUF model and the same ARC-Easy items.

    bash benchmarks/lmeval_peer_setup.sh                  # once: the peer's venv (/tmp/lmeval_venv)
    .venv/bin/python benchmarks/vs_lm_eval.py [--items 20] [--peer-venv /tmp/lmeval_venv]

The peer runs the way lm-evaluation-harness's users run GGUF models: its `gguf` model type against
llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (started here from the peer's venv with
`logits_all`, which echo+logprobs requests need), one /v1/completions request per choice. Its task is
lm-eval's own `arc_easy` definition (prompt, choices, target, acc/acc_norm), pointed at a local JSON file
of the same items, since this machine has no Hugging Face access.

Ours: `coderouge eval local/gemma-3-270m --task arc_easy` on the same items (the whole path: tokenising,
packed scoring, storing, statistics, fresh store, no cache). Both use the embedded Gemma 3 270M GGUF with
all cores. Prints each side's items/s, the ratio, and how many items get the same chosen answer.
Goals (issue 3): the same answer on at least 19 of 20, and at least 100× the peer's items/s.
The server and lm_eval are subprocesses on loopback, stopped when the script ends.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from coderouge.evals import get_task
from coderouge.evals.engine import LETTERS, EvalResult
from coderouge.evals.run import evaluate_many
from coderouge.evals.task_types import Task
from coderouge.providers import get_provider
from coderouge.providers.local import embedded_model_path
from coderouge.runner import RunConfig
from coderouge.store import Store

MODEL = "local/gemma-3-270m"

# lm-evaluation-harness's arc_easy.yaml (lm_eval/tasks/arc/), with the dataset pointed at a local file
TASK_YAML = """task: arc_easy_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("llama_cpp.server did not answer within the time limit")


def sample_items(items: int, seed: int) -> Task:
    """The ARC-Easy items both sides see: coderouge's seeded sample of the test set."""
    return get_task("arc_easy").sample(items, seed)


def ours_result(items: int, seed: int, store_path: str | None = None) -> tuple[float, Task, EvalResult]:
    """`coderouge eval local/gemma-3-270m --task arc_easy` on the sampled items, timed (the model is loaded
    before the clock starts); a fresh store (at store_path, left for the caller to read, else a temporary
    one), no cache."""
    get_provider(MODEL).loaded()  # type: ignore[attr-defined]  # the model is loaded before the clock starts
    with tempfile.TemporaryDirectory() as d:
        store = Store(store_path or os.path.join(d, "ours.db"))
        t0 = time.perf_counter()
        task = sample_items(items, seed)
        (res,) = evaluate_many([MODEL], [task], store, RunConfig(progress=False, use_cache=False))
        dt = time.perf_counter() - t0
        store.close()
    return dt, task, res


def ours_chosen(task: Task, res: EvalResult) -> list[int]:
    """The choice coderouge picked (acc's argmax) per item, read back from its outcomes; -1 for an error."""
    chosen = []
    for it, o in zip(task.items, res.items):
        if o.status != "ok":
            chosen.append(-1)
        elif o.score == 1.0:
            chosen.append(it.correct[0])
        else:  # "chose B, gold C"
            chosen.append(LETTERS.index(o.detail.split(",")[0].split()[-1]))
    return chosen


def run_ours(items: int, seed: int) -> tuple[float, list[int], float]:
    dt, task, res = ours_result(items, seed)
    return dt, ours_chosen(task, res), res.value


def write_peer_task(task: Task, workdir: str) -> str:
    """Writes the items as a local JSON-lines file in ARC's own layout and lm-eval's arc_easy task pointed at
    it (task name `arc_easy_local`); returns the folder to give lm_eval as --include_path."""
    data = os.path.join(workdir, "arc_easy_items.jsonl")
    with open(data, "w") as f:
        for it in task.items:
            labels = [LETTERS[i] for i in range(len(it.choices))]
            f.write(json.dumps({"id": it.id, "question": it.question, "answerKey": labels[it.correct[0]],
                                "choices": {"text": list(it.choices), "label": labels}}) + "\n")
    tasks_dir = os.path.join(workdir, "tasks")
    os.makedirs(tasks_dir)
    with open(os.path.join(tasks_dir, "arc_easy_local.yaml"), "w") as f:
        f.write(TASK_YAML.format(data=data))
    return tasks_dir


def peer_samples(out: str) -> dict[str, dict]:
    """lm_eval's --log_samples records for arc_easy_local under its --output_path, by item id."""
    (samples_file,) = glob.glob(os.path.join(out, "**", "samples_arc_easy_local_*.jsonl"), recursive=True)
    with open(samples_file) as f:
        return {s["doc"]["id"]: s for s in map(json.loads, f)}


def sample_logliks(s: dict) -> list[float]:
    """The per-choice log-likelihoods in one lm_eval sample record."""
    return [float(r[0][0] if isinstance(r[0], list) else r[0]) for r in s["filtered_resps"]]


def run_peer(venv: str, items: int, seed: int, threads: int, workdir: str) -> tuple[float, list[int], float, int]:
    task = sample_items(items, seed)
    tasks_dir = write_peer_task(task, workdir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gguf = str(embedded_model_path())
    server = subprocess.Popen(
        [os.path.join(venv, "bin", "python"), "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
         "--logits_all", "true", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "server.log"), "w"), start_new_session=True)
    try:
        wait_ready(url, server)
        out = os.path.join(workdir, "out")
        env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        t0 = time.perf_counter()
        p = subprocess.run(
            [os.path.join(venv, "bin", "lm_eval"), "--model", "gguf", "--model_args", f"base_url={url}",
             "--tasks", "arc_easy_local", "--include_path", tasks_dir, "--output_path", out, "--log_samples",
             "--batch_size", "1"],
            env=env, capture_output=True, text=True, timeout=3600)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
            raise RuntimeError(f"lm_eval exited with code {p.returncode}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    by_id = {}
    for i, s in peer_samples(out).items():
        lls = sample_logliks(s)
        by_id[i] = (max(range(len(lls)), key=lambda j: lls[j]), s["acc"])
    chosen = [by_id[it.id][0] for it in task.items]
    acc = sum(by_id[it.id][1] for it in task.items) / len(task.items)
    return dt, chosen, acc, len(by_id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--peer-venv", default=os.environ.get("LMEVAL_VENV", "/tmp/lmeval_venv"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.peer_venv, "bin", "lm_eval")):
        sys.exit(f"no lm-evaluation-harness in {a.peer_venv}: run bash benchmarks/lmeval_peer_setup.sh first")
    threads = os.cpu_count() or 2
    print(f"machine: {platform.machine()}, {threads} cores, Python {platform.python_version()}; "
          f"{a.items} ARC-Easy test items (seeded sample, seed {a.seed})", flush=True)
    dt_ours, ours, acc_ours = run_ours(a.items, a.seed)
    print(f"coderouge: {dt_ours:.2f} s, {a.items / dt_ours:.3f} items/s, acc {acc_ours:.3f}", flush=True)
    with tempfile.TemporaryDirectory() as wd:
        dt_peer, peer, acc_peer, n_peer = run_peer(a.peer_venv, a.items, a.seed, threads, wd)
    assert n_peer == a.items, (n_peer, a.items)
    print(f"lm-evaluation-harness (gguf → llama_cpp.server): {dt_peer:.1f} s, {a.items / dt_peer:.4f} items/s, "
          f"acc {acc_peer:.3f}", flush=True)
    same = sum(x == y for x, y in zip(ours, peer))
    print(f"chosen answers: ours {''.join(LETTERS[c] for c in ours)}")
    print(f"                peer {''.join(LETTERS[c] for c in peer)}")
    print(f"same chosen answer on {same}/{a.items} items (goal ≥ {a.items - 1}/{a.items})")
    print(f"speed: coderouge {a.items / dt_ours:.3f} items/s vs lm-evaluation-harness {a.items / dt_peer:.4f} "
          f"items/s: {dt_peer / dt_ours:.0f}× (goal ≥ 100×)")


if __name__ == "__main__":
    main()
