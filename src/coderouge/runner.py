"""Run many requests: bounded concurrency per provider, adaptive back-off on 429, jittered
retries for retryable errors only, a per-request timeout, the store as cache, a progress bar.

`Runner.run()` is the async core; `run_requests()` is the thin sync wrapper.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .errors import ProviderError, ProviderTimeout, RateLimitError
from .providers import Provider, get_provider
from .providers.base import redact
from .store import Store
from .types import Completion, Request


@dataclass(frozen=True)
class RunConfig:
    concurrency: int | None = None  # per provider; None → the provider's default
    max_retries: int = 6
    timeout_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    progress: bool | None = None  # None → only when stderr is a terminal
    use_cache: bool = True
    base_url: str | None = None


@dataclass
class Result:
    request: Request
    key: str
    completion: Completion | None = None
    error: ProviderError | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.completion is not None


class AdaptiveLimiter:
    """A concurrency limit that halves on 429 and pauses everyone until Retry-After has passed,
    then grows back by one slot after each `limit` successes (AIMD). A released slot is handed
    straight to the oldest waiter (first come, first served; no thundering herd)."""

    def __init__(self, limit: int, sleep: Callable[[float], Awaitable[None]]):
        self.max_limit = max(1, limit)
        self.limit = self.max_limit
        self.active = 0
        self.blocked_until = 0.0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._sleep = sleep

    async def acquire(self) -> None:
        while True:
            wait = self.blocked_until - time.monotonic()
            if wait > 0:
                await self._sleep(wait)
                continue
            if self.active < self.limit and not self._waiters:
                self.active += 1
                return
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut  # when it resolves, the slot is already ours
                return
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self.release()  # we were handed a slot but will not use it
                else:
                    self._waiters.remove(fut)
                raise

    def _wake(self) -> None:
        wait = self.blocked_until - time.monotonic()
        if wait > 0:
            if self._timer is None:
                def fire() -> None:
                    self._timer = None
                    self._wake()

                self._timer = asyncio.get_running_loop().call_later(wait, fire)
            return
        while self.active < self.limit and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)

    def release(self) -> None:
        self.active -= 1
        if self._waiters:
            self._wake()

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self._successes += 1
            if self._successes >= self.limit:
                self._successes = 0
                self.limit += 1
                self._wake()

    def on_rate_limit(self, retry_after: float) -> None:
        self.limit = max(1, self.limit // 2)
        self._successes = 0
        self.blocked_until = max(self.blocked_until, time.monotonic() + retry_after)


class Progress:
    def __init__(self, total: int, enabled: bool | None, desc: str, unit: str = "req"):
        self.bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled and total > 0:
            from tqdm import tqdm

            try:
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            # a terminal that reports no width (some ptys) would get an empty bar: give it 100 columns
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                            dynamic_ncols=sized, ncols=None if sized else 100)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Runner:
    store: Store | None
    config: RunConfig = field(default_factory=RunConfig)
    providers: dict[str, Provider] = field(default_factory=dict)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    waits: list[tuple[str, float]] = field(default_factory=list)  # (reason, seconds): what back-off decided
    _limiters: dict[str, AdaptiveLimiter] = field(default_factory=dict)
    _commit_scheduled: bool = False

    def provider(self, model: str) -> Provider:
        if model not in self.providers:
            self.providers[model] = get_provider(model, base_url=self.config.base_url)
        return self.providers[model]

    def _limiter(self, p: Provider) -> AdaptiveLimiter:
        # one limit per provider endpoint: every model of a vendor shares its rate limits
        k = f"{p.provider}|{p.base_url or ''}"
        if k not in self._limiters:
            self._limiters[k] = AdaptiveLimiter(self.config.concurrency or p.default_concurrency, self._sleep)
        return self._limiters[k]

    def _record(self, key: str, request: Request, base_url: str | None, attempt: int,
                completion: Completion | None, err: ProviderError | None) -> None:
        """Store a call. Writes made in the same event-loop turn share one commit, made at the end of the turn."""
        if self.store is None:
            return
        self.store.begin_batch()
        self.store.record(key, request, base_url, attempt, completion, err)
        if not self._commit_scheduled:
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        self._commit_scheduled = False
        if self.store is not None:
            self.store.commit_batch()

    async def _sleep(self, seconds: float) -> None:
        await self.sleep(seconds)

    def _backoff(self, attempt: int, err: ProviderError) -> float:
        if err.retry_after is not None:
            return min(err.retry_after, self.config.backoff_max_s * 10)
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return self.rng.uniform(cap / 2, cap)  # jittered exponential ("equal jitter")

    async def _one(self, request: Request, key: str, provider: Provider) -> Result:
        limiter = self._limiter(provider)
        result = Result(request, key)
        for attempt in range(1, self.config.max_retries + 2):
            result.attempts = attempt
            await limiter.acquire()
            completion = None
            err: ProviderError | None = None
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    completion = await provider.generate(request)
            except (asyncio.TimeoutError, TimeoutError):
                err = ProviderTimeout(f"no answer within {self.config.timeout_s:g} s", provider=provider.provider)
            except ProviderError as e:
                err = e
            except Exception as e:  # a bug or an unmapped vendor error: recorded, never scored, not retried
                err = ProviderError(f"unexpected {type(e).__name__}: {redact(str(e))}", provider=provider.provider)
            finally:
                limiter.release()
            self._record(key, request, provider.base_url, attempt, completion, err)
            if completion is not None:
                limiter.on_success()
                result.completion, result.error = completion, None
                return result
            assert err is not None
            result.error = err
            if isinstance(err, RateLimitError):
                limiter.on_rate_limit(err.retry_after if err.retry_after is not None else self._backoff(attempt, err))
            if not err.retryable or attempt > self.config.max_retries:
                return result
            delay = self._backoff(attempt, err)
            self.waits.append((err.kind, delay))
            await self.sleep(delay)
        return result

    async def run(self, requests: Sequence[Request], desc: str = "requests") -> list[Result]:
        """Answer every request, from the store when it already has the answer. Order is kept."""
        keyed = []
        for r in requests:
            p = self.provider(r.model)
            keyed.append((r, r.key(p.base_url), p))
        cached = self.store.cached(k for _, k, _ in keyed) if (self.store and self.config.use_cache) else {}
        results: list[Result | None] = [None] * len(keyed)
        todo = []
        for i, (r, k, p) in enumerate(keyed):
            if k in cached:
                results[i] = Result(r, k, cached[k], None, 0)
            else:
                todo.append(i)
        progress = Progress(len(todo), self.config.progress if len(todo) >= 20 else False, desc)

        async def work(i: int) -> None:
            r, k, p = keyed[i]
            results[i] = await self._one(r, k, p)
            progress.update()

        # dedupe identical requests inside one run: the first does the work, the rest reuse it
        first_of: dict[str, int] = {}
        dupes: list[tuple[int, int]] = []
        unique = []
        for i in todo:
            k = keyed[i][1]
            if k in first_of:
                dupes.append((i, first_of[k]))
            else:
                first_of[k] = i
                unique.append(i)
        try:
            await asyncio.gather(*(work(i) for i in unique))
        finally:
            progress.close()
            if self.store is not None:
                self.store.commit_batch()  # also on Ctrl-C: everything received so far is kept
        for i, j in dupes:
            results[i] = results[j]
        return [r for r in results if r is not None]

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.aclose()


def run_requests(requests: Sequence[Request], store: Store | None, config: RunConfig | None = None) -> list[Result]:
    """Sync wrapper around `Runner.run`."""

    async def main() -> list[Result]:
        runner = Runner(store, config or RunConfig())
        try:
            return await runner.run(requests)
        finally:
            await runner.aclose()

    return asyncio.run(main())
