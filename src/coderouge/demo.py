"""`coderouge demo`: the embedded model plus every API model whose key is set, on `business` and a
seeded ARC-Easy sample; prints the table, writes a report, and says what to do next."""

from __future__ import annotations

import argparse
import html
import json
import time
from pathlib import Path
from typing import Any

from .errors import DataNotFoundError, UsageError
from .evals import get_task
from .evals.run import evaluate_many
from .providers import api_models_with_keys, get_provider, provider_status
from .runner import RunConfig
from .store import Store

LOCAL = "local/gemma-3-270m"


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def run_demo(args: argparse.Namespace, config: RunConfig) -> int:
    from .cli import results_table

    status = {s.provider: s for s in provider_status()}
    models = list(args.models or [])
    if not models:
        if status["local"].usable:
            models.append(LOCAL)
        else:
            _say(f"note: the embedded model is not usable here ({status['local'].detail}); run 'make demo' to install it.")
        models += api_models_with_keys()
    if not models:
        raise UsageError("no model to run: install the embedded model (make demo) or set an API key (coderouge models)")
    for m in models:
        get_provider(m, base_url=config.base_url)

    _say("coderouge demo: the same work for every model, scored by programmatic checks.")
    _say(f"models: {', '.join(models)}")
    missing = [s for s in status.values() if s.provider in ("openai", "gemini", "anthropic") and not s.usable]
    tasks = [get_task("business").sample(args.business_limit, 1234)]
    _say(f"  business : {len(tasks[0].items)} realistic tasks (extract to JSON, classify, summarise, answer from a document,"
         " compute from a table, rewrite in a brand voice)")
    try:
        arc = get_task("arc_easy").sample(args.limit, 1234)
        tasks.append(arc)
        _say(f"  arc_easy : a seeded sample of {len(arc.items)} ARC-Easy science questions (multiple choice)")
    except DataNotFoundError as e:
        _say(f"  arc_easy : skipped: {e}")
    _say("")
    store = Store(args.store)
    t0 = time.perf_counter()
    results = evaluate_many(models, tasks, store, config)
    elapsed = time.perf_counter() - t0
    _say(results_table(results))
    _say("")
    _say("How to read this: score is the share of items passed (business) or answered correctly (arc_easy), with its 95%")
    _say("confidence interval; n items scored; errors are failed calls, never counted as answers; p50/p95 are latency")
    _say("per item, ttft the median time to first token; cost comes from the price table (local models cost $0).")
    if LOCAL in models:
        _say("Gemma 3 270M is a tiny base model: expect it near the bottom on business tasks; it is here so the")
        _say("demo runs with no key and no internet.")
    report = Path(args.report)
    write_report(report, results, elapsed)
    _say(f"\nfinished in {elapsed:.0f}s. Report: {report.resolve()}   Store: {store.location}")
    _say("\nNext:")
    if missing:
        keys = "; ".join(s.detail.replace("no key: ", "") for s in missing)
        _say(f"  - compare with the big vendors: {keys}; then run 'make demo' again")
    _say("  - add any model:      coderouge eval local/gemma-3-270m openai/gpt-4o-mini --task business")
    _say("  - your own tasks:     coderouge eval MODEL --task my_tasks.jsonl   (one JSON object per line, see README)")
    _say("  - what is usable now: coderouge models")
    _say(f"  - open the report:    {report}")
    return 0


def write_report(path: Path, results: list[Any], elapsed: float) -> None:
    from .cli import json_results

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        ci = f"{r.ci_low * 100:.1f}–{r.ci_high * 100:.1f}" if r.n else "—"
        val = f"{r.value * 100:.1f}%" if r.n else "—"
        cost = "n/a" if r.cost_usd is None else f"${r.cost_usd:.4f}"
        p50 = "—" if r.latency_p50_s is None else f"{r.latency_p50_s:.2f}s"
        p95 = "—" if r.latency_p95_s is None else f"{r.latency_p95_s:.2f}s"
        cells = [r.model, r.task, f"{r.metric} ({r.method})", val, ci, r.n, r.errors, p50, p95, r.input_tokens + r.output_tokens, cost]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["model", "task", "metric", "score", "95% CI", "n", "errors", "p50", "p95", "tokens", "cost"])
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>coderouge demo report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,td:nth-child(2),td:nth-child(3){{text-align:left}}</style>
</head><body><h1>coderouge demo</h1><p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} in {elapsed:.0f}s.</p>
<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
<script type="application/json" id="results">{html.escape(json.dumps(json_results(results)))}</script></body></html>"""
    path.write_text(doc, encoding="utf-8")
