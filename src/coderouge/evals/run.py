"""Evaluate several models on several tasks in one event loop (sync entry points), and pass@k of several
models on HumanEval."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..calls import Calls, RunConfig, run_calls
from ..store import Store
from .engine import EvalResult, evaluate_async
from .task_types import Task


async def evaluate_many_async(calls: Calls, models: list[str], tasks: list[Task], method: str | None = None) -> list[EvalResult]:
    # different models run side by side (each connection's own limit bounds its concurrency);
    # one model's tasks run one after another, so a local model never competes with itself
    async def one_model(m: str) -> list[EvalResult]:
        return [await evaluate_async(calls, m, t, method) for t in tasks]

    per_model = await asyncio.gather(*(one_model(m) for m in models))
    return [per_model[i][j] for j in range(len(tasks)) for i in range(len(models))]


def evaluate_many(models: list[str], tasks: list[Task], store: Store | None, config: RunConfig | None = None,
                  method: str | None = None) -> list[EvalResult]:
    return run_calls(store, config, lambda calls: evaluate_many_async(calls, models, tasks, method))


def pass_at_k_many(models: list[str], task: Task, samples: int, ks: Sequence[int], temperature: float,
                   store: Store | None, config: RunConfig | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(model, pass@k result) for each model on `task` (HumanEval): `samples` answers per problem."""
    from .humaneval import evaluate_pass_at_k

    async def run(calls: Calls) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for m in models:
            stop = tuple(task.meta["stop"]) if calls.provider(m).completion_model else None
            out.append((m, await evaluate_pass_at_k(calls, m, task, samples, list(ks), temperature, stop=stop)))
        return out

    return run_calls(store, config, run)
