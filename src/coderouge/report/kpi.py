"""The KPIs of every model, read from the store: what `coderouge report` shows in every format.

Per model: the latest eval result on each task (score, 95% interval, items, method, shots, date), the
arena's Bradley-Terry rating with its bootstrap interval, rank and win rate, latency and time to first
token from its calls, output tokens per second, failed calls, the latest load test of it, cost per
1,000 requests and cost per correct answer. Beside them: the paired comparisons of every two models
evaluated on the same task's items, the ramps of `stress --ramp`, and where every number came from.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..store import Store


def _pct(xs: list[float], q: float) -> float | None:
    return float(np.percentile(xs, q)) if xs else None


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


@dataclass
class Report:
    models: list[dict[str, Any]]
    tasks: list[str]
    arena: dict[str, Any] | None
    comparisons: list[dict[str, Any]]
    ramps: list[dict[str, Any]]
    stress_runs: list[dict[str, Any]]
    latencies: dict[str, list[float]]  # per model: call latencies (s), for the distributions
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"models": self.models, "tasks": self.tasks, "arena": self.arena, "comparisons": self.comparisons,
                "ramps": self.ramps, "provenance": self.provenance}


def build(store: Store, *, models: list[str] | None = None, tasks: list[str] | None = None,
          since: float | None = None, rounds: int = 100) -> Report:
    runs = store.eval_runs(since=since)
    latest: dict[tuple[str, str], Any] = {}
    for r in runs:  # newest first: the first seen is the latest
        if (models and r.model not in models) or (tasks and r.task not in tasks):
            continue
        latest.setdefault((r.model, r.task), r)
    battles = store.battles(decided=True, since=since)
    stress = [s for s in store.stress_runs(since=since) if not models or s.target in models or s.model in models]
    if not latest and not battles and stress and not any(s.result.get("completed") for s in stress):
        raise UsageError(f"nothing to report in the store {store.location}: its load tests had no successful request "
                         "(coderouge stress … --json shows their errors)")
    rated = {b["model_a"] for b in battles} | {b["model_b"] for b in battles}
    evaluated = {m for m, _ in latest}
    names = set(models or []) | evaluated
    if not models:
        names |= rated | {s.target for s in stress if "ramp" not in s.config and "compare" not in s.config}
    if not names or not (latest or battles or stress):
        where = ("" if not (models or tasks or since) else " matching " + ", ".join(
            x for x in ([f"models {', '.join(models)}"] if models else []) + ([f"tasks {', '.join(tasks)}"] if tasks
                                                                              else []) + (["--since"] if since else [])))
        raise UsageError(f"nothing to report in the store {store.location}{where}: run coderouge eval, arena or stress "
                         "first")
    if models:
        missing = [m for m in models if m not in evaluated | rated | {s.target for s in stress}]
        if missing:
            raise UsageError(f"no results in the store for {', '.join(missing)}")
    if tasks:
        missing = [t for t in tasks if t not in {k for _, k in latest}]
        if missing:
            raise UsageError(f"no eval results in the store for task {', '.join(missing)}")
    task_names = sorted({t for _, t in latest})
    timings = store.call_timings(models=sorted(names), since=since)
    arena = _arena(battles, sorted(names) if models else None, rounds)
    out = []
    latencies: dict[str, list[float]] = {}
    for m in sorted(names):
        row: dict[str, Any] = {"model": m, "tasks": {}}
        total_cost, total_correct, priced = 0.0, 0.0, True
        for t in task_names:
            r = latest.get((m, t))
            if r is None:
                continue
            res = r.result
            share = not str(res.get("metric", "")).startswith("score_")
            row["tasks"][t] = {"score": _r(res.get("value")), "ci_low": _r(res.get("ci_low")),
                               "ci_high": _r(res.get("ci_high")), "n": res.get("n"), "errors": res.get("errors"),
                               "metric": res.get("metric"), "method": res.get("method"), "shots": res.get("shots"),
                               "run_id": r.id, "date": time.strftime("%Y-%m-%d", time.localtime(r.created_at)),
                               "cost_usd": _r(res.get("cost_usd"))}
            if share and res.get("n"):
                if res.get("cost_usd") is None:
                    priced = False
                else:
                    total_cost += float(res["cost_usd"])
                total_correct += float(res.get("value") or 0) * int(res["n"])
        tm = timings.get(m)
        ok = [i for i, s in enumerate(tm["status"]) if s == "ok"] if tm else []
        lat = [tm["latency_s"][i] for i in ok if tm["latency_s"][i] is not None] if tm else []
        ttft = [tm["ttft_s"][i] for i in ok if tm["ttft_s"][i] is not None] if tm else []
        speed = []
        for i in ok:
            o, la, tf = tm["output_tokens"][i], tm["latency_s"][i], tm["ttft_s"][i]  # type: ignore[index]
            if o and la is not None and tf is not None and la - tf > 0 and o > 1:
                speed.append((o - 1) / (la - tf))
        costs = [tm["cost_usd"][i] for i in ok] if tm else []
        latencies[m] = lat
        row.update({
            "requests": len(tm["status"]) if tm else 0, "errors": (len(tm["status"]) - len(ok)) if tm else 0,
            "latency_p50_s": _r(_pct(lat, 50)), "latency_p95_s": _r(_pct(lat, 95)), "ttft_p50_s": _r(_pct(ttft, 50)),
            "output_tokens_per_s": _r(_pct(speed, 50), 3),
            "cost_per_1k_requests_usd": _r(1000 * sum(costs) / len(costs)) if costs and None not in costs else None,
            "cost_per_correct_usd": _r(total_cost / total_correct) if priced and total_correct > 0 else None,
        })
        if arena and m in arena["index"]:
            a = arena["ratings"][arena["index"][m]]
            row.update({"rating": a["rating"], "rating_ci_low": a["ci_low"], "rating_ci_high": a["ci_high"],
                        "rank": a["rank"], "win_rate": a["win_rate"], "battles": a["battles"]})
        else:
            row.update({"rating": None, "rating_ci_low": None, "rating_ci_high": None, "rank": None, "win_rate": None,
                        "battles": 0})
        st = next((s for s in stress if s.target == m and "ramp" not in s.config), None)
        if st is not None and st.result.get("completed"):
            latencies[f"{m} (load test {st.id})"] = [r["e2e_s"] for r in store.stress_requests(st.id)
                                                     if r["error"] is None and r["e2e_s"] is not None]
            row.update({"stress_run": st.id, "stress_ttft_p50_ms": st.result["ttft_ms"]["p50"],
                        "stress_e2e_p95_ms": st.result["e2e_ms"]["p95"],
                        "stress_request_rate": st.result["request_rate"]})
        out.append(row)
    comparisons = _comparisons(store, latest)
    ramps = _ramps(stress)
    from ..providers import pricing

    provenance = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "coderouge_version": __version__,
                  "store": store.location, "price_table_checked": getattr(pricing, "CHECKED", None),
                  "arena": {"battles": len(battles), "method": "Bradley-Terry (maximum likelihood), 95% bootstrap "
                            f"intervals over {rounds} rounds"} if battles else None}
    return Report(out, task_names, arena and {k: v for k, v in arena.items() if k != "index"}, comparisons, ramps,
                  [{"id": s.id, "target": s.target, **{k: s.result.get(k) for k in ("ttft_ms", "e2e_ms", "request_rate")}}
                   for s in stress], latencies, provenance)


def _arena(battles: list[dict[str, Any]], models: list[str] | None, rounds: int) -> dict[str, Any] | None:
    from ..arena import ratings as R
    from ..errors import UnboundedRatingsError

    recs = [(b["model_a"], b["model_b"], b["winner"]) for b in battles
            if not models or (b["model_a"] in models and b["model_b"] in models)]
    if not recs:
        return None
    a, b, outcome, names = R.battles_from_records(recs)
    try:
        res = R.rate(a, b, outcome, names, rounds=rounds, seed=0)
        reg = 0.0
    except UnboundedRatingsError:
        reg = 0.01
        res = R.rate(a, b, outcome, names, rounds=rounds, seed=0, reg=reg)
    wins = np.zeros(len(names))
    played = np.zeros(len(names))
    for i, j, o in zip(a, b, outcome):
        wins[i] += o
        wins[j] += 1 - o
        played[i] += 1
        played[j] += 1
    matrix = R.win_rate_matrix(a, b, outcome, names)
    ratings = [{"model": m, "rating": _r(res.rating[k], 2), "ci_low": _r(res.ci_low[k], 2),
                "ci_high": _r(res.ci_high[k], 2), "rank": int(res.rank[k]), "battles": int(played[k]),
                "win_rate": _r(wins[k] / played[k], 4) if played[k] else None} for k, m in enumerate(names)]
    return {"models": list(names), "ratings": ratings, "index": {m: k for k, m in enumerate(names)},
            "win_rate_matrix": [[_r(x, 4) for x in row] for row in np.asarray(matrix, dtype=float)],
            "battles": len(recs), "ridge": reg}


def _comparisons(store: Store, latest: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """Every two models with results on the same task: the paired comparison on their common items."""
    from ..evals.compare import compare

    by_task: dict[str, list[Any]] = {}
    for (m, t), r in latest.items():
        by_task.setdefault(t, []).append(r)
    out = []
    for t, rs in sorted(by_task.items()):
        if len(rs) < 2 or len(rs) > 12:  # all pairs of up to 12 models per task
            continue
        loaded = {r.id: SimpleNamespace(task=t, model=r.model, metric=r.result.get("metric"),
                                        method=r.result.get("method"), shots=r.result.get("shots"),
                                        prompt_format=r.result.get("prompt_format"), items=store.eval_items(r.id))
                  for r in rs}
        for ra, rb in itertools.combinations(sorted(rs, key=lambda r: r.model), 2):
            try:
                c = compare(loaded[ra.id], loaded[rb.id], rounds=2000)  # type: ignore[arg-type]
            except ValueError:
                continue  # no item in common
            out.append({**{k: (round(v, 6) if isinstance(v, float) else v) for k, v in c.to_json().items()},
                        "sentence": c.sentence()})
    return out


def _ramps(stress: list[Any]) -> list[dict[str, Any]]:
    """TTFT against the offered rate, per target, from `stress --ramp` runs (the latest ramp of each)."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for s in stress:
        if "ramp" in s.config:
            groups.setdefault((s.target, str(s.config["ramp"])), []).append(s)
    seen: set[str] = set()
    out = []
    for (target, _), runs in groups.items():  # newest first
        if target in seen:
            continue
        seen.add(target)
        pts = sorted((s.config.get("offered_rate"), s.result["ttft_ms"]["p50"], s.result["goodput"]["rate"])
                     for s in runs if s.config.get("offered_rate") is not None)
        out.append({"target": target, "points": [{"offered_rate": r, "ttft_p50_ms": t, "goodput_rate": g}
                                                 for r, t, g in pts]})
    return out
