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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import socket
import time
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
from ..providers import Provider, get_provider
from ..store import Store
from ..types import Request
from .battles import Battle, Vote, add_battle, get_battle, record_vote, set_answers
from .prompts import PromptItem

__all__ = ["create_app", "serve"]

CALL_TIMEOUT_S = 600.0
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
                 seed: int | None, max_tokens: int, prompt_set: str | None, providers: Mapping[str, Provider] | None):
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
        request = Request(model=model, messages=messages, max_tokens=self.max_tokens)
        # streamed to the page as it comes; retried only while nothing has been shown
        result = await self.calls.call(request, on_text=lambda t: gen.push(side, t))
        gen.sides[side].key = result.key
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
        async for event, data in gen.follow():
            if event != "end":
                yield _sse(event, data)
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

    async def start(self, request: HTTPRequest) -> Response:
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
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
               providers: Mapping[str, Provider] | None = None, allowed_hosts: list[str] | None = None) -> Starlette:
    """The voting app. `providers` (by model name) replaces `get_provider` for those names (tests, embedding);
    `allowed_hosts` rejects other Host headers (serve() passes the loopback names: no DNS rebinding)."""
    arena = _Arena(store, models, prompts, min_vote_seconds=min_vote_seconds, seed=seed, max_tokens=max_tokens,
                   prompt_set=prompt_set, providers=providers)
    routes = [
        Route("/", arena.index, methods=["GET"]),
        Route("/api/battles", arena.start, methods=["POST"]),
        Route("/api/battles/{id:int}", arena.state, methods=["GET"]),
        Route("/api/battles/{id:int}/stream", arena.stream, methods=["GET"]),
        Route("/api/battles/{id:int}/vote", arena.vote, methods=["POST"]),
    ]
    middleware = []
    if allowed_hosts:
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware, lifespan=arena.lifespan)
    app.state.arena = arena
    return app


def serve(store_path: str | None, models: list[str], prompts: list[PromptItem], host: str = "127.0.0.1",
          port: int = 8000, min_vote_seconds: float = 3.0, *, prompt_set: str | None = None,
          seed: int | None = None, max_tokens: int = 1024) -> None:
    """Run the voting page until Ctrl-C. Binds to loopback unless told otherwise."""
    import uvicorn

    store = Store(store_path)
    loopback = host in LOOPBACK_HOSTS
    # on an IPv4 loopback, refuse other Host names: a web page cannot reach the arena by DNS rebinding
    hosts = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None
    app = create_app(store, models, prompts, min_vote_seconds=min_vote_seconds, seed=seed, max_tokens=max_tokens,
                     prompt_set=prompt_set, allowed_hosts=hosts)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        store.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"coderouge arena: vote at http://{shown_host}:{bound}/  ({len(models)} models, {len(prompts)} prompts; "
          f"store {store.location}; Ctrl-C to stop)", flush=True)
    if not loopback:
        print("warning: listening beyond this machine: anyone who can reach it can vote", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
