"""`coderouge demo`: the embedded model plus every API model whose key is set, on `business` and a
seeded ARC-Easy sample; prints the table, writes a report, and says what to do next."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .common import positive_int, run_config, setup


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    d = sub.add_parser("demo", parents=[common, run_opts], help="compare the embedded model and every keyed API model")
    d.add_argument("--limit", type=positive_int, default=100,
                   help="items of every task, a seeded sample (default 100: all 50 business tasks, 100 ARC-Easy)")
    d.add_argument("--business-limit", type=positive_int, help="business items, when not --limit")
    d.add_argument("--max-tokens", type=positive_int, help="answer budget in tokens for every item (default: the task's)")
    d.add_argument("--report", default="reports/demo.html", help="where to write the HTML report (default reports/demo.html)")
    d.add_argument("--models", nargs="+", metavar="MODEL", help="models to compare instead of the default set")
    d.set_defaults(handler=cmd_demo)


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..evals.demo import LOCAL, demo_models, demo_tasks, missing_keys
    from ..evals.run import evaluate_many
    from ..providers import get_provider
    from ..report import kpi, kpi_render
    from ..report.results import results_table
    from ..store import Store

    setup(args)
    config = run_config(args)
    models, local_left_out = demo_models(args.models)
    if local_left_out:
        _say(f"note: the embedded model is not usable here ({local_left_out}); run 'make demo' to install it.")
    if not models:
        raise UsageError("no model to run: install the embedded model (make demo) or set an API key (coderouge models)")
    for m in models:
        get_provider(m, base_url=config.base_url)

    _say("coderouge demo: the same work for every model, scored by programmatic checks.")
    _say(f"models: {', '.join(models)}")
    missing = missing_keys()
    tasks, arc_skipped = demo_tasks(args.business_limit or args.limit, args.limit)
    tasks = [t.with_max_tokens(args.max_tokens) for t in tasks]
    _say(f"  business : {len(tasks[0].items)} realistic tasks (extract to JSON, classify, summarise, answer from a document,"
         " compute from a table, rewrite in a brand voice)")
    if arc_skipped:
        _say(f"  arc_easy : skipped: {arc_skipped}")
    else:
        _say(f"  arc_easy : a seeded sample of {len(tasks[1].items)} ARC-Easy science questions (multiple choice)")
    _say("")
    store = Store(args.store)
    t0 = time.perf_counter()
    results = evaluate_many(models, tasks, store, config)
    elapsed = time.perf_counter() - t0
    _say(results_table(results))
    cached = [r for r in results if r.cached]
    if cached:
        _say("* answered from the store, where an earlier run left them: the original calls' latency "
             "(--no-cache asks again)")
    _say("")
    _say("How to read this: score is the share of items passed (business) or answered correctly (arc_easy), with its 95%")
    _say("confidence interval; n items scored; errors are failed calls, never counted as answers; p50/p95 are latency")
    _say("per item, ttft the median time to first token; cost comes from the price table (local models cost $0).")
    if LOCAL in models:
        _say("Gemma 3 270M is a tiny base model: expect it near the bottom on business tasks; it is here so the")
        _say("demo runs with no key and no internet.")
    report = Path(args.report)  # the KPI report (coderouge report), of this demo's models and tasks
    page = kpi_render.to_html(kpi.build(store, models=list(models), tasks=sorted({r.task for r in results})),
                              title="coderouge demo")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(page, encoding="utf-8")
    _say(f"\nfinished in {elapsed:.0f}s. Report: {report.resolve()}   Store: {store.location}")
    _say("\nNext:")
    if missing:
        _say(f"  - compare with the big vendors: {'; '.join(missing)}; then run 'coderouge demo' again")
    _say("  - add any model:      coderouge eval local/gemma-3-270m openai/gpt-4o-mini --task business")
    _say("  - your own tasks:     coderouge eval MODEL --task my_tasks.jsonl   (one JSON object per line, see README)")
    _say("  - what is usable now: coderouge models")
    _say(f"  - open the report:    {report}   (or browse everything: coderouge view)")
    from .eval import all_failed_exit

    return all_failed_exit(results)
