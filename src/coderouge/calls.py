"""THE one path for every model call: evals, log-likelihood scoring, MT-Bench, arena battles,
judges, the voting page (and the gateway and Ray workers to come).

`Calls` owns, for every call:
* concurrency per connection (`Provider.connection_key()`: an account at an endpoint), with an
  adaptive limit that halves on 429 and pauses everyone until Retry-After has passed;
* jittered exponential retries for retryable errors only (a streamed call is retried only while
  nothing has reached the caller yet);
* a timeout on every call, log-likelihood scoring in a thread included (it is told to stop);
* recording in the store (every attempt, answer or error; the store is the cache) and cost.

It offers a single call (`call`), a streamed call (`call(..., on_text=)`), a batch (`batch`: cache
prefetch, dedupe, gather, progress) and log-likelihoods (`loglikelihood`, cached in the store).
A progress bar is drawn by whoever asked for one: `RunConfig.progress_factory` (the command line gives
`report.progress.Progress`); `Calls.progress(...)` hands one out, or a no-op when there is none.
`run_calls(store, config, fn)` is the one sync wrapper: it makes a `Calls`, runs `fn(calls)` in
an event loop and closes everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .errors import ProviderError, ProviderTimeout, RateLimitError, StoreError
from .providers import Provider, get_provider
from .secrets import redact
from .store import Store
from .types import Completion, Request, ToolCallDelta

T = TypeVar("T")


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


class ProgressFactory(Protocol):
    """Makes a progress bar: `enabled` None means "only when standard error is a terminal"."""

    def __call__(self, total: int, enabled: bool | None, desc: str, unit: str = "req") -> ProgressBar: ...


class NoProgress:
    """The progress bar of a run that shows none."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RunConfig:
    concurrency: int | None = None  # per connection; None → the provider's default
    max_retries: int = 6
    timeout_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    progress: bool | None = None  # None → only when stderr is a terminal
    progress_factory: ProgressFactory | None = None  # draws the bar (the CLI: report.progress.Progress); None: no bar
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


def loglik_key(scoring_identity: str, context: str, continuation: str) -> str:
    h = hashlib.sha256()
    for part in (scoring_identity, context, continuation):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class Calls:
    store: Store | None
    config: RunConfig = field(default_factory=RunConfig)
    providers: dict[str, Provider] = field(default_factory=dict)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    waits: list[tuple[str, float]] = field(default_factory=list)  # (reason, seconds): what back-off decided
    _limiters: dict[str, AdaptiveLimiter] = field(default_factory=dict)
    _flush_scheduled: bool = False
    _store_failed: StoreError | None = None  # once the store cannot be written, no further call is made

    def provider(self, model: str) -> Provider:
        if model not in self.providers:
            self.providers[model] = get_provider(model, base_url=self.config.base_url)
        return self.providers[model]

    def _limiter(self, p: Provider) -> AdaptiveLimiter:
        k = p.connection_key()
        if k not in self._limiters:
            self._limiters[k] = AdaptiveLimiter(self.config.concurrency or p.default_concurrency, self._sleep)
        return self._limiters[k]

    async def _sleep(self, seconds: float) -> None:
        await self.sleep(seconds)

    def progress(self, total: int, desc: str, unit: str = "req", *, show: bool = True) -> ProgressBar:
        """A progress bar for `total` steps from `RunConfig.progress_factory`; a no-op one when the run has no
        factory, when `RunConfig.progress` is False, or when `show` is False (a run too short to need one)."""
        enabled = self.config.progress if show else False
        if enabled is False or self.config.progress_factory is None or total <= 0:
            return NoProgress()
        return self.config.progress_factory(total, enabled, desc, unit)

    # --- recording -----------------------------------------------------------------------------
    def _record(self, key: str, request: Request, base_url: str | None, attempt: int,
                completion: Completion | None, err: ProviderError | None) -> None:
        """Store a call. Calls recorded in the same event-loop turn are written together at its end."""
        if self.store is None:
            return
        self.store.record(key, request, base_url, attempt, completion, err)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        try:
            self.flush()
        except StoreError as e:  # the calls in flight end with this error; none is started after it
            self._store_failed = e

    def flush(self) -> None:
        """Write what was recorded. A store that cannot be written raises StoreError: the run stops."""
        if self.store is not None:
            self.store.flush()

    def _backoff(self, attempt: int, err: ProviderError) -> float:
        if err.retry_after is not None:
            return min(err.retry_after, self.config.backoff_max_s * 10)
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return self.rng.uniform(cap / 2, cap)  # jittered exponential ("equal jitter")

    # --- the retry loop, shared by every kind of call -----------------------------------------
    async def _attempts(self, provider: Provider, attempt: Callable[[], Awaitable[T]],
                        after: Callable[[int, T | None, ProviderError | None], None],
                        may_retry: Callable[[], bool] = lambda: True,
                        on_attempt: Callable[[int], None] | None = None) -> tuple[T | None, ProviderError | None, int]:
        limiter = self._limiter(provider)
        n = 0
        while True:
            n += 1
            if on_attempt is not None:
                on_attempt(n)
            await limiter.acquire()
            if self._store_failed is not None:  # an answer that cannot be stored is not worth paying for
                limiter.release()
                raise self._store_failed
            value: T | None = None
            err: ProviderError | None = None
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    value = await attempt()
            except TimeoutError:
                err = ProviderTimeout(f"no answer within {self.config.timeout_s:g} s", provider=provider.provider)
            except ProviderError as e:
                err = e
            except Exception as e:  # a bug or an unmapped vendor error: recorded, never scored, not retried
                err = ProviderError(f"unexpected {type(e).__name__}: {redact(str(e))}", provider=provider.provider)
            finally:
                limiter.release()
            after(n, value, err)
            if err is None:
                limiter.on_success()
                return value, None, n
            if isinstance(err, RateLimitError):
                limiter.on_rate_limit(err.retry_after if err.retry_after is not None else self._backoff(n, err))
            if not err.retryable or n > self.config.max_retries or not may_retry():
                return None, err, n
            delay = self._backoff(n, err)
            self.waits.append((err.kind, delay))
            await self.sleep(delay)

    # --- one call, streamed or not --------------------------------------------------------------
    async def call(self, request: Request, *, on_text: Callable[[str], None] | None = None,
                   on_tool: Callable[[ToolCallDelta], None] | None = None,
                   use_cache: bool | None = None, key: str | None = None,
                   on_attempt: Callable[[int], None] | None = None) -> Result:
        """One model call. With `on_text` (and `on_tool` for tool calls), the answer is streamed to it as it
        comes; such a call is retried only while nothing has reached the caller yet (a caller never sees a
        half answer twice). A request with tools is never answered from the store (which keeps the text).
        `on_attempt(n)` is told when attempt n starts."""
        provider = self.provider(request.model)
        key = key or request.key(provider.base_url)
        cache = self.config.use_cache if use_cache is None else use_cache
        if cache and self.store is not None and not request.tools:
            hit = self.store.cached([key]).get(key)
            if hit is not None:
                if on_text is not None:
                    on_text(hit.text)
                return Result(request, key, hit, None, 0)
        return await self._call(request, key, provider, on_text, on_tool, on_attempt)

    async def _call(self, request: Request, key: str, provider: Provider,
                    on_text: Callable[[str], None] | None = None,
                    on_tool: Callable[[ToolCallDelta], None] | None = None,
                    on_attempt: Callable[[int], None] | None = None) -> Result:
        emitted = False

        def relay(text: str) -> None:
            nonlocal emitted
            emitted = True
            assert on_text is not None
            on_text(text)

        def relay_tool(delta: ToolCallDelta) -> None:
            nonlocal emitted
            emitted = True
            assert on_tool is not None
            on_tool(delta)

        def after(n: int, completion: Completion | None, err: ProviderError | None) -> None:
            self._record(key, request, provider.base_url, n, completion, err)

        completion, err, n = await self._attempts(
            provider, lambda: provider.generate(request, on_text=relay if on_text else None,
                                                on_tool=relay_tool if on_tool else None), after,
            may_retry=lambda: not emitted, on_attempt=on_attempt)
        return Result(request, key, completion, err, n)

    # --- a batch -------------------------------------------------------------------------------
    async def batch(self, requests: Sequence[Request], desc: str = "requests") -> list[Result]:
        """Answer every request, from the store when it already has the answer. Order is kept;
        identical requests are asked once."""
        keyed = []
        for r in requests:
            p = self.provider(r.model)
            keyed.append((r, r.key(p.base_url), p))
        cached = self.store.cached(k for _, k, _ in keyed) if (self.store and self.config.use_cache) else {}
        results: list[Result | None] = [None] * len(keyed)
        first_of: dict[str, int] = {}
        dupes: list[tuple[int, int]] = []
        unique = []
        for i, (r, k, _) in enumerate(keyed):
            if k in cached:
                results[i] = Result(r, k, cached[k], None, 0)
            elif k in first_of:
                dupes.append((i, first_of[k]))
            else:
                first_of[k] = i
                unique.append(i)
        progress = self.progress(len(unique) + len(dupes), desc, show=len(unique) >= 20)

        async def work(i: int) -> None:
            r, k, p = keyed[i]
            results[i] = await self._call(r, k, p)
            progress.update()

        try:
            await asyncio.gather(*(work(i) for i in unique))
        finally:
            progress.close()
            self.flush()  # also on Ctrl-C: everything received so far is kept
        for i, j in dupes:
            results[i] = results[j]
        return [r for r in results if r is not None]

    # --- log-likelihoods -----------------------------------------------------------------------
    def loglik_keys(self, model: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
        ident = self.provider(model).scoring_identity()
        return [loglik_key(ident, c, x) for c, x in pairs]

    def loglik_cached(self, keys: Sequence[str]) -> dict[str, tuple[float, bool, int]]:
        return self.store.loglik_get(keys) if (self.store is not None and self.config.use_cache) else {}

    async def loglikelihood(self, model: str, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, bool, int]]:
        """log P(continuation | context), greedy?, tokens for each pair: from the store where it has them,
        else computed in a thread under the call timeout (told to stop when it runs out or on Ctrl-C)
        and stored. Raises ProviderError when the provider fails."""
        provider = self.provider(model)
        keys = self.loglik_keys(model, pairs)
        have = self.loglik_cached(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in have))
        if todo:
            pair_of = dict(zip(keys, pairs))
            cancel = threading.Event()

            async def attempt() -> list[tuple[float, bool, int]]:
                cancel.clear()
                fut = asyncio.get_running_loop().run_in_executor(
                    None, provider.loglikelihood, [pair_of[k] for k in todo], cancel)
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even when abandoned
                try:
                    return await asyncio.shield(fut)
                except BaseException:  # timeout or Ctrl-C: the thread stops before its next decode call
                    cancel.set()
                    raise

            # not retried: a local computation that failed or ran out of time would do the same again
            got, err, _ = await self._attempts(provider, attempt, lambda n, v, e: None, may_retry=lambda: False)
            if err is not None:
                raise err
            assert got is not None
            rows = [(k, *v) for k, v in zip(todo, got)]
            if self.store is not None:
                self.store.loglik_put(model, rows)
            for k, lp, g, n in rows:
                have[k] = (lp, g, n)
        return [have[k] for k in keys]

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.aclose()


def run_calls(store: Store | None, config: RunConfig | None, fn: Callable[[Calls], Awaitable[T]],
              providers: dict[str, Provider] | None = None) -> T:
    """The one sync entry: make a `Calls`, run `fn(calls)` in a fresh event loop, flush, close."""

    async def main() -> T:
        calls = Calls(store, config or RunConfig(), providers=dict(providers or {}))
        try:
            return await fn(calls)
        finally:
            try:
                calls.flush()
            finally:
                await calls.aclose()

    return asyncio.run(main())
