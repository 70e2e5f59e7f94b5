"""What the three vendor adapters share: key lookup, one SDK client per event loop, Retry-After
headers, the translation of an SDK's exceptions into coderouge's tree (`map_sdk_error`: each adapter
only says which of its SDK's classes are which, and how to read an API error's status and message),
and closing streams and clients quietly."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
from collections.abc import Callable, Sequence
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


def response_retry_after(e: Any) -> float | None:
    """Seconds to wait, from the headers of the HTTP response an SDK exception carries (if any)."""
    response = getattr(e, "response", None)
    return header_retry_after(response.headers if response is not None else None)


def map_sdk_error(e: BaseException, provider: str, mid_stream: bool, *,
                  timeout: tuple[type[BaseException], ...] = (),
                  connection: tuple[type[BaseException], ...] = (),
                  api_error: tuple[type[BaseException], ...] = (),
                  describe: Callable[[Any], tuple[int | None, str]] | None = None,
                  retry_after: Callable[[Any], float | None] = response_retry_after) -> ProviderError:
    """Translate any exception from an SDK or its HTTP stack into coderouge's tree, once.

    `timeout`, `connection` and `api_error` are the SDK's classes for each case; `describe(e)` reads an
    API error's HTTP status (None when it has none) and message, `retry_after(e)` its wait. `mid_stream`:
    the answer had begun to arrive, so a broken connection is a cut stream. Every message is redacted."""
    if isinstance(e, ProviderError):
        return e
    if timeout and isinstance(e, timeout):
        return ProviderTimeout(redact(getattr(e, "message", None) or str(e)), provider=provider)
    if connection and isinstance(e, connection):
        message = getattr(e, "message", None) or str(e)
        cause = e.__cause__
        detail = f"{message} ({type(cause).__name__}: {cause})" if cause else message
        return (StreamCutError if mid_stream else ProviderConnectionError)(redact(detail), provider=provider)
    if api_error and describe is not None and isinstance(e, api_error):
        status, message = describe(e)
        return error_for_status(status, redact(message), provider=provider, retry_after=retry_after(e))
    return transport_error(e, provider, mid_stream)


async def close_quietly(obj: Any, method: str = "close") -> None:
    """Call `obj.method()` (awaited when it is a coroutine), ignoring any failure: closing a broken stream,
    or a client whose event loop is already gone, may fail too. Nothing happens when obj is None."""
    fn = getattr(obj, method, None) if obj is not None else None
    if fn is None:
        return
    try:
        result = fn()
        if inspect.isawaitable(result):
            await result
    except Exception:  # noqa: BLE001
        pass


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

    async def _close_client(self, client: Any) -> None:
        await close_quietly(client)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)
