"""Accuracy of `coderouge stress`'s TTFT and ITL at concurrency 100, side by side with a minimal aiohttp client
written like vLLM's benchmark client, against the same loopback server (aiohttp, a process of its own)
with a known time to first token (100 ms) and known gaps between chunks (20 ms), in the same run.

It prints each one's TTFT p50 and ITL p50 beside the truth, and the difference between the two clients
(goal: within 2 ms).

    .venv/bin/python benchmarks/stress_accuracy.py [--requests 1000] [--concurrency 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np

TTFT_S, GAP_S, CHUNKS = 0.100, 0.020, 10

SERVER = textwrap.dedent(r'''
    import asyncio, json, sys, time
    from aiohttp import web
    TTFT, GAP, N = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    def ev(o):
        return ("data: " + json.dumps(o) + "\n\n").encode()
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    async def chat(request):
        t0 = time.perf_counter()
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(ev({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]}))
        for i in range(N):
            d = t0 + TTFT + i * GAP - time.perf_counter()
            if d > 0:
                await asyncio.sleep(d)
            await resp.write(ev({**base, "choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]}))
        await resp.write(ev({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}))
        await resp.write(ev({**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": N,
                                                              "total_tokens": N + 3}}))
        await resp.write(b"data: [DONE]\n\n")
        return resp
    async def main():
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
''')


async def minimal_client(url: str, n: int, conc: int) -> tuple[list[float], list[float]]:
    """vLLM's async_request_openai_chat_completions, reduced: TTFT and ITL per request."""
    import aiohttp

    payload = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": CHUNKS, "stream": True,
               "stream_options": {"include_usage": True}}
    ttfts: list[float] = []
    itls: list[float] = []
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one() -> None:
            async with sem:
                ttft = 0.0
                st = time.perf_counter()
                most_recent = st
                async with s.post(url, json=payload) as r:
                    async for chunk_bytes in r.content:
                        chunk_bytes = chunk_bytes.strip()
                        if not chunk_bytes:
                            continue
                        chunk = chunk_bytes.decode("utf-8").removeprefix("data: ")
                        if chunk == "[DONE]":
                            continue
                        timestamp = time.perf_counter()
                        data = json.loads(chunk)
                        if choices := data.get("choices"):
                            content = choices[0]["delta"].get("content")
                            if not content:
                                continue
                            if ttft == 0.0:
                                ttft = timestamp - st
                                ttfts.append(ttft)
                            else:
                                itls.append(timestamp - most_recent)
                            most_recent = timestamp

        await asyncio.gather(*(one() for _ in range(n)))
    return ttfts, itls


async def coderouge_client(root: str, n: int, conc: int) -> dict:
    from coderouge.stress.client import HTTPTarget
    from coderouge.stress.metrics import summarize
    from coderouge.stress.run import Load, run_load
    from coderouge.stress.schedule import load_prompts

    prompts = load_prompts(None, n=16, input_tokens=None, output_tokens=CHUNKS, range_ratio=0, seed=0)
    async with HTTPTarget(root + "/v1", "m") as t:
        out = await run_load(t, prompts, Load(concurrency=conc, requests=n))
    return summarize(out.samples, out.duration_s, target=root, model="m")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; truth: "
          f"TTFT {TTFT_S * 1000:.0f} ms, ITL {GAP_S * 1000:.0f} ms, {CHUNKS} chunks; concurrency {a.concurrency}")
    p = subprocess.Popen([sys.executable, "-c", SERVER, str(TTFT_S), str(GAP_S), str(CHUNKS)], stdout=subprocess.PIPE,
                         text=True)
    try:
        root = f"http://127.0.0.1:{int(p.stdout.readline())}"
        asyncio.run(minimal_client(root + "/v1/chat/completions", 200, a.concurrency))  # warm-up
        d_ttft, d_itl = [], []
        for r in range(a.rounds):
            ttfts, itls = asyncio.run(minimal_client(root + "/v1/chat/completions", a.requests, a.concurrency))
            ours = asyncio.run(coderouge_client(root, a.requests, a.concurrency))
            pt, pi = float(np.percentile(ttfts, 50)) * 1000, float(np.percentile(itls, 50)) * 1000
            ot, oi = ours["ttft_ms"]["p50"], ours["itl_ms"]["p50"]
            d_ttft.append(ot - pt)
            d_itl.append(oi - pi)
            print(f"round {r + 1}: TTFT p50 coderouge {ot:.2f} ms, minimal client {pt:.2f} ms (truth {TTFT_S * 1000:.0f}) | "
                  f"ITL p50 coderouge {oi:.2f} ms, minimal client {pi:.2f} ms (truth {GAP_S * 1000:.0f}) | "
                  f"coderouge errors {sum(ours['errors'].values())}")
        print(f"median difference coderouge − minimal client: TTFT p50 {statistics.median(d_ttft):+.2f} ms, ITL p50 "
              f"{statistics.median(d_itl):+.2f} ms (goal: within ±2 ms)")
    finally:
        p.terminate()
        p.wait(timeout=10)


if __name__ == "__main__":
    main()
