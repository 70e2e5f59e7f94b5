import asyncio

import pytest

from coderouge.errors import AuthenticationError, RateLimitError, StreamCutError, UsageError
from coderouge.providers import get_provider
from coderouge.types import ImagePart, Message, Request, TextPart


def gen(p, text="hello there world"):
    return asyncio.run(p.generate(Request(p.name, (Message("user", text),))))


def test_echo_streams_and_times():
    p = get_provider("fake/echo?latency=0.02&ttft=0.01")
    c = gen(p)
    assert c.text == "hello there world" and c.stop_reason == "stop"
    assert c.ttft_s is not None and c.ttft_s <= c.latency_s
    assert c.usage.output_tokens == 3 and c.cost_usd == 0.0


def test_scripted_answer_and_callable_script():
    assert gen(get_provider("fake/x?answer=Paris")).text == "Paris"
    from coderouge.providers.fake import FakeProvider

    p = FakeProvider("s", script=lambda r: r.messages[-1].text.upper())
    assert gen(p, "abc").text == "ABC"


def test_fault_schedule_per_request():
    p = get_provider("fake/x?faults=429,401&retry_after=3")
    with pytest.raises(RateLimitError) as e:
        gen(p)
    assert e.value.retry_after == 3.0 and e.value.retryable and e.value.status == 429
    with pytest.raises(AuthenticationError) as e2:
        gen(p)
    assert not e2.value.retryable
    assert gen(p).text == "hello there world"


def test_cut_stream_is_an_error_not_an_answer():
    p = get_provider("fake/x?faults=cut")
    with pytest.raises(StreamCutError):
        gen(p)


def test_unknown_fault_and_bad_option():
    with pytest.raises(UsageError, match="unknown fault"):
        get_provider("fake/x?faults=boom")
    with pytest.raises(UsageError, match="bad option"):
        get_provider("fake/x?latency=abc")


def test_images_accepted_by_fake():
    p = get_provider("fake/echo")
    msg = Message("user", (TextPart("describe"), ImagePart.from_bytes(b"\x89PNG")))
    c = asyncio.run(p.generate(Request(p.name, (msg,))))
    assert c.text == "describe"


def test_word_delay_streams_word_by_word():
    import time

    p = get_provider("fake/x?answer=one%20two%20three&word_delay=0.02")
    seen = []
    asyncio.run(p.generate(Request(p.name, (Message("user", "q"),)), on_text=lambda t: seen.append((time.perf_counter(), t))))
    assert [t for _, t in seen] == ["one", " two", " three"]
    assert seen[2][0] > seen[0][0]  # pieces arrive one after another, not at once
