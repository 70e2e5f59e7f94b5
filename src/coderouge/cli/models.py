"""`coderouge models`: which providers are usable now, and if not, why."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    m = sub.add_parser("models", parents=[common], help="list providers and whether each is usable now")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from ..providers import provider_status
    from ..report.results import providers_json, providers_text

    st = provider_status()
    print(json.dumps(providers_json(st), indent=2) if args.json else providers_text(st))
    return 0
