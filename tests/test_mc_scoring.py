"""Scoring multiple choice: acc / acc_norm / MC2 on hand-made log-likelihoods, per-group scores and
the macro average, failed items, what is recorded, and the letter method for chat models."""

import asyncio
import json
import math
import sqlite3

import pytest

from coderouge.providers.base import Provider
from test_mc_tasks import data_dir_with_hellaswag

from coderouge.cli import main
from coderouge.errors import BadRequestError, UsageError
from coderouge.evals import get_task
from coderouge.evals.engine import (
    choice_metrics,
    evaluate_async,
    letter_prompt,
    macro_mean_ci,
    mc2_score,
)
from coderouge.evals.task_types import MCItem, Task
from coderouge.runner import RunConfig, Runner

# --- pure functions ---------------------------------------------------------------------------


def test_mc2_is_the_normalised_probability_mass_on_the_true_answers():
    lps = [math.log(0.25), math.log(0.15), math.log(0.1), math.log(0.3)]  # p sums to 0.8
    assert mc2_score(lps, [0, 1]) == pytest.approx((0.25 + 0.15) / 0.8)
    assert mc2_score(lps, [3]) == pytest.approx(0.3 / 0.8)
    assert mc2_score(lps, [0, 1, 2, 3]) == pytest.approx(1.0)
    # as lm-eval computes it: sum(p_true) / (sum(p_true) + sum(p_false)), p = exp(ll)
    lm_eval = sum(math.exp(x) for x in lps[:2]) / sum(math.exp(x) for x in lps)
    assert mc2_score(lps, [0, 1]) == pytest.approx(lm_eval)
    # long answers: every exp(ll) underflows to 0.0, the ratio stays defined and right
    assert math.exp(-2000.0) == 0.0
    assert mc2_score([-2000.0, -2000.0 + math.log(3)], [0]) == pytest.approx(0.25)


def test_acc_and_acc_norm_on_hand_made_logliks():
    # choice 0 has the higher total, choice 1 the higher per-character log-probability
    lps, lens = [-6.0, -8.0], [3, 8]
    m = choice_metrics(lps, lens, [1])
    assert m["acc"] == 0.0 and m["acc_norm"] == 1.0
    m = choice_metrics(lps, lens, [0])
    assert m["acc"] == 1.0 and m["acc_norm"] == 0.0
    assert choice_metrics([-1.0, -1.0], [1, 1], [0])["acc"] == 1.0  # a tie goes to the first, as numpy's argmax
    assert choice_metrics([-3.0, -1.0, -2.0], [1, 1, 1], [1, 2])["acc"] == 1.0  # any correct choice counts


def test_acc_norm_uses_lm_evals_choice_length():
    it = MCItem("x", "q?", "Question: q?\nAnswer:", ("a cat", "dogs"), 0)
    assert it.norm_lengths() == [5, 4]  # len(choice), without the " " before it
    assert it.pairs() == [("Question: q?\nAnswer:", " a cat"), ("Question: q?\nAnswer:", " dogs")]


def test_macro_mean_ci():
    v, lo, hi = macro_mean_ci({"a": [1, 0], "b": [1.0], "c": [0, 0, 0, 1]})
    assert v == pytest.approx((0.5 + 1.0 + 0.25) / 3)
    assert 0 <= lo < v < hi <= 1
    # equal group sizes: the plain Wilson interval of the pooled items
    from coderouge.stats import wilson

    v, lo, hi = macro_mean_ci({"a": [1, 0, 1, 1], "b": [0, 0, 1, 0]})
    assert v == 0.5 and (lo, hi) == pytest.approx(wilson(4, 8))
    v, lo, hi = macro_mean_ci({"a": [1.0], "b": [1.0]})
    assert v == 1.0 and hi == 1.0 and lo < 1.0


# --- the engine with a scripted log-likelihood provider ---------------------------------------


class ScriptedLoglik(Provider):
    """A provider that gives log-probabilities from a table; a context containing TOO LONG is refused."""

    provider = "scripted"
    default_concurrency = 1

    def __init__(self, table):
        super().__init__("table")
        self.table = table
        self.asked = []

    async def stream(self, request):
        raise NotImplementedError("scored by log-likelihood only")
        yield  # pragma: no cover

    def scores_loglikelihood(self):
        return True

    def scoring_identity(self):
        return "scripted:1"

    def scoring_settings(self):
        return {"flash_attn": False}

    def loglikelihood(self, pairs, cancel=None):
        self.asked.append(list(pairs))
        if any("TOO LONG" in c for c, _ in pairs):
            raise BadRequestError("sequence of 5000 tokens exceeds the scoring window 2048", provider="scripted")
        return [(self.table[(c, x)], False, 1) for c, x in pairs]


def run_engine(task, table, store=None, method=None):
    prov = ScriptedLoglik(table)

    async def go():
        runner = Runner(store, RunConfig(progress=False))
        runner.providers["scripted/x"] = prov
        try:
            return await evaluate_async(runner, "scripted/x", task, method)
        finally:
            await runner.aclose()

    return asyncio.run(go()), prov


def _item(id, group, gold, lps):
    """A 4-choice item whose choice j has log-likelihood lps[j]; returns (item, table rows)."""
    ctx = f"Q {id}\nAnswer:"
    it = MCItem(id, f"Q {id}", ctx, ("w", "x", "y", "z"), gold, continuations=(" A", " B", " C", " D"), group=group)
    return it, {(ctx, c): lp for c, lp in zip((" A", " B", " C", " D"), lps)}


def test_mmlu_style_macro_average_and_per_group_scores(store):
    rows = [_item("a1", "algebra", 0, [-1, -2, -3, -4]),  # right
            _item("a2", "algebra", 1, [-1, -2, -3, -4]),  # wrong
            _item("b1", "biology", 2, [-5, -4, -1, -3]),  # right
            _item("c1", "chemistry", 3, [-1, -2, -3, -4]),  # wrong
            _item("c2", "chemistry", 3, [-4, -3, -2, -1]),  # right
            _item("c3", "chemistry", 0, [-1, -5, -5, -5])]  # right
    table = {k: v for _, t in rows for k, v in t.items()}
    task = Task("mmlu", "multiple_choice", tuple(it for it, _ in rows), "acc", shots=5, prompt_format="fmt",
                aggregate="macro")
    res, _ = run_engine(task, table, store)
    assert res.groups["algebra"] == {"n": 2.0, "acc": 0.5, "acc_norm": 0.5}
    assert res.groups["biology"]["acc"] == 1.0 and res.groups["chemistry"]["acc"] == pytest.approx(2 / 3)
    assert res.value == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)  # the mean over subjects
    assert res.extra_metrics["micro_acc"] == pytest.approx(4 / 6)
    assert res.extra_metrics["acc"] == pytest.approx(res.value) and "acc_norm" in res.extra_metrics
    assert res.ci_low < res.value < res.ci_high
    assert res.n == 6 and res.metric == "acc" and res.method == "loglikelihood" and res.shots == 5
    (run,) = store.eval_runs()
    cfg, stored = run.config, run.result
    assert cfg["flash_attn"] is False and cfg["method"] == "loglikelihood" and cfg["shots"] == 5
    assert cfg["prompt_format"] == "fmt"
    assert stored["groups"]["chemistry"]["n"] == 3 and stored["value"] == pytest.approx(res.value)


def test_mc2_through_the_engine():
    ctx = "Q: q\nA:"
    items, table = [], {}
    for k, (lps, golds) in enumerate([([math.log(0.5), math.log(0.3), math.log(0.2)], (0, 1)),
                                      ([math.log(0.1), math.log(0.1), math.log(0.8)], (0,))]):
        c = f"{ctx}{k}"
        items.append(MCItem(f"t{k}", "q", c, ("yes", "maybe", "no"), golds[0], golds=golds))
        table.update({(c, " " + ch): lp for ch, lp in zip(("yes", "maybe", "no"), lps)})
    task = Task("truthfulqa_mc2", "multiple_choice", tuple(items), "mc2", letter_ok=False)
    res, _ = run_engine(task, table)
    assert res.metric == "mc2" and res.value == pytest.approx((0.8 + 0.1) / 2)
    assert [o.score for o in res.items] == pytest.approx([0.8, 0.1])
    assert res.extra_metrics["acc"] == 0.5 and "acc_norm" in res.extra_metrics


def test_partial_scoring_asks_one_context_per_choice():
    it = MCItem("w1", "s _ r", "A so Bob", ("Bob", "Al"), 1, continuations=(" ran.", " ran."),
                contexts=("A so Bob", "A so Al"))
    table = {("A so Bob", " ran."): -5.0, ("A so Al", " ran."): -2.0}
    res, prov = run_engine(Task("winogrande", "multiple_choice", (it,), "acc"), table)
    assert res.value == 1.0
    assert sorted(prov.asked[0]) == [("A so Al", " ran."), ("A so Bob", " ran.")]


def test_a_prompt_the_provider_refuses_is_a_failed_item_not_a_crash(store):
    ok, t1 = _item("ok", "", 0, [-1, -2, -3, -4])
    long = MCItem("long", "q", "TOO LONG context", ("w", "x", "y", "z"), 0)
    task = Task("arc_easy", "multiple_choice", (ok, long), "acc")
    res, _ = run_engine(task, t1, store)
    assert res.n == 1 and res.errors == 1 and res.value == 1.0
    assert "exceeds the scoring window" in res.error_examples[0]
    assert [o.status for o in res.items] == ["ok", "error"]


def test_logliks_are_cached_in_the_store(store):
    it, table = _item("a1", "", 0, [-1, -2, -3, -4])
    task = Task("arc_easy", "multiple_choice", (it,), "acc")
    _, p1 = run_engine(task, table, store)
    res, p2 = run_engine(task, table, store)
    assert len(p1.asked) == 1 and p2.asked == [] and res.value == 1.0


def test_hellaswag_headline_is_acc_norm():
    ctx = "Act: A man"
    it = MCItem("h", "q", ctx, ("is", "walks to the big shop"), 1)
    table = {(ctx, " is"): -3.0, (ctx, " walks to the big shop"): -10.0}
    res, _ = run_engine(Task("hellaswag", "multiple_choice", (it,), "acc_norm"), table)
    assert res.metric == "acc_norm" and res.value == 1.0
    assert res.extra_metrics == {"acc_norm": 1.0, "acc": 0.0}


# --- methods that cannot work say so ----------------------------------------------------------


def test_mc2_without_log_probabilities_is_a_clear_usage_error(store_path):
    with pytest.raises(UsageError, match="needs log-probabilities.*truthfulqa_mc1"):
        asyncio.run(_eval_fake("fake/x?answer=B", get_task("truthfulqa_mc2").sample(3)))
    with pytest.raises(UsageError, match="the letter method does not give; score it by log-likelihood"):
        run_engine(Task("truthfulqa_mc2", "multiple_choice", (), "mc2", letter_ok=False), {}, method="letter")


def test_mc2_on_a_chat_model_through_the_cli(store_path, capsys):
    rc = main(["eval", "fake/x?answer=B", "--task", "truthfulqa_mc2", "--limit", "3"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "log-probabilities" in err and "truthfulqa_mc1" in err and "Traceback" not in err


async def _eval_fake(model, task):
    runner = Runner(None, RunConfig(progress=False))
    try:
        return await evaluate_async(runner, model, task)
    finally:
        await runner.aclose()


# --- the letter method (chat APIs) ------------------------------------------------------------


@pytest.mark.parametrize("task", ["arc_challenge", "piqa", "boolq", "winogrande", "hellaswag", "truthfulqa_mc1", "mmlu"])
def test_letter_method_on_a_chat_model(task, tmp_path, monkeypatch, store_path, capsys):
    monkeypatch.setenv("CODEROUGE_DATA", str(data_dir_with_hellaswag(tmp_path / "data")))
    assert main(["eval", "fake/x?answer=B", "--task", task, "--limit", "5", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["method"] == "letter" and r["metric"] == "acc" and r["n"] == 5 and r["errors"] == 0
    # "always B" is right exactly when the choice shown second is a correct one
    items = get_task(task).sample(5, 1234).items
    want = [float((it.letter_order or range(len(it.choices)))[1] in it.correct) for it in items]
    if task == "mmlu":
        groups = {}
        for it, w in zip(items, want):
            groups.setdefault(it.group, []).append(w)
        assert r["value"] == pytest.approx(sum(sum(v) / len(v) for v in groups.values()) / len(groups))
        assert r["shots"] == 5
    else:
        assert r["value"] == pytest.approx(sum(want) / 5)
        assert r["shots"] == 0
    cfg = json.loads(sqlite3.connect(store_path).execute("SELECT config_json FROM eval_runs").fetchone()[0])
    assert cfg["method"] == "letter" and "flash_attn" not in cfg


def test_letter_prompts_show_examples_and_shuffled_choices():
    mmlu = get_task("mmlu").items[0]
    msgs = letter_prompt(mmlu)
    assert [m.role for m in msgs] == ["user", "assistant"] * 5 + ["user"]
    assert msgs[0].text == ("Question: Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\n\n"
                            "Answer with the letter of the correct option only (A, B, C, D).")
    assert msgs[1].text == "B"
    assert msgs[-1].text.startswith("Question: Find the degree for the given field extension")
    tqa = get_task("truthfulqa_mc1").items[0]
    (msg,) = letter_prompt(tqa)
    shown = [line[3:] for line in msg.text.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
    assert shown == [tqa.choices[j] for j in tqa.letter_order]
    arc = get_task("arc_easy").items[0]
    assert letter_prompt(arc)[0].text == (
        "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\n"
        "A. Sunlight is the source of energy for nearly all ecosystems.\nB. Most ecosystems are found on land instead of in water.\n"
        "C. Carbon dioxide is more available than other gases.\nD. The producers in all ecosystems are plants.\n\n"
        "Answer with the letter of the correct option only (A, B, C, D).")


def test_echoing_the_prompt_scores_nothing_on_arc_easy(store_path, capsys):
    # fake/echo answers with the prompt itself, options and all: the "A." it repeats is no choice
    assert main(["eval", "fake/echo", "--task", "arc_easy", "--limit", "30", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["method"] == "letter" and r["n"] == 30 and r["errors"] == 0
    assert r["value"] == 0.0 and r["ci_low"] == 0.0 < r["ci_high"]
    details = [d for (d,) in sqlite3.connect(store_path).execute("SELECT detail FROM eval_items")]
    assert len(details) == 30 and all(d.startswith("picked=none, gold ") for d in details)


def test_stored_items_show_the_extracted_letter(store_path, capsys):
    assert main(["eval", "fake/x?answer=The%20answer%20is%20(B).", "--task", "arc_easy", "--limit", "10", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    details = [d for (d,) in sqlite3.connect(store_path).execute("SELECT detail FROM eval_items")]
    assert len(details) == 10 and all(d.startswith("picked=B") for d in details)
    right = [d for d in details if d == "picked=B"]
    assert len(right) / 10 == pytest.approx(r["value"])
    assert all("gold" in d and "answered 'The answer is (B).'" in d for d in details if d != "picked=B")
