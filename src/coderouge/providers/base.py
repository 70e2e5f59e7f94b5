"""The provider seam: one abstract method, `stream()`. Everything else is shared."""

from __future__ import annotations

import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from ..errors import StreamCutError, UnsupportedError
from ..types import Chunk, Completion, Request, Usage
from . import pricing

_SECRET_PATTERNS = [re.compile(r"\b(sk|sk-ant|sk-proj|AIza)[-_A-Za-z0-9]{8,}")]
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact()` removes it from any text we show or store."""
    if value and len(value) >= 6:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for s in _SECRETS:
        if s in text:
            text = text.replace(s, "[REDACTED]")
    for pat in _SECRET_PATTERNS:
        text = pat.sub("[REDACTED]", text)
    return text


def env_key(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            register_secret(v)
            return v
    return None


class Provider(ABC):
    """A model behind one method. Subclasses implement `stream()`; `generate()` times and prices it."""

    provider: ClassVar[str] = ""
    supports_images: ClassVar[bool] = False
    default_concurrency: ClassVar[int] = 8

    @property
    def completion_model(self) -> bool:
        """A base model that continues text (stop sequences matter), not a chat model that answers turns."""
        return False

    def __init__(self, model: str, *, base_url: str | None = None, options: dict[str, str] | None = None):
        self.model = model
        self.base_url = base_url
        self.options = dict(options or {})

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    @abstractmethod
    def stream(self, request: Request) -> AsyncIterator[Chunk]:
        """Yield the answer in chunks; the last may carry usage and stop reason. Raise ProviderError on failure."""

    async def generate(self, request: Request, on_text: Callable[[str], None] | None = None) -> Completion:
        if not self.supports_images and any(m.images for m in request.messages):
            raise UnsupportedError(f"{self.name} does not accept image inputs", provider=self.provider)
        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        usage: Usage | None = None
        stop: str | None = None
        async for chunk in self.stream(request):
            if chunk.text:
                if ttft is None:
                    ttft = time.perf_counter() - start
                parts.append(chunk.text)
                if on_text:
                    on_text(chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.stop_reason is not None:
                stop = chunk.stop_reason
        latency = time.perf_counter() - start
        if stop is None:
            raise StreamCutError("stream ended without a stop reason", provider=self.provider)
        usage = usage or Usage()
        return Completion(
            model=self.name,
            text="".join(parts),
            stop_reason=stop,
            usage=usage,
            ttft_s=ttft,
            latency_s=latency,
            cost_usd=pricing.cost(self.provider, self.model, usage),
        )

    async def aclose(self) -> None:
        return None
