"""Paired comparison of two models on the same items: where they differ, who wins, an exact
McNemar p-value and a paired-bootstrap interval for the difference in score."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..calls import RunConfig
from ..errors import UsageError
from ..stats import mcnemar_exact, paired_bootstrap_diff
from ..store import Store
from .engine import EvalResult
from .run import evaluate_many
from .task_types import Task


@dataclass
class Comparison:
    task: str
    model_a: str
    model_b: str
    metric: str
    n: int  # items both models answered (failed calls are left out of the pairing)
    score_a: float
    score_b: float
    a_only: int  # items A got right and B wrong
    b_only: int
    differ: int
    share_a: float | None  # of the items where they differ, the share won by A
    p_value: float  # exact McNemar (binary scores) — two-sided
    diff: float  # mean score A - B
    diff_low: float
    diff_high: float
    method_a: str
    method_b: str
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        if self.differ == 0:
            return f"{self.model_a} and {self.model_b} score the same on every one of the {self.n} items."
        lead, share, wins = (self.model_a, self.share_a, self.a_only) if self.a_only >= self.b_only else \
            (self.model_b, 1 - (self.share_a or 0), self.b_only)
        return (f"{lead} wins {share * 100:.0f}% of the {self.differ} items where the two differ ({wins} of {self.differ}), "
                f"p = {self.p_value:.3g} (exact McNemar); difference {self.diff * 100:+.1f} points, "
                f"95% CI {self.diff_low * 100:+.1f} to {self.diff_high * 100:+.1f} (paired bootstrap, {self.n} items)")


def compare(a: EvalResult, b: EvalResult, rounds: int = 10000, seed: int = 0) -> Comparison:
    sa = {o.item_id: o.score for o in a.items if o.status == "ok" and o.score is not None}
    sb = {o.item_id: o.score for o in b.items if o.status == "ok" and o.score is not None}
    common = [i for i in sa if i in sb]
    warnings = []
    if a.method != b.method or a.shots != b.shots or a.prompt_format != b.prompt_format:
        warnings.append(f"the two results were scored differently ({a.method}, {a.shots}-shot, {a.prompt_format!r} vs "
                        f"{b.method}, {b.shots}-shot, {b.prompt_format!r}): the comparison mixes methods")
    left_out = (len(a.items) - len(common)) + (len(b.items) - len(common))
    if left_out:
        warnings.append(f"{left_out} item results left out: failed calls on one side or the other")
    if not common:
        raise ValueError("the two models have no successfully scored item in common")
    xs = [float(sa[i]) for i in common]
    ys = [float(sb[i]) for i in common]
    binary = all(v in (0.0, 1.0) for v in xs + ys)
    a_only = sum(1 for x, y in zip(xs, ys) if x > y)
    b_only = sum(1 for x, y in zip(xs, ys) if y > x)
    differ = a_only + b_only
    if not binary:
        warnings.append("scores are not all 0/1: McNemar counts the items where one scored higher")
    diff, lo, hi = paired_bootstrap_diff(xs, ys, rounds=rounds, seed=seed)
    return Comparison(a.task, a.model, b.model, a.metric, len(common), sum(xs) / len(xs), sum(ys) / len(ys), a_only, b_only,
                      differ, a_only / differ if differ else None, mcnemar_exact(a_only, b_only), diff, lo, hi,
                      a.method, b.method, warnings)


def compare_models(model_a: str, model_b: str, task: Task, store: Store | None, config: RunConfig | None = None, *,
                   method: str | None = None, rounds: int = 10000, seed: int = 0) -> Comparison:
    """Evaluate both models on the same items (in one event loop, answers from the store where it has
    them) and compare them."""
    ra, rb = evaluate_many([model_a, model_b], [task], store, config, method=method)
    try:
        return compare(ra, rb, rounds=rounds, seed=seed)
    except ValueError as e:
        raise UsageError(f"{task.name}: {e}") from None
