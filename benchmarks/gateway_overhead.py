"""The gateway's added latency and its memory over many requests, side by side with a bare proxy.

Three servers on 127.0.0.1, each in its own process:
  upstream — answers an OpenAI chat completion at once (streamed or not), the same bytes every time;
  floor    — a passthrough proxy of about twenty lines (uvicorn + starlette + httpx): the least any
             proxy in Python costs;
  sdk floor — the same proxy reaching the upstream through the official openai SDK, as the gateway's
             OpenAI adapter does (streamed, plain-dict chunks): what the SDK itself costs per request;
  gateway  — coderouge's, with a key, a failover route, redaction and the request log (SQLite) on.
For one request at a time and for 100 concurrent, streaming and not, it prints p50 and p99 of
(through the proxy) − (direct to the upstream), for the floor and the gateway, and the ratio of the
gateway's added p50 to the floor's (goal ≤ 1.5×). Then 100,000 requests through the gateway with
its RSS sampled after a warm-up and at the end (goal: growth under 10%).

    .venv/bin/python benchmarks/gateway_overhead.py [--requests 2000] [--memory-requests 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ANSWER = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}

UPSTREAM = textwrap.dedent('''
    import json, sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
    ANSWER = json.loads(sys.argv[2])
    BODY = json.dumps(ANSWER).encode()
    def chunk(delta, finish=None):
        return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\\n\\n"
    STREAM = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": " there"}),
              chunk({}, "stop"), "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
              "model": "m", "choices": [], "usage": ANSWER["usage"]}) + "\\n\\n", "data: [DONE]\\n\\n"]
    async def chat(request):
        body = await request.json()
        if body.get("stream"):
            async def gen():
                for s in STREAM:
                    yield s
            return StreamingResponse(gen(), media_type="text/event-stream")
        return Response(BODY, media_type="application/json")
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
''')

# the floor: a bare passthrough proxy, about twenty lines
FLOOR = textwrap.dedent('''
    import sys, httpx, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
    UP = sys.argv[2]
    client = httpx.AsyncClient(base_url=UP, timeout=60, limits=httpx.Limits(max_connections=200))
    async def chat(request):
        body = await request.body()
        req = client.build_request("POST", "/v1/chat/completions", content=body,
                                   headers={"content-type": "application/json"})
        r = await client.send(req, stream=True)
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            return StreamingResponse(r.aiter_raw(), media_type="text/event-stream", background=None)
        data = await r.aread()
        return Response(data, status_code=r.status_code, media_type="application/json")
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
''')

# the same proxy calling the upstream through the official openai SDK (as the gateway's OpenAI adapter does:
# its low-level post, streamed, plain-dict chunks), relaying the text: what the SDK itself costs per request
SDK_FLOOR = textwrap.dedent('''
    import json, sys, time, openai, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route
    client = openai.AsyncOpenAI(base_url=sys.argv[2] + "/v1", api_key="x")  # the SDK's own retries
    async def chat(request):
        body = await request.json()
        stream = body.pop("stream", False)
        up = await client.post("/chat/completions", body={**body, "stream": True}, cast_to=object, stream=True,
                               stream_cls=openai.AsyncStream[object])
        if stream:
            async def gen():
                async for ev in up:
                    yield "data: " + json.dumps(ev) + "\\n\\n"
                yield "data: [DONE]\\n\\n"
            return StreamingResponse(gen(), media_type="text/event-stream")
        text = "".join([(c.get("delta") or {}).get("content") or "" async for ev in up for c in ev.get("choices") or ()])
        return JSONResponse({"id": "c", "object": "chat.completion", "created": int(time.time()), "model": "m",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}]})
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
''')

GATEWAY = textwrap.dedent('''
    import sys, uvicorn
    from coderouge.gateway.app import create_app
    from coderouge.gateway.config import load_config
    from coderouge.store import Store
    app = create_app(load_config(sys.argv[2]), Store(sys.argv[3]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(code: str, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    p = subprocess.Popen([sys.executable, "-c", code, str(port), *args])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("a server did not start")


ERRORS: dict[str, int] = {}  # connection errors per target (reset or refused under load), not timed


async def timings(url: str, n: int, conc: int, stream: bool, key: str | None) -> list[float]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "Say hello to jane@example.com"}], "stream": stream}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    out: list[float] = []
    sem = asyncio.Semaphore(conc)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=conc + 10)) as c:
        async def one() -> None:
            async with sem:
                t0 = time.perf_counter()
                try:
                    if stream:
                        async with c.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
                            async for _ in r.aiter_raw():
                                pass
                            assert r.status_code == 200
                    else:
                        r = await c.post(url + "/v1/chat/completions", json=body, headers=headers)
                        assert r.status_code == 200, r.text
                except httpx.TransportError:
                    ERRORS[url] = ERRORS.get(url, 0) + 1
                    return
                out.append(time.perf_counter() - t0)

        await asyncio.gather(*(one() for _ in range(min(50, n))))  # warm-up, not counted
        out.clear()
        await asyncio.gather(*(one() for _ in range(n)))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--memory-requests", type=int, default=100_000)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    import json

    from coderouge.gateway import keys as K
    from coderouge.store import Store

    d = tempfile.mkdtemp()
    procs = []
    try:
        up, up_port = start(UPSTREAM, json.dumps(ANSWER))
        procs.append(up)
        upstream = f"http://127.0.0.1:{up_port}"
        floor, floor_port = start(FLOOR, upstream)
        procs.append(floor)
        sdk, sdk_port = start(SDK_FLOOR, upstream)
        procs.append(sdk)
        cfg = Path(d, "gateway.yaml")
        cfg.write_text(f"routes:\n  chat:\n    deployments:\n      - model: openai/m\n        base_url: {upstream}/v1\n"
                       "redaction: {enabled: true, restore: true}\nallow_private_base_urls: true\n")
        store = os.path.join(d, "gw.db")
        s = Store(store)
        _, key = K.create_key(s, "bench")
        s.close()
        gw, gw_port = start(GATEWAY, str(cfg), store)
        procs.append(gw)
        urls = {"direct": upstream, "floor": f"http://127.0.0.1:{floor_port}",
                "sdk floor": f"http://127.0.0.1:{sdk_port}", "gateway": f"http://127.0.0.1:{gw_port}"}
        for stream in (False, True):
            for conc in (1, 100):
                n = a.requests if conc > 1 else a.requests // 4
                t = {name: asyncio.run(timings(u, n, conc, stream, key if name == "gateway" else None))
                     for name, u in urls.items()}
                base50, base99 = pct(t["direct"], 50), pct(t["direct"], 99)
                added = {name: (pct(t[name], 50) - base50, pct(t[name], 99) - base99)
                         for name in ("floor", "sdk floor", "gateway")}

                def ratio(over: str) -> float:
                    return added["gateway"][0] / added[over][0] if added[over][0] > 0 else float("nan")

                print(f"{'stream' if stream else 'plain '} concurrency {conc:3d}: direct p50 {base50 * 1000:.2f} ms | "
                      "added p50/p99: " + ", ".join(f"{n} {added[n][0] * 1000:.2f}/{added[n][1] * 1000:.2f} ms"
                                                   for n in ("floor", "sdk floor", "gateway"))
                      + f" | gateway/floor added p50: {ratio('floor'):.2f}× (goal ≤ 1.5×); "
                        f"gateway/sdk floor: {ratio('sdk floor'):.2f}×"
                      + (f" | connection errors (not timed): {ERRORS}" if ERRORS else ""))
                ERRORS.clear()
        if a.memory_requests:
            asyncio.run(timings(urls["gateway"], 10_000, 50, False, key))
            warm = rss_mb(gw.pid)
            t0 = time.perf_counter()
            asyncio.run(timings(urls["gateway"], a.memory_requests, 50, False, key))
            end = rss_mb(gw.pid)
            print(f"memory: {warm:.1f} MB after a 10,000-request warm-up, {end:.1f} MB after {a.memory_requests:,} more "
                  f"({time.perf_counter() - t0:.0f} s): growth {100 * (end - warm) / warm:+.1f}% (goal < 10%)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
