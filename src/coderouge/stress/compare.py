"""`stress --compare A B …`: the targets under the same load, interleaved run by run (A B C, then B C A,
…, so that a slow minute of the machine does not fall on one target), `repeat` runs each. Each run
gives its p50/p95 TTFT and end-to-end latency; the difference of each target from the first is averaged
over the repeats with a Student's t 95% interval, and called beyond run-to-run noise when that interval
excludes zero."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..stats import t_ci
from . import session as S
from .run import Load

STATS = (("ttft_ms", "p50"), ("ttft_ms", "p95"), ("e2e_ms", "p50"), ("e2e_ms", "p95"))


async def compare(targets: list[str], load: Load, opts: S.Options, repeat: int, store: Any) -> dict[str, Any]:
    made = []
    for t in targets:  # every target is checked before any load is sent
        made.append(await S.make_target(t, opts))
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    try:
        for r in range(repeat):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                obj, model = made[targets.index(t)]
                res, samples = await S.stress_once(obj, t, model, replace(load, seed=load.seed + r), opts,
                                                   label=f"{t} run {r + 1}/{repeat}: ")
                res["run_id"] = store.save_stress(t, model, {**S.config_of(load, opts), "compare": targets,
                                                             "repeat": r}, res, S.request_rows(samples, 0.0))
                runs[t].append(res)
    finally:
        for obj, _ in made:
            await obj.__aexit__(None, None, None)
    base = targets[0]
    rows = []
    for t in targets:
        row: dict[str, Any] = {"target": t, "runs": len(runs[t]), "run_ids": [x["run_id"] for x in runs[t]],
                               "errors": sum(sum(x["errors"].values()) for x in runs[t]),
                               "request_rate": _mean([x["request_rate"] for x in runs[t]])}
        for metric, p in STATS:
            vals = [x[metric][p] for x in runs[t]]
            row[f"{metric[:-3]}_{p}_ms"] = _mean(vals)
            if t != base:
                diffs = [a - b for a, b in zip(vals, [x[metric][p] for x in runs[base]])
                         if a is not None and b is not None]
                ci = t_ci(diffs)
                row[f"{metric[:-3]}_{p}_diff_ms"] = {
                    "mean": round(sum(diffs) / len(diffs), 3) if diffs else None,
                    "ci_low": round(ci[1], 3) if ci else None, "ci_high": round(ci[2], 3) if ci else None,
                    "beyond_noise": bool(ci and (ci[1] > 0 or ci[2] < 0))}
        rows.append(row)
    return {"baseline": base, "repeat": repeat, "load": load.describe(), "targets": rows}


def _mean(vals: list[Any]) -> float | None:
    xs = [v for v in vals if v is not None]
    return round(sum(xs) / len(xs), 3) if xs else None
