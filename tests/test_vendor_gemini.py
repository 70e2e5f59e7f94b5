"""GeminiProvider against a loopback server speaking the Gemini streamGenerateContent (SSE) wire format."""

from __future__ import annotations

import asyncio
import base64

import pytest

import google.genai  # noqa: E402,F401  (a core dependency: its absence is a failure, not a skip)

from coderouge.errors import (  # noqa: E402
    AuthenticationError,
    MissingKeyError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
    StreamCutError,
)
from coderouge.providers import get_provider  # noqa: E402
from coderouge.providers.gemini import GeminiProvider  # noqa: E402
from coderouge.types import ImagePart, Message, Request, TextPart  # noqa: E402

try:
    from vendor_servers import GeminiServer
except ImportError:  # tests/ became a package
    from tests.vendor_servers import GeminiServer

KEY = "AIzaTestGemini0123456789abcdef"
MODEL = "gemini-2.5-flash"
STREAM_PATH_SUFFIX = f"/models/{MODEL}:streamGenerateContent?alt=sse"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    for var in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(var, raising=False)


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


def _request(**kw) -> Request:
    msgs = kw.pop("messages", (Message("system", "Be brief."), Message("user", "Say hello")))
    return Request(model=f"gemini/{MODEL}", messages=msgs, **kw)


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
    with GeminiServer(("ok", "Hello big world", {"input_tokens": 1000, "output_tokens": 500})) as srv:
        c = _run(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert c.text == "Hello big world"
    assert c.model == f"gemini/{MODEL}"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (1000, 500)
    assert c.stop_reason == "stop"
    assert c.ttft_s is not None
    assert c.cost_usd == pytest.approx((1000 * 0.30 + 500 * 2.50) / 1e6)


def test_request_shape():
    msgs = (Message("system", "Be brief."), Message("user", "Say hello"), Message("assistant", "Hello"),
            Message("user", "Again"))
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GeminiProvider(MODEL, base_url=srv.base_url),
             _request(messages=msgs, max_tokens=64, stop=("END",), seed=7, top_p=0.5, temperature=0.3))
        rec = srv.last
    assert rec.method == "POST"
    assert rec.path.endswith(STREAM_PATH_SUFFIX) and rec.path.startswith("/v1")
    assert rec.headers["x-goog-api-key"] == KEY
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


def test_defaults_leave_out_unset_params_and_thinking_budget_option():
    with GeminiServer(("ok", "Hi")) as srv:
        p = GeminiProvider(MODEL, base_url=srv.base_url, options={"thinking_budget": "0"})
        _run(p, _request(messages=(Message("user", "Hi"),)))
        b = _camel(srv.last.body)
    assert "systemInstruction" not in b
    g = b["generationConfig"]
    assert "topP" not in g and "stopSequences" not in g and "seed" not in g
    assert g["thinkingConfig"] == {"thinkingBudget": 0}
    assert g["maxOutputTokens"] == 512  # no thinking: the answer budget alone


@pytest.mark.parametrize("model,budget,expected", [("gemini-2.0-flash", None, 100), ("gemini-2.5-pro", "1024", 100 + 1024)])
def test_answer_budget_for_non_thinking_and_budgeted_models(model, budget, expected):
    with GeminiServer(("ok", "Hi")) as srv:
        opts = {"thinking_budget": budget} if budget else {}
        _run(GeminiProvider(model, base_url=srv.base_url, options=opts), _request(max_tokens=100))
        assert _camel(srv.last.body)["generationConfig"]["maxOutputTokens"] == expected


def test_version_in_base_url_is_used_as_api_version():
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GeminiProvider(MODEL, base_url=srv.base_url + "/v1beta"), _request())
        assert srv.last.path == "/v1beta" + STREAM_PATH_SUFFIX


@pytest.mark.parametrize("vendor,ours", [("MAX_TOKENS", "max_tokens"), ("SAFETY", "content_filter"),
                                         ("RECITATION", "content_filter")])
def test_finish_reasons(vendor, ours):
    with GeminiServer(("ok", "Hello", {"stop": vendor})) as srv:
        c = _run(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert c.stop_reason == ours


def test_rate_limit_429_with_retry_after():
    with GeminiServer(("status", 429, {"retry-after": "3"})) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
        assert len(srv.requests) == 1  # the SDK did not retry on its own
    assert isinstance(e, RateLimitError)
    assert e.retryable is True and e.retry_after == 3.0 and e.status == 429
    assert "simulated error 429" in str(e)


def test_rate_limit_retry_delay_from_error_details():
    with GeminiServer(("status", 429, {}, {"retryDelay": "3s"})) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, RateLimitError) and e.retry_after == 3.0


def test_server_error_500_is_retryable():
    with GeminiServer(("status", 500), ("status", 503)) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
        assert len(srv.requests) == 1
    assert isinstance(e, ServerError) and e.retryable is True and e.status == 500


def test_401_is_not_retryable_and_never_shows_the_key():
    with GeminiServer(("status", 401, {}, {"message": f"API key not valid: {KEY}"})) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, AuthenticationError) and e.retryable is False and e.status == 401
    assert KEY not in str(e) and "API key not valid" in str(e)


def test_cut_stream_is_stream_cut_error():
    with GeminiServer(("cut", "Hello world, this is a longer answer")) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError) and e.retryable is True


def test_stream_without_finish_reason_is_stream_cut_error():
    with GeminiServer(("truncate", "Hello world")) as srv:
        e = _error(GeminiProvider(MODEL, base_url=srv.base_url), _request())
    assert isinstance(e, StreamCutError)


def test_connection_refused_is_connection_error():
    with GeminiServer() as srv:
        url = srv.base_url
    e = _error(GeminiProvider(MODEL, base_url=url), _request())
    assert isinstance(e, ProviderConnectionError) and e.retryable is True


def test_image_parts_reach_server_as_inline_and_file_data():
    png = b"\x89PNG\r\n\x1a\nfake"
    b64 = base64.b64encode(png).decode()
    msgs = (Message("user", (TextPart("What is this?"), ImagePart.from_bytes(png, "image/png"),
                             ImagePart(url="https://example.com/cat.jpg", media_type="image/jpeg"))),)
    with GeminiServer(("ok", "A cat")) as srv:
        c = _run(GeminiProvider(MODEL, base_url=srv.base_url), _request(messages=msgs))
        parts = _camel(srv.last.body)["contents"][0]["parts"]
    assert c.text == "A cat"
    assert parts == [
        {"text": "What is this?"},
        {"inlineData": {"data": b64, "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
    ]


def test_missing_key_without_base_url(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY"):
        GeminiProvider(MODEL)


def test_google_api_key_also_works(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY + "x")
    with GeminiServer(("ok", "Hi")) as srv:
        _run(GeminiProvider(MODEL, base_url=srv.base_url), _request())
        assert srv.last.headers["x-goog-api-key"] == KEY + "x"


def test_get_provider_with_base_url_option():
    with GeminiServer(("ok", "Hello world")) as srv:
        p = get_provider(f"gemini/{MODEL}?base_url={srv.base_url}")
        assert isinstance(p, GeminiProvider) and p.base_url == srv.base_url
        c = _run(p, _request())
    assert c.text == "Hello world"


def test_constructing_does_no_io():
    assert GeminiProvider(MODEL, base_url="http://127.0.0.1:9")._client is None
