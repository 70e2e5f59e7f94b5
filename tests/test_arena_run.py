"""Battles through the runner, judged by reference checks or an LLM judge (fake models), stored and resumable."""

import json
import re

import pytest

from coderouge.arena import battles as bt
from coderouge.arena.judges import combine_verdicts, parse_verdict
from coderouge.arena.prompts import load_prompt_file
from coderouge.arena.run import ArenaConfig, pair_weights, run_arena_async
from coderouge.calls import run_calls
from coderouge.errors import UsageError
from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig


@pytest.fixture()
def prompts(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}? Answer with the number only.",
                                     "check": {"type": "numeric", "expected": 2 * i}}) + "\n" for i in range(10)))
    return load_prompt_file(f)


@pytest.fixture()
def store(any_store):
    """Every test here runs on both backends: a SQLite file, then a real PostgreSQL database."""
    return any_store


def arena(store, models, prompts, cfg, providers=None):
    return run_calls(store, RunConfig(progress=False), lambda calls: run_arena_async(calls, models, prompts, "p", cfg),
                     providers=providers)


def _sum_script(offset):
    def answer(request):
        n = int(re.search(r"What is (\d+)", request.messages[-1].text).group(1))
        return str(2 * n + offset)
    return answer


def test_reference_judge_prefers_the_correct_model(store, prompts):
    models = ["fake/right", "fake/wrong", "fake/right2"]
    providers = {"fake/right": FakeProvider("right", script=_sum_script(0)),
                 "fake/right2": FakeProvider("right2", script=_sum_script(0)),
                 "fake/wrong": FakeProvider("wrong", script=_sum_script(1))}
    s = arena(store, models, prompts, ArenaConfig(battles=40, judge="reference", seed=3), providers)
    assert s.planned == 40 and s.decided == 40 and s.answer_failures == 0
    for b in bt.list_battles(store):
        names = {b.model_a, b.model_b}
        if names == {"fake/right", "fake/right2"}:
            assert b.winner == "tie"
        else:
            right = "model_a" if b.model_a.startswith("fake/right") else "model_b"
            assert b.winner == right
        assert b.judge_raw["a"]["passed"] == b.model_a.startswith("fake/right")


def test_rerun_resumes_without_new_battles_or_calls(store, prompts):
    models = ["fake/right", "fake/wrong"]
    mk = lambda: {"fake/right": FakeProvider("right", script=_sum_script(0)), "fake/wrong": FakeProvider("wrong", script=_sum_script(1))}
    arena(store, models, prompts, ArenaConfig(battles=20, judge="reference", seed=1), mk())
    calls = store.count_calls()
    again = mk()
    s = arena(store, models, prompts, ArenaConfig(battles=20, judge="reference", seed=1), again)
    assert s.already == 20 and s.decided == 0
    assert len(bt.list_battles(store)) == 20 and store.count_calls() == calls
    assert again["fake/right"].calls == 0


def test_llm_judge_both_orders_and_position_bias_is_a_tie(store, prompts):
    models = ["fake/right", "fake/wrong"]
    always_first = FakeProvider("judge", options={"answer": "Assistant A is clearly better. [[A]]"})
    providers = {"fake/right": FakeProvider("right", script=_sum_script(0)),
                 "fake/wrong": FakeProvider("wrong", script=_sum_script(1)), "fake/judge": always_first}
    s = arena(store, models, prompts, ArenaConfig(battles=6, judge="llm:fake/judge"), providers)
    assert s.decided == 6
    shown = set()
    for b in bt.list_battles(store):
        shown |= {(b.prompt_id, b.model_a, b.model_b), (b.prompt_id, b.model_b, b.model_a)}
    assert always_first.calls == len(shown)  # every pair judged in both orders (identical ones asked once)
    for b in bt.list_battles(store):
        assert b.winner == "tie"  # the verdict flipped with the order
        assert "[[A]]" in b.judge_raw["a_first"] and "[[A]]" in b.judge_raw["b_first"]


def test_llm_judge_that_reads_the_answers(store, prompts):
    def judge(request):
        text = request.messages[-1].text
        n = int(re.search(r"What is (\d+)", text).group(1))
        a = text.split("[Assistant A's answer]\n")[1].split("\n")[0].strip()
        return "A is right. [[A]]" if a == str(2 * n) else "B is right. [[B]]"

    providers = {"fake/right": FakeProvider("right", script=_sum_script(0)),
                 "fake/wrong": FakeProvider("wrong", script=_sum_script(1)), "fake/judge": FakeProvider("judge", script=judge)}
    s = arena(store, ["fake/right", "fake/wrong"], prompts, ArenaConfig(battles=8, judge="llm:fake/judge", seed=5), providers)
    assert s.decided == 8
    for b in bt.list_battles(store):
        assert b.winner == ("model_a" if b.model_a == "fake/right" else "model_b")


def test_a_judge_without_verdict_is_a_failure_not_a_tie(store, prompts):
    providers = {"fake/right": FakeProvider("right", script=_sum_script(0)),
                 "fake/wrong": FakeProvider("wrong", script=_sum_script(1)),
                 "fake/judge": FakeProvider("judge", options={"answer": "I cannot decide."})}
    s = arena(store, ["fake/right", "fake/wrong"], prompts, ArenaConfig(battles=4, judge="llm:fake/judge"), providers)
    assert s.decided == 0 and s.judge_failures == 4
    assert bt.list_battles(store, decided=True) == [] and len(bt.list_battles(store, decided=False)) == 4


def test_answer_failures_are_not_battles(store, prompts):
    providers = {"fake/right": FakeProvider("right", script=_sum_script(0)), "fake/down": FakeProvider("down", options={"faults": "401"})}
    s = arena(store, ["fake/right", "fake/down"], prompts, ArenaConfig(battles=5, judge="reference"), providers)
    assert s.answer_failures == 5 and s.decided == 0 and bt.list_battles(store, decided=None) == []


def test_bad_arena_input(store, prompts, tmp_path):
    with pytest.raises(UsageError, match="two different models"):
        arena(store, ["fake/a", "fake/a"], prompts, ArenaConfig())
    f = tmp_path / "nocheck.jsonl"
    f.write_text('{"prompt": "hello"}\n')
    with pytest.raises(UsageError, match="reference judge needs prompts with a check"):
        arena(store, ["fake/a", "fake/b"], load_prompt_file(f), ArenaConfig(judge="reference"))
    with pytest.raises(UsageError, match="arena serve"):
        arena(store, ["fake/a", "fake/b"], prompts, ArenaConfig(judge="human"))
    with pytest.raises(UsageError, match="unknown judge"):
        arena(store, ["fake/a", "fake/b"], prompts, ArenaConfig(judge="oracle"))


def test_verdict_parsing_and_combining():
    assert parse_verdict("blah [[B]] then final [[A]]") == "A"
    assert parse_verdict("no verdict") is None
    assert combine_verdicts("A", "B") == "model_a"  # a first: A; b first: B (= a) → a both times
    assert combine_verdicts("B", "A") == "model_b"
    assert combine_verdicts("A", "A") == "tie"  # position bias
    assert combine_verdicts("C", "B") == "tie"
    assert combine_verdicts("C", "C") == "tie"
    assert combine_verdicts(None, "A") is None


def test_adaptive_weights_favour_rare_and_close_pairs():
    models = ["m0", "m1", "m2"]
    mk = lambda a, b, w: bt.Battle(0, 0, "run", "reference", None, None, (), a, b, None, None, None, None, w, None, None, True, None, None)
    history = [mk("m0", "m1", "model_a")] * 30 + [mk("m0", "m2", "model_a")] * 3 + [mk("m1", "m2", "tie")] * 3
    w = pair_weights(models, history)  # pairs: (0,1), (0,2), (1,2)
    assert w[0] < w[1] and w[0] < w[2]  # the well-measured pair gets least weight
    assert w[2] > w[1]  # among equally rare pairs, the close one (ties) gets more


def test_adaptive_sampling_runs(store, prompts):
    providers = {f"fake/m{i}": FakeProvider(f"m{i}", script=_sum_script(0 if i < 2 else 1)) for i in range(4)}
    s = arena(store, list(providers), prompts, ArenaConfig(battles=32, judge="reference", sampling="adaptive", round_size=8), providers)
    assert s.decided == 32
