"""What the three vendor adapters share: key lookup, one SDK client per event loop, Retry-After
headers, and the translation of transport errors that escape an SDK."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
from collections.abc import Sequence
from typing import Any

from ..errors import (
    MissingKeyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    StreamCutError,
    parse_retry_after,
)
from ..secrets import env_key, redact
from .base import Provider

PLACEHOLDER_KEY = "not-needed"  # local and proxy servers usually need no key


def import_any(*names: str) -> tuple[Any, ...]:
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            pass
    return tuple(mods)


# the SDKs' HTTP stacks (openai/anthropic ship a fork named httpx2; google-genai uses aiohttp when installed)
HTTPX = import_any("httpx2", "httpx")
AIOHTTP = import_any("aiohttp")


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def header_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` (preferred, as OpenAI and Anthropic send it) or `retry-after`."""
    if headers is None:
        return None
    ms = parse_retry_after(headers.get("retry-after-ms"))
    return ms / 1000.0 if ms is not None else parse_retry_after(headers.get("retry-after"))


def transport_error(e: BaseException, provider: str, mid_stream: bool) -> ProviderError:
    """An exception from below the SDK: a timeout, a refused connection, or (once the answer had
    begun to arrive) a cut stream."""
    detail = redact(f"{type(e).__name__}: {e}")
    broken = StreamCutError if mid_stream else ProviderConnectionError
    for hx in HTTPX:
        if isinstance(e, hx.TimeoutException):
            return ProviderTimeout(detail, provider=provider)
        if isinstance(e, hx.TransportError):  # RemoteProtocolError, ReadError, ConnectError …
            return broken(detail, provider=provider)
    for aio in AIOHTTP:
        if isinstance(e, aio.ServerTimeoutError):
            return ProviderTimeout(detail, provider=provider)
        if isinstance(e, aio.ClientPayloadError):
            return StreamCutError(detail, provider=provider)
        if isinstance(e, (aio.ClientConnectionError, aio.ClientOSError)):
            return broken(detail, provider=provider)
    if isinstance(e, TimeoutError):
        return ProviderTimeout(detail, provider=provider)
    if isinstance(e, ConnectionError):
        return broken(detail, provider=provider)
    return ProviderError(detail, provider=provider)


class SDKProvider(Provider):
    """A vendor reached through its official SDK: the key from the environment, and one client per
    event loop (an SDK's connection pool belongs to the loop that made it)."""

    key_env: Sequence[str] = ()

    def __init__(self, model: str, *, base_url: str | None = None, options: dict[str, str] | None = None):
        super().__init__(model, base_url=base_url, options=options)
        key = env_key(*self.key_env)
        if not key:
            if not (base_url or self._env_base_url()):
                raise MissingKeyError(f"{self.provider}/{model}: no API key: set {' or '.join(self.key_env)}")
            key = PLACEHOLDER_KEY
        self._api_key = key
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _env_base_url(self) -> str | None:
        return None

    def connection_key(self) -> str:
        # one budget per account at an endpoint: the same key at the same base URL, whatever the model
        fp = hashlib.sha256(self._api_key.encode()).hexdigest()[:12]
        return f"{self.provider}|{self.base_url or self._env_base_url() or ''}|{fp}"

    def _make_client(self) -> Any:
        raise NotImplementedError

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._make_client()
            self._client_loop = loop
        return self._client
