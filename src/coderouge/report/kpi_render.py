"""`coderouge report` in each format: one self-contained HTML page (tables, inline SVG charts, the JSON
embedded; nothing fetched), Markdown, CSV and JSON with the same KPIs."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from . import charts
from .kpi import Report

# the KPI columns: (key, heading, better: "high" | "low", format)
COLUMNS = [
    ("rating", "arena rating", "high", "rating"),
    ("win_rate", "win rate", "high", "pct"),
    ("latency_p50_s", "latency p50", "low", "s"),
    ("latency_p95_s", "latency p95", "low", "s"),
    ("ttft_p50_s", "TTFT p50", "low", "s"),
    ("output_tokens_per_s", "output tok/s", "high", "num"),
    ("errors", "errors", "low", "int"),
    ("cost_per_1k_requests_usd", "cost / 1k requests", "low", "usd"),
    ("cost_per_correct_usd", "cost / correct answer", "low", "usd"),
]


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "n/a" if kind == "usd" else "—"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if kind == "usd":
        return f"${v:.4f}" if v < 1 else f"${v:,.2f}"
    if kind == "int":
        return str(int(v))
    if kind == "rating":
        return f"{v:.0f}"
    return f"{v:.1f}"


def _score(t: dict[str, Any] | None) -> str:
    if not t or t.get("score") is None:
        return "—"
    if str(t.get("metric", "")).startswith("score_"):
        return f"{t['score']:.2f} ({t['ci_low']:.2f}–{t['ci_high']:.2f})"
    return f"{t['score'] * 100:.1f} ({t['ci_low'] * 100:.1f}–{t['ci_high'] * 100:.1f})"


def best_marks(report: Report) -> dict[tuple[str, str], bool]:
    """(model, column) → marked best. A score is marked only when its interval lies wholly above every
    other model's (a difference within the intervals is not a win); a rating the same with its bootstrap
    interval; a column without intervals (latency, cost) marks its best value."""
    marks: dict[tuple[str, str], bool] = {}
    ms = report.models
    for t in report.tasks:
        have = [(m["model"], m["tasks"][t]) for m in ms if t in m["tasks"] and m["tasks"][t].get("score") is not None]
        if len(have) < 2:
            continue
        best = max(have, key=lambda x: x[1]["score"])
        if all(best[1]["ci_low"] > o["ci_high"] for n, o in have if n != best[0]):
            marks[(best[0], f"task:{t}")] = True
    rated = [m for m in ms if m.get("rating") is not None]
    if len(rated) >= 2:
        best = max(rated, key=lambda m: m["rating"])
        if best.get("rating_ci_low") is not None and all(
                best["rating_ci_low"] > (o.get("rating_ci_high") or o["rating"]) for o in rated if o is not best):
            marks[(best["model"], "rating")] = True
    for key, _, better, _ in COLUMNS:
        if key == "rating":
            continue
        vals = [(m["model"], m.get(key)) for m in ms if m.get(key) is not None]
        if len(vals) < 2:
            continue
        pick = max if better == "high" else min
        bv = pick(v for _, v in vals)
        if sum(1 for _, v in vals if v == bv) == 1:  # a tie is nobody's win
            marks[(next(n for n, v in vals if v == bv), key)] = True
    return marks


def kpi_rows(report: Report) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    marks = best_marks(report)
    head = ["model", *[f"{t} (95% CI)" for t in report.tasks], *[h for _, h, _, _ in COLUMNS]]
    rows, flags = [], []
    for m in report.models:
        cells = [m["model"], *[_score(m["tasks"].get(t)) for t in report.tasks]]
        fl = [False, *[marks.get((m["model"], f"task:{t}"), False) for t in report.tasks]]
        for key, _, _, kind in COLUMNS:
            v = m.get(key)
            if key == "rating" and v is not None and m.get("rating_ci_low") is not None:
                cells.append(f"{v:.0f} ({m['rating_ci_low']:.0f}–{m['rating_ci_high']:.0f}) #{m['rank']}")
            else:
                cells.append(_fmt(v, kind))
            fl.append(marks.get((m["model"], key), False))
        rows.append(cells)
        flags.append(fl)
    return head, rows, flags


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    keys = [k for k, _, _, _ in COLUMNS]
    w.writerow(["model", *[f"{t}_{x}" for t in report.tasks for x in ("score", "ci_low", "ci_high", "n")],
                *keys])
    for m in report.models:
        w.writerow([m["model"], *[m["tasks"].get(t, {}).get(x) for t in report.tasks
                                  for x in ("score", "ci_low", "ci_high", "n")], *[m.get(k) for k in keys]])
    return buf.getvalue()


def to_markdown(report: Report) -> str:
    head, rows, flags = kpi_rows(report)
    out = ["# coderouge report", "", f"Generated {report.provenance['generated']} from {report.provenance['store']} "
           f"(coderouge {report.provenance['coderouge_version']}; prices checked {report.provenance['price_table_checked']}). "
           "**Bold**: the best of its column, and for scores and ratings only where the intervals do not overlap.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r, f in zip(rows, flags):
        out.append("| " + " | ".join(f"**{c}**" if b else c for c, b in zip(r, f)) + " |")
    if report.comparisons:
        out += ["", "## Paired comparisons", ""] + [f"- {c['task']}: {c['sentence']}" for c in report.comparisons]
    out += ["", "## Where the numbers come from", ""] + _sources(report)
    return "\n".join(out) + "\n"


def _sources(report: Report) -> list[str]:
    lines = []
    for m in report.models:
        for t, d in m["tasks"].items():
            lines.append(f"- {m['model']} on {t}: {d['metric']} ({d['method']}, {d['shots']}-shot), {d['n']} items, "
                         f"{d['errors']} failed, {d['date']} (eval run {d['run_id']})")
        if m.get("stress_run"):
            lines.append(f"- {m['model']}: load test {m['stress_run']} (stress)")
    if report.provenance.get("arena"):
        a = report.provenance["arena"]
        lines.append(f"- arena: {a['battles']} decided battles; {a['method']}")
    lines.append("- latency, TTFT, tokens/s, errors and cost per 1,000 requests: every call of the model in the store; "
                 "cost per correct answer: the eval runs' cost over their correct answers")
    return lines


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}td.best{background:#dff0d8;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}.chart{flex:1 1 520px}.chart svg{max-width:100%;height:auto}
.note{color:#555;font-size:13px}li{font-size:13px}"""


def to_html(report: Report, title: str = "coderouge report") -> str:
    head, rows, flags = kpi_rows(report)
    e = html.escape
    table = ("<table id='kpi'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join("<tr>" + "".join(f"<td{' class=best' if b else ''}>{e(c)}</td>" for c, b in zip(r, f)) + "</tr>"
                       for r, f in zip(rows, flags)) + "</tbody></table>")
    sections = []
    parts = [("quality-cost", "Quality against cost", charts.quality_cost(report.models)),
             ("latency", "Latency", charts.latency_distributions(report.latencies)),
             ("ttft-load", "Time to first token against load", charts.ttft_vs_load(report.ramps))]
    if report.arena:
        parts += [("ratings", "Arena ratings", charts.ratings(report.arena)),
                  ("win-matrix", "Arena win rates", charts.win_matrix(report.arena))]
    for cid, heading, svg in parts:
        if svg:
            sections.append(f"<div class=chart id='chart-{cid}'><h3>{e(heading)}</h3>{svg}</div>")
    comps = ""
    if report.comparisons:
        comps = ("<h2>Paired comparisons</h2><table id='comparisons'><thead><tr><th>task</th><th>A</th><th>B</th>"
                 "<th>items</th><th>A wins</th><th>B wins</th><th>p (McNemar)</th><th>A − B (95% CI)</th></tr></thead>"
                 "<tbody>" + "".join(
                     f"<tr><td>{e(c['task'])}</td><td>{e(c['model_a'])}</td><td>{e(c['model_b'])}</td><td>{c['n']}</td>"
                     f"<td>{c['a_only']}</td><td>{c['b_only']}</td><td>{c['p_value']:.3g}</td>"
                     f"<td>{c['diff'] * 100:+.1f} ({c['diff_low'] * 100:+.1f} to {c['diff_high'] * 100:+.1f})</td></tr>"
                     for c in report.comparisons) + "</tbody></table><ul>"
                 + "".join(f"<li>{e(c['task'])}: {e(c['sentence'])}</li>" for c in report.comparisons) + "</ul>")
    p = report.provenance
    data = e(json.dumps(report.to_json()))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>{CSS}</style></head><body><h1>{e(title)}</h1>
<p class=note>Generated {e(p['generated'])} from the store {e(str(p['store']))} by coderouge {e(p['coderouge_version'])}; prices
checked {e(str(p['price_table_checked']))}. Shaded: the best of its column; for scores and ratings only where its 95% interval
lies wholly above the others' (a difference within the intervals is no win).</p>
<h2>KPIs</h2>{table}<h2>Charts</h2><div class=charts>{''.join(sections)}</div>{comps}
<h2>Where the numbers come from</h2><ul>{''.join(f'<li>{e(x[2:])}</li>' for x in _sources(report))}</ul>
<script type="application/json" id="report-data">{data}</script></body></html>"""
