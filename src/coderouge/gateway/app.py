"""The gateway's HTTP side: OpenAI's chat completions API in front of any coderouge model.

    POST /v1/chat/completions   streamed (SSE) or not; the `model` is a route of the configuration
    GET  /v1/models             the route names
    GET  /healthz               liveness (no key)
    GET  /metrics               Prometheus text format (no key)

Every model call goes through `calls.Calls` (its retries with Retry-After, timeouts and limits per
connection). Around it: the key and its budget and rates, personal data redacted before anything
leaves (and put back into the answer), the deployments tried in the route's order while their
circuit is closed, failover only before the first byte has gone to the client, and one compact
row per request in the store. Once a stream has started, an upstream failure ends it with an error
event and no `[DONE]`, so an OpenAI SDK raises instead of taking a cut answer for a whole one.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HTTPRoute

from ..calls import Calls, Result, RunConfig
from ..errors import GatewayError, ProviderError, StoreError
from ..secrets import redact
from ..providers import Provider, get_provider, pricing
from ..store import Store
from ..types import ImagePart, Message, Request, TextPart, ToolCall, ToolCallDelta, Usage
from . import keys as K
from .config import Deployment, GatewayConfig, Route
from .metrics import Metrics
from .redaction import Redactor
from .routing import CircuitBreaker, Latencies, Measured, allowed, order

FLUSH_S = 0.05  # request-log rows are written together at most this long after the request
KEY_CACHE_S = 2.0  # how long a key lookup is reused (a revocation takes effect within this)
MEASURED_TTL_S = 30.0  # how long `cheapest` reuses the measured quality before reading the store again
FINISH = {"stop": "stop", "max_tokens": "length", "length": "length", "content_filter": "content_filter",
          "end_turn": "stop", "stop_sequence": "stop", "tool_calls": "tool_calls"}
# accepted and passed on as coderouge request fields (tools and response_format only to the deployments
# whose provider can honour them)
PASSED = {"model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
          "max_completion_tokens", "stop", "seed", "user", "n", "tools", "tool_choice", "response_format"}
# OpenAI parameters no deployment can honour through coderouge yet: refused, naming the parameter
REFUSED = {"functions", "function_call", "logprobs", "top_logprobs",
           "logit_bias", "parallel_tool_calls", "audio", "modalities", "prediction"}


APIError = GatewayError
END = object()  # put on a streamed call's queue when the call has finished


def _answer(e: GatewayError) -> JSONResponse:
    """The error in OpenAI's shape."""
    return JSONResponse({"error": {"message": e.message, "type": e.type, "param": e.param, "code": e.code}},
                        status_code=e.status, headers=e.headers)


@dataclass
class _Scheduled:
    handle: asyncio.Handle | asyncio.TimerHandle
    when_soon: bool  # at the end of this event-loop turn, not after FLUSH_S


@dataclass
class _Parsed:
    route: Route
    request: Request  # with the route's name as model, redacted
    stream: bool
    include_usage: bool
    redactor: Redactor | None  # this request's placeholders (each request has its own)


class Gateway:
    def __init__(self, config: GatewayConfig, store: Store | None, *, require_keys: bool = True,
                 providers: Mapping[str, Provider] | None = None, seed: int | None = None):
        self.config, self.store, self.require_keys = config, store, require_keys
        given = dict(providers or {})
        self.providers: dict[str, Provider] = {}
        for route in config.routes.values():
            for d in route.deployments:
                if d.name not in self.providers:
                    self.providers[d.name] = given.get(d.name) or get_provider(d.model, base_url=d.base_url)
        # the call path; it records nothing itself: the gateway's log is one compact row per request
        self.calls = Calls(None, RunConfig(timeout_s=config.limits.timeout_s, max_retries=config.limits.retries,
                                           concurrency=config.limits.concurrency,
                                           progress=False, use_cache=False, backoff_max_s=5.0),
                           providers=dict(self.providers))
        self.breakers = {name: CircuitBreaker(config.breaker) for name in self.providers}
        self.latencies = Latencies()
        self.rng = random.Random(seed)
        self.rates = K.RateWindow()
        self.metrics = Metrics()
        self._keys: dict[str, tuple[float, K.Key | None]] = {}  # presented key → (when looked up, the key)
        self._rows: list[dict[str, Any]] = []  # request-log rows not yet written
        self._spend: dict[str, float] = {}
        self._flush_handle: _Scheduled | None = None
        self._store_error: Exception | None = None  # the request log could not be written: serve nothing
        self._measured_cache: dict[str, tuple[float, dict[str, Measured]]] = {}

    # --- the request ---------------------------------------------------------------------------
    def _auth(self, request: HTTPRequest) -> K.Key | None:
        if not self.require_keys:
            return None
        h = request.headers.get("authorization", "")
        presented = h[7:].strip() if h.lower().startswith("bearer ") else ""
        if not presented:
            raise APIError(401, "missing API key: send Authorization: Bearer <key> (coderouge keys create)",
                           type_="authentication_error", code="invalid_api_key")
        assert self.store is not None
        now = time.monotonic()
        hit = self._keys.get(presented)
        if hit is None or now - hit[0] > KEY_CACHE_S:  # a revoked key stops working within KEY_CACHE_S
            if len(self._keys) > 10_000:
                self._keys.clear()
            hit = self._keys[presented] = (now, K.find_key(self.store, presented))
        key = hit[1]
        if key is None:
            raise APIError(401, "invalid or revoked API key", type_="authentication_error", code="invalid_api_key")
        return key

    async def _body(self, request: HTTPRequest) -> dict[str, Any]:
        limit = self.config.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise APIError(413, f"the request body is over {limit} bytes", code="request_too_large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise APIError(413, f"the request body is over {limit} bytes", code="request_too_large")
        try:
            data = json.loads(body)
        except ValueError as e:
            raise APIError(400, f"the body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise APIError(400, "the body must be a JSON object")
        return data

    def _parse(self, data: dict[str, Any], key: K.Key | None) -> _Parsed:
        for p in data:
            if p in REFUSED and data[p] not in (None, [], {}):
                raise APIError(400, f"'{p}' is not supported by this gateway's deployments yet", param=p,
                               code="unsupported_parameter")
            if p not in PASSED and p not in REFUSED and p not in ("frequency_penalty", "presence_penalty", "metadata",
                                                                  "store", "service_tier", "reasoning_effort"):
                raise APIError(400, f"unknown parameter '{p}'", param=p, code="unknown_parameter")
        for p in ("frequency_penalty", "presence_penalty"):
            if data.get(p) not in (None, 0, 0.0):
                raise APIError(400, f"'{p}' is not supported by this gateway's deployments yet", param=p,
                               code="unsupported_parameter")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise APIError(400, "'model' is required: one of the routes (GET /v1/models)", param="model")
        route = self.config.routes.get(model)
        if route is None:
            raise APIError(404, f"the model '{model}' does not exist: routes are {', '.join(self.config.routes)}",
                           param="model", code="model_not_found")
        if key is not None and key.routes is not None and model not in key.routes:
            raise APIError(403, f"this key may not use the route '{model}'", param="model", code="route_not_allowed",
                           type_="permission_error")
        if data.get("n") not in (None, 1):
            raise APIError(400, "'n' must be 1 here", param="n")
        msgs = data.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise APIError(400, "'messages' is required: a non-empty list of {role, content}", param="messages")
        redactor = Redactor() if self.config.redaction.enabled else None
        messages = tuple(_message(m, i, redactor) for i, m in enumerate(msgs))
        params: dict[str, Any] = {}
        if data.get("temperature") is not None:
            params["temperature"] = _number(data, "temperature", 0.0, 2.0)
        if data.get("top_p") is not None:
            params["top_p"] = _number(data, "top_p", 0.0, 1.0)
        mt = data.get("max_completion_tokens", data.get("max_tokens"))
        if mt is not None:
            name = "max_completion_tokens" if "max_completion_tokens" in data else "max_tokens"
            if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
                raise APIError(400, f"'{name}' must be a whole number of at least 1", param=name)
            params["max_tokens"] = mt
        stop = data.get("stop")
        if stop is not None:
            stops = [stop] if isinstance(stop, str) else stop
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
                raise APIError(400, "'stop' must be a string or a list of up to 4 strings", param="stop")
            params["stop"] = tuple(stops)
        if data.get("seed") is not None:
            if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
                raise APIError(400, "'seed' must be a whole number", param="seed")
            params["seed"] = data["seed"]
        stream = data.get("stream", False)
        if not isinstance(stream, bool):
            raise APIError(400, "'stream' must be true or false", param="stream")
        so = data.get("stream_options") or {}
        if not isinstance(so, dict):
            raise APIError(400, "'stream_options' must be an object", param="stream_options")
        params.update(_tools(data))
        req = Request(model, messages, **params)
        return _Parsed(route, req, stream, bool(so.get("include_usage")), redactor)

    def _deployments(self, parsed: _Parsed, key: K.Key | None) -> list[Deployment]:
        deps = order(parsed.route, rng=self.rng, latencies=self.latencies, measured=self._measured(parsed.route))
        if key is not None and key.eu_only:
            deps = allowed(deps, eu_only=True)
            if not deps:
                raise APIError(403, f"this key may only be served in the EU, and route '{parsed.route.name}' has no "
                                    "deployment marked eu", code="no_eu_deployment", type_="permission_error")
        if key is not None and key.budget_usd is not None:
            # a deployment with no known price could not count against the budget: never served as if free
            deps = [d for d in deps if self._cost(d, Usage(1, 1)) is not None]
            if not deps:
                raise APIError(403, f"no deployment of route '{parsed.route.name}' has a known price, so this key's "
                                    "budget could not count its cost", code="unpriced_route", type_="permission_error")
        # only the deployments that can honour every parameter; none left: a 400 naming the parameter
        probe = self._attempt_request(parsed, deps[0]) if deps else parsed.request
        able = [d for d in deps if self.providers[d.name].unsupported(probe) is None]
        if deps and not able:
            missing = self.providers[deps[0].name].unsupported(probe)
            param = {"images": "messages", "tools": "tools"}.get(missing or "", missing)
            what = "accepts images" if missing == "images" else f"supports '{missing}'"
            raise APIError(400, f"no deployment of route '{parsed.route.name}' {what}", param=param,
                           code="unsupported_parameter")
        return able

    def _measured(self, route: Route) -> dict[str, Measured] | None:
        """The measurements `cheapest` ranks by, read again from the store at most every MEASURED_TTL_S."""
        if route.strategy != "cheapest" or route.quality is None:
            return None
        now = time.monotonic()
        hit = self._measured_cache.get(route.name)
        if hit is None or now - hit[0] > MEASURED_TTL_S:
            hit = self._measured_cache[route.name] = (now, measured_quality(self.store, route))
        return hit[1]

    # --- the endpoint ----------------------------------------------------------------------------
    async def chat(self, request: HTTPRequest) -> Response:
        t0 = time.perf_counter()
        route_name, key = "-", None
        try:
            if self._store_error is not None:
                raise APIError(503, "the gateway cannot write its request log, so it serves nothing until it can: "
                               + redact(f"{type(self._store_error).__name__}: {self._store_error}")[:300],
                               type_="server_error", code="store_unavailable", headers={"Retry-After": "5"})
            key = self._auth(request)
            data = await self._body(request)
            parsed = self._parse(data, key)
            route_name = parsed.route.name
            redactor = parsed.redactor
            if key is not None:
                self._check_budget_and_rate(key)
            deps = self._deployments(parsed, key)
        except StoreError as e:  # a key or budget that cannot be read: refused, never served unchecked
            return _answer(APIError(503, "the gateway cannot read its store: " + redact(str(e))[:300],
                                    type_="server_error", code="store_unavailable", headers={"Retry-After": "5"}))
        except APIError as e:
            if e.code != "store_unavailable":
                self._log(key, route_name, None, e.status, None, time.perf_counter() - t0, None, e.code or e.type)
            return _answer(e)
        if parsed.stream:
            return await self._stream(parsed, deps, key, redactor, t0)
        return await self._complete(parsed, deps, key, redactor, t0)

    def _check_budget_and_rate(self, key: K.Key) -> None:
        assert self.store is not None
        if key.budget_usd is not None:  # read fresh: other gateway processes spend from the same budget
            fresh = K.get_key(self.store, key.id)
        if key.budget_usd is not None and fresh.spent_usd + self._spend.get(key.id, 0.0) >= key.budget_usd:
            raise APIError(429, f"this key's budget of {fresh.budget_usd:g} USD is spent", type_="insufficient_quota",
                           code="budget_exceeded", headers={"Retry-After": "3600"})
        wait = self.rates.wait(key, time.monotonic(), 0)
        if wait:
            raise APIError(429, "this key's rate limit is reached", type_="rate_limit_error", code="rate_limit_exceeded",
                           headers={"Retry-After": str(max(1, round(wait + 0.5)))})

    def _attempt_request(self, parsed: _Parsed, d: Deployment) -> Request:
        r = parsed.request
        return Request(d.name, r.messages, max_tokens=r.max_tokens, temperature=r.temperature, top_p=r.top_p,
                       stop=r.stop, seed=r.seed, tools=r.tools, tool_choice=r.tool_choice,
                       response_format=r.response_format)

    def _closed_circuits(self, deps: list[Deployment]) -> Iterator[tuple[Deployment, CircuitBreaker]]:
        """The deployments, in order, whose circuit lets a request through now."""
        for d in deps:
            br = self.breakers[d.name]
            if br.allow():
                yield d, br

    async def _complete(self, parsed: _Parsed, deps: list[Deployment], key: K.Key | None, redactor: Redactor | None,
                        t0: float) -> Response:
        last: ProviderError | None = None
        attempts = 0
        for d, br in self._closed_circuits(deps):
            up0 = time.perf_counter()
            result = await self.calls.call(self._attempt_request(parsed, d))
            upstream = time.perf_counter() - up0
            attempts += result.attempts
            if result.error is not None:
                last = self._failed(parsed, d, br, result.error)
                continue
            br.success()
            c = result.completion
            assert c is not None
            restore = redactor is not None and self.config.redaction.restore
            text = redactor.restore(c.text) if restore else c.text
            if c.ttft_s is not None:
                self.latencies.add(d.name, c.ttft_s)
            cost = self._cost(d, c.usage)
            total = time.perf_counter() - t0
            self._log(key, parsed.route.name, d.name, 200, c.usage, total, c.ttft_s, None, cost)
            self.metrics.success(parsed.route.name, d.name, total, c.ttft_s, c.usage, cost)
            body = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                    "model": parsed.route.name,
                    "choices": [{"index": 0, "message": _answer_message(c, text, redactor if restore else None),
                                 "finish_reason": FINISH.get(c.stop_reason or "stop", "stop")}],
                    "usage": _usage(c.usage)}
            return JSONResponse(body, headers=self._headers(d, total - upstream, attempts, d is not deps[0]))
        return self._all_failed(parsed, key, last, t0)

    def _failed(self, parsed: _Parsed, d: Deployment, br: CircuitBreaker, err: ProviderError) -> ProviderError:
        """A deployment failed before anything reached the client: count it, and try the next one."""
        br.failure()
        self.metrics.failure(parsed.route.name, d.name, err.kind)
        return err

    def _all_failed(self, parsed: _Parsed, key: K.Key | None, last: ProviderError | None, t0: float) -> Response:
        if last is None:
            e = APIError(503, f"every deployment of route '{parsed.route.name}' is unavailable (circuit open)",
                         type_="server_error", code="no_healthy_deployment", headers={"Retry-After": "5"})
        else:
            status = 429 if last.status == 429 else 502
            e = APIError(status, f"every deployment of route '{parsed.route.name}' failed; the last: {last.kind}"
                         + (f" (HTTP {last.status})" if last.status else ""), type_="server_error",
                         code="upstream_failed", headers={"Retry-After": "5"} if status == 429 else None)
        self._log(key, parsed.route.name, None, e.status, None, time.perf_counter() - t0, None, e.code)
        self.metrics.request(parsed.route.name, "-", e.status, time.perf_counter() - t0)
        return _answer(e)

    async def _stream(self, parsed: _Parsed, deps: list[Deployment], key: K.Key | None, redactor: Redactor | None,
                      t0: float) -> Response:
        last: ProviderError | None = None
        attempts = 0
        for d, br in self._closed_circuits(deps):
            # the call puts the answer's pieces on the queue as they come, and END once it has finished
            q: asyncio.Queue[Any] = asyncio.Queue()
            up0 = time.perf_counter()
            tried = [0]
            task = asyncio.create_task(self.calls.call(self._attempt_request(parsed, d), on_text=q.put_nowait,
                                                       on_tool=q.put_nowait,
                                                       on_attempt=lambda n, tried=tried: tried.__setitem__(0, n)))
            task.add_done_callback(lambda _t, q=q: q.put_nowait(END))
            try:
                head = await q.get()
            except asyncio.CancelledError:  # the client went away
                task.cancel()
                raise
            attempts += tried[0]  # a stream is retried only before its first text: this count is final
            if head is END:  # ended before a single piece of text: fail over, or answer an empty text
                result = task.result()
                if result.error is not None:
                    last = self._failed(parsed, d, br, result.error)
                    continue
                head = None
            overhead = up0 - t0
            return StreamingResponse(self._sse(parsed, d, key, redactor, t0, head, q, task, br),
                                     media_type="text/event-stream",
                                     headers=self._headers(d, overhead, attempts, d is not deps[0]))
        return self._all_failed(parsed, key, last, t0)

    async def _sse(self, parsed: _Parsed, d: Deployment, key: K.Key | None, redactor: Redactor | None, t0: float,
                   head: str | ToolCallDelta | None, q: asyncio.Queue[Any], task: asyncio.Task[Result],
                   br: CircuitBreaker) -> AsyncIterator[str]:
        cid, created, route = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), parsed.route.name
        restore = redactor is not None and self.config.redaction.restore
        restorer = redactor.restorer() if (redactor and restore) else None
        arg_restorers: dict[int, Any] = {}  # a tool call's arguments are restored on their own

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Usage | None = None) -> str:
            body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": route,
                                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage is not None:
                body["choices"], body["usage"] = [], _usage(usage)
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        def out(piece: str | ToolCallDelta) -> str | None:
            if isinstance(piece, ToolCallDelta):
                args = piece.arguments
                if redactor is not None and restore:
                    args = arg_restorers.setdefault(piece.index, redactor.restorer()).feed(args)
                call: dict[str, Any] = {"index": piece.index, "function": {"arguments": args}}
                if piece.id is not None:
                    call["id"], call["type"] = piece.id, "function"
                if piece.name is not None:
                    call["function"]["name"] = piece.name
                return chunk({"tool_calls": [call]})
            t = restorer.feed(piece) if restorer else piece
            return chunk({"content": t}) if t else None

        # Events that are ready together go out in one write: all that have arrived while the last write
        # was under way (a fast upstream's whole answer may be one), never held back waiting for more.
        ttft = time.perf_counter() - t0 if head is not None else None
        buf = [chunk({"role": "assistant", "content": ""})]
        try:
            piece = head if head is not None else END  # no head: the call had already finished
            while piece is not END:
                s = out(piece)
                if s:
                    buf.append(s)
                if q.empty() and buf:
                    yield "".join(buf)
                    buf = []
                piece = await q.get()
            result = task.result()
        finally:
            if not task.done():  # the client went away (cancelled, or the generator closed)
                task.cancel()
        if restorer:
            rest = restorer.flush()
            if rest:
                buf.append(chunk({"content": rest}))
        for index, r in sorted(arg_restorers.items()):
            rest = r.flush()
            if rest:
                buf.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": rest}}]}))
        total = time.perf_counter() - t0
        if result.error is not None:
            br.failure()
            e = result.error
            self.metrics.failure(route, d.name, e.kind)
            self._log(key, route, d.name, 502, None, total, ttft, f"stream_{e.kind}")
            err = {"error": {"message": f"the upstream failed mid-stream: {e.kind}"
                             + (f" (HTTP {e.status})" if e.status else ""), "type": "server_error", "param": None,
                             "code": "upstream_stream_failed"}}
            buf.append(f"data: {json.dumps(err)}\n\n")
            yield "".join(buf)
            return  # no [DONE]: the answer is not whole, and the client must know it
        br.success()
        c = result.completion
        assert c is not None
        if c.ttft_s is not None:
            self.latencies.add(d.name, c.ttft_s)
        cost = self._cost(d, c.usage)
        self._log(key, route, d.name, 200, c.usage, total, ttft, None, cost)
        self.metrics.success(route, d.name, total, ttft, c.usage, cost)
        buf.append(chunk({}, FINISH.get(c.stop_reason or "stop", "stop")))
        if parsed.include_usage:
            buf.append(chunk({}, usage=c.usage))
        buf.append("data: [DONE]\n\n")
        yield "".join(buf)

    # --- bookkeeping ---------------------------------------------------------------------------
    def _cost(self, d: Deployment, usage: Usage) -> float | None:
        p = self.providers[d.name]
        return pricing.cost(p.provider, p.model, usage)

    def _headers(self, d: Deployment, overhead_s: float, attempts: int, fallback: bool) -> dict[str, str]:
        """Which deployment served, the gateway's own time, the upstream attempts it took (retries and
        failovers included), and whether a deployment other than the route's first choice served."""
        return {"x-coderouge-deployment": d.name, "x-coderouge-overhead-ms": f"{max(0.0, overhead_s) * 1000:.2f}",
                "x-coderouge-attempts": str(attempts), "x-coderouge-fallback": "1" if fallback else "0"}

    def _log(self, key: K.Key | None, route: str, deployment: str | None, status: int, usage: Usage | None,
             latency_s: float, ttft_s: float | None, error: str | None, cost: float | None = None) -> None:
        if key is not None and usage is not None:
            self.rates.add_tokens(key, usage.input_tokens + usage.output_tokens)
        if self.store is None:
            return
        self._rows.append({
            "created_at": time.time(), "key_id": key.id if key else None, "route": route, "deployment": deployment,
            "status": status, "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None, "cost_usd": cost, "latency_s": latency_s,
            "ttft_s": ttft_s, "error": error})
        if key is not None and cost:
            self._spend[key.id] = self._spend.get(key.id, 0.0) + cost
        # Rows are written together, in one transaction: at once (the end of this event-loop turn) when a
        # budget is being spent, so that other gateway processes see it; else within FLUSH_S.
        urgent = key is not None and key.budget_usd is not None and bool(cost)
        if urgent and self._flush_handle is not None and not self._flush_handle.when_soon:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            handle = loop.call_soon(self._flush) if urgent else loop.call_later(FLUSH_S, self._flush)
            self._flush_handle = _Scheduled(handle, urgent)

    def _flush(self) -> None:
        self._flush_handle = None
        if self.store is None or not (self._rows or self._spend):
            return
        rows, spend = self._rows, self._spend
        self._rows, self._spend = [], {}
        try:
            self.store.log_gateway_requests(rows, spend)
        except Exception as e:  # noqa: BLE001 - kept, retried, and no request is served until it is written
            self._rows[:0] = rows
            for k, v in spend.items():
                self._spend[k] = self._spend.get(k, 0.0) + v
            self._store_error = e
            if self._flush_handle is None:
                self._flush_handle = _Scheduled(asyncio.get_running_loop().call_later(1.0, self._flush), False)
            return
        self._store_error = None

    async def models(self, request: HTTPRequest) -> Response:
        try:
            self._auth(request)
        except APIError as e:
            return _answer(e)
        created = int(time.time())
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "coderouge"} for name in self.config.routes]})

    async def healthz(self, request: HTTPRequest) -> Response:
        return JSONResponse({"status": "ok", "routes": len(self.config.routes),
                             "open_circuits": sorted(n for n, b in self.breakers.items() if b.state == "open")})

    async def metrics_endpoint(self, request: HTTPRequest) -> Response:
        body, ctype = self.metrics.render()
        return Response(body, media_type=ctype)

    async def aclose(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.handle.cancel()
        self._flush()
        await self.calls.aclose()


def _number(data: dict[str, Any], name: str, lo: float, hi: float) -> float:
    v = data[name]
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
        raise APIError(400, f"'{name}' must be a number from {lo:g} to {hi:g}", param=name)
    return float(v)


def _message(m: Any, i: int, redactor: Redactor | None) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise APIError(400, f"{where} must be an object with role and content", param=where)
    role = m.get("role")
    if role == "developer":
        role = "system"
    if role not in ("system", "user", "assistant", "tool"):
        raise APIError(400, f"{where}.role must be system, user, assistant or tool (got {role!r})",
                       param=f"{where}.role")
    content = m.get("content")
    red = redactor.redact if redactor else (lambda t: t)
    if role == "tool":
        tid = m.get("tool_call_id")
        if not isinstance(tid, str) or not tid:
            raise APIError(400, f"{where}.tool_call_id is required in a tool message", param=f"{where}.tool_call_id")
        if isinstance(content, list):  # text parts only
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise APIError(400, f"{where}.content must be a string or text parts", param=f"{where}.content")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise APIError(400, f"{where}.content must be a string", param=f"{where}.content")
        return Message("tool", red(content), tool_call_id=tid)
    calls = _tool_calls(m, where, red) if role == "assistant" else ()
    if calls and content in (None, ""):
        return Message(role, "", calls)
    if isinstance(content, str):
        return Message(role, red(content), calls)
    if not isinstance(content, list) or not content:
        raise APIError(400, f"{where}.content must be a string or a list of parts", param=f"{where}.content")
    parts: list[TextPart | ImagePart] = []
    for j, p in enumerate(content):
        pw = f"{where}.content[{j}]"
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "text" and isinstance(p.get("text"), str):
            parts.append(TextPart(red(p["text"])))
        elif kind == "image_url" and isinstance(p.get("image_url"), dict) and isinstance(p["image_url"].get("url"), str):
            url = p["image_url"]["url"]
            if url.startswith("data:") and ";base64," in url:
                head, data = url[5:].split(";base64,", 1)
                parts.append(ImagePart(data_b64=data, media_type=head or "image/png"))
            else:
                parts.append(ImagePart(url=url))
        else:
            raise APIError(400, f"{pw} must be a text or image_url part", param=pw)
    return Message(role, tuple(parts), calls)


def _tool_calls(m: dict[str, Any], where: str, red: Any) -> tuple[ToolCall, ...]:
    raw = m.get("tool_calls")
    if raw in (None, []):
        return ()
    if not isinstance(raw, list):
        raise APIError(400, f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    out = []
    for j, t in enumerate(raw):
        tw = f"{where}.tool_calls[{j}]"
        fn = t.get("function") if isinstance(t, dict) else None
        if not (isinstance(fn, dict) and isinstance(t.get("id"), str) and isinstance(fn.get("name"), str)
                and isinstance(fn.get("arguments"), str)):
            raise APIError(400, f"{tw} must be {{id, type: function, function: {{name, arguments}}}}", param=tw)
        out.append(ToolCall(t["id"], fn["name"], red(fn["arguments"])))
    return tuple(out)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _tools(data: dict[str, Any]) -> dict[str, str]:
    """`tools`, `tool_choice` and `response_format`, checked against OpenAI's shapes, as canonical JSON."""
    out: dict[str, str] = {}
    tools = data.get("tools")
    names: set[str] = set()
    if tools not in (None, []):
        if not isinstance(tools, list):
            raise APIError(400, "'tools' must be a list of {type: function, function: {name, parameters}}",
                           param="tools")
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not (isinstance(t, dict) and t.get("type") == "function" and isinstance(fn, dict)
                    and isinstance(fn.get("name"), str) and fn["name"]):
                raise APIError(400, f"tools[{i}] must be {{type: function, function: {{name, parameters}}}}",
                               param=f"tools[{i}]")
            if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
                raise APIError(400, f"tools[{i}].function.parameters must be a JSON schema object",
                               param=f"tools[{i}].function.parameters")
            names.add(fn["name"])
        out["tools"] = _canonical(tools)
    choice = data.get("tool_choice")
    if choice is not None:
        ok = choice in ("auto", "none", "required") or (
            isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict)
            and choice["function"].get("name") in names)
        if not ok:
            raise APIError(400, "'tool_choice' must be auto, none, required or {type: function, function: {name}} "
                                "naming one of the tools", param="tool_choice")
        if choice != "none" and not names:
            raise APIError(400, "'tool_choice' needs 'tools'", param="tool_choice")
        out["tool_choice"] = _canonical(choice)
    fmt = data.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema") or (
                kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict)):
            raise APIError(400, "'response_format' must be {type: text}, {type: json_object} or "
                                "{type: json_schema, json_schema: {name, schema}}", param="response_format")
        if kind != "text":
            out["response_format"] = _canonical(fmt)
    return out


def _answer_message(c: Any, text: str, redactor: Redactor | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": text}
    if c.tool_calls:
        msg["content"] = text or None
        msg["tool_calls"] = [ToolCall(t.id, t.name, redactor.restore(t.arguments) if redactor else t.arguments).to_json()
                             for t in c.tool_calls]
    return msg


def _usage(u: Usage) -> dict[str, int]:
    return {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens}


def measured_quality(store: Store | None, route: Route) -> dict[str, Measured]:
    """For `cheapest`: each deployment's measured quality and its price. Quality is its latest score on
    the route's task (`coderouge eval` results in the store), or its Bradley-Terry rating from the arena's
    decided battles in the store (all of them, or one judge's)."""
    q = route.quality
    assert q is not None
    ratings: dict[str, tuple[float, str]] = {}
    if q.arena is not None and store is not None:
        ratings = _arena_ratings(store, q.arena)
    out: dict[str, Measured] = {}
    for d in route.deployments:
        score, detail = None, ""
        if q.arena is not None:
            score, detail = ratings.get(d.model, (None, ""))
        elif store is not None:
            runs = store.eval_runs(model=d.model, task=q.task)
            if runs:
                score = runs[0].result.get("value")
        provider, _, model = d.model.partition("/")
        out[d.name] = Measured(score, pricing.cost(provider, model, Usage(1000, 1000)), detail)
    return out


def _arena_ratings(store: Store, judge: str) -> dict[str, tuple[float, str]]:
    """model → (Bradley-Terry rating, its 95% interval and battles) from the store's decided battles."""
    from ..arena import ratings as R
    from ..arena.battles import list_battles
    from ..errors import UnboundedRatingsError

    recs = [b.clean_battle() for b in list_battles(store, decided=True, judge=None if judge == "all" else judge)]
    if not recs:
        return {}
    a, b, outcome, models = R.battles_from_records(recs)
    try:
        res = R.rate(a, b, outcome, models, rounds=100, seed=0)
    except UnboundedRatingsError:  # a model that never lost (or never won): a small ridge keeps it finite
        res = R.rate(a, b, outcome, models, rounds=100, seed=0, reg=0.01)
    return {m: (float(res.rating[i]), f" (95% CI {res.ci_low[i]:.0f}–{res.ci_high[i]:.0f}, "
                                      f"{int(res.battles_per_model[i])} battles)")
            for i, m in enumerate(res.models)}


def create_app(config: GatewayConfig, store: Store | None, *, require_keys: bool = True,
               providers: Mapping[str, Provider] | None = None, seed: int | None = None) -> Starlette:
    gw = Gateway(config, store, require_keys=require_keys, providers=providers, seed=seed)

    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        await gw.aclose()

    import contextlib

    app = Starlette(routes=[
        HTTPRoute("/v1/chat/completions", gw.chat, methods=["POST"]),
        HTTPRoute("/v1/models", gw.models, methods=["GET"]),
        HTTPRoute("/healthz", gw.healthz, methods=["GET"]),
        HTTPRoute("/metrics", gw.metrics_endpoint, methods=["GET"]),
    ], lifespan=contextlib.asynccontextmanager(lifespan))
    app.state.gateway = gw
    return app


def check_prices(config: GatewayConfig) -> list[str]:
    """Deployments with no known price: their cost could not count against a key's budget."""
    out = []
    for route in config.routes.values():
        for d in route.deployments:
            provider, _, model = d.model.partition("/")
            if pricing.cost(provider, model, Usage(1000, 1000)) is None:
                out.append(f"{route.name}: {d.name}")
    return out


__all__ = ["APIError", "Gateway", "check_prices", "create_app", "measured_quality"]
