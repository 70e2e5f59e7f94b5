"""Run one model on one task and score it: generation through the runner (cached, retried),
multiple choice by log-likelihood where the provider gives it, by asking for the letter otherwise."""

from __future__ import annotations

import asyncio
import importlib
import os
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ProviderError, UsageError
from ..calls import Calls as Runner
from ..stats import Z95, percentile, score_ci, wilson_p
from ..types import Message, Request
from .checks import run_check
from .letters import extract_letter, picked_label
from .task_types import GenItem, MCItem, Task

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOGLIK_METRICS = ("acc", "acc_norm", "mc2")


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
    text: str | None = field(default=None, repr=False)  # the answer (generation tasks), for task-level metrics
    cached: bool = False  # answered from the store: latency and cost are the original call's


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
    # per item group (MMLU subject): {"n": items scored, metric: mean, …}; for a macro-averaged task
    # `value` is the mean over the groups of their `metric`
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    # settings of the scoring backend that change the numbers (log-likelihood: llama.cpp's flash attention)
    settings: dict[str, Any] = field(default_factory=dict)
    cached: int = 0  # items answered from the store (their latency and cost are the original calls')

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("items")
        for k, v in list(d.items()):
            if isinstance(v, float) and math.isnan(v):
                d[k] = None
        return d


# --- the letter method -------------------------------------------------------------------------


def _letter_text(question: str, choices: Sequence[str]) -> str:
    opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    letters = ", ".join(LETTERS[: len(choices)])
    return f"Question: {question}\n{opts}\n\nAnswer with the letter of the correct option only ({letters})."


def letter_order(item: MCItem) -> tuple[int, ...]:
    return item.letter_order or tuple(range(len(item.choices)))


def letter_prompt(item: MCItem) -> tuple[Message, ...]:
    """The chat prompt of the letter method: the item's few-shot examples as earlier turns (each
    answered with its letter), then the question with its choices in `letter_order`."""
    msgs: list[Message] = []
    for q, choices, gold in item.letter_shots:
        msgs += [Message("user", _letter_text(q, choices)), Message("assistant", LETTERS[gold])]
    order = letter_order(item)
    msgs.append(Message("user", _letter_text(item.question, [item.choices[j] for j in order])))
    return tuple(msgs)


# --- log-likelihood scoring: pure functions ---------------------------------------------------


def _argmax(xs: Sequence[float]) -> int:
    return max(range(len(xs)), key=lambda j: xs[j])  # the first of equal values, as numpy's argmax


def mc2_score(logliks: Sequence[float], golds: Sequence[int]) -> float:
    """TruthfulQA MC2 (lm-eval): the normalised probability mass on the true answers,
    sum(p_true) / (sum(p_true) + sum(p_false)) with p = exp(loglik). Computed shifted by the largest
    loglik, which leaves the ratio unchanged and keeps it finite when every p underflows."""
    m = max(logliks)
    ps = [math.exp(lp - m) for lp in logliks]
    return sum(ps[j] for j in set(golds)) / sum(ps)


def choice_metrics(logliks: Sequence[float], norm_lengths: Sequence[int], golds: Sequence[int]) -> dict[str, float]:
    """Per-item acc (argmax of the summed log-probabilities is a correct choice), acc_norm (argmax of
    loglik / len(choice), lm-evaluation-harness's length normalisation) and mc2."""
    normed = [lp / n for lp, n in zip(logliks, norm_lengths)]
    return {"acc": float(_argmax(logliks) in golds), "acc_norm": float(_argmax(normed) in golds),
            "mc2": mc2_score(logliks, golds)}


def macro_mean_ci(groups: dict[str, Sequence[float]]) -> tuple[float, float, float]:
    """The mean over groups of each group's mean score, with a 95% interval. 0/1 scores: Wilson with
    Kish's effective sample size (each item weighs 1/(G·n_g)); well-behaved at 0 and 1 and equal to
    the plain Wilson interval when the groups are the same size. Otherwise the normal approximation
    with the groups' sample variances."""
    gs = {g: list(v) for g, v in groups.items() if v}
    if not gs:
        return (math.nan, math.nan, math.nan)
    G = len(gs)
    mean = sum(sum(v) / len(v) for v in gs.values()) / G
    if all(s in (0.0, 1.0) for v in gs.values() for s in v):
        n_eff = G * G / sum(1 / len(v) for v in gs.values())
        return (mean, *_wilson(mean, n_eff))
    var = 0.0
    for v in gs.values():
        if len(v) < 2:
            return (mean, math.nan, math.nan)
        mu = sum(v) / len(v)
        var += sum((x - mu) ** 2 for x in v) / (len(v) - 1) / len(v)
    half = Z95 * math.sqrt(var) / G
    return (mean, mean - half, mean + half)


def _wilson(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """stats.wilson for a proportion p over a (possibly fractional) sample size n (never excluding p)."""
    return wilson_p(p, n, z)


# --- running ----------------------------------------------------------------------------------


async def _ask_and_score(runner: Runner, model: str, task: Task, reqs: list[Request],
                         score: Callable[[Any, str], tuple[float, str]]) -> list[ItemOutcome]:
    """Send one request per item through the runner and score each answer; a failed call is an
    error outcome, never a wrong answer."""
    results = await runner.batch(reqs, desc=f"{model} {task.name}")
    # scoring may run code (HumanEval's sandbox): off the event loop, as many at once as there are cores
    gate = asyncio.Semaphore(os.cpu_count() or 2)

    async def scored(it: Any, text: str) -> tuple[float, str]:
        async with gate:
            return await asyncio.to_thread(score, it, text)

    scores = await asyncio.gather(*(scored(it, r.completion.text) for it, r in zip(task.items, results) if r.completion is not None))
    it_scores = iter(scores)
    out = []
    for it, res in zip(task.items, results):
        if res.completion is None:
            out.append(ItemOutcome(it.id, "error", None, str(res.error), res.key))
            continue
        c = res.completion
        value, detail = next(it_scores)
        out.append(ItemOutcome(it.id, "ok", value, detail, res.key, c.latency_s, c.ttft_s,
                               c.usage.input_tokens, c.usage.output_tokens, c.cost_usd, c.text, c.cached))
    return out


async def _score_generation(runner: Runner, model: str, task: Task) -> list[ItemOutcome]:
    items: list[GenItem] = list(task.items)  # type: ignore[arg-type]
    # few-shot and code-completion prompts: a base model continues the text and stops at the task's
    # stop sequences; chat models answer the same text as a user turn and stop on their own
    raw = bool(task.meta.get("raw"))
    stop = tuple(task.meta.get("stop", ())) if raw and runner.provider(model).completion_model else ()
    reqs = [Request(model, it.messages, max_tokens=it.max_tokens or task.max_tokens, temperature=0.0, stop=stop, raw=raw)
            for it in items]

    def score(it: GenItem, text: str) -> tuple[float, str]:
        # a check is a spec for checks.py, or an object with .score(text) -> CheckResult (code tests, answer extraction)
        chk = it.check.score(text) if hasattr(it.check, "score") else run_check(it.check, text)
        return chk.score, chk.detail

    return await _ask_and_score(runner, model, task, reqs, score)


async def _score_letters(runner: Runner, model: str, task: Task) -> list[ItemOutcome]:
    items: list[MCItem] = list(task.items)  # type: ignore[arg-type]
    reqs = [Request(model, letter_prompt(it), max_tokens=task.max_tokens, temperature=0.0) for it in items]

    def score(it: MCItem, text: str) -> tuple[float, str]:
        order = letter_order(it)
        picked = extract_letter(text, len(it.choices))  # the rule: evals/letters.py
        ok = picked is not None and order[picked] in it.correct
        gold = ", ".join(LETTERS[order.index(g)] for g in it.correct)
        return float(ok), f"picked={picked_label(picked)}" + ("" if ok else f", gold {gold}, answered {text.strip()[:40]!r}")

    return await _ask_and_score(runner, model, task, reqs, score)


@dataclass
class _Loglik:
    outcomes: list[ItemOutcome]
    metrics: list[dict[str, float] | None]  # per item, None for a failed item


async def _score_loglik(runner: Runner, model: str, task: Task, batch_items: int = 64) -> _Loglik:
    """Ask for log P(continuation | context) of every choice of every item (cached in the store), then
    score each item: acc, acc_norm and mc2 (`choice_metrics`). A batch the provider refuses (a prompt
    longer than its window) is retried item by item; an item that still fails is an error outcome."""
    items: list[MCItem] = list(task.items)  # type: ignore[arg-type]
    pairs = [it.pairs() for it in items]
    flat = runner.loglik_keys(model, [p for ps in pairs for p in ps])
    keys, pos = [], 0
    for ps in pairs:
        keys.append(flat[pos:pos + len(ps)])
        pos += len(ps)
    have = runner.loglik_cached(flat)
    failed: dict[int, str] = {}
    out: list[ItemOutcome] = []
    metrics: list[dict[str, float] | None] = []
    todo = sum(1 for ks in keys if any(k not in have for k in ks))
    progress = runner.progress(todo, f"{model} {task.name}", unit="item", show=todo >= 20)

    async def ask(need: list[tuple[int, int]]) -> None:
        # through the call path: the connection's limit, a timeout, the store (identical pairs asked once)
        got = await runner.loglikelihood(model, [pairs[i][j] for i, j in need])
        for (i, j), v in zip(need, got):
            have[keys[i][j]] = v

    try:
        for start in range(0, len(items), batch_items):
            idx = range(start, min(start + batch_items, len(items)))
            need = [(i, j) for i in idx for j in range(len(pairs[i])) if keys[i][j] not in have]
            per_item = None
            if need:
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                try:
                    await ask(need)
                except ProviderError:
                    for i in sorted({i for i, _ in need}):
                        try:
                            await ask([(i, j) for j in range(len(pairs[i])) if keys[i][j] not in have])
                        except ProviderError as e:
                            failed[i] = str(e)
                n_asked = len({i for i, _ in need})
                per_item = (loop.time() - t0) / max(1, n_asked)
                progress.update(n_asked)
            for i in idx:
                it = items[i]
                if i in failed:
                    out.append(ItemOutcome(it.id, "error", None, failed[i]))
                    metrics.append(None)
                    continue
                lps = [have[k][0] for k in keys[i]]
                m = choice_metrics(lps, it.norm_lengths(), it.correct)
                best = _argmax(lps)
                detail = "" if m["acc"] else f"chose {LETTERS[best]}, gold {', '.join(LETTERS[g] for g in it.correct)}"
                ntok = sum(have[k][2] for k in keys[i])
                out.append(ItemOutcome(it.id, "ok", m[task.metric], detail, None, per_item, None, ntok, 0, 0.0))
                metrics.append(m)
    finally:
        progress.close()
    return _Loglik(out, metrics)


def _group_scores(task: Task, outcomes: list[ItemOutcome], metrics: list[dict[str, float] | None] | None,
                  names: Sequence[str]) -> dict[str, dict[str, float]]:
    groups: dict[str, dict[str, list[float]]] = {}
    for k, (it, o) in enumerate(zip(task.items, outcomes)):
        g = getattr(it, "group", "")
        if not g or o.status != "ok":
            continue
        per = metrics[k] if metrics is not None else {names[0]: o.score or 0.0}
        acc = groups.setdefault(g, {m: [] for m in names})
        for m in names:
            acc[m].append(per[m])  # type: ignore[index]
    return {g: {"n": float(len(v[names[0]])), **{m: sum(xs) / len(xs) for m, xs in v.items()}}
            for g, v in sorted(groups.items())}


def _summarise(model: str, task: Task, outcomes: list[ItemOutcome], method: str,
               metrics: list[dict[str, float] | None] | None = None) -> EvalResult:
    ok = [o for o in outcomes if o.status == "ok"]
    errs = [o for o in outcomes if o.status != "ok"]
    metric = "acc" if method == "letter" else task.metric
    extra: dict[str, float] = {}
    names = [metric]
    if metrics is not None:  # log-likelihood: acc and acc_norm always (mc2 for its task), the headline first
        names += [m for m in LOGLIK_METRICS if m != metric and m != "mc2"]
        scored = [m for m in metrics if m is not None]
        extra = {m: sum(s[m] for s in scored) / len(scored) for m in names} if scored else {}
    groups = _group_scores(task, outcomes, metrics, names)
    if task.aggregate == "macro" and groups:
        per_group = {g: [o.score or 0.0 for it, o in zip(task.items, outcomes) if o.status == "ok" and it.group == g]  # type: ignore[union-attr]
                     for g in groups}
        value, lo, hi = macro_mean_ci(per_group)
        extra[f"micro_{metric}"] = sum(o.score or 0.0 for o in ok) / len(ok)
        if metrics is not None:  # every metric as a mean over the groups too
            extra.update({m: sum(v[m] for v in groups.values()) / len(groups) for m in names})
    else:
        value, lo, hi = score_ci([o.score or 0.0 for o in ok])
    lats = [o.latency_s for o in ok if o.latency_s is not None]
    ttfts = [o.ttft_s for o in ok if o.ttft_s is not None]
    costs = [o.cost_usd for o in ok]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    if method == "letter":
        items: list[MCItem] = list(task.items)  # type: ignore[arg-type]
        shots = len(items[0].letter_shots) if items else 0
        prompt_format = "letter choice (A/B/C/D), chat" + (f", {shots} example turns" if shots else "")
    else:
        shots, prompt_format = task.shots, task.prompt_format
    return EvalResult(
        model=model, task=task.name, metric=metric, value=value,
        ci_low=lo, ci_high=hi, n=len(ok), errors=len(errs),
        latency_p50_s=percentile(lats, 50), latency_p95_s=percentile(lats, 95), ttft_p50_s=percentile(ttfts, 50),
        input_tokens=sum(o.input_tokens for o in ok), output_tokens=sum(o.output_tokens for o in ok),
        cost_usd=cost, method=method, shots=shots, prompt_format=prompt_format,
        items=outcomes, extra_metrics=extra, error_examples=sorted({o.detail for o in errs})[:3], groups=groups,
        cached=sum(1 for o in ok if o.cached),
    )


def choose_method(task: Task, model: str, can_loglik: bool, method: str | None) -> str:
    """log-likelihood where the provider gives it, else the letter; a clear error where neither works."""
    method = method or ("loglikelihood" if can_loglik else "letter")
    if method == "loglikelihood" and not can_loglik:
        alt = f"use the letter method for {task.name}" if task.letter_ok else _no_letter_hint(task)
        raise UsageError(f"{model} cannot give log-probabilities; {alt}")
    if method == "letter" and not task.letter_ok:
        if can_loglik:
            raise UsageError(f"{task.name} is scored from the probabilities of every answer, which the letter method "
                             f"does not give; score it by log-likelihood (the default for {model})")
        raise UsageError(f"{task.name} is scored from the probabilities of every answer, so it needs log-probabilities, "
                         f"which {model} cannot give; {_no_letter_hint(task)}")
    return method


def _no_letter_hint(task: Task) -> str:
    alt = {"truthfulqa_mc2": "truthfulqa_mc1"}.get(task.name)
    return ("run it on a model that gives log-probabilities (local/…)"
            + (f", or run {alt} (the letter method works there)" if alt else ""))


async def evaluate_async(runner: Runner, model: str, task: Task, method: str | None = None) -> EvalResult:
    config: dict[str, Any] = {}
    started = time.perf_counter()
    if task.kind == "generate":
        outcomes = await _score_generation(runner, model, task)
        res = _summarise(model, task, outcomes, "generate")
        extra = task.meta.get("task_metrics")  # "module:function" computing metrics over all answers (IFEval's four)
        if extra:
            mod, fn = extra.split(":")
            texts = {o.item_id: o.text for o in outcomes if o.status == "ok" and o.text is not None}
            res.extra_metrics.update(getattr(importlib.import_module(mod), fn)(texts, task))
        if task.meta.get("sandbox_isolation"):  # code tasks: how model-written code was isolated
            res.settings = {"sandbox": task.meta["sandbox_isolation"]}
    else:
        provider = runner.provider(model)
        method = choose_method(task, model, provider.scores_loglikelihood(), method)
        if method == "loglikelihood":
            scored = await _score_loglik(runner, model, task)
            outcomes = scored.outcomes
            res = _summarise(model, task, outcomes, method, scored.metrics)
            config = provider.scoring_settings()
            res.settings = dict(config)
        else:
            outcomes = await _score_letters(runner, model, task)
            res = _summarise(model, task, outcomes, method)
    if runner.store is not None:
        runner.store.save_eval(
            model, task.name, {"method": res.method, "shots": res.shots, "prompt_format": res.prompt_format,
                               **task.meta, **config},
            {**res.to_json(), "duration_s": round(time.perf_counter() - started, 3)},
            [(o.item_id, o.status, o.score, o.detail, o.call_key) for o in outcomes],
        )
    return res
