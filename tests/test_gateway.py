"""The gateway end to end: the official openai SDK (sync, async, streaming) as the client, the gateway
on 127.0.0.1, and loopback upstreams that speak OpenAI's wire format and inject faults (429 storms
with Retry-After, 500s, a cut stream, a stall, a malformed chunk, a server that is down)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import openai
import pytest
from loopback import running as serving
from vendor_servers import OpenAIServer

from coderouge.errors import TaskFileError
from coderouge.gateway import keys as K
from coderouge.gateway.app import create_app
from coderouge.gateway.config import parse_config
from coderouge.store import Store


def config_text(a: str, b: str, *, strategy="failover", timeout_s=2, retries=1, failures=2, cooldown_s=30,
                model_a="openai/m-a", model_b="openai/m-b", eu_b=False, extra="") -> str:
    return f"""
routes:
  chat:
    strategy: {strategy}
    deployments:
      - model: {model_a}
        base_url: {a}
      - model: {model_b}
        base_url: {b}
        eu: {str(eu_b).lower()}
redaction: {{enabled: true, restore: true}}
limits: {{max_body_bytes: 20000, timeout_s: {timeout_s}, retries: {retries}}}
breaker: {{failures: {failures}, cooldown_s: {cooldown_s}}}
allow_private_base_urls: true
{extra}"""


@pytest.fixture()
def ups():
    a, b = OpenAIServer(), OpenAIServer()
    with a, b:
        yield a, b


@pytest.fixture()
def gw(ups, any_store):
    """(base URL, key, the two upstreams, the store) for a failover route over the two upstreams."""
    a, b = ups
    cfg = parse_config(config_text(a.base_url, b.base_url))
    _, key = K.create_key(any_store, "tests")
    with serving(create_app(cfg, any_store)) as url:
        yield url, key, a, b, any_store


@dataclass
class Reply:
    status_code: int
    text: str

    def json(self):
        return json.loads(self.text)


def raw(method: str, url: str, *, content: bytes | None = None, json_body=None, headers=None) -> Reply:
    data = json.dumps(json_body).encode() if json_body is not None else content
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return Reply(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read().decode())


def logged(store: Store, n: int) -> list[dict]:
    """The request log once it holds n rows (the gateway writes them at the end of its event-loop turn,
    which may come just after the client has its answer)."""
    deadline = time.monotonic() + 10
    while len(rows := store.gateway_requests()) < n:
        assert time.monotonic() < deadline, f"{len(rows)} rows logged, expected {n}"
        time.sleep(0.02)
    return rows


def client(url: str, key: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20, **kw)


def ask(c, text="Say hello", **kw):
    return c.chat.completions.create(model="chat", messages=[{"role": "user", "content": text}], **kw)


def test_a_completion_through_the_sdk_with_its_headers(gw):
    url, key, a, b, store = gw
    raw = client(url, key).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Say hello"}], temperature=0.2, max_tokens=50, seed=7,
        stop=["\n\n"])
    r = raw.parse()
    assert r.choices[0].message.content == "Hello world" and r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 1000 and r.model == "chat"
    assert raw.headers["x-coderouge-deployment"] == f"openai/m-a@{a.base_url}"
    assert float(raw.headers["x-coderouge-overhead-ms"]) >= 0
    sent = a.last.body
    assert sent["model"] == "m-a" and sent["temperature"] == 0.2 and sent["max_tokens"] == 50 and sent["seed"] == 7
    assert b.requests == []


def test_streaming_chunk_by_chunk_with_usage(gw):
    url, key, a, _, _ = gw
    a.push(("ok", "One two three four"))
    chunks = list(ask(client(url, key), stream=True, stream_options={"include_usage": True}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "One two three four" and len(texts) >= 4
    assert chunks[-1].usage.completion_tokens == 500
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_the_async_client(gw):
    url, key, _, _, _ = gw

    async def main():
        c = openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)
        try:
            rs = await asyncio.gather(*(c.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"hi {i}"}]) for i in range(5)))
            return [r.choices[0].message.content for r in rs]
        finally:
            await c.close()

    assert asyncio.run(main()) == ["Hello world"] * 5


def test_failover_before_the_first_byte(gw):
    url, key, a, b, _ = gw
    a.push(("status", 500), ("status", 500))  # retries: 1 → two attempts, both fail
    b.push(("ok", "from b"))
    raw = client(url, key).chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == "from b"
    assert raw.headers["x-coderouge-deployment"].startswith("openai/m-b@")
    assert raw.headers["x-coderouge-attempts"] == "3" and raw.headers["x-coderouge-fallback"] == "1"
    assert len(a.requests) == 2 and len(b.requests) == 1
    # streamed, the same: two attempts at a, then b
    a.push(("status", 500), ("status", 500))
    b.push(("ok", "from b again"))
    with client(url, key).chat.completions.with_streaming_response.create(
            model="chat", stream=True, messages=[{"role": "user", "content": "x"}]) as r:
        assert r.headers["x-coderouge-attempts"] == "3" and r.headers["x-coderouge-fallback"] == "1"
    # a has failed twice in a row: its circuit is open, so b serves at once, still a fallback
    raw = client(url, key).chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-coderouge-deployment"].startswith("openai/m-b@")
    assert raw.headers["x-coderouge-attempts"] == "1" and raw.headers["x-coderouge-fallback"] == "1"
    assert len(a.requests) == 4


def test_a_429_storm_is_retried_honouring_retry_after(ups, any_store):
    a, b = ups
    cfg = parse_config(config_text(a.base_url, b.base_url, retries=2))
    _, key = K.create_key(any_store, "t")
    a.push(("status", 429, {"retry-after": "0.3"}), ("status", 429, {"retry-after": "0.3"}), ("ok", "patience"))
    with serving(create_app(cfg, any_store)) as url:
        t0 = time.monotonic()
        r = ask(client(url, key))
        waited = time.monotonic() - t0
    assert r.choices[0].message.content == "patience" and len(a.requests) == 3 and b.requests == []
    assert waited >= 0.6  # both Retry-After pauses were honoured (a lower bound, not a timing threshold)


@pytest.mark.parametrize("fault", [("cut",), ("malformed", "Hello big wide world"), ("stall", "Hello big wide world", 4.0),
                                   ("error_event", "server_error", "boom")])
def test_a_broken_stream_is_always_an_error_for_the_client(gw, fault):
    url, key, a, b, store = gw
    a.push(fault if fault[0] != "cut" else ("cut", "Hello big wide world and more words"))
    got = []
    with pytest.raises(openai.APIError):
        for c in ask(client(url, key), stream=True):
            if c.choices and c.choices[0].delta.content:
                got.append(c.choices[0].delta.content)
    assert got, "text had reached the client before the failure: no failover is allowed after the first byte"
    assert b.requests == []
    rows = logged(store, 1)
    assert rows[-1]["status"] == 502 and rows[-1]["error"].startswith("stream_")


def test_an_upstream_that_is_down_fails_over_and_the_breaker_stops_asking_it(any_store):
    dead = OpenAIServer().start()
    dead_url = dead.base_url
    dead.stop()  # its port now refuses connections
    with OpenAIServer() as a, OpenAIServer() as b:
        cfg = parse_config(config_text(a.base_url, b.base_url, failures=2, retries=0))
        _, key = K.create_key(any_store, "t")
        with serving(create_app(cfg, any_store)) as url:
            c = client(url, key)
            for _ in range(2):
                a.push(("status", 500))
            answers = [ask(c).choices[0].message.content for _ in range(6)]
            health = json.loads(urllib.request.urlopen(f"{url}/healthz", timeout=5).read())
        assert answers == ["Hello world"] * 6  # no request lost while a healthy deployment remains
        assert len(a.requests) == 2  # opened after 2 consecutive failures: not asked again
        assert len(b.requests) == 6
        assert health["open_circuits"] == [f"openai/m-a@{a.base_url}"]
    cfg = parse_config(config_text(dead_url, dead_url.replace("/v1", "/x/v1"), retries=0))
    with serving(create_app(cfg, any_store)) as url:
        with pytest.raises(openai.APIStatusError) as e:
            ask(client(url, key))
        assert e.value.status_code == 502


def test_errors_in_openai_shape_and_the_gateway_keeps_serving(gw):
    url, key, a, _, _ = gw
    with pytest.raises(openai.AuthenticationError):
        ask(client(url, "crk-wrong-key"))
    r = raw("POST", f"{url}/v1/chat/completions", json_body={"model": "chat", "messages": [{"role": "user", "content": "x"}]},
            headers={"Content-Type": "application/json"})  # no key at all
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.NotFoundError) as e:
        client(url, key).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as e:
        ask(client(url, key), logit_bias={"50256": -100})  # no deployment can honour it through coderouge
    assert e.value.body["param"] == "logit_bias"
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    r = raw("POST", f"{url}/v1/chat/completions", content=b"{not json", headers=h)
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = raw("POST", f"{url}/v1/chat/completions", json_body={"model": "chat"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = raw("POST", f"{url}/v1/chat/completions", json_body={"model": "chat", "temperature": "hot",
                                                             "messages": [{"role": "user", "content": "x"}]}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"
    r = raw("POST", f"{url}/v1/chat/completions", content=b"x" * 30000, headers=h)
    assert r.status_code == 413
    assert ask(client(url, key)).choices[0].message.content == "Hello world"  # still serving


def test_models_health_and_metrics(gw):
    url, key, _, _, _ = gw
    assert [m.id for m in client(url, key).models.list()] == ["chat"]
    assert raw("GET", f"{url}/v1/models").status_code == 401
    assert raw("GET", f"{url}/healthz").json()["status"] == "ok"  # no key needed
    ask(client(url, key))
    m = raw("GET", f"{url}/metrics").text  # no key needed
    assert 'coderouge_gateway_requests_total{deployment="openai/m-a@' in m and 'route="chat"' in m
    assert "coderouge_gateway_latency_seconds_bucket" in m and "coderouge_gateway_ttft_seconds_count" in m


def test_request_log_has_no_text_and_keys_list_their_spending(gw):
    url, key, a, _, store = gw
    ask(client(url, key), text="My secret plan is purple elephants")
    rows = logged(store, 1)
    assert rows and rows[-1]["status"] == 200 and rows[-1]["route"] == "chat" and rows[-1]["input_tokens"] == 1000
    assert "purple" not in json.dumps(rows) and key not in json.dumps(rows)
    (k,) = K.list_keys(store)
    assert store.gateway_usage()[k.id][0] == len(rows)


def test_budget_rpm_and_eu_only(ups, any_store):
    a, b = ups
    cfg = parse_config(config_text(a.base_url, b.base_url, model_a="openai/gpt-4o-mini", model_b="openai/gpt-4o",
                                   eu_b=True))
    _, budget_key = K.create_key(any_store, "budget", budget_usd=0.0001)
    _, rpm_key = K.create_key(any_store, "rpm", rpm=2)
    _, eu_key = K.create_key(any_store, "eu", eu_only=True)
    with serving(create_app(cfg, any_store)) as url:
        ask(client(url, budget_key))  # 1,000 + 500 tokens of gpt-4o-mini: more than 0.0001 USD
        with pytest.raises(openai.RateLimitError) as e:
            ask(client(url, budget_key))
        assert e.value.body["code"] == "budget_exceeded"
        ask(client(url, rpm_key)), ask(client(url, rpm_key))
        with pytest.raises(openai.RateLimitError) as e:
            ask(client(url, rpm_key))
        assert int(e.value.response.headers["retry-after"]) >= 1
        raw = client(url, eu_key).chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "x"}])
        assert raw.headers["x-coderouge-deployment"].startswith("openai/gpt-4o@")
    spent = {k.name: k.spent_usd for k in K.list_keys(any_store)}
    assert spent["budget"] > 0.0001


def test_personal_data_is_redacted_before_it_leaves_and_restored_in_the_answer(gw):
    url, key, a, _, store = gw
    a.push(("ok", "I will write to <EMAIL_1> about <PHONE_1> today"))
    r = ask(client(url, key), text="Contact jane.doe@example.com or +33 6 12 34 56 78 please")
    sent = json.dumps(a.last.body)
    assert "jane.doe@example.com" not in sent and "12 34 56 78" not in sent and "<EMAIL_1>" in sent
    assert r.choices[0].message.content == "I will write to jane.doe@example.com about +33 6 12 34 56 78 today"
    a.push(("ok", "Mail <EMAIL_1> now"))
    chunks = ask(client(url, key), text="Reach jane.doe@example.com", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Mail jane.doe@example.com now"


def test_config_errors_name_the_key_and_line(tmp_path):
    with pytest.raises(TaskFileError, match=r"cfg.yaml:4: unknown key 'strategyy' in routes.chat"):
        parse_config("routes:\n  chat:\n    deployments: [{model: openai/x}]\n    strategyy: failover\n", "cfg.yaml")
    with pytest.raises(TaskFileError, match=r":3: .*strategy must be one of"):
        parse_config("routes:\n  chat:\n    strategy: random\n    deployments: [{model: openai/x}]\n")
    for host in ("127.0.0.1", "localhost", "[::1]", "10.0.0.5", "169.254.169.254"):
        text = f"routes:\n  chat:\n    deployments:\n      - model: openai/x\n        base_url: http://{host}:8080/v1\n"
        with pytest.raises(TaskFileError, match=r":5: .*loopback, private or link-local"):
            parse_config(text)
        assert parse_config(text + "allow_private_base_urls: true\n").routes["chat"].deployments[0].base_url
    with pytest.raises(TaskFileError, match="cheapest needs quality"):
        parse_config("routes:\n  c:\n    strategy: cheapest\n    deployments: [{model: openai/x}]\n")


GATEWAY_PROCESS = """
import sys, uvicorn
from coderouge.gateway.app import create_app
from coderouge.gateway.config import load_config
from coderouge.store import Store
uvicorn.run(create_app(load_config(sys.argv[2]), Store(sys.argv[3])), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


def test_two_gateway_processes_share_keys_and_spending(tmp_path, pg_url):
    """Two gateway processes on one PostgreSQL store: a key made once works on both, and together they do
    not overspend its budget by more than the requests in flight."""
    import socket
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    store = Store(pg_url)
    with OpenAIServer() as up:
        cfg = tmp_path / "gw.yaml"
        cfg.write_text(f"routes:\n  chat:\n    deployments:\n      - model: openai/gpt-4o-mini\n"
                       f"        base_url: {up.base_url}\nallow_private_base_urls: true\n")
        # one request: 1,000 input + 500 output tokens of gpt-4o-mini
        from coderouge.providers import pricing
        from coderouge.types import Usage

        per_request = pricing.cost("openai", "gpt-4o-mini", Usage(1000, 500))
        budget = per_request * 10
        k, key = K.create_key(store, "shared", budget_usd=budget)
        procs, urls = [], []
        try:
            for _ in range(2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                procs.append(subprocess.Popen([sys.executable, "-c", GATEWAY_PROCESS, str(port), str(cfg), pg_url]))
                urls.append(f"http://127.0.0.1:{port}")
            for u in urls:
                deadline = time.monotonic() + 30
                while not _up(u):
                    assert time.monotonic() < deadline, "a gateway did not start"
                    time.sleep(0.1)
            in_flight = 4

            def one(i: int) -> int:
                try:
                    ask(client(urls[i % 2], key))
                    return 200
                except openai.APIStatusError as e:
                    return e.status_code

            with ThreadPoolExecutor(in_flight) as pool:
                statuses = list(pool.map(one, range(40)))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)
    ok = statuses.count(200)
    assert statuses.count(429) == 40 - ok and ok >= 10
    spent = K.get_key(store, k.id).spent_usd
    assert spent == pytest.approx(ok * per_request)
    assert spent <= budget + in_flight * per_request + 1e-12
    assert len(store.gateway_requests(key_id=k.id)) == 40
    store.close()


def _up(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/healthz", timeout=1)
        return True
    except (urllib.error.URLError, OSError):
        return False


def test_a_revoked_key_stops_working(gw, monkeypatch):
    from coderouge.gateway import app as gateway_app

    monkeypatch.setattr(gateway_app, "KEY_CACHE_S", 0.0)
    url, key, _, _, store = gw
    assert ask(client(url, key)).choices[0].message.content == "Hello world"
    (k,) = K.list_keys(store)
    K.revoke_key(store, k.id)
    with pytest.raises(openai.AuthenticationError):
        ask(client(url, key))


def _cheapest(up_url: str, quality: str) -> str:
    return (f"routes:\n  chat:\n    strategy: cheapest\n    quality: {quality}\n    deployments:\n"
            f"      - model: openai/gpt-4o\n        base_url: {up_url}\n"
            f"      - model: openai/gpt-4o-mini\n        base_url: {up_url}\n"
            "limits: {timeout_s: 5, retries: 0}\nallow_private_base_urls: true\n")


def _served_by(url: str) -> str:
    r = client(url, "unused").chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "x"}])
    return r.headers["x-coderouge-deployment"].split("@")[0]


def test_cheapest_routes_on_the_teams_own_eval_scores(any_store, monkeypatch):
    """gpt-4o-mini is cheaper: it serves while its measured score is within the margin of the best, and
    gpt-4o takes over once a newer measurement puts mini outside the margin."""
    from coderouge.gateway import app as gateway_app
    from coderouge.gateway.server import explain

    with OpenAIServer() as up:
        cfg = parse_config(_cheapest(up.base_url, "{task: business, margin: 0.02}"))
        assert "no deployment has a measured score" in explain(cfg, any_store)
        any_store.save_eval("openai/gpt-4o", "business", {}, {"value": 0.80}, [])
        any_store.save_eval("openai/gpt-4o-mini", "business", {}, {"value": 0.79}, [])
        text = explain(cfg, any_store)
        assert "best measured score (task business): 0.800" in text
        assert text.index("openai/gpt-4o-mini@") < text.index("openai/gpt-4o@")
        with serving(create_app(cfg, any_store, require_keys=False)) as url:
            assert _served_by(url) == "openai/gpt-4o-mini"
            any_store.save_eval("openai/gpt-4o-mini", "business", {}, {"value": 0.70}, [])
            monkeypatch.setattr(gateway_app, "MEASURED_TTL_S", 0.0)  # read the store again at once
            assert _served_by(url) == "openai/gpt-4o"
        assert "outside the margin: fallback only" in explain(cfg, any_store)


def test_cheapest_routes_on_arena_ratings(any_store):
    """With quality from the arena, the ratings of the store's decided battles decide: gpt-4o wins 80% of
    its battles (about 240 points ahead), so with a margin of 50 points it serves, and with 400 the
    cheaper mini does. One judge's battles can be chosen."""
    from coderouge.arena.battles import add_battle
    from coderouge.gateway.server import explain

    for i in range(50):
        winner = "model_a" if i % 5 else "model_b"
        add_battle(any_store, source="test", judge="human", model_a="openai/gpt-4o", model_b="openai/gpt-4o-mini",
                   winner=winner)
    for i in range(10):  # another judge that prefers mini
        add_battle(any_store, source="test", judge="gpt-judge", model_a="openai/gpt-4o", model_b="openai/gpt-4o-mini",
                   winner="model_b" if i % 5 else "model_a")
    with OpenAIServer() as up:
        strict = parse_config(_cheapest(up.base_url, "{arena: human, margin: 50}"))
        text = explain(strict, any_store)
        assert "best measured rating (arena ratings (judge human))" in text and "95% CI" in text and "50 battles" in text
        with serving(create_app(strict, any_store, require_keys=False)) as url:
            assert _served_by(url) == "openai/gpt-4o"
        loose = parse_config(_cheapest(up.base_url, "{arena: human, margin: 400}"))
        with serving(create_app(loose, any_store, require_keys=False)) as url:
            assert _served_by(url) == "openai/gpt-4o-mini"
        other = parse_config(_cheapest(up.base_url, "{arena: gpt-judge, margin: 50}"))
        with serving(create_app(other, any_store, require_keys=False)) as url:
            assert _served_by(url) == "openai/gpt-4o-mini"  # that judge rates mini higher, and it is cheaper
    with pytest.raises(TaskFileError, match="either task"):
        parse_config(_cheapest("http://127.0.0.1:9/v1", "{arena: all, task: business}"))


def _fill(fs) -> None:
    """Fill the filesystem at `fs` up to the last byte."""
    with open(fs / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def test_a_request_log_that_cannot_be_written_stops_the_serving_and_loses_nothing(tmp_path):
    """The store lies on a small filesystem of the test's own, filled up while the gateway runs: the rows
    that could not be written are kept, the gateway answers 503 (it never serves a request it cannot log
    and charge), and once there is room again the kept rows are written and it serves again."""
    from test_store_writers import _tmpfs

    with _tmpfs(tmp_path / "fs", "16m") as fs, OpenAIServer() as up:
        store = Store(fs / "store.db")
        _, key = K.create_key(store, "t")
        cfg = parse_config(config_text(up.base_url, up.base_url))
        try:
            with serving(create_app(cfg, store)) as url:
                c = client(url, key)
                assert ask(c).choices[0].message.content == "Hello world"
                time.sleep(0.3)
                assert len(store.gateway_requests()) == 1
                _fill(fs)
                try:
                    served = 0
                    with pytest.raises(openai.InternalServerError) as e:
                        for _ in range(200):  # served while the write of their rows has not failed yet
                            ask(c, "x" * 1000)
                            served += 1
                            time.sleep(0.1)
                    assert e.value.status_code == 503 and e.value.body["code"] == "store_unavailable"
                    assert "full" in e.value.body["message"] and key not in e.value.body["message"]
                    assert served >= 1
                finally:
                    (fs / "filler").unlink()
                time.sleep(1.5)  # the kept rows are written on the next try
                assert ask(c).choices[0].message.content == "Hello world"
                time.sleep(0.3)
                rows = store.gateway_requests()
                assert len(rows) == 1 + served + 1  # every request that was served is logged, none twice
                assert {r["status"] for r in rows} == {200} and all(r["key_id"] for r in rows)
        finally:
            store.close()
