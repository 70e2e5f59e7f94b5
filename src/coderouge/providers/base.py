"""The provider seam: one abstract method, `stream()`. Everything else is shared."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..errors import StreamCutError, UnsupportedError
from ..types import Chunk, Completion, Request, ToolCall, ToolCallDelta, Usage
from . import pricing


class Provider(ABC):
    """A model behind one method. Subclasses implement `stream()`; `generate()` times and prices it."""

    provider: ClassVar[str] = ""
    supports_images: ClassVar[bool] = False
    supports_tools: ClassVar[bool] = False  # `tools`/`tool_choice` and tool turns in the messages
    supports_response_format: ClassVar[bool] = False  # JSON mode / JSON schema answers
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

    def unsupported(self, request: Request) -> str | None:
        """The first parameter of `request` this provider cannot honour (None when it can honour all)."""
        if not self.supports_images and any(m.images for m in request.messages):
            return "images"
        if not self.supports_tools and (request.tools or request.tool_choice
                                        or any(m.tool_calls or m.role == "tool" for m in request.messages)):
            return "tools"
        if not self.supports_response_format and request.response_format:
            return "response_format"
        return None

    async def generate(self, request: Request, on_text: Callable[[str], None] | None = None,
                       on_tool: Callable[[ToolCallDelta], None] | None = None) -> Completion:
        missing = self.unsupported(request)
        if missing == "images":
            raise UnsupportedError(f"{self.name} does not accept image inputs", provider=self.provider)
        if missing:
            raise UnsupportedError(f"{self.name} does not support '{missing}'", provider=self.provider)
        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        calls: dict[int, list[str]] = {}  # index → [id, name, arguments so far]
        usage: Usage | None = None
        stop: str | None = None
        async for chunk in self.stream(request):
            if chunk.text:
                if ttft is None:
                    ttft = time.perf_counter() - start
                parts.append(chunk.text)
                if on_text:
                    on_text(chunk.text)
            if chunk.tool_call is not None:
                d = chunk.tool_call
                if ttft is None:
                    ttft = time.perf_counter() - start
                acc = calls.setdefault(d.index, ["", "", ""])
                acc[0] = d.id or acc[0]
                acc[1] = d.name or acc[1]
                acc[2] += d.arguments
                if on_tool:
                    on_tool(d)
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
            tool_calls=tuple(ToolCall(a[0] or f"call_{i}", a[1], a[2]) for i, a in sorted(calls.items())),
        )

    # --- declared capabilities (methods, never attributes probed with hasattr) -------------------
    def connection_key(self) -> str:
        """Calls with the same key share one concurrency budget and one 429 back-off: an account at an
        endpoint. Vendors add a fingerprint of the API key; local models their file."""
        return f"{self.provider}|{self.base_url or ''}"

    def scores_loglikelihood(self) -> bool:
        """Whether `loglikelihood()` works: log P(continuation | context) from the model's own probabilities."""
        return False

    def loglikelihood(self, pairs: list[tuple[str, str]], cancel: threading.Event | None = None
                      ) -> list[tuple[float, bool, int]]:
        """(log P(continuation | context), greedy?, continuation tokens) per pair. Blocking: the call path
        runs it in a thread with a timeout, and sets `cancel` to make it stop between decode calls."""
        raise UnsupportedError(f"{self.name} gives no log-likelihoods", provider=self.provider)

    def scoring_identity(self) -> str:
        """Everything a log-likelihood's value depends on (model file, backend version, settings): part of
        its cache key, so a cached value is never reused after one of them changed."""
        raise UnsupportedError(f"{self.name} gives no log-likelihoods", provider=self.provider)

    def scoring_settings(self) -> dict[str, Any]:
        """The scoring backend's settings that change the numbers, recorded with each result."""
        return {}

    async def aclose(self) -> None:
        return None


@runtime_checkable
class LoglikScorer(Protocol):
    """The log-likelihood capability, for type checking: providers whose `scores_loglikelihood()` is True."""

    def scores_loglikelihood(self) -> bool: ...
    def loglikelihood(self, pairs: list[tuple[str, str]], cancel: threading.Event | None = None
                      ) -> list[tuple[float, bool, int]]: ...
    def scoring_identity(self) -> str: ...
