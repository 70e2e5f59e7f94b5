"""`coderouge compare`: a paired comparison of two models on the same items."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UsageError
from .common import positive_int, run_config, setup


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    c = sub.add_parser("compare", parents=[common, run_opts], help="paired comparison of two models on the same items")
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    c.add_argument("--task", required=True, help="a task name or a .jsonl task file")
    c.add_argument("--limit", type=positive_int, help="a seeded sample of N items")
    c.add_argument("--seed", type=int, default=1234)
    c.add_argument("--method", choices=["loglikelihood", "letter"], help="multiple-choice scoring method")
    c.add_argument("--bootstrap", type=positive_int, default=10000, help="paired-bootstrap rounds (default 10000)")
    c.add_argument("--json", action="store_true")
    c.add_argument("--output", metavar="FILE", help="also write the comparison to FILE (.json or .csv)")
    c.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from ..evals import get_task
    from ..evals.compare import compare_models
    from ..providers import get_provider
    from ..report.results import comparison_text
    from ..store import Store

    setup(args)
    from ..report.output import check_path, write_rows

    out_path = check_path(args.output)
    if args.model_a == args.model_b:
        raise UsageError("compare needs two different models")
    task = get_task(args.task).sample(args.limit, args.seed)
    for mdl in (args.model_a, args.model_b):
        get_provider(mdl, base_url=args.base_url)
    c = compare_models(args.model_a, args.model_b, task, Store(args.store), run_config(args), method=args.method,
                       rounds=args.bootstrap, seed=args.seed)
    print(json.dumps(c.to_json(), indent=2) if args.json else comparison_text(c))
    if out_path is not None:
        write_rows(out_path, {**c.to_json(), "sentence": c.sentence()}, [{**c.to_json(), "sentence": c.sentence()}])
    return 0
