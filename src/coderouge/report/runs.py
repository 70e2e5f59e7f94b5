"""`coderouge runs` and `coderouge show`: past runs one line each, and one run item by item."""

from __future__ import annotations

import json
import time
from typing import Any

from ..errors import UsageError
from ..store import Store
from .text import render


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def list_runs(store: Store, *, model: str | None = None, task: str | None = None, since: float | None = None
              ) -> list[dict[str, Any]]:
    """Eval runs, arena runs (battles grouped by judge and prompt set) and load tests, newest first."""
    rows: list[dict[str, Any]] = []
    for r in store.eval_runs(model=model, task=task, since=since):
        res = r.result
        rows.append({"id": str(r.id), "kind": "eval", "created_at": r.created_at, "model": r.model, "task": r.task,
                     "metric": res.get("metric"), "score": res.get("value"), "ci_low": res.get("ci_low"),
                     "ci_high": res.get("ci_high"), "n": res.get("n"), "errors": res.get("errors"),
                     "cost_usd": res.get("cost_usd"), "duration_s": res.get("duration_s")})
    if task is None:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for b in store.battles(since=since):
            if model and model not in (b["model_a"], b["model_b"]):
                continue
            groups.setdefault((b["judge"], b["prompt_set"] or "-"), []).append(b)
        for (judge, pset), bs in groups.items():
            decided = [b for b in bs if b["winner"]]
            models = sorted({b["model_a"] for b in bs} | {b["model_b"] for b in bs})
            t0, t1 = min(b["created_at"] for b in bs), max(b["created_at"] for b in bs)
            rows.append({"id": f"arena:{judge}:{pset}", "kind": "arena", "created_at": t1, "model": ", ".join(models),
                         "task": f"battles ({pset}), judge {judge}", "metric": "decided", "score": None,
                         "ci_low": None, "ci_high": None, "n": len(decided), "errors": len(bs) - len(decided),
                         "cost_usd": None, "duration_s": round(t1 - t0, 3)})
        for s in store.stress_runs(since=since):
            if model and model not in (s.target, s.model):
                continue
            res = s.result
            rows.append({"id": f"stress:{s.id}", "kind": "stress", "created_at": s.created_at, "model": s.target,
                         "task": "load test" + (f" at {s.config['offered_rate']:g} req/s" if "offered_rate" in s.config
                                                else ""),
                         "metric": "ttft_p50_ms", "score": (res.get("ttft_ms") or {}).get("p50"), "ci_low": None,
                         "ci_high": None, "n": res.get("completed"),
                         "errors": (res.get("requests") or 0) - (res.get("completed") or 0), "cost_usd": None,
                         "duration_s": res.get("duration_s")})
    rows.sort(key=lambda r: -r["created_at"])
    return rows


def runs_text(rows: list[dict[str, Any]]) -> str:
    def score(r: dict[str, Any]) -> str:
        if r["score"] is None:
            return "—"
        if r["kind"] == "stress":
            return f"TTFT p50 {r['score']:.1f} ms"
        if str(r["metric"]).startswith("score_"):
            return f"{r['score']:.2f} ± {(r['ci_high'] - r['ci_low']) / 2:.2f}"
        return f"{r['score'] * 100:.1f}% ± {(r['ci_high'] - r['ci_low']) * 50:.1f}"

    table = [[r["id"], _when(r["created_at"]), r["model"], r["task"], score(r), str(r["n"] if r["n"] is not None else "—"),
              str(r["errors"] if r["errors"] is not None else "—"),
              "n/a" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}",
              "—" if r["duration_s"] is None else f"{r['duration_s']:.1f}s"] for r in rows]
    return render(["id", "when", "model", "task", "score", "n", "errors", "cost", "duration"], table,
                  right={4, 5, 6, 7, 8})


def _short(text: str | None, n: int = 160) -> str:
    if text is None:
        return "—"
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "…"


def prompt_text(request_json: str | None) -> str | None:
    if not request_json:
        return None
    try:
        msgs = json.loads(request_json).get("messages") or []
    except ValueError:
        return None
    users = [m for m in msgs if m.get("role") == "user"]
    m = users[-1] if users else (msgs[-1] if msgs else None)
    if m is None:
        return None
    c = m.get("content")
    return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if isinstance(p, dict))


def run_items(store: Store, run_id: str) -> tuple[Any, list[dict[str, Any]]]:
    if not run_id.isdigit():
        raise UsageError(f"{run_id}: give an eval run's number (coderouge runs lists them)")
    found = store.eval_runs(run_id=int(run_id))
    if not found:
        raise UsageError(f"no eval run {run_id} in the store {store.location} (coderouge runs lists them)")
    run = found[0]
    items = store.eval_items(run.id)
    calls = store.calls_by_key(i.call_key for i in items if i.call_key)
    out = []
    for i in items:
        c = calls.get(i.call_key) if i.call_key else None
        out.append({"item": i.item_id, "status": i.status, "score": i.score, "detail": i.detail,
                    "prompt": prompt_text(c.request_json) if c else None, "answer": c.text if c else None,
                    "error": (f"{c.error_kind}" + (f" (HTTP {c.error_status})" if c.error_status else "")
                              + (f": {c.error_message}" if c.error_message else "")) if c and c.status != "ok" else None,
                    "passed": i.status == "ok" and (i.score or 0) >= 1.0})
    return run, out


def show_json(store: Store, run_ids: list[str], failed: bool, item: str | None) -> dict[str, Any]:
    runs = []
    for rid in run_ids:
        run, items = run_items(store, rid)
        if item is not None:
            items = [x for x in items if x["item"] == item]
            if not items:
                raise UsageError(f"eval run {rid} has no item {item!r}")
        if failed:
            items = [x for x in items if not x["passed"]]
        runs.append({"id": run.id, "model": run.model, "task": run.task, "result": run.result, "items": items})
    return {"runs": runs}


def show_text(data: dict[str, Any]) -> str:
    runs = data["runs"]
    if len(runs) == 1:
        r = runs[0]
        res = r["result"]
        head = (f"eval run {r['id']}: {r['model']} on {r['task']}: {res.get('metric')} {res.get('value', 0) * 100:.1f}% "
                f"({res.get('n')} items, {res.get('errors')} failed)")
        blocks = [head]
        for x in r["items"]:
            mark = "PASS" if x["passed"] else ("ERROR" if x["status"] != "ok" else "FAIL")
            blocks.append(f"\n[{mark}] {x['item']}  score {x['score'] if x['score'] is not None else '—'}\n"
                          f"  prompt: {_short(x['prompt'])}\n  answer: {_short(x['answer'])}\n"
                          f"  check : {_short(x['error'] or x['detail'], 240)}")
        return "\n".join(blocks)
    a, b = runs
    ib = {x["item"]: x for x in b["items"]}
    rows = []
    differ = 0
    for x in a["items"]:
        y = ib.get(x["item"])
        if y is None:
            continue
        d = (x["score"] != y["score"]) or (x["status"] != y["status"])
        differ += d
        rows.append(["*" if d else "", x["item"], _fmt_score(x), _fmt_score(y), _short(x["answer"], 40),
                     _short(y["answer"], 40)])
    table = render(["", "item", f"run {a['id']}", f"run {b['id']}", f"{a['model']} answered", f"{b['model']} answered"],
                   rows)
    return (f"run {a['id']} ({a['model']}, {a['task']}) against run {b['id']} ({b['model']}, {b['task']}): "
            f"{len(rows)} items in common, {differ} differ (*)\n{table}")


def _fmt_score(x: dict[str, Any]) -> str:
    return "error" if x["status"] != "ok" else ("—" if x["score"] is None else f"{x['score']:g}")
