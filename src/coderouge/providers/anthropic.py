"""Anthropic Claude through the official `anthropic` SDK (Messages API, streamed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError, StreamCutError
from ..errors import UsageError
from ..types import Chunk, ImagePart, Message, Request, ToolCallDelta, Usage
from ._sdk import SDKProvider, close_quietly, map_sdk_error, truthy

PROVIDER = "anthropic"
SDK_TIMEOUT_S = 600.0
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "max_tokens", "refusal": "content_filter",
                 "tool_use": "tool_calls"}
# error.type → HTTP status, for errors that arrive as an `error` event inside a 200 stream
_TYPE_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}


def _image_block(p: ImagePart) -> dict[str, Any]:
    url = p.url or ""
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": head or p.media_type, "data": data}}
    if url:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": {"type": "base64", "media_type": p.media_type, "data": p.data_b64}}


def _content(m: Message) -> Any:
    if isinstance(m.content, str):
        return m.content
    return [_image_block(p) if isinstance(p, ImagePart) else {"type": "text", "text": p.text} for p in m.content]


def _messages(request: Request) -> list[dict[str, Any]]:
    """OpenAI-shaped turns in Anthropic's: tool calls become `tool_use` blocks of the assistant turn, tool
    answers `tool_result` blocks of a user turn (consecutive ones in one turn, as the API wants them)."""
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.text}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list) \
                    and all(b.get("type") == "tool_result" for b in out[-1]["content"]):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        if m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
            for t in m.tool_calls:
                try:
                    args = json.loads(t.arguments or "{}")
                except ValueError:
                    raise UsageError(f"tool call {t.id}: its arguments are not JSON") from None
                blocks.append({"type": "tool_use", "id": t.id, "name": t.name, "input": args})
            out.append({"role": "assistant", "content": blocks})
            continue
        out.append({"role": m.role, "content": _content(m)})
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice["function"]["name"]}


def _describe(e: Any) -> tuple[int | None, str]:
    """An APIError's HTTP status and "type: message"; an `error` event inside a 200 stream has no status
    of its own: its type stands for one."""
    body = e.body if isinstance(e.body, dict) else {}
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    message = err.get("message") if isinstance(err.get("message"), str) else e.message
    etype = err.get("type")
    status = getattr(e, "status_code", None)
    if status is None or status < 400:
        status = _TYPE_STATUS.get(str(etype), 500 if etype else None)
    return status, f"{etype}: {message}" if etype else str(message)


def _map_error(e: BaseException, mid_stream: bool = False) -> ProviderError:
    """Any exception from the SDK or its HTTP stack, in coderouge's tree (`mid_stream`: a cut stream)."""
    import anthropic

    return map_sdk_error(e, PROVIDER, mid_stream, timeout=(anthropic.APITimeoutError,),
                         connection=(anthropic.APIConnectionError,), api_error=(anthropic.APIError,), describe=_describe)


class AnthropicProvider(SDKProvider):
    provider = PROVIDER
    supports_images = True
    supports_tools = True
    key_env = ("ANTHROPIC_API_KEY",)

    def _make_client(self) -> Any:
        import anthropic

        kwargs: dict[str, Any] = {"api_key": self._api_key, "max_retries": 0, "timeout": SDK_TIMEOUT_S}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return anthropic.AsyncAnthropic(**kwargs)

    def _params(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.text for m in request.messages if m.role == "system")
        params: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(request),
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.tools:
            params["tools"] = [{"name": f["name"], "description": f.get("description", ""),
                                "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}
                               for f in request.tool_list()]
        choice = _tool_choice(request.tool_choice_value())
        if choice is not None and request.tools:
            params["tool_choice"] = choice
        # SDK 1.x dropped temperature/top_p from create()'s signature; the API still takes them in the
        # body. Claude 4.x models accept only one of the two, so a set top_p replaces temperature;
        # ?no_temperature=1 sends neither (models that reject sampling parameters).
        if not truthy(self.options.get("no_temperature")):
            sampling = {"top_p": request.top_p} if request.top_p is not None else {"temperature": request.temperature}
            params["extra_body"] = sampling
        return params  # the Messages API has no seed

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        stop: str | None = None
        input_tokens = output_tokens = 0
        sdk_stream: Any = None
        tools: dict[int, int] = {}  # content block index → tool call index
        try:
            sdk_stream = await self._get_client().messages.create(**self._params(request))
            async for event in sdk_stream:
                kind = getattr(event, "type", None)
                if kind == "content_block_delta":
                    dtype = getattr(event.delta, "type", None)
                    if dtype == "text_delta" and event.delta.text:
                        yield Chunk(text=event.delta.text)
                    elif dtype == "input_json_delta" and event.index in tools and event.delta.partial_json:
                        yield Chunk(tool_call=ToolCallDelta(tools[event.index], arguments=event.delta.partial_json))
                elif kind == "content_block_start" and getattr(event.content_block, "type", None) == "tool_use":
                    tools[event.index] = len(tools)
                    block = event.content_block
                    yield Chunk(tool_call=ToolCallDelta(tools[event.index], block.id, block.name))
                elif kind == "message_start":
                    usage = event.message.usage
                    input_tokens = usage.input_tokens or 0
                    output_tokens = usage.output_tokens or 0
                elif kind == "message_delta":
                    if event.delta.stop_reason:
                        stop = _STOP_REASONS.get(event.delta.stop_reason, event.delta.stop_reason)
                    if event.usage is not None:
                        output_tokens = event.usage.output_tokens or output_tokens
                        input_tokens = getattr(event.usage, "input_tokens", None) or input_tokens
        except Exception as e:  # noqa: BLE001 - every vendor error is translated here, once
            raise _map_error(e, mid_stream=sdk_stream is not None) from None
        finally:
            await close_quietly(sdk_stream)
        if stop is None:
            raise StreamCutError("stream ended without a stop_reason", provider=PROVIDER)
        yield Chunk(usage=Usage(input_tokens, output_tokens), stop_reason=stop)
