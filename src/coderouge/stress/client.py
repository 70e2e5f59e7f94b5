"""One request of a load test, timed at the wire: the client side of vLLM's benchmark.

`HTTPTarget` speaks OpenAI's streamed chat completions to any compatible server with aiohttp (as vLLM's
benchmark client does: one session, lines read as they arrive, a timestamp per chunk that carries text).
`ProviderTarget` times a coderouge model (`fake/`, `local/`, a vendor through its SDK) chunk by chunk
through the provider seam, without the call path's retries: a load test measures what the endpoint does.

Each request fills a `Sample`; failures are classified, never counted as answers: `http_<status>`,
`timeout`, `connection` (refused, reset before the answer), `cut_stream` (the connection ended mid-answer
or without a finish), `malformed_chunk` (a chunk that is not JSON), `stream_error` (an error event inside
a 200 stream).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ..errors import ProviderConnectionError, ProviderError, ProviderTimeout, StreamCutError

perf = time.perf_counter


class Sample:
    """What one request measured. Times are `perf_counter()` seconds; `first`/`last` the arrival of the
    first and the latest chunk with text; `gaps` the inter-chunk gaps after the first (vLLM's ITL)."""

    __slots__ = ("seq", "scheduled", "sent", "first", "last", "end", "gaps", "chunks", "output_tokens",
                 "input_tokens", "pieces", "error", "served_by", "attempts", "fallback", "warmup")

    def __init__(self, seq: int, scheduled: float, warmup: bool = False):
        self.seq, self.scheduled, self.warmup = seq, scheduled, warmup
        self.sent = self.first = self.last = self.end = 0.0
        self.gaps: list[float] = []
        self.chunks = 0
        self.output_tokens: int | None = None  # from the server's usage
        self.input_tokens: int | None = None
        self.pieces: list[str] = []  # the text, for a tokenizer when the server gives no usage
        self.error: str | None = None
        self.served_by: str | None = None  # a coderouge gateway's answer headers: which deployment served,
        self.attempts: int | None = None  # after how many upstream attempts,
        self.fallback = False  # and whether it was not the route's first choice

    def text(self, piece: str) -> None:
        now = perf()
        if self.chunks == 0:
            self.first = now
        else:
            self.gaps.append(now - self.last)
        self.last = now
        self.chunks += 1
        self.pieces.append(piece)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float | None:
        return self.first - self.sent if self.chunks else None

    @property
    def e2e(self) -> float:
        return self.end - self.sent


class HTTPTarget:
    """An OpenAI-compatible server: POST {base_url}/chat/completions, streamed, usage asked for."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 ignore_eos: bool = False, temperature: float = 0.0, connections: int = 0):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.timeout_s, self.ignore_eos, self.temperature = model, timeout_s, ignore_eos, temperature
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.connections = connections
        self.session: Any = None

    async def __aenter__(self) -> "HTTPTarget":
        import aiohttp

        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300, force_close=False))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.session is not None:
            await self.session.close()

    def body(self, messages: tuple[dict, ...], max_tokens: int) -> bytes:
        payload: dict[str, Any] = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens,
                                   "temperature": self.temperature, "stream": True,
                                   "stream_options": {"include_usage": True}}
        if self.ignore_eos:
            payload["ignore_eos"] = True  # vLLM's extension: exactly max_tokens tokens
        return json.dumps(payload).encode()

    async def send(self, s: Sample, messages: tuple[dict, ...], max_tokens: int) -> None:
        import aiohttp

        body = self.body(messages, max_tokens)
        finished = False
        started = False
        s.sent = perf()
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as resp:
                h = resp.headers
                s.served_by = h.get("x-coderouge-deployment")
                if s.served_by is not None:
                    att = h.get("x-coderouge-attempts", "")
                    s.attempts = int(att) if att.isdigit() else None
                    s.fallback = h.get("x-coderouge-fallback") == "1"
                if resp.status != 200:
                    s.error = f"http_{resp.status}"
                    await resp.read()
                    return
                started = True
                async for raw in resp.content:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue  # blank lines, comments, `event:` lines
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        s.error = "malformed_chunk"
                        return
                    if not isinstance(obj, dict):
                        s.error = "malformed_chunk"
                        return
                    if obj.get("error"):
                        s.error = "stream_error"
                        return
                    for ch in obj.get("choices") or ():
                        delta = ch.get("delta") or {}
                        piece = delta.get("content")
                        if piece:
                            s.text(piece)
                        elif delta.get("tool_calls"):
                            s.text("")
                        if ch.get("finish_reason"):
                            finished = True
                    u = obj.get("usage")
                    if u:
                        s.output_tokens = u.get("completion_tokens")
                        s.input_tokens = u.get("prompt_tokens")
                if not finished:
                    s.error = "cut_stream"
        except asyncio.TimeoutError:
            s.error = "timeout"
        except aiohttp.ClientPayloadError:
            s.error = "cut_stream"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError):
            s.error = "cut_stream" if started else "connection"
        except aiohttp.ClientError:
            s.error = "connection"
        finally:
            s.end = perf()


def classify(e: ProviderError) -> str:
    if isinstance(e, StreamCutError):
        return "cut_stream"
    if isinstance(e, ProviderTimeout):
        return "timeout"
    if e.status:
        return f"http_{e.status}"
    if isinstance(e, ProviderConnectionError):
        return "connection"
    return e.kind


class ProviderTarget:
    """A coderouge model, streamed through its provider (no retries, no cache)."""

    def __init__(self, name: str, *, timeout_s: float = 60.0, temperature: float = 0.0):
        from ..providers import get_provider

        self.provider = get_provider(name)
        self.name, self.timeout_s, self.temperature = name, timeout_s, temperature

    async def __aenter__(self) -> "ProviderTarget":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.provider.aclose()

    async def send(self, s: Sample, messages: tuple[dict, ...], max_tokens: int) -> None:
        from ..types import Message, Request

        req = Request(self.name, tuple(Message(m["role"], m["content"]) for m in messages), max_tokens=max_tokens,
                      temperature=self.temperature)
        finished = False
        s.sent = perf()
        try:
            async with asyncio.timeout(self.timeout_s):
                async for chunk in self.provider.stream(req):
                    if chunk.text:
                        s.text(chunk.text)
                    if chunk.usage is not None:
                        s.output_tokens, s.input_tokens = chunk.usage.output_tokens, chunk.usage.input_tokens
                    if chunk.stop_reason is not None:
                        finished = True
            if not finished:
                s.error = "cut_stream"
        except TimeoutError:
            s.error = "timeout"
        except ProviderError as e:
            s.error = classify(e)
        finally:
            s.end = perf()
