"""The voting page: a person sees a prompt and two anonymous answers streamed side by side, votes,
and only then learns which models wrote them.

    GET  /                          the page (static HTML + vanilla JS, no external assets)
    POST /api/battles               start a battle: {id, token, prompt} (never the model names)
    GET  /api/battles/{id}          the battle's state for a reload (X-Arena-Token header);
                                    names only once voted
    GET  /api/battles/{id}/stream   Server-Sent Events: start, a, b (text pieces), error, done
    POST /api/battles/{id}/vote     {token, winner} → 200 recorded / 409 already voted (both reveal
                                    the names) / 429 too fast / 425 not ready / 403 / 404 / 422

The vote token travels in a header or a JSON body, never in a URL, so it is not in access logs.
The one-vote guarantee is the store's (`record_vote` is a single UPDATE ... WHERE winner IS NULL);
the page only disables its buttons to spare the person an error.

Anonymity and abuse (`ArenaLimits`): every battle gets fresh answers, sampled (temperature 0.7, a
random seed, never from the cache), so a text seen after one vote does not identify its model in
the next battle on the same prompt. Battles and votes are rate-limited per client address, and
battles stop when the spending cap is reached (a model with no known price is refused up front:
its cost could not be bounded). Every response carries a content security policy (the page's own
inline script and style by hash, nothing else; no framing) and X-Frame-Options: DENY; answers are
always written into the page as text. The Host header is checked on every listening address.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..calls import Calls, RunConfig
from ..errors import UsageError
from ..net import listen
from ..providers import Provider, get_provider, pricing
from ..store import Store
from ..types import Request, Usage
from .battles import Battle, Vote, add_battle, get_battle, record_vote, set_answers
from .prompts import PromptItem

__all__ = ["ArenaLimits", "create_app", "serve"]

CALL_TIMEOUT_S = 600.0
ANSWER_TEMPERATURE = 0.7  # sampled, so that an answer's text does not identify its model
LEAVE_GRACE_S = 5.0  # when the last viewer of a battle leaves, its generation stops after this (a reload reconnects)


@dataclass(frozen=True)
class ArenaLimits:
    """What one voting server lets its visitors do."""

    battles_per_minute: int = 10  # new battles per client address
    votes_per_minute: int = 20  # votes per client address
    budget_usd: float | None = 5.0  # all answers' cost together; None: no cap
    max_battles: int | None = None  # battles this server may start in all


class _Window:
    """At most `limit` events per client in any 60 s (a sliding window); bounded memory."""

    def __init__(self, limit: int, clients: int = 10_000):
        self.limit, self.clients = limit, clients
        self.seen: dict[str, deque[float]] = {}

    def wait(self, client: str, now: float) -> float:
        """0 and the event is counted, or the seconds until one more is allowed."""
        q = self.seen.pop(client, None) or deque()
        while q and now - q[0] >= 60.0:
            q.popleft()
        self.seen[client] = q  # most recent clients last
        while len(self.seen) > self.clients:
            self.seen.pop(next(iter(self.seen)))
        if len(q) >= self.limit:
            return 60.0 - (now - q[0])
        q.append(now)
        return 0.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_VOTE_STATUS = {
    Vote.RECORDED: 200, Vote.ALREADY_VOTED: 409, Vote.TOO_FAST: 429, Vote.NOT_READY: 425,
    Vote.BAD_TOKEN: 403, Vote.UNKNOWN: 404, Vote.BAD_WINNER: 422,
}
_VOTE_MESSAGE = {
    Vote.RECORDED: "vote recorded",
    Vote.ALREADY_VOTED: "a vote was already recorded for this battle",
    Vote.TOO_FAST: "too fast: take the time to read both answers",
    Vote.NOT_READY: "the answers have not both been shown yet",
    Vote.BAD_TOKEN: "this battle's token does not match",
    Vote.UNKNOWN: "no such battle",
    Vote.BAD_WINNER: "winner must be one of model_a, model_b, tie, tie (bothbad)",
}


def _page() -> str:
    return (resources.files("coderouge.arena") / "static" / "vote.html").read_text(encoding="utf-8")


def _security_headers(page: str) -> dict[str, str]:
    """A content security policy that allows the page's own inline script and style (by hash) and the
    same-origin API, nothing else; no framing, no sniffing, no referrer."""
    def sha(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(x.encode()).digest()).decode()}'" for x in found)

    csp = (f"default-src 'none'; script-src {sha('script')}; style-src {sha('style')}; connect-src 'self'; "
           "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return {"Content-Security-Policy": csp, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"}


def _host_of(header: str) -> str:
    """The host part of a Host header: `[::1]:8000` → `::1`, `localhost:8000` → `localhost`."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class _Guard:
    """ASGI middleware: refuse Host names not listed (no DNS rebinding), add the security headers."""

    def __init__(self, app: Any, allowed_hosts: list[str] | None, headers: dict[str, str]):
        self.app = app
        self.allowed = {_host_of(h) for h in allowed_hosts} if allowed_hosts else None
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if _host_of(host) not in self.allowed:
                await JSONResponse({"error": "invalid host header"}, status_code=400)(scope, receive, send)
                return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class _Side:
    text: str | None = None  # the full answer once finished
    key: str | None = None
    error: str | None = None  # what the page shows: the kind of failure, never the model's name


@dataclass
class _Generation:
    """Both answers of one battle being generated. Events are kept so any number of streams (a reload,
    a reconnect) replay them from the start; the work itself does not depend on any stream."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    sides: dict[str, _Side] = field(default_factory=lambda: {"a": _Side(), "b": _Side()})
    finished: bool = False
    followers: int = 0  # streams following it now; when the last leaves, it stops after LEAVE_GRACE_S

    def partial(self, side: str) -> str:
        """What was generated on one side so far (the whole answer once finished)."""
        return self.sides[side].text or "".join(d for e, d in self.events if e == side and isinstance(d, str))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def push(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def follow(self) -> AsyncIterator[tuple[str, Any]]:
        i = 0
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.finished:
                return
            await self._wake.wait()


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class _Arena:
    def __init__(self, store: Store, models: list[str], prompts: list[PromptItem], *, min_vote_seconds: float,
                 seed: int | None, max_tokens: int, prompt_set: str | None, providers: Mapping[str, Provider] | None,
                 limits: ArenaLimits):
        models = list(dict.fromkeys(models))
        if len(models) < 2:
            raise UsageError("the arena needs at least two different models")
        if not prompts:
            raise UsageError("the arena needs at least one prompt")
        self.store, self.models, self.prompts = store, models, list(prompts)
        self.min_vote_seconds, self.max_tokens, self.prompt_set = float(min_vote_seconds), max_tokens, prompt_set
        self.rng = random.Random(seed)
        given = dict(providers or {})
        self.providers = {m: given[m] if m in given else get_provider(m) for m in models}  # bad names fail here
        # every answer goes through the one call path: the connection's limit, back-off, timeout, recording
        self.calls = Calls(store, RunConfig(timeout_s=CALL_TIMEOUT_S, progress=False), providers=dict(self.providers))
        self.generations: dict[int, _Generation] = {}
        self.page = _page()
        self.limits = limits
        self.battle_window, self.vote_window = _Window(limits.battles_per_minute), _Window(limits.votes_per_minute)
        self.spent_usd = 0.0
        self.started = 0
        if limits.budget_usd is not None:
            for m, p in self.providers.items():
                if pricing.cost(p.provider, p.model, Usage(1000, 1000)) is None:
                    raise UsageError(f"{m} has no known price, so the arena's spending cap cannot bound it: give its "
                                     "price with --prices FILE, or run without a cap (--budget-usd none)")

    # --- helpers -------------------------------------------------------
    def _battle(self, battle_id: int, token: str | None) -> Battle | JSONResponse:
        b = get_battle(self.store, battle_id)
        if b is None or b.judge != "human" or not b.token:
            return _error(404, _VOTE_MESSAGE[Vote.UNKNOWN])
        if not secrets.compare_digest(b.token, token or ""):
            return _error(403, _VOTE_MESSAGE[Vote.BAD_TOKEN])
        return b

    @staticmethod
    def _reveal(b: Battle) -> dict[str, Any]:
        return {"winner": b.winner, "model_a": b.model_a, "model_b": b.model_b}

    @staticmethod
    async def _json(request: HTTPRequest) -> dict[str, Any] | JSONResponse:
        # requiring JSON makes a cross-site form post impossible (it would need a CORS preflight)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "send JSON (Content-Type: application/json)")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not valid JSON")
        return body if isinstance(body, dict) else _error(400, "the body must be a JSON object")

    # --- generation ----------------------------------------------------
    async def _answer(self, gen: _Generation, side: str, model: str, messages: tuple) -> None:
        # a fresh, sampled answer (never the cache): the same text must not reveal its model in the next battle
        request = Request(model=model, messages=messages, max_tokens=self.max_tokens, temperature=ANSWER_TEMPERATURE,
                          seed=secrets.randbelow(2**31))
        # streamed to the page as it comes; retried only while nothing has been shown
        result = await self.calls.call(request, on_text=lambda t: gen.push(side, t), use_cache=False)
        gen.sides[side].key = result.key
        if result.completion is not None:
            self.spent_usd += result.completion.cost_usd or 0.0
        if result.error is not None:
            err = result.error
            status = f" (HTTP {err.status})" if err.status else ""
            gen.sides[side].error = f"{err.kind}{status}"  # no message: it may name the model or vendor
            gen.push("error", {"side": side, "message": gen.sides[side].error})
            return
        assert result.completion is not None
        gen.sides[side].text = result.completion.text

    async def _generate(self, battle_id: int, gen: _Generation, b: Battle) -> None:
        try:
            await asyncio.gather(self._answer(gen, "a", b.model_a, b.messages),
                                 self._answer(gen, "b", b.model_b, b.messages))
        finally:
            gen.finished = True
            gen.push("end", None)
            self.generations.pop(battle_id, None)
            # the answers are kept even when nobody watched them to the end (the viewer left, the server
            # stops): what was generated, not yet shown, so the next viewer of the battle gets fresh ones
            current = get_battle(self.store, battle_id)
            if current is not None and current.shown_at is None:
                set_answers(self.store, battle_id, gen.partial("a"), gen.partial("b"), gen.sides["a"].key,
                            gen.sides["b"].key, shown_at=None)

    def _left(self, battle_id: int, gen: _Generation) -> None:
        """A stream stopped following: when none is left, stop generating (nobody will read it) after a grace
        that lets a reload reconnect."""
        gen.followers -= 1
        if gen.followers > 0 or gen.finished or gen.task is None:
            return

        def abandon() -> None:
            if gen.followers == 0 and not gen.finished and gen.task is not None:
                gen.task.cancel()

        asyncio.get_running_loop().call_later(LEAVE_GRACE_S, abandon)

    def _generation(self, b: Battle) -> _Generation:
        gen = self.generations.get(b.id)
        if gen is None:
            gen = self.generations[b.id] = _Generation()
            gen.task = asyncio.create_task(self._generate(b.id, gen, b))
        return gen

    async def _events(self, b: Battle) -> AsyncIterator[str]:
        yield _sse("start", {"prompt": b.prompt})
        if b.shown_at is not None and b.answer_a is not None and b.answer_b is not None:
            yield _sse("a", b.answer_a)
            yield _sse("b", b.answer_b)
            yield _sse("done", {"ok": True, "voted": b.winner is not None, "min_vote_seconds": self.min_vote_seconds})
            return
        gen = self._generation(b)
        gen.followers += 1
        try:
            async for event, data in gen.follow():
                if event != "end":
                    yield _sse(event, data)
        finally:
            self._left(b.id, gen)
        a, bb = gen.sides["a"], gen.sides["b"]
        ok = a.text is not None and bb.text is not None
        if ok:
            current = get_battle(self.store, b.id)
            if current is not None and current.shown_at is None:
                # both answers are complete and about to be on the voter's screen: the reading clock starts
                set_answers(self.store, b.id, a.text or "", bb.text or "", a.key, bb.key, shown_at=time.time())
        yield _sse("done", {"ok": ok, "voted": False, "min_vote_seconds": self.min_vote_seconds})

    # --- endpoints -----------------------------------------------------
    async def index(self, request: HTTPRequest) -> Response:
        return HTMLResponse(self.page, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _client(request: HTTPRequest) -> str:
        return request.client.host if request.client else "unknown"

    @staticmethod
    def _too_many(wait: float, what: str) -> JSONResponse:
        return JSONResponse({"error": f"too many {what} from this address: try again in {wait:.0f} s",
                             "retry_after": round(wait, 1)}, status_code=429,
                            headers={"Retry-After": str(max(1, round(wait + 0.5))), "Cache-Control": "no-store"})

    async def start(self, request: HTTPRequest) -> Response:
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
        lim = self.limits
        if lim.budget_usd is not None and self.spent_usd >= lim.budget_usd:
            return _error(429, f"this arena's spending cap ({lim.budget_usd:g} USD) is reached: no new battles")
        if lim.max_battles is not None and self.started >= lim.max_battles:
            return _error(429, f"this arena's limit of {lim.max_battles} battles is reached: no new battles")
        wait = self.battle_window.wait(self._client(request), time.monotonic())
        if wait:
            return self._too_many(wait, "new battles")
        self.started += 1
        item = self.rng.choice(self.prompts)
        model_a, model_b = self.rng.sample(self.models, 2)  # sample's order is random: so are the sides
        battle_id = add_battle(self.store, source="serve", judge="human", model_a=model_a, model_b=model_b,
                               prompt_set=self.prompt_set, prompt_id=item.id, messages=item.messages, with_token=True)
        b = get_battle(self.store, battle_id)
        assert b is not None
        return JSONResponse({"id": b.id, "token": b.token, "prompt": item.text}, status_code=201,
                            headers={"Cache-Control": "no-store"})

    async def state(self, request: HTTPRequest) -> Response:
        b = self._battle(int(request.path_params["id"]), request.headers.get("x-arena-token"))
        if isinstance(b, JSONResponse):
            return b
        shown = b.shown_at is not None
        out: dict[str, Any] = {"id": b.id, "prompt": b.prompt, "shown": shown, "voted": b.winner is not None,
                               "answer_a": b.answer_a if shown else None, "answer_b": b.answer_b if shown else None}
        if b.winner is not None:
            out.update(self._reveal(b))
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    async def stream(self, request: HTTPRequest) -> Response:
        b = self._battle(int(request.path_params["id"]), request.headers.get("x-arena-token"))
        if isinstance(b, JSONResponse):
            return b
        return StreamingResponse(self._events(b), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def vote(self, request: HTTPRequest) -> Response:
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
        wait = self.vote_window.wait(self._client(request), time.monotonic())
        if wait:
            return self._too_many(wait, "votes")
        battle_id = int(request.path_params["id"])
        token, winner = body.get("token"), body.get("winner")
        outcome, b = record_vote(self.store, battle_id, token if isinstance(token, str) else "",
                                 winner if isinstance(winner, str) else "", min_seconds=self.min_vote_seconds)
        out: dict[str, Any] = {"result": outcome.value, "message": _VOTE_MESSAGE[outcome]}
        headers = {"Cache-Control": "no-store"}
        if outcome in (Vote.RECORDED, Vote.ALREADY_VOTED) and b is not None:
            out.update(self._reveal(b))
        if outcome is Vote.TOO_FAST:
            shown = get_battle(self.store, battle_id)
            wait = max(0.0, (shown.shown_at or 0) + self.min_vote_seconds - time.time()) if shown else self.min_vote_seconds
            out["retry_after"] = round(wait, 2)
            headers["Retry-After"] = str(max(1, round(wait + 0.5)))
        return JSONResponse(out, status_code=_VOTE_STATUS[outcome], headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        tasks = [g.task for g in list(self.generations.values()) if g.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.calls.aclose()
        self.calls.flush()


def create_app(store: Store, models: list[str], prompts: list[PromptItem], *, min_vote_seconds: float = 3.0,
               seed: int | None = None, max_tokens: int = 1024, prompt_set: str | None = None,
               providers: Mapping[str, Provider] | None = None, allowed_hosts: list[str] | None = None,
               limits: ArenaLimits | None = None) -> Starlette:
    """The voting app. `providers` (by model name) replaces `get_provider` for those names (tests, embedding);
    `allowed_hosts` rejects other Host headers (serve() passes the names of its listening address: no DNS
    rebinding)."""
    arena = _Arena(store, models, prompts, min_vote_seconds=min_vote_seconds, seed=seed, max_tokens=max_tokens,
                   prompt_set=prompt_set, providers=providers, limits=limits or ArenaLimits())
    routes = [
        Route("/", arena.index, methods=["GET"]),
        Route("/api/battles", arena.start, methods=["POST"]),
        Route("/api/battles/{id:int}", arena.state, methods=["GET"]),
        Route("/api/battles/{id:int}/stream", arena.stream, methods=["GET"]),
        Route("/api/battles/{id:int}/vote", arena.vote, methods=["POST"]),
    ]
    from starlette.middleware import Middleware

    middleware = [Middleware(_Guard, allowed_hosts=allowed_hosts, headers=_security_headers(arena.page))]
    app = Starlette(routes=routes, middleware=middleware, lifespan=arena.lifespan)
    app.state.arena = arena
    return app


def allowed_hosts_for(host: str) -> list[str]:
    """The Host names a browser may send to a server listening on `host` (any address, IPv6 included)."""
    loop4, loop6 = ("127.0.0.1", "localhost"), ("::1", "localhost")
    if host in loop4:
        return list(loop4)
    if host == "::1":
        return list(loop6)
    if host in ("0.0.0.0", "::", ""):
        names = {*loop4, *loop6, socket.gethostname(), socket.getfqdn()}
        with contextlib.suppress(OSError):
            names |= {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None)}
        return sorted(names)
    return [host]


def serve(store_path: str | None, models: list[str], prompts: list[PromptItem], host: str = "127.0.0.1",
          port: int = 8000, min_vote_seconds: float = 3.0, *, prompt_set: str | None = None,
          seed: int | None = None, max_tokens: int = 1024, limits: ArenaLimits | None = None) -> None:
    """Run the voting page until Ctrl-C. Binds to loopback unless told otherwise."""
    import uvicorn

    store = Store(store_path)
    loopback = host in LOOPBACK_HOSTS
    # refuse other Host names on every address: a web page cannot reach the arena by DNS rebinding
    app = create_app(store, models, prompts, min_vote_seconds=min_vote_seconds, seed=seed, max_tokens=max_tokens,
                     prompt_set=prompt_set, allowed_hosts=allowed_hosts_for(host), limits=limits)
    try:
        sock, root = listen(host, port)
    except UsageError:
        store.close()
        raise
    print(f"coderouge arena: vote at {root}/  ({len(models)} models, {len(prompts)} prompts; "
          f"store {store.location}; Ctrl-C to stop)", flush=True)
    if not loopback:
        print("warning: listening beyond this machine: anyone who can reach it can vote", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
