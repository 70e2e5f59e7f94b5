"""`coderouge eval`: models on tasks (and pass@k on HumanEval, MT-Bench with an LLM judge)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from .common import positive_int, run_config, setup


def _task_names() -> list[str]:
    from ..evals.tasks import task_names

    return task_names()


def add_parser(sub: Any, common: argparse.ArgumentParser, run_opts: argparse.ArgumentParser) -> None:
    e = sub.add_parser("eval", parents=[common, run_opts], help="evaluate models on a task")
    e.add_argument("models", nargs="+", metavar="MODEL", help="provider/model, e.g. openai/gpt-4o-mini local/gemma-3-270m")
    e.add_argument("--task", required=True, action="append",
                   help=f"a built-in task ({', '.join(_task_names())}) or a .jsonl task file (repeatable)")
    e.add_argument("--shots", type=int, help="few-shot examples (default: the task's own, as lm-evaluation-harness)")
    e.add_argument("--chat-template", action="store_true",
                   help="local models: format prompts with the model's chat template (instruction-tuned GGUFs)")
    e.add_argument("--judge", help="mt_bench: the judge model (provider/model) that grades each turn 1-10")
    e.add_argument("--temperature-zero", action="store_true", help="mt_bench: answer at temperature 0 in every category")
    e.add_argument("--samples", type=positive_int, help="humaneval: N samples per problem for pass@k")
    e.add_argument("--k", default="1", help="humaneval with --samples: comma-separated k values (default 1)")
    e.add_argument("--temperature", type=float, default=0.8, help="humaneval with --samples: sampling temperature (default 0.8)")
    e.add_argument("--limit", type=positive_int, help="evaluate a seeded sample of N items")
    e.add_argument("--max-tokens", type=positive_int,
                   help="answer budget in tokens for every item (default: the task's; a base model writes up to it)")
    e.add_argument("--seed", type=int, default=1234, help="seed of the --limit sample (default 1234)")
    e.add_argument("--method", choices=["loglikelihood", "letter"], help="multiple-choice scoring method (default: log-likelihood when the model gives it)")
    e.add_argument("--unsafe-sandbox", action="store_true",
                   help="humaneval: run model-written code even where the operating-system sandbox (bubblewrap: "
                        "user, mount, PID and network namespaces) is unavailable; only on a machine you can lose")
    e.add_argument("--json", action="store_true", help="print results as JSON")
    e.add_argument("--output", metavar="FILE", help="also write the results to FILE (.json or .csv)")
    e.add_argument("--log-samples", action="store_true",
                   help="with --output: every item's prompt, answer and score in FILE's stem + .samples.jsonl")
    e.set_defaults(handler=cmd_eval)


def with_chat_template(model: str) -> str:
    if not model.startswith("local/"):
        return model  # API models always use their own chat format
    return model + ("&" if "?" in model else "?") + "chat=1"


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evals import get_task
    from ..evals.run import evaluate_many
    from ..providers import get_provider
    from ..report.results import json_results, results_text
    from ..store import Store

    setup(args)
    from ..report.output import check_path

    out_path = check_path(args.output, args.log_samples)
    models = [with_chat_template(m) for m in args.models] if args.chat_template else args.models
    if "mt_bench" in args.task:
        if args.task != ["mt_bench"]:
            raise UsageError("--task mt_bench runs on its own (give it alone)")
        if not args.judge:
            raise UsageError("--task mt_bench needs --judge provider/model (the LLM that grades each turn 1-10)")
        tasks = []
    else:
        if args.judge:
            raise UsageError("--judge applies to --task mt_bench only")
        tasks = [get_task(t, shots=args.shots).sample(args.limit, args.seed).with_max_tokens(args.max_tokens)
                 for t in args.task]  # validate before any call
    for mdl in models:
        get_provider(mdl, base_url=args.base_url)
    store = Store(args.store)
    if args.samples:
        return _pass_at_k(args, models, tasks, store)
    if not tasks:
        from ..evals.mt_bench import run_mt_bench

        get_provider(args.judge, base_url=args.base_url)
        results = run_mt_bench(models, args.judge, store, run_config(args), limit=args.limit, seed=args.seed,
                               temperature_by_category=not args.temperature_zero)
    else:
        results = evaluate_many(models, tasks, store, run_config(args), method=args.method)
    print(json.dumps(json_results(results), indent=2) if args.json else results_text(results, store.location))
    if out_path is not None:
        from ..report.output import samples_path, write_rows, write_samples

        payload = json_results(results)
        write_rows(out_path, payload, payload["results"])
        if args.log_samples:
            n = write_samples(out_path, store, results)
            sys.stderr.write(f"samples: {n} items in {samples_path(out_path)}\n")
    return all_failed_exit(results)


def all_failed_exit(results: Any) -> int:
    """1 when not a single item was scored because every call failed (a CI job must not pass on it), else 0."""
    if results and all(r.n == 0 and r.errors > 0 for r in results):
        sys.stderr.write("coderouge: every call failed: nothing was scored (the failures are stored; "
                         "coderouge show RUN lists them)\n")
        return 1
    return 0


def _pass_at_k(args: argparse.Namespace, models: list[str], tasks: list[Any], store: Any) -> int:
    from ..evals.run import pass_at_k_many
    from ..report.results import pass_at_k_json, pass_at_k_text

    try:
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    except ValueError:
        raise UsageError(f"--k must be comma-separated whole numbers, got {args.k!r}") from None
    if not tasks or any(t.name != "humaneval" for t in tasks):
        raise UsageError("--samples (pass@k) applies to --task humaneval only")
    if not ks or any(k < 1 or k > args.samples for k in ks):
        raise UsageError(f"every --k must be between 1 and --samples ({args.samples}), got {args.k}")
    results = pass_at_k_many(models, tasks[0], args.samples, ks, args.temperature, store, run_config(args))
    if args.json:
        print(json.dumps(pass_at_k_json(results, args.samples, args.temperature), indent=2))
    else:
        print(pass_at_k_text(results, ks, args.samples, args.temperature, store.location))
    return 0
