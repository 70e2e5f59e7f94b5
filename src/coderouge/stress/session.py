"""One load test from start to end: resolve the target, check it answers at all (one clear line when it
does not), run the load, summarise, store. `--ramp` and `--compare` are several of these."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import UsageError
from ..secrets import redact
from .client import HTTPTarget, ProviderTarget, Sample
from .metrics import gemma_token_counter, summarize
from .run import Load, cancel_and_wait, overhead_warning, ramp_knee, run_load, running_p50
from .schedule import load_prompts

PREFLIGHT_TIMEOUT_S = 10.0


@dataclass
class Options:
    model: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 60.0
    ignore_eos: bool = False
    prompts: str | None = None
    input_tokens: int | None = None
    output_tokens: int = 128
    range_ratio: float = 0.0
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    slo_e2e_ms: float | None = None
    progress: bool = False
    extra_config: dict[str, Any] = field(default_factory=dict)


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def _api_key(opts: Options) -> str | None:
    if not opts.api_key_env:
        return None
    key = os.environ.get(opts.api_key_env)
    if not key:
        raise UsageError(f"--api-key-env {opts.api_key_env}: that variable is not set")
    return key


async def _models(base_url: str, key: str | None) -> list[str]:
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PREFLIGHT_TIMEOUT_S)) as s:
            async with s.get(base_url.rstrip("/") + "/models", headers=headers) as r:
                if r.status != 200:
                    return []
                data = await r.json(content_type=None)
                return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except Exception:  # noqa: BLE001 - only a hint for error messages
        return []


async def preflight_http(base_url: str, model: str | None, key: str | None) -> str:
    """The model to use; one request of one token first. Anything that means "this will never work" (an
    unreachable server, a wrong URL, not OpenAI's API, a wrong key, an unknown model) is a UsageError that
    names it, within PREFLIGHT_TIMEOUT_S."""
    import aiohttp

    if model is None:
        models = await _models(base_url, key)
        if len(models) != 1:
            raise UsageError(f"{base_url}: name the model with --model" + (f" (the server has: {', '.join(models[:10])})"
                                                                         if models else ""))
        model = models[0]
    url = base_url.rstrip("/") + "/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "stream": True}
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PREFLIGHT_TIMEOUT_S)) as s:
            async with s.post(url, data=json.dumps(body), headers=headers) as r:
                text = (await r.content.read(4096)).decode("utf-8", "replace")
                ctype = r.headers.get("content-type", "")
                status = r.status
    except asyncio.TimeoutError:
        raise UsageError(f"{url}: no answer within {PREFLIGHT_TIMEOUT_S:g} s") from None
    except aiohttp.InvalidURL:
        raise UsageError(f"{base_url}: not a valid URL") from None
    except aiohttp.ClientError as e:
        raise UsageError(f"{url}: cannot reach the server ({redact(str(e)) or type(e).__name__})") from None
    if status in (401, 403):
        raise UsageError(f"{url}: the server refused the key (HTTP {status})"
                         + ("" if key else ": give one with --api-key-env VAR"))
    if status == 404:
        if "model" in text.lower():
            models = await _models(base_url, key)
            raise UsageError(f"{url}: the server has no model {model!r}"
                             + (f" (it has: {', '.join(models[:10])})" if models else ""))
        raise UsageError(f"{url}: not found (HTTP 404): is {base_url} the base URL of an OpenAI-compatible API "
                         "(usually ending in /v1)?")
    if status in (400, 405, 415, 422):
        raise UsageError(f"{url}: the server rejected a chat completion (HTTP {status}): {redact(text[:200])}")
    if status == 200 and not ("event-stream" in ctype or text.lstrip().startswith("data:")):
        raise UsageError(f"{url}: the answer is not an OpenAI-compatible stream (content-type {ctype or 'none'}): "
                         "is this an OpenAI-compatible server?")
    return model  # 429 and 5xx: the server is there; the load test will count them


async def make_target(target: str, opts: Options) -> tuple[Any, str | None]:
    """(the target object, the model name) after a preflight; UsageError when it cannot work."""
    if is_url(target):
        key = _api_key(opts)
        model = await preflight_http(target, opts.model, key)
        return HTTPTarget(target, model, api_key=key, timeout_s=opts.timeout_s, ignore_eos=opts.ignore_eos), model
    if "/" not in target:
        raise UsageError(f"{target}: give a provider/model (e.g. fake/echo, openai/gpt-4o-mini) or a base URL "
                         "(http://127.0.0.1:8000/v1)")
    t = ProviderTarget(target, timeout_s=opts.timeout_s)
    s = Sample(-1, 0.0)
    try:
        await asyncio.wait_for(t.send(s, ({"role": "user", "content": "Hi"},), 1), PREFLIGHT_TIMEOUT_S)
    except asyncio.TimeoutError:
        s.error = "timeout"
    if s.error in ("http_401", "http_403", "http_404", "http_400", "connection", "timeout"):
        await t.provider.aclose()
        raise UsageError(f"{target}: the first request failed ({s.error}); check the model name, key and base URL")
    return t, target


class Live:
    """A line on standard error, redrawn twice a second: requests done, rate, running percentiles, errors."""

    def __init__(self, total: int | None, enabled: bool, label: str = ""):
        self.total, self.enabled, self.label = total, enabled, label
        self.done = self.errors = 0
        self.ttfts: list[float] = []
        self.t0 = time.perf_counter()
        self.task: asyncio.Task[None] | None = None

    def tick(self, s: Sample) -> None:
        if s.warmup:
            return
        self.done += 1
        if s.error:
            self.errors += 1
        elif s.ttft is not None:
            self.ttfts.append(s.ttft)

    def line(self) -> str:
        el = time.perf_counter() - self.t0
        p50 = running_p50(self.ttfts)
        of = f"/{self.total}" if self.total else ""
        return (f"\r{self.label}{self.done}{of} done, {self.done / el if el else 0:.1f} req/s, TTFT p50 "
                f"{'-' if p50 is None else f'{p50 * 1000:.1f} ms'}, errors {self.errors}   ")

    async def _draw(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            sys.stderr.write(self.line())
            sys.stderr.flush()

    def start(self) -> None:
        if self.enabled:
            self.t0 = time.perf_counter()
            self.task = asyncio.get_running_loop().create_task(self._draw())

    async def stop(self) -> None:
        if self.task is not None:
            await cancel_and_wait(self.task)
            sys.stderr.write(self.line() + "\n")
            sys.stderr.flush()


async def stress_once(target_obj: Any, target: str, model: str | None, load: Load, opts: Options,
                      label: str = "", chaos: tuple[list[Any], Any] | None = None
                      ) -> tuple[dict[str, Any], list[Sample]]:
    """One run. `chaos`: (the faults, their Clock), started with the load and reported window by window."""
    n = (load.requests or 0) + load.warmup or 4096
    prompts = load_prompts(opts.prompts, n=max(n, 1), input_tokens=opts.input_tokens,
                           output_tokens=opts.output_tokens, range_ratio=opts.range_ratio, seed=load.seed)
    live = Live(load.requests, opts.progress, label)
    live.start()
    t0: list[float] = []

    def start() -> None:
        t0.append(time.perf_counter())
        if chaos is not None:
            chaos[1].t0 = t0[0]

    try:
        out = await run_load(target_obj, prompts, load, live.tick, on_start=start)
    finally:
        await live.stop()
    done = [s for s in out.samples if s.ok and not s.warmup]
    counter = None
    if done and any(s.output_tokens is None for s in done):
        counter = gemma_token_counter()
    result = summarize(out.samples, out.duration_s, target=target, model=model, slo_ttft_ms=opts.slo_ttft_ms,
                       slo_tpot_ms=opts.slo_tpot_ms, slo_e2e_ms=opts.slo_e2e_ms, count_tokens=counter,
                       client_overhead=out.overhead)
    warn = overhead_warning(result)
    if warn:
        result["warning"] = warn
    served = {}
    for s in out.samples:
        if not s.warmup and s.served_by:
            served[s.served_by] = served.get(s.served_by, 0) + 1
    if served:
        result["served_by"] = dict(sorted(served.items()))
        result["retried"] = sum(1 for s in out.samples if not s.warmup and (s.attempts or 1) > 1)
        result["fallback"] = sum(1 for s in out.samples if not s.warmup and s.fallback)
    if chaos is not None:
        from .chaos import windows_report

        result["chaos"] = windows_report(out.samples, chaos[0], t0[0])
    return result, out.samples


def request_rows(samples: list[Sample], start: float) -> list[dict[str, Any]]:
    rows = []
    t0 = min((s.sent for s in samples if s.sent), default=start)
    for s in samples:
        rows.append({"seq": s.seq, "sent_s": round(s.sent - t0, 6), "ttft_s": s.ttft, "e2e_s": s.e2e if s.end else None,
                     "output_tokens": s.output_tokens if s.output_tokens is not None else None, "chunks": s.chunks,
                     "error": s.error, "served_by": s.served_by, "warmup": int(s.warmup)})
    return rows


def config_of(load: Load, opts: Options) -> dict[str, Any]:
    cfg = {"load": load.describe(), "output_tokens": opts.output_tokens, "input_tokens": opts.input_tokens,
           "range_ratio": opts.range_ratio, "prompts": opts.prompts or ("synthetic" if opts.input_tokens else "built-in"),
           "ignore_eos": opts.ignore_eos, "timeout_s": opts.timeout_s}
    return {**cfg, **opts.extra_config}


async def ramp(target_obj: Any, target: str, model: str | None, load: Load, rates: list[float], opts: Options
               ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], list[Sample]]]]:
    """Step the offered rate up; goodput at each step, and the knee (where goodput stops growing)."""
    steps = []
    for i, r in enumerate(rates):
        res, samples = await stress_once(target_obj, target, model, replace(load, rate=r, concurrency=None,
                                                                            seed=load.seed + i), opts,
                                         label=f"{r:g} req/s: ")
        res["offered_rate"] = r
        steps.append((res, samples))
    knee = ramp_knee([(r["offered_rate"], r["goodput"]["rate"]) for r, _ in steps])
    summary = {"target": target, "model": model, "knee_rate": knee,
               "steps": [{"offered_rate": r["offered_rate"], "request_rate": r["request_rate"],
                          "goodput_rate": r["goodput"]["rate"], "ttft_p50_ms": r["ttft_ms"]["p50"],
                          "e2e_p50_ms": r["e2e_ms"]["p50"], "errors": sum(r["errors"].values())} for r, _ in steps]}
    return summary, steps


def run_sync(coro: Any) -> Any:
    return asyncio.run(coro)


__all__ = ["Live", "Options", "config_of", "is_url", "make_target", "preflight_http", "ramp", "request_rows",
           "run_sync", "stress_once"]
