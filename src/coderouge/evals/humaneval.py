"""HumanEval (OpenAI, 164 Python problems): functional correctness, pass@1 and pass@k.

The model sees the function prompt (signature and docstring) as-is. A base model continues the
code (stop sequences as human-eval / lm-evaluation-harness: "\\nclass", "\\ndef", "\\n#", "\\nif",
"\\nprint"); a chat model may answer with a ```python fenced block holding the whole function.
The program run is human-eval's: prompt + completion + "\\n" + test + "\\n" + "check(entry_point)",
in the sandbox (`sandbox.run_python`: bubblewrap namespaces, read-only system, no network, limits).
Loading the task checks that the sandbox works here and refuses otherwise (SandboxUnavailableError,
unless the unsafe fallback is allowed: --unsafe-sandbox / CODEROUGE_UNSAFE_SANDBOX=1); the
isolation used is recorded in the task's settings (`meta["sandbox_isolation"]`, stored with the
eval) and in pass@k results ("sandbox"). pass@k uses the unbiased estimator of the Codex paper
(Chen et al. 2021): 1 - C(n-c, k) / C(n, k), averaged over problems.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import TaskFileError
from ..calls import Calls as Runner
from ..types import Message, Request
from . import data
from .checks import CheckResult
from .sandbox import isolation, run_python
from .task_types import GenItem, Task

__all__ = [
    "HUMANEVAL",
    "STOP",
    "HumanEvalCheck",
    "build_program",
    "evaluate_pass_at_k",
    "load_humaneval",
    "pass_at_k",
]

HUMANEVAL = data.DataFile(
    "humaneval/HumanEval.jsonl.gz",
    "https://raw.githubusercontent.com/openai/human-eval/master/data/HumanEval.jsonl.gz",
    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
    "HumanEval (openai/human-eval)",
)

STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:```|\Z)", re.DOTALL)


def _fenced_program(text: str, entry_point: str) -> str | None:
    """The first fenced code block (```python, ```py or bare ```) that defines `entry_point`."""
    defines = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.MULTILINE)
    for m in _FENCE.finditer(text):
        if m.group(1).lower() in ("", "python", "py", "python3") and defines.search(m.group(2)):
            return m.group(2)
    return None


def _truncate_at_stop(completion: str) -> str:
    cut = min((i for i in (completion.find(s) for s in STOP) if i >= 0), default=-1)
    return completion if cut < 0 else completion[:cut]


def _compiles(src: str) -> bool:
    try:
        compile(src, "<prompt>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def build_program(prompt: str, text: str, test: str, entry_point: str) -> str:
    """The program human-eval runs for a model answer `text`.

    A fenced block that defines the entry point is the function (put after the prompt, whose
    bare stub with its docstring is valid Python, so the prompt's imports and helper functions
    stay defined); otherwise `text` is the continuation of the prompt, cut at the first stop
    sequence (a provider that ignores stop sequences is not penalised)."""
    fenced = _fenced_program(text, entry_point)
    if fenced is not None:
        if _compiles(prompt):
            body = prompt + "\n" + fenced
        else:  # keep only the prompt's imports
            body = "\n".join(ln for ln in prompt.splitlines() if ln.startswith(("import ", "from "))) + "\n" + fenced
    else:
        body = prompt + _truncate_at_stop(text)
    return body + "\n" + test + "\n" + f"check({entry_point})\n"


@dataclass(frozen=True)
class HumanEvalCheck:
    """A GenItem check: `.score(text)` runs the problem's tests on the answer in the sandbox."""

    task_id: str
    prompt: str
    test: str
    entry_point: str
    timeout_s: float = 10.0
    memory_mb: int = 512

    def program(self, text: str) -> str:
        return build_program(self.prompt, text, self.test, self.entry_point)

    def score(self, text: str) -> CheckResult:
        r = run_python(self.program(text or ""), timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        return CheckResult(r.passed, 1.0 if r.passed else 0.0, "" if r.passed else f"{r.status}: {r.detail}")


def _read(path) -> list[dict[str, Any]]:
    rows = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if line.strip():
                    rows.append(json.loads(line))
    except (OSError, json.JSONDecodeError, EOFError) as e:
        raise TaskFileError(str(path), None, f"HumanEval: cannot read: {e}") from None
    return rows


def load_humaneval(timeout_s: float = 10.0, memory_mb: int = 512) -> Task:
    """The 164 problems. Raises SandboxUnavailableError (a UsageError) before anything runs where
    no OS sandbox works and the unsafe fallback is not allowed."""
    sandbox = isolation()
    path = data.resolve(HUMANEVAL)
    items = []
    for i, row in enumerate(_read(path), start=1):
        try:
            chk = HumanEvalCheck(row["task_id"], row["prompt"], row["test"], row["entry_point"], timeout_s, memory_mb)
        except KeyError as e:
            raise TaskFileError(str(path), i, f"HumanEval record lacks {e}") from None
        items.append(GenItem(row["task_id"], (Message("user", row["prompt"]),), chk))
    return Task("humaneval", "generate", tuple(items), "pass@1",
                description="HumanEval (OpenAI), 164 Python problems, functional correctness, 0-shot",
                max_tokens=512, shots=0,
                prompt_format="the function prompt as-is (completion); a chat answer's ```python block with the function is accepted",
                meta={"stop": list(STOP), "raw": True, "sandbox_timeout_s": timeout_s, "sandbox_memory_mb": memory_mb,
                      "sandbox_isolation": sandbox})


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k)/C(n, k), computed as
    1 - prod_{i=n-c+1..n} (1 - k/i) (no huge binomials)."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


async def evaluate_pass_at_k(runner: Runner, model: str, task: Task, n: int, ks: list[int],
                             temperature: float = 0.8, workers: int = 2,
                             stop: tuple[str, ...] | None = None) -> dict[str, Any]:
    """n samples per problem (Request.sample = 0..n-1, so each is its own cache entry), each run in
    the sandbox (`workers` at a time). A failed call is an error, never failed code: a problem's
    pass@k uses its n_ok answered samples and counts only when n_ok >= k.

    `stop` defaults to none: human-eval's stop sequences suit base models continuing the prompt
    (pass `task.meta["stop"]` for those); sent to a chat model they cut a fenced answer at "\\ndef".
    """
    if n < 1 or not ks or any(k < 1 or k > n for k in ks):
        raise ValueError(f"need n >= 1 and 1 <= k <= n for every k, got n={n}, ks={ks}")
    items: list[GenItem] = list(task.items)  # type: ignore[arg-type]
    reqs = [Request(model, it.messages, max_tokens=it.max_tokens or task.max_tokens, temperature=temperature,
                    stop=tuple(stop or ()), sample=i, raw=bool(task.meta.get("raw")))
            for it in items for i in range(n)]
    results = await runner.batch(reqs, desc=f"{model} {task.name} n={n}")
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futs = [loop.run_in_executor(pool, items[j // n].check.score, r.completion.text) if r.completion is not None else None
                for j, r in enumerate(results)]
        scored = [await f if f is not None else None for f in futs]
    per_item = []
    for idx, it in enumerate(items):
        rows = list(zip(results[idx * n:(idx + 1) * n], scored[idx * n:(idx + 1) * n]))
        samples = [{"sample": i, "status": "error" if chk is None else ("passed" if chk.passed else "failed"),
                    "detail": str(res.error) if chk is None else chk.detail, "call_key": res.key}
                   for i, (res, chk) in enumerate(rows)]
        errors = sum(1 for s in samples if s["status"] == "error")
        correct = sum(1 for s in samples if s["status"] == "passed")
        per_item.append({"id": it.id, "n": n - errors, "correct": correct, "errors": errors, "samples": samples})
    out: dict[str, Any] = {"model": model, "task": task.name, "n": n, "temperature": temperature,
                           "sandbox": task.meta.get("sandbox_isolation") or isolation(), "errors": sum(p["errors"] for p in per_item), "items": per_item, "pass": {}}
    for k in ks:
        vals = [pass_at_k(p["n"], p["correct"], k) for p in per_item if p["n"] >= k]
        out["pass"][f"pass@{k}"] = {"value": sum(vals) / len(vals) if vals else float("nan"),
                                    "problems": len(vals), "skipped": len(per_item) - len(vals)}
        out[f"pass@{k}"] = out["pass"][f"pass@{k}"]["value"]
    return out
