"""What every command shares: the parser class, argument types, the shared options, the run config."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..report.progress import Progress

if TYPE_CHECKING:  # the call path (providers, store) is imported only by commands that call models
    from ..calls import RunConfig


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2
        sys.stderr.write(f"coderouge: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}")
    return v


def common_options() -> argparse.ArgumentParser:
    """--store and --debug: every command that reads or writes the store."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="the store: a path or sqlite:///PATH, or postgresql://USER:PASS@HOST:PORT/DB (default: $CODEROUGE_STORE, else ~/.local/share/coderouge/store.db)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    return common


def run_options() -> argparse.ArgumentParser:
    """How model calls are made: every command that calls models."""
    run_opts = argparse.ArgumentParser(add_help=False)
    run_opts.add_argument("--concurrency", type=positive_int, help="requests in flight per provider (default: the provider's)")
    run_opts.add_argument("--timeout", type=positive_float, default=300.0, help="seconds per request (default 300)")
    run_opts.add_argument("--retries", type=int, default=6, help="retries for retryable errors (default 6)")
    run_opts.add_argument("--base-url", help="base URL for openai/ models (any OpenAI-compatible server)")
    run_opts.add_argument("--no-cache", action="store_true", help="ask the models again even if the store has the answer")
    run_opts.add_argument("--prices", action="append", help="LiteLLM-format price table (file or URL) overriding built-in prices")
    return run_opts


def run_config(args: argparse.Namespace) -> RunConfig:
    """The run options as a RunConfig; the progress bar (on standard error, when it is a terminal) is ours."""
    from ..calls import RunConfig

    if args.retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {args.retries}")
    return RunConfig(concurrency=args.concurrency, timeout_s=args.timeout, max_retries=args.retries,
                     base_url=args.base_url, use_cache=not args.no_cache, progress_factory=Progress)


def setup(args: argparse.Namespace) -> None:
    from ..providers import pricing

    if getattr(args, "prices", None):
        pricing.set_overrides(args.prices)
    if getattr(args, "unsafe_sandbox", False):
        os.environ["CODEROUGE_UNSAFE_SANDBOX"] = "1"  # read by evals/sandbox.py before any code task loads
