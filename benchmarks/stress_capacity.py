"""Capacity of `coderouge stress`'s load generator, side by side with a minimal aiohttp client written like
vLLM's benchmark client, against the same lean loopback server that answers at once (a raw asyncio server
in a process of its own: a canned streamed chat completion, keep-alive).

Both run a closed loop of the same concurrency over the same number of requests, one after the other,
alternating, several rounds; it prints each one's requests/s and the ratio (goals: ≥ 90% of the minimal
client, and ≥ 2,000 requests/s from one process).

    .venv/bin/python benchmarks/stress_capacity.py [--requests 20000] [--concurrency 128] [--rounds 3]
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

SERVER = textwrap.dedent(r'''
    import asyncio, json, sys
    def ev(o):
        return "data: " + json.dumps(o) + "\n\n"
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body = (ev({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
            + ev({**base, "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]})
            + ev({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            + ev({**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
            + "data: [DONE]\n\n").encode()
    RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)
    class P(asyncio.Protocol):
        def connection_made(self, t):
            self.t, self.buf = t, b""
        def data_received(self, data):
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                i = head.find(b"content-length:")
                n = int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0
                if len(self.buf) < end + 4 + n:
                    return
                self.buf = self.buf[end + 4 + n:]
                self.t.write(RESP)
    async def main():
        srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0, backlog=4096)
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
''')


async def minimal_client(url: str, n: int, conc: int) -> float:
    """A closed loop of `conc` workers, each request parsed like vLLM's benchmark client parses it."""
    import aiohttp

    payload = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": True,
               "stream_options": {"include_usage": True}}
    left = n
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=0)) as s:
        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                st = time.perf_counter()
                ttft, gen = 0.0, ""
                async with s.post(url, json=payload) as r:
                    async for chunk_bytes in r.content:
                        chunk_bytes = chunk_bytes.strip()
                        if not chunk_bytes:
                            continue
                        chunk = chunk_bytes.decode("utf-8").removeprefix("data: ")
                        if chunk != "[DONE]":
                            data = json.loads(chunk)
                            if choices := data.get("choices"):
                                content = choices[0]["delta"].get("content")
                                if ttft == 0.0:
                                    ttft = time.perf_counter() - st
                                gen += content or ""

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return n / (time.perf_counter() - t0)


async def coderouge_client(root: str, n: int, conc: int) -> float:
    from coderouge.stress.client import HTTPTarget
    from coderouge.stress.run import Load, run_load
    from coderouge.stress.schedule import load_prompts

    prompts = load_prompts(None, n=64, input_tokens=None, output_tokens=8, range_ratio=0, seed=0)
    async with HTTPTarget(root + "/v1", "m") as t:
        out = await run_load(t, prompts, Load(concurrency=conc, requests=n))
    done = sum(1 for s in out.samples if s.ok)
    assert done == n, f"{n - done} requests failed"
    return n / out.duration_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    p = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        root = f"http://127.0.0.1:{port}"
        asyncio.run(minimal_client(root + "/v1/chat/completions", 2000, a.concurrency))  # warm-up
        ours, peer = [], []
        for r in range(a.rounds):
            peer.append(asyncio.run(minimal_client(root + "/v1/chat/completions", a.requests, a.concurrency)))
            ours.append(asyncio.run(coderouge_client(root, a.requests, a.concurrency)))
            print(f"round {r + 1}: minimal aiohttp client {peer[-1]:,.0f} req/s, coderouge stress {ours[-1]:,.0f} req/s")
        m_ours, m_peer = statistics.median(ours), statistics.median(peer)
        print(f"median: coderouge {m_ours:,.0f} req/s, minimal client {m_peer:,.0f} req/s, ratio {m_ours / m_peer:.2f} "
              f"(goals: ≥ 0.90, and ≥ 2,000 req/s)")
    finally:
        p.terminate()
        p.wait(timeout=10)


if __name__ == "__main__":
    main()
