"""`coderouge stress` in the terminal: one run, a ramp, a comparison."""

from __future__ import annotations

from typing import Any

from .text import render


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def stress_text(r: dict[str, Any]) -> str:
    head = (f"{r['target']}" + (f" (model {r['model']})" if r.get("model") and r["model"] != r["target"] else "")
            + f": {r['completed']}/{r['requests']} requests completed in {r['duration_s']:.2f} s, "
              f"{r['request_rate']:.2f} req/s, {r['output_tokens_per_s']:.1f} output tokens/s "
              f"(tokens from {r['token_source']})")
    rows = []
    for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"), ("ITL", "itl_ms"), ("E2E", "e2e_ms")):
        d = r[key]
        rows.append([name, _ms(d["mean"]), _ms(d["p50"]), _ms(d["p90"]), _ms(d["p95"]), _ms(d["p99"])])
    table = render(["ms", "mean", "p50", "p90", "p95", "p99"], rows, right={1, 2, 3, 4, 5})
    g = r["goodput"]
    slo = ", ".join(f"{k} ≤ {v:g}" for k, v in (g.get("slo") or {}).items() if v is not None)
    lines = [head, table,
             f"goodput: {g['rate']:.2f} req/s" + (f" ({100 * g['share']:.1f}% of requests meet {slo})" if slo and
                                                  g["share"] is not None else " (no SLO given: every completed request)")]
    errs = r.get("errors") or {}
    lines.append("errors: " + (", ".join(f"{k} {v}" for k, v in errs.items()) if errs else "none"))
    if r.get("served_by"):
        lines.append("served by: " + ", ".join(f"{k} {v}" for k, v in r["served_by"].items())
                     + f"; retried {r.get('retried', 0)}, served by a fallback {r.get('fallback', 0)}")
    if r.get("chaos"):
        rows = [[w["window"], str(w["requests"]), str(w["failed"]), str(w["retried"]), str(w["fallback"]),
                 _ms(w["ttft_p50_ms"]), _ms(w["e2e_p50_ms"]), _ms(w["e2e_p95_ms"])] for w in r["chaos"]]
        lines.append("faults, by the window the requests were sent in:\n" + render(
            ["window", "requests", "failed", "retried", "fallback", "TTFT p50", "E2E p50", "E2E p95"], rows,
            right={1, 2, 3, 4, 5, 6, 7}))
    co = r.get("client_overhead_ms") or {}
    lag, loop = co.get("schedule_lag") or {}, co.get("loop_delay") or {}
    lines.append(f"load generator's own lag: schedule p50 {_ms(lag.get('p50'))} / p99 {_ms(lag.get('p99'))} ms, "
                 f"event loop p50 {_ms(loop.get('p50'))} / p99 {_ms(loop.get('p99'))} ms")
    if r.get("run_id") is not None:
        lines.append(f"stored as stress run {r['run_id']}")
    return "\n".join(lines)


def ramp_text(s: dict[str, Any]) -> str:
    rows = [[f"{x['offered_rate']:g}", f"{x['request_rate']:.2f}", f"{x['goodput_rate']:.2f}", _ms(x["ttft_p50_ms"]),
             _ms(x["e2e_p50_ms"]), str(x["errors"])] for x in s["steps"]]
    table = render(["offered req/s", "done req/s", "goodput req/s", "TTFT p50 ms", "E2E p50 ms", "errors"], rows,
                   right={0, 1, 2, 3, 4, 5})
    knee = s.get("knee_rate")
    return (f"{s['target']}: ramp\n{table}\n"
            + (f"knee: {knee:g} req/s (goodput stops growing there: within 5% of the best step)" if knee is not None
               else "knee: none (no step had any goodput)"))


def compare_text(c: dict[str, Any]) -> str:
    base = c["baseline"]
    rows = []
    for t in c["targets"]:
        row = [t["target"], _ms(t["ttft_p50_ms"]), _ms(t["ttft_p95_ms"]), _ms(t["e2e_p50_ms"]), _ms(t["e2e_p95_ms"]),
               str(t["errors"])]
        diffs = []
        for k in ("ttft_p50", "ttft_p95", "e2e_p50", "e2e_p95"):
            d = t.get(f"{k}_diff_ms")
            if d and d["mean"] is not None:
                ci = f" [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]" if d["ci_low"] is not None else ""
                diffs.append(f"{k} {d['mean']:+.1f}{ci}{' *' if d['beyond_noise'] else ''}")
        row.append("; ".join(diffs) if diffs else "baseline")
        rows.append(row)
    table = render(["target", "TTFT p50", "TTFT p95", "E2E p50", "E2E p95", "errors", f"difference from {base} (ms)"],
                   rows, right={1, 2, 3, 4, 5})
    return (f"{c['repeat']} runs of each target, interleaved; mean of the runs' percentiles in ms\n{table}\n"
            "* beyond run-to-run noise: the 95% interval of the difference (Student's t over the runs) excludes 0")
