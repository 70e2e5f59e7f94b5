"""MT-Bench (FastChat's llm_judge), single-answer grading on a 1–10 scale.

Each of the 80 questions has two turns. Turn 1 asks the first question; turn 2 sends the whole
conversation [user t1, assistant answer 1, user t2], so it is asked only after turn 1 was answered
(a failed turn 1 leaves turn 2 unasked and both turns are errors). Answers are sampled at FastChat's
temperature for the question's category (or 0 for all, when asked). An LLM judge grades each turn
with FastChat's prompts from judge_prompts.jsonl: "single-v1" for turn 1, "single-v1-multi-turn" for
turn 2, and their "-math-" variants, which show GPT-4's reference answer, for math, reasoning and
coding. The rating is read with FastChat's regexes; a judgment without one is a judge failure (an
error for that turn), never a score of 0 or -1 averaged in.

Every call (answers and judgments, with the judge's raw text) goes through the runner, so it is
stored and a re-run is answered from the store.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TaskFileError, UsageError
from ..calls import Calls as Runner, Result, RunConfig, run_calls
from ..stats import mean_ci, percentile
from ..store import Store
from ..types import Completion, Message, Request
from . import data
from .data import read_jsonl
from .engine import EvalResult, ItemOutcome

TASK = "mt_bench"
METRIC = "score_1_10"

MT_BENCH_QUESTIONS = data.DataFile(
    "mt_bench/question.jsonl",
    "https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/mt_bench/question.jsonl",
    "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
    "MT-Bench questions",
)
MT_BENCH_REFERENCE = data.DataFile(
    "mt_bench/reference_answer/gpt-4.jsonl",
    "https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/mt_bench/reference_answer/gpt-4.jsonl",
    "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f",
    "MT-Bench reference answers (GPT-4)",
)
MT_BENCH_JUDGE_PROMPTS = data.DataFile(
    "mt_bench/judge_prompts.jsonl",
    "https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/judge_prompts.jsonl",
    "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6",
    "MT-Bench judge prompts",
)

# FastChat's fastchat/llm_judge/common.py
TEMPERATURE_BY_CATEGORY = {
    "writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
    "reasoning": 0.0, "stem": 0.1, "humanities": 0.1, "arena-hard-200": 0.0,
}
DEFAULT_TEMPERATURE = 0.7  # FastChat's gen_model_answer for a category it does not list
NEED_REF_CATS = frozenset({"math", "reasoning", "coding", "arena-hard-200"})
ANSWER_MAX_TOKENS = 1024  # FastChat's --max-new-token default
JUDGE_MAX_TOKENS = 2048  # FastChat's judge call (chat_completion_openai(..., max_tokens=2048))
ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


@dataclass(frozen=True)
class MTBenchQuestion:
    question_id: int
    category: str
    turns: tuple[str, str]
    reference: tuple[str, ...] = ()  # GPT-4's reference answers, one per turn (math/reasoning/coding)

    @property
    def needs_reference(self) -> bool:
        return self.category in NEED_REF_CATS


@dataclass(frozen=True)
class SingleJudgePrompt:
    name: str
    system: str
    template: str


# --- data ---------------------------------------------------------------------------------------


def load_reference_answers(path: Path | None = None) -> dict[int, tuple[str, ...]]:
    """question_id → the reference answer's turns (FastChat's reference_answer/gpt-4.jsonl)."""
    path = path or data.resolve(MT_BENCH_REFERENCE)
    refs: dict[int, tuple[str, ...]] = {}
    for lineno, obj in read_jsonl(path, "MT-Bench reference answer"):
        try:
            turns = obj["choices"][0]["turns"]
            if not all(isinstance(t, str) for t in turns):
                raise TypeError("turns must be strings")
            refs[int(obj["question_id"])] = tuple(turns)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise TaskFileError(str(path), lineno, f"MT-Bench reference answer: {type(e).__name__}: {e}") from None
    return refs


def load_mt_bench_questions(path: Path | None = None, references: Path | None = None,
                            with_references: bool = True) -> list[MTBenchQuestion]:
    """The 80 questions (question.jsonl), with the reference answers attached to the categories that
    are judged against one. A corrupt line raises TaskFileError naming the file and the line."""
    path = path or data.resolve(MT_BENCH_QUESTIONS)
    raw = []
    for lineno, q in read_jsonl(path, "MT-Bench question"):
        try:
            if not isinstance(q, dict):
                raise TypeError("not an object")
            qid, cat, turns = q["question_id"], q["category"], q["turns"]
            if not isinstance(qid, int) or isinstance(qid, bool):
                raise TypeError("question_id must be a whole number")
            if not isinstance(cat, str) or not cat:
                raise TypeError("category must be a non-empty string")
            if not isinstance(turns, list) or len(turns) != 2 or not all(isinstance(t, str) and t.strip() for t in turns):
                raise TypeError("turns must be a list of two non-empty strings")
        except (KeyError, TypeError) as e:
            what = f"field {e} is missing" if isinstance(e, KeyError) else str(e)
            raise TaskFileError(str(path), lineno, f"MT-Bench question: {what}") from None
        raw.append((qid, cat, (turns[0], turns[1])))
    ids = [r[0] for r in raw]
    if len(set(ids)) != len(ids):
        raise TaskFileError(str(path), None, "MT-Bench questions: duplicate question_id")
    refs: dict[int, tuple[str, ...]] = {}
    if with_references and any(cat in NEED_REF_CATS for _, cat, _ in raw):
        refs = load_reference_answers(references)
    return [MTBenchQuestion(qid, cat, turns, refs.get(qid, ()) if cat in NEED_REF_CATS else ())
            for qid, cat, turns in raw]


def load_judge_prompts(path: Path | None = None) -> dict[str, SingleJudgePrompt]:
    """FastChat's single-answer grading prompts by name (single-v1, single-math-v1, and -multi-turn)."""
    path = path or data.resolve(MT_BENCH_JUDGE_PROMPTS)
    out = {}
    for lineno, p in read_jsonl(path, "MT-Bench judge prompt"):
        if isinstance(p, dict) and p.get("type") == "single":
            try:
                out[p["name"]] = SingleJudgePrompt(p["name"], p["system_prompt"], p["prompt_template"])
            except KeyError as e:
                raise TaskFileError(str(path), lineno, f"MT-Bench judge prompt: field {e} is missing") from None
    need = {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"}
    if missing := need - set(out):
        raise TaskFileError(str(path), None, f"MT-Bench judge prompts: missing {', '.join(sorted(missing))}")
    return out


def load_pair_judge_prompt(name: str, path: Path | None = None) -> tuple[str, str]:
    """(system prompt, template) of one of FastChat's single-turn pairwise judge prompts (pair-v2, …),
    whose template has {question}, {answer_a} and {answer_b}; the arena's LLM judge can use them."""
    path = path or data.resolve(MT_BENCH_JUDGE_PROMPTS)
    for lineno, p in read_jsonl(path, "MT-Bench judge prompt"):
        if (isinstance(p, dict) and p.get("name") == name and p.get("type") == "pairwise"
                and "{answer_a}" in p.get("prompt_template", "")):
            try:
                return p["system_prompt"], p["prompt_template"]
            except KeyError as e:
                raise TaskFileError(str(path), lineno, f"MT-Bench judge prompt: field {e} is missing") from None
    raise UsageError(f"no single-turn pairwise judge prompt named {name!r} in {path}")


def sample_questions(questions: Sequence[MTBenchQuestion], limit: int | None, seed: int = 1234) -> list[MTBenchQuestion]:
    """A seeded sample of `limit` questions, in file order (as Task.sample); all of them for None."""
    if limit is None or limit >= len(questions):
        return list(questions)
    if limit <= 0:
        raise UsageError(f"--limit must be positive, got {limit}")
    return [questions[i] for i in sorted(random.Random(seed).sample(range(len(questions)), limit))]


# --- prompts and parsing: pure functions ----------------------------------------------------------


def answer_temperature(category: str, by_category: bool = True) -> float:
    return TEMPERATURE_BY_CATEGORY.get(category, DEFAULT_TEMPERATURE) if by_category else 0.0


def turn1_messages(q: MTBenchQuestion) -> tuple[Message, ...]:
    return (Message("user", q.turns[0]),)


def turn2_messages(q: MTBenchQuestion, answer1: str) -> tuple[Message, ...]:
    return (Message("user", q.turns[0]), Message("assistant", answer1), Message("user", q.turns[1]))


def judge_prompt_name(q: MTBenchQuestion, turn: int) -> str:
    math_ = q.needs_reference and len(q.reference) >= turn
    return ("single-math-v1" if math_ else "single-v1") + ("-multi-turn" if turn == 2 else "")


def judge_request(judge_model: str, prompts: dict[str, SingleJudgePrompt], q: MTBenchQuestion, turn: int,
                  answers: Sequence[str]) -> tuple[str, Request]:
    """(prompt name, the judge's request) for one turn, as FastChat's run_judge_single builds it."""
    name = judge_prompt_name(q, turn)
    p = prompts[name]
    if turn == 1:
        kw = {"question": q.turns[0], "answer": answers[0]}
        if "math" in name:
            kw["ref_answer_1"] = q.reference[0]
    else:
        kw = {"question_1": q.turns[0], "question_2": q.turns[1], "answer_1": answers[0], "answer_2": answers[1]}
        if "math" in name:
            kw |= {"ref_answer_1": q.reference[0], "ref_answer_2": q.reference[1]}
    text = p.template.format(**kw)
    return name, Request(judge_model, (Message("system", p.system), Message("user", text)),
                         max_tokens=JUDGE_MAX_TOKENS, temperature=0.0)


def parse_rating(text: str) -> float | None:
    """The rating in a judgment, found as FastChat does ("[[7]]", else "[7]"; the first match).
    None when there is none, or when it lies outside 1–10 (FastChat would average such a value in)."""
    m = ONE_SCORE.search(text) or ONE_SCORE_BACKUP.search(text)
    if not m:
        return None
    try:
        v = float(m.group(1))
    except ValueError:
        return None
    return v if 1.0 <= v <= 10.0 else None


# --- running ------------------------------------------------------------------------------------


def _short(text: str, n: int = 80) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "…"


@dataclass
class _Turn:
    answer: Result | None = None
    judge: Result | None = None
    judge_prompt: str = ""


def _outcome(q: MTBenchQuestion, turn: int, t: _Turn) -> ItemOutcome:
    iid = f"{q.question_id}-t{turn}"
    a = t.answer
    if a is None:
        return ItemOutcome(iid, "error", None, f"turn {turn} not asked: turn 1 failed", None)
    if a.completion is None:
        return ItemOutcome(iid, "error", None, f"turn {turn} answer failed: {a.error}", a.key)
    c: Completion = a.completion
    usage: dict[str, Any] = {"latency_s": c.latency_s, "ttft_s": c.ttft_s, "input_tokens": c.usage.input_tokens,
                             "output_tokens": c.usage.output_tokens, "cost_usd": c.cost_usd}
    j = t.judge
    assert j is not None
    if j.completion is None:
        return ItemOutcome(iid, "error", None, f"turn {turn} judge call failed: {j.error}", a.key, **usage)
    score = parse_rating(j.completion.text)
    if score is None:
        return ItemOutcome(iid, "error", None, f"turn {turn} judge gave no rating 1–10: {_short(j.completion.text)!r}",
                           a.key, **usage)
    detail = json.dumps({"question_id": q.question_id, "category": q.category, "turn": turn, "score": score,
                         "judge_prompt": t.judge_prompt, "judge_key": j.key}, sort_keys=True)
    return ItemOutcome(iid, "ok", score, detail, a.key, **usage)


def _prompt_format(by_category: bool) -> str:
    temp = ("temperature by category as FastChat (writing/roleplay 0.7, stem/humanities 0.1, others 0)"
            if by_category else "temperature 0 for all categories")
    return ("MT-Bench two-turn chat (turn 2 sees turn 1's answer), " + temp + "; graded 1-10 by FastChat's "
            "single-v1 / single-v1-multi-turn judge prompts, single-math-v1 with GPT-4 reference answers for "
            "math/reasoning/coding")


async def evaluate_mt_bench(runner: Runner, model: str, judge_model: str, *, limit: int | None = None,
                            seed: int = 1234, temperature_by_category: bool = True,
                            questions: Sequence[MTBenchQuestion] | None = None) -> EvalResult:
    """Answer MT-Bench's two turns with `model`, grade each turn 1–10 with `judge_model`, and score the
    mean over every judged turn. `questions` overrides the data file (tests, custom sets)."""
    if not judge_model:
        raise UsageError("MT-Bench needs a judge model: --judge provider/model")
    runner.provider(model), runner.provider(judge_model)  # an unknown model fails before any call
    everything = list(questions) if questions is not None else load_mt_bench_questions()
    qs = sample_questions(everything, limit, seed)
    prompts = load_judge_prompts()
    turns = {(q.question_id, t): _Turn() for q in qs for t in (1, 2)}

    def ask(q: MTBenchQuestion, msgs: tuple[Message, ...]) -> Request:
        return Request(model, msgs, max_tokens=ANSWER_MAX_TOKENS,
                       temperature=answer_temperature(q.category, temperature_by_category))

    def judge(pairs: list[tuple[MTBenchQuestion, int]]) -> list[Request]:
        reqs = []
        for q, t in pairs:
            answers = [turns[(q.question_id, k)].answer.completion.text for k in range(1, t + 1)]  # type: ignore[union-attr]
            name, req = judge_request(judge_model, prompts, q, t, answers)
            turns[(q.question_id, t)].judge_prompt = name
            reqs.append(req)
        return reqs

    first = await runner.batch([ask(q, turn1_messages(q)) for q in qs], desc=f"{model} {TASK} turn 1")
    for q, r in zip(qs, first):
        turns[(q.question_id, 1)].answer = r
    answered = [q for q in qs if turns[(q.question_id, 1)].answer.completion is not None]  # type: ignore[union-attr]
    j1 = [(q, 1) for q in answered]
    # turn 2 answers and turn 1 judgments side by side
    second, judged1 = await asyncio.gather(
        runner.batch([ask(q, turn2_messages(q, turns[(q.question_id, 1)].answer.completion.text))  # type: ignore[union-attr]
                    for q in answered], desc=f"{model} {TASK} turn 2"),
        runner.batch(judge(j1), desc=f"{judge_model} judging {TASK} turn 1"),
    )
    for q, r in zip(answered, second):
        turns[(q.question_id, 2)].answer = r
    for (q, t), r in zip(j1, judged1):
        turns[(q.question_id, t)].judge = r
    j2 = [(q, 2) for q in answered if turns[(q.question_id, 2)].answer.completion is not None]  # type: ignore[union-attr]
    for (q, t), r in zip(j2, await runner.batch(judge(j2), desc=f"{judge_model} judging {TASK} turn 2")):
        turns[(q.question_id, t)].judge = r

    outcomes = [_outcome(q, t, turns[(q.question_id, t)]) for q in qs for t in (1, 2)]
    res = _summarise(model, judge_model, qs, outcomes, turns, temperature_by_category)
    if runner.store is not None:
        config = {"method": res.method, "shots": 0, "prompt_format": res.prompt_format, "judge_model": judge_model,
                  "temperature_by_category": temperature_by_category, "answer_max_tokens": ANSWER_MAX_TOKENS,
                  **({"sample_seed": seed, "sampled_from": len(everything), "limit": limit}
                     if limit is not None else {})}
        runner.store.save_eval(model, TASK, config, res.to_json(),
                               [(o.item_id, o.status, o.score, o.detail, o.call_key) for o in outcomes])
    return res


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _summarise(model: str, judge_model: str, qs: Sequence[MTBenchQuestion], outcomes: list[ItemOutcome],
               turns: dict[tuple[int, int], _Turn], by_category: bool) -> EvalResult:
    ok = [o for o in outcomes if o.status == "ok"]
    errs = [o for o in outcomes if o.status != "ok"]
    value, lo, hi = mean_ci([o.score for o in ok])  # type: ignore[misc]
    extra: dict[str, float] = {}
    for t in (1, 2):
        m = _mean([o.score for o in ok if o.item_id.endswith(f"-t{t}")])  # type: ignore[misc]
        if m is not None:
            extra[f"turn{t}"] = m
    cat_of = {q.question_id: q.category for q in qs}
    by_cat: dict[str, list[float]] = {}
    for o in ok:
        by_cat.setdefault(cat_of[int(o.item_id.split("-t")[0])], []).append(o.score)  # type: ignore[arg-type]
    groups = {c: {"n": float(len(v)), "score": sum(v) / len(v)} for c, v in sorted(by_cat.items())}
    # what the model's answers took and cost: every answer it gave, judged or not
    answers = [t.answer.completion for t in turns.values() if t.answer is not None and t.answer.completion is not None]
    judgments = [t.judge.completion for t in turns.values() if t.judge is not None and t.judge.completion is not None]
    costs = [c.cost_usd for c in answers]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    jcosts = [c.cost_usd for c in judgments]
    if judgments and all(c is not None for c in jcosts):
        extra["judge_cost_usd"] = float(sum(c for c in jcosts if c is not None))
    return EvalResult(
        model=model, task=TASK, metric=METRIC, value=value, ci_low=lo, ci_high=hi, n=len(ok), errors=len(errs),
        latency_p50_s=percentile([c.latency_s for c in answers], 50),
        latency_p95_s=percentile([c.latency_s for c in answers], 95),
        ttft_p50_s=percentile([c.ttft_s for c in answers if c.ttft_s is not None], 50),
        input_tokens=sum(c.usage.input_tokens for c in answers), output_tokens=sum(c.usage.output_tokens for c in answers),
        cost_usd=cost, method="llm-judge:" + judge_model, shots=0, prompt_format=_prompt_format(by_category),
        items=outcomes, extra_metrics=extra, error_examples=sorted({o.detail for o in errs})[:3], groups=groups,
    )


def run_mt_bench(models: Sequence[str], judge_model: str, store: Store | None, config: RunConfig | None = None, *,
                 limit: int | None = None, seed: int = 1234, temperature_by_category: bool = True) -> list[EvalResult]:
    """Sync entry point (the CLI's): every model in one event loop, side by side."""

    async def main(runner: Runner) -> list[EvalResult]:
        return list(await asyncio.gather(*(
            evaluate_mt_bench(runner, m, judge_model, limit=limit, seed=seed,
                              temperature_by_category=temperature_by_category) for m in models)))

    if not judge_model:
        raise UsageError("MT-Bench needs a judge model: --judge provider/model")
    return run_calls(store, config, main)


__all__ = [
    "MT_BENCH_JUDGE_PROMPTS",
    "MT_BENCH_QUESTIONS",
    "MT_BENCH_REFERENCE",
    "TEMPERATURE_BY_CATEGORY",
    "MTBenchQuestion",
    "answer_temperature",
    "evaluate_mt_bench",
    "judge_request",
    "load_judge_prompts",
    "load_mt_bench_questions",
    "load_reference_answers",
    "parse_rating",
    "run_mt_bench",
    "sample_questions",
    "turn2_messages",
]
