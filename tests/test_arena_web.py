"""The voting page: streaming, one vote per battle, anonymity until the vote, refusals, restarts.

Servers listen on 127.0.0.1 (a free port) in a background thread; the browser tests drive Debian's
chromium through playwright (never a downloaded browser)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from loopback import running

from coderouge.arena.battles import get_battle, list_battles
from coderouge.arena.prompts import PromptItem
from coderouge.arena.web import create_app
from coderouge.providers.fake import FakeProvider
from coderouge.store import Store
from coderouge.types import Chunk, Message, Request, Usage



@pytest.fixture()
def store_path(store_url):
    """Every test here runs on both backends: a SQLite file, then a real PostgreSQL database."""
    return store_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROMPTS = [PromptItem("haiku", (Message("user", "Write a short poem about a lighthouse."),))]
ANSWER_ONE = ("The lamp turns slowly over the black water and every ship that passes counts the seconds "
              "between its flashes like a heartbeat in the fog")
ANSWER_TWO = ("Granite shoulders hold a patient light above the gulls while keepers long gone still seem "
              "to climb the spiral stairs each night")


class Typist(FakeProvider):
    """A fake model that types its answer a word at a time (`word_delay` seconds apart)."""

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        words = (self.answer or "").split(" ")
        delay = float(self.options.get("word_delay", "0.04"))
        for i, w in enumerate(words):
            await asyncio.sleep(delay)
            yield Chunk(text=w if i == 0 else " " + w)
        yield Chunk(usage=Usage(8, len(words)), stop_reason="stop")


def fake(name: str, answer: str, **opts: str) -> str:
    return f"fake/{name}?answer={quote(answer)}" + "".join(f"&{k}={v}" for k, v in opts.items())


def assert_anonymous(text: str, models: list[str]) -> None:
    for m in models:
        bare = m.split("?")[0]
        for needle in (m, bare, bare.split("/", 1)[1]):
            assert needle not in text, f"model name {needle!r} leaked before the vote"


@contextlib.contextmanager
def arena(store_path: Path, models: list[str], **kw) -> Iterator[str]:
    store = Store(store_path)
    try:
        with running(create_app(store, models, PROMPTS, **kw)) as url:
            yield url
    finally:
        store.close()


def http(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers={**h, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sse_events(text: str) -> list[tuple[str, object]]:
    out = []
    for block in text.split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def decided(store_path: Path) -> list:
    s = Store(store_path)
    try:
        return list_battles(s, decided=True, judge="human")
    finally:
        s.close()


# --- the browser -----------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-system.sh)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    ctx.close()


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_browser_full_vote_streams_then_reveals(page, store_path):
    models = ["fake/typist-one", "fake/typist-two"]
    providers = {"fake/typist-one": Typist("typist-one", options={"answer": ANSWER_ONE}),
                 "fake/typist-two": Typist("typist-two", options={"answer": ANSWER_TWO})}
    with arena(store_path, models, min_vote_seconds=0.5, seed=1, providers=providers) as url:
        page.goto(url)
        seen, deadline = [], time.monotonic() + 15
        while not page.is_enabled("#vote-a"):
            assert time.monotonic() < deadline, "the answers never finished"
            seen.append(page.text_content("#answer-a") or "")
            assert_anonymous(page.content(), models)
            time.sleep(0.02)
        shown_a = page.text_content("#answer-a")
        assert_anonymous(page.content(), models)
        assert page.text_content("#name-a") == "" and page.text_content("#name-b") == ""
        time.sleep(0.6)  # a person reads (min_vote_seconds=0.5)
        page.click("text=A is better")
        page.wait_for_function("() => document.getElementById('name-a').textContent.length > 0")
        assert "recorded" in page.text_content("#message")
        page.screenshot(path="/tmp/arena_vote.png", full_page=True)
        names = (page.text_content("#name-a"), page.text_content("#name-b"))
        assert all(page.is_disabled(sel) for sel in ("#vote-a", "#vote-b", "#vote-tie", "#vote-bothbad"))

    [battle] = decided(store_path)
    assert battle.winner == "model_a" and battle.source == "serve" and battle.prompt_id == "haiku"
    assert names == (f"— {battle.model_a}", f"— {battle.model_b}")
    full_a = ANSWER_ONE if battle.model_a == "fake/typist-one" else ANSWER_TWO
    assert shown_a == full_a == battle.answer_a
    # streaming is real: at some moment the page showed a non-empty strict prefix of answer A
    assert any(s and s != full_a and full_a.startswith(s) for s in seen), "answer A never appeared progressively"


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_browser_double_click_and_reload_record_one_vote(page, store_path):
    models = [fake("zebra-model", "Stripes all the way down.", latency="0.3", ttft="0.1"),
              fake("yak-model", "Shaggy and warm.", latency="0.2", ttft="0.1")]
    votes: list[str] = []
    page.on("request", lambda r: votes.append(r.url) if r.url.endswith("/vote") else None)
    with arena(store_path, models, min_vote_seconds=0.3, seed=2) as url:
        page.goto(url)
        page.wait_for_selector("#vote-b:enabled")
        time.sleep(0.4)
        page.dblclick("#vote-b")
        page.wait_for_function("() => document.getElementById('name-b').textContent.length > 0")
        time.sleep(0.3)  # room for a second request, were there one
        assert len(votes) == 1
        assert [b.winner for b in decided(store_path)] == ["model_b"]

        page.reload()  # the battle is not offered again: its result is shown
        page.wait_for_function("() => document.getElementById('message').textContent.includes('already recorded')")
        assert page.is_disabled("#vote-a") and page.is_disabled("#vote-b")
        assert page.text_content("#name-a") != ""
        assert len(votes) == 1  # the reloaded page sent nothing
        again = page.evaluate("""async () => {
            const b = JSON.parse(sessionStorage.getItem('coderouge.arena.battle'));
            const r = await fetch('/api/battles/' + b.id + '/vote', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: b.token, winner: 'model_a'})});
            return [r.status, await r.json()];
        }""")
        assert again[0] == 409 and again[1]["winner"] == "model_b"
        assert len(decided(store_path)) == 1

        # the server is the real guard: three racing requests for a fresh battle, one vote
        page.click("#next")
        page.wait_for_selector("#vote-a:enabled")
        time.sleep(0.4)
        statuses = page.evaluate("""async () => {
            const b = JSON.parse(sessionStorage.getItem('coderouge.arena.battle'));
            const send = (w) => fetch('/api/battles/' + b.id + '/vote', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: b.token, winner: w})});
            return (await Promise.all([send('tie'), send('model_a'), send('model_b')])).map(r => r.status).sort();
        }""")
        assert statuses == [200, 409, 409]
    assert len(decided(store_path)) == 2


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_browser_too_fast_vote_is_refused_with_a_message(page, store_path):
    models = [fake("zebra-model", "Stripes all the way down.", latency="0.1"), fake("yak-model", "Shaggy and warm.")]
    with arena(store_path, models, min_vote_seconds=30) as url:
        page.goto(url)
        page.click("#vote-tie")  # waits until the answers are complete, then clicks at once
        page.wait_for_function("() => document.getElementById('message').textContent.includes('Too fast')")
        page.wait_for_selector("#vote-tie:enabled")  # the person may vote again once they have read
        assert page.text_content("#name-a") == ""
        assert_anonymous(page.content(), models)
    assert decided(store_path) == []


# --- scripted clients ------------------------------------------------------

@pytest.mark.timeout(60)
def test_scripted_client_too_fast_bad_token_and_other_refusals(store_path):
    models = [fake("zebra-model", "Stripes all the way down.", latency="0.2", ttft="0.05"),
              fake("yak-model", "Shaggy and warm.", latency="0.1")]
    with arena(store_path, models, min_vote_seconds=5.0) as url:
        seen = []
        status, _ = http("POST", f"{url}/api/battles", headers={"Content-Type": "text/plain"})
        assert status == 415  # a cross-site form post cannot start battles
        status, text = http("POST", f"{url}/api/battles", {})
        seen.append(text)
        assert status == 201
        b = json.loads(text)
        assert b["prompt"] == PROMPTS[0].text and set(b) == {"id", "token", "prompt"}
        api = f"{url}/api/battles/{b['id']}"

        status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "model_a"})
        seen.append(text)
        assert status == 425  # the answers were never shown
        assert http("GET", f"{api}/stream", headers={"X-Arena-Token": "nope"})[0] == 403
        status, text = http("GET", f"{api}/stream", headers={"X-Arena-Token": b["token"]})
        seen.append(text)
        events = sse_events(text)
        assert events[0][0] == "start" and events[-1] == ("done", {"ok": True, "voted": False, "min_vote_seconds": 5.0})
        assert {"".join(d for e, d in events if e == side) for side in ("a", "b")} == {
            "Stripes all the way down.", "Shaggy and warm."}

        status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "model_a"})
        seen.append(text)
        assert status == 429 and json.loads(text)["retry_after"] > 0
        status, text = http("POST", f"{api}/vote", {"token": "wrong", "winner": "model_a"})
        seen.append(text)
        assert status == 403
        assert http("POST", f"{api}/vote", {"token": b["token"], "winner": "A"})[0] == 422
        assert http("POST", f"{url}/api/battles/999/vote", {"token": b["token"], "winner": "tie"})[0] == 404
        status, text = http("GET", api, headers={"X-Arena-Token": b["token"]})
        seen.append(text)
        assert status == 200 and json.loads(text)["voted"] is False
        for t in seen:
            assert_anonymous(t, models)
    assert decided(store_path) == []


@pytest.mark.timeout(60)
def test_votes_survive_a_restart_and_new_battles_get_fresh_answers(store_path):
    models = [fake("zebra-model", "Stripes all the way down.", latency="0.1"),
              fake("yak-model", "Shaggy and warm.", latency="0.1")]
    with arena(store_path, models, min_vote_seconds=0.2, seed=3) as url:
        status, text = http("POST", f"{url}/api/battles", {})
        b = json.loads(text)
        api = f"{url}/api/battles/{b['id']}"
        http("GET", f"{api}/stream", headers={"X-Arena-Token": b["token"]})
        time.sleep(0.3)
        status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "tie"})
        assert status == 200
        reveal = json.loads(text)
        assert {reveal["model_a"], reveal["model_b"]} == set(models) and reveal["winner"] == "tie"

    s = Store(store_path)
    calls_before = s.count_calls()
    s.close()
    assert calls_before == 2
    with arena(store_path, models, min_vote_seconds=0.2, seed=4) as url:
        api = f"{url}/api/battles/{b['id']}"
        status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "model_b"})
        assert status == 409 and json.loads(text)["winner"] == "tie"
        state = json.loads(http("GET", api, headers={"X-Arena-Token": b["token"]})[1])
        assert state["voted"] and state["winner"] == "tie" and state["model_a"] == reveal["model_a"]
        # a new battle on the same prompt and models gets fresh, sampled answers: never the cache, so a
        # text seen after one vote does not identify its model in the next battle
        nb = json.loads(http("POST", f"{url}/api/battles", {})[1])
        text = http("GET", f"{url}/api/battles/{nb['id']}/stream", headers={"X-Arena-Token": nb["token"]})[1]
        assert sse_events(text)[-1][1]["ok"] is True
    s = Store(store_path)
    calls = s.calls()
    assert len(calls) == calls_before + 2 and len({c.key for c in calls}) == 4
    for c in calls:
        req = json.loads(c.request_json)
        assert req["params"]["temperature"] == 0.7 and isinstance(req["params"]["seed"], int)
    s.close()
    [battle] = decided(store_path)
    assert battle.id == b["id"] and battle.winner == "tie"


@pytest.mark.timeout(60)
def test_a_transient_failure_before_the_first_word_is_retried(store_path):
    """The voting page goes through the call path: a 500 before anything was shown is retried."""
    models = [fake("zebra-model", "Stripes all the way down."), "fake/flaky-model?faults=500&answer=Hello%20there"]
    with arena(store_path, models, min_vote_seconds=0.1) as url:
        b = json.loads(http("POST", f"{url}/api/battles", {})[1])
        text = http("GET", f"{url}/api/battles/{b['id']}/stream", headers={"X-Arena-Token": b["token"]})[1]
        events = sse_events(text)
        assert not [e for e, _ in events if e == "error"] and events[-1][1]["ok"] is True
    with Store(store_path) as s:
        assert s.count_calls("error") == 1 and s.count_calls("ok") == 2


@pytest.mark.timeout(60)
def test_names_never_leak_before_the_vote_and_failures_cannot_be_voted(store_path):
    models = [fake("zebra-model", "Stripes all the way down.", latency="0.1"),
              "fake/broken-model?faults=401,401&ttft=0.05"]  # not retryable: the call path gives up at once
    with arena(store_path, models, min_vote_seconds=0.1) as url:
        status, page = http("GET", f"{url}/")
        assert status == 200 and "A is better" in page and "Both are bad" in page
        assert "http://" not in page and "https://" not in page and "<script src" not in page  # no external assets
        assert_anonymous(page, models)
        b = json.loads(http("POST", f"{url}/api/battles", {})[1])
        api = f"{url}/api/battles/{b['id']}"
        text = http("GET", f"{api}/stream", headers={"X-Arena-Token": b["token"]})[1]
        assert_anonymous(text, models)
        events = sse_events(text)
        [(_, err)] = [(e, d) for e, d in events if e == "error"]
        assert err["message"] == "authentication (HTTP 401)"
        assert events[-1][1]["ok"] is False
        time.sleep(0.2)
        status, text = http("POST", f"{api}/vote", {"token": b["token"], "winner": "model_a"})
        assert status == 425
        assert_anonymous(text, models)
        assert_anonymous(http("GET", api, headers={"X-Arena-Token": b["token"]})[1], models)
    s = Store(store_path)
    try:
        assert s.count_calls("error") == 1 and s.count_calls("ok") == 1
    finally:
        s.close()
    assert decided(store_path) == []


# --- anonymity, abuse and the browser's defences -------------------------------------------------

def test_battles_and_votes_are_rate_limited_per_client(store_path):
    from coderouge.arena.web import ArenaLimits

    models = [fake("zebra-model", "Stripes."), fake("yak-model", "Shaggy.")]
    limits = ArenaLimits(battles_per_minute=2, votes_per_minute=1)
    with arena(store_path, models, min_vote_seconds=0.05, limits=limits) as url:
        made = [http("POST", f"{url}/api/battles", {}) for _ in range(3)]
        assert [m[0] for m in made] == [201, 201, 429]
        assert "too many new battles" in json.loads(made[2][1])["error"]
        b = [json.loads(t) for st, t in made[:2]]
        for x in b:
            http("GET", f"{url}/api/battles/{x['id']}/stream", headers={"X-Arena-Token": x["token"]})
        time.sleep(0.1)
        assert http("POST", f"{url}/api/battles/{b[0]['id']}/vote", {"token": b[0]["token"], "winner": "tie"})[0] == 200
        status, text = http("POST", f"{url}/api/battles/{b[1]['id']}/vote", {"token": b[1]["token"], "winner": "tie"})
        assert status == 429 and "too many votes" in json.loads(text)["error"]
    assert len(decided(store_path)) == 1


class PricedFake(FakeProvider):
    """A fake that is priced like a real vendor model, so that its answers cost money."""

    provider = "openai"


def test_the_spending_cap_stops_new_battles(store_path):
    from coderouge.arena.web import ArenaLimits

    models = ["fake/priced-a", "fake/priced-b"]
    long = "word " * 400
    providers = {m: PricedFake("gpt-4o", options={"answer": long}) for m in models}
    with arena(store_path, models, providers=providers, limits=ArenaLimits(budget_usd=0.001)) as url:
        b = json.loads(http("POST", f"{url}/api/battles", {})[1])
        http("GET", f"{url}/api/battles/{b['id']}/stream", headers={"X-Arena-Token": b["token"]})
        status, text = http("POST", f"{url}/api/battles", {})
        assert status == 429 and "spending cap" in json.loads(text)["error"]


def test_a_model_without_a_price_is_refused_when_spending_is_capped(store_path):
    from coderouge.arena.web import ArenaLimits
    from coderouge.errors import UsageError

    models = ["fake/free", "openai/llama3?base_url=http://127.0.0.1:9/v1"]
    store = Store(store_path)
    try:
        with pytest.raises(UsageError, match="no known price"):
            create_app(store, models, PROMPTS, limits=ArenaLimits(budget_usd=1.0))
        create_app(store, models, PROMPTS, limits=ArenaLimits(budget_usd=None))  # no cap: allowed
    finally:
        store.close()


def test_security_headers_and_the_host_check_on_every_address(store_path):
    from coderouge.arena.web import allowed_hosts_for

    models = [fake("zebra-model", "Stripes."), fake("yak-model", "Shaggy.")]
    store = Store(store_path)
    app = create_app(store, models, PROMPTS, allowed_hosts=allowed_hosts_for("::1"))
    with running(app, host="::1") as url:
        port = url.rsplit(":", 1)[1]
        with urllib.request.urlopen(f"{url}/", timeout=10) as r:
            csp = r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "script-src 'sha256-" in csp and "connect-src 'self'" in csp
        # a DNS-rebinding page would send its own name as Host: refused on the IPv6 loopback too
        assert http("GET", f"{url}/", headers={"Host": "evil.example"})[0] == 400
        assert http("GET", f"{url}/", headers={"Host": f"localhost:{port}"})[0] == 200
        status, _ = http("POST", f"{url}/api/battles", {}, headers={"Host": "rebind.attacker.example:80"})
        assert status == 400
    store.close()
    assert allowed_hosts_for("127.0.0.1") == ["127.0.0.1", "localhost"]
    assert "evil.example" not in allowed_hosts_for("0.0.0.0")


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_an_answer_with_html_and_script_is_shown_as_text(page, store_path):
    evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    models = ["fake/evil-one", "fake/plain-two"]
    providers = {"fake/evil-one": FakeProvider("evil-one", options={"answer": evil}),
                 "fake/plain-two": FakeProvider("plain-two", options={"answer": "Just text."})}
    with arena(store_path, models, min_vote_seconds=0.1, providers=providers) as url:
        page.goto(url)
        page.wait_for_selector("#vote-a:enabled")
        shown = page.text_content("#answer-a") + page.text_content("#answer-b")
        assert evil in shown  # the markup itself, as characters
        assert page.evaluate("() => window.pwned") is None
        assert page.evaluate("() => document.querySelectorAll('#answer-a *, #answer-b *').length") == 0


@pytest.mark.timeout(60)
def test_a_viewer_who_leaves_stops_the_generation_and_the_answers_are_kept(store_path, monkeypatch):
    """The page is closed while both answers are being typed: once no stream follows the battle (after a
    grace that lets a reload reconnect), the generation stops, and what was written so far is saved."""
    from http.client import HTTPConnection
    from urllib.parse import urlparse

    from coderouge.arena import web

    monkeypatch.setattr(web, "LEAVE_GRACE_S", 0.3)
    models = ["fake/typist-one", "fake/typist-two"]
    providers = {m: Typist(m.split("/")[1], options={"answer": a, "word_delay": "0.25"})
                 for m, a in zip(models, (ANSWER_ONE, ANSWER_TWO))}
    with arena(store_path, models, min_vote_seconds=0.1, seed=1, providers=providers) as url:
        b = json.loads(http("POST", f"{url}/api/battles", {})[1])
        u = urlparse(url)
        conn = HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", f"/api/battles/{b['id']}/stream", headers={"X-Arena-Token": b["token"]})
        resp = conn.getresponse()
        got = b""
        while got.count(b"event: a") < 2:  # two words of one answer have arrived
            got += resp.read1(4096)
        conn.close()  # the viewer leaves
        time.sleep(2.0)  # the grace, then the cancelled calls
        with Store(store_path) as s:
            first = get_battle(s, b["id"])
        time.sleep(1.0)
        with Store(store_path) as s:
            later = get_battle(s, b["id"])
    assert first.answer_a and first.answer_b  # what was typed was kept
    assert len(first.answer_a) < len(ANSWER_ONE) or len(first.answer_b) < len(ANSWER_TWO)  # and it stopped
    assert (later.answer_a, later.answer_b) == (first.answer_a, first.answer_b)  # nothing more came
    assert first.shown_at is None and first.winner is None  # never shown whole, so never votable as is
