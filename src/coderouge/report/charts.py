"""The report's charts, drawn by matplotlib as SVG text to put inline in the HTML (no script, no font
file, no network: `svg.fonttype = none` keeps text as text, in the reader's sans-serif)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9,
                                "svg.hashsalt": "coderouge"})  # the same report twice is the same file
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # no XML prologue inside HTML


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def quality_cost(models: list[dict[str, Any]]) -> str | None:
    """Mean score over each model's tasks against its cost per 1,000 requests, the interval as a bar (the
    mean of its tasks' intervals), and the Pareto frontier: the models no other is both cheaper and better than."""
    pts = []
    for m in models:
        tasks = [t for t in m["tasks"].values() if t.get("score") is not None and not str(t.get("metric", "")).startswith("score_")]
        if not tasks or m.get("cost_per_1k_requests_usd") is None:
            continue
        q = float(np.mean([t["score"] for t in tasks]))
        lo = float(np.mean([t["ci_low"] for t in tasks if t.get("ci_low") is not None] or [q]))
        hi = float(np.mean([t["ci_high"] for t in tasks if t.get("ci_high") is not None] or [q]))
        pts.append((m["model"], m["cost_per_1k_requests_usd"], q, q - lo, hi - q))
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, cost, q, dlo, dhi in pts:
        ax.errorbar([cost], [q * 100], yerr=[[dlo * 100], [dhi * 100]], fmt="o", capsize=3)
        ax.annotate(_short(name), (cost, q * 100), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = []
    for name, cost, q, _, _ in sorted(pts, key=lambda p: (p[1], -p[2])):
        if not front or q > front[-1][1]:
            front.append((cost, q))
    if len(front) > 1:
        xs, ys = zip(*front)
        ax.step(xs, [y * 100 for y in ys], where="post", linestyle="--", color="grey", label="Pareto frontier")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel("mean score over its tasks (%)")
    ax.set_title("Quality against cost (bars: 95% intervals)")
    ax.grid(alpha=0.3)
    return _svg(fig)


def latency_distributions(latencies: dict[str, list[float]], stress: dict[str, list[float]] | None = None) -> str | None:
    """Box plots of each model's call latencies (evals, arena, gateway through the call path)."""
    data = [(m, xs) for m, xs in latencies.items() if xs]
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(data) + 1.2))
    try:
        ax.boxplot([xs for _, xs in data], orientation="horizontal", showfliers=False)  # matplotlib ≥ 3.10
    except TypeError:
        ax.boxplot([xs for _, xs in data], vert=False, showfliers=False)
    ax.set_yticks(range(1, len(data) + 1), [_short(m) for m, _ in data])
    ax.set_xlabel("latency per request (s)")
    ax.set_title("Latency: calls in evals and the arena, and load tests (whiskers: 1.5 IQR)")
    ax.grid(alpha=0.3, axis="x")
    return _svg(fig)


def ratings(arena: dict[str, Any]) -> str | None:
    rs = [r for r in arena["ratings"] if r["rating"] is not None]
    if not rs:
        return None
    rs.sort(key=lambda r: r["rating"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.4 * len(rs) + 1.2))
    y = np.arange(len(rs))
    lo = [r["rating"] - (r["ci_low"] if r["ci_low"] is not None else r["rating"]) for r in rs]
    hi = [(r["ci_high"] if r["ci_high"] is not None else r["rating"]) - r["rating"] for r in rs]
    ax.errorbar([r["rating"] for r in rs], y, xerr=[lo, hi], fmt="o", capsize=3)
    ax.set_yticks(y, [_short(r["model"]) for r in rs])
    ax.set_xlabel("Bradley-Terry rating (Elo scale)")
    ax.set_title("Arena ratings (bars: 95% bootstrap intervals)")
    ax.grid(alpha=0.3, axis="x")
    return _svg(fig)


def win_matrix(arena: dict[str, Any]) -> str | None:
    names = arena["models"]
    m = np.array([[np.nan if x is None else x for x in row] for row in arena["win_rate_matrix"]], dtype=float)
    if m.size == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.6 * len(names) + 2.5, 0.5 * len(names) + 1.8))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="RdBu")
    ax.set_xticks(range(len(names)), [_short(n, 16) for n in names], rotation=45, ha="right")
    ax.set_yticks(range(len(names)), [_short(n, 24) for n in names])
    for i in range(len(names)):
        for j in range(len(names)):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("Win rate of the row's model against the column's")
    return _svg(fig)


def ttft_vs_load(ramps: list[dict[str, Any]]) -> str | None:
    if not ramps:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for r in ramps:
        pts = [p for p in r["points"] if p["ttft_p50_ms"] is not None]
        if pts:
            ax.plot([p["offered_rate"] for p in pts], [p["ttft_p50_ms"] for p in pts], marker="o",
                    label=_short(r["target"], 40))
    ax.set_xlabel("offered load (requests/s)")
    ax.set_ylabel("TTFT p50 (ms)")
    ax.set_title("Time to first token against load (stress --ramp)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)
