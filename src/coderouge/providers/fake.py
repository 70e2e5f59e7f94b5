"""A provider with no model behind it: scripted answers, set latency, injected faults.

Part of the package (not just the tests) so that demos, tests and chaos runs can use it.

    fake/echo                         answers with the last user message
    fake/NAME?answer=Paris            always answers "Paris"
    fake/NAME?latency=0.05            takes 50 ms per call (ttft=… splits first token from the rest)
    fake/NAME?word_delay=0.05         streams word by word, 50 ms apart (as a person sees a model type)
    fake/NAME?faults=429,500,ok       attempt 1 of each distinct request → 429, attempt 2 → 500, then answers
    fake/NAME?fault_rate=0.2&fault=429&seed=1   a seeded random 20% of calls fail with 429
    fake/NAME?retry_after=2           the Retry-After a 429 carries (seconds)

Faults: 429 (with Retry-After), 500, 503, 401, 400, timeout (hangs until the runner's
timeout), cut (the stream stops halfway), ok.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

from ..errors import UsageError, error_for_status
from ..types import Chunk, Request, Usage
from .base import Provider

FAULTS = {"429", "500", "503", "401", "400", "timeout", "cut", "ok"}


class FakeProvider(Provider):
    provider = "fake"
    supports_images = True
    default_concurrency = 64

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        options: dict[str, str] | None = None,
        script: Callable[[Request], str] | dict[str, str] | None = None,
    ):
        super().__init__(model, base_url=base_url, options=options)
        o = self.options
        try:
            self.latency = float(o.get("latency", 0.0))
            self.ttft = float(o.get("ttft", self.latency))
            self.retry_after = float(o.get("retry_after", 1.0))
            self.fault_rate = float(o.get("fault_rate", 0.0))
            self.hang_s = float(o.get("hang", 3600.0))
            self.word_delay = float(o.get("word_delay", 0.0))
        except ValueError as e:
            raise UsageError(f"fake/{model}: bad option value: {e}") from None
        self.faults = [f.strip() for f in o.get("faults", "").split(",") if f.strip()]
        self.random_fault = o.get("fault", "500")
        for f in [*self.faults, self.random_fault]:
            if f not in FAULTS:
                raise UsageError(f"fake/{model}: unknown fault {f!r}; known: {', '.join(sorted(FAULTS))}")
        self.answer = o.get("answer")
        self.script = script
        self._rng = random.Random(int(o.get("seed", 0)))
        self._attempts: dict[str, int] = defaultdict(int)
        self.calls = 0

    def _answer_for(self, request: Request) -> str:
        if self.script is not None:
            if callable(self.script):
                return self.script(request)
            prompt = request.messages[-1].text
            return self.script.get(prompt, "")
        if self.answer is not None:
            return self.answer
        users = [m for m in request.messages if m.role == "user"]
        return users[-1].text if users else ""

    def _fault_for(self, request: Request) -> str:
        key = hashlib.sha1(request.key().encode()).hexdigest()
        n = self._attempts[key]
        self._attempts[key] += 1
        if n < len(self.faults):
            return self.faults[n]
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self.random_fault
        return "ok"

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        self.calls += 1
        fault = self._fault_for(request)
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
        if fault in ("429", "500", "503", "401", "400"):
            if self.ttft:
                await asyncio.sleep(self.ttft)
            retry_after = self.retry_after if fault == "429" else None
            raise error_for_status(int(fault), f"injected fault {fault}", provider="fake", retry_after=retry_after)
        text = self._answer_for(request)
        words = text.split(" ")
        if self.ttft:
            await asyncio.sleep(self.ttft)
        rest = max(0.0, self.latency - self.ttft)
        cut = fault == "cut"
        n = max(1, len(words) // 2) if cut else len(words)
        for i, w in enumerate(words[:n]):
            if i and self.word_delay:
                await asyncio.sleep(self.word_delay)
            yield Chunk(text=w if i == 0 else " " + w)
        if cut:
            return  # the stream stops: no stop reason, no usage
        if rest:
            await asyncio.sleep(rest)
        prompt_words = sum(len(m.text.split()) for m in request.messages)
        out_words = words[: request.max_tokens]
        stop = "stop" if len(words) <= request.max_tokens else "max_tokens"
        yield Chunk(usage=Usage(prompt_words, len([w for w in out_words if w])), stop_reason=stop)
