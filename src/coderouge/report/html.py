"""The demo's HTML report: the results table, and the `--json` rows embedded for programs."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import json_results


def write_report(path: Path, results: Sequence[Any], elapsed: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        ci = f"{r.ci_low * 100:.1f}–{r.ci_high * 100:.1f}" if r.n else "—"
        val = f"{r.value * 100:.1f}%" if r.n else "—"
        cost = "n/a" if r.cost_usd is None else f"${r.cost_usd:.4f}"
        p50 = "—" if r.latency_p50_s is None else f"{r.latency_p50_s:.2f}s"
        p95 = "—" if r.latency_p95_s is None else f"{r.latency_p95_s:.2f}s"
        cells = [r.model, r.task, f"{r.metric} ({r.method})", val, ci, r.n, r.errors, p50, p95, r.input_tokens + r.output_tokens, cost]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["model", "task", "metric", "score", "95% CI", "n", "errors", "p50", "p95", "tokens", "cost"])
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>coderouge demo report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,td:nth-child(2),td:nth-child(3){{text-align:left}}</style>
</head><body><h1>coderouge demo</h1><p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} in {elapsed:.0f}s.</p>
<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
<script type="application/json" id="results">{html.escape(json.dumps(json_results(results)))}</script></body></html>"""
    path.write_text(doc, encoding="utf-8")
