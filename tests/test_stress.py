"""`coderouge stress` against loopback servers whose delays are known in advance (tests/sse_server.py, in a
process of its own, logging when each chunk was written by the machine's monotonic clock, the same one
the load generator reads): each figure checked against that truth at concurrency 1 and 100, faults
classified, Poisson arrivals checked statistically, bad input refused in one line."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from coderouge.store import Store
from coderouge.stress import session as S
from coderouge.stress.client import HTTPTarget, Sample
from coderouge.stress.metrics import summarize
from coderouge.stress.run import Load, ramp_knee, run_load
from coderouge.stress.schedule import arrival_gaps, load_prompts

HERE = Path(__file__).parent


@contextmanager
def sse_server(ttft: float, gap: float, chunks: int):
    p = subprocess.Popen([sys.executable, str(HERE / "sse_server.py"), str(ttft), str(gap), str(chunks)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def server_log(root: str) -> list[dict]:
    with urllib.request.urlopen(root + "/log", timeout=10) as r:
        return json.loads(r.read())


def reset(root: str) -> None:
    urllib.request.urlopen(urllib.request.Request(root + "/reset", method="POST"), timeout=10).read()


def prompts_file(tmp_path: Path, n: int) -> str:
    p = tmp_path / "prompts.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"req-{i}"}) + "\n" for i in range(n)))
    return str(p)


async def _load(root: str, model: str, load: Load, prompts: list, timeout_s: float = 30.0):
    async with HTTPTarget(root + "/v1", model, timeout_s=timeout_s) as t:
        return await run_load(t, prompts, load)


# --- the figures against the truth --------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 100])
def test_each_figure_against_the_servers_own_clock(tmp_path, concurrency):
    """TTFT, ITL, E2E and token counts of every request against what the server logged it did. A chunk
    cannot be seen before it was written, nor a request received before it was sent; the client's error
    (seen − written) is the loopback's and the machine's lag, which must be small beside the delays the
    server was told to keep, and no larger for coderouge than for the first chunk of the same request."""
    ttft, gap, chunks = 0.1, 0.02, 8
    n = 200 if concurrency == 100 else 12
    with sse_server(ttft, gap, chunks) as root:
        prompts = load_prompts(prompts_file(tmp_path, n), n=n, input_tokens=None, output_tokens=chunks,
                               range_ratio=0, seed=0)
        out = asyncio.run(_load(root, "ok", Load(concurrency=concurrency, requests=n), prompts))
        truth = {e["prompt"]: e for e in server_log(root)}
    res = summarize(out.samples, out.duration_s, target=root, model="ok")
    assert res["completed"] == n and res["errors"] == {} and res["token_source"] == "usage"
    assert res["total_output_tokens"] == n * chunks
    ttft_err, itl_err = [], []
    for s in out.samples:
        t = truth[f"req-{s.seq}"]
        w = t["writes"]
        assert s.chunks == chunks == len(w) and s.output_tokens == chunks
        assert s.sent <= t["recv"] and s.first >= w[0] and s.last >= w[-1]  # nothing seen before it happened
        assert len(s.gaps) == chunks - 1  # ITL: the gaps after the first token only
        ttft_err.append(s.ttft - (w[0] - t["recv"]))
        itl_err += [g - (b - a) for g, a, b in zip(s.gaps, w, w[1:])]
    # the client's error is the transport's lag: small beside the delays the server kept
    assert np.median(ttft_err) < ttft / 2 and abs(np.median(itl_err)) < gap / 2
    # TPOT by its definition, from the same requests
    tp = [(s.e2e - s.ttft) / (chunks - 1) for s in out.samples]
    assert res["tpot_ms"]["p50"] == pytest.approx(np.percentile(np.array(tp) * 1000, 50), abs=1e-3)
    assert res["ttft_ms"]["p50"] >= ttft * 1000 and res["itl_ms"]["p50"] >= gap * 1000 * 0.5


def test_metrics_follow_vllms_definitions():
    samples = []
    for i, (ttft, gaps, n) in enumerate([(0.1, [0.02, 0.02, 0.04], 4), (0.3, [0.01], 2), (0.2, [], 1)]):
        s = Sample(i, 0.0)
        s.sent = 10.0
        s.chunks, s.first, s.gaps, s.output_tokens = n, 10.0 + ttft, gaps, n
        s.end = s.first + sum(gaps)
        samples.append(s)
    bad = Sample(3, 0.0)
    bad.error, bad.sent, bad.end = "http_429", 10.0, 10.01
    samples.append(bad)
    warm = Sample(4, 0.0, warmup=True)
    warm.sent, warm.end = 1.0, 1.5
    samples.append(warm)
    r = summarize(samples, 2.0, target="t", model="m", slo_ttft_ms=150)
    assert r["requests"] == 4 and r["completed"] == 3 and r["errors"] == {"http_429": 1}
    assert r["ttft_ms"]["mean"] == pytest.approx(200.0, abs=1e-3)
    assert r["ttft_ms"]["p50"] == pytest.approx(200.0, abs=1e-3)
    # TPOT only for answers of more than one token: (0.08 / 3) and (0.01 / 1)
    assert r["tpot_ms"]["mean"] == pytest.approx((80 / 3 + 10) / 2, abs=1e-3)
    assert r["itl_ms"]["p50"] == pytest.approx(20.0, abs=1e-3)  # pooled gaps 20, 20, 40, 10
    assert r["e2e_ms"]["p99"] == pytest.approx(np.percentile([180, 310, 200], 99), abs=1e-3)
    assert r["request_rate"] == 1.5 and r["output_tokens_per_s"] == 3.5
    assert r["goodput"]["rate"] == 0.5 and r["goodput"]["share"] == 0.25  # only the 100 ms TTFT meets the SLO


def test_tokens_come_from_a_tokenizer_when_the_server_gives_no_usage(tmp_path):
    with sse_server(0.0, 0.0, 5) as root:
        prompts = load_prompts(None, n=4, input_tokens=None, output_tokens=5, range_ratio=0, seed=0)
        out = asyncio.run(_load(root, "nousage", Load(concurrency=2, requests=4), prompts))
    r = summarize(out.samples, out.duration_s, target=root, model="nousage", count_tokens=lambda t: len(t.split()))
    assert r["token_source"] == "tokenizer" and r["total_output_tokens"] == 20 and r["completed"] == 4


# --- faults ------------------------------------------------------------------------------------
def test_faults_are_classified_never_counted_as_answers():
    with sse_server(0.0, 0.001, 6) as root:
        prompts = load_prompts(None, n=4, input_tokens=None, output_tokens=6, range_ratio=0, seed=0)
        got = {}
        for model in ("http429", "http500", "cut", "malformed", "error_event", "stall"):
            out = asyncio.run(_load(root, model, Load(concurrency=2, requests=2), prompts, timeout_s=1.5))
            r = summarize(out.samples, out.duration_s, target=root, model=model)
            assert r["completed"] == 0
            got[model] = r["errors"]
    assert got == {"http429": {"http_429": 2}, "http500": {"http_500": 2}, "cut": {"cut_stream": 2},
                   "malformed": {"malformed_chunk": 2}, "error_event": {"stream_error": 2}, "stall": {"timeout": 2}}


# --- arrivals ----------------------------------------------------------------------------------
def test_poisson_and_gamma_arrivals_statistically():
    rate, n = 50.0, 20000
    g = arrival_gaps(rate, 1.0, n, seed=3)
    # the mean gap is 1/rate, within 4 standard errors; exponential: coefficient of variation 1
    se = (1 / rate) / math.sqrt(n)
    assert abs(g.mean() - 1 / rate) < 4 * se
    assert abs(g.std() / g.mean() - 1.0) < 0.05
    # Kolmogorov-Smirnov against the exponential distribution (critical value 1.36/sqrt(n) at 5%)
    xs = np.sort(g)
    cdf = 1 - np.exp(-rate * xs)
    d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert d < 1.63 / math.sqrt(n)  # 1% level
    for b in (0.25, 4.0):  # gamma: same mean rate, coefficient of variation 1/sqrt(burstiness)
        gb = arrival_gaps(rate, b, n, seed=5)
        assert abs(gb.mean() - 1 / rate) < 4 * (gb.std() / math.sqrt(n))
        assert abs(gb.std() / gb.mean() - 1 / math.sqrt(b)) < 0.05 / math.sqrt(b) + 0.02


def test_open_loop_sends_on_schedule_and_reports_its_lag():
    with sse_server(0.0, 0.0, 2) as root:
        prompts = load_prompts(None, n=300, input_tokens=None, output_tokens=2, range_ratio=0, seed=0)
        out = asyncio.run(_load(root, "ok", Load(rate=200.0, requests=300, seed=1), prompts))
    sent = sorted(s.sent for s in out.samples)
    span = sent[-1] - sent[0]
    # 299 gaps of mean 5 ms: the span is their sum, within 4 standard errors of a Poisson process
    assert abs(span - 299 / 200.0) < 4 * math.sqrt(299) / 200.0
    lag = out.overhead["schedule_lag"]
    assert lag["p50"] is not None and lag["p50"] >= 0 and out.overhead["loop_delay"]["p50"] is not None
    # each request left no earlier than its schedule
    assert all(s.sent >= s.scheduled for s in out.samples)


def test_ramp_knee():
    assert ramp_knee([(1, 1.0), (2, 2.0), (4, 3.9), (8, 4.0), (16, 3.0)]) == 4
    assert ramp_knee([(1, 0.0)]) is None


# --- the command -------------------------------------------------------------------------------
def cr(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=timeout)


def test_the_command_prints_the_json_shape_and_stores_the_run(tmp_path):
    store = str(tmp_path / "s.db")
    with sse_server(0.01, 0.002, 4) as root:
        r = cr("stress", root + "/v1", "--model", "ok", "--concurrency", "4", "--requests", "20", "--warmup", "2",
               "--slo-ttft-ms", "5000", "--json", "--store", store)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        for k in ("target", "model", "requests", "completed", "duration_s", "request_rate", "output_tokens_per_s",
                  "ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "goodput", "errors", "token_source",
                  "client_overhead_ms"):
            assert k in out, k
        assert set(out["ttft_ms"]) == {"mean", "p50", "p90", "p95", "p99"}
        assert set(out["goodput"]) >= {"rate", "share"} and out["goodput"]["share"] == 1.0
        assert out["requests"] == 20 and out["completed"] == 20 and out["token_source"] == "usage"
        assert len(server_log(root)) == 1 + 2 + 20  # the check, the warm-up, the run
        text = cr("stress", root + "/v1", "--model", "ok", "--rate", "100", "--requests", "10", "--store", store)
        assert text.returncode == 0 and "TTFT" in text.stdout and "goodput" in text.stdout
    with Store(store) as s:
        runs = s.stress_runs()
        assert len(runs) == 2 and runs[1].result["completed"] == 20
        rows = s.stress_requests(runs[1].id)
        assert len(rows) == 20 and sum(r["warmup"] for r in rows) == 0  # the warm-up is not kept
        assert all(r["ttft_s"] > 0 and r["output_tokens"] == 4 for r in rows)


def test_a_model_target_through_its_provider(tmp_path):
    r = cr("stress", "fake/echo?word_delay=0.002", "--concurrency", "8", "--requests", "40", "--json",
           "--store", str(tmp_path / "s.db"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["completed"] == 40 and out["itl_ms"]["p50"] >= 2.0


def test_compare_flags_a_difference_beyond_noise_and_not_one_within(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("stress", "--compare", "fake/a?latency=0.005", "fake/b?latency=0.05", "fake/c?latency=0.005",
           "--concurrency", "4", "--requests", "12", "--repeat", "3", "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    by = {t["target"]: t for t in c["targets"]}
    slow = by["fake/b?latency=0.05"]["e2e_p50_diff_ms"]
    assert slow["beyond_noise"] and slow["ci_low"] > 0 and 30 < slow["mean"] < 200
    assert len(by["fake/a?latency=0.005"]["run_ids"]) == 3
    text = cr("stress", "--compare", "fake/a?latency=0.005", "fake/b?latency=0.05", "--requests", "4",
              "--repeat", "2", "--store", store)
    assert text.returncode == 0 and "difference from fake/a" in text.stdout


def test_a_ramp_finds_where_goodput_stops_growing(tmp_path):
    r = cr("stress", "fake/echo?latency=0.01", "--ramp", "20,40", "--requests", "20", "--json",
           "--store", str(tmp_path / "s.db"))
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [x["offered_rate"] for x in s["steps"]] == [20, 40] and s["knee_rate"] in (20, 40)
    assert len(s["run_ids"]) == 2


def _free_port() -> int:
    import socket

    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def test_bad_targets_are_one_line_and_exit_2_quickly(tmp_path, monkeypatch):
    store = str(tmp_path / "s.db")
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Html(BaseHTTPRequestHandler):
        def log_message(self, *a):
            return

        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "15")
            self.end_headers()
            self.wfile.write(b"<html>hi</html>")

        do_GET = do_POST

    class Key(Html):
        def do_POST(self):
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (Html, Key)]
    for sv in servers:
        threading.Thread(target=sv.serve_forever, daemon=True).start()
    try:
        html, key = (f"http://127.0.0.1:{sv.server_address[1]}/v1" for sv in servers)
        with sse_server(0.0, 0.0, 2) as root:
            cases = [
                ([f"http://127.0.0.1:{_free_port()}/v1", "--model", "m"], "cannot reach"),
                ([root + "/nope", "--model", "ok"], "OpenAI-compatible"),
                ([root + "/v1", "--model", "gpt-17"], "no model 'gpt-17'"),
                ([root + "/v1"], "name the model with --model"),
                ([html, "--model", "m"], "not an OpenAI-compatible stream"),
                ([key, "--model", "m"], "refused the key"),
                (["notatarget"], "provider/model"),
                (["fake/x?faults=401"], "first request failed"),
                ([root + "/v1", "--model", "ok", "--concurrency", "2", "--rate", "3"], "either --concurrency"),
            ]
            for args, expect in cases:
                t0 = time.monotonic()
                r = cr("stress", *args, "--requests", "2", "--store", store, timeout=60)
                assert r.returncode == 2, (args, r.stdout, r.stderr)
                assert expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
                assert time.monotonic() - t0 < 30
    finally:
        for sv in servers:
            sv.shutdown()
            sv.server_close()
    with Store(store) as s:
        assert s.stress_runs() == []  # nothing was stored for a run that never ran


def test_the_live_line_and_a_bad_prompt_file(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("stress", "fake/echo?latency=0.2", "--concurrency", "2", "--requests", "8", "--progress", "--store", store)
    assert r.returncode == 0, r.stderr
    assert "8/8 done" in r.stderr and "req/s" in r.stderr and "TTFT p50" in r.stderr
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"messages": "nope"}\n')
    r = cr("stress", "fake/echo", "--prompts", str(bad), "--store", store)
    assert r.returncode == 2 and f"{bad}:2" in r.stderr and "messages" in r.stderr


def test_chaos_on_a_gateway_served_here(tmp_path):
    """An outage of the first deployment is absorbed by failover (no request fails; those sent in the window
    are served by the fallback); in a 429 storm on every deployment the gateway honours Retry-After (0.5 s)
    and holds the requests, so they wait or fail with 429, in that window only; a slow stream moves latency
    in its window. Each is reported by the window the requests were sent in."""
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("routes:\n  chat:\n    strategy: failover\n    deployments:\n"
                   "      - model: fake/a?word_delay=0.001\n      - model: fake/b?word_delay=0.001\n"
                   "limits: {timeout_s: 5, retries: 0}\nbreaker: {failures: 2, cooldown_s: 0.3}\n")
    r = cr("stress", "--gateway", str(cfg), "--rate", "40", "--duration", "3.6", "--json", "--store",
           str(tmp_path / "s.db"), "--chaos", "0.4-1.2:outage@fake/a?word_delay=0.001",
           "--chaos", "1.6-2.2:429@*", "--chaos", "2.6-3.2:slow=0.03@*")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    w = {x["window"]: x for x in out["chaos"]}
    outage, storm, slow = (w["0.4-1.2:outage@fake/a?word_delay=0.001"], w["1.6-2.2:429@*"], w["2.6-3.2:slow=0.03@*"])
    calm = w["outside every window"]
    assert outage["requests"] > 5 and outage["failed"] == 0 and outage["fallback"] == outage["requests"]
    assert storm["requests"] > 5 and set(storm["errors"]) <= {"http_429"}
    held = [storm["ttft_p50_ms"] or 0, storm["e2e_p50_ms"] or 0]
    assert storm["failed"] > storm["requests"] // 2 or min(held) > calm["e2e_p50_ms"] + 250
    assert calm["failed"] == 0 and slow["failed"] == 0
    assert slow["e2e_p50_ms"] > calm["e2e_p50_ms"] + 30  # every chunk of a slow stream waits 30 ms more
    assert set(out["errors"]) <= {"http_429"}
    assert out["served_by"]["fake/b?word_delay=0.001"] >= outage["requests"]


def test_chaos_on_a_model_target_and_bad_specs(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("stress", "fake/echo", "--rate", "50", "--duration", "1.2", "--chaos", "0.3-0.8:500@*", "--json",
           "--store", store)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (win, calm) = out["chaos"]
    assert win["failed"] == win["requests"] > 5 and calm["failed"] == 0 and set(win["errors"]) == {"http_500"}
    for spec, expect in [("1-0:outage@*", "must end after"), ("1-2:boom@*", "KIND one of"),
                         ("1-2:slow@*", "slow needs seconds")]:
        r = cr("stress", "fake/echo", "--chaos", spec, "--store", store)
        assert r.returncode == 2 and expect in r.stderr, r.stderr
    r = cr("stress", "http://127.0.0.1:9/v1", "--chaos", "1-2:outage@*", "--store", store)
    assert r.returncode == 2 and "--gateway" in r.stderr
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("routes:\n  chat:\n    deployments:\n      - model: fake/a\n")
    r = cr("stress", "--gateway", str(cfg), "--chaos", "1-2:outage@fake/zzz", "--store", store)
    assert r.returncode == 2 and "no deployment 'fake/zzz'" in r.stderr
