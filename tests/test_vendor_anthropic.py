"""AnthropicProvider against a loopback server speaking the Anthropic Messages wire format."""

from __future__ import annotations

import asyncio
import base64

import pytest

import anthropic  # noqa: E402,F401  (a core dependency: its absence is a failure, not a skip)

from coderouge.errors import (  # noqa: E402
    AuthenticationError,
    MissingKeyError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
    StreamCutError,
)
from coderouge.providers import get_provider  # noqa: E402
from coderouge.providers.anthropic import AnthropicProvider  # noqa: E402
from coderouge.types import ImagePart, Message, Request, TextPart  # noqa: E402

try:
    from vendor_servers import AnthropicServer
except ImportError:  # tests/ became a package
    from tests.vendor_servers import AnthropicServer

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-haiku-4-5"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


def _request(**kw) -> Request:
    msgs = kw.pop("messages", (Message("system", "Be brief."), Message("user", "Say hello")))
    return Request(model=f"anthropic/{MODEL}", messages=msgs, **kw)


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


def _auth_key(headers: dict[str, str]) -> str | None:
    """The SDK sends the key as x-api-key (1.x) or as Authorization: Bearer (newer releases)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


def test_streamed_answer_arrives_whole_with_usage_and_cost():
    with AnthropicServer(("ok", "Hello big world", {"input_tokens": 1000, "output_tokens": 500})) as srv:
        c = _run(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert c.text == "Hello big world"
    assert c.model == f"anthropic/{MODEL}"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (1000, 500)
    assert c.stop_reason == "stop"
    assert c.ttft_s is not None
    assert c.cost_usd == pytest.approx((1000 * 1.0 + 500 * 5.0) / 1e6)


def test_request_shape():
    msgs = (Message("system", "Be brief."), Message("system", "Use English."), Message("user", "Say hello"),
            Message("assistant", "Hello"), Message("user", "Again"))
    with AnthropicServer(("ok", "Hi")) as srv:
        _run(AnthropicProvider(MODEL, base_url=srv.base_url),
             _request(messages=msgs, max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST" and rec.path == "/v1/messages"
    assert _auth_key(rec.headers) == KEY
    assert rec.headers.get("anthropic-version")
    assert rec.headers["x-stainless-retry-count"] == "0"
    b = rec.body
    assert b["model"] == MODEL
    assert b["system"] == "Be brief.\n\nUse English."
    assert b["messages"] == [{"role": "user", "content": "Say hello"}, {"role": "assistant", "content": "Hello"},
                             {"role": "user", "content": "Again"}]
    assert b["stream"] is True and b["max_tokens"] == 64
    assert (b["top_p"], b["stop_sequences"]) == (0.5, ["END"])
    assert "temperature" not in b  # Claude 4.x takes temperature or top_p, not both
    assert "seed" not in b


def test_temperature_sent_without_top_p_and_option_to_send_neither():
    with AnthropicServer(("ok", "Hi"), ("ok", "Hi")) as srv:
        _run(AnthropicProvider(MODEL, base_url=srv.base_url), _request(temperature=0.3))
        assert srv.requests[0].body["temperature"] == 0.3 and "top_p" not in srv.requests[0].body
        p = AnthropicProvider(MODEL, base_url=srv.base_url, options={"no_temperature": "1"})
        _run(p, _request(temperature=0.3, top_p=0.5))
        assert "temperature" not in srv.requests[1].body and "top_p" not in srv.requests[1].body


def test_defaults_leave_out_unset_params():
    with AnthropicServer(("ok", "Hi")) as srv:
        _run(AnthropicProvider(MODEL, base_url=srv.base_url), _request(messages=(Message("user", "Hi"),)))
        b = srv.last.body
    assert "system" not in b and "top_p" not in b and "stop_sequences" not in b


@pytest.mark.parametrize("vendor,ours", [("max_tokens", "max_tokens"), ("stop_sequence", "stop"),
                                         ("refusal", "content_filter")])
def test_stop_reasons(vendor, ours):
    with AnthropicServer(("ok", "Hello", {"stop": vendor})) as srv:
        c = _run(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert c.stop_reason == ours


def test_rate_limit_429_with_retry_after():
    with AnthropicServer(("status", 429, {"retry-after": "3"})) as srv:
        e = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
        assert len(srv.requests) == 1  # the SDK did not retry on its own
    assert isinstance(e, RateLimitError)
    assert e.retryable is True and e.retry_after == 3.0 and e.status == 429
    assert "simulated error 429" in str(e)


def test_server_error_500_and_overloaded_529_are_retryable():
    with AnthropicServer(("status", 500), ("status", 529)) as srv:
        e1 = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
        e2 = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
        assert len(srv.requests) == 2
    assert isinstance(e1, ServerError) and e1.retryable is True and e1.status == 500
    assert isinstance(e2, ServerError) and e2.retryable is True and e2.status == 529


def test_401_is_not_retryable_and_never_shows_the_key():
    with AnthropicServer(("status", 401, {}, {"message": f"invalid x-api-key {KEY}"})) as srv:
        e = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, AuthenticationError) and e.retryable is False and e.status == 401
    assert KEY not in str(e) and "invalid x-api-key" in str(e)


def test_error_event_inside_stream_overloaded_is_retryable_server_error():
    with AnthropicServer(("error_event", "overloaded_error", "Overloaded")) as srv:
        e = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, ServerError) and e.retryable is True
    assert "Overloaded" in str(e)


def test_cut_stream_is_stream_cut_error():
    with AnthropicServer(("cut", "Hello world, this is a longer answer")) as srv:
        e = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError) and e.retryable is True


def test_stream_without_message_delta_is_stream_cut_error():
    with AnthropicServer(("truncate", "Hello world")) as srv:
        e = _error(AnthropicProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError)


def test_connection_refused_is_connection_error():
    with AnthropicServer() as srv:
        url = srv.base_url
    e = _error(AnthropicProvider(MODEL, base_url=url), _request())
    assert isinstance(e, ProviderConnectionError) and e.retryable is True


def test_image_parts_reach_server_as_source_blocks():
    png = b"\x89PNG\r\n\x1a\nfake"
    b64 = base64.b64encode(png).decode()
    msgs = (Message("user", (TextPart("What is this?"), ImagePart.from_bytes(png, "image/png"),
                             ImagePart(url="https://example.com/cat.jpg"),
                             ImagePart(url=f"data:image/jpeg;base64,{b64}"))),)
    with AnthropicServer(("ok", "A cat")) as srv:
        c = _run(AnthropicProvider(MODEL, base_url=srv.base_url), _request(messages=msgs))
        content = srv.last.body["messages"][0]["content"]
    assert c.text == "A cat"
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64}},
    ]


def test_missing_key_without_base_url(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(MissingKeyError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider(MODEL)


def test_get_provider_with_base_url_option():
    with AnthropicServer(("ok", "Hello world")) as srv:
        p = get_provider(f"anthropic/{MODEL}?base_url={srv.base_url}")
        assert isinstance(p, AnthropicProvider) and p.base_url == srv.base_url
        c = _run(p, _request())
        assert srv.last.body["model"] == MODEL
    assert c.text == "Hello world"


def test_constructing_does_no_io():
    assert AnthropicProvider(MODEL, base_url="http://127.0.0.1:9")._client is None
