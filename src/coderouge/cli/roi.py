"""`coderouge roi`: the monthly cost of the current model, a candidate and a hybrid, and the quality it buys."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import positive_int


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    r = sub.add_parser("roi", parents=[common], help="what switching models saves per month, and what it costs in quality")
    r.add_argument("--current", required=True, metavar="MODEL")
    r.add_argument("--candidate", required=True, metavar="MODEL")
    r.add_argument("--task", help="the task both were evaluated on (a built-in name or a .jsonl file, as in eval)")
    r.add_argument("--monthly-requests", type=positive_int, default=100_000, help="default 100,000")
    r.add_argument("--hybrid", type=float, default=0.5, help="the candidate's share of a hybrid split (default 0.5)")
    r.add_argument("--prices", action="append", help="LiteLLM-format price table (file or URL) overriding built-in prices")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=cmd_roi)


def cmd_roi(args: argparse.Namespace) -> int:
    from ..providers import pricing
    from ..report.roi import roi
    from ..store import Store

    if args.prices:
        pricing.set_overrides(args.prices)
    with Store(args.store) as store:
        out = roi(store, args.current, args.candidate, task=args.task, monthly_requests=args.monthly_requests,
                  hybrid=args.hybrid)
    print(json.dumps(out, indent=2) if args.json else out["summary"])
    return 0
