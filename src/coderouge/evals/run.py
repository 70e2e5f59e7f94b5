"""Evaluate several models on several tasks in one event loop (sync entry point)."""

from __future__ import annotations

import asyncio

from ..runner import RunConfig, Runner
from ..store import Store
from .engine import EvalResult, evaluate_async
from .tasks import Task


async def evaluate_many_async(models: list[str], tasks: list[Task], store: Store | None, config: RunConfig,
                              method: str | None = None) -> list[EvalResult]:
    runner = Runner(store, config)
    try:
        # different models run side by side; each provider's own limit bounds its concurrency
        jobs = [evaluate_async(runner, m, t, method) for t in tasks for m in models]
        return list(await asyncio.gather(*jobs))
    finally:
        await runner.aclose()


def evaluate_many(models: list[str], tasks: list[Task], store: Store | None, config: RunConfig | None = None,
                  method: str | None = None) -> list[EvalResult]:
    return asyncio.run(evaluate_many_async(models, tasks, store, config or RunConfig(), method))
