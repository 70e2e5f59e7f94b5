"""Which deployment serves a request: the order to try them in (strategy), and a circuit breaker per
deployment so that a dead one is not asked again and again.

Strategies:
* failover — the deployments in the order written;
* weighted — drawn by weight (without replacement), the rest follow as fallbacks;
* fastest — by observed time to first token, a moving window of the last 50 answers (a deployment
  not yet seen goes first, so it gets measured);
* cheapest — the cheapest deployment whose measured score on the route's quality task is within
  the margin of the best (`explain()` says why); the others follow, cheapest first.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .config import Breaker as BreakerConfig
from .config import Deployment, Route


@dataclass
class CircuitBreaker:
    """Closed → open after `failures` consecutive failures; after `cooldown_s` one probe is let through
    (half-open): its success closes the circuit, its failure opens it again for another cooldown."""

    config: BreakerConfig
    clock: Callable[[], float] = time.monotonic
    consecutive: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.config.cooldown_s else "open"

    def allow(self) -> bool:
        """May a request go to this deployment now? (In half-open, only one probe at a time.)"""
        s = self.state
        if s == "closed":
            return True
        if s == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.consecutive, self.opened_at, self.probing = 0, None, False

    def failure(self) -> None:
        self.consecutive += 1
        if self.probing or self.consecutive >= self.config.failures:
            self.opened_at = self.clock()
        self.probing = False


@dataclass
class Latencies:
    """Observed times to first token per deployment (a moving window)."""

    window: int = 50
    seen: dict[str, deque[float]] = field(default_factory=dict)

    def add(self, deployment: str, ttft_s: float) -> None:
        self.seen.setdefault(deployment, deque(maxlen=self.window)).append(ttft_s)

    def typical(self, deployment: str) -> float | None:
        q = self.seen.get(deployment)
        if not q:
            return None
        xs = sorted(q)
        return xs[len(xs) // 2]


@dataclass(frozen=True)
class Measured:
    """What the store says about a deployment, for `cheapest`."""

    score: float | None  # on the route's quality task (or its arena rating), None when never measured
    price_per_1k: float | None  # USD for 1,000 input + 1,000 output tokens, None when unknown
    detail: str = ""  # how it was measured (the rating's interval and battles), for --explain


def order(route: Route, *, rng: random.Random, latencies: Latencies,
          measured: dict[str, Measured] | None = None) -> list[Deployment]:
    deps = list(route.deployments)
    if route.strategy == "weighted":
        out, pool = [], deps[:]
        while pool:
            pick = rng.choices(pool, weights=[d.weight for d in pool])[0]
            out.append(pick)
            pool.remove(pick)
        return out
    if route.strategy == "fastest":
        def key(d: Deployment) -> tuple[int, float]:
            t = latencies.typical(d.name)
            return (0, 0.0) if t is None else (1, t)
        return sorted(deps, key=key)
    if route.strategy == "cheapest":
        return cheapest_order(route, measured or {})[0]
    return deps


def cheapest_order(route: Route, measured: dict[str, Measured]) -> tuple[list[Deployment], list[str]]:
    """(deployments in the order to try, lines that explain it)."""
    assert route.quality is not None
    q = route.quality
    scores = {d.name: measured.get(d.name, Measured(None, None)).score for d in route.deployments}
    known = [s for s in scores.values() if s is not None]
    why: list[str] = []
    what = "rating" if q.arena else "score"
    fmt = (lambda x: f"{x:.0f}") if q.arena else (lambda x: f"{x:.3f}")
    if not known:
        why.append(f"no deployment has a measured {what} ({q.source}) in the store: cheapest first, unmeasured")
        best = None
    else:
        best = max(known)
        why.append(f"best measured {what} ({q.source}): {fmt(best)}; eligible within {q.margin:g}: "
                   f"{what} ≥ {fmt(best - q.margin)}")

    def price(d: Deployment) -> float:
        p = measured.get(d.name, Measured(None, None)).price_per_1k
        return float("inf") if p is None else p

    def eligible(d: Deployment) -> bool:
        s = scores[d.name]
        return best is None or (s is not None and s >= best - q.margin)

    ranked = sorted(route.deployments, key=lambda d: (not eligible(d), price(d)))
    for d in ranked:
        m = measured.get(d.name, Measured(None, None))
        s, p = scores[d.name], m.price_per_1k
        why.append(f"  {d.name}: {what} {'unmeasured' if s is None else fmt(s) + m.detail}, "
                   f"{'price unknown' if p is None else f'${p:.5f} per 1k+1k tokens'}"
                   f"{'' if eligible(d) else ' (outside the margin: fallback only)'}")
    return ranked, why


def allowed(deps: Sequence[Deployment], eu_only: bool) -> list[Deployment]:
    return [d for d in deps if d.eu or not eu_only]
