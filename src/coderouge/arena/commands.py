"""The `coderouge arena …` commands: parse → one call → print."""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError
from ..providers import get_provider
from ..runner import RunConfig
from ..store import Store
from ..table import render


def arena_run(args: argparse.Namespace, run_config: RunConfig) -> int:
    from .prompts import load_prompts
    from .run import ArenaConfig, check_judge, run_arena

    prompts = load_prompts(args.prompts)
    for m in args.models:
        get_provider(m, base_url=args.base_url)
    check_judge(args.judge, prompts)
    if len(set(args.models)) < 2:
        raise UsageError("a battle needs at least two different models")
    cfg = ArenaConfig(battles=args.battles, judge=args.judge, sampling=args.sampling, seed=args.seed,
                      judge_prompt=args.judge_prompt, max_tokens=args.max_tokens)
    store = Store(args.store)
    s = run_arena(args.models, prompts, args.prompts, store, run_config, cfg)
    print(f"{s.planned} battles planned: {s.decided} judged now, {s.already} already in the store, "
          f"{s.answer_failures} skipped (a model's call failed), {s.judge_failures} without a verdict (judge failed)")
    for f in s.failures[:5]:
        print(f"  - {f}")
    print(f"store: {store.location}\nnext: coderouge arena ratings --judge {args.judge}")
    return 0


def arena_serve(args: argparse.Namespace) -> int:
    from .prompts import load_prompts
    from .web import serve

    prompts = load_prompts(args.prompts)
    if len(set(args.models)) < 2:
        raise UsageError("a battle needs at least two different models")
    for m in args.models:
        get_provider(m)
    Store(args.store).close()  # a bad store is refused before the server starts
    serve(args.store, args.models, prompts, host=args.host, port=args.port, min_vote_seconds=args.min_vote_seconds,
          prompt_set=args.prompts)
    return 0


def _records(args: argparse.Namespace) -> tuple[list[dict], str]:
    """Decided battles as clean_battle records: from --battles FILE, or from the store (optionally one judge's)."""
    from . import battles as bt
    from .battle_log import read_battles

    if getattr(args, "battle_file", None):
        recs = read_battles(args.battle_file)
        if not recs:
            raise UsageError(f"{args.battle_file}: no battles in the file")
        return recs, args.battle_file
    store = Store(args.store)
    try:
        recs = [b.clean_battle() for b in bt.list_battles(store, decided=True, judge=args.judge)]
    finally:
        store.close()
    where = f"the store ({store.location})" + (f", judge {args.judge}" if args.judge else "")
    if not recs:
        raise UsageError(f"no decided battles in {where}: run 'coderouge arena run …', vote on 'arena serve', or 'arena import FILE'")
    return recs, where


def _fmt(x: float) -> str:
    return "—" if x != x else f"{x:.0f}"


def arena_ratings(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import UnboundedRatingsError
    from .ratings import battles_from_records, online_elo, predicted_win_matrix, rate, style_control, win_rate_matrix

    recs, where = _records(args)
    a, b, outcome, models = battles_from_records(recs)
    if args.reg < 0:
        raise UsageError(f"--reg must be 0 or more, got {args.reg}")
    try:
        res = rate(a, b, outcome, models, rounds=args.bootstrap, seed=args.seed, reg=args.reg)
    except UnboundedRatingsError as e:
        raise UsageError(f"{str(e).split('; add battles')[0]}; add battles, or rate with --reg 0.01 (a ridge that keeps "
                         "such ratings finite)") from None
    elo = online_elo(a, b, outcome, models, k=args.k)
    styled = None
    if args.style_control:
        if any(r.get("len_a") is None or r.get("len_b") is None for r in recs):
            raise UsageError("--style-control needs the answer lengths (len_a, len_b) of every battle")
        styled = style_control(a, b, outcome, models, [r["len_a"] for r in recs], [r["len_b"] for r in recs], seed=args.seed)
    if args.json:
        out = res.to_json()
        elo_of = dict(zip(models, elo.tolist()))
        for row in out["ratings"]:
            row["elo"] = elo_of[row["model"]]
        if styled is not None:
            sc = dict(zip(models, styled.ratings.rating.tolist()))
            for row in out["ratings"]:
                row["rating_style_controlled"] = sc[row["model"]]
            out["style_coefficient"] = float(styled.coef[0])
        if args.matrix:
            out["win_rate"] = {"models": models, "matrix": [[None if v != v else v for v in row] for row in win_rate_matrix(a, b, outcome, models).tolist()]}
            out["predicted_win"] = {"models": models, "matrix": predicted_win_matrix(res.rating).tolist()}
        print(json.dumps(out, indent=2))
        return 0
    order = np.argsort(-res.rating, kind="stable")
    headers = ["rank", "model", "rating", "95% CI", "elo", "battles"] + (["length-controlled"] if styled else [])
    rows = []
    for k in order:
        row = [str(res.rank[k]), models[k], _fmt(res.rating[k]), f"{_fmt(res.ci_low[k])}–{_fmt(res.ci_high[k])}",
               _fmt(elo[k]), str(res.battles_per_model[k])]
        if styled:
            row.append(_fmt(styled.ratings.rating[k]))
        rows.append(row)
    print(f"{len(recs)} battles from {where}; Bradley-Terry (base 10, scale 400), {args.bootstrap} bootstrap rounds, "
          f"online Elo K={args.k:g}")
    print(render(headers, rows, right={0, 2, 3, 4, 5, 6}))
    if styled is not None:
        print(f"style control: length coefficient {styled.coef[0]:+.3f} (> 0: the longer answer tends to win)")
    if args.matrix:
        names = [models[k] for k in order]
        wr, pw = win_rate_matrix(a, b, outcome, models), predicted_win_matrix(res.rating)
        for title, m in (("observed win rate (row beats column)", wr), ("predicted win probability (row beats column)", pw)):
            print(f"\n{title}")
            print(render(["", *names], [[models[i], *["—" if i == j or m[i, j] != m[i, j] else f"{m[i, j]:.2f}" for j in order]] for i in order]))
    return 0


def arena_import(args: argparse.Namespace) -> int:
    from . import battles as bt
    from .battle_log import read_battles

    recs = read_battles(args.file)  # every record is checked before anything is written
    store = Store(args.store)
    with store.transaction():  # all or nothing
        for r in recs:
            bt.add_battle(store, source="import", judge=args.label, model_a=r["model_a"], model_b=r["model_b"],
                          prompt_id=str(r["question_id"]) if r.get("question_id") is not None else None,
                          winner=r["winner"], tstamp=float(r["tstamp"]), anony=bool(r["anony"]))
    print(f"imported {len(recs)} battles from {args.file} as judge '{args.label}' into {store.location}")
    return 0


def arena_export(args: argparse.Namespace) -> int:
    from .battle_log import write_battles

    recs, where = _records(args)
    n = write_battles(args.file, recs)
    print(f"exported {n} battles from {where} to {args.file}")
    return 0
