"""Batches of model calls. Every call goes through `calls.Calls` (limits, back-off, retries, timeouts,
recording); a `Runner` is a `Calls` that answers a list of requests at once (cache prefetch, dedupe,
gather, progress). The executor is the local asyncio loop; Ray is the one to come.
"""

from __future__ import annotations

from collections.abc import Sequence

from .calls import AdaptiveLimiter, Calls, Result, RunConfig, run_calls
from .store import Store
from .types import Request

__all__ = ["AdaptiveLimiter", "Result", "RunConfig", "Runner", "run_requests"]


class Runner(Calls):
    async def run(self, requests: Sequence[Request], desc: str = "requests") -> list[Result]:
        """Answer every request, from the store when it already has the answer. Order is kept."""
        return await self.batch(requests, desc)


def run_requests(requests: Sequence[Request], store: Store | None, config: RunConfig | None = None) -> list[Result]:
    """Sync wrapper: a batch in its own event loop."""
    return run_calls(store, config, lambda calls: calls.batch(requests))
