"""`coderouge stress TARGET`: a load test of an OpenAI-compatible server or a coderouge model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from .common import positive_float, positive_int


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    s = sub.add_parser("stress", parents=[common], help="load test an endpoint: TTFT, TPOT, ITL, latency, goodput",
                       description="Load test a base URL of any OpenAI-compatible server (a coderouge gateway, vLLM, "
                                   "llama.cpp's server, a vendor) or a coderouge model (provider/model).")
    s.add_argument("targets", nargs="*", metavar="TARGET", help="http://HOST:PORT/v1 or provider/model "
                                                                "(several with --compare; none with --gateway)")
    s.add_argument("--model", help="the model's name on the server (default: its only model)")
    s.add_argument("--api-key-env", metavar="VAR", help="the environment variable that holds the server's API key")
    load = s.add_argument_group("load")
    load.add_argument("--concurrency", type=positive_int, help="a closed loop: N requests always in flight")
    load.add_argument("--rate", type=positive_float, help="open-loop arrivals, requests per second")
    load.add_argument("--burstiness", type=positive_float, default=1.0,
                      help="gamma spacing of arrivals: 1 Poisson (default), <1 burstier, >1 more even (as vLLM)")
    load.add_argument("--max-concurrency", type=positive_int, help="a cap on requests in flight with --rate")
    load.add_argument("--requests", type=positive_int, help="stop after N requests (after the warm-up)")
    load.add_argument("--duration", type=positive_float, help="stop sending after S seconds")
    load.add_argument("--warmup", type=int, default=0, help="N requests first, not counted")
    load.add_argument("--ramp", help="comma-separated rates to step through (e.g. 1,2,4,8): goodput per step and "
                                     "the knee, where it stops growing")
    load.add_argument("--seed", type=int, default=0)
    pr = s.add_argument_group("prompts")
    pr.add_argument("--prompts", metavar="FILE", help="JSONL: {\"prompt\": …} or {\"messages\": […]} per line "
                                                     "(default: a built-in set)")
    pr.add_argument("--input-tokens", type=positive_int, help="synthetic prompts of about N tokens")
    pr.add_argument("--output-tokens", type=positive_int, default=128, help="max_tokens asked for (default 128)")
    pr.add_argument("--range-ratio", type=float, default=0.0, help="lengths drawn uniformly within ±R of the given")
    pr.add_argument("--ignore-eos", action="store_true", help="ask for exactly max_tokens tokens (vLLM's ignore_eos)")
    slo = s.add_argument_group("service levels (goodput)")
    slo.add_argument("--slo-ttft-ms", type=positive_float)
    slo.add_argument("--slo-tpot-ms", type=positive_float)
    slo.add_argument("--slo-e2e-ms", type=positive_float)
    ch = s.add_argument_group("faults")
    ch.add_argument("--gateway", metavar="CONFIG", help="load a coderouge gateway served here from this configuration "
                                                        "(for --chaos: its deployments get the faults)")
    ch.add_argument("--route", help="with --gateway: the route to load (default: its only route)")
    ch.add_argument("--chaos", action="append", metavar="SPEC",
                    help="START-END:KIND@DEPLOYMENT, KIND outage, 429, 500 or slow=SECONDS; seconds from the start "
                         "(e.g. 2-6:outage@openai/gpt-4o-mini); repeatable; with --gateway or a provider/model target")
    s.add_argument("--compare", action="store_true", help="several TARGETs under the same load, side by side")
    s.add_argument("--repeat", type=positive_int, default=3, help="with --compare: runs of each target (default 3)")
    s.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per request (default 60)")
    s.add_argument("--progress", action="store_true", help="the live line even when standard error is not a terminal")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.set_defaults(handler=stress)


def stress(args: argparse.Namespace) -> int:
    from ..report.stress import compare_text, ramp_text, stress_text
    from ..store import Store
    from ..stress import session as S
    from ..stress.compare import compare
    from ..stress.run import Load

    if args.gateway and args.targets:
        raise UsageError("--gateway serves the target itself: give no TARGET with it")
    if not args.gateway and not args.targets:
        raise UsageError("give a TARGET (a base URL or provider/model), or --gateway CONFIG")
    if args.route and not args.gateway:
        raise UsageError("--route goes with --gateway")
    if (args.chaos or args.gateway) and (args.compare or args.ramp):
        raise UsageError("--chaos and --gateway go with one run: not with --compare or --ramp")
    if args.chaos and not args.gateway and S.is_url(args.targets[0]):
        raise UsageError("--chaos injects faults into a gateway served here (--gateway CONFIG) or into a "
                         "provider/model target, not into a server elsewhere")
    if len(args.targets) > 1 and not args.compare:
        raise UsageError("several targets need --compare")
    if args.compare and len(args.targets) < 2:
        raise UsageError("--compare needs at least two targets")
    if args.concurrency is not None and (args.rate is not None or args.ramp):
        raise UsageError("give either --concurrency N (a closed loop) or --rate R / --ramp (arrivals per second)")
    if args.max_concurrency is not None and args.rate is None and not args.ramp:
        raise UsageError("--max-concurrency caps --rate or --ramp; for a closed loop use --concurrency")
    if args.concurrency is None and args.rate is None and not args.ramp:
        args.concurrency = 1
    if args.requests is None and args.duration is None:
        args.requests = 100
    if args.input_tokens is not None and args.prompts:
        raise UsageError("give --prompts FILE or --input-tokens N, not both")
    rates: list[float] = []
    if args.ramp:
        try:
            rates = [float(x) for x in args.ramp.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--ramp {args.ramp}: give rates like 1,2,4,8") from None
        if not rates or any(r <= 0 for r in rates):
            raise UsageError(f"--ramp {args.ramp}: give rates above 0, like 1,2,4,8")
        if args.compare:
            raise UsageError("--ramp and --compare do not go together")
    load = Load(concurrency=None if (args.rate or rates) else args.concurrency, rate=args.rate or (rates[0] if rates else None),
                burstiness=args.burstiness, max_concurrency=args.max_concurrency, requests=args.requests,
                duration_s=args.duration, warmup=args.warmup, seed=args.seed)
    load.check()
    opts = S.Options(model=args.model, api_key_env=args.api_key_env, timeout_s=args.timeout, ignore_eos=args.ignore_eos,
                     prompts=args.prompts, input_tokens=args.input_tokens, output_tokens=args.output_tokens,
                     range_ratio=args.range_ratio, slo_ttft_ms=args.slo_ttft_ms, slo_tpot_ms=args.slo_tpot_ms,
                     slo_e2e_ms=args.slo_e2e_ms, progress=args.progress or sys.stderr.isatty())
    store = Store(args.store)  # a bad store is refused before any load is sent
    try:
        if args.compare:
            table = S.run_sync(compare(args.targets, load, opts, args.repeat, store))
            print(json.dumps(table, indent=2) if args.json else compare_text(table))
            return 0
        if rates:
            summary = S.run_sync(_ramp(args.targets[0], load, rates, opts, store))
            print(json.dumps(summary, indent=2) if args.json else ramp_text(summary))
            return 0
        if args.gateway or args.chaos:
            result = S.run_sync(_chaos(args, load, opts, store))
        else:
            result = S.run_sync(_once(args.targets[0], load, opts, store))
        print(json.dumps(result, indent=2) if args.json else stress_text(result))
        if result.get("warning"):
            sys.stderr.write(result["warning"] + "\n")
        return 0
    finally:
        store.close()


async def _once(target: str, load: Any, opts: Any, store: Any) -> dict[str, Any]:
    from ..stress import session as S

    t, model = await S.make_target(target, opts)
    async with t:
        result, samples = await S.stress_once(t, target, model, load, opts)
    result["run_id"] = store.save_stress(target, model, S.config_of(load, opts), result,
                                         S.request_rows(samples, 0.0))
    return result


async def _ramp(target: str, load: Any, rates: list[float], opts: Any, store: Any) -> dict[str, Any]:
    from ..stress import session as S

    t, model = await S.make_target(target, opts)
    async with t:
        summary, steps = await S.ramp(t, target, model, load, rates, opts)
    ids = []
    for res, samples in steps:
        cfg = {**S.config_of(load, opts), "ramp": rates, "offered_rate": res["offered_rate"]}
        ids.append(store.save_stress(target, model, cfg, res, S.request_rows(samples, 0.0)))
    summary["run_ids"] = ids
    return summary


async def _chaos(args: argparse.Namespace, load: Any, opts: Any, store: Any) -> dict[str, Any]:
    """One run with faults on a schedule: into a gateway served here from its configuration, or into a
    provider/model target."""
    from dataclasses import replace

    from ..stress import session as S
    from ..stress.chaos import ChaosProvider, Clock, GatewayThread, parse_chaos

    faults = parse_chaos(args.chaos or [])
    clock = Clock()
    if args.gateway:
        gw = GatewayThread(args.gateway, faults, clock)
        routes = list(gw.config.routes)
        route = args.route or (routes[0] if len(routes) == 1 else None)
        if route not in gw.config.routes:
            raise UsageError(f"{args.gateway}: name the route with --route (it has: {', '.join(routes)})"
                             if route is None else f"{args.gateway} has no route {route!r} (it has: {', '.join(routes)})")
        with gw as url:
            t, model = await S.make_target(url, replace(opts, model=route))
            async with t:
                result, samples = await S.stress_once(t, f"gateway {args.gateway}", model, load, opts,
                                                      chaos=(faults, clock))
        target = f"gateway {args.gateway}"
    else:
        target = args.targets[0]
        t, model = await S.make_target(target, opts)
        t.provider = ChaosProvider(t.provider, [f for f in faults if f.hits(target, target)], clock, target)
        async with t:
            result, samples = await S.stress_once(t, target, model, load, opts, chaos=(faults, clock))
    cfg = {**S.config_of(load, opts), "chaos": [f.label for f in faults],
           **({"gateway": args.gateway, "route": model} if args.gateway else {})}
    result["run_id"] = store.save_stress(target, model, cfg, result, S.request_rows(samples, 0.0))
    return result
