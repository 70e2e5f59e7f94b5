"""`coderouge arena run | serve | ratings | import | export`: parse, call one function, print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from .common import Parser, positive_float, positive_int, run_config, setup


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    a = sub.add_parser("arena", help="pairwise battles, judges, voting page and ratings")
    asub = a.add_subparsers(dest="arena_command", metavar="ARENA_COMMAND", parser_class=Parser)
    asub.required = True
    ar = asub.add_parser("run", parents=[common, run_opts], help="battle models on a prompt set and judge them")
    ar.add_argument("models", nargs="+", metavar="MODEL")
    ar.add_argument("--prompts", required=True, help="mt_bench, business, or a .jsonl file of prompts")
    ar.add_argument("--judge", required=True, help="reference, llm:MODEL, or human (the voting page: arena serve)")
    ar.add_argument("--judge-prompt", help="the LLM judge's prompt: coderouge (default) or mt_bench (MT-Bench's pair-v2)")
    ar.add_argument("--battles", type=positive_int, default=100, help="battles to plan (default 100)")
    ar.add_argument("--sampling", choices=["uniform", "adaptive"], default="uniform",
                    help="pair sampling: uniform, or adaptive (favour pairs whose outcome narrows the intervals most)")
    ar.add_argument("--seed", type=int, default=0)
    ar.add_argument("--max-tokens", type=positive_int, default=1024, help="answer budget per model (default 1024)")
    ar.set_defaults(handler=arena_run)
    sv = asub.add_parser("serve", parents=[common], help="the voting page for people (127.0.0.1 by default)")
    sv.add_argument("models", nargs="+", metavar="MODEL")
    sv.add_argument("--prompts", required=True, help="mt_bench, business, or a .jsonl file of prompts")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--min-vote-seconds", type=float, default=3.0, help="votes sooner than this after the answers are shown are refused")
    sv.add_argument("--battles-per-minute", type=positive_int, default=10, help="new battles per visitor address (default 10)")
    sv.add_argument("--votes-per-minute", type=positive_int, default=20, help="votes per visitor address (default 20)")
    sv.add_argument("--budget-usd", type=_budget, default=5.0,
                    help="stop starting battles once the answers have cost this much (default 5; 'none': no cap)")
    sv.add_argument("--max-battles", type=positive_int, help="battles this server may start in all")
    sv.add_argument("--max-tokens", type=positive_int, default=1024, help="answer budget per model (default 1024)")
    sv.add_argument("--prices", action="append", help="LiteLLM-format price table (file or URL) overriding built-in prices")
    sv.set_defaults(handler=arena_serve)
    rt = asub.add_parser("ratings", parents=[common], help="Bradley-Terry and Elo ratings with bootstrap intervals")
    rt.add_argument("--battles", dest="battle_file", metavar="FILE", help="rate a FastChat clean_battle JSON file instead of the store")
    rt.add_argument("--judge", help="only battles decided by this judge (human, reference, llm:MODEL, or an import label)")
    rt.add_argument("--bootstrap", type=positive_int, default=100, help="bootstrap rounds (default 100)")
    rt.add_argument("--seed", type=int, default=0)
    rt.add_argument("--k", type=positive_float, default=4.0, help="online Elo K factor (default 4)")
    rt.add_argument("--reg", type=float, default=0.0,
                    help="ridge regularisation of the Bradley-Terry fit (default 0: plain maximum likelihood, as Chatbot Arena)")
    rt.add_argument("--style-control", action="store_true", help="control for answer length (needs answer lengths)")
    rt.add_argument("--matrix", action="store_true", help="also print the win-rate and predicted win-probability matrices")
    rt.add_argument("--json", action="store_true")
    rt.add_argument("--output", metavar="FILE", help="also write the ratings to FILE (.json or .csv)")
    rt.set_defaults(handler=arena_ratings)
    im = asub.add_parser("import", parents=[common], help="import a FastChat clean_battle JSON file into the store")
    im.add_argument("file")
    im.add_argument("--label", default="import", help="the judge label the imported battles get (default import)")
    im.set_defaults(handler=arena_import)
    ex = asub.add_parser("export", parents=[common], help="export decided battles as FastChat clean_battle JSON")
    ex.add_argument("file")
    ex.add_argument("--judge", help="only battles decided by this judge")
    ex.set_defaults(handler=arena_export)


def arena_run(args: argparse.Namespace) -> int:
    from ..arena.prompts import load_prompts
    from ..arena.run import ArenaConfig, check_judge, run_arena
    from ..providers import get_provider
    from ..report.arena import run_summary
    from ..store import Store

    setup(args)
    config = run_config(args)
    prompts = load_prompts(args.prompts)
    for m in args.models:
        get_provider(m, base_url=args.base_url)
    check_judge(args.judge, prompts)
    if len(set(args.models)) < 2:
        raise UsageError("a battle needs at least two different models")
    cfg = ArenaConfig(battles=args.battles, judge=args.judge, sampling=args.sampling, seed=args.seed,
                      judge_prompt=args.judge_prompt, max_tokens=args.max_tokens)
    store = Store(args.store)
    s = run_arena(args.models, prompts, args.prompts, store, config, cfg)
    print(run_summary(s, store.location, args.judge))
    todo = s.planned - s.already
    if todo > 0 and s.decided == 0:  # every battle failed (answers or verdicts): a CI job must not pass on it
        sys.stderr.write("coderouge: no battle was decided: every answer or every verdict failed (see above)\n")
        return 1
    return 0


def _budget(value: str) -> float | None:
    if value.strip().lower() in ("none", "off", "no"):
        return None
    return positive_float(value)


def arena_serve(args: argparse.Namespace) -> int:
    from ..arena.prompts import load_prompts
    from ..arena.web import ArenaLimits, serve
    from ..providers import get_provider
    from ..store import Store

    setup(args)
    prompts = load_prompts(args.prompts)
    if len(set(args.models)) < 2:
        raise UsageError("a battle needs at least two different models")
    for m in args.models:
        get_provider(m)
    Store(args.store).close()  # a bad store is refused before the server starts
    limits = ArenaLimits(battles_per_minute=args.battles_per_minute, votes_per_minute=args.votes_per_minute,
                         budget_usd=args.budget_usd, max_battles=args.max_battles)
    serve(args.store, args.models, prompts, host=args.host, port=args.port, min_vote_seconds=args.min_vote_seconds,
          prompt_set=args.prompts, max_tokens=args.max_tokens, limits=limits)
    return 0


def arena_ratings(args: argparse.Namespace) -> int:
    from ..arena.leaderboard import leaderboard
    from ..errors import UnboundedRatingsError
    from ..report.arena import ratings_json, ratings_text

    from ..report.output import check_path, write_rows

    out_path = check_path(args.output)
    if args.reg < 0:
        raise UsageError(f"--reg must be 0 or more, got {args.reg}")
    try:
        board = leaderboard(args.store, args.battle_file, args.judge, rounds=args.bootstrap, seed=args.seed, k=args.k,
                            reg=args.reg, style_control=args.style_control, matrices=args.matrix)
    except UnboundedRatingsError as e:
        raise UsageError(f"{str(e).split('; add battles')[0]}; add battles, or rate with --reg 0.01 (a ridge that keeps "
                         "such ratings finite)") from None
    print(json.dumps(ratings_json(board), indent=2) if args.json else ratings_text(board, args.bootstrap, args.k))
    if out_path is not None:
        data = ratings_json(board)
        write_rows(out_path, data, data["ratings"])
    return 0


def arena_import(args: argparse.Namespace) -> int:
    from ..arena.records import import_battles

    n, location = import_battles(args.store, args.file, args.label)
    print(f"imported {n} battles from {args.file} as judge '{args.label}' into {location}")
    return 0


def arena_export(args: argparse.Namespace) -> int:
    from ..arena.records import export_battles

    n, where = export_battles(args.store, args.file, args.judge)
    print(f"exported {n} battles from {where} to {args.file}")
    return 0
