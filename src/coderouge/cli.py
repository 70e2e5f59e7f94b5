"""The `coderouge` command: parse, call one function, print."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from . import __version__
from .errors import CoderougeError, UsageError
from .table import fmt_cost, fmt_s, fmt_tokens, render


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2
        sys.stderr.write(f"coderouge: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}")
    return v


def _task_names() -> list[str]:
    from .evals.tasks import task_names

    return task_names()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="the store: a path or sqlite:///PATH, or postgresql://USER:PASS@HOST:PORT/DB (default: $CODEROUGE_STORE, else ~/.local/share/coderouge/store.db)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    run_opts = argparse.ArgumentParser(add_help=False)
    run_opts.add_argument("--concurrency", type=_positive_int, help="requests in flight per provider (default: the provider's)")
    run_opts.add_argument("--timeout", type=_positive_float, default=300.0, help="seconds per request (default 300)")
    run_opts.add_argument("--retries", type=int, default=6, help="retries for retryable errors (default 6)")
    run_opts.add_argument("--base-url", help="base URL for openai/ models (any OpenAI-compatible server)")
    run_opts.add_argument("--no-cache", action="store_true", help="ask the models again even if the store has the answer")
    run_opts.add_argument("--prices", action="append", help="LiteLLM-format price table (file or URL) overriding built-in prices")

    p = _Parser(prog="coderouge", description="Compare LLMs on your work: quality, latency, cost.")
    p.add_argument("--version", action="version", version=f"coderouge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    e = sub.add_parser("eval", parents=[common, run_opts], help="evaluate models on a task")
    e.add_argument("models", nargs="+", metavar="MODEL", help="provider/model, e.g. openai/gpt-4o-mini local/gemma-3-270m")
    e.add_argument("--task", required=True, action="append",
                   help=f"a built-in task ({', '.join(_task_names())}) or a .jsonl task file (repeatable)")
    e.add_argument("--shots", type=int, help="few-shot examples (default: the task's own, as lm-evaluation-harness)")
    e.add_argument("--chat-template", action="store_true",
                   help="local models: format prompts with the model's chat template (instruction-tuned GGUFs)")
    e.add_argument("--judge", help="mt_bench: the judge model (provider/model) that grades each turn 1-10")
    e.add_argument("--temperature-zero", action="store_true", help="mt_bench: answer at temperature 0 in every category")
    e.add_argument("--samples", type=_positive_int, help="humaneval: N samples per problem for pass@k")
    e.add_argument("--k", default="1", help="humaneval with --samples: comma-separated k values (default 1)")
    e.add_argument("--temperature", type=float, default=0.8, help="humaneval with --samples: sampling temperature (default 0.8)")
    e.add_argument("--limit", type=_positive_int, help="evaluate a seeded sample of N items")
    e.add_argument("--seed", type=int, default=1234, help="seed of the --limit sample (default 1234)")
    e.add_argument("--method", choices=["loglikelihood", "letter"], help="multiple-choice scoring method (default: log-likelihood when the model gives it)")
    e.add_argument("--unsafe-sandbox", action="store_true",
                   help="humaneval: run model-written code even where the operating-system sandbox (bubblewrap: "
                        "user, mount, PID and network namespaces) is unavailable; only on a machine you can lose")
    e.add_argument("--json", action="store_true", help="print results as JSON")

    m = sub.add_parser("models", parents=[common], help="list providers and whether each is usable now")
    m.add_argument("--json", action="store_true")

    d = sub.add_parser("demo", parents=[common, run_opts], help="compare the embedded model and every keyed API model")
    d.add_argument("--limit", type=_positive_int, default=100, help="ARC-Easy sample size (default 100)")
    d.add_argument("--business-limit", type=_positive_int, help="business items (default: all)")
    d.add_argument("--report", default="reports/demo.html", help="where to write the HTML report (default reports/demo.html)")
    d.add_argument("--models", nargs="+", metavar="MODEL", help="models to compare instead of the default set")

    c = sub.add_parser("compare", parents=[common, run_opts], help="paired comparison of two models on the same items")
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    c.add_argument("--task", required=True, help="a task name or a .jsonl task file")
    c.add_argument("--limit", type=_positive_int, help="a seeded sample of N items")
    c.add_argument("--seed", type=int, default=1234)
    c.add_argument("--method", choices=["loglikelihood", "letter"], help="multiple-choice scoring method")
    c.add_argument("--bootstrap", type=_positive_int, default=10000, help="paired-bootstrap rounds (default 10000)")
    c.add_argument("--json", action="store_true")

    a = sub.add_parser("arena", help="pairwise battles, judges, voting page and ratings")
    asub = a.add_subparsers(dest="arena_command", metavar="ARENA_COMMAND", parser_class=_Parser)
    asub.required = True
    ar = asub.add_parser("run", parents=[common, run_opts], help="battle models on a prompt set and judge them")
    ar.add_argument("models", nargs="+", metavar="MODEL")
    ar.add_argument("--prompts", required=True, help="mt_bench, business, or a .jsonl file of prompts")
    ar.add_argument("--judge", required=True, help="reference, llm:MODEL, or human (the voting page: arena serve)")
    ar.add_argument("--judge-prompt", help="the LLM judge's prompt: coderouge (default) or mt_bench (MT-Bench's pair-v2)")
    ar.add_argument("--battles", type=_positive_int, default=100, help="battles to plan (default 100)")
    ar.add_argument("--sampling", choices=["uniform", "adaptive"], default="uniform",
                    help="pair sampling: uniform, or adaptive (favour pairs whose outcome narrows the intervals most)")
    ar.add_argument("--seed", type=int, default=0)
    ar.add_argument("--max-tokens", type=_positive_int, default=1024, help="answer budget per model (default 1024)")
    sv = asub.add_parser("serve", parents=[common], help="the voting page for people (127.0.0.1 by default)")
    sv.add_argument("models", nargs="+", metavar="MODEL")
    sv.add_argument("--prompts", required=True, help="mt_bench, business, or a .jsonl file of prompts")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--min-vote-seconds", type=float, default=3.0, help="votes sooner than this after the answers are shown are refused")
    rt = asub.add_parser("ratings", parents=[common], help="Bradley-Terry and Elo ratings with bootstrap intervals")
    rt.add_argument("--battles", dest="battle_file", metavar="FILE", help="rate a FastChat clean_battle JSON file instead of the store")
    rt.add_argument("--judge", help="only battles decided by this judge (human, reference, llm:MODEL, or an import label)")
    rt.add_argument("--bootstrap", type=_positive_int, default=100, help="bootstrap rounds (default 100)")
    rt.add_argument("--seed", type=int, default=0)
    rt.add_argument("--k", type=_positive_float, default=4.0, help="online Elo K factor (default 4)")
    rt.add_argument("--reg", type=float, default=0.0,
                    help="ridge regularisation of the Bradley-Terry fit (default 0: plain maximum likelihood, as Chatbot Arena)")
    rt.add_argument("--style-control", action="store_true", help="control for answer length (needs answer lengths)")
    rt.add_argument("--matrix", action="store_true", help="also print the win-rate and predicted win-probability matrices")
    rt.add_argument("--json", action="store_true")
    im = asub.add_parser("import", parents=[common], help="import a FastChat clean_battle JSON file into the store")
    im.add_argument("file")
    im.add_argument("--label", default="import", help="the judge label the imported battles get (default import)")
    ex = asub.add_parser("export", parents=[common], help="export decided battles as FastChat clean_battle JSON")
    ex.add_argument("file")
    ex.add_argument("--judge", help="only battles decided by this judge")
    return p


def _run_config(args: argparse.Namespace) -> Any:
    from .runner import RunConfig

    if args.retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {args.retries}")
    return RunConfig(concurrency=args.concurrency, timeout_s=args.timeout, max_retries=args.retries,
                     base_url=args.base_url, use_cache=not args.no_cache)


def _setup(args: argparse.Namespace) -> None:
    from .providers import pricing

    if getattr(args, "prices", None):
        pricing.set_overrides(args.prices)
    if getattr(args, "unsafe_sandbox", False):
        os.environ["CODEROUGE_UNSAFE_SANDBOX"] = "1"  # read by evals/sandbox.py before any code task loads


def results_table(results: list[Any]) -> str:
    rows = []
    for r in results:
        if r.metric.startswith("score_"):  # a rating scale (MT-Bench's 1-10), not a share
            ci = "—" if r.n == 0 else f"{r.ci_low:.2f}–{r.ci_high:.2f}"
            value = "—" if r.n == 0 else f"{r.value:.2f}"
        else:
            ci = "—" if r.n == 0 else f"{r.ci_low * 100:.1f}–{r.ci_high * 100:.1f}"
            value = "—" if r.n == 0 else f"{r.value * 100:.1f}%"
        rows.append([r.model, r.task, f"{r.metric} ({r.method})", value, ci, str(r.n), str(r.errors),
                     fmt_s(r.latency_p50_s), fmt_s(r.latency_p95_s), fmt_s(r.ttft_p50_s),
                     fmt_tokens(r.input_tokens + r.output_tokens), fmt_cost(r.cost_usd)])
    headers = ["model", "task", "metric", "score", "95% CI", "n", "errors", "p50", "p95", "ttft", "tokens", "cost"]
    return render(headers, rows, right={3, 4, 5, 6, 7, 8, 9, 10, 11})


def json_results(results: list[Any]) -> dict[str, Any]:
    keys = ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "errors", "latency_p50_s", "latency_p95_s",
            "cost_usd", "method", "shots", "prompt_format", "ttft_p50_s", "input_tokens", "output_tokens"]
    out = []
    for r in results:
        d = r.to_json()
        row = {k: d[k] for k in keys}
        if d.get("extra_metrics"):
            row["extra_metrics"] = d["extra_metrics"]
        if d.get("groups"):
            row["groups"] = d["groups"]
        if d.get("settings"):
            row["settings"] = d["settings"]
        out.append(row)
    return {"results": out}


def cmd_eval(args: argparse.Namespace) -> int:
    from .evals import get_task
    from .evals.run import evaluate_many
    from .providers import get_provider
    from .store import Store

    _setup(args)
    models = [_with_chat_template(m) for m in args.models] if args.chat_template else args.models
    if "mt_bench" in args.task:
        if args.task != ["mt_bench"]:
            raise UsageError("--task mt_bench runs on its own (give it alone)")
        if not args.judge:
            raise UsageError("--task mt_bench needs --judge provider/model (the LLM that grades each turn 1-10)")
        tasks = []
    else:
        if args.judge:
            raise UsageError("--judge applies to --task mt_bench only")
        tasks = [get_task(t, shots=args.shots).sample(args.limit, args.seed) for t in args.task]  # validate before any call
    for mdl in models:
        get_provider(mdl, base_url=args.base_url)
    store = Store(args.store)
    if args.samples:
        return _pass_at_k(args, models, tasks, store)
    if not tasks:
        from .evals.mt_bench import run_mt_bench

        get_provider(args.judge, base_url=args.base_url)
        results = run_mt_bench(models, args.judge, store, _run_config(args), limit=args.limit, seed=args.seed,
                               temperature_by_category=not args.temperature_zero)
    else:
        results = evaluate_many(models, tasks, store, _run_config(args), method=args.method)
    if args.json:
        print(json.dumps(json_results(results), indent=2))
    else:
        print(results_table(results))
        for r in results:
            if r.errors:
                print(f"\n{r.model} on {r.task}: {r.errors} item(s) failed and are not scored; e.g. {r.error_examples[0]}")
        print(f"\nstore: {store.location}")
    return 0


def _with_chat_template(model: str) -> str:
    if not model.startswith("local/"):
        return model  # API models always use their own chat format
    return model + ("&" if "?" in model else "?") + "chat=1"


def _pass_at_k(args: argparse.Namespace, models: list[str], tasks: list[Any], store: Any) -> int:
    from .evals.humaneval import evaluate_pass_at_k
    from .calls import run_calls

    try:
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    except ValueError:
        raise UsageError(f"--k must be comma-separated whole numbers, got {args.k!r}") from None
    if any(t.name != "humaneval" for t in tasks):
        raise UsageError("--samples (pass@k) applies to --task humaneval only")
    if not ks or any(k < 1 or k > args.samples for k in ks):
        raise UsageError(f"every --k must be between 1 and --samples ({args.samples}), got {args.k}")

    async def run(calls: Any) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for m in models:
            stop = tuple(tasks[0].meta["stop"]) if calls.provider(m).completion_model else None
            out.append((m, await evaluate_pass_at_k(calls, m, tasks[0], args.samples, ks, args.temperature, stop=stop)))
        return out

    results = run_calls(store, _run_config(args), run)
    if args.json:
        print(json.dumps({"results": [{"model": m, "task": "humaneval", "samples": args.samples, "temperature": args.temperature,
                                       **{k: v for k, v in r.items() if k != "items"}} for m, r in results]}, indent=2))
        return 0
    rows = [[m, *[f"{r['pass@' + str(k)] * 100:.1f}%" if r.get('pass@' + str(k)) is not None else "—" for k in ks], str(r["errors"])]
            for m, r in results]
    print(render(["model", *[f"pass@{k}" for k in ks], "errors"], rows, right=set(range(1, len(ks) + 2))))
    print(f"\nhumaneval, {args.samples} samples per problem at temperature {args.temperature:g}; store: {store.location}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .evals import get_task
    from .evals.compare import compare
    from .evals.run import evaluate_many
    from .providers import get_provider
    from .store import Store

    _setup(args)
    if args.model_a == args.model_b:
        raise UsageError("compare needs two different models")
    task = get_task(args.task).sample(args.limit, args.seed)
    for mdl in (args.model_a, args.model_b):
        get_provider(mdl, base_url=args.base_url)
    store = Store(args.store)
    ra, rb = evaluate_many([args.model_a, args.model_b], [task], store, _run_config(args), method=args.method)
    try:
        c = compare(ra, rb, rounds=args.bootstrap, seed=args.seed)
    except ValueError as e:
        raise UsageError(f"{task.name}: {e}") from None
    if args.json:
        print(json.dumps(c.to_json(), indent=2))
        return 0
    print(render(["model", "score", "right where the other is wrong"],
                 [[c.model_a, f"{c.score_a * 100:.1f}%", str(c.a_only)], [c.model_b, f"{c.score_b * 100:.1f}%", str(c.b_only)]],
                 right={1, 2}))
    print(f"\n{c.task} ({c.metric}, {c.n} items both answered): {c.sentence()}")
    for w in c.warnings:
        print(f"warning: {w}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .providers import provider_status

    st = provider_status()
    if args.json:
        print(json.dumps({"providers": [s.__dict__ for s in st]}, indent=2))
        return 0
    print(render(["provider", "usable", "example", "detail"], [[s.provider, "yes" if s.usable else "no", s.example, s.detail] for s in st]))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _setup(args)
    return run_demo(args, _run_config(args))


def cmd_arena(args: argparse.Namespace) -> int:
    from .arena import commands

    if args.arena_command == "run":
        _setup(args)
        return commands.arena_run(args, _run_config(args))
    return getattr(commands, f"arena_{args.arena_command}")(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("CODEROUGE_DEBUG") == "1"
    handlers = {"eval": cmd_eval, "compare": cmd_compare, "models": cmd_models, "demo": cmd_demo, "arena": cmd_arena}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("\ncoderouge: interrupted; every answer received so far is saved in the store. "
                         "Run the same command again to resume.\n")
        return 130
    except CoderougeError as e:
        if debug:
            raise
        from .secrets import redact

        sys.stderr.write(f"coderouge: error: {redact(str(e))}\n")
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
