"""The `coderouge` command: one module per command group (eval, compare, models, demo, arena); each
command parses, calls one function, prints. `main` (the console script) dispatches and turns errors
into one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import CoderougeError, UsageError
from . import arena, compare, demo, eval, keys, models, report, roi, runs, serve, stress, view
from .common import Parser, common_options, run_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    common, run_opts = common_options(), run_options()
    p = Parser(prog="coderouge", description="Compare LLMs on your work: quality, latency, cost.")
    p.add_argument("--version", action="version", version=f"coderouge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for group in (eval, models, demo, compare, arena, serve, keys, stress, report, roi, runs, view):  # the order --help lists them in
        group.add_parser(sub, common, run_opts)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("CODEROUGE_DEBUG") == "1"
    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader went away (`coderouge runs | head -1`): stop quietly, as Unix tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit would raise again
        except OSError:
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a tool its pipe closed on
    except KeyboardInterrupt:
        sys.stderr.write("\ncoderouge: interrupted; every answer received so far is saved in the store. "
                         "Run the same command again to resume.\n")
        return 130
    except CoderougeError as e:
        if debug:
            raise
        from ..secrets import redact

        sys.stderr.write(f"coderouge: error: {redact(str(e))}\n")
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
