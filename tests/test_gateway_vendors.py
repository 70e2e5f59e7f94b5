"""Every kind of deployment behind the gateway, with the official openai SDK as the client: Anthropic and
Gemini (through their own SDKs, to loopback servers that speak their wire formats) and the local model
answer in OpenAI's shapes, streamed chunk by chunk; tools, tool_choice and response_format are passed on
(translated) where the provider supports them, and refused with a 400 naming the parameter where no
deployment of the route does."""

from __future__ import annotations

import json

import openai
import pytest
from loopback import running as serving
from vendor_servers import AnthropicServer, GeminiServer, OpenAIServer

from coderouge.gateway.app import create_app
from coderouge.gateway.config import parse_config

WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _config(*deployments: tuple[str, str | None], strategy: str = "failover") -> str:
    lines = []
    for model, base in deployments:
        lines.append(f"      - model: {model}")
        if base:
            lines.append(f"        base_url: {base}")
    return ("routes:\n  chat:\n    strategy: " + strategy + "\n    deployments:\n" + "\n".join(lines) + "\n"
            "redaction: {enabled: true, restore: true}\n"
            "limits: {max_body_bytes: 200000, timeout_s: 60, retries: 0}\n"
            "allow_private_base_urls: true\n")


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture()
def vendor_gateway(monkeypatch):
    """A gateway with one route per vendor server, no keys (require_keys off); yields a starter."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.setenv(var, "sk-test-not-a-real-key")

    def start(*deployments: tuple[str, str | None]):
        return serving(create_app(parse_config(_config(*deployments)), None, require_keys=False))

    return start


VENDORS = [("anthropic", AnthropicServer, "anthropic/claude-test"), ("gemini", GeminiServer, "gemini/gemini-test"),
           ("openai", OpenAIServer, "openai/gpt-test")]


@pytest.mark.parametrize("vendor,server_cls,model", VENDORS, ids=[v[0] for v in VENDORS])
def test_a_vendor_answers_in_openai_shapes_streamed_chunk_by_chunk(vendor_gateway, vendor, server_cls, model):
    with server_cls() as up, vendor_gateway((model, up.base_url)) as url:
        up.push(("ok", "The quick brown fox jumps", {"input_tokens": 11, "output_tokens": 5}),
                ("ok", "Hello there", {"input_tokens": 3, "output_tokens": 2}))
        client = _client(url)
        chunks = list(client.chat.completions.create(model="chat", stream=True, stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "Go"}]))
        pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
        assert "".join(pieces) == "The quick brown fox jumps"
        assert len(pieces) >= 5  # chunk by chunk, as the vendor sent them, not one block at the end
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish == ["stop"]
        assert chunks[-1].usage.prompt_tokens == 11 and chunks[-1].usage.completion_tokens == 5
        r = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "Hi"}])
        assert r.headers["x-coderouge-deployment"].startswith(model)
        c = r.parse()
        assert c.object == "chat.completion" and c.choices[0].message.content == "Hello there"
        assert c.usage.total_tokens == 5


def test_tools_are_passed_on_to_an_openai_deployment_and_come_back_streamed_and_not(vendor_gateway):
    with OpenAIServer() as up, vendor_gateway(("openai/gpt-test", up.base_url)) as url:
        client = _client(url)
        up.push(("tools", [("get_weather", {"city": "Paris"})]))
        c = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
                                           tools=WEATHER, tool_choice="required")
        sent = up.last.body
        assert sent["tools"] == WEATHER and sent["tool_choice"] == "required"
        assert c.choices[0].finish_reason == "tool_calls"
        (call,) = c.choices[0].message.tool_calls
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
        # the SDK's own stream accumulator puts the pieces back together
        up.push(("tools", [("get_weather", {"city": "Lyon"}), ("get_weather", {"city": "Nice"})], {"text": "Both:"}))
        with client.chat.completions.stream(model="chat", messages=[{"role": "user", "content": "Lyon and Nice"}],
                                            tools=WEATHER) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
        msg = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls" and msg.content == "Both:"
        assert [json.loads(t.function.arguments)["city"] for t in msg.tool_calls] == ["Lyon", "Nice"]
        assert msg.tool_calls[0].id == "call_0_get_weather"
        # the tool's answer goes back as a tool turn
        up.push(("ok", "It is sunny in Paris."))
        c2 = client.chat.completions.create(model="chat", tools=WEATHER, messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}])
        assert c2.choices[0].message.content == "It is sunny in Paris."
        msgs = up.last.body["messages"]
        assert msgs[1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert msgs[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}
        # response_format is passed on as it came
        up.push(("ok", '{"ok": true}'))
        fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "json"}], response_format=fmt)
        assert up.last.body["response_format"] == fmt


def test_tools_are_translated_for_anthropic(vendor_gateway):
    with AnthropicServer() as up, vendor_gateway(("anthropic/claude-test", up.base_url)) as url:
        client = _client(url)
        up.push(("tools", [("get_weather", {"city": "Paris"})], {"text": "Looking."}))
        with client.chat.completions.stream(model="chat", messages=[{"role": "user", "content": "Weather?"}],
                                            tools=WEATHER, tool_choice={"type": "function",
                                                                        "function": {"name": "get_weather"}}) as s:
            for _ in s:
                pass
            final = s.get_final_completion()
        sent = up.last.body
        assert sent["tools"] == [{"name": "get_weather", "description": "The weather in a city",
                                  "input_schema": WEATHER[0]["function"]["parameters"]}]
        assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
        msg = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls" and msg.content == "Looking."
        (call,) = msg.tool_calls
        assert call.id == "toolu_0_get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
        up.push(("ok", "Sunny."))
        c = client.chat.completions.create(model="chat", tools=WEATHER, messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "Looking.", "tool_calls": [call.model_dump(exclude_none=True)]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
        assert c.choices[0].message.content == "Sunny."
        sent = up.last.body
        assert sent["system"] == "Be brief."
        assert sent["messages"][1] == {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}]}
        assert sent["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}
        # Anthropic has no response_format here: refused, naming it
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}],
                                           response_format={"type": "json_object"})
        assert e.value.body["param"] == "response_format" and "response_format" in e.value.body["message"]


def test_tools_and_json_mode_are_translated_for_gemini(vendor_gateway):
    with GeminiServer() as up, vendor_gateway(("gemini/gemini-test", up.base_url)) as url:
        client = _client(url)
        up.push(("tools", [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]))
        c = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Weather?"}],
                                           tools=WEATHER, tool_choice="required")
        sent = up.last.body
        (decl,) = sent["tools"][0]["functionDeclarations"]
        # google-genai 3.x writes this field in snake case (protobuf's JSON parser takes both spellings)
        schema = decl.get("parametersJsonSchema", decl.get("parameters_json_schema"))
        assert decl["name"] == "get_weather" and schema == WEATHER[0]["function"]["parameters"]
        assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
        assert c.choices[0].finish_reason == "tool_calls"
        calls = c.choices[0].message.tool_calls
        assert [json.loads(t.function.arguments) for t in calls] == [{"city": "Paris"}, {"city": "Rome"}]
        assert calls[0].id != calls[1].id
        up.push(("ok", "Warm."))
        client.chat.completions.create(model="chat", tools=WEATHER, messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [t.model_dump(exclude_none=True) for t in calls]},
            {"role": "tool", "tool_call_id": calls[0].id, "content": "21 C"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": "24 C"}])
        contents = up.last.body["contents"]
        assert [p["functionCall"]["name"] for p in contents[1]["parts"]] == ["get_weather", "get_weather"]
        assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_weather", "get_weather"]
        assert [p["functionResponse"]["response"] for p in contents[2]["parts"]] == [{"result": "21 C"},
                                                                                    {"result": "24 C"}]
        up.push(("ok", '{"a": 1}'))
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
        r = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "json"}],
                                           response_format={"type": "json_schema",
                                                            "json_schema": {"name": "r", "schema": schema}})
        assert json.loads(r.choices[0].message.content) == {"a": 1}
        gen = up.last.body["generationConfig"]
        assert gen["responseMimeType"] == "application/json" and gen["responseJsonSchema"] == schema


def test_personal_data_in_tool_arguments_is_redacted_and_restored(vendor_gateway):
    with OpenAIServer() as up, vendor_gateway(("openai/gpt-test", up.base_url)) as url:
        client = _client(url)
        up.push(("tools", [("send_mail", {"to": "<EMAIL_1>"})]))
        c = client.chat.completions.create(model="chat", tools=WEATHER,
                                           messages=[{"role": "user", "content": "Mail jane.doe@example.com"}])
        assert "jane.doe@example.com" not in json.dumps(up.last.body)
        assert json.loads(c.choices[0].message.tool_calls[0].function.arguments) == {"to": "jane.doe@example.com"}
        up.push(("tools", [("send_mail", {"to": "<EMAIL_1>"})]))
        chunks = list(client.chat.completions.create(model="chat", tools=WEATHER, stream=True,
                                                     messages=[{"role": "user", "content": "Mail jane.doe@example.com"}]))
        args = "".join(t.function.arguments or "" for c in chunks if c.choices
                       for t in (c.choices[0].delta.tool_calls or ()))
        assert json.loads(args) == {"to": "jane.doe@example.com"}


def test_a_route_sends_tools_only_to_deployments_that_take_them(vendor_gateway):
    """fake/ takes no tools: a route of fake then OpenAI sends plain requests to fake and tool requests to
    OpenAI; a route of fake alone refuses tools with a 400 naming the parameter."""
    with OpenAIServer() as up, vendor_gateway(("fake/plain?answer=plain", None), ("openai/gpt-test", up.base_url)) as url:
        client = _client(url)
        r = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "x"}])
        assert r.headers["x-coderouge-deployment"] == "fake/plain?answer=plain"
        up.push(("tools", [("get_weather", {"city": "Oslo"})]))
        r = client.chat.completions.with_raw_response.create(model="chat", tools=WEATHER,
                                                             messages=[{"role": "user", "content": "x"}])
        assert r.headers["x-coderouge-deployment"].startswith("openai/gpt-test")
        assert r.parse().choices[0].message.tool_calls[0].function.name == "get_weather"
    with vendor_gateway(("fake/plain?answer=plain", None)) as url:
        client = _client(url)
        for kwargs, param in [({"tools": WEATHER}, "tools"), ({"response_format": {"type": "json_object"}},
                                                              "response_format")]:
            with pytest.raises(openai.BadRequestError) as e:
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}], **kwargs)
            assert e.value.body["param"] == param and e.value.body["code"] == "unsupported_parameter"
        with pytest.raises(openai.BadRequestError) as e:  # a malformed tool is named
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}],
                                           tools=[{"type": "function", "function": {"description": "no name"}}])
        assert e.value.body["param"] == "tools[0]"
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="chat", messages=[{"role": "tool", "content": "x"}])
        assert e.value.body["param"] == "messages[0].tool_call_id"
        assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}]
                                              ).choices[0].message.content == "plain"


def test_the_local_model_behind_the_gateway(vendor_gateway):
    """The embedded model answers through the gateway in OpenAI's shapes, streamed chunk by chunk; it
    takes no tools, and says so with a 400 naming the parameter."""
    with vendor_gateway(("local/gemma-3-270m", None)) as url:
        client = _client(url)
        chunks = list(client.chat.completions.create(model="chat", max_tokens=12, stream=True,
                                                     messages=[{"role": "user", "content": "Name three colours."}]))
        pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
        assert len(pieces) >= 2 and "".join(pieces).strip()
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] in (
            ["stop"], ["length"])
        c = client.chat.completions.create(model="chat", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
        assert c.choices[0].message.content.strip() and c.usage.completion_tokens >= 1
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}], tools=WEATHER)
        assert e.value.body["param"] == "tools"
