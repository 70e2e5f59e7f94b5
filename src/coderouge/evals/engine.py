"""Run one model on one task and score it: generation through the runner (cached, retried),
multiple choice by log-likelihood where the provider gives it, by asking for the letter otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..runner import Runner, Progress
from ..stats import percentile, score_ci
from ..types import Message, Request
from .checks import run_check
from .tasks import GenItem, MCItem, Task

LETTERS = "ABCDEFGHIJ"


@dataclass
class ItemOutcome:
    item_id: str
    status: str  # "ok" | "error"
    score: float | None
    detail: str = ""
    call_key: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0


@dataclass
class EvalResult:
    model: str
    task: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    errors: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    ttft_p50_s: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    method: str
    shots: int
    prompt_format: str
    items: list[ItemOutcome] = field(default_factory=list, repr=False)
    extra_metrics: dict[str, float] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("items")
        for k, v in list(d.items()):
            if isinstance(v, float) and math.isnan(v):
                d[k] = None
        return d


def letter_prompt(item: MCItem) -> tuple[Message, ...]:
    opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
    letters = ", ".join(LETTERS[: len(item.choices)])
    return (Message("user", f"Question: {item.question}\n{opts}\n\nAnswer with the letter of the correct option only ({letters})."),)


_LETTER_RE = re.compile(r"\b([A-J])\b")


def extract_letter(text: str, n: int) -> int | None:
    m = re.search(r"(?:answer|option)\s*(?:is|:)?\s*\(?([A-J])\b", text, re.I)
    cands = [m.group(1).upper()] if m else _LETTER_RE.findall(text.strip()[:200])
    for c in cands:
        i = LETTERS.find(c)
        if 0 <= i < n:
            return i
    return None


def loglik_key(provider_id: str, context: str, continuation: str) -> str:
    h = hashlib.sha256()
    for part in (provider_id, context, continuation):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


async def _ask_and_score(runner: Runner, model: str, task: Task, reqs: list[Request],
                         score: Callable[[Any, str], tuple[float, str]]) -> list[ItemOutcome]:
    """Send one request per item through the runner and score each answer; a failed call is an
    error outcome, never a wrong answer."""
    results = await runner.run(reqs, desc=f"{model} {task.name}")
    out = []
    for it, res in zip(task.items, results):
        if res.completion is None:
            out.append(ItemOutcome(it.id, "error", None, str(res.error), res.key))
            continue
        c = res.completion
        value, detail = score(it, c.text)
        out.append(ItemOutcome(it.id, "ok", value, detail, res.key, c.latency_s, c.ttft_s,
                               c.usage.input_tokens, c.usage.output_tokens, c.cost_usd))
    return out


async def _score_generation(runner: Runner, model: str, task: Task) -> list[ItemOutcome]:
    items: list[GenItem] = list(task.items)  # type: ignore[arg-type]
    reqs = [Request(model, it.messages, max_tokens=it.max_tokens or task.max_tokens, temperature=0.0) for it in items]

    def score(it: GenItem, text: str) -> tuple[float, str]:
        # a check is a spec for checks.py, or an object with .score(text) -> CheckResult (code tests, answer extraction)
        chk = it.check.score(text) if hasattr(it.check, "score") else run_check(it.check, text)
        return chk.score, chk.detail

    return await _ask_and_score(runner, model, task, reqs, score)


async def _score_letters(runner: Runner, model: str, task: Task) -> list[ItemOutcome]:
    items: list[MCItem] = list(task.items)  # type: ignore[arg-type]
    reqs = [Request(model, letter_prompt(it), max_tokens=task.max_tokens, temperature=0.0) for it in items]

    def score(it: MCItem, text: str) -> tuple[float, str]:
        picked = extract_letter(text, len(it.choices))
        return float(picked == it.gold), "" if picked == it.gold else f"answered {text.strip()[:40]!r}, gold {LETTERS[it.gold]}"

    return await _ask_and_score(runner, model, task, reqs, score)


async def _score_loglik(runner: Runner, model: str, task: Task, batch_items: int = 8) -> tuple[list[ItemOutcome], float]:
    """acc: argmax of summed log-probabilities; acc_norm: divided by the continuation's length in bytes
    (lm-evaluation-harness's definitions)."""
    provider = runner.provider(model)
    items: list[MCItem] = list(task.items)  # type: ignore[arg-type]
    store = runner.store
    pid = provider.identity()  # type: ignore[attr-defined]
    pairs = [[(it.context, " " + ch) for ch in it.choices] for it in items]
    keys = [[loglik_key(pid, c, x) for c, x in ps] for ps in pairs]
    have = store.loglik_get([k for ks in keys for k in ks]) if (store and runner.config.use_cache) else {}
    out: list[ItemOutcome] = []
    norm_correct = 0
    todo = sum(1 for ks in keys if any(k not in have for k in ks))
    progress = Progress(todo, runner.config.progress if todo >= 20 else False, f"{model} {task.name}", unit="item")
    for start in range(0, len(items), batch_items):
        idx = range(start, min(start + batch_items, len(items)))
        need = [(i, j) for i in idx for j in range(len(pairs[i])) if keys[i][j] not in have]
        if need:
            t0 = asyncio.get_running_loop().time()
            got = await asyncio.to_thread(provider.loglikelihood, [pairs[i][j] for i, j in need])  # type: ignore[attr-defined]
            dt = asyncio.get_running_loop().time() - t0
            rows = []
            for (i, j), (lp, greedy, ntok) in zip(need, got):
                have[keys[i][j]] = (lp, greedy, ntok)
                rows.append((keys[i][j], lp, greedy, ntok))
            if store:
                store.loglik_put(model, rows)
            per_item = dt / max(1, len({i for i, _ in need}))
            progress.update(len({i for i, _ in need}))
        else:
            per_item = None
        for i in idx:
            it = items[i]
            lps = [have[k][0] for k in keys[i]]
            best = max(range(len(lps)), key=lambda j: lps[j])
            normed = [lp / max(1, len(x.encode("utf-8"))) for lp, (_, x) in zip(lps, pairs[i])]
            best_n = max(range(len(normed)), key=lambda j: normed[j])
            norm_correct += int(best_n == it.gold)
            ntok = sum(have[k][2] for k in keys[i])
            detail = "" if best == it.gold else f"chose {LETTERS[best]}, gold {LETTERS[it.gold]}"
            out.append(ItemOutcome(it.id, "ok", float(best == it.gold), detail, None, per_item, None, ntok, 0, 0.0))
    progress.close()
    return out, norm_correct / max(1, len(items))


def _summarise(model: str, task: Task, outcomes: list[ItemOutcome], method: str, extra: dict[str, float]) -> EvalResult:
    ok = [o for o in outcomes if o.status == "ok"]
    errs = [o for o in outcomes if o.status != "ok"]
    value, lo, hi = score_ci([o.score or 0.0 for o in ok])
    lats = [o.latency_s for o in ok if o.latency_s is not None]
    ttfts = [o.ttft_s for o in ok if o.ttft_s is not None]
    costs = [o.cost_usd for o in ok]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    return EvalResult(
        model=model, task=task.name, metric=task.metric if method != "letter" else "acc", value=value,
        ci_low=lo, ci_high=hi, n=len(ok), errors=len(errs),
        latency_p50_s=percentile(lats, 50), latency_p95_s=percentile(lats, 95), ttft_p50_s=percentile(ttfts, 50),
        input_tokens=sum(o.input_tokens for o in ok), output_tokens=sum(o.output_tokens for o in ok),
        cost_usd=cost, method=method, shots=task.shots,
        prompt_format=task.prompt_format if method != "letter" else "letter choice (A/B/C/D), chat",
        items=outcomes, extra_metrics=extra, error_examples=sorted({o.detail for o in errs})[:3],
    )


async def evaluate_async(runner: Runner, model: str, task: Task, method: str | None = None) -> EvalResult:
    if task.kind == "generate":
        outcomes = await _score_generation(runner, model, task)
        res = _summarise(model, task, outcomes, "generate", {})
    else:
        provider = runner.provider(model)
        can_loglik = hasattr(provider, "loglikelihood")
        method = method or ("loglikelihood" if can_loglik else "letter")
        if method == "loglikelihood" and not can_loglik:
            raise UsageError(f"{model} cannot give log-probabilities; use the letter method for {task.name}")
        if method == "loglikelihood":
            outcomes, acc_norm = await _score_loglik(runner, model, task)
            res = _summarise(model, task, outcomes, method, {"acc_norm": acc_norm})
        else:
            outcomes = await _score_letters(runner, model, task)
            res = _summarise(model, task, outcomes, method, {})
    if runner.store is not None:
        runner.store.save_eval(
            model, task.name, {"method": res.method, "shots": res.shots, "prompt_format": res.prompt_format, **task.meta},
            res.to_json(), [(o.item_id, o.status, o.score, o.detail, o.call_key) for o in outcomes],
        )
    return res
