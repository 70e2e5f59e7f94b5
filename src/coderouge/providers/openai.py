"""OpenAI (and any OpenAI-compatible server: vLLM, llama.cpp, Ollama …) through the official `openai` SDK."""

from __future__ import annotations

import re

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from typing import Any

from ..errors import (
    MissingKeyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    StreamCutError,
    error_for_status,
    parse_retry_after,
)
from ..types import Chunk, ImagePart, Message, Request, Usage
from .base import Provider, env_key, redact

PROVIDER = "openai"
SDK_TIMEOUT_S = 600.0
PLACEHOLDER_KEY = "not-needed"
_STOP_REASONS = {"stop": "stop", "length": "max_tokens", "content_filter": "content_filter"}
# Error types that come inside a stream (no HTTP status of their own) → the status they stand for.
_TYPE_STATUS = {"server_error": 500, "api_error": 500, "rate_limit_exceeded": 429, "rate_limit_error": 429}


def _import_any(*names: str) -> tuple[Any, ...]:
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            pass
    return tuple(mods)


_HTTPX = _import_any("httpx2", "httpx")  # the SDK's HTTP stack: errors from it can escape a stream


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _content(m: Message) -> Any:
    if isinstance(m.content, str):
        return m.content
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, ImagePart):
            parts.append({"type": "image_url", "image_url": {"url": p.data_url()}})
        else:
            parts.append({"type": "text", "text": p.text})
    return parts


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = parse_retry_after(headers.get("retry-after-ms"))
    return ms / 1000.0 if ms is not None else parse_retry_after(headers.get("retry-after"))


def _map_error(e: BaseException, mid_stream: bool = False) -> ProviderError:
    """Translate any exception from the SDK or its HTTP stack into coderouge's tree.

    `mid_stream`: the answer had begun to arrive, so a broken connection is a cut stream."""
    import openai

    if isinstance(e, ProviderError):
        return e
    if isinstance(e, openai.APITimeoutError):
        return ProviderTimeout(redact(e.message), provider=PROVIDER)
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__
        detail = f"{e.message} ({type(cause).__name__}: {cause})" if cause else e.message
        cls = StreamCutError if mid_stream else ProviderConnectionError
        return cls(redact(detail), provider=PROVIDER)
    if isinstance(e, openai.APIError):
        body = e.body if isinstance(e.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else e.message
        status = getattr(e, "status_code", None)
        if status is None or status < 400:  # an error event inside a 200 stream
            code = body.get("code")
            by_type = _TYPE_STATUS.get(str(body.get("type"))) or _TYPE_STATUS.get(str(code))
            status = code if isinstance(code, int) and code >= 400 else by_type
        response = getattr(e, "response", None)
        headers = response.headers if response is not None else None
        return error_for_status(status, redact(str(message)), provider=PROVIDER, retry_after=_retry_after(headers))
    detail = redact(f"{type(e).__name__}: {e}")
    broken = StreamCutError if mid_stream else ProviderConnectionError
    for hx in _HTTPX:
        if isinstance(e, hx.TimeoutException):
            return ProviderTimeout(detail, provider=PROVIDER)
        if isinstance(e, hx.TransportError):  # RemoteProtocolError, ReadError, ConnectError …
            return broken(detail, provider=PROVIDER)
    if isinstance(e, TimeoutError):
        return ProviderTimeout(detail, provider=PROVIDER)
    if isinstance(e, ConnectionError):
        return broken(detail, provider=PROVIDER)
    return ProviderError(detail, provider=PROVIDER)


# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5…) reject temperature and max_tokens
_REASONING = re.compile(r"^(o\d|gpt-5)")
REASONING_ALLOWANCE = 8192

class OpenAIProvider(Provider):
    provider = PROVIDER
    supports_images = True

    def __init__(self, model: str, *, base_url: str | None = None, options: dict[str, str] | None = None):
        super().__init__(model, base_url=base_url, options=options)
        key = env_key("OPENAI_API_KEY")
        if not key:
            if not (base_url or os.environ.get("OPENAI_BASE_URL")):
                raise MissingKeyError(f"openai/{model}: no API key: set OPENAI_API_KEY")
            key = PLACEHOLDER_KEY  # local OpenAI-compatible servers need none
        self._api_key = key
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # connection pools belong to one loop
            import openai

            kwargs: dict[str, Any] = {"api_key": self._api_key, "max_retries": 0, "timeout": SDK_TIMEOUT_S}
            if self.base_url:
                kwargs["base_url"] = self.base_url
            self._client = openai.AsyncOpenAI(**kwargs)
            self._client_loop = loop
        return self._client

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": _content(m)} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        reasoning = _REASONING.match(self.model) is not None
        if not reasoning or request.temperature == 1.0:
            params["temperature"] = request.temperature  # reasoning models accept only the default
        if reasoning:
            # max_tokens means visible answer tokens; reasoning models spend hidden tokens first
            params["max_completion_tokens"] = request.max_tokens + REASONING_ALLOWANCE
        elif _truthy(self.options.get("max_completion_tokens")):
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        return params

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        stop: str | None = None
        usage: Usage | None = None
        sdk_stream: Any = None
        try:
            sdk_stream = await self._get_client().chat.completions.create(**self._params(request))
            async for event in sdk_stream:
                if event.usage is not None:
                    usage = Usage(event.usage.prompt_tokens or 0, event.usage.completion_tokens or 0)
                for choice in event.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        yield Chunk(text=choice.delta.content)
                    if choice.finish_reason:
                        stop = _STOP_REASONS.get(choice.finish_reason, choice.finish_reason)
        except Exception as e:  # noqa: BLE001 - every vendor error is translated here, once
            raise _map_error(e, mid_stream=sdk_stream is not None) from None
        finally:
            if sdk_stream is not None:
                try:
                    await sdk_stream.close()
                except Exception:  # noqa: BLE001 - closing a broken stream may fail too
                    pass
        if stop is None:
            raise StreamCutError("stream ended without a finish_reason", provider=PROVIDER)
        yield Chunk(usage=usage, stop_reason=stop)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - e.g. its event loop is already gone
                pass
