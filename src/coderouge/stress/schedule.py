"""When requests leave: open-loop arrivals (Poisson, or gamma with a burstiness factor, as vLLM's
benchmark defines them) and the prompts they carry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TaskFileError, UsageError


def arrival_gaps(rate: float, burstiness: float, n: int, seed: int) -> np.ndarray:
    """`n` gaps (seconds) between arrivals at `rate` requests/s. burstiness 1 is a Poisson process
    (exponential gaps); below 1 burstier, above 1 more even: gamma(shape=burstiness, scale=1/(rate·burstiness)),
    so the mean rate is `rate` whatever the burstiness (vLLM's `--burstiness`)."""
    if rate <= 0 or burstiness <= 0:
        raise UsageError("--rate and --burstiness must be above 0")
    rng = np.random.default_rng(seed)
    return rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n)


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict, ...]  # OpenAI chat messages
    max_tokens: int


BUILT_IN = (
    "Explain what a load balancer does in two sentences.",
    "Write a haiku about a quiet server room.",
    "List three ways to reduce the latency of a web API.",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "What is the difference between a process and a thread?",
    "Translate 'Where is the train station?' into French, Spanish and German.",
    "Give a short definition of eventual consistency.",
    "Write a polite e-mail declining a meeting invitation.",
    "Why is the sky blue? Answer for a ten-year-old.",
    "Suggest five names for a coffee shop run by robots.",
    "Describe the water cycle in four steps.",
    "What are the pros and cons of remote work? Two of each.",
    "Write a Python function that reverses a string.",
    "Explain compound interest with a numeric example.",
    "What should a good incident post-mortem contain?",
    "Compare TCP and UDP in a short table.",
)

# common English words that most tokenizers keep as one token with a leading space: synthetic prompts
# of about N tokens are N of them, drawn at random (so that no server can answer from a prefix cache)
_WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
          "number group problem fact house water money month story book room mother night power city game line "
          "end member law car name team level office door health art war history party result change morning "
          "reason research girl guy food moment air teacher force education").split()


def load_prompts(source: str | None, *, n: int, input_tokens: int | None, output_tokens: int, range_ratio: float,
                 seed: int) -> list[Prompt]:
    """`n` prompts: synthetic ones of about `input_tokens` words when given, else from a JSONL file
    (`{"prompt": ...}` or `{"messages": [...]}`, optionally `"max_tokens"`), else the built-in set, cycled.
    Lengths vary uniformly within ±range_ratio of the given ones."""
    if not 0 <= range_ratio < 1:
        raise UsageError("--range-ratio must be from 0 to below 1")
    rng = np.random.default_rng(seed)

    def length(base: int) -> int:
        lo, hi = max(1, int(base * (1 - range_ratio))), max(1, int(base * (1 + range_ratio)))
        return int(rng.integers(lo, hi + 1))

    if input_tokens is not None:
        if input_tokens < 1:
            raise UsageError("--input-tokens must be at least 1")
        return [Prompt(({"role": "user", "content": " ".join(rng.choice(_WORDS, length(input_tokens)))},),
                       length(output_tokens)) for _ in range(n)]
    rows: list[tuple[tuple[dict, ...], int | None]] = []
    if source:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such prompt file")
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise TaskFileError(source, i, f"not JSON ({e})") from None
            if isinstance(obj, dict) and isinstance(obj.get("prompt"), str):
                msgs: tuple[dict, ...] = ({"role": "user", "content": obj["prompt"]},)
            elif isinstance(obj, dict) and isinstance(obj.get("messages"), list) and obj["messages"] and all(
                    isinstance(m, dict) and m.get("role") and isinstance(m.get("content"), str) for m in obj["messages"]):
                msgs = tuple({"role": m["role"], "content": m["content"]} for m in obj["messages"])
            else:
                raise TaskFileError(source, i, "needs \"prompt\" (text) or \"messages\" ([{role, content}])")
            mt = obj.get("max_tokens")
            if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
                raise TaskFileError(source, i, "field max_tokens must be a whole number of at least 1")
            rows.append((msgs, mt))
        if not rows:
            raise TaskFileError(source, None, "no prompts in the file")
    else:
        rows = [(({"role": "user", "content": p},), None) for p in BUILT_IN]
    return [Prompt(rows[i % len(rows)][0], rows[i % len(rows)][1] or length(output_tokens)) for i in range(n)]
