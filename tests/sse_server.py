"""A loopback OpenAI-compatible server whose delays are known in advance, for load tests.

    python tests/sse_server.py TTFT_S GAP_S CHUNKS      prints its port on the first line, then serves

POST /v1/chat/completions streams CHUNKS chunks of text: the first TTFT_S after the request arrived,
then one every GAP_S, then a finish, usage (completion_tokens = CHUNKS) and [DONE]. The `model` of the
request picks a behaviour:

    ok            as above
    http429       429 with Retry-After        http500   500
    cut           half the chunks, then the connection is closed mid-body
    malformed     half the chunks, then a chunk that is not JSON
    error_event   half the chunks, then {"error": …} inside the stream
    stall         half the chunks, then nothing until the client gives up
    nousage       as ok, without the usage chunk
    anything else 404 {"error": {"message": "The model `…` does not exist"}}

Every request is logged with the server's own clock (time.perf_counter: CLOCK_MONOTONIC, the same in
every process of the machine): when it arrived and when each chunk was written. GET /log returns the
log; GET /v1/models lists the behaviours.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

MODELS = ("ok", "http429", "http500", "cut", "malformed", "error_event", "stall", "nousage")


def main() -> None:
    ttft, gap, chunks = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    log: list[dict] = []

    def ev(obj: dict) -> bytes:
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        t_recv = time.perf_counter()
        body = await request.json()
        model = body.get("model")
        prompt = body["messages"][-1]["content"]
        n = min(chunks, int(body.get("max_tokens") or chunks))
        entry = {"prompt": prompt, "model": model, "recv": t_recv, "writes": []}
        log.append(entry)
        if model == "http429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit_error"}}, status=429,
                                     headers={"Retry-After": "1"})
        if model == "http500":
            return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)
        if model not in MODELS:
            return web.json_response({"error": {"message": f"The model `{model}` does not exist",
                                                "type": "invalid_request_error", "code": "model_not_found"}},
                                     status=404)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model}
        await resp.write(ev({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]}))
        half = n // 2 if model in ("cut", "malformed", "error_event", "stall") else n
        start = t_recv
        for i in range(half):
            target = start + ttft + i * gap
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            data = ev({**base, "choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]})
            entry["writes"].append(time.perf_counter())  # just before the bytes go: nothing can see them earlier
            await resp.write(data)
        if model == "cut":
            request.transport.close()
            return resp
        if model == "malformed":
            await resp.write(b"data: {\"choices\": [oops\n\n")
            return resp
        if model == "error_event":
            await resp.write(ev({"error": {"message": "overloaded", "type": "server_error"}}))
            return resp
        if model == "stall":
            await asyncio.sleep(3600)
        await resp.write(ev({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}))
        if model != "nousage":
            await resp.write(ev({**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n,
                                                                  "total_tokens": 5 + n}}))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})

    async def get_log(request: web.Request) -> web.Response:
        return web.json_response(log)

    async def reset(request: web.Request) -> web.Response:
        log.clear()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/log", get_log)
    app.router.add_post("/reset", reset)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
