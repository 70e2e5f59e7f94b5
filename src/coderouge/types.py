"""Plain data that flows through coderouge: frozen dataclasses, no I/O."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]

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
class Message:
    role: Role
    content: str | tuple[Part, ...]

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
        if isinstance(self.content, str):
            return {"role": self.role, "content": self.content}
        parts = []
        for p in self.content:
            if isinstance(p, TextPart):
                parts.append({"type": "text", "text": p.text})
            else:
                parts.append({"type": "image", "url": p.url, "data_b64": p.data_b64, "media_type": p.media_type})
        return {"role": self.role, "content": parts}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Message":
        content = d["content"]
        if isinstance(content, str):
            return cls(d["role"], content)
        parts: list[Part] = []
        for p in content:
            if p.get("type") == "text":
                parts.append(TextPart(p["text"]))
            else:
                parts.append(ImagePart(url=p.get("url"), data_b64=p.get("data_b64"), media_type=p.get("media_type", "image/png")))
        return cls(d["role"], tuple(parts))


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

    def params(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "sample": self.sample,
            **({"raw": True} if self.raw else {}),  # only when set, so earlier cache keys stay valid
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

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cached")
        return d
