"""Plain data that flows through coderouge: frozen dataclasses, no I/O."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

# The verdict of a pairwise battle (FastChat's clean_battle values), defined once, and what each means
# for model_a when battles are rated: a win, a loss, or half of each. The store's schema checks the
# same four values (its first migration's CHECK constraint, which stays as it was written).
WINNER_SCORE: dict[str, float] = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
WINNERS: tuple[str, ...] = tuple(WINNER_SCORE)


@dataclass(frozen=True)
class ImagePart:
    """An image in a message: either a URL or inline bytes (base64) with a media type."""

    url: str | None = None
    data_b64: str | None = None
    media_type: str = "image/png"

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str = "image/png") -> "ImagePart":
        return cls(data_b64=base64.b64encode(data).decode("ascii"), media_type=media_type)

    def data_url(self) -> str:
        if self.url:
            return self.url
        return f"data:{self.media_type};base64,{self.data_b64}"


@dataclass(frozen=True)
class TextPart:
    text: str


Part = TextPart | ImagePart


@dataclass(frozen=True)
class ToolCall:
    """A function the model asked to call: `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call: the `index`-th call of the answer; `id` and `name` come with its
    first piece, `arguments` grows piece by piece (OpenAI's streaming shape)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Message:
    """A turn. An assistant turn may carry `tool_calls`; a `tool` turn answers one (`tool_call_id`)."""

    role: Role
    content: str | tuple[Part, ...]
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The message's text, images left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        if isinstance(self.content, str):
            return ()
        return tuple(p for p in self.content if isinstance(p, ImagePart))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any]
        if isinstance(self.content, str):
            out = {"role": self.role, "content": self.content}
        else:
            parts = []
            for p in self.content:
                if isinstance(p, TextPart):
                    parts.append({"type": "text", "text": p.text})
                else:
                    parts.append({"type": "image", "url": p.url, "data_b64": p.data_b64, "media_type": p.media_type})
            out = {"role": self.role, "content": parts}
        if self.tool_calls:  # only when set, so the JSON (and cache keys) of plain turns stay as they were
            out["tool_calls"] = [t.to_json() for t in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Message":
        content = d["content"]
        calls = tuple(ToolCall(t["id"], t["function"]["name"], t["function"]["arguments"])
                      for t in d.get("tool_calls") or ())
        if isinstance(content, str):
            return cls(d["role"], content, calls, d.get("tool_call_id"))
        parts: list[Part] = []
        for p in content:
            if p.get("type") == "text":
                parts.append(TextPart(p["text"]))
            else:
                parts.append(ImagePart(url=p.get("url"), data_b64=p.get("data_b64"), media_type=p.get("media_type", "image/png")))
        return cls(d["role"], tuple(parts), calls, d.get("tool_call_id"))


def user(text: str) -> Message:
    return Message("user", text)


def system(text: str) -> Message:
    return Message("system", text)


@dataclass(frozen=True)
class Request:
    """One generation request. Everything that changes the answer is part of `key()`."""

    model: str  # "provider/model"
    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    sample: int = 0  # index of a repeated sample (pass@k): part of the cache key
    # completion mode: a base model continues the last user message as written (few-shot "Q: … A:",
    # code to complete); chat models still get it as a user message
    raw: bool = False
    # OpenAI's shapes, as canonical JSON text (so a request stays hashable): the `tools` list of
    # {"type": "function", "function": {name, description, parameters}}, `tool_choice` ("auto", "none",
    # "required" or {"type": "function", "function": {"name"}}), `response_format` ({"type": "json_object"}
    # or {"type": "json_schema", "json_schema": {name, schema, strict}}). Each provider translates them.
    tools: str | None = None
    tool_choice: str | None = None
    response_format: str | None = None

    def tool_list(self) -> list[dict[str, Any]]:
        """The tools' functions: [{name, description, parameters}]."""
        return [t["function"] for t in json.loads(self.tools)] if self.tools else []

    def tool_choice_value(self) -> Any:
        return json.loads(self.tool_choice) if self.tool_choice else None

    def response_format_value(self) -> dict[str, Any] | None:
        return json.loads(self.response_format) if self.response_format else None

    def params(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "sample": self.sample,
            **({"raw": True} if self.raw else {}),  # only when set, so earlier cache keys stay valid
            **({"tools": json.loads(self.tools)} if self.tools else {}),
            **({"tool_choice": json.loads(self.tool_choice)} if self.tool_choice else {}),
            **({"response_format": json.loads(self.response_format)} if self.response_format else {}),
        }

    @cached_property
    def canonical_json(self) -> str:
        """The request as canonical JSON (model, messages, parameters): what is stored and hashed."""
        payload = {"model": self.model, "messages": [m.to_json() for m in self.messages], "params": self.params()}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def key(self, base_url: str | None = None) -> str:
        """Cache key: provider, model, base URL, messages and parameters."""
        h = hashlib.sha256((base_url or "").encode("utf-8"))
        h.update(b"\x00")
        h.update(self.canonical_json.encode("utf-8"))
        return h.hexdigest()


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer. The last chunk of a stream may carry usage and stop reason."""

    text: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None
    tool_call: ToolCallDelta | None = None


@dataclass(frozen=True)
class Completion:
    model: str
    text: str
    stop_reason: str | None
    usage: Usage = field(default_factory=Usage)
    ttft_s: float | None = None
    latency_s: float = 0.0
    cost_usd: float | None = None
    cached: bool = False
    tool_calls: tuple[ToolCall, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cached")
        d["tool_calls"] = [t.to_json() for t in self.tool_calls]
        if not self.tool_calls:
            d.pop("tool_calls")
        return d
