"""Eval results for people and for programs: the results table, `--json` rows, pass@k, a paired
comparison, and which providers are usable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .text import fmt_cost, fmt_s, fmt_tokens, render

JSON_KEYS = ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "errors", "latency_p50_s", "latency_p95_s",
             "cost_usd", "method", "shots", "prompt_format", "ttft_p50_s", "input_tokens", "output_tokens", "cached"]


def results_table(results: Sequence[Any]) -> str:
    rows = []
    for r in results:
        if r.metric.startswith("score_"):  # a rating scale (MT-Bench's 1-10), not a share
            ci = "—" if r.n == 0 else f"{r.ci_low:.2f}–{r.ci_high:.2f}"
            value = "—" if r.n == 0 else f"{r.value:.2f}"
        else:
            ci = "—" if r.n == 0 else f"{r.ci_low * 100:.1f}–{r.ci_high * 100:.1f}"
            value = "—" if r.n == 0 else f"{r.value * 100:.1f}%"
            norm = (r.extra_metrics or {}).get("acc_norm")
            if r.n and r.metric == "acc" and norm is not None:  # lm-evaluation-harness reports both
                value += f" (norm {norm * 100:.1f}%)"
        mark = "*" if getattr(r, "cached", 0) and r.latency_p50_s is not None else ""  # from the store: see the note
        rows.append([r.model, r.task, f"{r.metric} ({r.method})", value, ci, str(r.n), str(r.errors),
                     fmt_s(r.latency_p50_s) + mark, fmt_s(r.latency_p95_s) + mark, fmt_s(r.ttft_p50_s) + mark,
                     fmt_tokens(r.input_tokens + r.output_tokens), fmt_cost(r.cost_usd)])
    headers = ["model", "task", "metric", "score", "95% CI", "n", "errors", "p50", "p95", "ttft", "tokens", "cost"]
    return render(headers, rows, right={3, 4, 5, 6, 7, 8, 9, 10, 11})


def results_text(results: Sequence[Any], store_location: str) -> str:
    """`coderouge eval`'s answer: the table, a line for each result with failed items, the store."""
    out = [results_table(results)]
    cached = [r for r in results if getattr(r, "cached", 0)]
    if cached:
        out.append("* some answers came from the store (no new call): their latency is the original call's "
                   f"({', '.join(f'{r.model} on {r.task}: {r.cached} of {r.n}' for r in cached)}; --no-cache asks again)")
    for r in results:
        if r.errors:
            out.append(f"\n{r.model} on {r.task}: {r.errors} item(s) failed and are not scored; e.g. {r.error_examples[0]}")
    out.append(f"\nstore: {store_location}")
    return "\n".join(out)


def json_results(results: Sequence[Any]) -> dict[str, Any]:
    out = []
    for r in results:
        d = r.to_json()
        row = {k: d[k] for k in JSON_KEYS}
        if d.get("extra_metrics"):
            row["extra_metrics"] = d["extra_metrics"]
        if d.get("groups"):
            row["groups"] = d["groups"]
        if d.get("settings"):
            row["settings"] = d["settings"]
        out.append(row)
    return {"results": out}


def pass_at_k_text(results: Sequence[tuple[str, Mapping[str, Any]]], ks: Sequence[int], samples: int,
                   temperature: float, store_location: str) -> str:
    rows = [[m, *[f"{r['pass@' + str(k)] * 100:.1f}%" if r.get('pass@' + str(k)) is not None else "—" for k in ks], str(r["errors"])]
            for m, r in results]
    table = render(["model", *[f"pass@{k}" for k in ks], "errors"], rows, right=set(range(1, len(ks) + 2)))
    return f"{table}\n\nhumaneval, {samples} samples per problem at temperature {temperature:g}; store: {store_location}"


def pass_at_k_json(results: Sequence[tuple[str, Mapping[str, Any]]], samples: int, temperature: float) -> dict[str, Any]:
    return {"results": [{"model": m, "task": "humaneval", "samples": samples, "temperature": temperature,
                         **{k: v for k, v in r.items() if k != "items"}} for m, r in results]}


def comparison_text(c: Any) -> str:
    """A paired comparison (evals.compare.Comparison): scores, the items only one model got right, the verdict."""
    out = [render(["model", "score", "right where the other is wrong"],
                  [[c.model_a, f"{c.score_a * 100:.1f}%", str(c.a_only)], [c.model_b, f"{c.score_b * 100:.1f}%", str(c.b_only)]],
                  right={1, 2}),
           f"\n{c.task} ({c.metric}, {c.n} items both answered): {c.sentence()}"]
    out += [f"warning: {w}" for w in c.warnings]
    return "\n".join(out)


def providers_text(statuses: Sequence[Any]) -> str:
    return render(["provider", "usable", "example", "detail"],
                  [[s.provider, "yes" if s.usable else "no", s.example, s.detail] for s in statuses])


def providers_json(statuses: Sequence[Any]) -> dict[str, Any]:
    return {"providers": [s.__dict__ for s in statuses]}
