"""The three vendor adapters (OpenAI, Anthropic, Gemini) through their official SDKs, against loopback
servers speaking each vendor's wire format (tests/vendor_servers.py). What every adapter must do is one
test parametrised over the three; what differs (request shapes, images, options) is a test per vendor."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import pytest

import anthropic  # noqa: F401  (core dependencies: their absence is a failure, not a skip)
import google.genai  # noqa: F401
import openai  # noqa: F401

from coderouge.errors import (
    AuthenticationError,
    MissingKeyError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
    StreamCutError,
)
from coderouge.providers import get_provider
from coderouge.providers.anthropic import AnthropicProvider
from coderouge.providers.gemini import GeminiProvider
from coderouge.providers.openai import OpenAIProvider
from coderouge.types import ImagePart, Message, Request, TextPart

try:
    from vendor_servers import AnthropicServer, GeminiServer, OpenAIServer
except ImportError:  # tests/ became a package
    from tests.vendor_servers import AnthropicServer, GeminiServer, OpenAIServer


@dataclass(frozen=True)
class Vendor:
    name: str
    provider: type
    server: type
    key_env: str
    key: str
    model: str
    price: tuple[float, float]  # USD per million input and output tokens in the built-in table
    key_error: str  # how the vendor's 401 names the key (followed by the key itself)

    def request(self, **kw: Any) -> Request:
        msgs = kw.pop("messages", (Message("system", "Be brief."), Message("user", "Say hello")))
        return Request(model=kw.pop("model", f"{self.name}/{self.model}"), messages=msgs, **kw)

    def make(self, base_url: str, model: str | None = None, **kw: Any) -> Any:
        return self.provider(model or self.model, base_url=base_url, **kw)

    def model_sent(self, rec: Any) -> str:
        """The model name as the request carried it: in the body, or (Gemini) in the path."""
        if self.name == "gemini":
            return rec.path.split("/models/")[1].split(":")[0]
        return rec.body["model"]


OPENAI = Vendor("openai", OpenAIProvider, OpenAIServer, "OPENAI_API_KEY", "sk-test-openai-0123456789abcdef",
                "gpt-4o-mini", (0.15, 0.60), "Incorrect API key provided:")
ANTHROPIC = Vendor("anthropic", AnthropicProvider, AnthropicServer, "ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef",
                   "claude-haiku-4-5", (1.0, 5.0), "invalid x-api-key")
GEMINI = Vendor("gemini", GeminiProvider, GeminiServer, "GEMINI_API_KEY", "AIzaTestGemini0123456789abcdef",
                "gemini-2.5-flash", (0.30, 2.50), "API key not valid:")
VENDORS = {v.name: v for v in (OPENAI, ANTHROPIC, GEMINI)}


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    for v in VENDORS.values():
        monkeypatch.setenv(v.key_env, v.key)
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI",
                "GOOGLE_GENAI_API_VERSION", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(params=list(VENDORS))
def vendor(request) -> Vendor:
    return VENDORS[request.param]


def _run(provider, request):
    async def go():
        try:
            return await provider.generate(request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def _error(provider, request) -> Exception:
    with pytest.raises(Exception) as info:
        _run(provider, request)
    return info.value


# --- what every adapter does ----------------------------------------------------------------------

def test_streamed_answer_arrives_whole_with_usage_and_cost(vendor):
    with vendor.server(("ok", "Hello big world", {"input_tokens": 1000, "output_tokens": 500})) as srv:
        c = _run(vendor.make(srv.base_url), vendor.request())
    assert c.text == "Hello big world"
    assert c.model == f"{vendor.name}/{vendor.model}"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (1000, 500)
    assert c.stop_reason == "stop"
    assert c.ttft_s is not None
    assert c.cost_usd == pytest.approx((1000 * vendor.price[0] + 500 * vendor.price[1]) / 1e6)


@pytest.mark.parametrize("vendor,theirs,ours", [
    ("openai", "length", "max_tokens"),
    ("anthropic", "max_tokens", "max_tokens"), ("anthropic", "stop_sequence", "stop"), ("anthropic", "refusal", "content_filter"),
    ("gemini", "MAX_TOKENS", "max_tokens"), ("gemini", "SAFETY", "content_filter"), ("gemini", "RECITATION", "content_filter"),
], indirect=["vendor"])
def test_stop_reasons(vendor, theirs, ours):
    with vendor.server(("ok", "Hello", {"stop": theirs})) as srv:
        c = _run(vendor.make(srv.base_url), vendor.request())
    assert c.stop_reason == ours


def test_rate_limit_429_with_retry_after(vendor):
    with vendor.server(("status", 429, {"retry-after": "3"})) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
        assert len(srv.requests) == 1  # the SDK did not retry on its own
    assert isinstance(e, RateLimitError)
    assert e.retryable is True and e.retry_after == 3.0 and e.status == 429
    assert "simulated error 429" in str(e)


def test_server_error_500_is_retryable_and_the_sdk_does_not_retry(vendor):
    with vendor.server(("status", 500), ("status", 503)) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
        assert len(srv.requests) == 1
    assert isinstance(e, ServerError) and e.retryable is True and e.status == 500


def test_401_is_not_retryable_and_never_shows_the_key(vendor):
    with vendor.server(("status", 401, {}, {"message": f"{vendor.key_error} {vendor.key}. See the docs."})) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
    assert isinstance(e, AuthenticationError) and e.retryable is False and e.status == 401
    assert vendor.key not in str(e) and vendor.key_error in str(e)


@pytest.mark.parametrize("vendor,event,message", [("openai", "server_error", "The server had an error"),
                                                  ("anthropic", "overloaded_error", "Overloaded")], indirect=["vendor"])
def test_error_event_inside_stream_is_a_retryable_server_error(vendor, event, message):
    with vendor.server(("error_event", event, message)) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
    assert isinstance(e, ServerError) and e.retryable is True and message in str(e)


def test_cut_stream_is_stream_cut_error(vendor):
    with vendor.server(("cut", "Hello world, this is a longer answer")) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
    assert isinstance(e, StreamCutError) and e.retryable is True


def test_stream_that_never_finishes_is_stream_cut_error(vendor):
    """No finish_reason (OpenAI, Gemini), no message_delta (Anthropic)."""
    with vendor.server(("truncate", "Hello world")) as srv:
        e = _error(vendor.make(srv.base_url), vendor.request())
    assert isinstance(e, StreamCutError)


def test_connection_refused_is_connection_error(vendor):
    with vendor.server() as srv:
        url = srv.base_url
    e = _error(vendor.make(url), vendor.request())
    assert isinstance(e, ProviderConnectionError) and e.retryable is True


def test_missing_key_without_base_url(vendor, monkeypatch):
    monkeypatch.delenv(vendor.key_env)
    with pytest.raises(MissingKeyError, match=vendor.key_env):
        vendor.provider(vendor.model)


def test_get_provider_with_base_url_option(vendor, monkeypatch):
    monkeypatch.delenv(vendor.key_env)  # a base URL needs no key (local and proxy servers)
    with vendor.server(("ok", "Hello world")) as srv:
        p = get_provider(f"{vendor.name}/{vendor.model}?base_url={srv.base_url}")
        assert isinstance(p, vendor.provider) and p.base_url == srv.base_url
        c = _run(p, vendor.request())
        assert vendor.model_sent(srv.last) == vendor.model
    assert c.text == "Hello world" and c.model == f"{vendor.name}/{vendor.model}"


def test_constructing_does_no_io(vendor):
    assert vendor.make("http://127.0.0.1:9/v1")._client is None


def test_closing_twice_or_after_a_failed_close_is_quiet(vendor):
    """aclose() is shared (providers/_sdk.py): a client whose close fails, or none at all, raises nothing."""
    with vendor.server(("ok", "Hi")) as srv:
        p = vendor.make(srv.base_url)

        async def go():
            await p.generate(vendor.request())
            client = p._client

            def broken(*a, **kw):
                raise RuntimeError("event loop is closed")

            target = client.aio if vendor.name == "gemini" else client
            setattr(target, "aclose" if vendor.name == "gemini" else "close", broken)
            await p.aclose()
            assert p._client is None
            await p.aclose()

        asyncio.run(go())


# --- OpenAI -----------------------------------------------------------------------------------------

def test_openai_request_shape():
    with OpenAIServer(("ok", "Hi")) as srv:
        _run(OPENAI.make(srv.base_url), OPENAI.request(max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == f"Bearer {OPENAI.key}"
    assert rec.headers["x-stainless-retry-count"] == "0"
    b = rec.body
    assert b["model"] == "gpt-4o-mini"
    assert b["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}
    assert b["max_tokens"] == 64 and "max_completion_tokens" not in b
    assert (b["temperature"], b["top_p"], b["stop"], b["seed"]) == (0.3, 0.5, ["END"], 7)


def test_openai_defaults_leave_out_unset_params_and_max_completion_tokens_option():
    with OpenAIServer(("ok", "Hi")) as srv:
        _run(OPENAI.make(srv.base_url, "my-model", options={"max_completion_tokens": "1"}), OPENAI.request(max_tokens=99))
        b = srv.last.body
    assert b["max_completion_tokens"] == 99 and "max_tokens" not in b
    assert "top_p" not in b and "stop" not in b and "seed" not in b


@pytest.mark.parametrize("model", ["gpt-5-mini", "o4-mini", "o3"])
def test_openai_reasoning_models_get_no_temperature_and_room_to_think(model):
    with OpenAIServer(("ok", "Hi")) as srv:
        _run(OPENAI.make(srv.base_url, model), OPENAI.request(model=f"openai/{model}", max_tokens=100, temperature=0.0))
        b = srv.last.body
    assert "temperature" not in b and "max_tokens" not in b
    assert b["max_completion_tokens"] == 100 + 8192


def test_openai_retry_after_ms_wins():
    with OpenAIServer(("status", 429, {"retry-after": "3", "retry-after-ms": "1500"})) as srv:
        e = _error(OPENAI.make(srv.base_url), OPENAI.request())
    assert isinstance(e, RateLimitError) and e.retry_after == 1.5


def test_openai_image_part_reaches_server_as_image_url():
    png = b"\x89PNG\r\n\x1a\nfake"
    img = ImagePart.from_bytes(png, "image/png")
    msgs = (Message("user", (TextPart("What is this?"), img, ImagePart(url="https://example.com/cat.jpg"))),)
    with OpenAIServer(("ok", "A cat")) as srv:
        c = _run(OPENAI.make(srv.base_url), OPENAI.request(messages=msgs))
        content = srv.last.body["messages"][0]["content"]
    assert c.text == "A cat"
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}
    assert content[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}


def test_openai_no_key_needed_with_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIServer(("ok", "Hi")) as srv:
        c = _run(OPENAI.make(srv.base_url, "llama"), OPENAI.request())
        assert srv.last.headers["authorization"] == "Bearer not-needed"
    assert c.text == "Hi" and c.cost_usd is None  # not in the price table


def test_openai_get_provider_passes_the_model_name_as_given(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIServer(("ok", "Hello world")) as srv:
        c = _run(get_provider(f"openai/test-model?base_url={srv.base_url}"), OPENAI.request(model="openai/test-model"))
        assert srv.last.body["model"] == "test-model"
    assert c.text == "Hello world" and c.model == "openai/test-model"


# --- Anthropic --------------------------------------------------------------------------------------

def _auth_key(headers: dict[str, str]) -> str | None:
    """The SDK sends the key as x-api-key (1.x) or as Authorization: Bearer (newer releases)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


def test_anthropic_request_shape():
    msgs = (Message("system", "Be brief."), Message("system", "Use English."), Message("user", "Say hello"),
            Message("assistant", "Hello"), Message("user", "Again"))
    with AnthropicServer(("ok", "Hi")) as srv:
        _run(ANTHROPIC.make(srv.base_url),
             ANTHROPIC.request(messages=msgs, max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST" and rec.path == "/v1/messages"
    assert _auth_key(rec.headers) == ANTHROPIC.key
    assert rec.headers.get("anthropic-version")
    assert rec.headers["x-stainless-retry-count"] == "0"
    b = rec.body
    assert b["model"] == ANTHROPIC.model
    assert b["system"] == "Be brief.\n\nUse English."
    assert b["messages"] == [{"role": "user", "content": "Say hello"}, {"role": "assistant", "content": "Hello"},
                             {"role": "user", "content": "Again"}]
    assert b["stream"] is True and b["max_tokens"] == 64
    assert (b["top_p"], b["stop_sequences"]) == (0.5, ["END"])
    assert "temperature" not in b  # Claude 4.x takes temperature or top_p, not both
    assert "seed" not in b


def test_anthropic_temperature_sent_without_top_p_and_option_to_send_neither():
    with AnthropicServer(("ok", "Hi"), ("ok", "Hi")) as srv:
        _run(ANTHROPIC.make(srv.base_url), ANTHROPIC.request(temperature=0.3))
        assert srv.requests[0].body["temperature"] == 0.3 and "top_p" not in srv.requests[0].body
        _run(ANTHROPIC.make(srv.base_url, options={"no_temperature": "1"}), ANTHROPIC.request(temperature=0.3, top_p=0.5))
        assert "temperature" not in srv.requests[1].body and "top_p" not in srv.requests[1].body


def test_anthropic_defaults_leave_out_unset_params():
    with AnthropicServer(("ok", "Hi")) as srv:
        _run(ANTHROPIC.make(srv.base_url), ANTHROPIC.request(messages=(Message("user", "Hi"),)))
        b = srv.last.body
    assert "system" not in b and "top_p" not in b and "stop_sequences" not in b


def test_anthropic_overloaded_529_is_retryable():
    with AnthropicServer(("status", 529)) as srv:
        e = _error(ANTHROPIC.make(srv.base_url), ANTHROPIC.request())
        assert len(srv.requests) == 1
    assert isinstance(e, ServerError) and e.retryable is True and e.status == 529


def test_anthropic_image_parts_reach_server_as_source_blocks():
    png = b"\x89PNG\r\n\x1a\nfake"
    b64 = base64.b64encode(png).decode()
    msgs = (Message("user", (TextPart("What is this?"), ImagePart.from_bytes(png, "image/png"),
                             ImagePart(url="https://example.com/cat.jpg"),
                             ImagePart(url=f"data:image/jpeg;base64,{b64}"))),)
    with AnthropicServer(("ok", "A cat")) as srv:
        c = _run(ANTHROPIC.make(srv.base_url), ANTHROPIC.request(messages=msgs))
        content = srv.last.body["messages"][0]["content"]
    assert c.text == "A cat"
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64}},
    ]


# --- Gemini -----------------------------------------------------------------------------------------

STREAM_PATH_SUFFIX = f"/models/{GEMINI.model}:streamGenerateContent?alt=sse"


def _camel(obj):
    """google-genai sends some nested fields in snake_case (proto JSON accepts both): compare in camelCase."""
    if isinstance(obj, dict):
        return {_to_camel(k): _camel(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_camel(v) for v in obj]
    return obj


def _to_camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def test_gemini_request_shape():
    msgs = (Message("system", "Be brief."), Message("user", "Say hello"), Message("assistant", "Hello"),
            Message("user", "Again"))
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GEMINI.make(srv.base_url),
             GEMINI.request(messages=msgs, max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST"
    assert rec.path.endswith(STREAM_PATH_SUFFIX) and rec.path.startswith("/v1")
    assert rec.headers["x-goog-api-key"] == GEMINI.key
    b = _camel(rec.body)
    assert b["contents"] == [
        {"role": "user", "parts": [{"text": "Say hello"}]},
        {"role": "model", "parts": [{"text": "Hello"}]},
        {"role": "user", "parts": [{"text": "Again"}]},
    ]
    assert b["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    g = b["generationConfig"]
    # a thinking model gets room to think on top of the visible answer's 64 tokens
    assert g["maxOutputTokens"] == 64 + 8192 and g["temperature"] == 0.3 and g["topP"] == 0.5
    assert g["stopSequences"] == ["END"] and g["seed"] == 7


def test_gemini_defaults_leave_out_unset_params_and_thinking_budget_option():
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GEMINI.make(srv.base_url, options={"thinking_budget": "0"}), GEMINI.request(messages=(Message("user", "Hi"),)))
        b = _camel(srv.last.body)
    assert "systemInstruction" not in b
    g = b["generationConfig"]
    assert "topP" not in g and "stopSequences" not in g and "seed" not in g
    assert g["thinkingConfig"] == {"thinkingBudget": 0}
    assert g["maxOutputTokens"] == 512  # no thinking: the answer budget alone


@pytest.mark.parametrize("model,budget,expected", [("gemini-2.0-flash", None, 100), ("gemini-2.5-pro", "1024", 100 + 1024)])
def test_gemini_answer_budget_for_non_thinking_and_budgeted_models(model, budget, expected):
    with GeminiServer(("ok", "Hi")) as srv:
        opts = {"thinking_budget": budget} if budget else {}
        _run(GEMINI.make(srv.base_url, model, options=opts), GEMINI.request(max_tokens=100))
        assert _camel(srv.last.body)["generationConfig"]["maxOutputTokens"] == expected


def test_gemini_version_in_base_url_is_used_as_api_version():
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GEMINI.make(srv.base_url + "/v1beta"), GEMINI.request())
        assert srv.last.path == "/v1beta" + STREAM_PATH_SUFFIX


def test_gemini_rate_limit_retry_delay_from_error_details():
    with GeminiServer(("status", 429, {}, {"retryDelay": "3s"})) as srv:
        e = _error(GEMINI.make(srv.base_url), GEMINI.request())
    assert isinstance(e, RateLimitError) and e.retry_after == 3.0


def test_gemini_image_parts_reach_server_as_inline_and_file_data():
    png = b"\x89PNG\r\n\x1a\nfake"
    b64 = base64.b64encode(png).decode()
    msgs = (Message("user", (TextPart("What is this?"), ImagePart.from_bytes(png, "image/png"),
                             ImagePart(url="https://example.com/cat.jpg", media_type="image/jpeg"))),)
    with GeminiServer(("ok", "A cat")) as srv:
        c = _run(GEMINI.make(srv.base_url), GEMINI.request(messages=msgs))
        parts = _camel(srv.last.body)["contents"][0]["parts"]
    assert c.text == "A cat"
    assert parts == [
        {"text": "What is this?"},
        {"inlineData": {"data": b64, "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
    ]


def test_gemini_google_api_key_also_works(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", GEMINI.key + "x")
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GEMINI.make(srv.base_url), GEMINI.request())
        assert srv.last.headers["x-goog-api-key"] == GEMINI.key + "x"
