"""MT-Bench: two turns through the runner, FastChat's single-answer judge prompts, ratings 1–10,
failures as errors (never scores), the store as cache, seeded sampling. Fake model and judge."""

import asyncio
import hashlib
import json
import math
import random
import re

import pytest
from conftest import SHARED_DATA

from coderouge.errors import TaskFileError, UsageError
from coderouge.evals import mt_bench as mt
from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig, Runner

MODEL, JUDGE = "fake/model", "fake/judge"


def _qid(text):
    return re.search(r"Q(\d+)", text).group(1)


def model_script(seen):
    """Answers "A1 for <first words>" on turn 1, "A2 …" on turn 2; records every request."""

    def answer(request):
        seen.append(request)
        turn = 1 if len(request.messages) == 1 else 2
        return f"A{turn} answer to: {request.messages[-1].text[:30]}"

    return answer


def judge_by_turn(seen, t1="Rating: [[7]]", t2="Fine. [[9]]"):
    def judge(request):
        seen.append(request)
        text = request.messages[-1].text
        return t2 if "### Assistant A:" in text else t1

    return judge


def run(store, model_p, judge_p, **kw):
    async def main():
        runner = Runner(store, RunConfig(progress=False), providers={MODEL: model_p, JUDGE: judge_p})
        try:
            return await mt.evaluate_mt_bench(runner, MODEL, JUDGE, **kw)
        finally:
            await runner.aclose()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def questions():
    return mt.load_mt_bench_questions()


def test_data_files_pinned_and_loaded(questions):
    sums = dict(reversed(line.split()) for line in (SHARED_DATA / "SHA256SUMS").read_text().splitlines() if line.strip())
    for df in (mt.MT_BENCH_QUESTIONS, mt.MT_BENCH_REFERENCE, mt.MT_BENCH_JUDGE_PROMPTS):
        assert sums["./" + df.relpath] == df.sha256
        assert hashlib.sha256((SHARED_DATA / df.relpath).read_bytes()).hexdigest() == df.sha256
        assert df.url.startswith("https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/")
    assert len(questions) == 80 and all(len(q.turns) == 2 for q in questions)
    cats = {}
    for q in questions:
        cats[q.category] = cats.get(q.category, 0) + 1
    assert cats == {c: 10 for c in ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")}
    for q in questions:
        assert (len(q.reference) == 2) == (q.category in ("math", "reasoning", "coding"))


def test_corrupt_question_file_names_the_line(tmp_path):
    f = tmp_path / "question.jsonl"
    good = {"question_id": 1, "category": "writing", "turns": ["a", "b"]}
    f.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(TaskFileError) as e:
        mt.load_mt_bench_questions(f)
    assert e.value.line == 3 and e.value.path == str(f)
    f.write_text(json.dumps(good) + "\n" + json.dumps({**good, "question_id": 2, "turns": ["only one"]}) + "\n")
    with pytest.raises(TaskFileError, match="two non-empty strings") as e:
        mt.load_mt_bench_questions(f)
    assert e.value.line == 2
    f.write_text(json.dumps({"category": "x", "turns": ["a", "b"]}) + "\n")
    with pytest.raises(TaskFileError, match="question_id") as e:
        mt.load_mt_bench_questions(f)
    assert e.value.line == 1


def test_parse_rating_as_fastchat():
    assert mt.parse_rating("Good answer.\n\nRating: [[7]]") == 7.0
    assert mt.parse_rating("[[8.5]]") == 8.5
    assert mt.parse_rating("Rating: [6]") == 6.0  # FastChat's backup pattern
    assert mt.parse_rating("first [[3]] later [[9]]") == 3.0  # re.search: the first match, as FastChat
    assert mt.parse_rating("I would rate it [[rating]]") is None
    assert mt.parse_rating("no rating here") is None
    assert mt.parse_rating("[[0]]") is None and mt.parse_rating("[[11]]") is None  # off the 1–10 scale


def test_two_turns_judged_and_averaged(store, questions):
    asked, judged = [], []
    model, judge = FakeProvider("model", script=model_script(asked)), FakeProvider("judge", script=judge_by_turn(judged))
    r = run(store, model, judge)
    assert r.task == "mt_bench" and r.metric == "score_1_10" and r.model == MODEL
    assert r.value == 8.0 and r.extra_metrics["turn1"] == 7.0 and r.extra_metrics["turn2"] == 9.0
    assert r.n == 160 and r.errors == 0 and model.calls == 160 and judge.calls == 160
    assert r.ci_low < 8.0 < r.ci_high
    assert r.method == "llm-judge:fake/judge" and r.shots == 0 and "temperature by category" in r.prompt_format
    assert set(r.groups) == {q.category for q in questions}
    assert all(g == {"n": 20.0, "score": 8.0} for g in r.groups.values())
    assert r.input_tokens > 0 and r.output_tokens > 0 and r.latency_p50_s is not None
    # per-turn outcomes carry the score and the judge's call in the store, with its raw text
    o = next(o for o in r.items if o.item_id == "81-t2")
    d = json.loads(o.detail)
    assert o.score == 9.0 and d["score"] == 9.0 and d["turn"] == 2 and d["judge_prompt"] == "single-v1-multi-turn"
    assert store.cached([d["judge_key"]])[d["judge_key"]].text == "Fine. [[9]]"
    assert store.cached([o.call_key])[o.call_key].text.startswith("A2 ")
    (saved,) = store.eval_runs()
    assert saved.config["judge_model"] == JUDGE
    assert sum(1 for i in store.eval_items(saved.id) if i.status == "ok") == 160


def test_turn2_sees_the_conversation_and_temperatures(store, questions):
    asked = []
    run(store, FakeProvider("model", script=model_script(asked)), FakeProvider("judge", script=judge_by_turn([])), limit=16)
    by_q = {q.turns[0]: q for q in questions}
    t2 = [r for r in asked if len(r.messages) == 3]
    assert len(t2) == 16 and len(asked) == 32
    for req in t2:
        u1, a1, u2 = req.messages
        q = by_q[u1.text]
        assert (u1.role, a1.role, u2.role) == ("user", "assistant", "user")
        assert a1.text == f"A1 answer to: {q.turns[0][:30]}" and u2.text == q.turns[1]
    for req in asked:
        q = by_q[req.messages[0].text]
        assert req.temperature == mt.TEMPERATURE_BY_CATEGORY[q.category]
        assert req.max_tokens == 1024
    temps = {mt.TEMPERATURE_BY_CATEGORY[c] for c in ("writing", "roleplay", "stem", "math")}
    assert temps == {0.7, 0.1, 0.0}
    # --flag: temperature 0 for every category, and said so
    asked0 = []
    r = run(store, FakeProvider("model", script=model_script(asked0)), FakeProvider("judge", script=judge_by_turn([])),
            limit=16, temperature_by_category=False)
    assert {q.temperature for q in asked0} == {0.0} and "temperature 0" in r.prompt_format


def test_math_questions_use_the_reference_prompt(store, questions):
    judged = []
    math_qs = [q for q in questions if q.category in ("math", "writing", "coding")]
    run(store, FakeProvider("model", script=model_script([])), FakeProvider("judge", script=judge_by_turn(judged)),
        questions=math_qs)
    prompts = mt.load_judge_prompts()
    assert len(judged) == 2 * len(math_qs)
    for q in math_qs:
        mine = [r for r in judged if q.turns[0] in r.messages[-1].text]
        t1 = next(r for r in mine if "### Assistant A:" not in r.messages[-1].text)
        t2 = next(r for r in mine if "### Assistant A:" in r.messages[-1].text)
        assert t1.temperature == 0.0 and t1.model == JUDGE
        if q.category in ("math", "coding"):
            assert t1.messages[0].text == prompts["single-math-v1"].system
            assert "[The Start of Reference Answer]" in t1.messages[1].text and q.reference[0] in t1.messages[1].text
            assert t2.messages[0].text == prompts["single-math-v1-multi-turn"].system
            assert q.reference[0] in t2.messages[1].text and q.reference[1] in t2.messages[1].text
            assert "A2 answer to:" in t2.messages[1].text
        else:
            assert t1.messages[0].text == prompts["single-v1"].system == "You are a helpful assistant."
            assert "Reference" not in t1.messages[1].text and "Reference" not in t2.messages[1].text
            assert t2.messages[0].text == prompts["single-v1-multi-turn"].system
            assert f"### User:\n{q.turns[1]}" in t2.messages[1].text


def test_judge_without_rating_is_an_error_not_a_score(store):
    judge = FakeProvider("judge", script=judge_by_turn([], t1="Rating: [[6]]", t2="A thoughtful answer, I cannot rate it."))
    r = run(store, FakeProvider("model", script=model_script([])), judge, limit=10)
    assert r.n == 10 and r.errors == 10
    assert r.value == 6.0 and r.extra_metrics["turn1"] == 6.0
    assert "turn2" not in r.extra_metrics
    errs = [o for o in r.items if o.status == "error"]
    assert all(o.item_id.endswith("-t2") and o.score is None for o in errs)
    assert "judge gave no rating" in r.error_examples[0]


def test_failed_turn1_means_no_turn2_and_an_error(store):
    model = FakeProvider("model", options={"faults": "401"})
    judge = FakeProvider("judge", script=judge_by_turn([]))
    r = run(store, model, judge, limit=5)
    assert model.calls == 5 and judge.calls == 0  # 401 is not retried; turn 2 never asked
    assert r.n == 0 and r.errors == 10 and math.isnan(r.value) and "turn1" not in r.extra_metrics
    assert any("not asked" in o.detail for o in r.items) and any("answer failed" in o.detail for o in r.items)


def test_one_failed_question_leaves_the_others_scored(store, questions):
    bad = questions[0].turns[0]
    asked = []

    def flaky(request):
        if request.messages[0].text == bad:
            raise RuntimeError("boom")  # the runner records it as a failed call, never retried
        return model_script(asked)(request)

    r = run(store, FakeProvider("model", script=flaky), FakeProvider("judge", script=judge_by_turn([])),
            questions=questions[:4])
    assert r.errors == 2 and r.n == 6 and r.value == pytest.approx((7 * 3 + 9 * 3) / 6)
    assert {o.item_id for o in r.items if o.status == "error"} == {f"{questions[0].question_id}-t1", f"{questions[0].question_id}-t2"}
    assert not any(req.messages[0].text == bad for req in asked)


def test_rerun_is_answered_from_the_store(store):
    mk = lambda: (FakeProvider("model", script=model_script([])), FakeProvider("judge", script=judge_by_turn([])))
    m1, j1 = mk()
    first = run(store, m1, j1, limit=8)
    calls = store.count_calls()
    m2, j2 = mk()
    again = run(store, m2, j2, limit=8)
    assert m2.calls == 0 and j2.calls == 0 and store.count_calls() == calls
    assert again.value == first.value and again.n == first.n == 16
    assert [o.detail for o in again.items] == [o.detail for o in first.items]


def test_limit_sampling_is_seeded(questions):
    def ids(**kw):
        asked = []
        run(None, FakeProvider("model", script=model_script(asked)), FakeProvider("judge", script=judge_by_turn([])), **kw)
        return sorted({r.messages[0].text for r in asked})

    a, b, c = ids(limit=5, seed=1), ids(limit=5, seed=1), ids(limit=5, seed=2)
    assert a == b and a != c and len(a) == 5
    expected = [questions[i] for i in sorted(random.Random(1).sample(range(80), 5))]
    assert [q.question_id for q in mt.sample_questions(questions, 5, 1)] == [q.question_id for q in expected]
    assert mt.sample_questions(questions, None) == questions and mt.sample_questions(questions, 500) == questions
    with pytest.raises(UsageError):
        mt.sample_questions(questions, 0)


def test_needs_a_judge(store):
    with pytest.raises(UsageError, match="judge"):
        asyncio.run(mt.evaluate_mt_bench(Runner(store, RunConfig(progress=False)), MODEL, "", limit=1))


def test_sync_entry_point_with_registry_models(store):
    rs = mt.run_mt_bench(["fake/a", "fake/b?answer=hi"], "fake/j?answer=[[5]]", store, RunConfig(progress=False), limit=3)
    assert [r.model for r in rs] == ["fake/a", "fake/b?answer=hi"]
    assert all(r.value == 5.0 and r.n == 6 and r.errors == 0 for r in rs)
    with pytest.raises(UsageError, match="judge"):
        mt.run_mt_bench(["fake/a"], "", store)
