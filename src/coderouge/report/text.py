"""Plain-text tables for the terminal, and the few number formats they use."""

from __future__ import annotations

from collections.abc import Sequence


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1000:.0f}ms" if x < 1 else f"{x:.2f}s"


def fmt_cost(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "$0"
    return f"${x:.4f}" if x < 1 else f"${x:.2f}"


def fmt_tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10000 else str(n)
