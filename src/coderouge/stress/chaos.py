"""`stress --chaos`: faults injected into chosen deployments on a schedule while the load runs.

    --chaos "2-6:outage@openai/gpt-4o-mini"    from 2 s to 6 s after the start, that deployment is down
    --chaos "8-12:429@*"                        a 429 storm (Retry-After 0.5 s) on every deployment
    --chaos "3-9:slow=0.2@gemini/gemini-2.5-flash"   0.2 s more before each chunk of its streams
    --chaos "1-4:500@fake/a"                     server errors

Against a coderouge gateway (`--gateway gateway.yaml`, served here on 127.0.0.1 for the run, its
deployments wrapped) or a `provider/model` target (the provider itself wrapped). Times are seconds from
the start of the load, warm-up included. The report splits the requests by the window they were sent
in: how many failed, were retried and were served by a fallback (the gateway's `x-coderouge-attempts`
and `x-coderouge-fallback`), and their TTFT and end-to-end latency, beside the requests sent outside
every window.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProviderConnectionError, RateLimitError, ServerError, UsageError
from ..providers import Provider
from ..types import Chunk, Request

KINDS = ("outage", "429", "500", "slow")
_SPEC = re.compile(r"^\s*(?P<a>\d+(?:\.\d+)?)\s*-\s*(?P<b>\d+(?:\.\d+)?)\s*:\s*(?P<kind>outage|429|500|slow)"
                   r"(?:=(?P<value>\d+(?:\.\d+)?))?\s*@\s*(?P<who>\S+)\s*$")


@dataclass(frozen=True)
class Fault:
    start_s: float
    end_s: float
    kind: str
    who: str  # a deployment's name or model, or * for all
    value: float = 0.0  # slow: seconds added before each chunk

    @property
    def label(self) -> str:
        v = f"={self.value:g}" if self.kind == "slow" else ""
        return f"{self.start_s:g}-{self.end_s:g}:{self.kind}{v}@{self.who}"

    def hits(self, name: str, model: str) -> bool:
        return self.who in ("*", name, model)


def parse_chaos(specs: Sequence[str]) -> list[Fault]:
    out = []
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                continue
            m = _SPEC.match(part)
            if not m:
                raise UsageError(f"--chaos {part.strip()!r}: write START-END:KIND@DEPLOYMENT, KIND one of outage, 429, "
                                 "500, slow=SECONDS (e.g. 2-6:outage@openai/gpt-4o-mini, 3-9:slow=0.2@*)")
            a, b = float(m["a"]), float(m["b"])
            if b <= a:
                raise UsageError(f"--chaos {part.strip()!r}: the window must end after it starts")
            if m["kind"] == "slow" and m["value"] is None:
                raise UsageError(f"--chaos {part.strip()!r}: slow needs seconds, e.g. slow=0.2")
            out.append(Fault(a, b, m["kind"], m["who"], float(m["value"] or 0.0)))
    return out


class Clock:
    """Seconds since the load started (set when it does)."""

    def __init__(self) -> None:
        self.t0: float | None = None

    def now(self) -> float | None:
        return None if self.t0 is None else time.perf_counter() - self.t0


class ChaosProvider(Provider):
    """A provider with faults injected while a window of the schedule is open; otherwise the inner one."""

    def __init__(self, inner: Provider, faults: list[Fault], clock: Clock, name: str):
        super().__init__(inner.model, base_url=inner.base_url, options=inner.options)
        self.inner, self.faults, self.clock, self.deployment = inner, faults, clock, name
        self.provider = inner.provider  # type: ignore[misc]
        self.supports_images = inner.supports_images  # type: ignore[misc]
        self.supports_tools = inner.supports_tools  # type: ignore[misc]
        self.supports_response_format = inner.supports_response_format  # type: ignore[misc]
        self.default_concurrency = inner.default_concurrency  # type: ignore[misc]

    def active(self) -> list[Fault]:
        t = self.clock.now()
        return [] if t is None else [f for f in self.faults if f.start_s <= t < f.end_s]

    def connection_key(self) -> str:
        return self.inner.connection_key()

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        active = self.active()
        for f in active:
            if f.kind == "outage":
                raise ProviderConnectionError(f"chaos: {self.deployment} is down ({f.label})", provider=self.provider)
            if f.kind == "429":
                raise RateLimitError(f"chaos: 429 storm ({f.label})", provider=self.provider, status=429,
                                     retry_after=0.5)
            if f.kind == "500":
                raise ServerError(f"chaos: server error ({f.label})", provider=self.provider, status=500)
        delay = sum(f.value for f in active if f.kind == "slow")
        async for chunk in self.inner.stream(request):
            if delay and chunk.text:
                await asyncio.sleep(delay)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


def windows_report(samples: Sequence[Any], faults: list[Fault], t0: float) -> list[dict[str, Any]]:
    """Per chaos window (and outside every window): the requests sent in it, failed, retried, served by a
    fallback, and their TTFT and end-to-end p50/p95 in ms."""
    def stats(group: list[Any], label: str) -> dict[str, Any]:
        ok = [s for s in group if s.ok]
        ttft = [s.ttft * 1000 for s in ok if s.ttft is not None]
        e2e = [s.e2e * 1000 for s in ok]

        def p(xs: list[float], q: float) -> float | None:
            return round(float(np.percentile(xs, q)), 3) if xs else None

        return {"window": label, "requests": len(group), "failed": len(group) - len(ok),
                "retried": sum(1 for s in group if (s.attempts or 1) > 1),
                "fallback": sum(1 for s in group if s.fallback),
                "errors": _count(s.error for s in group if s.error),
                "ttft_p50_ms": p(ttft, 50), "ttft_p95_ms": p(ttft, 95), "e2e_p50_ms": p(e2e, 50), "e2e_p95_ms": p(e2e, 95)}

    measured = [s for s in samples if not s.warmup and s.sent]
    out = []
    inside: set[int] = set()
    for f in faults:
        g = [s for s in measured if f.start_s <= s.sent - t0 < f.end_s]
        inside.update(id(s) for s in g)
        out.append(stats(g, f.label))
    out.append(stats([s for s in measured if id(s) not in inside], "outside every window"))
    return out


def _count(xs: Any) -> dict[str, int]:
    d: dict[str, int] = {}
    for x in xs:
        d[x] = d.get(x, 0) + 1
    return dict(sorted(d.items()))


class GatewayThread:
    """A coderouge gateway from its configuration, each deployment wrapped in a ChaosProvider, served by
    uvicorn on 127.0.0.1 (a free port) in a thread of its own for the length of the run."""

    def __init__(self, config_path: str, faults: list[Fault], clock: Clock):
        from ..gateway.config import load_config
        from ..providers import get_provider

        self.config = load_config(config_path)
        known = {d.name for r in self.config.routes.values() for d in r.deployments} | \
            {d.model for r in self.config.routes.values() for d in r.deployments}
        for f in faults:
            if f.who != "*" and f.who not in known:
                raise UsageError(f"--chaos {f.label}: {config_path} has no deployment {f.who!r} "
                                 f"(it has: {', '.join(sorted(known))})")
        self.providers: dict[str, Provider] = {}
        for r in self.config.routes.values():
            for d in r.deployments:
                if d.name not in self.providers:
                    mine = [f for f in faults if f.hits(d.name, d.model)]
                    inner = get_provider(d.model, base_url=d.base_url)
                    self.providers[d.name] = ChaosProvider(inner, mine, clock, d.name) if mine else inner
        self.server: Any = None
        self.thread: Any = None

    def __enter__(self) -> str:
        import threading

        import uvicorn

        from ..gateway.app import create_app
        from ..net import listen

        app = create_app(self.config, None, require_keys=False, providers=self.providers)
        sock, root = listen("127.0.0.1", 0)
        self.sock = sock
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise UsageError("the gateway for --chaos did not start")
            time.sleep(0.01)
        return root + "/v1"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
