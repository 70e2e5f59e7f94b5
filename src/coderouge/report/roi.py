"""`coderouge roi`: what switching from the current model to a candidate saves per month and what it costs in
quality, from measurements in the store: each model's latest score on the task, its tokens per request on
that task (the eval run's input and output tokens over its items), and prices (the built-in table, or
`--prices`). The quality difference is candidate minus current, paired on the items both answered when
both were evaluated on the same items (paired bootstrap), else from the two intervals (normal
approximation). A model with no known price says so: its cost is unknown, never $0."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import UsageError
from ..providers import pricing
from ..store import Store


def task_name(task: str) -> str:
    """`--task` as `eval` takes it: a built-in name, or a .jsonl file (its results are stored under its stem)."""
    p = Path(task)
    return p.stem if p.suffix in (".jsonl", ".json") or p.exists() else task


def _latest(store: Store, model: str, task: str | None) -> Any:
    runs = store.eval_runs(model=model, task=task)
    runs = [r for r in runs if not str(r.result.get("metric", "")).startswith("score_")]
    if not runs:
        raise UsageError(f"no eval results in the store for {model}" + (f" on {task}" if task else "")
                         + f": run coderouge eval {model} --task {task or 'TASK'}")
    return runs[0]


def _side(run: Any, monthly: int) -> dict[str, Any]:
    res = run.result
    n = max(int(res.get("n") or 0) + int(res.get("errors") or 0), 1)
    tin, tout = (res.get("input_tokens") or 0) / n, (res.get("output_tokens") or 0) / n
    provider, _, model = run.model.partition("/")
    price = pricing.lookup(provider, model)
    cost = None if price is None else monthly * (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
    return {"model": run.model, "task": run.task, "score": res.get("value"), "ci_low": res.get("ci_low"),
            "ci_high": res.get("ci_high"), "n": res.get("n"), "eval_run": run.id,
            "input_tokens_per_request": round(tin, 2), "output_tokens_per_request": round(tout, 2),
            "input_usd_per_mtok": None if price is None else price.input_per_mtok,
            "output_usd_per_mtok": None if price is None else price.output_per_mtok,
            "price_source": None if price is None else price.source,
            "monthly_cost_usd": None if cost is None else round(cost, 2)}


def roi(store: Store, current: str, candidate: str, *, task: str | None = None, monthly_requests: int = 100_000,
        hybrid: float = 0.5) -> dict[str, Any]:
    if monthly_requests < 1:
        raise UsageError("--monthly-requests must be at least 1")
    if not 0 <= hybrid <= 1:
        raise UsageError("--hybrid is the candidate's share of the requests, from 0 to 1 (e.g. 0.7)")
    if current == candidate:
        raise UsageError("--current and --candidate are the same model")
    name = task_name(task) if task else None
    if name is None:  # the task both were evaluated on (the latest)
        a = {r.task for r in store.eval_runs(model=current)}
        b = {r.task for r in store.eval_runs(model=candidate)}
        both = sorted(a & b)
        if len(both) != 1:
            raise UsageError(f"name the task with --task ({'both models were evaluated on: ' + ', '.join(both) if both else 'the two models have no task in common in the store'})")
        name = both[0]
    rc, rd = _latest(store, current, name), _latest(store, candidate, name)
    cur, cand = _side(rc, monthly_requests), _side(rd, monthly_requests)
    diff = _difference(store, rc, rd)
    costs = (cur["monthly_cost_usd"], cand["monthly_cost_usd"])
    hyb_cost = None if None in costs else round(hybrid * costs[1] + (1 - hybrid) * costs[0], 2)  # type: ignore[operator]
    hyb = {"candidate_share": hybrid, "monthly_cost_usd": hyb_cost,
           "expected_score": round(hybrid * cand["score"] + (1 - hybrid) * cur["score"], 6)}
    savings = None if None in costs else round(costs[0] - costs[1], 2)  # type: ignore[operator]
    out = {"task": name, "monthly_requests": monthly_requests, "current": cur, "candidate": cand, "hybrid": hyb,
           "quality_difference": diff, "monthly_savings_usd": savings,
           "hybrid_monthly_savings_usd": None if hyb_cost is None or costs[0] is None else round(costs[0] - hyb_cost, 2)}
    out["summary"] = summary(out)
    return out


def _difference(store: Store, rc: Any, rd: Any) -> dict[str, Any]:
    from ..evals.compare import compare

    def load(r: Any) -> Any:
        return SimpleNamespace(task=r.task, model=r.model, metric=r.result.get("metric"), method=r.result.get("method"),
                               shots=r.result.get("shots"), prompt_format=r.result.get("prompt_format"),
                               items=store.eval_items(r.id))

    try:
        c = compare(load(rd), load(rc), rounds=10000)  # candidate − current
        return {"value": round(c.diff, 6), "ci_low": round(c.diff_low, 6), "ci_high": round(c.diff_high, 6),
                "paired": True, "items": c.n, "p_value": round(c.p_value, 6)}
    except ValueError:  # no item in common: the two intervals, as independent estimates
        a, b = rd.result, rc.result
        se = math.sqrt(((a["ci_high"] - a["ci_low"]) / 3.92) ** 2 + ((b["ci_high"] - b["ci_low"]) / 3.92) ** 2)
        d = a["value"] - b["value"]
        return {"value": round(d, 6), "ci_low": round(d - 1.96 * se, 6), "ci_high": round(d + 1.96 * se, 6),
                "paired": False, "items": None, "p_value": None}


def _usd(x: float | None) -> str:
    return "unknown" if x is None else f"${x:,.2f}"


def summary(r: dict[str, Any]) -> str:
    cur, cand, d, h = r["current"], r["candidate"], r["quality_difference"], r["hybrid"]
    unknown = [x["model"] for x in (cur, cand) if x["monthly_cost_usd"] is None]
    lines = []
    if unknown:
        lines.append(f"No known price for {' and '.join(unknown)}: give one with --prices FILE (LiteLLM's format), so "
                     "the costs below are unknown, not zero.")
    per = lambda x: (f"{x['input_tokens_per_request']:.0f} input and {x['output_tokens_per_request']:.0f} output "  # noqa: E731
                     "tokens per request")
    lines.append(f"For {r['monthly_requests']:,} requests a month like those of {r['task']}, {cur['model']} costs "
                 f"{_usd(cur['monthly_cost_usd'])} ({per(cur)}) and {cand['model']} {_usd(cand['monthly_cost_usd'])} "
                 f"({per(cand)}).")
    if r["monthly_savings_usd"] is not None:
        s = r["monthly_savings_usd"]
        lines.append(f"Switching {'saves' if s >= 0 else 'costs'} {_usd(abs(s))} a month"
                     + (f" ({100 * s / cur['monthly_cost_usd']:.0f}% of today's bill)." if cur["monthly_cost_usd"] else "."))
    pts = lambda x: f"{x * 100:+.1f}"  # noqa: E731
    how = f"paired on the {d['items']} items both answered" if d["paired"] else "from the two results' intervals"
    verdict = ("a real loss" if d["ci_high"] < 0 else "a real gain" if d["ci_low"] > 0 else
               "within the noise: the data do not show a difference")
    lines.append(f"On {r['task']}, {cand['model']} scores {cand['score'] * 100:.1f}% against {cur['score'] * 100:.1f}%: "
                 f"{pts(d['value'])} points (95% CI {pts(d['ci_low'])} to {pts(d['ci_high'])}, {how}), {verdict}.")
    if h["monthly_cost_usd"] is not None:
        lines.append(f"A hybrid sending {h['candidate_share'] * 100:.0f}% of requests to {cand['model']} would cost "
                     f"{_usd(h['monthly_cost_usd'])} a month and score about {h['expected_score'] * 100:.1f}%.")
    if r["monthly_savings_usd"] is not None and d["value"] < 0 and r["monthly_savings_usd"] > 0:
        lines.append(f"Break-even: each point of quality given up saves {_usd(r['monthly_savings_usd'] / (-d['value'] * 100))}"
                     " a month.")
    return " ".join(lines)
