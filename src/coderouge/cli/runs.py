"""`coderouge runs` and `coderouge show`: look back at what was run, without running it again."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UsageError


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    r = sub.add_parser("runs", parents=[common], help="past eval, arena and stress runs, newest first")
    r.add_argument("--model")
    r.add_argument("--task")
    r.add_argument("--since", metavar="DATE", help="YYYY-MM-DD")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=cmd_runs)
    s = sub.add_parser("show", parents=[common], help="one eval run item by item; two runs side by side")
    s.add_argument("run_ids", nargs="+", metavar="RUN", help="an eval run's number (coderouge runs); two to compare")
    s.add_argument("--failed", action="store_true", help="only the items that did not pass")
    s.add_argument("--item", help="only this item")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_show)


def cmd_runs(args: argparse.Namespace) -> int:
    from ..report.runs import list_runs, runs_text
    from ..store import Store
    from .report import since_date

    with Store(args.store) as store:
        rows = list_runs(store, model=args.model, task=args.task, since=since_date(args.since))
    if not rows:
        raise UsageError("no runs in the store" + (" matching the filters" if (args.model or args.task or args.since)
                                                   else ": run coderouge eval, arena or stress first"))
    print(json.dumps({"runs": rows}, indent=2) if args.json else runs_text(rows))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..report.runs import show_json, show_text
    from ..store import Store

    if len(args.run_ids) > 2:
        raise UsageError("show takes one run, or two to line up side by side")
    with Store(args.store) as store:
        data = show_json(store, args.run_ids, args.failed, args.item)
    print(json.dumps(data, indent=2) if args.json else show_text(data))
    return 0
