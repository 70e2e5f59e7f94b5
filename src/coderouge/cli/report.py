"""`coderouge report`: every model's KPIs from the store, as one self-contained HTML page or as text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    r = sub.add_parser("report", parents=[common], help="KPIs of every model from the store: HTML, md, csv or json")
    r.add_argument("--out", help="write here (HTML: default reports/report.html; others: standard output)")
    r.add_argument("--models", nargs="+", metavar="MODEL", help="only these models")
    r.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks")
    r.add_argument("--since", metavar="DATE", help="only results from this date on (YYYY-MM-DD)")
    r.add_argument("--format", choices=("html", "md", "csv", "json"), default="html")
    r.set_defaults(handler=cmd_report)


def since_date(value: str | None) -> float | None:
    if value is None:
        return None
    import datetime

    try:
        return datetime.datetime.strptime(value, "%Y-%m-%d").timestamp()
    except ValueError:
        raise UsageError(f"--since {value}: give a date as YYYY-MM-DD") from None


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import kpi, kpi_render
    from ..store import Store

    since = since_date(args.since)
    with Store(args.store) as store:
        report = kpi.build(store, models=args.models, tasks=args.tasks, since=since)
    text = {"html": kpi_render.to_html, "md": kpi_render.to_markdown, "csv": kpi_render.to_csv,
            "json": kpi_render.to_json}[args.format](report)
    out = args.out or ("reports/report.html" if args.format == "html" else None)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"report: {path} ({len(report.models)} models, {len(report.tasks)} tasks)")
    return 0
