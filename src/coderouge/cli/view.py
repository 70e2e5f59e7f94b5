"""`coderouge view`: a local web viewer of the store (runs, items, comparisons, battles, the report)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    v = sub.add_parser("view", parents=[common], help="browse the store in a local web page: runs, items, battles")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000)
    v.set_defaults(handler=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    from ..report.viewer import serve

    serve(args.store, host=args.host, port=args.port)
    return 0
