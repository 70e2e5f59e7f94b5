"""OpenAI (and any OpenAI-compatible server: vLLM, llama.cpp, Ollama …) through the official `openai` SDK."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError, StreamCutError
from ..types import Chunk, ImagePart, Message, Request, ToolCallDelta, Usage
from ._sdk import SDKProvider, close_quietly, map_sdk_error, truthy

PROVIDER = "openai"
SDK_TIMEOUT_S = 600.0
_STOP_REASONS = {"stop": "stop", "length": "max_tokens", "content_filter": "content_filter",
                 "tool_calls": "tool_calls", "function_call": "tool_calls"}
# Error types that come inside a stream (no HTTP status of their own) → the status they stand for.
_TYPE_STATUS = {"server_error": 500, "api_error": 500, "rate_limit_exceeded": 429, "rate_limit_error": 429}


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


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.text}
    out: dict[str, Any] = {"role": m.role, "content": _content(m)}
    if m.tool_calls:
        out["tool_calls"] = [t.to_json() for t in m.tool_calls]
        out["content"] = out["content"] or None
    return out


def _describe(e: Any) -> tuple[int | None, str]:
    """An APIError's HTTP status and message; an error event inside a 200 stream has no status of its
    own: its code or type stands for one."""
    body = e.body if isinstance(e.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else e.message
    status = getattr(e, "status_code", None)
    if status is None or status < 400:
        code = body.get("code")
        by_type = _TYPE_STATUS.get(str(body.get("type"))) or _TYPE_STATUS.get(str(code))
        status = code if isinstance(code, int) and code >= 400 else by_type
    return status, str(message)


def _map_error(e: BaseException, mid_stream: bool = False) -> ProviderError:
    """Any exception from the SDK or its HTTP stack, in coderouge's tree (`mid_stream`: a cut stream)."""
    import openai

    return map_sdk_error(e, PROVIDER, mid_stream, timeout=(openai.APITimeoutError,),
                         connection=(openai.APIConnectionError,), api_error=(openai.APIError,), describe=_describe)


# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5…) reject temperature and max_tokens
_REASONING = re.compile(r"^(o\d|gpt-5)")
REASONING_ALLOWANCE = 8192

class OpenAIProvider(SDKProvider):
    provider = PROVIDER
    supports_images = True
    supports_tools = True
    supports_response_format = True
    key_env = ("OPENAI_API_KEY",)

    def _env_base_url(self) -> str | None:
        return os.environ.get("OPENAI_BASE_URL")

    def _make_client(self) -> Any:
        import openai

        kwargs: dict[str, Any] = {"api_key": self._api_key, "max_retries": 0, "timeout": SDK_TIMEOUT_S}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return openai.AsyncOpenAI(**kwargs)

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        reasoning = _REASONING.match(self.model) is not None
        if not reasoning or request.temperature == 1.0:
            params["temperature"] = request.temperature  # reasoning models accept only the default
        if reasoning:
            # max_tokens means visible answer tokens; reasoning models spend hidden tokens first
            params["max_completion_tokens"] = request.max_tokens + REASONING_ALLOWANCE
        elif truthy(self.options.get("max_completion_tokens")):
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        if request.tools:  # OpenAI's own shapes: passed on as they came
            params["tools"] = json.loads(request.tools)
        if request.tool_choice:
            params["tool_choice"] = json.loads(request.tool_choice)
        if request.response_format:
            params["response_format"] = json.loads(request.response_format)
        return params

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        import openai

        stop: str | None = None
        usage: Usage | None = None
        sdk_stream: Any = None
        try:
            # the SDK's own client, HTTP stack, SSE decoder and errors, through its low-level `post`: the
            # body is already in the API's shape, and chunks come back as plain dicts. `create()` would
            # first walk the body through its TypedDict transform and build a pydantic model per chunk,
            # about 1.5 ms of CPU per request here (benchmarks/gateway_overhead.py, profiled).
            sdk_stream = await self._get_client().post(
                "/chat/completions", body=self._params(request), cast_to=object, stream=True,
                stream_cls=openai.AsyncStream[object])
            async for event in sdk_stream:
                u = event.get("usage")
                if u:
                    usage = Usage(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
                for choice in event.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield Chunk(text=delta["content"])
                    for tc in delta.get("tool_calls") or ():
                        fn = tc.get("function") or {}
                        yield Chunk(tool_call=ToolCallDelta(tc.get("index", 0), tc.get("id"), fn.get("name"),
                                                            fn.get("arguments") or ""))
                    if choice.get("finish_reason"):
                        stop = _STOP_REASONS.get(choice["finish_reason"], choice["finish_reason"])
        except Exception as e:  # noqa: BLE001 - every vendor error is translated here, once
            raise _map_error(e, mid_stream=sdk_stream is not None) from None
        finally:
            await close_quietly(sdk_stream)
        if stop is None:
            raise StreamCutError("stream ended without a finish_reason", provider=PROVIDER)
        yield Chunk(usage=usage, stop_reason=stop)
