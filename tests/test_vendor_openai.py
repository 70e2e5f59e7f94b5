"""OpenAIProvider against a loopback server speaking the OpenAI chat-completions wire format."""

from __future__ import annotations

import asyncio
import base64

import pytest

import openai  # noqa: E402,F401  (a core dependency: its absence is a failure, not a skip)

from coderouge.errors import (  # noqa: E402
    AuthenticationError,
    MissingKeyError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
    StreamCutError,
)
from coderouge.providers import get_provider  # noqa: E402
from coderouge.providers.openai import OpenAIProvider  # noqa: E402
from coderouge.types import ImagePart, Message, Request, TextPart  # noqa: E402

try:
    from vendor_servers import OpenAIServer
except ImportError:  # tests/ became a package
    from tests.vendor_servers import OpenAIServer

KEY = "sk-test-openai-0123456789abcdef"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _request(model="openai/gpt-4o-mini", **kw) -> Request:
    msgs = kw.pop("messages", (Message("system", "Be brief."), Message("user", "Say hello")))
    return Request(model=model, messages=msgs, **kw)


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


def test_streamed_answer_arrives_whole_with_usage_and_cost():
    with OpenAIServer(("ok", "Hello big world", {"input_tokens": 1000, "output_tokens": 500})) as srv:
        p = OpenAIProvider("gpt-4o-mini", base_url=srv.base_url)
        c = _run(p, _request(max_tokens=64, stop=("END",), seed=7, top_p=0.5))
    assert c.text == "Hello big world"
    assert c.model == "openai/gpt-4o-mini"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (1000, 500)
    assert c.stop_reason == "stop"
    assert c.ttft_s is not None
    assert c.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_request_shape():
    with OpenAIServer(("ok", "Hi")) as srv:
        p = OpenAIProvider("gpt-4o-mini", base_url=srv.base_url)
        _run(p, _request(max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.headers["x-stainless-retry-count"] == "0"
    b = rec.body
    assert b["model"] == "gpt-4o-mini"
    assert b["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}
    assert b["max_tokens"] == 64 and "max_completion_tokens" not in b
    assert (b["temperature"], b["top_p"], b["stop"], b["seed"]) == (0.3, 0.5, ["END"], 7)


def test_defaults_leave_out_unset_params_and_max_completion_tokens_option():
    with OpenAIServer(("ok", "Hi")) as srv:
        p = OpenAIProvider("my-model", base_url=srv.base_url, options={"max_completion_tokens": "1"})
        _run(p, _request(max_tokens=99))
        b = srv.last.body
    assert b["max_completion_tokens"] == 99 and "max_tokens" not in b
    assert "top_p" not in b and "stop" not in b and "seed" not in b


@pytest.mark.parametrize("model", ["gpt-5-mini", "o4-mini", "o3"])
def test_reasoning_models_get_no_temperature_and_room_to_think(model):
    with OpenAIServer(("ok", "Hi")) as srv:
        p = OpenAIProvider(model, base_url=srv.base_url)
        _run(p, _request(model=f"openai/{model}", max_tokens=100, temperature=0.0))
        b = srv.last.body
    assert "temperature" not in b and "max_tokens" not in b
    assert b["max_completion_tokens"] == 100 + 8192


def test_length_finish_reason_maps_to_max_tokens():
    with OpenAIServer(("ok", "Hello", {"stop": "length"})) as srv:
        c = _run(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert c.stop_reason == "max_tokens"


def test_rate_limit_429_with_retry_after():
    with OpenAIServer(("status", 429, {"retry-after": "3"})) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
        assert len(srv.requests) == 1  # the SDK did not retry on its own
    assert isinstance(e, RateLimitError)
    assert e.retryable is True and e.retry_after == 3.0 and e.status == 429
    assert "simulated error 429" in str(e)


def test_retry_after_ms_wins():
    with OpenAIServer(("status", 429, {"retry-after": "3", "retry-after-ms": "1500"})) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert isinstance(e, RateLimitError) and e.retry_after == 1.5


def test_server_error_500_is_retryable():
    with OpenAIServer(("status", 500)) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
        assert len(srv.requests) == 1
    assert isinstance(e, ServerError) and e.retryable is True and e.status == 500


def test_401_is_not_retryable_and_never_shows_the_key():
    msg = f"Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com."
    with OpenAIServer(("status", 401, {}, {"message": msg})) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert isinstance(e, AuthenticationError) and e.retryable is False and e.status == 401
    assert KEY not in str(e) and "Incorrect API key" in str(e)


def test_cut_stream_is_stream_cut_error():
    with OpenAIServer(("cut", "Hello world, this is a longer answer")) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError) and e.retryable is True


def test_stream_without_finish_reason_is_stream_cut_error():
    with OpenAIServer(("truncate", "Hello world")) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError)


def test_error_inside_stream_is_mapped():
    with OpenAIServer(("error_event", "server_error", "The server had an error")) as srv:
        e = _error(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request())
    assert isinstance(e, ServerError) and e.retryable is True and "The server had an error" in str(e)


def test_connection_refused_is_connection_error():
    with OpenAIServer() as srv:
        url = srv.base_url
    e = _error(OpenAIProvider("gpt-4o-mini", base_url=url), _request())
    assert isinstance(e, ProviderConnectionError) and e.retryable is True


def test_image_part_reaches_server_as_image_url():
    png = b"\x89PNG\r\n\x1a\nfake"
    img = ImagePart.from_bytes(png, "image/png")
    msgs = (Message("user", (TextPart("What is this?"), img, ImagePart(url="https://example.com/cat.jpg"))),)
    with OpenAIServer(("ok", "A cat")) as srv:
        c = _run(OpenAIProvider("gpt-4o-mini", base_url=srv.base_url), _request(messages=msgs))
        content = srv.last.body["messages"][0]["content"]
    assert c.text == "A cat"
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}
    assert content[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}


def test_missing_key_without_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        OpenAIProvider("gpt-4o-mini")


def test_no_key_needed_with_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIServer(("ok", "Hi")) as srv:
        c = _run(OpenAIProvider("llama", base_url=srv.base_url), _request())
        assert srv.last.headers["authorization"] == "Bearer not-needed"
    assert c.text == "Hi" and c.cost_usd is None  # not in the price table


def test_get_provider_with_base_url_option(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIServer(("ok", "Hello world")) as srv:
        p = get_provider(f"openai/test-model?base_url={srv.base_url}")
        assert isinstance(p, OpenAIProvider) and p.base_url == srv.base_url
        c = _run(p, _request(model="openai/test-model"))
        assert srv.last.body["model"] == "test-model"
    assert c.text == "Hello world" and c.model == "openai/test-model"


def test_constructing_does_no_io():
    p = OpenAIProvider("gpt-4o-mini", base_url="http://127.0.0.1:9/v1")
    assert p._client is None
