"""The load loop: a closed loop (N requests always in flight) or open-loop arrivals at a rate (Poisson
or gamma spacing, optionally capped in concurrency), a warm-up that is not counted, bounded by a
number of requests and/or a duration. It measures its own lag: how late each request left against
its schedule (open loop) or after its worker's previous request ended (closed loop), and the event
loop's delay (a 5 ms sleep's overshoot), reported as `client_overhead_ms`."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import UsageError
from .client import Sample
from .metrics import dist_ms
from .schedule import Prompt, arrival_gaps

perf = time.perf_counter
TICK_S = 0.005  # the event-loop monitor's sleep


class Target(Protocol):
    async def send(self, s: Sample, messages: tuple[dict, ...], max_tokens: int) -> None: ...


@dataclass(frozen=True)
class Load:
    concurrency: int | None = None  # closed loop
    rate: float | None = None  # open loop, requests/s
    burstiness: float = 1.0
    max_concurrency: int | None = None  # a cap on the open loop
    requests: int | None = None
    duration_s: float | None = None
    warmup: int = 0
    seed: int = 0

    def check(self) -> None:
        if (self.concurrency is None) == (self.rate is None):
            raise UsageError("give either --concurrency N (a closed loop) or --rate R (arrivals per second)")
        if self.requests is None and self.duration_s is None:
            raise UsageError("bound the run with --requests N and/or --duration S")
        for name, v in (("--concurrency", self.concurrency), ("--requests", self.requests),
                        ("--max-concurrency", self.max_concurrency)):
            if v is not None and v < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be above 0")
        if self.warmup < 0:
            raise UsageError("--warmup must be 0 or more")

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Outcome:
    samples: list[Sample]
    duration_s: float
    overhead: dict[str, Any]  # client_overhead_ms
    started_at: float  # perf_counter at the start of the measured phase


async def cancel_and_wait(task: "asyncio.Task[Any] | None") -> None:
    """Stop a background task and wait until it has stopped."""
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


class _Monitor:
    """The event loop's delay: how late a 5 ms sleep wakes up."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = perf()
            await asyncio.sleep(TICK_S)
            self.delays.append(max(0.0, perf() - t - TICK_S))

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self.task)


async def _phase(target: Target, prompts: Sequence[Prompt], load: Load, n: int | None, duration_s: float | None,
                 warmup: bool, first_seq: int, lags: list[float], tick: Callable[[Sample], None]) -> list[Sample]:
    samples: list[Sample] = []
    t0 = perf()
    deadline = t0 + duration_s if duration_s is not None else math.inf
    limit = n if n is not None else math.inf
    counter = 0

    def next_sample(scheduled: float) -> Sample | None:
        nonlocal counter
        if counter >= limit or perf() >= deadline:
            return None
        s = Sample(first_seq + counter, scheduled, warmup)
        counter += 1
        samples.append(s)
        return s

    async def one(s: Sample) -> None:
        p = prompts[s.seq % len(prompts)]
        await target.send(s, p.messages, p.max_tokens)
        tick(s)

    if load.concurrency is not None:
        async def worker() -> None:
            ready = perf()
            while (s := next_sample(ready)) is not None:
                await one(s)
                lags.append(max(0.0, s.sent - ready))
                ready = perf()

        await asyncio.gather(*(worker() for _ in range(load.concurrency)))
        return samples

    # open loop: arrivals on a schedule, each its own task
    assert load.rate is not None
    cap = asyncio.Semaphore(load.max_concurrency) if load.max_concurrency else None
    tasks: set[asyncio.Task[None]] = set()
    gaps = arrival_gaps(load.rate, load.burstiness, 1 << 14, load.seed + first_seq)
    at = t0

    async def arrive(s: Sample) -> None:
        lags.append(max(0.0, perf() - s.scheduled))  # how late it left against its schedule
        if cap is None:
            await one(s)
            return
        async with cap:
            await one(s)

    i = 0
    while True:
        delay = at - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        s = next_sample(at)
        if s is None:
            break
        task = asyncio.get_running_loop().create_task(arrive(s))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        at += float(gaps[i % len(gaps)])
        i += 1
    if tasks:
        await asyncio.gather(*tasks)
    return samples


async def run_load(target: Target, prompts: Sequence[Prompt], load: Load,
                   tick: Callable[[Sample], None] = lambda s: None,
                   on_start: Callable[[], None] | None = None) -> Outcome:
    """`on_start` is called as the load begins (warm-up included): the chaos schedule's time zero."""
    load.check()
    monitor = _Monitor()
    lags: list[float] = []
    if on_start is not None:
        on_start()
    if load.warmup:
        await _phase(target, prompts, load, load.warmup, None, True, 0, [], tick)
    monitor.start()
    start = perf()
    try:
        samples = await _phase(target, prompts, load, load.requests, load.duration_s, False, load.warmup, lags, tick)
    finally:
        await monitor.stop()
    end = max((s.end for s in samples), default=perf())
    overhead = {"schedule_lag": dist_ms(lags), "loop_delay": dist_ms(monitor.delays),
                "max_schedule_lag": round(max(lags) * 1000, 3) if lags else None,
                "max_loop_delay": round(max(monitor.delays) * 1000, 3) if monitor.delays else None}
    return Outcome(samples, max(end - start, 1e-9), overhead, start)


def overhead_warning(result: dict[str, Any]) -> str | None:
    """A line when the load generator's own lag is large enough to distort the figures: its p99 schedule
    lag or event-loop delay over 5% of the TTFT p50 (and over 1 ms)."""
    co = result.get("client_overhead_ms") or {}
    ttft = (result.get("ttft_ms") or {}).get("p50")
    if not ttft:
        return None
    worst = max((co.get(k, {}) or {}).get("p99") or 0.0 for k in ("schedule_lag", "loop_delay"))
    if worst > max(1.0, 0.05 * ttft):
        return (f"warning: the load generator lagged (p99 {worst:.1f} ms against a TTFT p50 of {ttft:.1f} ms): "
                "the figures include the client's own delay; lower the load or use more client processes")
    return None


def ramp_knee(steps: Sequence[tuple[float, float]], tolerance: float = 0.05) -> float | None:
    """The knee of a ramp: the lowest offered rate whose goodput is within `tolerance` of the best goodput
    seen, i.e. where goodput stops growing. `steps` are (rate, goodput)."""
    if not steps:
        return None
    best = max(g for _, g in steps)
    if best <= 0:
        return None
    return min(r for r, g in steps if g >= (1 - tolerance) * best)


def running_p50(values: Sequence[float]) -> float | None:
    return float(np.median(values[-500:])) if values else None
