"""The figures of a load test, with vLLM's definitions (benchmarks/benchmark_serving.py):

* TTFT: from sending the request to the first chunk with text;
* TPOT: (end-to-end latency − TTFT) / (output tokens − 1), for answers of more than one token;
* ITL: every gap between consecutive chunks with text after the first, pooled over requests;
* E2E: from sending the request to the end of the answer;
* output tokens/s: all output tokens of completed requests / the run's duration; request rate: completed
  requests / duration; goodput: completed requests that meet every SLO given / duration.

Percentiles are numpy's (linear interpolation), as vLLM's. Token counts are the server's (usage) when
every completed request had them, else a tokenizer's, and `token_source` says which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .client import Sample

PCTS = (50, 90, 95, 99)


def dist_ms(values: Sequence[float]) -> dict[str, float | None]:
    """{"mean", "p50", "p90", "p95", "p99"} in milliseconds (None when there are no values)."""
    if len(values) == 0:
        return {"mean": None, **{f"p{p}": None for p in PCTS}}
    a = np.asarray(values, dtype=float) * 1000.0
    out: dict[str, float | None] = {"mean": round(float(a.mean()), 3)}
    for p, v in zip(PCTS, np.percentile(a, PCTS)):
        out[f"p{p}"] = round(float(v), 3)
    return out


def summarize(samples: Sequence[Sample], duration_s: float, *, target: str, model: str | None,
              slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None, slo_e2e_ms: float | None = None,
              count_tokens: Callable[[str], int] | None = None, client_overhead: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    measured = [s for s in samples if not s.warmup]
    done = [s for s in measured if s.ok]
    errors = Counter(s.error for s in measured if not s.ok)
    # token counts: the server's, when every completed request reported them
    if done and all(s.output_tokens is not None for s in done):
        source = "usage"
        out_tokens = [int(s.output_tokens or 0) for s in done]
    elif count_tokens is not None:
        source = "tokenizer"
        out_tokens = [count_tokens("".join(s.pieces)) for s in done]
    else:
        source = "chunks"  # no usage and no tokenizer: one token per chunk with text
        out_tokens = [s.chunks for s in done]
    ttft = [s.ttft for s in done if s.ttft is not None]
    e2e = [s.e2e for s in done]
    tpot = [(s.e2e - s.ttft) / (n - 1) for s, n in zip(done, out_tokens) if n > 1 and s.ttft is not None]
    itl = [g for s in done for g in s.gaps]

    def meets(s: Sample, n: int) -> bool:
        if slo_ttft_ms is not None and (s.ttft is None or s.ttft * 1000 > slo_ttft_ms):
            return False
        if slo_tpot_ms is not None and n > 1 and s.ttft is not None and (s.e2e - s.ttft) / (n - 1) * 1000 > slo_tpot_ms:
            return False
        return not (slo_e2e_ms is not None and s.e2e * 1000 > slo_e2e_ms)

    good = sum(1 for s, n in zip(done, out_tokens) if meets(s, n))
    dur = max(duration_s, 1e-9)
    return {
        "target": target, "model": model, "requests": len(measured), "completed": len(done),
        "duration_s": round(duration_s, 4), "request_rate": round(len(done) / dur, 4),
        "output_tokens_per_s": round(sum(out_tokens) / dur, 4), "total_output_tokens": int(sum(out_tokens)),
        "ttft_ms": dist_ms(ttft), "tpot_ms": dist_ms(tpot), "itl_ms": dist_ms(itl), "e2e_ms": dist_ms(e2e),
        "goodput": {"rate": round(good / dur, 4), "share": round(good / len(measured), 4) if measured else None,
                    "slo": {"ttft_ms": slo_ttft_ms, "tpot_ms": slo_tpot_ms, "e2e_ms": slo_e2e_ms}},
        "errors": dict(sorted(errors.items())), "token_source": source,
        "client_overhead_ms": client_overhead or {},
    }


def gemma_token_counter() -> Callable[[str], int] | None:
    """A tokenizer for servers that give no usage: Gemma 3's, from the embedded GGUF (vocabulary only).
    None when llama.cpp or the model is not installed."""
    try:
        import llama_cpp

        from ..providers.local import _quiet_llama_logs, embedded_model_path
    except ImportError:
        return None
    path = embedded_model_path()
    if path is None:
        return None
    try:
        _quiet_llama_logs()
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception:  # noqa: BLE001 - no tokenizer: counts fall back to chunks, and the output says so
        return None
    return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
