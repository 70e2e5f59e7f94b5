"""`coderouge serve --config gateway.yaml`: the OpenAI-compatible gateway (uvicorn)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import UsageError


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    s = sub.add_parser("serve", parents=[common], help="the gateway: one OpenAI-compatible endpoint in front of every model")
    s.add_argument("--config", required=True, help="the gateway's YAML configuration (routes, redaction, limits, breaker)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--explain", action="store_true",
                   help="print each route's order of deployments and why (cheapest: the measured scores), then exit")
    s.add_argument("--no-keys", action="store_true", help="serve without API keys (loopback addresses only)")
    s.add_argument("--prices", action="append", help="LiteLLM-format price table (file or URL) overriding built-in prices")
    s.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..gateway.config import load_config
    from ..gateway.server import explain, serve
    from ..store import Store
    from .common import setup

    setup(args)
    config = load_config(args.config)
    store = Store(args.store)
    if args.explain:
        print(explain(config, store))
        store.close()
        return 0
    if args.no_keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError("--no-keys serves anyone who can connect: only on a loopback address (--host 127.0.0.1)")
    serve(config, store, host=args.host, port=args.port, require_keys=not args.no_keys, say=lambda m: print(m, flush=True),
          warn=lambda m: print(f"warning: {m}", file=sys.stderr, flush=True))
    return 0
