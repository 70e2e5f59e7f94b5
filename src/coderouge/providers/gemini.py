"""Google Gemini through the official `google-genai` SDK (Gemini Developer API, streamed)."""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError, StreamCutError, UsageError, parse_retry_after
from ..types import Chunk, ImagePart, Message, Request, ToolCallDelta, Usage
from ._sdk import SDKProvider, close_quietly, map_sdk_error

PROVIDER = "gemini"
SDK_TIMEOUT_MS = 600_000  # google-genai takes milliseconds
_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
_STOP_REASONS = {"STOP": "stop", "MAX_TOKENS": "max_tokens", **{r: "content_filter" for r in _FILTERED}}
_VERSION_SUFFIX = re.compile(r"^(?P<root>.*?)/(?P<version>v\d+(?:alpha|beta)?\d*)/?$")


def _enum_text(value: Any) -> str:
    return str(value.value if isinstance(value, enum.Enum) else value)


def _parts(m: Message) -> list[Any]:
    from google.genai import types

    if isinstance(m.content, str):
        return [types.Part(text=m.content)]
    parts = []
    for p in m.content:
        if not isinstance(p, ImagePart):
            parts.append(types.Part(text=p.text))
        elif p.url and p.url.startswith("data:") and ";base64," in p.url:
            mime, data = p.url[5:].split(";base64,", 1)
            parts.append(types.Part(inline_data=types.Blob(data=base64.b64decode(data), mime_type=mime or p.media_type)))
        elif p.url:
            parts.append(types.Part(file_data=types.FileData(file_uri=p.url, mime_type=p.media_type)))
        else:
            parts.append(types.Part(inline_data=types.Blob(data=base64.b64decode(p.data_b64 or ""), mime_type=p.media_type)))
    return parts


def _contents(request: Request) -> list[Any]:
    """OpenAI-shaped turns as Gemini contents: tool calls become `function_call` parts of a model turn, tool
    answers `function_response` parts of a user turn (Gemini names the function, OpenAI the call's id)."""
    from google.genai import types

    names: dict[str, str] = {}
    out: list[Any] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            part = types.Part(function_response=types.FunctionResponse(
                id=m.tool_call_id, name=names.get(m.tool_call_id or "", ""), response={"result": m.text}))
            if out and out[-1].role == "user" and all(p.function_response for p in out[-1].parts or ()):
                out[-1].parts.append(part)
            else:
                out.append(types.Content(role="user", parts=[part]))
            continue
        parts = _parts(m) if m.text or m.images or not m.tool_calls else []
        for t in m.tool_calls:
            names[t.id] = t.name
            try:
                args = json.loads(t.arguments or "{}")
            except ValueError:
                args = {}
            parts.append(types.Part(function_call=types.FunctionCall(id=t.id, name=t.name, args=args)))
        out.append(types.Content(role="model" if m.role == "assistant" else "user", parts=parts))
    return out


def _tool_config(choice: Any) -> Any:
    from google.genai import types

    if choice is None:
        return None
    if isinstance(choice, dict):
        return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode="ANY", allowed_function_names=[choice["function"]["name"]]))
    mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]
    return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=mode))


def _retry_after(e: Any) -> float | None:
    """Retry-After header, else the RetryInfo detail ("retryDelay": "3s") of a Google API error."""
    headers = getattr(getattr(e, "response", None), "headers", None)
    if headers is not None:
        value = parse_retry_after(headers.get("retry-after"))
        if value is not None:
            return value
    body = e.details if isinstance(e.details, dict) else {}
    err = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    for d in err.get("details") or ():
        delay = d.get("retryDelay") if isinstance(d, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            return parse_retry_after(delay[:-1])
    return None


def _describe(e: Any) -> tuple[int | None, str]:
    code = e.code if isinstance(e.code, int) else None
    message = e.message or str(e)
    return code, f"{e.status}: {message}" if e.status else str(message)


def _map_error(e: BaseException, mid_stream: bool = False) -> ProviderError:
    """Any exception from the SDK or its HTTP stack, in coderouge's tree (`mid_stream`: a cut stream)."""
    from google.genai import errors as genai_errors

    return map_sdk_error(e, PROVIDER, mid_stream, api_error=(genai_errors.APIError,), describe=_describe,
                         retry_after=_retry_after)


_THINKING = re.compile(r"^gemini-(2\.5|[3-9])")
THINKING_ALLOWANCE = 8192

class GeminiProvider(SDKProvider):
    provider = PROVIDER
    supports_images = True
    supports_tools = True
    supports_response_format = True
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(self, model: str, *, base_url: str | None = None, options: dict[str, str] | None = None):
        super().__init__(model, base_url=base_url, options=options)
        budget = self.options.get("thinking_budget")
        if budget is not None and not re.fullmatch(r"-?\d+", budget):
            raise UsageError(f"gemini/{model}: thinking_budget must be a whole number, not {budget!r}")

    def _http_options(self) -> Any:
        from google.genai import types

        opts: dict[str, Any] = {"timeout": SDK_TIMEOUT_MS}
        if hasattr(types, "HttpRetryOptions"):  # one attempt: our runner retries (older SDKs never retry)
            opts["retry_options"] = types.HttpRetryOptions(attempts=1)
        api_version = self.options.get("api_version")
        if self.base_url:
            base = self.base_url.rstrip("/")
            m = _VERSION_SUFFIX.match(base)
            if m and not api_version:  # ".../v1beta" given as the base URL: the SDK adds the version itself
                base, api_version = m["root"], m["version"]
            opts["base_url"] = base + "/"
        if api_version:
            opts["api_version"] = api_version
        return types.HttpOptions(**opts)

    def _make_client(self) -> Any:
        from google import genai

        return genai.Client(api_key=self._api_key, vertexai=False, http_options=self._http_options())

    def _call(self, request: Request) -> dict[str, Any]:
        from google.genai import types

        system = "\n\n".join(m.text for m in request.messages if m.role == "system")
        contents = _contents(request)
        budget = self.options.get("thinking_budget")
        # thinking models (2.5, 3) spend max_output_tokens on hidden thinking first: max_tokens means the
        # visible answer, so they get room to think on top (the thinking budget when one is set)
        thinking = _THINKING.match(self.model) is not None
        extra = (int(budget) if budget is not None and int(budget) > 0 else THINKING_ALLOWANCE) if thinking else 0
        if budget is not None and int(budget) == 0:
            extra = 0
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            max_output_tokens=request.max_tokens + extra,
            temperature=request.temperature,
            top_p=request.top_p,
            stop_sequences=list(request.stop) or None,
            seed=request.seed,
            thinking_config=types.ThinkingConfig(thinking_budget=int(budget)) if budget is not None else None,
        )
        if request.tools:
            config.tools = [types.Tool(function_declarations=[
                types.FunctionDeclaration(name=f["name"], description=f.get("description"),
                                          parameters_json_schema=f.get("parameters"))
                for f in request.tool_list()])]
            config.tool_config = _tool_config(request.tool_choice_value())
        fmt = request.response_format_value()
        if fmt and fmt.get("type") in ("json_object", "json_schema"):
            config.response_mime_type = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema is not None:
                config.response_json_schema = schema
        return {"model": self.model, "contents": contents, "config": config}

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        stop: str | None = None
        usage: Usage | None = None
        responses: Any = None
        started = False  # the SDK sends the request on the first iteration, not on the await
        calls = 0
        try:
            call = self._call(request)
            responses = await self._get_client().aio.models.generate_content_stream(**call)
            async for r in responses:
                started = True
                for cand in (r.candidates or ())[:1]:
                    for part in (cand.content.parts if cand.content else None) or ():
                        if part.text and not getattr(part, "thought", None):
                            yield Chunk(text=part.text)
                        fc = part.function_call
                        if fc is not None and fc.name:  # Gemini sends each call whole
                            yield Chunk(tool_call=ToolCallDelta(calls, fc.id or f"call_{calls}", fc.name,
                                                                json.dumps(fc.args or {}, ensure_ascii=False)))
                            calls += 1
                    if cand.finish_reason is not None:
                        reason = _enum_text(cand.finish_reason)
                        if reason != "FINISH_REASON_UNSPECIFIED":
                            stop = _STOP_REASONS.get(reason, reason.lower())
                feedback = r.prompt_feedback
                if feedback is not None and feedback.block_reason is not None:  # the prompt itself was blocked
                    stop = "content_filter"
                if r.usage_metadata is not None:
                    u = r.usage_metadata  # thinking tokens are billed as output
                    out = (u.candidates_token_count or 0) + (getattr(u, "thoughts_token_count", None) or 0)
                    usage = Usage(u.prompt_token_count or 0, out)
        except Exception as e:  # noqa: BLE001 - every vendor error is translated here, once
            raise _map_error(e, mid_stream=started) from None
        finally:
            await close_quietly(responses, "aclose")
        if stop is None:
            raise StreamCutError("stream ended without a finish_reason", provider=PROVIDER)
        if calls and stop == "stop":  # Gemini says STOP after function calls; OpenAI's clients expect this
            stop = "tool_calls"
        yield Chunk(usage=usage, stop_reason=stop)

    async def _close_client(self, client: Any) -> None:
        await close_quietly(client.aio, "aclose")  # the async client's connections, then the client itself
        await close_quietly(client)
