"""`coderouge arena run`: pick pairs of models, get both answers through the runner (cached,
resumable), have them judged, store the battles."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field

from ..errors import UsageError
from ..providers import get_provider
from ..calls import Calls as Runner, RunConfig, run_calls
from ..store import Store
from ..types import Request
from . import battles as bt
from .judges import combine_verdicts, judge_prompt, judge_requests, parse_verdict, reference_verdict
from .prompts import PromptItem


@dataclass(frozen=True)
class ArenaConfig:
    battles: int = 100
    judge: str = "reference"  # "reference" | "llm:MODEL"  ("human" is the voting page: `arena serve`)
    sampling: str = "uniform"  # "uniform" | "adaptive"
    seed: int = 0
    judge_prompt: str | None = None  # None: this project's prompt; "mt_bench": MT-Bench's pair-v2
    round_size: int = 16  # battles planned at once (answers fetched concurrently); adaptive refits between rounds
    max_tokens: int = 1024


@dataclass
class ArenaSummary:
    planned: int = 0
    decided: int = 0
    already: int = 0
    answer_failures: int = 0
    judge_failures: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)  # winner value → battles judged now


def check_judge(judge: str, prompts: list[PromptItem]) -> None:
    if judge == "human":
        raise UsageError("people judge on the voting page: run 'coderouge arena serve MODEL MODEL … --prompts SET'")
    if judge == "reference":
        missing = [p.id for p in prompts if p.check is None]
        if missing:
            raise UsageError(f"the reference judge needs prompts with a check (business, or a file with 'check'); "
                             f"{len(missing)} prompts have none, e.g. {missing[0]}")
        return
    if judge.startswith("llm:") and len(judge) > 4:
        get_provider(judge[4:])
        return
    raise UsageError(f"unknown judge {judge!r}: use human, reference or llm:MODEL")


def pair_weights(models: list[str], decided: list[bt.Battle]) -> list[float]:
    """Adaptive sampling: favour pairs whose next outcome would narrow the intervals most: pairs that
    met rarely (the variance of their estimate falls as 1/n) and are close in strength (p(1-p) large)."""
    idx = {m: i for i, m in enumerate(models)}
    n = len(models)
    wins = [[0.0] * n for _ in range(n)]
    games = [[0.0] * n for _ in range(n)]
    for b in decided:
        if b.model_a in idx and b.model_b in idx and b.winner:
            i, j = idx[b.model_a], idx[b.model_b]
            s = {"model_a": 1.0, "model_b": 0.0}.get(b.winner, 0.5)
            wins[i][j] += s
            wins[j][i] += 1 - s
            games[i][j] += 1
            games[j][i] += 1
    weights = []
    for i, j in itertools.combinations(range(n), 2):
        p = (wins[i][j] + 1) / (games[i][j] + 2)  # Laplace-smoothed head-to-head estimate
        weights.append(math.sqrt(p * (1 - p) / (games[i][j] + 1)))
    return weights


def _plan_key(cfg: ArenaConfig, prompt_set: str, models: list[str], rnd: int, k: int) -> str:
    blob = json.dumps([prompt_set, cfg.judge, cfg.judge_prompt, cfg.sampling, cfg.seed, sorted(models), rnd, k])
    return hashlib.sha256(blob.encode()).hexdigest()


async def run_arena_async(runner: Runner, models: list[str], prompts: list[PromptItem], prompt_set: str,
                          cfg: ArenaConfig) -> ArenaSummary:
    if len(set(models)) < 2:
        raise UsageError("a battle needs at least two different models")
    check_judge(cfg.judge, prompts)
    jp = judge_prompt(cfg.judge_prompt) if cfg.judge.startswith("llm:") else None
    rng = random.Random(cfg.seed)
    pairs = list(itertools.combinations(range(len(models)), 2))
    summary = ArenaSummary()
    store = runner.store
    assert store is not None, "an arena run needs a store"
    rnd = 0
    while summary.planned < cfg.battles:
        n = min(cfg.round_size, cfg.battles - summary.planned)
        weights = None
        if cfg.sampling == "adaptive":
            mine = [b for b in bt.list_battles(store, judge=cfg.judge) if b.model_a in models and b.model_b in models]
            weights = pair_weights(models, mine)
        plan = []
        for k in range(n):
            i, j = rng.choices(pairs, weights=weights)[0] if weights else rng.choice(pairs)
            a, b = (models[i], models[j]) if rng.random() < 0.5 else (models[j], models[i])
            plan.append((_plan_key(cfg, prompt_set, models, rnd, k), a, b, rng.choice(prompts)))
        summary.planned += n
        rnd += 1
        await _play_round(runner, store, cfg, jp, prompt_set, plan, summary)
    return summary


async def _play_round(runner: Runner, store: Store, cfg: ArenaConfig, jp, prompt_set: str, plan, summary: ArenaSummary) -> None:
    existing = bt.planned_battles(store, [p[0] for p in plan])
    todo = [p for p in plan if existing.get(p[0], (None, None))[1] is None]
    summary.already += len(plan) - len(todo)
    if not todo:
        return
    reqs = []
    for _, a, b, item in todo:
        reqs.append(Request(a, item.messages, max_tokens=cfg.max_tokens, temperature=0.0))
        reqs.append(Request(b, item.messages, max_tokens=cfg.max_tokens, temperature=0.0))
    answers = await runner.batch(reqs, desc="arena answers")
    judged: list[tuple] = []
    judge_reqs: list[Request] = []
    for n, (key, a, b, item) in enumerate(todo):
        ra, rb = answers[2 * n], answers[2 * n + 1]
        if not (ra.ok and rb.ok):
            summary.answer_failures += 1
            err = ra.error if not ra.ok else rb.error
            summary.failures.append(f"{item.id}: {err}")
            continue
        if cfg.judge == "reference":
            winner, raw = reference_verdict(item, ra.completion.text, rb.completion.text)
            judged.append((key, a, b, item, ra, rb, winner, raw))
        else:
            r1, r2 = judge_requests(cfg.judge[4:], jp, item, ra.completion.text, rb.completion.text)
            judged.append((key, a, b, item, ra, rb, len(judge_reqs), None))
            judge_reqs += [r1, r2]
    verdicts = await runner.batch(judge_reqs, desc="arena judge") if judge_reqs else []
    for key, a, b, item, ra, rb, winner, raw in judged:
        if cfg.judge != "reference":
            j1, j2 = verdicts[winner], verdicts[winner + 1]
            texts = [j.completion.text if j.ok else None for j in (j1, j2)]
            raw = {"judge_prompt": jp.name, "a_first": texts[0], "b_first": texts[1],
                   "errors": [str(j.error) for j in (j1, j2) if not j.ok]}
            winner = combine_verdicts(*(parse_verdict(t) if t is not None else None for t in texts))
            if winner is None:
                summary.judge_failures += 1
                summary.failures.append(f"{item.id}: the judge gave no verdict" + (f" ({raw['errors'][0]})" if raw["errors"] else ""))
        if key in existing:
            if winner is not None:
                bt.set_verdict(store, existing[key][0], winner, raw)
        else:
            bid = bt.add_battle(store, source="run", judge=cfg.judge, model_a=a, model_b=b, prompt_set=prompt_set,
                                prompt_id=item.id, messages=item.messages, answer_a=ra.completion.text,
                                answer_b=rb.completion.text, key_a=ra.key, key_b=rb.key, judge_raw=raw, plan_key=key)
            if winner is not None:
                bt.set_verdict(store, bid, winner, raw)
        if winner is not None:
            summary.decided += 1
            summary.outcomes[winner] = summary.outcomes.get(winner, 0) + 1


def run_arena(models: list[str], prompts: list[PromptItem], prompt_set: str, store: Store, run_config: RunConfig,
              cfg: ArenaConfig) -> ArenaSummary:
    return run_calls(store, run_config, lambda calls: run_arena_async(calls, models, prompts, prompt_set, cfg))
